PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: help install docs test test-fast test-long test-portable wheel-check lint bench gpu-wheels gpu-check ddp-smoke clean fig5 fig6 fig7 fig8 onesided spectra appc table1 figures numerics mutants zoo digits

# Paper reproduction: each target runs its sweep (sweep=<name>, gantrain/conf/sweep/<name>.yaml), then
# gantrain-report. QUICK=1 adds the sweep's quick preset (quick=<family>, gantrain/conf/quick/: fewer
# steps and samples, one seed); SWEEP_ARGS adds overrides;
# LAUNCHER=joblib runs jobs in parallel locally, LAUNCHER=slurm on a cluster; unset, each target
# uses its own default (basic: one job after another; fig7/fig8: ensemble, the MoG runs of a grid
# trained together, gantrain.ensemble), LAUNCHER=basic gives the sequential runs back.
QUICK      ?= 0
SWEEP_ARGS ?=
LAUNCHER   ?=
RUNS       ?= outputs/multirun$(if $(filter 1,$(QUICK)),-quick)
REPORTS    ?= outputs/report$(if $(filter 1,$(QUICK)),-quick)
COMMON      = progress=false

help:  ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install:  ## create .venv and install gantrain (editable) with pinned torch
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt -e '.[test,docs]'

# The documentation site (mkdocs.yml, docs/): --strict fails on a broken link, a nav entry without
# its page or a docstring the API pages cannot read; built offline into site/ (git-ignored).
docs:  ## build the documentation site into site/ with mkdocs --strict (offline)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Test tiers (markers in pyproject.toml): `make test` leaves out the long tier (-m 'not long'),
# `make test-fast` the slow tier too; `make test-long` is the long tier alone (CI runs all three
# kinds: test, test-long, test-portable). --dist loadfile: a module's shared fixture (a trained run,
# a sweep) is built once, on one worker. Measured wall times: docs/install.md.
test:  ## the test suite without the long tier (CPU, wandb disabled): under 10 min on 2 cores
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not long"

test-fast:  ## the suite without the slow and long tiers: under 3 min on 2 cores
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n 2 -m "not slow and not long"

test-long:  ## the long tier: whole training runs behind the paper claims, make-target runs, gpu-check's CPU mode
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n 2 --dist loadfile -m long

test-portable:  ## rerun the trajectory-dependent tests under every CPU kernel path and 1 and 2 threads
	scripts/test_portable.sh $(BIN)/python

wheel-check:  ## build the wheel, install it in a fresh venv outside the checkout, run the tools from there
	scripts/wheel_check.sh $(PYTHON)

lint:  ## ruff (configured in pyproject.toml)
	$(BIN)/ruff check gantrain tests scripts benchmarks

# A real one-node SLURM cluster (slurm-wlm, munge; installed with apt where missing, needs root),
# started in a temporary folder for tests/slurm and always stopped again (scripts/slurm_cluster.sh).
.PHONY: test-slurm
test-slurm:  ## tests/slurm on a real one-node SLURM cluster started here: requeue, preemption, srun, submitit, Optuna
	PYTEST="$(BIN)/python -m pytest" scripts/slurm_cluster.sh

# The HTML report (gantrain-report --html) in a real headless browser: Debian's chromium and
# chromium-driver (apt, only where missing; needs root) driven by Selenium (the browser extra,
# pinned in constraints.txt; pip only where missing). GANTRAIN_BROWSER_TESTS=1 makes a missing
# browser fail the tests rather than skip them; `make test` leaves them out.
.PHONY: test-browser
test-browser:  ## the HTML report in headless Chromium (Selenium): no console error, figures shown, sorting, screenshot
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@$(BIN)/python -c 'import selenium' 2>/dev/null || $(BIN)/pip install -q -c constraints.txt -e '.[browser]'
	GANTRAIN_BROWSER_TESTS=1 WANDB_MODE=disabled $(BIN)/python -m pytest -q tests/report/test_html_browser.py

MUTANTS_ARGS ?=
mutants:  ## plant known bugs one at a time in a copy of the tree and check the tests catch each (MUTANTS_ARGS=--quick)
	$(BIN)/python scripts/mutants.py $(MUTANTS_ARGS)

