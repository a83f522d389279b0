"""The GPU check (scripts/gpu_check.py) in its CPU mode, its wheelhouse install and make targets.

The CPU mode runs the very code the GPU run does, at tiny sizes: every check must be present and
pass, and every number be finite. The wheelhouse install is exercised with a wheel from
``make gpu-wheels`` when one is there (the check needs no index)."""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "benchmarks")]   # gpucheck, bench_images
import gpu_check  # noqa: E402

CHECKS = {"rule_directions", "channels_last", "inception_features", "deterministic_resume", "ema",
          "torchrun"}


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


@pytest.mark.long
def test_cpu_mode_runs_every_check_and_measurement(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cpu", "--out", str(out),
         "--rules", "simgd,jare,altgd", "--bench-archs", "dcgan4,resnet_v1"],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads((out / "gpu_check.json").read_text())
    assert rep["device"]["type"] == "cpu" and rep["device"]["python"]
    assert {c["name"] for c in rep["checks"]} == CHECKS
    assert all(c["passed"] for c in rep["checks"]), [c for c in rep["checks"] if not c["passed"]]
    assert not rep["errors"] and not rep["skipped"]
    rows = next(c for c in rep["checks"] if c["name"] == "rule_directions")["numbers"]["rows"]
    assert {(r["arch"], r["rule"]) for r in rows} == {(a, r) for a in ("resnet_v1", "dcgan4", "conv4")
                                                       for r in ("simgd", "jare", "altgd")}
    assert all(0 < r["device_f32"] <= r["bound_f32"] < 1e-3 for r in rows)
    m = rep["measurements"]
    steps = m["steps"]
    assert {(r["arch"], r["rule"]) for r in steps} == {
        (a, r) for a in ("dcgan4", "resnet_v1")
        for r in ("simgd", "altgd", "conopt", "jare", "jare_g", "conopt_d")}
    for r in steps:
        assert r["ms_per_step"] > 0 and r["images_per_s"] > 0 and r["gflop_per_step"] > 0
    # FLOPs counted independently of time: a regularized step does more work than SimGD's,
    # ConOpt (both players' Hessian-vector products) more than JARE's one-sided variant.
    flop = {(r["arch"], r["rule"]): r["flop_ratio"] for r in steps}
    for a in ("dcgan4", "resnet_v1"):
        assert flop[a, "simgd"] == 1.0
        assert flop[a, "conopt"] > flop[a, "jare_g"] > 1.0
    assert m["inception_throughput"]["gantrain_img_s"] > 0
    isfid = m["isfid"]
    assert isfid["samples"] < 50_000 and math.isfinite(isfid["fid"]) and isfid["fid"] >= 0
    assert isfid["inception_score"] >= 1.0 - 1e-6
    assert all(math.isfinite(x) for x in _numbers(rep))
    ens = m["ensemble"]
    assert [r["rule"] for r in ens["rules"]] == ["simgd", "conopt", "jare"]
    assert all([s["n"] for s in r["sizes"]] == [1, 2] and s["members_per_s"] > 0
               for r in ens["rules"] for s in r["sizes"])
    assert ens["member0_rel_err_after_5_steps"] < 1e-5   # a member follows its single run
    assert [g["met"] for g in rep["goals"]] == [None] * 4   # CPU mode judges no goal
    md = (out / "gpu_check.md").read_text()
    assert "smoke numbers" in md and "not GPU numbers" in md and "scaled down" in md


def _make_wheel(path: Path, files: dict[str, bytes]) -> None:
    """A minimal wheel whose RECORD carries each file's urlsafe-base64 sha256 (the wheel spec)."""
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append("gantrain-0.1.0.dist-info/RECORD,,")
        z.writestr("gantrain-0.1.0.dist-info/RECORD", "\n".join(record) + "\n")


def test_stale_wheel_is_told_apart_from_the_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "gantrain" / "conf").mkdir(parents=True)
    files = {"gantrain/__init__.py": b"", "gantrain/engine.py": b"x = 1\n",
             "gantrain/conf/train.yaml": b"a: 1\n"}
    for name, data in files.items():
        (tree / name).write_bytes(data)
    wheel = tmp_path / "gantrain-0.1.0-py3-none-any.whl"
    _make_wheel(wheel, files)
    assert gpu_check.stale_files(wheel, tree) == []
    (tree / "gantrain" / "engine.py").write_bytes(b"x = 2\n")
    assert gpu_check.stale_files(wheel, tree) == ["gantrain/engine.py"]
    (tree / "gantrain" / "new.py").write_bytes(b"")
    assert gpu_check.stale_files(wheel, tree) == ["gantrain/new.py", "gantrain/engine.py"]


def test_a_missing_wheel_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(gpu_check.NEEDED, "no_such_module_here", "no_such_dist")
    with pytest.raises(SystemExit, match="no no_such_dist-\\*.whl; run make gpu-wheels"):
        gpu_check.install(tmp_path, tmp_path / "site")
    with pytest.raises(SystemExit, match="no such folder"):
        gpu_check.install(tmp_path / "absent", tmp_path / "site")


WHEELS = ROOT / "gpu_wheels"


