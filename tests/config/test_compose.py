"""Every config group option and experiment preset composes and validates; presets hold the
papers' values (docs/experiments.md); ``validate`` rejects bad values with one line naming the key."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gantrain.cli import CONFIG_DIR
from gantrain.config import Checked, validate
from gantrain.errors import ConfigError
from tests.helpers import make_cfg

CONF = Path(CONFIG_DIR)


def _group_options() -> dict[str, list[str]]:
    """Each group's options on Hydra's whole search path: gantrain's yaml files, the options
    gantrain.config.store makes from the schemas, and those an installed plugin adds (its
    SearchPathPlugin or its registered schema), so a plugin's config is checked like ours."""
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        groups = [g for g in loader.list_groups("") if g not in ("hydra", "schema")]
        return {g: sorted(loader.get_group_options(g)) for g in sorted(groups)}


OPTIONS = _group_options()
GROUPS = sorted(OPTIONS)
METHODS = OPTIONS["method"]
EXPERIMENTS = OPTIONS["experiment"]


def test_config_groups_are_the_expected_ones():
    assert set(GROUPS) >= {"method", "dataset", "arch", "loss", "optim", "logger", "experiment"}
    from gantrain.rules import BUILTIN, RULES

    assert set(BUILTIN) <= set(METHODS) and set(METHODS) <= set(RULES)   # a config per rule
    assert {"sgd", "adam", "rmsprop", "rmsprop_tf"} <= set(OPTIONS["optim"])
    assert {"standard", "minimax", "wgan", "hinge"} <= set(OPTIONS["loss"])
    assert {"gaussian_mu2", "gaussian_mu4", "gaussian_mu6", "gaussian_sigma05", "mog_r2",
            "mog_r10", "mog_numerics"} <= set(EXPERIMENTS)


GLOBAL_GROUPS = {"experiment", "sweep", "quick", "variant"}   # presets at the top level, tested below


LONG = pytest.mark.long   # the rest of a product: `make test-long`


def _compose_cases():
    """Every option of every group; the options of the game-independent groups with every dataset,
    one pairing per option in `make test` (the datasets taken in turn), the rest in the long tier."""
    for group in GROUPS:
        if group in GLOBAL_GROUPS:
            continue
        for i, option in enumerate(OPTIONS[group]):
            if group == "arch":  # each architecture belongs to one game
                data = {"linear": "gaussian", "fullrank": "gaussian", "mlp": "mog"}.get(option, "fake_images")
                yield pytest.param((f"dataset={data}", f"arch={option}"), id=f"arch={option}")
            elif group == "dataset":
                yield pytest.param((f"dataset={option}",), id=f"dataset={option}")
            else:
                datasets = OPTIONS["dataset"]
                for j, data in enumerate(datasets):
                    yield pytest.param((f"dataset={data}", f"{group}={option}"),
                                       id=f"{group}={option}-{data}",
                                       marks=() if j == i % len(datasets) else LONG)


@pytest.mark.parametrize("overrides", list(_compose_cases()))
def test_every_group_option_composes_and_validates(overrides):
    cfg = make_cfg(*overrides)
    assert isinstance(validate(cfg), Checked)
    for ov in overrides:
        group, option = ov.split("=")
        if group == "logger":
            assert cfg.logger.mode == {"none": "disabled", "wandb": "offline"}[option]
        elif group == "launcher":  # a launcher only sets Hydra's launcher (checked below)
            continue
        else:
            assert cfg[group].name == option


# the quick preset of each paper sweep (as the Makefile pairs them)
SWEEP_QUICK = {"fig5": "gauss", "fig6": "gauss", "onesided": "gauss", "fig7": "mog", "fig8": "mog",
               "spectra": "spectra", "table1": "table1", "digits": "digits",
               # the Numerics supplement's Figs. 6-7, 8, 9, 10, 11, 12, 13, 14
               **{s: "numerics" for s in ("numerics", "numerics_dense", "numerics_divergence",
                                          "numerics_resnet", "numerics_losses", "numerics_altgd_lr",
                                          "numerics_lr", "numerics_gamma")}}


def test_every_sweep_has_a_quick_preset():
    assert set(SWEEP_QUICK) == set(OPTIONS["sweep"])
    assert set(SWEEP_QUICK.values()) == set(OPTIONS["quick"])


