"""`t2s data synth`'s run: ask the teacher, check every pair, dedupe, optionally ask the judge,
write the rows.

    SynthConfig(n, lang, per_request, rounds, instances, seed, timeout)
    run_synth(sources, out_dir, cfg, teacher, *, judge=None, seed_rows=None, dry_run=False) -> SynthReport

Rounds: round 0 asks ceil(n / per_request) requests per database; while a database has fewer than
`n` kept pairs, the next round asks for the shortfall (x1.5, for the pairs the checks drop), at
most `rounds` rounds. Everything a round decides follows from the cached replies, so a rerun after
a crash, kill -9 included, resends only the requests that have no answer and ends with the same rows.

Files in OUT: synth.jsonl (kept rows: id, db_id, context, question, answer, ready for `t2s data
split` and `t2s train`), dropped.jsonl (every dropped pair with its reason and detail),
held.jsonl (with --judge: pairs the judge could not rule on; never dropped, never "yes"),
summary.json (kept / dropped by reason / cost), teacher_cache.jsonl (the teacher's raw answers)
and, with --judge, filter_llm_cache.jsonl.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.llm_client import ClientConfig, Estimate
from text2sql_cli.synth.checks import CheckSettings, check_pair, question_key, sql_key
from text2sql_cli.synth.generate import PARAMS, TOKENS_PER_PAIR, parse_pairs, requests_for
from text2sql_cli.synth.sources import Source

CACHE_FILE = "teacher_cache.jsonl"
SHOTS = 3


@dataclass(frozen=True)
class SynthConfig:
    n: int = 500
    lang: str = "ko"
    per_request: int = 10
    rounds: int = 3
    instances: int = 5
    seed: int = 0
    timeout: float = 5.0


@dataclass
class SynthReport:
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    estimate: Estimate | None = None


@dataclass
class _Db:
    source: Source
    shots: list[dict[str, str]]
    kept: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    sql_seen: dict[str, str] = field(default_factory=dict)
    questions_seen: dict[str, str] = field(default_factory=dict)
    asked: int = 0  # requests so far


@dataclass
class _TeacherTally:
    """What the teacher's rounds sent and cost, and the requests left unanswered by status."""

    sent: int = 0
    cost: float = 0.0
    total_cost: float = 0.0
    unanswered: Counter = field(default_factory=Counter)
    stopped: str | None = None

    def add(self, report: Any) -> None:
        self.sent += report.sent
        self.cost += report.cost
        self.total_cost += report.total_cost

    def summary(self) -> dict[str, Any]:
        return {
            "unanswered": dict(self.unanswered),
            "http_requests_sent": self.sent,
            "cost_usd_this_run": round(self.cost, 6),
            "cost_usd_total": round(self.total_cost, 6),
            "stopped": self.stopped,
        }


def few_shots(source: Source, seed_rows: list[dict[str, str]] | None, seed: int) -> list[dict[str, str]]:
    """Up to SHOTS rows of --seed-data, this db_id's first, chosen with the seed."""
    if not seed_rows:
        return []
    own = [r for r in seed_rows if r["db_id"] == source.db_id]
    pool = own or seed_rows
    return random.Random(f"{seed}/{source.db_id}").sample(pool, min(SHOTS, len(pool)))


def run_synth(
    sources: list[Source],
    out_dir: Path,
    cfg: SynthConfig,
    teacher: ClientConfig,
    *,
    judge=None,  # filtering.llm.LLMFilterConfig
    seed_rows: list[dict[str, str]] | None = None,
    dry_run: bool = False,
    progress: bool = True,
) -> SynthReport:
    from text2sql_cli.llm_client import estimate, run_batch
    from text2sql_cli.progress import ProgressBar
    from text2sql_cli.sql.sqlglot_log import capture

    dbs = [_Db(s, few_shots(s, seed_rows, cfg.seed)) for s in sources]
    cache = out_dir / CACHE_FILE
    first = math.ceil(cfg.n / cfg.per_request)
    if dry_run:
        requests = [r for db in dbs for r in _requests(db, 0, first, cfg)]
        est = estimate(
            requests,
            teacher,
            cache_path=cache,
            params=PARAMS,
            output_tokens=TOKENS_PER_PAIR * cfg.per_request,
        )
        return SynthReport({"databases": len(dbs), "requests_round_0": len(requests)}, estimate=est)
    out_dir.mkdir(parents=True, exist_ok=True)
    tally = _TeacherTally()
    for round_no in range(cfg.rounds):
        todo = [(db, first if round_no == 0 else _more(db, cfg)) for db in dbs]
        todo = [(db, k) for db, k in todo if k > 0]
        if not todo:
            break
        requests = [r for db, k in todo for r in _requests(db, round_no, k, cfg)]
        for db, k in todo:
            db.asked += k
        report = run_batch(
            requests,
            teacher,
            cache_path=cache,
            params=PARAMS,
            parse=parse_pairs,
            progress=progress,
            label=f"teacher round {round_no + 1}",
        )
        tally.add(report)
        by_db = {db.source.db_id: db for db in dbs}
        pairs = sum(len(r.value) for r in report.results if r.status == "ok")
        with ProgressBar(f"checking round {round_no + 1}", pairs, enabled=progress) as bar, capture():
            for result in report.results:  # capture: sqlglot's transpiling remarks are not news here
                db = by_db[result.id.rsplit("/", 2)[0]]
                if result.status != "ok":
                    tally.unanswered[result.status] += 1
                    continue
                for j, pair in enumerate(result.value):
                    _consider(db, pair, f"{result.id}/{j}", cfg)
                    bar.advance(1)
        if report.stopped:
            tally.stopped = report.stopped
            break
    kept_rows = [row for db in dbs for row in db.kept[: cfg.n]]
    for db in dbs:
        for row in db.kept[cfg.n :]:
            db.dropped.append(
                {**_public(row), **row["_meta"], "reason": "surplus", "detail": f"more than --n {cfg.n} kept"}
            )
    held: list[dict[str, Any]] = []
    judge_summary = None
    if judge is not None and kept_rows:
        kept_rows, held, judge_summary = _judge(kept_rows, dbs, judge, out_dir, progress)
    return _write(dbs, kept_rows, held, out_dir, cfg, teacher, tally, judge, judge_summary)


