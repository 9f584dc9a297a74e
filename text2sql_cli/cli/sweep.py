"""`t2s sweep`: run a comparison of training settings, each point train -> infer -> eval.

Thin layer over text2sql_cli.sweep; loads no torch (the stages run as subprocesses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import LAUNCH, OUTPUT, SWEEP, command

Opt = typer.Option


def sweep(
    config: Annotated[
        Path,
        Opt("--config", help="Sweep YAML: train/test/infer/eval options and axes.", rich_help_panel=SWEEP),
    ],
    out: Annotated[
        Path, Opt("--out", help="Sweep directory; one subdirectory per point.", rich_help_panel=OUTPUT)
    ],
    dry_run: Annotated[
        bool,
        Opt(
            "--dry-run",
            help="Print the points (and the judge's estimated cost); run nothing.",
            rich_help_panel=SWEEP,
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        Opt(
            "--only",
            help="Run the points with these settings, e.g. 'r=16,data=clean'.",
            rich_help_panel=SWEEP,
        ),
    ] = None,
    max_points: Annotated[
        int | None,
        Opt("--max-points", help="Run at most N of the selected points.", min=1, rich_help_panel=SWEEP),
    ] = None,
    point: Annotated[
        str | None,
        Opt("--point", help="Run the one point with this name (see --dry-run).", rich_help_panel=SWEEP),
    ] = None,
    overwrite: Annotated[
        bool,
        Opt(
            "--overwrite",
            help="Start again the points whose directory holds another config.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    launcher: Annotated[
        str,
        Opt(
            "--launcher",
            help="python (one process) or accelerate (train/infer under accelerate launch).",
            rich_help_panel=LAUNCH,
        ),
    ] = "python",
    num_processes: Annotated[
        int,
        Opt(
            "--num-processes",
            help="Processes per point under --launcher accelerate.",
            min=1,
            rich_help_panel=LAUNCH,
        ),
    ] = 1,
    backend: Annotated[
        str, Opt("--backend", help="local (one point after another) or ray.", rich_help_panel=LAUNCH)
    ] = "local",
    ray_address: Annotated[
        str | None,
        Opt(
            "--ray-address",
            help="Ray cluster address (e.g. ray://head:10001).",
            show_default="a local Ray",
            rich_help_panel=LAUNCH,
        ),
    ] = None,
    gpus_per_point: Annotated[
        float,
        Opt(
            "--gpus-per-point",
            help="GPUs each Ray task asks for (0 on a CPU cluster).",
            min=0,
            rich_help_panel=LAUNCH,
        ),
    ] = 1.0,
    cpus_per_point: Annotated[
        float, Opt("--cpus-per-point", help="CPUs each Ray task asks for.", min=0, rich_help_panel=LAUNCH)
    ] = 1.0,
    emit_commands: Annotated[
        bool,
        Opt(
            "--emit-commands",
            help="Print one self-contained command per point (SLURM, Kubernetes).",
            rich_help_panel=LAUNCH,
        ),
    ] = False,
) -> None:
    """Run every point of a sweep: train -> infer -> eval into OUT/NAME, skipping finished points
    and resuming interrupted ones. Then `t2s report OUT`.

    \b
    t2s sweep --config examples/sweeps/tiny.yaml --out sweeps/tiny --dry-run
    t2s sweep --config examples/sweeps/tiny.yaml --out sweeps/tiny
    t2s sweep --config sweep.yaml --out /shared/sweeps/ch6 --backend ray --ray-address auto
    """
    from rich.table import Table

    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.errors import UsageError
    from text2sql_cli.sweep import driver
    from text2sql_cli.sweep.point import Launch, check_points

    if launcher not in ("python", "accelerate"):
        raise UsageError(f"--launcher {launcher!r} is not python or accelerate")
    if backend not in ("local", "ray"):
        raise UsageError(f"--backend {backend!r} is not local or ray")
    if ray_address is not None and backend != "ray":
        raise UsageError("--ray-address needs --backend ray")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="pass a directory for the sweep")
    raw, points = driver.select(config, only=only, max_points=max_points, point=point)
    launch = Launch(launcher=launcher, num_processes=num_processes)
    if emit_commands:
        for line in driver.emit_commands(config, out, points, launch):
            typer.echo(line)
        return
    table = Table(title=f"t2s sweep {config} -> {out}: {len(points)} point(s)")
    for column in ("point", "kind", "settings", "state"):
        table.add_column(column)
    for row in driver.plan_rows(points, out):
        table.add_row(*row)
    console.print(table)
    if dry_run:
        estimate = driver.judge_estimate(raw, points, out)
        if estimate is not None:
            model, todo, one = estimate
            cost = (
                "unknown (no price for this model)" if one.cost is None else f"about ${one.cost * todo:.4f}"
            )
            console.print(
                f"Judge {model}: {one.requests} requests per point x {todo} point(s) to run = "
                f"{one.requests * todo} requests, "
                f"~{(one.prompt_tokens + one.output_tokens) * todo} tokens, cost {cost}"
            )
        console.print("Dry run: nothing was run.")
        return
    check_points(points, out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    driver.write_sweep_record(raw, config, out, points)
    try:
        if backend == "ray":
            from text2sql_cli.sweep.ray_backend import run_ray

            result = run_ray(
                points,
                out,
                launch,
                address=ray_address,
                gpus=gpus_per_point,
                cpus=cpus_per_point,
                console=err,
            )
        else:
            result = driver.run_local(points, out, launch, console=err)
    except KeyboardInterrupt:
        err.print(f"interrupted; rerun the same command to resume ({out})")
        raise typer.Exit(130) from None
    summary = Table(title=f"t2s sweep -> {out}")
    for column in ("point", "status", "stage time"):
        summary.add_column(column)
    for row in driver.status_rows(points, out):
        summary.add_row(*row)
    console.print(summary)
    console.print(
        f"{len(result.done)} run, {len(result.skipped)} already done, {len(result.failed)} failed. "
        f"See the comparison: t2s report {out} --out {out / 'report'}"
    )
    if result.failed:
        for name, why in result.failed.items():
            typer.echo(
                f"Error: point {name} failed ({why}); see {out / name / 'logs'}; rerun to retry", err=True
            )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sweep", cls=command())(sweep)