def sweep_points(sweep: str, quick: bool) -> list[list[str]]:
    """Every value of every axis of a sweep at least once (each axis's values with the other axes at
    their first value), from the composed sweep config, as Hydra's basic sweeper gets its params."""
    from fnmatch import fnmatch

    extra = [f"quick={SWEEP_QUICK[sweep]}"] if quick else []
    primary = "analyze" if sweep == "spectra" else "train"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        master = compose(primary, overrides=[f"sweep={sweep}", *extra], return_hydra_config=True)
    axes = []
    for key, values in master.hydra.sweeper.params.items():
        values = str(values)
        if values.startswith("glob("):
            pattern = values[5:-1]
            vals = [o for o in OPTIONS[key.lstrip("+")] if fnmatch(o, pattern)]
        elif values.startswith("["):
            vals = [values]
        else:
            vals = values.split(",")
        axes.append([f"{key}={v}" for v in vals])
    first = [vals[0] for vals in axes]
    points = [first]
    for i, vals in enumerate(axes):
        points += [first[:i] + [v] + first[i + 1:] for v in vals[1:]]
    return [[f"sweep={sweep}", *extra, *p] for p in points]


@pytest.mark.parametrize("quick", [pytest.param(False, marks=LONG),
                                   pytest.param(True, marks=LONG)], ids=["full", "quick"])
@pytest.mark.parametrize("sweep", OPTIONS["sweep"])
def test_every_sweep_point_composes_and_validates(sweep, quick):
    from gantrain import analyze

    points = sweep_points(sweep, quick)
    assert len(points) >= 2
    for point in points:
        if sweep == "spectra":
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                cfg = compose("analyze", overrides=["logger=none", *point])
            analyze.check_config(cfg)
        else:
            cfg = make_cfg(*point)
            validate(cfg)
        if quick and sweep in ("fig7", "fig8"):
            assert cfg.seed == 0 and cfg.steps == 1500


@pytest.mark.parametrize("variant", [v for v in OPTIONS["variant"] if not v.startswith("numerics_")])
def test_every_variant_composes(variant):
    """JARE Fig. 7/8's methods (<method><gamma>); the numerics_* variants (Numerics Fig. 11's
    pairs) are checked in tests/config/test_numerics_presets.py."""
    cfg = make_cfg("experiment=mog_r2", f"+variant={variant}")
    validate(cfg)
    method = variant.rstrip("0123456789")
    assert cfg.method.name == method and cfg.gamma == float(variant[len(method):] or 0)


def test_defaults_compose_and_validate():
    cfg = make_cfg()
    validate(cfg)
    assert (cfg.dataset.name, cfg.arch.name, cfg.method.name) == ("mog", "mlp", "simgd")


def test_gaussian_dataset_brings_its_game():
    cfg = make_cfg("dataset=gaussian")
    assert (cfg.arch.name, cfg.loss.name, cfg.optim.name) == ("linear", "minimax", "sgd")
    assert cfg.optim.lr == 1e-3 and cfg.steps == 15000
    # command-line overrides still win over what the dataset option sets
    cfg = make_cfg("dataset=gaussian", "optim=adam", "loss=wgan", "eta=0.05", "steps=7")
    validate(cfg)
    assert (cfg.optim.name, cfg.loss.name, cfg.optim.lr, cfg.steps) == ("adam", "wgan", 0.05, 7)


def _preset_method_pairs():
    """Every preset with every rule: in `make test` each preset once, the rules taken in turn
    (so every rule too, with several presets); the rest of the product in the long tier."""
    for i, experiment in enumerate(EXPERIMENTS):
        for j, method in enumerate(METHODS):
            yield pytest.param(experiment, method, id=f"{experiment}-{method}",
                               marks=() if j == i % len(METHODS) else LONG)


@pytest.mark.parametrize("experiment,method", list(_preset_method_pairs()))
def test_every_preset_composes_with_every_method(experiment, method):
    cfg = make_cfg(f"experiment={experiment}", f"method={method}")
    assert isinstance(validate(cfg), Checked)
    assert cfg.method.name == method
    expected = {"gaussian": "gaussian", "mog": "mog", "cifar": "cifar10", "numerics": "cifar10",
                "celeba": "celeba",
                "imagenet": "imagenet", "stacked": "stacked_digits"}[experiment.split("_")[0]]
    assert cfg.dataset.name == expected


CIFAR_SETTINGS = {  # JARE Table 1 / docs/experiments.md §C: setting -> (arch, optimizer)
    "a": ("conv4", "adam"), "b": ("conv4_nobn", "adam"), "c": ("dcgan4_nobn", "adam"),
    "d": ("dcgan4_nobn", "rmsprop_tf"), "e": ("resnet_v1", "adam"), "f": ("resnet_v2", "adam"),
}
CIFAR_METHODS = {"gan": ("simgd", False), "sngan": ("simgd", True), "conopt": ("conopt", False),
                 "jare": ("jare", False)}


