"""`t2s sweep`: the book's comparisons (LoRA r/alpha, origin vs clean, data fractions, base models,
the untuned base, an API model) as one resumable command.

- `config`: the sweep YAML and its expansion into points (stable names, a digest per point).
- `point`: one point's train -> infer -> eval as `python -m text2sql_cli` subprocesses.
- `driver`: selection (--only, --max-points, --point), planning, the local loop, --emit-commands.
- `ray_backend`: the same points as Ray tasks (optional extra).

Nothing here imports torch; the stages do, in their own processes.
"""