bench:  ## step time per rule and the default command's wall time/memory (see benchmarks/results.md)
	$(BIN)/python benchmarks/bench_step_time.py
	$(BIN)/python benchmarks/bench_default_run.py

# The GPU check (docs/gpu-check.md). gpu-wheels downloads here the wheels a GPU machine with
# python3, torch and torchvision but no package index lacks, and builds gantrain's; torch is never
# downloaded. GPU_PYTHON_VERSION must match that machine's `python3 --version` (gpu-check prints
# it first). gpu-check runs every check and measurement in one call and writes
# $(GPU_OUT)/gpu_check.json and .md; DEVICE=cpu runs the same code at tiny sizes; WHEELHOUSE=dir
# installs from that folder first (no index); on the GPU machine GPU_CHECK_PYTHON=python3.
GPU_PYTHON_VERSION ?= 3.12
GPU_WHEELS         ?= gpu_wheels
GPU_PLATFORMS      := manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64
GPU_PACKAGES       := hydra-core==1.3.8 'omegaconf>=2.3,<2.4' pytorch-fid==0.3.0 PyYAML
DEVICE             ?= auto
GPU_OUT            ?= outputs/gpu_check
WHEELHOUSE         ?=
GPU_CHECK_PYTHON   ?= $(BIN)/python
GPU_CHECK_ARGS     ?=
gpu-wheels:  ## wheels for a GPU machine without an index: hydra-core, omegaconf, antlr4, pytorch-fid, PyYAML, gantrain
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/pip download --no-deps --only-binary=:all: --python-version $(GPU_PYTHON_VERSION) \
	  --implementation cp $(addprefix --platform ,$(GPU_PLATFORMS)) -d $(GPU_WHEELS) $(GPU_PACKAGES)
	@# antlr4-python3-runtime 4.9.3 is only an sdist on PyPI: built here into a pure-Python wheel
	$(BIN)/pip wheel --no-deps --no-build-isolation -w $(GPU_WHEELS) antlr4-python3-runtime==4.9.3
	rm -rf build && $(BIN)/pip wheel --no-deps --no-build-isolation -w $(GPU_WHEELS) . && rm -rf build

gpu-check:  ## every GPU check and measurement in one call, one JSON + Markdown report (DEVICE=cpu: tiny sizes)
	$(GPU_CHECK_PYTHON) scripts/gpu_check.py --device $(DEVICE) --out $(GPU_OUT) \
	  $(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE)) $(GPU_CHECK_ARGS)

ddp-smoke:  ## torch.distributed smoke run: 2 CPU processes (gloo) under torchrun, a few ConOpt steps
	WANDB_MODE=disabled $(BIN)/torchrun --standalone --nproc_per_node=2 -m gantrain.cli method=conopt \
	  steps=20 batch_size=64 log_every=5 checkpoint_every=10 logger=none progress=false \
	  hydra.run.dir=outputs/ddp-smoke

# $(call sweep,program,sweep,quick family[,default launcher])
define sweep
	$(BIN)/$(1) -m sweep=$(2) $(if $(filter 1,$(QUICK)),quick=$(3)) launcher=$(or $(LAUNCHER),$(4),basic) $(COMMON) $(SWEEP_ARGS) hydra.sweep.dir=$(RUNS)/$(2)
	$(BIN)/gantrain-report $(RUNS)/$(2) --name $(2) --out $(REPORTS) --html
endef

fig5:  ## JARE Fig. 5: Gaussian game, mu 2/4/6, SimGD vs ConOpt vs JARE
	$(call sweep,gantrain,fig5,gauss)

fig6:  ## JARE Fig. 6: Gaussian game, sigma 0.2/0.5 at mu 2
	$(call sweep,gantrain,fig6,gauss)

fig7:  ## JARE Fig. 7: mixture of Gaussians, r = 2, five methods, samples over iterations
	$(call sweep,gantrain,fig7,mog,ensemble)

fig8:  ## JARE Fig. 8: mixture of Gaussians, r = 10
	$(call sweep,gantrain,fig8,mog,ensemble)