@pytest.mark.slow
@pytest.mark.parametrize("setting", sorted(CIFAR_SETTINGS))
@pytest.mark.parametrize("compared", sorted(CIFAR_METHODS))
def test_cifar_presets_hold_the_papers_values(setting, compared):
    cfg = make_cfg(f"experiment=cifar_{setting}_{compared}")
    validate(cfg)
    arch, optim = CIFAR_SETTINGS[setting]
    method, sn = CIFAR_METHODS[compared]
    names = (cfg.dataset.name, cfg.arch.name, cfg.optim.name, cfg.method.name)
    assert names == ("cifar10", arch, optim, method)
    assert cfg.arch.spectral_norm is sn and cfg.arch.filters == 64 and cfg.arch.z_dim == 128
    if method != "simgd":
        assert cfg.gamma == {"conopt": 10, "jare": 100}[method]
    if optim == "adam":
        assert list(cfg.optim.betas) == [0.5, 0.999]
    assert cfg.eta == cfg.optim.lr == 1e-4 and cfg.batch_size == 64 and cfg.steps == 500000
    assert (cfg.eval.every, cfg.eval.num_samples, cfg.eval.fid_num_samples, cfg.eval.reference_num_images,
            cfg.eval.splits) == (5000, 50000, 12800, 12800, 10)


@pytest.mark.parametrize("optim", OPTIONS["optim"])
def test_eta_drives_the_learning_rate(optim):
    cfg = make_cfg(f"optim={optim}", "eta=0.0123")
    validate(cfg)
    assert cfg.optim.lr == 0.0123
    assert OmegaConf.to_container(cfg, resolve=True)["optim"]["lr"] == 0.0123
    # also on top of a preset that sets its own eta
    cfg = make_cfg("experiment=mog_r2", f"optim={optim}", "eta=0.5")
    assert cfg.optim.lr == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_preset_eta_reaches_the_optimizer(experiment):
    cfg = make_cfg(f"experiment={experiment}")
    assert cfg.optim.lr == cfg.eta


# --- the papers' values (docs/experiments.md §A, §B) ----------------------------------------------
GAUSSIAN_PRESETS = {"gaussian_mu2": (2.0, 0.2), "gaussian_mu4": (4.0, 0.2),
                    "gaussian_mu6": (6.0, 0.2), "gaussian_sigma05": (2.0, 0.5)}


@pytest.mark.parametrize("experiment", sorted(GAUSSIAN_PRESETS))
def test_gaussian_presets_hold_the_papers_values(experiment):
    cfg = make_cfg(f"experiment={experiment}")
    mu, sigma = GAUSSIAN_PRESETS[experiment]
    d = cfg.dataset
    assert (d.name, d.mu, d.sigma, d.dim, d.init_offset) == ("gaussian", mu, sigma, 2, 0.05)
    assert d.init_phi is None and d.init_theta is None
    assert (cfg.arch.name, cfg.loss.name) == ("linear", "minimax")
    assert cfg.optim.name == "sgd" and cfg.optim.momentum == 0
    assert cfg.eta == cfg.optim.lr == 1e-3
    assert cfg.gamma == 10 and cfg.batch_size == 128 and cfg.steps == 15000
    assert cfg.method.name == "simgd"   # the rule is picked on the command line


MOG_PRESETS = {
    # name: radius, std, z_dim, z_std, depth, width, loss, batch, steps
    "mog_r2": (2.0, 0.06, 64, 2.0, 4, 256, "minimax", 128, 20000),
    "mog_r10": (10.0, 0.06, 64, math.sqrt(20), 4, 256, "minimax", 128, 20000),
    "mog_numerics": (1.0, 0.01, 16, 1.0, 4, 16, "standard", 512, 50000),
}


@pytest.mark.parametrize("experiment", sorted(MOG_PRESETS))
def test_mog_presets_hold_the_papers_values(experiment):
    radius, std, z_dim, z_std, depth, width, loss, batch, steps = MOG_PRESETS[experiment]
    cfg = make_cfg(f"experiment={experiment}")
    assert (cfg.dataset.name, cfg.dataset.modes, cfg.dataset.radius) == ("mog", 8, radius)
    assert cfg.dataset.std == std
    assert (cfg.arch.name, cfg.arch.z_dim, cfg.arch.depth, cfg.arch.width) == \
        ("mlp", z_dim, depth, width)
    assert cfg.arch.z_std == pytest.approx(z_std, rel=1e-12)
    assert cfg.loss.name == loss
    o = cfg.optim
    assert (o.name, o.decay, o.eps, o.initial_accumulator) == ("rmsprop_tf", 0.9, 1e-10, 1.0)
    assert cfg.eta == o.lr == 1e-4
    assert cfg.gamma == 10 and cfg.batch_size == batch and cfg.steps == steps


