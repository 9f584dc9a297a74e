"""The SQL engine behind `t2s eval` and `t2s filter`: torch-free, standard library + sqlglot.

- `dialect`   MySQL / PostgreSQL SQL -> SQLite (sqlglot plus a few rewrites SQLite needs)
- `schema`    DDL text -> `Schema` (tables, columns, keys) -> an in-memory SQLite database
- `sandbox`   read-only, time-limited, row-capped execution returning `ExecutionResult`
- `pool`      a worker-process runner that survives crashing workers
- `synth`     synthesized test-suite databases for DDL-only data, seeded with gold literals
- `compare`   result comparison in the `strict`, `spider`, `bird` and `sqleval` modes
- `prepare`   what each EX mode runs (dialect, query text, order) and on which databases
- `goldmatch` EX's verdict for one prediction: `t2s eval`, the GRPO reward and pass-rate share it
- `mysql_emulation` MySQL's functions on SQLite (`mysql_dates`, `mysql_strings`, `mysql_values`),
  called from MySQL SQL by `mysql_rewrite`
- `extract`   SQL extraction from raw model generations
- `normalize` canonical SQL text for exact match

Import the submodule you need; this package imports nothing at load time.
"""
