"""Data-parallel training (gantrain.distributed) equals one process on the global batch.

Two processes are started with torch.multiprocessing on the gloo backend over loopback; each runs
every case in turn (one process group for all), and the test compares their parameters with
single-process runs made here. float64, so the tolerance is tight.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from gantrain.rules import RULES
from gantrain.train import train
from tests.helpers import make_cfg

WORLD = 2
TIMEOUT_S = 150
COMMON = ["dtype=float64", "checkpoint_every=1", "log_every=1", "eval.image_steps=[]", "gamma=0.5"]
MLP = [*COMMON, "dataset=mog", "arch.depth=2", "arch.width=8", "arch.z_dim=3", "batch_size=8",
       "eval.num_samples=16", "eta=1e-2"]
CONV = [*COMMON, "dataset=fake_images", "dataset.size=32", "dataset.resolution=8", "arch=dcgan3",
        "arch.batch_norm=true", "arch.filters=4", "arch.z_dim=8", "batch_size=4", "eta=1e-3"]
RULE_NAMES = sorted(RULES)

CASES: dict[str, list[str]] = {}
for m in RULE_NAMES:
    CASES[f"mlp-{m}"] = [*MLP, f"method={m}", "steps=3"]
for m in ("conopt", "jare_d"):
    CASES[f"mlp-{m}-unbiased"] = [*MLP, f"method={m}", "method.regularizer_estimate=unbiased",
                                  "steps=3"]
CASES["mlp-altgd-gfirst"] = [*MLP, "method=altgd", "method.d_first=false", "method.d_steps=2",
                             "steps=2"]
for m in ("simgd", "altgd", "conopt", "jare"):
    CASES[f"conv-{m}"] = [*CONV, f"method={m}", "steps=2"]
for m in ("conopt", "jare"):
    CASES[f"conv-{m}-syncbn"] = [*CONV, f"method={m}", "steps=2", "distributed.sync_batchnorm=true"]
RESUME = [*MLP, "method=conopt"]
# Sharded evaluation: 8 samples in Inception batches of 4, dealt to the 2 processes and gathered.
# Synced batch norm, so that the step-1 generator is the single process's too.
EVAL = [*CONV, "method=simgd", "steps=1", "distributed.sync_batchnorm=true", "eval.every=1",
        "eval.num_samples=8", "eval.splits=2",
        "eval.batch_size=4", "eval.force_fid=true", "eval.reference_num_images=8"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _params(summary_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(summary_dir / "checkpoints" / "last.pt", weights_only=True)["modules"]
    return {f"{k}.{n}": t for k in ("generator", "discriminator") for n, t in state[k].items()}


def _worker(rank: int, port: int, root: str, plan: list[tuple[str, list[str], bool]]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), WANDB_MODE="disabled")
    torch.set_num_threads(1)
    root = Path(root)
    for name, overrides, own_dir in plan:
        run_dir = root / name
        if own_dir and rank != 0:   # rank 0 alone writes: this one's directory must stay absent
            run_dir = root / f"{name}-rank{rank}"
        summary = train(make_cfg(*overrides), run_dir)
        assert summary["status"] == "completed", summary
    import torch.distributed as dist

    from gantrain.distributed import world
    assert world().world == WORLD
    dist.destroy_process_group()


def _spawn(root: Path, plan) -> None:
    ctx = mp.start_processes(_worker, args=(_free_port(), str(root), plan), nprocs=WORLD,
                             join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"distributed workers did not finish in {TIMEOUT_S} s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
                p.join(5)


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory, fake_torch_home):
    root = tmp_path_factory.mktemp("ddp")
    plan = [(name, over, True) for name, over in CASES.items()]
    plan += [("resume", [*RESUME, "steps=2"], False), ("resume", [*RESUME, "steps=4"], False),
             ("straight", [*RESUME, "steps=4"], False), ("eval", EVAL, False)]
    saved = {k: os.environ.get(k) for k in ("TORCH_HOME", "GANTRAIN_CACHE")}
    # the spawned workers inherit these: random Inception weights, a private statistics cache
    os.environ.update(TORCH_HOME=str(fake_torch_home), GANTRAIN_CACHE=str(root / "cache"))
    try:
        _spawn(root, plan)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root


def _single(tmp_path: Path, overrides: list[str], ghost: int = 1) -> dict[str, torch.Tensor]:
    """One process on the global batch; with ``ghost`` > 1 the losses are the mean over that many
    equal slices, each forwarded alone (per-process batch norm = ghost batches)."""
    cfg = make_cfg(*overrides)
    if ghost > 1:
        from gantrain.games.images import ImageGame

        plain = ImageGame.losses

        def ghost_losses(self, x, z, mean=torch.mean):
            parts = [plain(self, xc, zc, mean) for xc, zc in zip(x.chunk(ghost), z.chunk(ghost))]
            return (sum(p[0] for p in parts) / ghost, sum(p[1] for p in parts) / ghost)
        ImageGame.losses = ghost_losses
        try:
            summary = train(cfg, tmp_path)
        finally:
            ImageGame.losses = plain
    else:
        summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    return _params(tmp_path)


def _assert_close(got, expected, atol=1e-10):
    assert got.keys() == expected.keys()
    for k in got:
        torch.testing.assert_close(got[k], expected[k], atol=atol, rtol=1e-8, msg=k)


@pytest.mark.long
@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_equal_one_on_the_global_batch(ddp_runs, tmp_path, name):
    overrides = CASES[name]
    ghost = WORLD if name.startswith("conv") and "syncbn" not in name else 1
    expected = _single(tmp_path / "single", overrides, ghost)
    got = _params(ddp_runs / name)
    # rank 0's checkpoint; batch-norm running statistics are averaged over the processes, so
    # only the parameters are compared for ghost batches
    if ghost > 1:
        got = {k: v for k, v in got.items() if "running" not in k}
        expected = {k: v for k, v in expected.items() if "running" not in k}
    _assert_close({k: v for k, v in got.items() if "num_batches" not in k},
                  {k: v for k, v in expected.items() if "num_batches" not in k})
    assert not (ddp_runs / f"{name}-rank1").exists(), "a rank other than 0 wrote files"
    assert (ddp_runs / name / "summary.json").exists()
    assert (ddp_runs / name / "metrics.jsonl").exists()


@pytest.mark.long
def test_regularized_rules_differ_from_mean_of_per_process_regularizers(ddp_runs, tmp_path):
    """Sanity: the global regularizer is not what averaging each process's own would give."""
    simgd = _params(ddp_runs / "mlp-simgd")
    conopt = _params(ddp_runs / "mlp-conopt")
    assert any((simgd[k] - conopt[k]).abs().max() > 1e-6 for k in simgd)