@pytest.mark.parametrize("experiment", ["mog_r2", "mog_r10"])
def test_jare_mog_presets_draw_the_figures_iterations(experiment):
    cfg = make_cfg(f"experiment={experiment}")
    assert list(cfg.eval.image_steps) == [0, 2000, 4000, 6000, 8000, 10000]
    # z ~ N(0, 2r I): the std is sqrt(2r)
    assert cfg.arch.z_std ** 2 == pytest.approx(2 * cfg.dataset.radius)


def test_command_line_overrides_win_over_presets():
    cfg = make_cfg("experiment=gaussian_mu6", "method=jare", "gamma=1", "steps=10",
                   "dataset.sigma=0.3", "batch_size=64")
    validate(cfg)
    assert (cfg.method.name, cfg.gamma, cfg.steps, cfg.dataset.sigma, cfg.batch_size) == \
        ("jare", 1, 10, 0.3, 64)
    assert cfg.dataset.mu == 6


# --- validation errors -----------------------------------------------------------------------
BAD = [
    # (overrides, the key the message must name)
    (("gamma=-1",), "gamma"),
    (("gamma=abc",), "gamma"),
    (("gamma=nan",), "gamma"),
    (("eta=0",), "optim.lr"),
    (("eta=-1e-3",), "optim.lr"),
    (("dataset=gaussian", "eta=0"), "eta"),
    (("optim=adam", "optim.lr=0"), "optim.lr"),
    (("steps=0",), "steps"),
    (("steps=1.5",), "steps"),
    (("batch_size=0",), "batch_size"),
    (("batch_size=true",), "batch_size"),
    (("log_every=0",), "log_every"),
    (("checkpoint_every=-5",), "checkpoint_every"),
    (("seed=1.5",), "seed"),
    (("device=tpu",), "device"),
    (("dtype=float16",), "dtype"),
    (("resume=no",), "resume"),
    (("progress=3",), "progress"),
    (("dataset.modes=0",), "dataset.modes"),
    (("dataset.radius=0",), "dataset.radius"),
    (("dataset.std=-1",), "dataset.std"),
    (("dataset=gaussian", "dataset.sigma=0"), "dataset.sigma"),
    (("dataset=gaussian", "dataset.dim=0"), "dataset.dim"),
    (("dataset=gaussian", "dataset.init_phi=[1,2,3]"), "dataset.init_phi"),
    (("dataset=gaussian", "dataset.init_theta=[1]"), "dataset.init_theta"),
    (("dataset=gaussian", "dataset.mu=abc"), "dataset.mu"),
    (("dataset.name=bogus",), "dataset.name"),
    (("arch.depth=-1",), "arch.depth"),
    (("arch.width=0",), "arch.width"),
    (("arch.width=abc",), "arch.width"),
    (("arch.z_dim=0",), "arch.z_dim"),
    (("arch.z_std=0",), "arch.z_std"),
    (("arch=linear",), "arch"),                       # mog needs the MLP
    (("dataset=gaussian", "arch=mlp"), "arch"),       # the Gaussian game is linear
    (("loss.name=bogus",), "loss.name"),
    (("optim.name=bogus",), "optim.name"),
    (("optim=sgd", "optim.momentum=1"), "optim.momentum"),
    (("optim=adam", "optim.betas=[0.9]"), "optim.betas"),
    (("optim=adam", "optim.betas=[0.9,1.0]"), "optim.betas"),
    (("optim=adam", "optim.eps=0"), "optim.eps"),
    (("optim=rmsprop", "optim.alpha=1"), "optim.alpha"),
    (("optim=rmsprop", "optim.momentum=-0.1"), "optim.momentum"),
    (("optim=rmsprop_tf", "optim.decay=0"), "optim.decay"),
    (("optim=rmsprop_tf", "optim.eps=0"), "optim.eps"),
    (("optim=rmsprop_tf", "optim.initial_accumulator=-1"), "optim.initial_accumulator"),
    (("method.name=bogus",), "method.name"),
    (("+method.foo=1",), "method.foo"),
    (("method=altgd", "method.d_steps=0"), "method.d_steps"),
    (("method=altgd", "method.g_steps=0"), "method.g_steps"),
    (("method=altgd", "method.d_first=maybe"), "method.d_first"),
    (("method=jare", "method.regularizer_estimate=foo"), "method.regularizer_estimate"),
    (("method=conopt", "method.regularizer_estimate=unbiased", "batch_size=7"), "batch_size"),
    (("logger.mode=sometimes",), "logger.mode"),
    (("~logger",), "logger"),
    (("divergence.max_param_norm=0",), "divergence.max_param_norm"),
    (("+divergence.foo=1",), "divergence.foo"),
    (("eval.num_samples=0",), "eval.num_samples"),
    (("eval.std_multiple=0",), "eval.std_multiple"),
    (("eval.mode_min_share=2",), "eval.mode_min_share"),
    (("eval.image_steps=[a]",), "eval.image_steps"),
    (("eval.seed=abc",), "eval.seed"),
    (("analysis.every=-1",), "analysis.every"),
    (("analysis.mode=nope",), "analysis.mode"),
    (("analysis.batches=0",), "analysis.batches"),
    (("analysis.k=0",), "analysis.k"),
    (("analysis.eps=0",), "analysis.eps"),
    (("analysis.compare=[simgd,nope]",), "analysis.compare"),
    (("analysis.gammas=[1,-2]",), "analysis.gammas"),
]


