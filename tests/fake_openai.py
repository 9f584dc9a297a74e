"""A local OpenAI-compatible chat server for tests and benchmarks.

Serves `POST /v1/chat/completions` and `/v1/completions` (with `usage`) on 127.0.0.1 only, in a
background thread, and can inject the failures a real endpoint shows: latency, 429 with
Retry-After, 500, 503, dropped connections, hangs, a malformed response body and malformed message content.

Bounded in time: the server shuts itself down after `lifetime_s`, and a hang lasts at most
`hang_s` (then the connection is closed), so a test that forgets to stop it cannot hang the run.

Faults, per request, first match wins:
  - `server.script(marker, ["429", None, "500"])`: requests whose prompt contains `marker` get these
    faults on their 1st, 2nd, 3rd... attempt (None = answer normally; after the list, normal);
  - `fault_rate` / `fault_kinds`: a seeded random fault for any request (benchmarks).
Fault kinds: "429", "500", "503", "400", "401", "drop", "hang", "bad_body" (200 with a truncated JSON
body), "bad_content" (200 whose message is not JSON).

Rate limits like OpenAI's (`rpm` / `tpm` set): every answer, errors included, carries
`x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (resets as durations: "6m0s", "1.2s",
"250ms"). The limits are enforced per second: a bucket holding one second's allowance (rpm / 60
requests, tpm / 60 tokens) refills continuously; a request that finds it empty gets 429 with
Retry-After / retry-after-ms and is not counted. Tokens are counted as OpenAI counts them before a
call: prompt tokens + max_tokens. The `remaining` headers report a minute-sized bucket.

The Batch API: `POST /v1/files` (multipart upload), `GET /v1/files/{id}/content`, `POST /v1/batches`,
`GET /v1/batches/{id}` (each poll advances validating -> in_progress -> finalizing -> completed; it
completes on poll `batch_polls`), `POST /v1/batches/{id}/cancel`. On completion each line is
answered like a chat request; `batch_fault_rate` gives a seeded share of lines one of
`batch_fault_kinds`: "500" / "400" (a line in the error file), "bad_content" (a reply that is not
JSON) or "expire" (in neither file: the batch expired before reaching it). `GET /v1/batches` lists
the batches, newest first.

Every request is recorded (`server.seen`) with its Authorization header, so tests can assert what
a key was sent to. conftest.py registers this module as a pytest plugin, so every test can ask for
the `fake_openai` fixture (tests/ is on sys.path under pytest); benchmarks add tests/ to sys.path.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FAULT_KINDS = ("429", "500", "503", "400", "401", "drop", "hang", "bad_body", "bad_content")


@dataclass
class SeenRequest:
    t: float
    path: str
    authorization: str | None
    body: dict
    prompt: str
    attempt: int  # 1-based count of requests with this exact prompt so far
    fault: str | None
    answered_at: float | None = None  # when a 200 answer was fully written


def book_judge_answer(prompt: str) -> str:
    """Answer like a careful judge: yes when gen_sql equals gt_sql (whitespace/case-insensitive)."""
    gold = re.search(r"^gt_sql: (.*)$", prompt, re.M)
    gen = re.search(r"^gen_sql: (.*)$", prompt, re.M)
    if not (gold and gen):
        return json.dumps({"echo": prompt[-40:]}, ensure_ascii=False)
    same = " ".join(gold.group(1).lower().split()) == " ".join(gen.group(1).lower().split())
    return json.dumps({"resolve_yn": "yes" if same else "no"})


def approx_tokens(text: str) -> int:
    return max(1, len(str(text).encode("utf-8")) // 4)  # str(): a test may answer with a number


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: 6m0s, 1.5s, 250ms."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text


class _Bucket:
    """A continuously refilling bucket: `capacity` units, `rate` units per second."""

    def __init__(self, capacity: float, rate: float):
        self.capacity, self.rate, self.level, self.t = capacity, rate, capacity, time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    def wait_for(self, units: float) -> float:
        return max(0.0, (min(units, self.capacity) - self.level) / self.rate)


@dataclass
class FakeOpenAI:
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0  # latency is uniform in latency_s +- this (seeded)
    rpm: int | None = None  # enforce and announce rate limits (None: no limits, no headers)
    tpm: int | None = None
    batch_polls: int = 3
    batch_fault_rate: float = 0.0
    batch_fault_kinds: tuple[str, ...] = ("500", "bad_content", "expire")
    answer: Callable[[str], str] = book_judge_answer
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = ("429", "500", "503", "drop")
    retry_after: str = "1"
    hang_s: float = 10.0
    lifetime_s: float = 300.0
    seed: int = 0
    seen: list[SeenRequest] = field(default_factory=list)

    def __post_init__(self):
        self._scripts: list[tuple[str, list[str | None]]] = []
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._latency_rng = random.Random(self.seed + 1)
        self._httpd: ThreadingHTTPServer | None = None
        self._buckets: dict[str, tuple[_Bucket, _Bucket]] = {}
        for kind, per_minute in (("requests", self.rpm), ("tokens", self.tpm)):
            if per_minute:  # (per-second enforcement, minute-sized bucket for `remaining`)
                self._buckets[kind] = (
                    _Bucket(per_minute / 60, per_minute / 60),
                    _Bucket(per_minute, per_minute / 60),
                )
        self.rate_limited = 0  # 429s sent because a limit was reached (not injected faults)
        self.in_flight = 0  # chat requests being handled right now
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self._ids = itertools.count(1)

    # -- control -----------------------------------------------------------------------------
    def script(self, marker: str, faults: list[str | None]) -> None:
        """Requests whose prompt contains `marker` get `faults[i]` on their (i+1)-th attempt."""
        self._scripts.append((marker, list(faults)))

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def count(self, marker: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.seen if marker is None or marker in r.prompt)

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            self._timer.cancel()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling --------------------------------------------------------------------
    def _record(self, path: str, auth: str | None, body: dict) -> SeenRequest:
        prompt = (
            body["prompt"]
            if "prompt" in body
            else "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        )
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        with self._lock:
            self._attempts[digest] += 1
            attempt = self._attempts[digest]
            fault = self._pick_fault(prompt, attempt)
            seen = SeenRequest(time.monotonic(), path, auth, body, prompt, attempt, fault)
            self.seen.append(seen)
        return seen

    def _admit(self, body: dict, prompt: str) -> tuple[float | None, dict[str, str]]:
        """Charge the rate limits for one request: (None, headers) if admitted, else
        (seconds to wait, headers) for a 429. Headers are empty when no limits are set."""
        units = {
            "requests": 1,
            "tokens": approx_tokens(prompt)
            + int(body.get("max_tokens") or body.get("max_completion_tokens") or 0),
        }
        with self._lock:
            now = time.monotonic()
            wait = 0.0
            for kind, (second, minute) in self._buckets.items():
                second.refill(now)
                minute.refill(now)
                wait = max(wait, second.wait_for(units[kind]), minute.wait_for(units[kind]))
            if not wait:
                for kind, (second, minute) in self._buckets.items():
                    second.level -= units[kind]
                    minute.level -= units[kind]
            else:
                self.rate_limited += 1
            headers = {}
            for kind, (_, minute) in self._buckets.items():
                headers[f"x-ratelimit-limit-{kind}"] = str(int(minute.capacity))
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, int(minute.level)))
                reset = (minute.capacity - minute.level) / minute.rate
                headers[f"x-ratelimit-reset-{kind}"] = format_duration(reset)
        return (wait or None), headers

    def latency(self) -> float:
        if not self.latency_jitter_s:
            return self.latency_s
        with self._lock:
            return max(0.0, self._latency_rng.uniform(-1, 1) * self.latency_jitter_s + self.latency_s)

    # -- the Batch API ---------------------------------------------------------------------
    def _store_file(self, filename: str, data: bytes, purpose: str) -> dict:
        with self._lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = {"data": data, "filename": filename, "purpose": purpose}
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def _create_batch(self, body: dict) -> dict | None:
        with self._lock:
            if body.get("input_file_id") not in self.files:
                return None
            batch_id = f"batch_{next(self._ids)}"
            lines = self.files[body["input_file_id"]]["data"].decode().splitlines()
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window", "24h"),
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "request_counts": {
                    "total": len([x for x in lines if x.strip()]),
                    "completed": 0,
                    "failed": 0,
                },
                "metadata": body.get("metadata"),
                "polls": 0,
            }
            return self._public_batch(batch_id)

    def _public_batch(self, batch_id: str) -> dict:
        return {k: v for k, v in self.batches[batch_id].items() if k != "polls"}

    def _poll_batch(self, batch_id: str) -> dict | None:
        """Each poll moves the batch one step; poll `batch_polls` finds it completed."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            batch["polls"] += 1
            if batch["status"] in ("validating", "in_progress", "finalizing"):
                if batch["polls"] >= self.batch_polls:
                    self._finish_batch(batch)
                else:
                    batch["status"] = ("in_progress", "finalizing")[min(batch["polls"] - 1, 1)]
            return self._public_batch(batch_id)

    def _cancel_batch(self, batch_id: str) -> dict | None:
        with self._lock:
            if batch_id not in self.batches:
                return None
            self.batches[batch_id]["status"] = "cancelled"
            return self._public_batch(batch_id)

    def _finish_batch(self, batch: dict) -> None:
        # called with the lock held
        out, err = [], []
        for line in self.files[batch["input_file_id"]]["data"].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            body = item["body"]
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            self.seen.append(SeenRequest(time.monotonic(), "batch", None, body, prompt, 0, None))
            fault = None
            if self.batch_fault_rate and self._rng.random() < self.batch_fault_rate:
                fault = self._rng.choice(self.batch_fault_kinds)
            req_id = f"batch_req_{next(self._ids)}"
            if fault == "expire":
                continue
            if fault in ("400", "500"):
                err.append(
                    {
                        "id": req_id,
                        "custom_id": item["custom_id"],
                        "response": {
                            "status_code": int(fault),
                            "body": {"error": {"message": f"injected {fault}"}},
                        },
                        "error": None,
                    }
                )
                continue
            content = "resolve_yn: yes (not JSON" if fault == "bad_content" else self.answer(prompt)
            out.append(
                {
                    "id": req_id,
                    "custom_id": item["custom_id"],
                    "response": {"status_code": 200, "body": _completion(body, prompt, content)},
                    "error": None,
                }
            )
        for key, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                data = "".join(json.dumps(r) + "\n" for r in rows).encode()
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = {"data": data, "filename": f"{key}.jsonl", "purpose": "batch_output"}
                batch[key] = file_id
        batch["status"] = "completed"
        batch["request_counts"].update(completed=len(out), failed=len(err))

    def _pick_fault(self, prompt: str, attempt: int) -> str | None:
        for marker, faults in self._scripts:
            if marker in prompt:
                return faults[attempt - 1] if attempt <= len(faults) else None
        if self.fault_rate and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.fault_kinds)
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body go out as two segments: +40 ms each

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
            stored = self.fake.files.get(parts[2])
            if stored is None:
                return self._send(404, {"error": {"message": f"no file {parts[2]}"}})
            return self._send_raw(200, stored["data"], content_type="application/octet-stream")
        if parts == ["v1", "batches"]:
            with self.fake._lock:
                listed = [self.fake._public_batch(b) for b in reversed(self.fake.batches)]
            return self._send(200, {"object": "list", "data": listed, "has_more": False})
        if parts[:2] == ["v1", "batches"] and len(parts) == 3:
            return self._batch_reply(self.fake._poll_batch(parts[2]))
        return self._send(404, {"error": {"message": f"no route GET {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        path = self.path.rstrip("/")
        if path == "/v1/files":
            return self._upload(raw)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._send(400, {"error": {"message": "request body is not JSON"}})
        if path == "/v1/batches":
            return self._batch_reply(self.fake._create_batch(body))
        if path.startswith("/v1/batches/") and path.endswith("/cancel"):
            return self._batch_reply(self.fake._cancel_batch(path.split("/")[3]))
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        with self.fake._lock:
            self.fake.in_flight += 1
        try:
            return self._chat(body)
        finally:
            with self.fake._lock:
                self.fake.in_flight -= 1

    def _chat(self, body: dict) -> None:
        seen = self.fake._record(self.path, self.headers.get("Authorization"), body)
        wait, limits = self.fake._admit(body, seen.prompt)
        if wait is not None:
            seen.fault = "rate_limited"
            retry = {"retry-after-ms": str(math.ceil(wait * 1000)), "Retry-After": str(math.ceil(wait))}
            return self._send(429, {"error": {"message": "Rate limit reached"}}, {**limits, **retry})
        latency = self.fake.latency()
        if latency:
            time.sleep(latency)
        fault = seen.fault
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault == "hang":
            time.sleep(self.fake.hang_s)
            self.close_connection = True
            return None
        if fault == "429":
            return self._send(
                429, {"error": {"message": "rate limited"}}, {**limits, "Retry-After": self.fake.retry_after}
            )
        if fault in ("400", "401", "500", "503"):
            return self._send(int(fault), {"error": {"message": f"injected {fault}"}}, limits)
        if fault == "bad_body":
            return self._send_raw(200, b'{"id": "chatcmpl-x", "choices": [{"index": 0, "mess', limits)
        content = "resolve_yn: yes (not JSON" if fault == "bad_content" else self.fake.answer(seen.prompt)
        self._send(200, _completion(body, seen.prompt, content), limits)
        seen.answered_at = time.monotonic()
        return None

    def _upload(self, raw: bytes) -> None:
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + raw)
        fields = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields:
            return self._send(400, {"error": {"message": "multipart upload without a file"}})
        purpose = (fields.get("purpose") or (None, b""))[1].decode()
        return self._send(
            200, self.fake._store_file(fields["file"][0] or "upload", fields["file"][1], purpose)
        )

    def _batch_reply(self, batch: dict | None) -> None:
        if batch is None:
            return self._send(404, {"error": {"message": "no such batch or input file"}})
        return self._send(200, batch)

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_raw(status, json.dumps(payload, ensure_ascii=False).encode(), headers)

    def _send_raw(
        self, status: int, data: bytes, headers: dict | None = None, content_type: str = "application/json"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout, a hedge)
            self.close_connection = True


def _completion(body: dict, prompt: str, content: str) -> dict:
    prompt_tokens, completion_tokens = approx_tokens(prompt), approx_tokens(content)
    if "prompt" in body:  # /v1/completions: a plain-text prompt, a `text` choice
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop", "text": content}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@pytest.fixture
def fake_openai():
    """A started FakeOpenAI (no latency, no faults); configure it in the test, it stops after."""
    with FakeOpenAI(lifetime_s=120, hang_s=5) as server:
        yield server
