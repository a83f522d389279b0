"""The training loop end to end, in-process: run directory, determinism, resume, divergence,
reruns and the wandb wiring (gantrain.train.train)."""
from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
import wandb
from omegaconf import OmegaConf

import gantrain.train as train_mod
from gantrain.errors import ConfigError
from gantrain.train import train
from tests.helpers import make_cfg
from tests.report.test_report import assert_png

GAUSS = ("dataset=gaussian",)
# A MoG game small enough for tests (the default 4x256 MLP costs 5-15 ms a step).
MOG = ("dataset=mog", "arch.width=16", "arch.depth=2", "eval.num_samples=256",
       "eval.image_steps=[]")
STEP_KEYS = {"step", "loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "reg_grad_d", "reg_grad_g",
             "param_norm"}
GAUSS_KEYS = {"dist_generator", "dist_discriminator", "dist_equilibrium"}
MOG_KEYS = {"modes_covered", "high_quality_fraction", "mode_kl"}
SUMMARY_KEYS = {"status", "steps_done", "diverged_at", "wall_time_s", "metrics"}


# --- helpers ---------------------------------------------------------------------------------
def run(run_dir, *overrides):
    return train(make_cfg(*overrides), run_dir)


def records(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line, parse_constant=_no_constants) for line in lines]


def _no_constants(name):
    raise AssertionError(f"non-strict JSON constant {name} written")


def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text(), parse_constant=_no_constants)


def checkpoint(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def assert_same_state(a, b, where="checkpoint", skip=("wall_time_s",)):
    """Every tensor bit-identical (torch.equal, same dtype), every other value equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert set(a) == set(b), f"{where}: keys differ {set(a) ^ set(b)}"
        for k in a:
            if k not in skip:
                assert_same_state(a[k], b[k], f"{where}.{k}", skip)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]", skip)
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and torch.equal(a, b), f"{where}: tensors differ"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def module_tensors(ckpt) -> list[torch.Tensor]:
    return [t for m in ("generator", "discriminator") for t in ckpt["modules"][m].values()]


def snapshot(run_dir) -> dict:
    """Every file under run_dir with its bytes and modification time."""
    return {p.relative_to(run_dir).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


class StepCounter:
    """Wraps the rule that Trainer builds: counts train_step calls, optionally fails at one."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        self.calls = 0
        self.fail_at = fail_at
        real_build = train_mod.build_rule

        def build(*args, **kwargs):
            rule = real_build(*args, **kwargs)
            inner = rule.train_step

            def train_step(*a, **k):
                self.calls += 1
                if self.calls == self.fail_at:
                    raise RuntimeError(f"injected failure at step {self.calls}")
                return inner(*a, **k)

            rule.train_step = train_step
            return rule

        monkeypatch.setattr(train_mod, "build_rule", build)


def hand_mode_metrics(generator_state: dict, *overrides: str) -> dict:
    """modes_covered, high_quality_fraction and mode_kl written out with numpy for the default
    ring (8 modes, radius 2, std 0.06; 3 std, 1% share) on the eval latents (seed 1234)."""
    import numpy as np

    from gantrain.models.mlp import mlp

    cfg = make_cfg(*MOG, *overrides)
    a = cfg.arch
    g = mlp(int(a.z_dim), 2, int(a.depth), int(a.width))
    g.load_state_dict(generator_state)
    z = float(a.z_std) * torch.randn((int(cfg.eval.num_samples), int(a.z_dim)),
                                     generator=torch.Generator().manual_seed(1234))
    with torch.no_grad():
        x = g(z).double().numpy()
    angles = 2 * np.pi * np.arange(8) / 8
    centers = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    dist = np.linalg.norm(x[:, None, :] - centers[None], axis=2)
    good = dist.min(axis=1) <= 3 * 0.06
    counts = np.bincount(dist.argmin(axis=1)[good], minlength=8)
    p = counts[counts > 0] / max(counts.sum(), 1)
    kl = float(np.sum(p * np.log(8 * p))) if counts.sum() else float(np.log(8))
    return {"modes_covered": int((counts >= 0.01 * len(x)).sum()),
            "high_quality_fraction": float(good.mean()), "mode_kl": kl}


# --- run directory ---------------------------------------------------------------------------
def test_gaussian_run_directory(tmp_path):
    d = tmp_path / "run"
    cfg = make_cfg(*GAUSS, "steps=25", "log_every=10", "checkpoint_every=10")
    out = train(cfg, d)

    assert (d / "config.yaml").is_file()
    assert OmegaConf.to_container(OmegaConf.load(d / "config.yaml")) == \
        OmegaConf.to_container(cfg, resolve=True)

    recs = records(d)
    assert [r["step"] for r in recs] == [0, 10, 20, 25]   # step 0, every log_every, the last
    assert {"step", "param_norm"} | GAUSS_KEYS <= set(recs[0])
    for r in recs[1:]:
        assert STEP_KEYS | GAUSS_KEYS <= set(r), r
        assert all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) for k in r)
    assert not MOG_KEYS & set(recs[-1])

    ckpt = checkpoint(d)
    assert ckpt["step"] == 25
    assert {"generator", "discriminator", "opt_g", "opt_d"} <= set(ckpt["modules"])

    s = summary(d)
    assert s == out
    assert SUMMARY_KEYS <= set(s)
    assert s["status"] == "completed" and s["steps_done"] == 25 and s["diverged_at"] is None
    assert isinstance(s["wall_time_s"], (int, float)) and s["wall_time_s"] >= 0
    assert s["metrics"] == {k: v for k, v in recs[-1].items() if k != "step"}
    assert not list(d.glob("images/*"))  # the Gaussian game draws no images