@pytest.mark.slow
@pytest.mark.parametrize("overrides,key", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_validate_rejects_bad_values_in_one_line(overrides, key):
    cfg = make_cfg(*overrides)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    msg = str(e.value)
    assert msg and "\n" not in msg
    assert key in msg


def test_unbiased_estimate_with_even_batch_is_valid():
    validate(make_cfg("method=jare", "method.regularizer_estimate=unbiased", "batch_size=64"))


@pytest.mark.parametrize("launcher,target", [
    ("basic", "BasicLauncher"), ("joblib", "JoblibLauncher"), ("slurm", "SlurmLauncher")])
def test_launchers_select_hydras_launcher(launcher, target):
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "slurm":   # GPU request, time limit, requeue on preemption
        assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.max_num_timeout > 0


def test_top_level_keys_are_the_configs_own():
    """validate refuses keys outside TOP_LEVEL_KEYS: that set must be exactly what train.yaml and
    analyze.yaml compose to, or a real key would be refused (or a stray one let through)."""
    from hydra import compose, initialize_config_dir

    from gantrain.cli import CONFIG_DIR
    from gantrain.config.schema import TOP_LEVEL_KEYS

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        analyze = compose("analyze", overrides=["logger=none"])
    assert set(make_cfg().keys()) | set(analyze.keys()) == set(TOP_LEVEL_KEYS)


# --- each default written once ----------------------------------------------------------------
def _schema_defaults(schema) -> dict:
    from dataclasses import MISSING, fields

    return {f.name: f.default if f.default_factory is MISSING else f.default_factory()
            for f in fields(schema) if f.default is not MISSING or f.default_factory is not MISSING}


def _yaml_sections():
    """(file, section, schema) for every yaml file that sets keys a schema dataclass defaults."""
    from gantrain.config.schema import SECTIONS
    from gantrain.config.store import option_schemas

    for group, schemas in option_schemas().items():
        for path in sorted((CONF / group).glob("*.yaml")):
            data = OmegaConf.to_container(OmegaConf.load(path))
            section = data.get(group, {}) if "@package _global_" in path.read_text() else data
            # eval=numerics and logger=none extend the group's one schema
            schema = schemas.get(path.stem) or next(iter(schemas.values()))
            yield path, {k: v for k, v in section.items() if k != "defaults"}, schema
    train = OmegaConf.to_container(OmegaConf.load(CONF / "train.yaml"))
    for key, schema in SECTIONS.items():
        yield CONF / "train.yaml", train.get(key, {}), schema


def test_no_yaml_repeats_a_schema_default():
    """A default lives in its dataclass only (gantrain.config.store puts it in every composed
    config): a yaml file that sets a key to the value its schema already gives is a second copy,
    which would go stale when the dataclass changes."""
    copies = []
    for path, section, schema in _yaml_sections():
        defaults = _schema_defaults(schema)
        copies += [f"{path.relative_to(CONF)}: {k}: {v!r}" for k, v in section.items()
                   if k != "name" and k in defaults and v == defaults[k]]
    assert not copies, "\n".join(copies)
