"""Running the zoo's jobs: each in a worker process with one torch thread (on these tiny games a
Hydra multirun's per-job start-up costs more than the runs), as ``gantrain`` / ``gantrain-analyze``
would run it. A job that fails is recorded (summary.json / error.json) and the others go on."""
from __future__ import annotations

import json
import time
from pathlib import Path

from gantrain.errors import first_line
from gantrain.report.zoo.plan import Job, compose_config

RUN_LOG = "zoo_run.json"   # what the last `run` did and cost (the report's compute section)


def describe_error(e: BaseException) -> str:
    """``<type>: <first line of the message>``, as the report shows a failure."""
    return f"{type(e).__name__}: {first_line(e)}" if str(e).strip() else type(e).__name__


def run_job(job: Job) -> dict:
    """Worker: one training run or phase diagram, with its wall and CPU time; a failure is
    recorded, never raised."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = Path(job.out)
    out.mkdir(parents=True, exist_ok=True)
    if job.threads:
        import torch
        torch.set_num_threads(job.threads)
    result = {"kind": job.kind, "game": job.game, "method": job.method, "label": job.label}
    run = {"phase": _phase_job, "ensemble": _ensemble_job}.get(job.kind, _train_job)
    result.update(run(job, out))
    return {**result, "wall_s": round(time.perf_counter() - wall, 3),
            "cpu_s": round(time.process_time() - cpu, 3)}


def _ensemble_job(job: Job, out: Path) -> dict:
    """The members trained as one ensemble; each member's result as ``_train_job`` gives it."""
    from gantrain.ensemble import train_ensemble

    dirs = [Path(m.out) for m in job.members]
    for m, d in zip(job.members, dirs):
        d.mkdir(parents=True, exist_ok=True)
        (d / "command.txt").write_text(m.command + "\n")   # the single run it stands for
    try:
        summaries = train_ensemble([compose_config("train", m.overrides) for m in job.members], dirs)
        results = [{"status": s.get("status"), "summary": s} for s in summaries]
    except Exception as e:  # noqa: BLE001 - every member wrote status: failed with the error
        results = [{"status": "failed", "error": describe_error(e)} for _ in job.members]
    return {"status": "ensemble", "members": [
        {"kind": "train", "game": m.game, "method": m.method, "label": m.label, **r}
        for m, r in zip(job.members, results)]}


def member_results(r: dict) -> list[dict]:
    """A job's results, one per run: an ensemble's members share its wall and CPU time equally."""
    if r.get("kind") != "ensemble":
        return [r]
    n = len(r["members"])
    return [{**m, "wall_s": round(r["wall_s"] / n, 3), "cpu_s": round(r["cpu_s"] / n, 3),
             "ensemble_of": n} for m in r["members"]]


def _train_job(job: Job, out: Path) -> dict:
    from gantrain.errors import ConfigError
    from gantrain.rundir import failure_recorded
    from gantrain.train import train

    (out / "command.txt").write_text(job.command + "\n")
    try:
        # a run refused before training gets its summary where the report looks
        with failure_recorded(out, method=job.method, zoo_game=job.game):
            summary = train(compose_config("train", job.overrides), out)
        return {"status": summary.get("status"), "summary": summary}
    except ConfigError as e:
        return {"status": "failed", "error": describe_error(e)}
    except Exception as e:  # noqa: BLE001 - train() wrote summary.json: failed
        return {"status": "failed", "error": describe_error(e)}


def _phase_job(job: Job, out: Path) -> dict:
    done = out / "phase.json"
    command = out / "command.txt"
    if done.is_file() and command.is_file() and command.read_text().strip() == job.command:
        return {"status": "done before"}
    for stale in ("phase.json", "phase.png", "error.json"):
        (out / stale).unlink(missing_ok=True)
    command.write_text(job.command + "\n")
    try:
        from gantrain.analysis.phase import run_phase_diagram
        from gantrain.analyze import check_config

        cfg = compose_config("analyze", job.overrides)
        check_config(cfg)
        run_phase_diagram(cfg, out)
        return {"status": "done"}
    except Exception as e:  # noqa: BLE001 - one rule's failure must not cost the other diagrams
        err = describe_error(e)
        (out / "error.json").write_text(json.dumps(
            {"method": job.method, "mu": float(job.label.removeprefix("mu=")), "error": err,
             "command": job.command}, indent=1) + "\n")
        return {"status": "failed", "error": err}


def _progress_line(r: dict, done: int, total: int, elapsed: float) -> str:
    what = r["status"] + (f" ({r['error']})" if r.get("error") else "")
    if r["kind"] == "train" and r.get("summary"):
        m = r["summary"].get("metrics") or {}
        shown = [f"{k}={m[k]:.4g}" for k in ("dist_equilibrium", "modes_covered")
                 if isinstance(m.get(k), (int, float))]
        what += f" after {r['summary'].get('steps_done')} steps" + (
            f", {', '.join(shown)}" if shown else "")
    return f"[{done}/{total} {elapsed:6.0f} s] {r['game']} {r['method']} {r['label']}: {what}"


def run_all(jobs: list[Job], workers: int = 1) -> list[dict]:
    """Run the jobs, one line per finished job.

    Args:
        jobs: from ``make_jobs``.
        workers: processes (1: in this process).

    Returns:
        ``run_job``'s result of each job, in the order they finished.
    """
    t0 = time.perf_counter()
    results: list[dict] = []

    total = sum(max(len(j.members), 1) for j in jobs)

    def report(r: dict) -> None:
        for one in member_results(r):
            results.append(one)
            print(_progress_line(one, len(results), total, time.perf_counter() - t0), flush=True)

    if workers <= 1:
        for j in jobs:
            report(run_job(j))
        return results
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(run_job, j) for j in jobs]):
            report(fut.result())
    return results


def write_run_log(out: Path, results: list[dict], wall_s: float, workers: int, quick: bool) -> None:
    """What the last `run` did and what it cost (the report's compute section reads it)."""
    jobs = [{k: r.get(k) for k in ("kind", "game", "method", "label", "status", "error", "wall_s",
                                   "cpu_s", "ensemble_of") if k in r or k != "ensemble_of"}
            for r in results]
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / RUN_LOG).write_text(json.dumps(
        {"wall_s": round(wall_s, 1), "workers": workers, "quick": quick, "jobs": jobs},
        indent=1) + "\n")
    cpu: dict[str, float] = {}
    for j in jobs:
        cpu[j["game"]] = cpu.get(j["game"], 0.0) + (j["cpu_s"] or 0.0)
    print(f"zoo: {len(jobs)} jobs in {wall_s:.0f} s wall with {workers} worker(s); CPU s: "
          + ", ".join(f"{g} {c:.0f}" for g, c in cpu.items()), flush=True)


def check_first(jobs: list[Job]) -> None:
    """Bad overrides are refused in one line before any work, as `gantrain` / `gantrain-analyze`
    refuse them: the first job of each part is composed and checked here (every job checks
    itself again when it runs)."""
    from gantrain.analyze import check_config
    from gantrain.cli import check_command_line
    from gantrain.config import validate
    seen = set()
    for j in jobs:
        if j.game not in seen:
            seen.add(j.game)
            if j.kind in ("train", "ensemble"):
                check_command_line("train", validate, j.overrides, "cli")
            else:
                check_command_line("analyze", check_config, j.overrides, "analyze")
