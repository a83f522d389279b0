"""The installed console script ``gantrain``, run as a user would (subprocesses)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

GANTRAIN = Path(sys.executable).parent / "gantrain"
QUIET = ("logger=none", "progress=false")
# Files gantrain itself owns in a run directory (Hydra keeps its own record under .hydra/).
OWN = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints/last.pt")


def gantrain(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["WANDB_MODE"] = "disabled"
    env["OMP_NUM_THREADS"] = "1"   # tiny models; keeps a shared CPU from thrashing
    return subprocess.run([str(GANTRAIN), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def own_files(run_dir: Path) -> dict:
    return {p.relative_to(run_dir).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*"))
            if p.is_file() and ".hydra" not in p.parts and p.suffix != ".log"}


def test_console_script_is_installed(tmp_path):
    """The installed script is gantrain's (not a stale or foreign one): its help lists the groups."""
    assert GANTRAIN.is_file() and os.access(GANTRAIN, os.X_OK)
    res = gantrain("--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "gantrain: train GANs" in res.stdout
    for group, option in (("method", "jare"), ("dataset", "gaussian"), ("loss", "indicator")):
        assert re.search(rf"^{group}: .*\b{option}\b", res.stdout, re.M), res.stdout


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    run_dir = root / "run"
    res = gantrain("dataset=gaussian", "steps=50", *QUIET, f"hydra.run.dir={run_dir}", cwd=root)
    return res, run_dir


@pytest.mark.slow
def test_short_run(finished_run):
    res, run_dir = finished_run
    assert res.returncode == 0, res.stderr
    s = summary(run_dir)
    assert s["status"] == "completed" and s["steps_done"] == 50 and s["method"] == "simgd"
    for name in OWN:
        assert (run_dir / name).is_file(), name
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["step"] == 0 and json.loads(lines[-1])["step"] == 50
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["dataset"]["name"] == "gaussian" and saved["steps"] == 50
    assert saved["optim"]["lr"] == 0.001        # resolved, not "${eta}"
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_rerunning_a_finished_run_leaves_it_alone(finished_run):
    _, run_dir = finished_run
    before = own_files(run_dir)
    res = gantrain("dataset=gaussian", "steps=50", *QUIET, f"hydra.run.dir={run_dir}",
                   cwd=run_dir.parent)
    assert res.returncode == 0, res.stderr
    assert own_files(run_dir) == before


@pytest.mark.slow
@pytest.mark.parametrize("args,key", [
    (("gamma=-1",), "gamma"),
    (("method=jare",), "method"),                    # another run's settings
    (("steps=0",), "steps"),
], ids=["bad-value", "other-settings", "bad-steps"])
def test_bad_rerun_leaves_an_existing_run_untouched(finished_run, args, key):
    _, run_dir = finished_run
    before = own_files(run_dir)
    res = gantrain("dataset=gaussian", "steps=50", *QUIET, *args, f"hydra.run.dir={run_dir}",
                   cwd=run_dir.parent)
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gantrain: error:") and key in err[0], res.stderr
    assert own_files(run_dir) == before
    assert (run_dir / "config.yaml").is_file()      # the run directory itself is kept


def test_help(tmp_path):
    res = gantrain("--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for group in ("method", "dataset", "arch", "loss", "optim", "logger", "experiment"):
        assert f"{group}:" in out, group
    for option in ("simgd", "jare", "conopt_g", "gaussian", "mog", "rmsprop_tf", "mog_r2"):
        assert option in out, option
    assert not list(tmp_path.iterdir())             # --help runs nothing


def test_cfg_job_prints_the_composed_config(tmp_path):
    res = gantrain("--cfg", "job", "dataset=gaussian", "method=jare", "gamma=3", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = yaml.safe_load(res.stdout)
    assert cfg["method"]["name"] == "jare" and cfg["gamma"] == 3
    assert cfg["dataset"]["name"] == "gaussian" and cfg["arch"]["name"] == "linear"
    assert cfg["optim"]["name"] == "sgd" and cfg["optim"]["lr"] == "${eta}"
    assert "hydra" not in cfg
    assert not list(tmp_path.iterdir())             # nothing ran


@pytest.mark.slow
def test_multirun_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    res = gantrain("-m", "method=simgd,jare", "dataset=gaussian", "steps=20", *QUIET,
                   f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "summary.json").exists())
    assert [p.name for p in jobs] == ["0", "1"]
    methods = []
    for job in jobs:
        s = summary(job)
        assert s["status"] == "completed" and s["steps_done"] == 20
        assert (job / "checkpoints" / "last.pt").is_file()
        methods.append(s["method"])
    assert methods == ["simgd", "jare"]


@pytest.mark.slow
def test_diverging_run_exits_zero(tmp_path):
    run_dir = tmp_path / "run"
    # SimGD on the WGAN loss with eta=1 blows up within ~50 steps.
    res = gantrain("dataset=gaussian", "loss=wgan", "eta=1", "steps=500", *QUIET,
                   f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    s = summary(run_dir)
    assert s["status"] == "diverged" and 0 < s["diverged_at"] < 500
    assert s["steps_done"] == s["diverged_at"]


# Our own validation: exit 2, exactly one stderr line "gantrain: error: ..." naming the key.
VALIDATION_ERRORS = [
    (("gamma=-1",), "gamma"),
    (("eta=0",), "eta"),
    (("batch_size=0",), "batch_size"),
    (("dataset.modes=0",), "dataset.modes"),
    (("dataset=gaussian", "dataset.sigma=0"), "dataset.sigma"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args,key", VALIDATION_ERRORS,
                         ids=[" ".join(a) for a, _ in VALIDATION_ERRORS])
def test_validation_error_is_one_line_and_leaves_no_run_dir(tmp_path, args, key):
    run_dir = tmp_path / "run"
    res = gantrain(*args, "steps=5", *QUIET, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("gantrain: error:") and key in lines[0]
    assert "Traceback" not in res.stdout
    assert not run_dir.exists()


def test_validation_error_with_the_default_run_dir_leaves_no_run(tmp_path):
    res = gantrain("gamma=-1", "steps=5", *QUIET, cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("gantrain: error: gamma=")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not list(tmp_path.rglob(".hydra"))


# Unknown options are refused before Hydra starts: exit 2, one line naming the option and the
# allowed ones (tests/config/test_bad_input.py has the full battery).
@pytest.mark.parametrize("arg,group,allowed", [("method=nope", "method", "conopt_g"),
                                               ("optim=nope", "optim", "rmsprop_tf")])
def test_unknown_option_fails_cleanly(tmp_path, arg, group, allowed):
    run_dir = tmp_path / "run"
    res = gantrain(arg, "steps=5", *QUIET, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"gantrain: error: {group}=nope is invalid: allowed: ")
    assert allowed in lines[0]
    assert not run_dir.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.long
@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_bad_job_never_stops_the_sweep(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    proc = gantrain("-m", f"launcher={launcher}", "dataset=gaussian", "steps=20", "method=simgd,jare",
                    "gamma=10,-1", f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    statuses = {}
    for job in sorted(sweep.glob("[0-9]*")):
        s = summary(job)
        statuses[job.name] = s["status"]
        if s["status"] == "failed":
            assert s["error"] == "ConfigError: gamma=-1 is invalid: must be a number >= 0"
    assert statuses == {"0": "completed", "1": "failed", "2": "completed", "3": "failed"}


# The command line answers before torch loads: composing and validating a config needs hydra and
# omegaconf only (``import torch`` alone takes about 5 s on a 2-core machine).
HEAVY = ("torch", "torchvision", "wandb", "matplotlib", "scipy")
IMPORTS_AFTER = """
import sys
from gantrain import cli
try:
    cli.main()
except SystemExit as e:
    print("exit", e.code, file=sys.stderr)
print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.slow
@pytest.mark.parametrize("args,code", [
    (["gamma=-1"], 2),                            # a refused value
    (["dataset=nope"], 2),                        # a refused group option
    (["--cfg", "job", "method=jare"], None),      # the composed config
    (["--help"], None),
    (["sweep=fig5", "--cfg", "hydra"], None),
], ids=["bad-value", "bad-option", "cfg-job", "help", "sweep-cfg"])
def test_the_command_line_answers_without_importing_torch(tmp_path, args, code):
    script = IMPORTS_AFTER.format(heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "WANDB_MODE": "disabled"})
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
    if code is not None:
        assert f"exit {code}" in out.stderr


def test_a_valid_run_validates_before_torch_loads(monkeypatch):
    """The check a single run gets before Hydra starts (validation, the busy-directory lock) runs
    with torch absent; the run itself imports it later."""
    script = ("import sys\nfrom gantrain import cli\nfrom gantrain.config import validate\n"
              "cli.preflight('gantrain', 'train', validate, ['method=jare', 'gamma=10'])\n"
              f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]
