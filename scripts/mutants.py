#!/usr/bin/env python3
"""Mutation testing: does the test suite catch realistic bugs?

Each mutant is one planted bug: an exact snippet of a source file replaced by a wrong one. For
each, the working tree (tracked and untracked, non-ignored files) is copied to a temporary folder,
the bug is planted there, and the suite runs in the copy with this repository's .venv, the copy
first on PYTHONPATH (checked: ``gantrain`` and ``tests`` must import from the copy, never from the
editable install of this tree). A mutant is *caught* when a test fails, *survives* when all pass.

    make mutants                                   # every mutant against the whole suite
    .venv/bin/python scripts/mutants.py --quick    # only the test files named per mutant
    .venv/bin/python scripts/mutants.py --list     # the mutants, and whether each still applies
    .venv/bin/python scripts/mutants.py --only jare-own-block --only tf-rmsprop-zero-start
    .venv/bin/python scripts/mutants.py --only jare-own-block --tests "tests/rules -k jare"

Exit status: 0 when every mutant is caught; 1 when one survives (or the unmutated baseline fails,
or a mutant no longer applies); 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXCLUDE = {".git", ".venv", "outputs", "multirun", "wandb", "__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    why: str
    tests: tuple[str, ...]   # pytest arguments for --quick (files, node ids, -k expressions)


MUTANTS = [
    Mutant("unbiased-same-half", "gantrain/rules/base.py",
           "j = m - 1 - i", "j = i",
           "the unbiased estimate ½⟨v_A, v_B⟩ pairs each half-batch's Jacobian with its own "
           "gradient: ½(J_Aᵀv_A + J_Bᵀv_B), the biased estimate again, silently",
           ("tests/rules/test_directions.py", "tests/rules/test_regularizer_estimate.py")),
    Mutant("zero-sum-generator-sign", "gantrain/rules/base.py",
           "v_g = [[-g for g in b[n_d:]] for b in both]",
           "v_g = [[g for g in b[n_d:]] for b in both]",
           "the minimax shortcut (L_G = −L_D, one backward pass) forgets the minus sign: the "
           "generator climbs its own loss",
           ("tests/rules/test_directions.py",)),
    Mutant("jare-own-block", "gantrain/rules/base.py",
           'blocks = {"full": ("d", "g"), "cross": ("d",)}',
           'blocks = {"full": ("d", "g"), "cross": ("g",)}',
           "JARE's generator is penalized with ∇_φ½‖g_φ‖² (its own block) instead of the "
           "other player's ∇_φ½‖g_θ‖²",
           ("tests/rules/test_directions.py", "tests/analysis/test_spectrum.py")),
    Mutant("regularizer-dropped-half", "gantrain/rules/base.py",
           "r_d = 0.5 * dot(gv_d[0], gv_d[-1])", "r_d = dot(gv_d[0], gv_d[-1])",
           "R = ‖g_θ‖² instead of ½‖g_θ‖²: the logged reg_grad_d and grad_norm_d = √(2R) are "
           "off by 2 and √2",
           ("tests/rules/test_regularizer_estimate.py", "tests/test_train.py", "-k",
            "regularizer or gaussian_run_directory")),
    Mutant("startup-signal-kills", "gantrain/cli.py",
           "    catch_early()   # a SLURM signal", "    pass   # a SLURM signal",
           "a SIGUSR1 that comes while gantrain imports (SLURM may signal a requeued job within "
           "seconds of its start) kills the run: no checkpoint, no requeue, the job FAILED",
           ("tests/slurm/test_startup_signal.py",)),
    Mutant("signal-after-run-kills", "gantrain/preemption.py",
           "old = _record_early   # a signal after the run", "old = old   # a signal after the run",
           "a time-limit SIGUSR1 that comes while a completed run's process exits kills it: the "
           "finished job is recorded FAILED (signal 10)",
           ("tests/slurm/test_startup_signal.py", "-k", "after_the_run")),
    Mutant("search-diverged-is-best", "gantrain/search.py",
           'return math.inf if direction == "minimize" else -math.inf',
           'return -math.inf if direction == "minimize" else math.inf',
           "a diverged trial is reported to Optuna as the best value instead of the worst",
           ("tests/slurm/test_search.py", "-k", "trial_value")),
    Mutant("nonsaturating-loss-sign", "gantrain/losses.py",
           "mean(F.softplus(-d_fake))", "mean(F.softplus(d_fake))",
           "the non-saturating generator loss −log σ(D(G(z))) written with the wrong sign inside "
           "softplus (−log(1 − σ(D(G(z))))): the generator flees the data",
           ("tests/test_losses.py", "tests/rules/test_directions.py")),
    Mutant("tf-rmsprop-zero-start", "gantrain/optim/rmsprop_tf.py",
           'state["square_avg"] = torch.full_like(p, group["initial_accumulator"])',
           'state["square_avg"] = torch.zeros_like(p)',
           "TF RMSProp's accumulator starts at 0 like PyTorch's instead of 1: first steps of "
           "size lr/√(1−decay) instead of about lr times the gradient",
           ("tests/optim/test_optimizers.py",)),
    Mutant("theorem3-gamma-term", "gantrain/analysis/theory.py",
           "_roots(2, gamma + b2, gamma**2 / 8 + 0.5)", "_roots(2, gamma + b2, gamma**2 / 4 + 0.5)",
           "JARE's closed-form eigenvalues (Theorem 3) with γ²/4 for γ²/8 in the constant term",
           ("tests/games/test_gaussian_theory.py", "tests/analysis/test_spectrum.py")),
    Mutant("gaussian-jacobian-half", "gantrain/analysis/theory.py",
           "-0.5 * (sigma**2 * eye + np.outer(v, v))", "-(sigma**2 * eye + np.outer(v, v))",
           "the Gaussian game's equilibrium Jacobian M loses the ½ of its θθ block "
           "(−½(σ²I + vvᵀ)), which the ConOpt check M − γMᵀM relies on",
           ("tests/games/test_gaussian_theory.py", "tests/analysis/test_spectrum.py")),
    Mutant("modes-two-std", "gantrain/conf/eval/default.yaml",
           "std_multiple: 3.0", "std_multiple: 2.0",
           "a high-quality MoG sample within 2 standard deviations of its mode instead of the "
           "papers' 3",
           ("tests/metrics/test_modes.py", "tests/config/test_numerics_presets.py")),
    Mutant("modes-variance-for-std", "gantrain/metrics/modes.py",
           "good = nearest_dist <= std_multiple * std",
           "good = nearest_dist <= std_multiple * std ** 2",
           "the high-quality radius uses the variance where the standard deviation belongs",
           ("tests/metrics/test_modes.py",)),
    Mutant("numerics-objectives-called-fig11", "gantrain/report/numerics.py",
           '"Numerics Fig. 9",', '"Numerics Fig. 11",',
           "the objectives comparison titled Fig. 11 again (it is the supplement's Fig. 9)",
           ("tests/report/test_numerics_report.py", "-k", "figure_numbers")),
    Mutant("loss-figure-players-swapped", "gantrain/report/image_curves.py",
           'LOSS_KEYS = (("loss_d", "discriminator loss"), ("loss_g", "generator loss"))',
           'LOSS_KEYS = (("loss_g", "discriminator loss"), ("loss_d", "generator loss"))',
           "losses.png draws the generator's loss in the discriminator's panel and vice versa",
           ("tests/report/test_numerics_report.py", "-k", "fig11_layout")),
    Mutant("zoo-quick-replaces-overrides", "gantrain/report/zoo/plan.py",
           "games={g: [*map(str, ovs), *map(str, more.get(g, ()))]",
           "games={g: [*map(str, more.get(g, ovs))]",
           "make zoo QUICK=1 replaces a game's overrides by its quick ones: the MoG runs lose "
           "dataset=mog, the Gaussian runs their experiment preset",
           ("tests/report/zoo/test_plan.py",)),
    Mutant("zoo-gamma-grid-for-every-rule", "gantrain/report/zoo/plan.py",
           'gammas = grid["gammas"] if uses_gamma(method) else [gamma]',
           'gammas = grid["gammas"]',
           "a rule without a γ gets the whole γ grid in its phase diagram (8 identical columns)",
           ("tests/report/zoo/test_plan.py",)),
    Mutant("fig13-on-the-batch-norm-net", "gantrain/conf/sweep/numerics_lr.yaml",
           "experiment: numerics_dcgan3,numerics_dcgan4_nobn",
           "experiment: numerics_dcgan3,numerics_dcgan4",
           "Fig. 13's ConOpt lr sweep on the 4-layer net with batch norm, which ConOpt does not train",
           ("tests/config/test_numerics_presets.py", "-k", "figure_shows and numerics_lr")),
    Mutant("quote-edited-unchecked", "docs/experiments.md",
           "“with a learning rate of 2 · 10−4 for all", "“with a learning rate of 1 · 10−4 for all",
           "a quoted phrase of the Numerics supplement edited (the old lr 1e-4 label) and never "
           "checked against the source text",
           ("tests/test_provenance.py",)),
    Mutant("resume-skips-data-rng", "gantrain/checkpoint.py",
           '        g.set_state(state["generators"][k])\n',
           '        pass  # the data generator keeps its fresh seed\n',
           "resuming restores the global RNGs but not the data generator: a resumed run sees "
           "the first batches again and is no longer bit-identical",
           ("tests/test_train.py", "-k", "resume or extending")),
    Mutant("analysis-point-no-discriminator", "gantrain/analysis/spectrum.py",
           "        game.discriminator.load_state_dict(states[1])\n", "",
           "gantrain-analyze analysis.point=CHECKPOINT loads the generator only: the spectrum "
           "is taken at the trained G and the initial D",
           ("tests/analysis/test_point.py",)),
    Mutant("slurm-nodelist-padding", "gantrain/distributed.py",
           "str(i).zfill(len(lo))", "str(i)",
           "node[01-04] expands to node1 ... node4: MASTER_ADDR names a host that does not exist",
           ("tests/distributed/test_slurm.py",)),
    Mutant("slurm-port-old-collision", "gantrain/distributed.py",
           "return 20000 + zlib.crc32(key.encode()) % 10000",
           "return 29500 + int(os.environ.get('SLURM_JOB_ID', 0)) % 1000",
           "the former port rule: jobs whose ids differ by 1000 share a node and a port",
           ("tests/distributed/test_slurm.py",)),
    Mutant("unbiased-halves-summed", "gantrain/rules/base.py",
           "[sum(t) / len(lists) for t in zip(*lists)]", "[sum(t) for t in zip(*lists)]",
           "the unbiased estimate's plain gradient sums the two half-batch gradients instead of "
           "averaging them: every step is twice as long",
           ("tests/rules/test_directions.py",)),
    Mutant("hinge-fake-sign", "gantrain/losses.py",
           "mean(F.relu(1 + d_fake))", "mean(F.relu(1 - d_fake))",
           "the hinge loss's fake term with the real term's sign",
           ("tests/test_losses.py",)),
    Mutant("spectral-norm-two-iterations", "gantrain/models/images.py",
           "        spectral_norm(m)", "        spectral_norm(m, n_power_iterations=2)",
           "two power iterations per forward: a different normalization than SN-GAN's one",
           ("tests/models/test_spectral_norm.py",)),
    Mutant("phase-factor-modulus", "gantrain/analysis/stability.py",
           "r = np.abs(ev.imag) / np.abs(ev.real)", "r = np.abs(ev.imag) / np.abs(ev)",
           "ζ divides by |λ| instead of |Re λ|: rotation looks bounded by 1",
           ("tests/test_train.py", "-k", "spectrum")),
    Mutant("mode-criteria-swapped", "gantrain/games/mog.py",
           "float(self.eval_cfg.std_multiple), float(self.eval_cfg.mode_min_share))",
           "float(self.eval_cfg.mode_min_share), float(self.eval_cfg.std_multiple))",
           "the std multiple and the minimum share change places: a 0.01-std radius and a 300% "
           "share",
           ("tests/test_paper_claims.py", "-k", "mixture or mode")),
    Mutant("checkpoint-no-crc", "gantrain/checkpoint.py",
           "    if bad is not None:\n", "    if False:\n",
           "the CRC check is skipped: torch.load reads a flipped byte in tensor data without "
           "complaint, so a corrupt checkpoint resumes with wrong weights",
           ("tests/test_checkpoint.py", "-k", "unreadable")),
    Mutant("sga-adjustment-flipped", "gantrain/rules/sga.py",
           "0.5 * (a - b) for a, b in zip(jt, jv)", "0.5 * (b - a) for a, b in zip(jt, jv)",
           "SGA adds ½(J − Jᵀ)ξ instead of Aᵀξ = ½(Jᵀ − J)ξ: the adjustment pushes along the "
           "rotation instead of against it",
           ("tests/rules/test_zoo_rules.py", "-k", "sga")),
    Mutant("sga-unbiased-same-half", "gantrain/rules/sga.py",
           "c = xis[m - 1 - i]", "c = xis[i]",
           "SGA's unbiased estimate pairs each half-batch's Jacobian with its own ξ: "
           "½(J_Aξ_A + J_Bξ_B), biased again",
           ("tests/rules/test_zoo_rules.py", "-k", "sga_unbiased")),
    Mutant("cgd-eta-not-squared", "gantrain/rules/cgd.py",
           "eta2 = eta * eta", "eta2 = eta",
           "CGD's system matrix I − ηAB instead of I − η²AB",
           ("tests/rules/test_zoo_rules.py", "-k", "cgd")),
    Mutant("cgd-grid-shared-inner-products", "gantrain/rules/cgd.py",
           "return sum((x * y).flatten(1).sum(1) for x, y in zip(a, b))",
           "return sum((x * y).sum() for x, y in zip(a, b)).expand(a[0].shape[0])",
           "a grid of η runs one CG over all points (global inner products): converged, the same "
           "solution, but every truncated iterate mixes the points",
           ("tests/rules/test_zoo_rules.py", "-k", "cgd_grid")),
    Mutant("cgd-lemma4-fixed-eta", "gantrain/analysis/phase.py",
           '{**options, "eta": h}', "options",
           "the phase diagram's CGD bound takes the config's η for every step size h instead of "
           "η = h, whose field it is",
           ("tests/analysis/test_phase_zoo.py", "-k", "lemma4")),
    Mutant("phase-grid-cgd-config-eta", "gantrain/analysis/phase.py",
           '    if "eta" in options:   # CGD\'s η is the step size: each point\'s own\n'
           '        options["eta"] = lrs\n', "",
           "a CGD phase diagram solves every point's local game with the config's method.eta "
           "instead of the point's own step size",
           ("tests/analysis/test_phase_zoo.py", "-k", "follows and cgd")),
    Mutant("r1-on-generated-samples", "gantrain/rules/r1.py",
           'on = "real"', 'on = "fake"',
           "R1 averages ‖∇ₓD‖² over generated samples: it is R2",
           ("tests/rules/test_zoo_rules.py", "-k", "r1_r2")),
    Mutant("gradient-penalty-no-half", "gantrain/games/base.py",
           "return 0.5 * g.square().flatten(self.sample_dims).sum(-1)",
           "return g.square().flatten(self.sample_dims).sum(-1)",
           "R1/R2 penalize ‖∇ₓD‖² instead of ½‖∇ₓD‖²: twice the weight γ",
           ("tests/rules/test_zoo_rules.py", "-k", "r1_r2")),
    Mutant("extragradient-one-batch", "gantrain/rules/extragradient.py",
           "        look = self.plain(game, batch_size, rng)\n",
           "        state = rng.get_state()\n        look = self.plain(game, batch_size, rng)\n"
           "        rng.set_state(state)\n",
           "extragradient's look-ahead and its step use the same batch instead of two fresh ones",
           ("tests/rules/test_zoo_rules.py", "-k", "extragradient_step")),
    Mutant("optimistic-no-memory", "gantrain/rules/optimistic.py",
           "u_d = [2 * v - p for v, p in zip(out.u_d, prev_d)]\n"
           "        u_g = [2 * v - p for v, p in zip(out.u_g, prev_g)]",
           "u_d = list(out.u_d)\n        u_g = list(out.u_g)",
           "optimistic steps with v_k instead of 2v_k − v_{k−1}: plain SimGD",
           ("tests/rules/test_zoo_rules.py", "-k", "optimistic_steps")),
    Mutant("optimistic-state-not-restored", "gantrain/rules/optimistic.py",
           "self.previous = None if d is None else ([t.clone() for t in d], [t.clone() for t in g])",
           "self.previous = None",
           "a resumed optimistic run forgets its last gradient: its first step takes v alone "
           "and the run leaves the uninterrupted trajectory",
           ("tests/rules/test_zoo_rules.py", "-k", "optimistic_resume")),
    Mutant("optimistic-companion-sign", "gantrain/analysis/stability.py",
           "top = np.hstack([eye + 2 * h * jacobian, -h * jacobian])",
           "top = np.hstack([eye + 2 * h * jacobian, h * jacobian])",
           "optimistic's multipliers from [[I + 2hJ, +hJ], [I, 0]]: the memory term's sign lost",
           ("tests/rules/test_zoo_rules.py", "-k", "two_point")),
    Mutant("flow-generator-plain-sign", "gantrain/rules/flow.py",
           "g_g = grads(loss_g, g_params, create_graph=False)",
           "g_g = grads(loss_d, g_params, create_graph=False)",
           "the flow diagnostic takes the generator's plain gradient from L_D (the minimax sign "
           "lost): every rule seems to reverse the generator and App. C's claims flip",
           ("tests/analysis/test_flow_reversal.py",)),
    Mutant("flow-players-swapped", "gantrain/rules/flow.py",
           'return {"flow_cos_g": cosine(u_g, plain_g), "flow_cos_d": cosine(u_d, plain_d)}',
           'return {"flow_cos_g": cosine(u_d, plain_d), "flow_cos_d": cosine(u_g, plain_g)}',
           "the generator's flow cosine is the discriminator's and vice versa",
           ("tests/analysis/test_flow_reversal.py", "-k", "explicit_hessians or conopt")),
    Mutant("eq30-delta-inverted", "gantrain/analysis/conditions.py",
           "delta = (1 + gamma * m_max) / (1 + gamma * m_min)",
           "delta = (1 + gamma * m_min) / (1 + gamma * m_max)",
           "eq. (30)'s Δ(γ) inverted: the bound falls below τ(M) and always 'holds'",
           ("tests/analysis/test_conopt_bound.py",)),
    Mutant("variance-corrected-sign", "gantrain/rules/base.py",
           "cotangents.append(t * (-1.0 / (t.shape[0] * (big - 1))))",
           "cotangents.append(t * (1.0 / (t.shape[0] * (big - 1))))",
           "variance_corrected adds the per-sample term's gradient instead of subtracting it",
           ("tests/rules/test_variance_corrected.py", "-k", "direction_matches and conopt")),
    Mutant("variance-corrected-unscaled", "gantrain/rules/base.py",
           "return ((big * r_d - sq_d) / (big - 1), (big * r_g - sq_g) / (big - 1))",
           "return (r_d - sq_d / (big - 1), r_g - sq_g / (big - 1))",
           "the corrected value subtracts (1/B)Σ½‖v_i‖²/(B − 1) without scaling ½‖v̄‖² by "
           "B/(B − 1): biased low",
           ("tests/rules/test_variance_corrected.py", "-k", "direction_matches and conopt")),
    Mutant("gpu-check-stale-wheel-unseen", "scripts/gpu_check.py",
           'if digest.rstrip(b"=").decode() != packaged[path]:',
           'if digest.decode() != packaged[path]:',
           "the GPU check compares the wheel's RECORD hashes with padded base64 digests: every "
           "file looks changed, or (the other way round) a stale wheel would pass",
           ("tests/test_gpu_check.py", "-k", "stale")),
    Mutant("gpu-check-reference-float32", "scripts/gpucheck/directions.py",
           'self.ref = self.game("cpu", torch.float64)',
           'self.ref = self.game("cpu", torch.float32)',
           "the GPU check's rule-direction reference is float32, not float64: device errors of "
           "any size are measured against a reference with the same round-off",
           ("tests/test_gpu_check.py", "-k", "float32_against_float64")),
    Mutant("ensemble-unbiased-same-half", "gantrain/ensemble/functional.py",
           "for part in vs[m - 1 - i])", "for part in vs[i])",
           "the ensemble's unbiased estimate pairs each half-batch's Jacobian with its own "
           "gradient (the biased estimate again) while single runs use the other half's",
           ("tests/ensemble/test_exact.py", "-k", "unbiased and jare")),
    Mutant("ensemble-frozen-member-moves", "gantrain/ensemble/optim.py",
           "out[k] = q if everyone else torch.where(mask, q, p)", "out[k] = q",
           "a member that waits (resumed from a later step) or has diverged keeps stepping on "
           "placeholder batches: resumed members leave their single-run trajectory",
           ("tests/ensemble/test_faults.py", "-k", "different_steps")),
    Mutant("ensemble-optimizer-state-not-saved", "gantrain/ensemble/optim.py",
           "opt.state[p] = st", "pass",
           "members' checkpoints hold an empty optimizer state: a resumed member restarts "
           "RMSProp's accumulator and leaves its trajectory",
           ("tests/ensemble/test_faults.py", "-k", "sigterm")),
]


def tree_files(root: Path) -> list[Path]:
    """Tracked and untracked, non-ignored files (git), else every file outside EXCLUDE."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root,
                             capture_output=True, check=True).stdout.decode()
        files = [Path(p) for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*")
                 if p.is_file() and not EXCLUDE & set(p.relative_to(root).parts)]
    return [p for p in files if (root / p).is_file() and not EXCLUDE & set(p.parts)]


