"""Hostile command lines. Every bad input to ``gantrain`` and ``gantrain-analyze`` (an unknown
group option or key, a key without its group prefix, a wrong type, a value out of range, a
non-finite number, an unparsable override, a bad value in a sweep) ends with exit code 2 and
exactly one line on stderr naming the key and what is allowed, before anything is written.

Most cases run in-process (``gantrain.cli.main`` with a patched ``sys.argv``: a subprocess costs
seconds); a few run as real subprocesses and must print the very same line, which shows that the
in-process harness is faithful."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.core.global_hydra import GlobalHydra

from gantrain import analyze, cli

BIN = Path(sys.executable).parent
ENTRIES = {"gantrain": cli.main, "gantrain-analyze": analyze.main}
FINITE = "must be a finite number"

# (program, arguments, fragments the one line must hold)
CASES = [
    # method
    ("gantrain", ["method=nosuch"], ["method=nosuch is invalid", "allowed:", "conopt_g", "simgd"]),
    ("gantrain", ["method.nosuch=1"],
     ["method.nosuch=1", "method=simgd has no key nosuch", "its keys: name"]),
    ("gantrain", ["method.d_steps=2"], ["method.d_steps=2", "a key of method=altgd"]),
    ("gantrain", ["d_steps=2"], ["d_steps=2", "did you mean method.d_steps (with method=altgd)?"]),
    ("gantrain", ["method=altgd", "method.d_steps=0"], ["method.d_steps=0", "must be >= 1"]),
    ("gantrain", ["method=conopt", "method.regularizer_estimate=both"],
     ["method.regularizer_estimate='both'", "same_batch, unbiased"]),
    # dataset
    ("gantrain", ["dataset=nope"], ["dataset=nope is invalid", "allowed:", "gaussian", "mog"]),
    ("gantrain", ["mu=4"], ["mu=4", "did you mean dataset.mu (with dataset=gaussian)?"]),
    ("gantrain", ["dataset.std=nan"], ["dataset.std=nan", FINITE]),
    ("gantrain", ["dataset.std='inf'"], ["dataset.std=inf", FINITE]),   # a string the schema makes float
    ("gantrain", ["dataset=gaussian", "dataset.dim=abc"], ["dataset.dim", "abc"]),
    ("gantrain", ["dataset=cifar10", "dataset.resolution=64"], ["dataset.resolution=64", "resolution 32"]),
    # arch
    ("gantrain", ["arch=nosuch"], ["arch=nosuch is invalid", "allowed:", "mlp", "resnet_v1"]),
    ("gantrain", ["dataset=gaussian", "arch=mlp"], ["arch='mlp'", "allows arch: linear"]),
    ("gantrain", ["arch.z_std=inf"], ["arch.z_std=inf", FINITE]),
    ("gantrain", ["arch.nosuch=1"], ["arch=mlp has no key nosuch", "width"]),
    # loss
    ("gantrain", ["loss=nosuch"], ["loss=nosuch is invalid", "allowed:", "hinge", "wgan"]),
    # optim
    ("gantrain", ["optim=nosuch"], ["optim=nosuch is invalid", "allowed:", "rmsprop_tf", "sgd"]),
    ("gantrain", ["lr=1e-3"], ["lr=1e-3", "did you mean eta or optim.lr"]),
    ("gantrain", ["optim.lr=-1"], ["optim.lr", "-1", "must be > 0"]),
    ("gantrain", ["optim=sgd", "optim.momentum=1"], ["optim.momentum=1", "[0, 1)"]),
    ("gantrain", ["optim.eps=nan"], ["optim.eps=nan", FINITE]),
    ("gantrain", ["optim=adam", "optim.betas=[0.9,inf]"], ["optim.betas[1]=inf", FINITE]),
    # logger, launcher
    ("gantrain", ["logger=nosuch"], ["logger=nosuch is invalid", "allowed:", "none", "wandb"]),
    ("gantrain", ["logger.mode=loud"], ["logger.mode='loud'", "offline, online, disabled"]),
    ("gantrain", ["launcher=nosuch"], ["launcher=nosuch is invalid", "allowed:", "joblib", "slurm"]),
    ("gantrain", ["hydra/launcher=nope"], ["hydra/launcher=nope is invalid", "allowed:", "basic"]),
    # experiment
    ("gantrain", ["experiment=nope"], ["experiment=nope is invalid", "allowed:", "gaussian_mu2", "mog_r2"]),
    ("gantrain", ["experiment=gaussian_mu7"], ["experiment=gaussian_mu7 is invalid", "gaussian_mu6"]),
    # eval, engine, ema, divergence, distributed
    ("gantrain", ["eval.num_samples=0"], ["eval.num_samples=0", "must be >= 1"]),
    ("gantrain", ["eval.nosuch=1"], ["eval.nosuch=1", "no key nosuch", "num_samples"]),
    ("gantrain", ["eval.image_steps=[0,-5]"], ["eval.image_steps[1]=-5", "integer step >= 0"]),
    ("gantrain", ["dataset=fake_images", "arch=dcgan4_nobn", "eval.image_steps=[-5]"],
     ["eval.image_steps[0]=-5", "integer step >= 0"]),
    ("gantrain", ["eval.image_steps=[0,2.5]"], ["eval.image_steps[1]", "2.5", "Integer"]),
    ("gantrain", ["engine.amp=fp16"], ["engine.amp='fp16'", "none, bf16"]),
    ("gantrain", ["ema.decay=nan"], ["ema.decay=nan", FINITE]),
    ("gantrain", ["divergence.max_param_norm=inf"], ["divergence.max_param_norm=inf", FINITE]),
    ("gantrain", ["distributed.sync_batchnorm=maybe"], ["distributed.sync_batchnorm", "maybe"]),
    # analysis
    ("gantrain", ["analysis.mode=nosuch"], ["analysis.mode='nosuch'", "spectrum, phase"]),
    ("gantrain", ["analysis.gammas=[1,inf]"], ["analysis.gammas[1]=inf", FINITE]),
    ("gantrain", ["analysis.compare=[simgd,nosuch]"], ["analysis.compare='nosuch'", "jare"]),
    # top-level keys
    ("gantrain", ["foo=1"], ["foo=1", "foo is not a key", "top-level keys:", "gamma"]),
    ("gantrain", ["gama=10"], ["gama=10", "did you mean gamma?"]),
    ("gantrain", ["gamma=inf"], ["gamma=inf", FINITE]),
    ("gantrain", ["gamma=-inf"], ["gamma=-inf", FINITE]),
    ("gantrain", ["gamma=nan"], ["gamma=nan", FINITE]),
    ("gantrain", ["eta=1e400"], ["eta=inf", FINITE]),
    ("gantrain", ["steps=abc"], ["steps='abc'", "integer >= 1"]),
    ("gantrain", ["batch_size=0"], ["batch_size=0", "integer >= 1"]),
    ("gantrain", ["dtype=float16"], ["dtype='float16'", "float32, float64"]),
    ("gantrain", ["device=tpu"], ["device='tpu'", "cpu, cuda, auto"]),
    ("gantrain", ["seed=1.5"], ["seed=1.5", "integer"]),
    ("gantrain", ["resume=maybe"], ["resume='maybe'", "true or false"]),
    ("gantrain", ["gamma.x=1"], ["gamma.x=1", "gamma is a value, not a section"]),
    # what Hydra cannot parse or compose
    ("gantrain", ["gamma=[1"], ["gamma=[1 cannot be parsed"]),
    ("gantrain", ["method=simgd,jare"], ["method=simgd,jare is a sweep", "-m"]),
    ("gantrain", ["--config-dir", "no/such/dir"], ["--config-dir no/such/dir", "no such directory"]),
    # a bad value anywhere in a sweep refuses the whole sweep
    ("gantrain", ["-m", "method=simgd,nosuch", "gamma=1,2"], ["method=nosuch is invalid", "jare"]),
    ("gantrain", ["-m", "experiment=gaussian_mu2,nope"], ["experiment=nope is invalid"]),
    ("gantrain", ["-m", "dataset=gaussian,mog", "dataset.mu=3"],
     ["dataset.mu=3", "dataset=mog has no key mu", "a key of dataset=gaussian"]),
    # gantrain-analyze: the same groups, plus the phase diagram's section
    ("gantrain-analyze", ["method=nosuch"], ["method=nosuch is invalid", "allowed:", "jare"]),
    ("gantrain-analyze", ["gamma=nan"], ["gamma=nan", FINITE]),
    ("gantrain-analyze", ["phase.tol=inf"], ["phase.tol=inf", FINITE]),
    ("gantrain-analyze", ["lr_range.num=3"],
     ["lr_range.num=3", "did you mean phase.lr_range.num or phase.neural.lr_range.num?"]),
    ("gantrain-analyze", ["analysis.mode=phase", "dataset=dirac"],
     ["dataset='dirac' is invalid for analysis.mode=phase", "gaussian"]),
    ("gantrain-analyze", ["analysis.mode=phase", "dataset=mog", "phase.neural.ensemble_size=0"],
     ["phase.neural.ensemble_size=0", "integer >= 1"]),
    ("gantrain-analyze", ["analysis.mode=phase", "dataset=gaussian", "phase.lrs=[1e-3,-1]"],
     ["phase.lrs=", "numbers > 0"]),
]
IDS = [f"{prog.replace('gantrain', 'g')}:{' '.join(args)}" for prog, args, _ in CASES]
# Run as real subprocesses too, where the line must match the in-process one.
SUBPROCESS = [IDS.index(i) for i in ("g:gamma=inf", "g:-m dataset=gaussian,mog dataset.mu=3",
                                     "g-analyze:phase.tol=inf")]


def command(prog: str, args: list[str], tmp: Path) -> list[str]:
    """The command line of a case: a run (or sweep) directory of its own, quiet, tiny."""
    flags = [a for a in args if a == "-m"]   # Hydra's flags come before the overrides
    out = [f"hydra.sweep.dir={tmp / 'sweep'}" if flags else f"hydra.run.dir={tmp / 'run'}"]
    if prog == "gantrain":   # should a bad input get through, the run is short
        out += ["logger=none", "progress=false", "steps=2"]
    return [*flags, *out, *(a for a in args if a != "-m")]


@pytest.fixture
def in_process(monkeypatch, capfd, tmp_path):
    """Run ``prog args`` in this process, from an empty current directory; (exit code, stdout,
    stderr). Hydra's global state is cleared around each call."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)

    def run(prog: str, args: list[str]) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", [prog, *args])
        GlobalHydra.instance().clear()
        capfd.readouterr()
        try:
            ENTRIES[prog]()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            GlobalHydra.instance().clear()
        out, err = capfd.readouterr()
        return code, out, err
    return run