def test_mog_run_directory(tmp_path):
    d = tmp_path / "run"
    out = run(d, *MOG, "steps=20", "log_every=5", "checkpoint_every=10", "eval.image_steps=[0,10]")
    recs = records(d)
    assert [r["step"] for r in recs] == [0, 5, 10, 15, 20]
    assert {"step", "param_norm"} | MOG_KEYS <= set(recs[0])
    for r in recs[1:]:
        assert STEP_KEYS | MOG_KEYS <= set(r), r
    assert not GAUSS_KEYS & set(recs[-1])
    # the image steps and the last step
    images = sorted(p.name for p in (d / "images").iterdir())
    assert images == ["samples_step_000000.png", "samples_step_000010.png",
                      "samples_step_000020.png"]
    for name in images:
        assert_png(d / "images" / name, min_side=200)
    assert checkpoint(d)["step"] == 20
    # the final mode metrics, recomputed from the checkpointed generator by hand
    expected = hand_mode_metrics(checkpoint(d)["modules"]["generator"], "eval.num_samples=256")
    assert recs[-1]["modes_covered"] == expected["modes_covered"]
    for key in ("high_quality_fraction", "mode_kl"):
        assert recs[-1][key] == pytest.approx(expected[key], abs=1e-9), key
    assert out["status"] == "completed" and out["steps_done"] == 20
    assert out["metrics"]["modes_covered"] == recs[-1]["modes_covered"]


# --- determinism -----------------------------------------------------------------------------
def test_same_seed_same_run_other_seed_other_run(tmp_path):
    common = (*GAUSS, "steps=100", "log_every=10")
    run(tmp_path / "a", *common, "seed=3")
    run(tmp_path / "b", *common, "seed=3")
    run(tmp_path / "c", *common, "seed=4")
    a, b, c = ((tmp_path / n / "metrics.jsonl").read_bytes() for n in "abc")
    assert a == b
    assert_same_state(checkpoint(tmp_path / "a"), checkpoint(tmp_path / "b"))
    assert a != c
    assert records(tmp_path / "a")[-1]["loss_d"] != records(tmp_path / "c")[-1]["loss_d"]


def test_mog_seed_changes_initialization(tmp_path):
    common = (*MOG, "steps=3", "log_every=1")
    run(tmp_path / "a", *common, "seed=0")
    run(tmp_path / "b", *common, "seed=0")
    run(tmp_path / "c", *common, "seed=1")
    assert (tmp_path / "a" / "metrics.jsonl").read_bytes() == \
        (tmp_path / "b" / "metrics.jsonl").read_bytes()
    assert records(tmp_path / "a")[0]["param_norm"] != records(tmp_path / "c")[0]["param_norm"]


# --- resume ----------------------------------------------------------------------------------
RESUME_CASES = {
    "gaussian-simgd": (*GAUSS, "method=simgd"),
    "gaussian-jare": (*GAUSS, "method=jare"),
    "gaussian-altgd-adam": (*GAUSS, "method=altgd", "optim=adam", "eta=1e-2"),
    "mog-jare-rmsprop_tf": (*MOG, "method=jare", "optim=rmsprop_tf"),
}
CADENCE = ("log_every=5", "checkpoint_every=20")