onesided:  ## one-sided ConOpt/JARE against the full rules, over gamma
	$(call sweep,gantrain,onesided,gauss)

appc:  ## JARE App. C: which rules reverse the generator's flow where d2f/dphi2 = -t^2 (seconds)
	$(BIN)/python -m gantrain.analysis.appc $(REPORTS)/appc

spectra:  ## every rule's spectrum at the Gaussian equilibrium (gantrain-analyze)
	$(call sweep,gantrain-analyze,spectra,spectra)

table1:  ## JARE Table 1: CIFAR-10 settings A-F x GAN/SN-GAN/ConOpt/JARE x seeds (QUICK=1: fake_images)
	$(call sweep,gantrain,table1,table1)

# The zoo: every registered rule (sorted(gantrain.rules.RULES), read when the target runs, so rules
# added later join) on the Gaussian game (mu 2/4/6), DiracGAN and MoG r = 2 over 3 seeds, and each
# rule's (lr, gamma) phase diagram at mu 2/4/6, in ZOO_JOBS worker processes (one torch thread
# each); then one report. Finished runs are kept: a rerun after adding a rule trains only that
# rule. SWEEP_ARGS adds gantrain overrides to every training run, ZOO_PHASE_ARGS gantrain-analyze
# overrides to the diagrams, ZOO_ARGS options of `zoo run` (e.g. --parts dirac,phase --seeds 0).
# The plan itself (games, seeds, gamma, phase grid, and the QUICK=1 form) is gantrain/conf/zoo.yaml.
ZOO_JOBS       ?= 2
ZOO_PHASE_ARGS ?=
ZOO_ARGS       ?=
zoo:  ## every rule on the Gaussian game (mu 2/4/6), DiracGAN and MoG r = 2, 3 seeds, with phase diagrams; one report
	$(BIN)/python -m gantrain.report.zoo run $(RUNS)/zoo --jobs $(ZOO_JOBS) $(if $(filter 1,$(QUICK)),--quick) \
	  $(ZOO_ARGS) --phase-args "$(ZOO_PHASE_ARGS)" $(SWEEP_ARGS)
	$(BIN)/python -m gantrain.report.zoo report $(RUNS)/zoo --out $(REPORTS)/zoo --html

# The Numerics of GANs supplement's image figures, one sweep each: Figs. 6-7 (numerics), 8 (_dense),
# 9 (_divergence), 10 (_resnet), 11 (_losses), 12 (_altgd_lr), 13 (_lr), 14 (_gamma). QUICK=1 runs
# torch on one thread: the quick nets are tiny, and on a shared CPU more threads only spin.
ifeq ($(QUICK),1)
numerics: export OMP_NUM_THREADS ?= 1
endif
numerics:  ## Numerics of GANs Figs. 6-14 (CIFAR-10, GPU work; QUICK=1: fake_images, tiny nets, minutes on a CPU)
	$(call sweep,gantrain,numerics,numerics)
	$(call sweep,gantrain,numerics_dense,numerics)
	$(call sweep,gantrain,numerics_divergence,numerics)
	$(call sweep,gantrain,numerics_resnet,numerics)
	$(call sweep,gantrain,numerics_losses,numerics)
	$(call sweep,gantrain,numerics_altgd_lr,numerics)
	$(call sweep,gantrain,numerics_lr,numerics)
	$(call sweep,gantrain,numerics_gamma,numerics)

# The stacked-digits benchmark (docs/results/digits.md): five rules on real images, 3 seeds, on
# 2 cores as two one-thread jobs at a time (LAUNCHER=basic: one after another).
digits: export OMP_NUM_THREADS ?= 1
digits:  ## stacked digits (real 8x8 digits, 1 000 modes): SimGD, AltGD, ConOpt, JARE, R1, 3 seeds; QUICK=1 in ~2 min
	$(call sweep,gantrain,digits,digits,joblib)

figures: fig5 fig6 fig7 fig8 onesided spectra appc  ## all toy figures (and JARE App. C's check)

clean:  ## remove run outputs
	rm -rf outputs multirun