def _requests(db: _Db, round_no: int, count: int, cfg: SynthConfig):
    return requests_for(
        db.source.db_id,
        db.source.ddl,
        round_no=round_no,
        count=count,
        per_request=cfg.per_request,
        lang=cfg.lang,
        examples=db.shots,
    )


def _more(db: _Db, cfg: SynthConfig) -> int:
    short = cfg.n - len(db.kept)
    return math.ceil(short * 1.5 / cfg.per_request) if short > 0 else 0


def _consider(db: _Db, pair: dict[str, Any], origin: str, cfg: SynthConfig) -> None:
    question = pair.get("question")
    sql = pair.get("sql")
    row = {
        "id": f"synth-{db.source.db_id}-{origin.split('/', 1)[1].replace('/', '-')}",
        "db_id": db.source.db_id,
        "context": db.source.ddl,
        "question": question.strip() if isinstance(question, str) else "",
        "answer": sql.strip() if isinstance(sql, str) else "",
    }
    meta = {"request": origin.rsplit("/", 1)[0], "difficulty": pair.get("difficulty")}
    settings = CheckSettings(cfg.instances, cfg.seed, cfg.timeout)
    found = check_pair(row["question"], row["answer"], db.source, settings)
    if found.reason is None:
        skey = sql_key(row["answer"], db.source.dialect)
        qkey = question_key(row["question"])
        if skey in db.sql_seen:
            found = type(found)("duplicate", f"same SQL as {db.sql_seen[skey]}")
        elif qkey in db.questions_seen:
            found = type(found)("duplicate", f"same question as {db.questions_seen[qkey]}")
        else:
            db.sql_seen[skey] = db.questions_seen[qkey] = row["id"]
            db.kept.append({**row, **{"_meta": meta}})
            return
    db.dropped.append({**row, **meta, "reason": found.reason, "detail": found.detail})


def _judge(kept_rows, dbs, judge, out_dir: Path, progress: bool):
    from text2sql_cli.data import Example
    from text2sql_cli.filtering.llm import run_llm

    examples = [Example(r["id"], r["db_id"], r["context"], r["question"], r["answer"]) for r in kept_rows]
    outcomes, report = run_llm(examples, judge, out_dir, progress=progress)
    by_db = {db.source.db_id: db for db in dbs}
    kept, held = [], []
    for row in kept_rows:
        outcome = outcomes[row["id"]]
        if outcome.status == "yes":
            kept.append(row)
        elif outcome.status == "no":
            by_db[row["db_id"]].dropped.append(
                {**_public(row), **row["_meta"], "reason": "llm_rejected", "detail": outcome.reason}
            )
        else:
            held.append({**_public(row), "llm_status": outcome.status, "detail": outcome.reason})
    summary = {
        **judge.public_dump(),
        "asked": len(kept_rows),
        "counts": dict(Counter(o.status for o in outcomes.values())),
        "requests_sent": report.sent,
        "cost_usd_this_run": round(report.cost, 6),
        "cost_usd_total": round(report.total_cost, 6),
        "stopped": report.stopped,
    }
    return kept, held, summary


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "_meta"}


def _write(
    dbs, kept_rows, held, out_dir, cfg, teacher, tally: _TeacherTally, judge, judge_summary
) -> SynthReport:
    from text2sql_cli import __version__
    from text2sql_cli.io import write_json, write_jsonl

    dropped = [d for db in dbs for d in db.dropped]
    kept_by_db = Counter(r["db_id"] for r in kept_rows)
    summary = {
        "produced_by": f"t2s data synth (t2s {__version__})",
        "settings": {
            "n": cfg.n,
            "lang": cfg.lang,
            "per_request": cfg.per_request,
            "rounds": cfg.rounds,
            "instances": cfg.instances,
            "seed": cfg.seed,
            "timeout_s": cfg.timeout,
            "few_shot": {db.source.db_id: len(db.shots) for db in dbs},
        },
        "teacher": teacher.public_dump(),
        "kept": len(kept_rows),
        "dropped": sum(1 for d in dropped if d["reason"] != "surplus"),
        "surplus": sum(1 for d in dropped if d["reason"] == "surplus"),
        "held": len(held),
        "by_reason": dict(Counter(d["reason"] for d in dropped if d["reason"] != "surplus").most_common()),
        "by_db": {
            db.source.db_id: {
                "source": db.source.origin,
                "requests": db.asked,
                "kept": kept_by_db.get(db.source.db_id, 0),
                "short_of_n": max(0, cfg.n - kept_by_db.get(db.source.db_id, 0)),
                "dropped": dict(Counter(d["reason"] for d in db.dropped).most_common()),
            }
            for db in dbs
        },
        "teacher_requests": tally.summary(),
        "judge": judge_summary,
    }
    paths = {"rows": out_dir / "synth.jsonl", "dropped": out_dir / "dropped.jsonl"}
    write_jsonl(paths["rows"], (_public(r) for r in kept_rows))
    write_jsonl(paths["dropped"], dropped)
    if judge is not None:
        paths["held"] = out_dir / "held.jsonl"
        write_jsonl(paths["held"], held)
    paths["summary"] = out_dir / "summary.json"
    write_json(paths["summary"], summary)
    return SynthReport(summary, paths)