class _References(dict):
    """Uninterrupted 60-step runs, one per resume case, made when first asked for."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, case):
        run(self.root / case, *RESUME_CASES[case], *CADENCE, "steps=60")
        self[case] = self.root / case
        return self[case]


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    return _References(tmp_path_factory.mktemp("reference"))


@pytest.mark.slow
@pytest.mark.parametrize("case", RESUME_CASES)
def test_extending_a_finished_run_equals_an_uninterrupted_run(case, tmp_path, reference_runs,
                                                              monkeypatch):
    ov = (*RESUME_CASES[case], *CADENCE)
    d = tmp_path / "run"
    first = run(d, *ov, "steps=40")
    assert first["status"] == "completed" and checkpoint(d)["step"] == 40

    counter = StepCounter(monkeypatch)
    out = run(d, *ov, "steps=60")
    assert counter.calls == 20                       # resumed at 40, did not start over
    assert out["status"] == "completed" and out["steps_done"] == 60

    ref = reference_runs[case]
    assert records(d) == records(ref)
    assert_same_state(checkpoint(d), checkpoint(ref))
    assert summary(d)["metrics"] == summary(ref)["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("case", RESUME_CASES)
def test_interrupted_run_resumes_exactly(case, tmp_path, reference_runs, monkeypatch):
    ov = (*RESUME_CASES[case], *CADENCE, "steps=60")
    d = tmp_path / "run"
    with monkeypatch.context() as m:
        StepCounter(m, fail_at=50)
        with pytest.raises(RuntimeError, match="injected failure at step 50"):
            run(d, *ov)
    s = summary(d)
    assert s["status"] == "failed"
    assert "RuntimeError" in s["error"] and "injected failure at step 50" in s["error"]
    assert s["steps_done"] == 49                    # step 50 never finished
    assert "\n" not in s["error"]
    assert checkpoint(d)["step"] == 40
    assert records(d)[-1]["step"] == 45             # logged past the checkpoint

    counter = StepCounter(monkeypatch)
    out = run(d, *ov)
    assert counter.calls == 20                       # steps 41..60 only
    assert out["status"] == "completed" and out["steps_done"] == 60 and "error" not in out

    ref = reference_runs[case]
    steps = [r["step"] for r in records(d)]
    assert steps == sorted(set(steps)) == list(range(0, 61, 5))   # no duplicated or stale steps
    assert records(d) == records(ref)
    assert_same_state(checkpoint(d), checkpoint(ref))


def test_resume_after_a_crash_in_the_middle_of_a_metrics_line(tmp_path, reference_runs,
                                                             monkeypatch):
    """A hard kill can leave half a JSON line at the end of metrics.jsonl; resuming drops it."""
    ov = (*RESUME_CASES["gaussian-simgd"], *CADENCE, "steps=60")
    d = tmp_path / "run"
    with monkeypatch.context() as m:
        StepCounter(m, fail_at=50)
        with pytest.raises(RuntimeError):
            run(d, *ov)
    with (d / "metrics.jsonl").open("a") as f:
        f.write('{"step": 50, "loss_d": 1.3')
    run(d, *ov)
    assert records(d) == records(reference_runs["gaussian-simgd"])


def test_resume_false_starts_over(tmp_path, monkeypatch):
    ov = (*GAUSS, *CADENCE, "steps=60")
    d = tmp_path / "run"
    with monkeypatch.context() as m:
        StepCounter(m, fail_at=50)
        with pytest.raises(RuntimeError):
            run(d, *ov)
    counter = StepCounter(monkeypatch)
    run(d, *ov, "resume=false")
    assert counter.calls == 60
    assert [r["step"] for r in records(d)] == list(range(0, 61, 5))


# --- divergence ------------------------------------------------------------------------------
# SimGD on the WGAN loss of the linear Gaussian game has no damping: with eta=1 the parameters grow
# geometrically, past 1e6 within ~50 steps and to Inf losses within ~150 (float32).
BLOWUP = (*GAUSS, "loss=wgan", "eta=1")


def test_parameter_norm_divergence(tmp_path):
    d = tmp_path / "run"
    out = run(d, *BLOWUP, "steps=500", "log_every=5", "checkpoint_every=10")   # returns normally
    assert out["status"] == "diverged"
    at = out["diverged_at"]
    assert isinstance(at, int) and 0 < at < 500 and out["steps_done"] == at
    assert "param" in out["diverged_reason"] and "max_param_norm" in out["diverged_reason"]
    assert summary(d) == out

    recs = records(d)
    assert recs[-1]["step"] == at                    # the diverged step is always logged
    assert recs[-1]["param_norm"] > 1e6
    assert all(r["param_norm"] <= 1e6 for r in recs[:-1])
    assert out["metrics"]["param_norm"] == recs[-1]["param_norm"]

    # The checkpoint is the last good one, not the diverged parameters.
    ckpt = checkpoint(d)
    good = at - 1 - (at - 1) % 10
    assert ckpt["step"] == good
    norm = torch.sqrt(sum((t.double() ** 2).sum() for t in module_tensors(ckpt)))
    assert math.isfinite(norm) and norm <= 1e6
    run(tmp_path / "short", *BLOWUP, f"steps={good}", "log_every=5", "checkpoint_every=10")
    assert_same_state(ckpt, checkpoint(tmp_path / "short"))

    # A diverged run is finished: rerunning it (even asking for more steps) changes nothing.
    before = snapshot(d)
    assert run(d, *BLOWUP, "steps=1000", "log_every=5", "checkpoint_every=10") == out
    assert snapshot(d) == before


def test_infinite_loss_divergence(tmp_path):
    d = tmp_path / "run"
    out = run(d, *BLOWUP, "steps=1000", "log_every=50", "checkpoint_every=50",
              "divergence.max_param_norm=1e30")
    assert out["status"] == "diverged" and out["steps_done"] == out["diverged_at"] < 1000
    assert "loss" in out["diverged_reason"] and "inf" in out["diverged_reason"].lower()
    last = records(d)[-1]                            # strict JSON: Inf/NaN become null
    assert last["step"] == out["diverged_at"]
    assert last["loss_d"] is None or last["loss_g"] is None
    assert checkpoint(d)["step"] < out["diverged_at"]
    assert all(torch.isfinite(t).all() for t in module_tensors(checkpoint(d)))


def test_divergence_on_a_checkpoint_step_keeps_the_previous_checkpoint(tmp_path):
    ref = tmp_path / "ref"
    run(ref, *BLOWUP, "steps=60", "log_every=1", "divergence.max_param_norm=1e30")
    norms = {r["step"]: r["param_norm"] for r in records(ref)}
    threshold = (norms[39] + norms[40]) / 2
    assert max(norms[s] for s in range(40)) < threshold < norms[40]   # first exceeded at 40

    d = tmp_path / "run"
    out = run(d, *BLOWUP, "steps=60", "log_every=7", "checkpoint_every=20",
              f"divergence.max_param_norm={threshold!r}")
    assert out["status"] == "diverged" and out["diverged_at"] == 40
    assert checkpoint(d)["step"] == 20
    assert records(d)[-1]["step"] == 40


# --- reruns ----------------------------------------------------------------------------------
@pytest.fixture
def finished(tmp_path):
    d = tmp_path / "run"
    ov = (*GAUSS, "steps=30", "log_every=10", "checkpoint_every=10")
    return d, ov, run(d, *ov)


def test_rerunning_a_finished_run_does_nothing(finished, monkeypatch):
    d, ov, out = finished
    before = snapshot(d)
    counter = StepCounter(monkeypatch)
    assert run(d, *ov) == out
    assert run(d, *ov, "steps=20", "progress=true") == out   # fewer steps: already done
    assert counter.calls == 0
    assert snapshot(d) == before


@pytest.mark.slow
@pytest.mark.parametrize("change", ["method=jare", "gamma=1", "seed=5", "eta=1e-2",
                                    "batch_size=64", "dataset.mu=4", "loss=standard"])
def test_rerun_with_other_settings_is_refused(finished, change):
    d, ov, _ = finished
    before = snapshot(d)
    with pytest.raises(ConfigError) as e:
        run(d, *ov, change)
    msg = str(e.value)
    assert "\n" not in msg and change.split("=")[0].split(".")[0] in msg
    assert snapshot(d) == before


def test_invalid_config_fails_before_writing(tmp_path):
    d = tmp_path / "run"
    with pytest.raises(ConfigError, match="gamma"):
        run(d, *GAUSS, "gamma=-1")
    assert not d.exists()


# --- wandb -----------------------------------------------------------------------------------
class FakeRun:
    def __init__(self, run_id="fake-run-id"):
        self.id = run_id
        self.logged: list[tuple[dict, int]] = []
        self.finished: list[int] = []

    def log(self, data, step=None):
        self.logged.append((dict(data), step))

    def finish(self, exit_code=0):
        self.finished.append(exit_code)


class FakeWandb:
    def __init__(self, monkeypatch, fail=False):
        self.inits: list[dict] = []
        self.runs: list[FakeRun] = []
        self.fail = fail
        monkeypatch.setattr(wandb, "init", self.init)
        monkeypatch.setattr(wandb, "Image", lambda path, *a, **k: ("image", path))

    def init(self, **kwargs):
        self.inits.append(kwargs)
        if self.fail:
            raise RuntimeError("wandb is unreachable")
        self.runs.append(FakeRun())
        return self.runs[-1]


def _plain(x) -> bool:
    if isinstance(x, dict):
        return type(x) is dict and all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, list):
        return type(x) is list and all(_plain(v) for v in x)
    return x is None or isinstance(x, (str, int, float, bool))


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_wandb_run_is_initialized_logged_and_finished(tmp_path, monkeypatch, mode):
    fake = FakeWandb(monkeypatch)
    d = tmp_path / "run"
    cfg = make_cfg(*GAUSS, "steps=20", "log_every=5", f"logger.mode={mode}",
                   "logger.project=proj", "logger.tags=[a,b]")
    train(cfg, d)
    assert len(fake.inits) == 1
    init = fake.inits[0]
    assert init["mode"] == mode and init["project"] == "proj" and list(init["tags"]) == ["a", "b"]
    assert init["name"] == "run"
    assert _plain(init["config"]), type(init["config"])
    assert init["config"] == OmegaConf.to_container(cfg, resolve=True)
    assert init["config"]["optim"]["lr"] == 1e-3     # interpolations resolved
    (wrun,) = fake.runs
    assert wrun.finished == [0]
    assert [step for _, step in wrun.logged] == [r["step"] for r in records(d)]
    for data, step in wrun.logged:
        assert "step" not in data and all(v is not None for v in data.values())
    assert wrun.logged[-1][0]["loss_d"] == records(d)[-1]["loss_d"]
    assert checkpoint(d)["wandb_id"] == "fake-run-id"


def test_wandb_resumes_its_run(tmp_path, monkeypatch):
    fake = FakeWandb(monkeypatch)
    d = tmp_path / "run"
    ov = (*GAUSS, "log_every=5", "checkpoint_every=10", "logger.mode=offline")
    run(d, *ov, "steps=20")
    assert fake.inits[0]["id"] is None
    run(d, *ov, "steps=30")
    assert fake.inits[1]["id"] == "fake-run-id" and fake.inits[1]["resume"] == "allow"
    assert [s for _, s in fake.runs[1].logged] == [25, 30]
    assert fake.runs[1].finished == [0]


def test_wandb_run_is_finished_when_the_run_fails(tmp_path, monkeypatch):
    fake = FakeWandb(monkeypatch)
    StepCounter(monkeypatch, fail_at=7)
    with pytest.raises(RuntimeError, match="injected failure"):
        run(tmp_path / "run", *GAUSS, "steps=20", "logger.mode=offline")
    assert len(fake.runs) == 1 and fake.runs[0].finished == [1]
    assert summary(tmp_path / "run")["status"] == "failed"


def test_wandb_images_are_logged(tmp_path, monkeypatch):
    fake = FakeWandb(monkeypatch)
    d = tmp_path / "run"
    run(d, *MOG, "steps=4", "log_every=2", "eval.image_steps=[0]", "logger.mode=offline")
    logged = {step: data for data, step in fake.runs[0].logged}
    assert sorted(logged) == [0, 2, 4]
    assert logged[0]["images/samples"] == ("image", str(d / "images" / "samples_step_000000.png"))
    assert "images/samples" not in logged[2]
    assert logged[4]["images/samples"][1].endswith("samples_step_000004.png")


def test_wandb_disabled_is_never_initialized(tmp_path, monkeypatch):
    fake = FakeWandb(monkeypatch)
    out = run(tmp_path / "run", *GAUSS, "steps=10")   # make_cfg: logger=none (mode disabled)
    assert out["status"] == "completed"
    run(tmp_path / "run2", *GAUSS, "steps=10", "logger=wandb", "logger.mode=disabled")
    assert fake.inits == []


def test_wandb_failure_does_not_stop_the_run(tmp_path, monkeypatch):
    fake = FakeWandb(monkeypatch, fail=True)
    d = tmp_path / "run"
    out = run(d, *GAUSS, "steps=10", "logger.mode=online")
    assert len(fake.inits) == 1
    assert out["status"] == "completed" and records(d)[-1]["step"] == 10
    assert checkpoint(d)["wandb_id"] is None


def test_interrupt_is_recorded_and_reraised(tmp_path, monkeypatch):
    real_build = train_mod.build_rule
    calls = itertools.count(1)

    def build(*a, **k):
        rule = real_build(*a, **k)
        inner = rule.train_step

        def train_step(*args, **kwargs):
            if next(calls) == 12:
                raise KeyboardInterrupt
            return inner(*args, **kwargs)

        rule.train_step = train_step
        return rule

    monkeypatch.setattr(train_mod, "build_rule", build)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", *GAUSS, "steps=30", "checkpoint_every=10")
    s = summary(tmp_path / "run")
    assert s["status"] == "failed" and s["error"] == "KeyboardInterrupt" and s["steps_done"] == 11


@pytest.mark.slow
@pytest.mark.parametrize("method", ["jare", "simgd"])   # SimGD: complex eigenvalues, ζ > 0
def test_spectrum_is_logged_during_training(tmp_path, method):
    """analysis.every=K: every K steps the exact spectrum of the current point is in metrics.jsonl,
    with its picture, and the run is the same run as without it (own RNG)."""
    base = ["dataset=gaussian", f"method={method}", "steps=40", "log_every=20",
            "checkpoint_every=40"]
    train(make_cfg(*base, "analysis.every=10"), tmp_path / "a")
    train(make_cfg(*base), tmp_path / "b")
    lines = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    recs = {r["step"]: r for r in map(json.loads, lines)}
    assert sorted(recs) == [0, 10, 20, 30, 40]
    for step in (0, 10, 20, 30, 40):
        r = recs[step]
        # the whole spectrum (4 parameters, k = 6): ζ, τ and Lemma 4 follow from it by hand
        ev = [complex(a, b) for a, b in r["spectrum_top"]]
        assert len(ev) == 4 and all(e.real < 0 for e in ev)
        assert r["zeta"] == pytest.approx(max(abs(e.imag) / abs(e.real) for e in ev), rel=1e-9)
        assert (r["zeta"] > 10) == (method == "simgd")   # its weakly damped rotation
        assert r["tau"] == pytest.approx(max(map(abs, ev)) / min(map(abs, ev)), rel=1e-9)
        lemma4 = min(2 * abs(e.real) / abs(e) ** 2 for e in ev)
        assert r["max_stable_lr"] == pytest.approx(lemma4, rel=1e-9)
        assert r["lr_over_max_stable_lr"] == pytest.approx(1e-3 / lemma4, rel=1e-9)
        assert_png(tmp_path / "a" / "images" / f"spectrum_step_{step:06d}.png", min_side=200)
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)["modules"]
    b = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=True)["modules"]
    assert torch.equal(a["generator"]["phi"], b["generator"]["phi"])


@pytest.mark.slow
def test_spectrum_during_training_on_mog_uses_batches(tmp_path):
    cfg = make_cfg("arch.depth=1", "arch.width=4", "arch.z_dim=2", "dataset.modes=3", "steps=4",
                   "log_every=4", "analysis.every=2", "analysis.batches=2", "eval.num_samples=64",
                   "eval.image_steps=[]", "method=conopt")
    train(cfg, tmp_path)
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "spectrum_top" in r] == [0, 2, 4]


def test_image_steps_need_not_be_logging_steps(tmp_path):
    cfg = make_cfg("arch.depth=1", "arch.width=4", "arch.z_dim=2", "dataset.modes=3", "steps=30",
                   "log_every=20", "eval.num_samples=64", "eval.image_steps=[0,5,15]")
    train(cfg, tmp_path)
    images = sorted(p.name for p in (tmp_path / "images").glob("samples_step_*.png"))
    assert images == [f"samples_step_{s:06d}.png" for s in (0, 5, 15, 30)]
