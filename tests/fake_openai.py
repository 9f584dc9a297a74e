"""A local OpenAI-compatible chat server for tests and benchmarks.

Serves `POST /v1/chat/completions` (with `usage`) on 127.0.0.1 only, in a background thread, and
can inject the failures a real endpoint shows: latency, 429 with Retry-After, 500, 503, dropped
connections, hangs, a malformed response body and malformed message content.

Bounded in time: the server shuts itself down after `lifetime_s`, and a hang lasts at most
`hang_s` (then the connection is closed), so a test that forgets to stop it cannot hang the run.

Faults, per request, first match wins:
  - `server.script(marker, ["429", None, "500"])`: requests whose prompt contains `marker` get these
    faults on their 1st, 2nd, 3rd... attempt (None = answer normally; after the list, normal);
  - `fault_rate` / `fault_kinds`: a seeded random fault for any request (benchmarks).
Fault kinds: "429", "500", "503", "400", "401", "drop", "hang", "bad_body" (200 with a truncated JSON
body), "bad_content" (200 whose message is not JSON).

Every request is recorded (`server.seen`) with its Authorization header, so tests can assert what
a key was sent to. conftest.py registers this module as a pytest plugin, so every test can ask for
the `fake_openai` fixture (tests/ is on sys.path under pytest); benchmarks add tests/ to sys.path.
"""

from __future__ import annotations

import hashlib
import json
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


def book_judge_answer(prompt: str) -> str:
    """Answer like a careful judge: yes when gen_sql equals gt_sql (whitespace/case-insensitive)."""
    gold = re.search(r"^gt_sql: (.*)$", prompt, re.M)
    gen = re.search(r"^gen_sql: (.*)$", prompt, re.M)
    if not (gold and gen):
        return json.dumps({"echo": prompt[-40:]}, ensure_ascii=False)
    same = " ".join(gold.group(1).lower().split()) == " ".join(gen.group(1).lower().split())
    return json.dumps({"resolve_yn": "yes" if same else "no"})


def approx_tokens(text: str) -> int:
    return max(1, len(text.encode("utf-8")) // 4)


@dataclass
class FakeOpenAI:
    latency_s: float = 0.0
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
        self._httpd: ThreadingHTTPServer | None = None

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
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        with self._lock:
            self._attempts[digest] += 1
            attempt = self._attempts[digest]
            fault = self._pick_fault(prompt, attempt)
            seen = SeenRequest(time.monotonic(), path, auth, body, prompt, attempt, fault)
            self.seen.append(seen)
        return seen

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

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            return self._send(400, {"error": {"message": "request body is not JSON"}})
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        seen = self.fake._record(self.path, self.headers.get("Authorization"), body)
        if self.fake.latency_s:
            time.sleep(self.fake.latency_s)
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
                429, {"error": {"message": "rate limited"}}, {"Retry-After": self.fake.retry_after}
            )
        if fault in ("400", "401", "500", "503"):
            return self._send(int(fault), {"error": {"message": f"injected {fault}"}})
        if fault == "bad_body":
            return self._send_raw(200, b'{"id": "chatcmpl-x", "choices": [{"index": 0, "mess')
        content = "resolve_yn: yes (not JSON" if fault == "bad_content" else self.fake.answer(seen.prompt)
        return self._send(200, _completion(body, seen.prompt, content))

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_raw(status, json.dumps(payload, ensure_ascii=False).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _completion(body: dict, prompt: str, content: str) -> dict:
    prompt_tokens, completion_tokens = approx_tokens(prompt), approx_tokens(content)
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
