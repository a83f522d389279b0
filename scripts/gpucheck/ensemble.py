"""Ensemble throughput on the device: members per second of N MoG runs stepped together
(``gantrain.ensemble``) against one run's own step, for SimGD, ConOpt and JARE, up to N = 256 on a
GPU; and how far member 0 is from its single run after a few steps on the same device."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench_ensemble import ensemble_stepper, members, single_stepper

from gantrain.ensemble import Ensemble
from gantrain.train import Trainer
from gpucheck.common import Sizes, peak_memory_mib, rel_err, reset_peak_memory, sync

METHODS = ("simgd", "conopt", "jare")
GOAL_N, GOAL_RATIO = 16, 3.0   # the aim: 16 JARE members ≥ 3× the runs one by one


def _timed_rate(step, n: int, sizes: Sizes, device: str) -> float:
    for _ in range(sizes.bench_warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(sizes.ens_steps):
        step()
    sync(device)
    return n * sizes.ens_steps / (time.perf_counter() - t)


def _extra(sizes: Sizes, device: str) -> list[str]:
    return ["logger=none", "progress=false", f"device={device}", *sizes.ens_overrides]


def measure_method(method: str, sizes: Sizes, device: str, tmp: Path) -> dict:
    """members/s of single runs and of each ensemble size, and the peak memory of each size."""
    extra, tmp = _extra(sizes, device), tmp / method
    single = _timed_rate(single_stepper(method, extra, tmp), 1, sizes, device)
    rows = []
    for n in sizes.ens_sizes:
        step = ensemble_stepper(method, n, extra, tmp)
        reset_peak_memory(device)
        rate = _timed_rate(step, n, sizes, device)
        rows.append({"n": n, "members_per_s": rate, "ratio": rate / single,
                     "peak_mib": peak_memory_mib(device)})
    return {"rule": method, "single_members_per_s": single, "sizes": rows}


def member_vs_single(sizes: Sizes, device: str, tmp: Path, steps: int = 5) -> float:
    """Relative distance of member 0 of a 2-member JARE ensemble from its own single run after
    ``steps`` steps on ``device``, in the runs' dtype (tests/ensemble bound it on the CPU)."""
    extra = _extra(sizes, device)
    ens = Ensemble(members("jare", 2, extra), [tmp / "exact-0", tmp / "exact-1"])
    ens._stack(ens.members)
    for _ in range(steps):
        ens.step(ens.members, [True, True])
    ens._write_back(0, ens.members[0], with_optimizers=False)
    one = Trainer(members("jare", 1, extra)[0], tmp / "exact-single")
    for _ in range(steps):
        one.rule.train_step(one.game, one.opt_d, one.opt_g, one.cfg.batch_size, one.data_rng)
    mine = ens.members[0].game
    return rel_err([*mine.d_params(), *mine.g_params()], [*one.game.d_params(), *one.game.g_params()])


def measure_ensemble(sizes: Sizes, device: str) -> dict:
    """Every rule of METHODS at every ensemble size of ``sizes``, and the member-vs-single check."""
    with tempfile.TemporaryDirectory() as tmp:
        rules = [measure_method(m, sizes, device, Path(tmp)) for m in METHODS]
        exact = member_vs_single(sizes, device, Path(tmp))
    return {"overrides": list(sizes.ens_overrides), "steps": sizes.ens_steps, "rules": rules,
            "member0_rel_err_after_5_steps": exact}


def goal(m: dict | None) -> tuple[bool | None, str]:
    """(met, detail) of the aim for 16 JARE members; None when not measured at that size."""
    if not m:
        return None, "not measured"
    jare = next(r for r in m["rules"] if r["rule"] == "jare")
    row = next((s for s in jare["sizes"] if s["n"] == GOAL_N), None)
    if row is None:
        return None, f"N={GOAL_N} not measured"
    big = jare["sizes"][-1]
    return row["ratio"] >= GOAL_RATIO, (f"N={GOAL_N}: {row['ratio']:.2f}×; N={big['n']}: "
                                        f"{big['ratio']:.2f}×")
