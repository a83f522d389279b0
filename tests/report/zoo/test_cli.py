"""`python -m gantrain.report.zoo` (gantrain/report/zoo/cli.py): one tiny `zoo run` + `zoo report`
end to end, bad input refused in one line before any work, and `make zoo`."""
from __future__ import annotations

import csv
import json
import math
import subprocess
from pathlib import Path

import pytest

from gantrain.report.zoo.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
@pytest.mark.trajectory
def test_tiny_zoo_run_and_report_end_to_end(tmp_path, capsys):
    """Two rules on the DiracGAN (20 steps) and their quick phase diagrams, in this process; the
    report's 10× step is recomputed here from metrics.jsonl."""
    runs = tmp_path / "runs"
    code = main(["run", str(runs), "--methods", "simgd,jare", "--parts", "dirac,phase",
                     "--quick", "--jobs", "1", "steps=20", "checkpoint_every=20"])
    assert code == 0
    for m in ("simgd", "jare"):
        assert json.loads((runs / "dirac" / m / "seed=0" / "summary.json").read_text())[
            "status"] == "completed"
        assert (runs / "phase" / m / "mu=6" / "phase.json").is_file()
        cmd = (runs / "dirac" / m / "seed=0" / "command.txt").read_text()
        assert cmd.startswith("gantrain dataset=dirac") and f"method={m}" in cmd
    assert json.loads((runs / "zoo_run.json").read_text())["jobs"][0]["cpu_s"] > 0
    assert main(["report", str(runs), "--out", str(tmp_path / "report")]) == 0
    rows = {r["method"]: r for r in csv.DictReader((tmp_path / "report" / "table.csv").open())
            if r["game"] == "dirac"}
    records = [json.loads(ln) for ln in (runs / "dirac" / "jare" / "seed=0" / "metrics.jsonl")
               .read_text().splitlines()]
    start = records[0]["dist_equilibrium"]
    assert start == pytest.approx(math.sqrt(2))          # the DiracGAN starts at (1, 1)
    first = next((r["step"] for r in records if r["dist_equilibrium"] <= start / 10), None)
    assert rows["jare"]["ten_x_closer_steps"] == ("never" if first is None else str(first))
    assert rows["jare"]["gamma"] == "1.0" and rows["simgd"]["gamma"] == ""
    # a second run finds everything finished and redoes nothing
    capsys.readouterr()
    assert main(["run", str(runs), "--methods", "simgd", "--parts", "phase", "--quick",
                     "--jobs", "1"]) == 0
    assert "done before" in capsys.readouterr().out


@pytest.mark.parametrize("args, bad", [
    (["--methods", "simgd,nosuch"], "--methods=simgd,nosuch"),
    (["--parts", "gaussian"], "--parts=gaussian"),
    (["--seeds", "a"], "--seeds=a"),
    (["--jobs", "0"], "--jobs=0"),
    (["nosuchkey=1"], "nosuchkey"),
])
def test_bad_input_is_refused_in_one_line_before_any_work(tmp_path, capsys, args, bad):
    assert main(["run", str(tmp_path / "runs"), "--quick", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad in err, err
    assert not (tmp_path / "runs").exists()


def test_make_zoo_plans_the_run_and_the_report_and_is_listed():
    out = subprocess.run(["make", "-C", str(ROOT), "-n", "zoo", "QUICK=1"], capture_output=True,
                         text=True, check=True).stdout
    assert "gantrain.report.zoo run outputs/multirun-quick/zoo" in out and "--quick" in out
    assert "gantrain.report.zoo report outputs/multirun-quick/zoo --out outputs/report-quick/zoo" in out
    full = subprocess.run(["make", "-C", str(ROOT), "-n", "zoo"], capture_output=True, text=True,
                          check=True).stdout
    assert "--quick" not in full
    assert "zoo" in subprocess.run(["make", "-C", str(ROOT), "help"], capture_output=True,
                                   text=True, check=True).stdout


@pytest.mark.slow
@pytest.mark.trajectory
def test_the_mog_part_trains_each_rules_seeds_as_one_ensemble(tmp_path):
    """The zoo's MoG runs of a rule go together as one ensemble (gantrain.ensemble); each member
    is an ordinary run directory whose trajectory is the single run's, here recomputed with
    --no-ensemble. CGD, which the ensemble cannot express, runs alone."""
    common = ["--methods", "simgd,cgd", "--parts", "mog_r2", "--quick", "--seeds", "0,1",
              "--jobs", "1", "steps=20", "log_every=10", "checkpoint_every=20", "arch.width=8",
              "eval.num_samples=64"]
    assert main(["run", str(tmp_path / "ens"), *common]) == 0
    assert main(["run", str(tmp_path / "single"), *common, "--no-ensemble"]) == 0
    log = json.loads((tmp_path / "ens" / "zoo_run.json").read_text())["jobs"]
    assert {(j["method"], j.get("ensemble_of")) for j in log} == {("simgd", 2), ("cgd", None)}
    for seed in (0, 1):
        for method in ("simgd", "cgd"):
            runs = [json.loads((tmp_path / kind / "mog_r2" / method / f"seed={seed}" /
                                "summary.json").read_text()) for kind in ("ens", "single")]
            assert [r["status"] for r in runs] == ["completed", "completed"]
            for key in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"):
                assert runs[0]["metrics"][key] == pytest.approx(runs[1]["metrics"][key],
                                                                rel=1e-4, abs=1e-6), key