def copy_tree(root: Path, dest: Path) -> None:
    for rel in tree_files(root):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest / rel)


def plant(m: Mutant, root: Path) -> None:
    path = root / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.name}: the snippet {m.old!r} occurs {n} times in {m.file} "
                         "(must be exactly once): update the mutant")
    path.write_text(text.replace(m.old, m.new))


def copy_env(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(copy), WANDB_MODE="disabled", OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def check_imports_from(copy: Path, python: str, env: dict[str, str]) -> None:
    """gantrain, its config folder and the tests package must come from the copy (not from the
    editable install of the original tree), or the planted bug would never run."""
    probe = ("import gantrain, gantrain.cli, tests.helpers; "
             "print(gantrain.__file__); print(gantrain.cli.CONFIG_DIR); print(tests.helpers.__file__)")
    out = subprocess.run([python, "-c", probe], cwd=copy, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"importing gantrain in the copy failed:\n{out.stderr}")
    real = copy.resolve()
    for line in out.stdout.split():
        if not Path(line).resolve().is_relative_to(real):
            raise SystemExit(f"the copy imports {line}, outside the copy {real}: PYTHONPATH does "
                             "not take precedence over the installed gantrain")


def run_tests(copy: Path, python: str, args: list[str], jobs: int, timeout: float):
    env = copy_env(copy)
    check_imports_from(copy, python, env)
    cmd = [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", f"--rootdir={copy}",
           *(["-n", str(jobs)] if jobs > 1 else []), *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    return proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr


def first_failure(output: str) -> str:
    for line in output.splitlines():
        m = re.match(r"(FAILED|ERROR) (\S+)", line)
        if m:
            return m.group(2)
    return "?"


def run_mutant(m: Mutant | None, python: str, args: list[str], jobs: int, timeout: float,
               verbose: bool) -> tuple[str, str, float]:
    """(outcome, caught by, seconds): outcome is caught, survived, timeout or error."""
    with tempfile.TemporaryDirectory(prefix=f"gantrain-mutant-{m.name if m else 'baseline'}-") as d:
        copy = Path(d)
        copy_tree(REPO, copy)
        if m is not None:
            plant(m, copy)
        code, secs, out = run_tests(copy, python, args, jobs, timeout)
    if verbose or (code not in (0, 1, "timeout") and first_failure(out) == "?"):
        print(out[-4000:])
    if code == "timeout":
        return "timeout", f"(timeout after {timeout:.0f} s)", secs
    if code == 0:
        return "survived", "", secs
    # pytest-xdist ends a -x run that hit a failure with exit 2 ("Interrupted"), not 1.
    if code == 1 or (code == 2 and first_failure(out) != "?"):
        return "caught", first_failure(out), secs
    return "error", f"(pytest exit {code})", secs


def markdown_table(rows: list[tuple[Mutant, str, str]]) -> str:
    lines = ["| mutant | file | planted bug | caught by |", "|---|---|---|---|"]
    for m, outcome, by in rows:
        cell = f"`{by}`" if outcome == "caught" else f"**{outcome.upper()}** {by}".strip()
        why = m.why.replace("|", "\\|")   # a pipe would end the cell
        lines.append(f"| `{m.name}` | `{m.file}` | {why} | {cell} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants and whether each applies")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    ap.add_argument("--quick", action="store_true", help="run only the tests named per mutant")
    ap.add_argument("--tests", metavar="ARGS", type=shlex.split,
                    help="pytest arguments for every mutant instead, one string "
                         "(e.g. \"tests/rules -k 'jare and not jare_d'\")")
    ap.add_argument("--jobs", "-n", type=int, default=2, help="pytest-xdist workers (default 2; 1: none)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per test run (default 3600)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the unmutated run (which must pass, or every mutant looks caught)")
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                    help="the interpreter whose environment runs the tests (default .venv)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
    a = ap.parse_args(argv)

    by_name = {m.name: m for m in MUTANTS}
    unknown = [n for n in a.only or [] if n not in by_name]
    if unknown:
        ap.error(f"--only {unknown[0]!r} is not a mutant; allowed: {', '.join(by_name)}")
    chosen = [by_name[n] for n in a.only] if a.only else MUTANTS
    if a.list:
        stale = 0
        for m in chosen:
            n = (REPO / m.file).read_text().count(m.old) if (REPO / m.file).is_file() else 0
            stale += n != 1
            state = "ok" if n == 1 else f"STALE (snippet found {n} times)"
            print(f"{m.name:34s} {m.file:34s} {state}\n    {m.why}\n    quick: {' '.join(m.tests)}")
        return 1 if stale else 0
    if not Path(a.python).is_file():
        ap.error(f"--python {a.python} does not exist; run `make install` first")
    for m in chosen:   # every snippet must apply before anything runs
        plant_check = (REPO / m.file).read_text().count(m.old)
        if plant_check != 1:
            print(f"mutant {m.name}: the snippet {m.old!r} occurs {plant_check} times in {m.file} "
                  "(must be exactly once)", file=sys.stderr)
            return 1

    def args_for(m: Mutant | None) -> list[str]:
        if a.tests:
            return list(a.tests)
        if a.quick and m is not None:
            return list(m.tests)
        if a.quick:   # baseline: every file the chosen mutants name (no -k: those are per mutant)
            files = sorted({t for mm in chosen for t in mm.tests if t.startswith("tests/")})
            return files
        return []

    if not a.no_baseline:
        outcome, by, secs = run_mutant(None, a.python, args_for(None), a.jobs, a.timeout, a.verbose)
        print(f"baseline (no mutant): {'passes' if outcome == 'survived' else 'FAILS ' + by} "
              f"({secs:.0f} s)", flush=True)
        if outcome != "survived":
            print("the unmutated tests must pass first", file=sys.stderr)
            return 1
    rows = []
    for m in chosen:
        outcome, by, secs = run_mutant(m, a.python, args_for(m), a.jobs, a.timeout, a.verbose)
        rows.append((m, outcome, by))
        print(f"{m.name:34s} {outcome:8s} {by} ({secs:.0f} s)", flush=True)
    print()
    print(markdown_table(rows))
    survived = [m.name for m, outcome, _ in rows if outcome not in ("caught", "timeout")]
    print(f"\n{len(rows) - len(survived)}/{len(rows)} caught"
          + (f"; not caught: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