@pytest.mark.long
def test_resumed_two_process_run_equals_uninterrupted_and_one_process(ddp_runs, tmp_path):
    resumed, straight = _params(ddp_runs / "resume"), _params(ddp_runs / "straight")
    for k in resumed:
        assert torch.equal(resumed[k], straight[k]), k
    _assert_close(resumed, _single(tmp_path / "single", [*RESUME, "steps=4"]))
    import json
    lines = (ddp_runs / "resume" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2, 3, 4]


def test_world_size_must_divide_the_global_batch(tmp_path):
    from gantrain.errors import ConfigError
    from gantrain.train import check_distributed

    with pytest.raises(ConfigError, match="batch_size=6 is invalid with 4 processes"):
        check_distributed(make_cfg(*MLP, "batch_size=6"), 4)
    with pytest.raises(ConfigError, match="half-batch"):
        check_distributed(make_cfg(*MLP, "batch_size=4", "method=jare",
                                    "method.regularizer_estimate=unbiased"), 4)
    assert check_distributed(make_cfg(*MLP, "batch_size=8"), 4) is False


def test_shard_rows_are_contiguous_slices_of_each_part():
    from gantrain.distributed import Shard

    x = torch.arange(8)
    assert Shard(1, 2).take(x).tolist() == [4, 5, 6, 7]
    assert Shard(1, 2).take(x, parts=2).tolist() == [2, 3, 6, 7]
    assert Shard(0, 1).take(x) is x


@pytest.mark.long
def test_evaluation_is_sharded_and_gathered(ddp_runs, tmp_path, torch_home, monkeypatch):
    """IS and FID of a 2-process run (each process generates and featurizes half of the samples,
    rank 0 gathers them) equal one process computing all of them."""
    import json

    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    summary = train(make_cfg(*EVAL), tmp_path / "single")
    assert summary["status"] == "completed"

    def scores(run_dir):
        recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["inception_score"], r["fid"]) for r in recs if "fid" in r]

    two, one = scores(ddp_runs / "eval"), scores(tmp_path / "single")
    assert [s for s, _, _ in two] == [s for s, _, _ in one] == [0, 1]
    for (_, is2, fid2), (_, is1, fid1) in zip(two, one):
        assert is2 is not None and fid2 is not None
        assert is2 == pytest.approx(is1, rel=1e-5) and fid2 == pytest.approx(fid1, rel=1e-5)
