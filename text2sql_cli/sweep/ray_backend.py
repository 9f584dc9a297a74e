"""`t2s sweep --backend ray`: each point is a Ray task on a cluster; t2s schedules nothing itself.

A task runs the same `run_point` as the local driver, so the results directory is the same; --out
must be on a filesystem every node sees (the driver reads status.json files back from it). Each
task asks Ray for --gpus-per-point GPUs (default 1; 0 on a CPU cluster) and --cpus-per-point CPUs.
The driver is resumable like the local one: finished points are skipped before anything is
submitted, interrupted ones resume in their task. Ray is an optional extra: `pip install t2s[ray]`.

Workers need t2s importable (installed on every node, or PYTHONPATH in the environment Ray
starts them with); a local cluster started here inherits this process's environment.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from text2sql_cli.errors import EnvironmentNotSupported
from text2sql_cli.sweep.config import Point
from text2sql_cli.sweep.driver import SweepResult
from text2sql_cli.sweep.point import Launch, PointFailed, run_point, state


def _task(point: dict[str, Any], point_dir: str, launch: dict[str, Any]) -> tuple[str, str | None]:
    """Runs on a Ray worker: (name, None) when the point finished, (name, error) when it failed."""
    p = Point(**point)
    try:
        run_point(p, Path(point_dir), Launch(**launch))
    except PointFailed as err:
        return p.name, str(err)
    return p.name, None


def run_ray(
    points: list[Point],
    out: Path,
    launch: Launch,
    *,
    address: str | None,
    gpus: float,
    cpus: float,
    console=None,
) -> SweepResult:
    try:
        import ray
    except ImportError:
        raise EnvironmentNotSupported(
            "--backend ray needs Ray", hint="pip install 't2s[ray]' (or pip install ray)"
        ) from None
    result = SweepResult()
    todo = []
    for p in points:
        if state(p, out / p.name) == "done":
            result.skipped.append(p.name)
        else:
            todo.append(p)
    if not todo:
        return result
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        remote = ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=0)(_task)
        worker_launch = asdict(launch)
        pending = {
            remote.remote(asdict_point(p), str((out / p.name).resolve()), worker_launch): p.name for p in todo
        }
        if console is not None:
            console.print(f"submitted {len(pending)} point(s) to Ray ({gpus:g} GPU, {cpus:g} CPU each)")
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                _, error = ray.get(ready[0])
            except Exception as err:  # the task itself died (worker lost, out of memory...)
                error = (
                    f"Ray task failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                )
            if error is None:
                result.done.append(name)
            else:
                result.failed[name] = error
            if console is not None:
                console.print(f"{name}: {'done' if error is None else '[red]failed[/] ' + error}")
    finally:
        if started_here:
            ray.shutdown()
    return result


def asdict_point(p: Point) -> dict[str, Any]:
    return {"name": p.name, "kind": p.kind, "settings": p.settings, "spec": p.spec}
