"""`t2s data synth`: training rows for one's own schema, written by a teacher LLM and checked.

    load_sources(ddl=, db=, db_url=) -> list[Source]        (synth.sources: DDL files, SQLite, URL)
    SynthConfig / run_synth(sources, out_dir, cfg, teacher, judge=, seed_rows=, dry_run=)  (synth.run)

The teacher is asked through the shared client (llm_client.run_batch: rate limits, retries,
resume cache, cost cap, dry-run estimate) with prompts.SYNTH_TEMPLATE; every pair then passes the
free checks of synth.checks (parse, schema, execution on synthesized instances, non-constant
result, near-duplicates), then optionally the LLM check of `t2s filter --judge`
(filtering.llm). Torch-free: sqlglot, the sql/ layer and openai load only when used.
"""

from text2sql_cli.synth.run import SynthConfig, SynthReport, run_synth
from text2sql_cli.synth.sources import Source, load_sources

__all__ = ["Source", "SynthConfig", "SynthReport", "load_sources", "run_synth"]