def assert_one_line_error(code: int, err: str, prog: str, fragments: list[str]) -> str:
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("prog,args,fragments", CASES, ids=IDS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(in_process, tmp_path, prog, args, fragments):
    code, out, err = in_process(prog, command(prog, args, tmp_path))
    assert_one_line_error(code, err, prog, fragments)
    assert "Traceback" not in out + err
    assert list(tmp_path.rglob("*")) == []   # no run or sweep directory, no log, no outputs/


@pytest.fixture(scope="module")
def subprocess_results(tmp_path_factory):
    """The SUBPROCESS cases as real console scripts, started together (each spends seconds
    importing)."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    procs = {}
    for i in SUBPROCESS:
        prog, args, _ = CASES[i]
        tmp = tmp_path_factory.mktemp("bad")
        procs[i] = tmp, subprocess.Popen([str(BIN / prog), *command(prog, args, tmp)], cwd=tmp,
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
    results = {}
    for i, (tmp, proc) in procs.items():
        out, err = proc.communicate(timeout=120)
        results[i] = tmp, proc.returncode, out, err
    return results


@pytest.mark.slow
@pytest.mark.parametrize("index", SUBPROCESS, ids=[IDS[i] for i in SUBPROCESS])
def test_console_script_prints_what_the_in_process_harness_prints(subprocess_results, in_process,
                                                                  tmp_path, index):
    prog, args, fragments = CASES[index]
    sub_tmp, code, out, err = subprocess_results[index]
    line = assert_one_line_error(code, err, prog, fragments)
    assert list(sub_tmp.rglob("*")) == []
    in_code, _, in_err = in_process(prog, command(prog, args, tmp_path))
    assert (in_code, in_err.strip()) == (code, line)


# --- what must keep working --------------------------------------------------------------------
@pytest.mark.slow
def test_help_and_hydra_help_still_work(in_process, tmp_path):
    code, out, err = in_process("gantrain", ["--help"])
    assert code == 0 and "method:" in out and "Use --cfg job" in out, err
    code, out, err = in_process("gantrain", ["--hydra-help"])
    assert code == 0 and "Hydra" in out, err
    assert list(tmp_path.rglob("*")) == []


def test_cfg_job_with_added_deleted_and_hydra_keys(in_process, tmp_path):
    code, out, err = in_process("gantrain", ["--cfg", "job", "+foo=1", "~distributed",
                                             "hydra.job.name=x", "method=jare", "gamma=-1"])
    assert code == 0, err
    cfg = yaml.safe_load(out)
    assert cfg["foo"] == 1 and "distributed" not in cfg and cfg["method"]["name"] == "jare"
    assert cfg["gamma"] == -1          # --cfg shows a config, it does not judge its values


def test_bad_override_with_cfg_job_is_one_line(in_process):
    code, _, err = in_process("gantrain", ["--cfg", "job", "mu=4"])
    assert_one_line_error(code, err, "gantrain", ["did you mean dataset.mu"])


@pytest.mark.slow
@pytest.mark.parametrize("prog,args", [
    ("gantrain", ["-m", "method=simgd,jare", "gamma=1,2", "+foo=1,2"]),
    ("gantrain", ["-m", "sweep=fig5"]),   # make fig5
    ("gantrain", ["-m", "sweep=fig7", "quick=mog"]),   # make fig7 QUICK=1
    ("gantrain-analyze", ["-m", "sweep=spectra", "quick=spectra"]),
], ids=["grid", "fig5", "fig7-quick", "spectra"])
def test_good_sweeps_pass_the_preflight(monkeypatch, tmp_path, prog, args):
    """The pre-check alone (no jobs run): a sweep that composes passes, including the Makefile's.
    Its sweep lock goes to a temporary sweep directory, not into the package."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.chdir(Path(cli.CONFIG_DIR).parent)
    check = {"gantrain": lambda cfg: None, "gantrain-analyze": analyze.check_config}[prog]
    cli.preflight(prog, "train" if prog == "gantrain" else "analyze", check,
                  [*args, f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert not (Path(cli.CONFIG_DIR).parent / "outputs").exists()


def test_hydra_full_error_keeps_hydras_trace(in_process, monkeypatch, tmp_path):
    from hydra.errors import MissingConfigException

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["gantrain", f"hydra.run.dir={tmp_path / 'run'}", "method=nosuch"])
    GlobalHydra.instance().clear()
    try:
        with pytest.raises(MissingConfigException, match="method/nosuch"):
            cli.main()
    finally:
        GlobalHydra.instance().clear()


def test_a_value_error_past_the_preflight_is_still_one_line(in_process, monkeypatch, tmp_path):
    """With HYDRA_FULL_ERROR=1 the pre-check steps aside; the run's own validation still refuses
    a non-finite value in one line and removes the run directory Hydra made."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    code, _, err = in_process("gantrain", command("gantrain", ["gamma=inf"], tmp_path))
    assert_one_line_error(code, err, "gantrain", ["gamma=inf", FINITE])
    assert not (tmp_path / "run").exists()