@pytest.mark.skipif(not list(WHEELS.glob("omegaconf-*.whl")), reason="no wheelhouse: run make gpu-wheels")
def test_wheelhouse_installs_what_is_missing_without_an_index(tmp_path, monkeypatch):
    house = tmp_path / "wheels"
    house.mkdir()
    for w in [*WHEELS.glob("omegaconf-*.whl"), *WHEELS.glob("gantrain-*.whl")]:
        shutil.copy(w, house)
    real = gpu_check.importlib.util.find_spec
    monkeypatch.setattr(gpu_check.importlib.util, "find_spec",     # as if omegaconf were absent
                        lambda name, *a: None if name == "omegaconf" else real(name, *a))
    site = tmp_path / "site"
    env, note = gpu_check.install(house, site)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(site)
    assert (site / "omegaconf" / "__init__.py").is_file() and "omegaconf-" in note
    code = "import gantrain, omegaconf; print(gantrain.__file__); print(omegaconf.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True, cwd=tmp_path).stdout.split()
    assert where[1].startswith(str(site))
    stale = gpu_check.stale_files(next(house.glob("gantrain-*.whl")))
    if stale:   # the tree changed since make gpu-wheels: the tree's gantrain is used, and said
        assert "working tree" in note and str(ROOT) in env["PYTHONPATH"].split(os.pathsep)
        assert where[0].startswith(str(ROOT / "gantrain"))
    else:
        assert where[0].startswith(str(site / "gantrain"))
        assert (site / "gantrain" / "conf" / "train.yaml").is_file()


def _dry_run(*args: str) -> str:
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_make_gpu_wheels_downloads_binaries_for_the_gpu_python():
    text = _dry_run("gpu-wheels")
    download = next(line for line in text.replace("\\\n", " ").splitlines() if "pip download" in line)
    for flag in ("--no-deps", "--only-binary=:all:", "--python-version 3.12", "--implementation cp",
                 "--platform manylinux2014_x86_64", "--platform manylinux_2_17_x86_64"):
        assert flag in download, flag
    for pkg in ("hydra-core==1.3.8", "omegaconf>=2.3,<2.4", "pytorch-fid", "PyYAML"):
        assert pkg in download, pkg
    assert "torch" not in download.replace("pytorch-fid", "")   # the GPU machine's own torch
    assert "wandb" not in text
    assert "pip wheel --no-deps --no-build-isolation -w gpu_wheels antlr4-python3-runtime==4.9.3" in text
    assert "pip wheel --no-deps --no-build-isolation -w gpu_wheels ." in text
    assert "--python-version 3.11" in _dry_run("gpu-wheels", "GPU_PYTHON_VERSION=3.11")
    check = " ".join(_dry_run("gpu-check", "DEVICE=cpu", "WHEELHOUSE=gpu_wheels",
                              "GPU_OUT=/tmp/o").replace("\\\n", " ").split())
    assert "scripts/gpu_check.py --device cpu --out /tmp/o --wheelhouse gpu_wheels" in check


def test_direction_check_measures_float32_against_float64():
    """One rule on one net, in process: float32 differs from the float64 reference by round-off
    (not 0: the reference really is float64), and on the CPU the device path is the CPU path."""
    from gpucheck.common import CPU, F32_FLOOR
    from gpucheck.directions import compare_rule

    row = compare_rule("dcgan4", "jare", CPU, "cpu")
    assert 0 < row["cpu_f32"] < 1e-4
    assert row["device_f32"] == row["cpu_f32"] and row["device_tf32"] is None
    assert row["bound_f32"] == max(8 * row["cpu_f32"], F32_FLOOR) and row["passed"]


def test_goals_are_judged_on_cuda_only():
    from gpucheck import report

    def row(rule, t, f):
        return {"rule": rule, "time_ratio": t, "flop_ratio": f, "goal_met": t <= 1.15 * f}

    rep = {"device": {"type": "cuda"}, "measurements": {
        "steps": [row("conopt", 3.0, 2.7), row("jare", 3.2, 2.7)],          # 3.2 > 1.15 × 2.7
        "inception_throughput": {"ratio": 1.3},
        "isfid": {"samples": 50_000, "wall_s": 59.0}}}
    assert [g["met"] for g in report.goals(rep)] == [False, None, True, True]   # no ensemble yet
    jare = {"rule": "jare", "sizes": [{"n": 1, "ratio": 0.6}, {"n": 16, "ratio": 3.1},
                                      {"n": 256, "ratio": 20.0}]}
    rep["measurements"]["ensemble"] = {"rules": [jare]}
    rep["measurements"]["steps"] = [row("conopt", 3.0, 2.7)]
    rep["measurements"]["isfid"] = {"samples": 50_000, "wall_s": 61.0}
    assert [g["met"] for g in report.goals(rep)] == [True, True, True, False]
    jare["sizes"][1]["ratio"] = 2.9                                    # N = 16 decides, not 256
    rep["measurements"]["isfid"] = {"samples": 20, "wall_s": 1.0}     # too few samples to judge
    assert [g["met"] for g in report.goals(rep)][1:] == [False, True, None]
    rep["device"]["type"] = "cpu"
    assert [g["met"] for g in report.goals(rep)] == [None] * 4


def test_direction_check_that_runs_out_of_time_fails_naming_what_it_skipped():
    from gpucheck.common import CPU
    from gpucheck.directions import check_directions

    passed, numbers, note = check_directions(CPU, "cpu", ["simgd"], max_s=-1)
    assert not passed and numbers["rows"] == []
    assert numbers["skipped"] == ["resnet_v1/simgd", "dcgan4/simgd", "conv4/simgd"]
    assert "not compared" in note and "conv4/simgd" in note
