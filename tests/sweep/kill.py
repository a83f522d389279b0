"""Kill -9 in the middle of a sweep, and what must hold after its rerun: the pieces shared by
tests/sweep/test_resume.py (local launchers) and tests/slurm/test_sweep_resume.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import yaml

from tests.slurm import cluster as C

# A Gaussian-game run of ~3 s with a checkpoint every 100 steps: long enough to be killed in.
TINY = ("dataset=gaussian", "method=jare", "steps=1500", "log_every=100", "checkpoint_every=100",
        "logger=none", "progress=false")
STEPS = 1500
SEARCH = ("hydra/sweeper=optuna", "hydra/sweeper/sampler=random", "gamma=choice(0.5,2)",
          "eta=interval(0.01,0.1)", "search.objective=dist_equilibrium", "search.direction=minimize")


def gantrain(sweep_dir: Path, *args: str) -> list[str]:
    return [str(C.BIN / "gantrain"), "-m", *TINY, f"hydra.sweep.dir={sweep_dir}", *args]


def run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, env=C.env(), capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def job_dirs(sweep_dir: Path) -> dict[int, Path]:
    return {int(p.name): p for p in sweep_dir.iterdir() if p.name.isdigit()} if sweep_dir.is_dir() else {}


def _last_step(d: Path) -> int:
    """The last step a running job logged (metrics.jsonl; -1 before its first record)."""
    try:
        return json.loads((d / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    except (OSError, IndexError, ValueError, KeyError):
        return -1


def _interrupted(sweep_dir: Path) -> bool:
    """At least one job finished and another is in its first third (a checkpoint, no summary):
    early enough that it is still running when the kill comes, whatever the machine's load."""
    dirs = job_dirs(sweep_dir).values()
    done = [d for d in dirs if (d / "summary.json").exists()]
    mid = [d for d in dirs if not (d / "summary.json").exists()
           and (d / "checkpoints" / "last.pt").exists() and _last_step(d) <= STEPS // 3]
    return bool(done and mid)


def kill_midway(cmd: list[str], sweep_dir: Path, cwd: Path, timeout: float = 600) -> None:
    """Start the sweep in its own process group and kill -9 the whole group once a job is half
    way (the machine going down: the sweep and its local workers at once)."""
    p = subprocess.Popen(cmd, cwd=cwd, env=C.env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        C.wait_for(lambda: _interrupted(sweep_dir) or p.poll() is not None,
                   "a job half way", timeout=timeout, poll=0.05)
        assert p.poll() is None, "the sweep ended before it could be killed"
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def snapshot(sweep_dir: Path) -> dict[int, dict]:
    """Each job directory as the kill left it: its overrides, whether it had a checkpoint, and
    its summary and metrics (bytes and mtime) when its run had finished (completed or
    diverged)."""
    out = {}
    for n, d in job_dirs(sweep_dir).items():
        s = d / "summary.json"
        finished = s.exists() and C.summary(d)["status"] in ("completed", "diverged")
        out[n] = {"overrides": _overrides(d),
                  "finished": finished,
                  "checkpoint": (d / "checkpoints" / "last.pt").exists(),
                  "files": {f.name: (f.read_bytes(), f.stat().st_mtime_ns)
                            for f in (s, d / "metrics.jsonl") if finished}}
    return out


def _overrides(d: Path) -> list[str]:
    return yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text())


def check_resumed(sweep_dir: Path, before: dict[int, dict], n_jobs: int,
                  went_on: bool = False) -> dict[str, list[int]]:
    """After the rerun: ``n_jobs`` job directories, each run completed once (every step logged
    once, up to STEPS); a job finished before the kill untouched and recorded as before; a job
    killed half way resumed at its own point; sweep.json saying which. ``went_on``: the killed
    sweep's jobs were not killed (SLURM jobs): a job half way then ends in its own job, at its
    own point, and the rerun runs nothing in it. Returns the jobs by status."""
    dirs = job_dirs(sweep_dir)
    assert sorted(dirs) == list(range(n_jobs)), sorted(dirs)
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["gantrain_sweep_format"] == 1 and len(record["jobs"]) == n_jobs
    by_status: dict[str, list[int]] = {}
    for n, d in dirs.items():
        summary = C.summary(d)
        assert summary["status"] == "completed" and summary["steps_done"] == STEPS, (n, summary)
        steps = [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert len(steps) == len(set(steps)) and steps[-1] == STEPS, (n, steps)   # none twice
        entry = record["jobs"][str(n)]
        assert entry["dir"] == str(n) and entry["overrides"] == _overrides(d)
        by_status.setdefault(entry["status"], []).append(n)
        old = before.get(n)
        if old and old["finished"]:   # untouched: the same bytes, not rewritten
            now = {f: ((d / f).read_bytes(), (d / f).stat().st_mtime_ns) for f in old["files"]}
            assert now == old["files"], n
            assert entry["status"] == "done"
        elif old:   # killed half way: the same point, resumed from its checkpoint
            assert _overrides(d) == old["overrides"]
            log = C.log_text(d / "gantrain.log")
            if went_on:
                assert not C.resumed_steps(log) and entry["status"] == "done", n
            elif old["checkpoint"]:
                assert C.resumed_steps(log) and entry["status"] == "resumed", n
            else:   # killed before its first checkpoint: it starts again, at the same point
                assert entry["status"] == "done", n
        else:
            assert entry["status"] == "done"
    assert any(b["finished"] for b in before.values())
    assert went_on or "resumed" in by_status
    return by_status


def check_study(sweep_dir: Path, n_trials: int) -> None:
    """The study holds ``n_trials`` trials, all complete, and trial k's point is job k's."""
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")   # as gantrain.sweep does
    import optuna

    study = optuna.load_study(study_name="gantrain", storage=f"sqlite:///{sweep_dir}/optuna.db")
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(n_trials))
    assert {t.state.name for t in trials} == {"COMPLETE"}
    for t in trials:
        over = dict(o.split("=", 1) for o in _overrides(sweep_dir / str(t.number)))
        assert float(over["eta"]) == t.params["eta"] and float(over["gamma"]) == t.params["gamma"]
        value = C.summary(sweep_dir / str(t.number))["metrics"]["dist_equilibrium"]
        assert t.value == value


def refused(tmp_path, *args: str) -> str:
    """Run ``gantrain -m`` expecting a one-line refusal (exit 2); the line."""
    res = subprocess.run([str(C.BIN / "gantrain"), "-m", *args], cwd=tmp_path, env=C.env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr[-3000:]
    return res.stderr.strip()


def tree(path):
    return {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
