"""One run as two SLURM tasks (gloo on CPU): the ranks find each other from SLURM's variables
alone (SLURM_PROCID, SLURM_NTASKS, the node list; no MASTER_ADDR, no torchrun) and the result
equals one process on the global batch, in float64 to 1e-10."""
from __future__ import annotations

import subprocess

import pytest

from tests.slurm import cluster as C
from tests.slurm.conftest import observe

pytestmark = C.needs_cluster

TINY = ("logger=none", "dtype=float64", "dataset=mog", "arch.depth=2", "arch.width=8",
        "arch.z_dim=3", "batch_size=8", "eval.num_samples=16", "eval.image_steps=[]", "gamma=0.5",
        "eta=1e-2", "steps=12", "checkpoint_every=4", "log_every=4")


def _one_process(tmp_path, method):
    ref = tmp_path / "one"
    C.run_local(ref, *TINY, f"method={method}")
    return ref


@pytest.mark.parametrize("method", ["jare", "conopt"])
def test_srun_two_tasks_equal_one_process(tmp_path, method):
    run_dir = tmp_path / "two"
    res = subprocess.run(
        ["srun", "--ntasks=2", "--cpus-per-task=1", "--kill-on-bad-exit=1", str(C.BIN / "gantrain"),
         "progress=false", f"hydra.run.dir={run_dir}", *TINY, f"method={method}"],
        cwd=tmp_path, env=C.env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    ref = _one_process(tmp_path, method)
    diff = C.max_abs_diff(run_dir, ref)
    assert C.summary(run_dir)["status"] == "completed" and diff < 1e-10
    # Two tasks that did not join one group would each be a one-process run in the same run
    # directory: the second is refused (its lock) and srun fails.
    observe(f"srun --ntasks=2 method={method}: max |two tasks - one process| = {diff:.3g} (float64)")


def test_sbatch_two_tasks_through_the_script_equal_one_process(tmp_path):
    run_dir = tmp_path / "two"
    jid = C.sbatch(["--nodes=1", "--ntasks=2", "--cpus-per-task=1", f"--output={tmp_path}/job.out",
                    str(C.SBATCH_SCRIPT), *TINY, "method=jare"], cwd=tmp_path,
                   GANTRAIN_RUN_DIR=str(run_dir))
    ref = _one_process(tmp_path, "jare")
    info = C.wait_job(jid, timeout=600)
    assert info["JobState"] == "COMPLETED", (info, C.log_text(tmp_path / "job.out")[-3000:])
    assert info["NumTasks"] == "2"
    diff = C.max_abs_diff(run_dir, ref)
    assert diff < 1e-10
    observe(f"sbatch --nodes=1 --ntasks=2 scripts/gantrain.sbatch method=jare: max difference "
            f"from one process {diff:.3g}")
