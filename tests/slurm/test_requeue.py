"""Time limits, preemption and scancel on a real SLURM cluster: the run stops with a checkpoint,
SLURM requeues it (or not, for scancel), and the resumed run ends bit-identical to one never
stopped.

SLURM checks time limits every 30 s and sends a `--signal=SIG@N` warning at the first check at
most N + 30 s before the limit, so with a 1-minute limit and N = 5 the signal comes 25-55 s after
each start (gantrain's start alone can take 25 s on this loaded 2-core machine). The long run is
sized at the start of the module to go on for over a minute on the machine as loaded now, so it
is signalled at least once, and resumes in the next allocation. Requeued jobs are let
go at once (conftest) instead of after SLURM's two-minute hold.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.slurm import cluster as C
from tests.slurm.conftest import observe

pytestmark = C.needs_cluster

GAUSS = ("logger=none", "dataset=gaussian", "method=jare")
SHORT_STEPS = 6000
SHORT = ("logger=none", "dataset=gaussian", "method=conopt", f"steps={SHORT_STEPS}",
         "checkpoint_every=1000", "log_every=250")
SUBMITIT = ("launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.gpus_per_node=null")
# The first signal comes at most 55 s after the start: the run must still be going then.
OUTLAST_S = 62.0


def _long_steps(base) -> int:
    """Steps that keep the run going OUTLAST_S seconds from its start on this machine now (its
    load varies: a short run here measures the start-up and the time per step)."""
    t0 = time.monotonic()
    C.run_local(base / "calibrate", *GAUSS, "steps=1500", "log_every=1500", "checkpoint_every=1500")
    train_s = C.summary(base / "calibrate")["wall_time_s"]
    startup = time.monotonic() - t0 - train_s
    steps = max(20.0, OUTLAST_S - startup) / (train_s / 1500)
    return int(min(max(steps, 4000), 80000) // 500 * 500)


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    """Started together: the documented sbatch script and a submitit job, both with a 1-minute
    limit, and the same run outside SLURM (the reference)."""
    base = tmp_path_factory.mktemp("timelimit")
    steps = _long_steps(base)
    run = (*GAUSS, f"steps={steps}", "checkpoint_every=1000", "log_every=1000")
    plain = C.sbatch(["--time=1", "--signal=USR1@5", f"--output={base}/plain.out",
                      str(C.SBATCH_SCRIPT), *run], cwd=base, GANTRAIN_RUN_DIR=str(base / "plain"))
    sub = subprocess.Popen(
        [str(C.BIN / "gantrain"), "-m", *SUBMITIT, "hydra.launcher.timeout_min=1",
         "hydra.launcher.signal_delay_s=5", "hydra.launcher.max_num_timeout=30", "progress=false",
         f"hydra.sweep.dir={base / 'submitit'}", *run],
        cwd=base, env=C.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ref = subprocess.Popen(
        [str(C.BIN / "gantrain"), "progress=false", f"hydra.run.dir={base / 'ref'}", *run],
        cwd=base, env=C.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield base, plain, sub, ref, steps
    for p in (sub, ref):
        if p.poll() is None:
            p.kill()


def _reference(ref: subprocess.Popen, base):
    out, _ = ref.communicate(timeout=900)
    assert ref.returncode == 0, out[-3000:]
    return base / "ref"


def _check_requeued_run(run_dir, ref_dir, text, info, what, steps):
    log = C.log_text(run_dir / "gantrain.log")   # every allocation's lines, once
    stopped, resumed = C.stopped_steps(log), C.resumed_steps(log)
    s = C.summary(run_dir)
    assert s["status"] == "completed" and s["steps_done"] == steps, s
    assert int(info["Restarts"]) >= 1, f"{what}: never requeued ({info}); run too short?"
    assert stopped and resumed == stopped, (stopped, resumed)   # each stop resumed where it was
    n = C.assert_bit_identical(run_dir, ref_dir)
    observe(f"{what}: requeued {info['Restarts']}x (scontrol Restarts), stopped after steps "
            f"{stopped}, resumed from {resumed}, completed {steps} steps; final checkpoint "
            f"bit-identical to the uninterrupted run ({n} tensors)")


def test_time_limit_requeue_sbatch_script(long_runs):
    base, plain, _, ref, steps = long_runs
    info = C.wait_job(plain, timeout=900)
    text = C.log_text(base / "plain.out", base / "plain" / "gantrain.log")
    assert info["JobState"] == "COMPLETED", (info, text[-3000:])
    assert f"requeued SLURM job {plain}" in text and "SIGUSR1: stopped after step" in text
    _check_requeued_run(base / "plain", _reference(ref, base), text, info,
                        "sbatch --time=1 --signal=USR1@5 (scripts/gantrain.sbatch)", steps)


def test_time_limit_requeue_submitit(long_runs):
    base, _, sub, ref, steps = long_runs
    out, _ = sub.communicate(timeout=900)
    assert sub.returncode == 0, out[-3000:]
    jobs = [p.name for p in (base / "submitit" / ".submitit").iterdir() if p.name.isdigit()]
    assert len(jobs) == 1, jobs
    info = C.wait_job(jobs[0], timeout=120)   # past COMPLETING: submitit returns on its result file
    folder = base / "submitit" / ".submitit" / jobs[0]
    text = C.log_text(base / "submitit" / "0" / "gantrain.log",
                      *sorted(folder.glob("*_log.*")))
    assert info["JobState"] == "COMPLETED", (info, text[-3000:])
    assert "SIGUSR2: stopped after step" in text and f"Requeued job {jobs[0]}" in text
    _check_requeued_run(base / "submitit" / "0", _reference(ref, base), text, info,
                        "submitit timeout_min=1 signal_delay_s=5", steps)


def _started(run_dir, step):
    """True once the run logged ``step`` (metrics.jsonl)."""
    f = run_dir / "metrics.jsonl"
    return f.exists() and f.read_text().count('"step"') > step // 250


def test_scancel_checkpoints_and_is_not_requeued(tmp_path):
    run_dir = tmp_path / "run"
    jid = C.sbatch([f"--output={tmp_path}/job.out", str(C.SBATCH_SCRIPT), *SHORT], cwd=tmp_path,
                   GANTRAIN_RUN_DIR=str(run_dir))
    C.wait_for(lambda: _started(run_dir, 500), "step 500 of the run", timeout=300)
    subprocess.run(["scancel", jid], check=True, timeout=30)
    info = C.wait_job(jid, timeout=120)
    time.sleep(1)   # the step's last output lines
    text = C.log_text(tmp_path / "job.out")
    s = C.summary(run_dir)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", info
    assert s["status"] == "preempted" and s["preempted_by"] == "SIGTERM", s
    assert 500 <= s["steps_done"] < SHORT_STEPS
    assert C.checkpoint(run_dir)["step"] == s["steps_done"]
    assert "requeued SLURM job" not in text
    observe(f"scancel: job CANCELLED, Restarts=0, summary preempted by SIGTERM at step "
            f"{s['steps_done']}, checkpoint at that step")


def test_preemption_requeues_and_resumes_bit_identically(tmp_path):
    """A job in the preemptible partition `low` holding both CPUs is preempted by a job in `high`
    (PreemptMode=REQUEUE): SIGTERM, checkpoint, SLURM requeues it, it resumes after the high job."""
    run_dir = tmp_path / "run"
    jid = C.sbatch(["--partition=low", "--cpus-per-task=2", f"--output={tmp_path}/job.out",
                    str(C.SBATCH_SCRIPT), *SHORT], cwd=tmp_path, GANTRAIN_RUN_DIR=str(run_dir))
    C.wait_for(lambda: _started(run_dir, 500), "step 500 of the low-priority run", timeout=300)
    high = C.sbatch(["--partition=high", "--cpus-per-task=1", f"--output={tmp_path}/high.out",
                     "--wrap=sleep 1"], cwd=tmp_path)
    ref = tmp_path / "ref"
    C.run_local(ref, *SHORT)   # meanwhile (it waits for the CPUs the high job frees)
    high_info = C.wait_job(high, timeout=300)
    info = C.wait_job(jid, timeout=300)
    text = C.log_text(tmp_path / "job.out", run_dir / "gantrain.log")
    assert high_info["JobState"] == "COMPLETED"
    assert info["JobState"] == "COMPLETED" and int(info["Restarts"]) >= 1, (info, text[-3000:])
    assert "SIGTERM: stopped after step" in text
    log = C.log_text(run_dir / "gantrain.log")
    stopped, resumed = C.stopped_steps(log), C.resumed_steps(log)
    assert stopped and resumed == stopped, (stopped, resumed)
    n = C.assert_bit_identical(run_dir, ref)
    observe(f"preemption (low PreemptMode=REQUEUE by high): requeued {info['Restarts']}x, "
            f"stopped after steps {stopped} (SIGTERM), resumed from {resumed}, completed; "
            f"bit-identical ({n} tensors)")
