"""The book's reported judge scores (chapter 6, GPT-4 judge on the 112 test rows; BOOK.md), as
reference marks for runs that match a book setting. A run matches by its base model (or API
model), whether it was tuned, and its LoRA r/alpha where the book names them."""

from __future__ import annotations

from dataclasses import dataclass

from text2sql_cli.report.collect import Run


@dataclass(frozen=True)
class BookResult:
    label: str
    score: float  # share of the 112 test rows judged "yes"
    model: str  # the last part of the hub id, or the API model's prefix
    tuned: bool | None  # None: an API model
    r: int | None = None
    alpha: int | None = None
    approximate: bool = False


BOOK_RESULTS = (
    BookResult("book: Yi-Ko-6B untuned 21/112", 21 / 112, "Yi-Ko-6B", False),
    BookResult("book: Yi-Ko-6B r16 ≈3.7x base", 0.70, "Yi-Ko-6B", True, r=16, approximate=True),
    BookResult("book: SOLAR-KO-10.7B untuned 38.4%", 0.384, "OPEN-SOLAR-KO-10.7B", False),
    BookResult("book: SOLAR-KO-10.7B r64/a128 82.1%", 0.821, "OPEN-SOLAR-KO-10.7B", True, r=64, alpha=128),
    BookResult("book: GPT-4 97/112", 97 / 112, "gpt-4", None),
)


def book_result(run: Run) -> BookResult | None:
    model = (run.model or "").rstrip("/").split("/")[-1]
    for ref in BOOK_RESULTS:
        if ref.tuned is None:
            if run.kind == "api" and model.startswith(ref.model) and not model.startswith("gpt-4o"):
                return ref
            continue
        if model != ref.model:
            continue
        tuned = run.kind in ("train", "run") or run.run_info is not None
        if tuned != ref.tuned:
            continue
        if ref.r is not None and run.settings.get("r") != ref.r:
            continue
        if ref.alpha is not None and run.settings.get("alpha") != ref.alpha:
            continue
        return ref
    return None
