"""A rule from another package: a throwaway package in a temporary folder, with one new rule and
its config (its ``Options`` dataclass), installed beside gantrain with no edit to gantrain
(docs/plugins.md, "Adding an update rule").

It registers the rule in the ``gantrain.rules`` entry-point group; gantrain.config.store makes its
config group option ``method=scaled_simgd`` from its Options. Then, with nothing else changed: it
trains, ``gantrain-analyze`` gives its spectrum (twice SimGD's, as its maths says) and phase
diagram, a bad option is refused in one line, the compose-every-config test covers it, and the quick
zoo runs it and reports it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NAME = "scaled_simgd"

# The package, file by file: what docs/plugins.md shows.
FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "gantrain-scaled-simgd"
        version = "0.1.0"

        [project.entry-points."gantrain.rules"]
        scaled_simgd = "scaled_rule.rule:ScaledSimGD"

        [tool.setuptools.packages.find]
        include = ["scaled_rule*"]
        """,
    "scaled_rule/__init__.py": "",
    "scaled_rule/rule.py": '''
        """`scaled_simgd`: SimGD with both directions multiplied by ``scale``."""
        from dataclasses import dataclass

        from gantrain.rules.options import MethodOptions, check
        from gantrain.rules.simgd import SimGD


        @dataclass
        class ScaledOptions(MethodOptions):
            scale: float = 2.0

            def __post_init__(self):
                check(self.scale > 0, "method.scale", self.scale, "must be > 0")


        class ScaledSimGD(SimGD):
            name = "scaled_simgd"
            Options = ScaledOptions
            plain_field = False
            color = "tab:orange"

            @classmethod
            def gaussian_quadratic(cls, s, gamma):
                return None   # its spectrum depends on an option: no closed form given

            def direction(self, *args, **kwargs):
                out = super().direction(*args, **kwargs)
                out.u_d = [self.scale * u for u in out.u_d]
                out.u_g = [self.scale * u for u in out.u_g]
                return out
        ''',
}

pytestmark = pytest.mark.long


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """The package built and installed into a folder of its own, put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("plugin")
    src, site = root / "src", root / "site"
    for rel, text in FILES.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(site), str(src)],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "WANDB_MODE": "disabled"}
    return {"env": env, "root": root}


def run(plugin_env, module: str, *args: str, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=600, env=plugin_env["env"], cwd=cwd or plugin_env["root"])


def test_the_plugin_rule_trains(plugin_env, tmp_path):
    out = run(plugin_env, "gantrain.cli", f"method={NAME}", "dataset=gaussian", "steps=20",
              "log_every=10", "checkpoint_every=20", "logger=none", "progress=false",
              f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed"


def test_under_launcher_ensemble_the_plugin_rule_runs_its_own_code(plugin_env, tmp_path):
    """The plugin is written once (its own ``direction``, over SimGD's): launcher=ensemble packs
    its jobs into one ensemble and runs that code over the stacked members, so a member equals its
    single run (an ensemble running SimGD's code without the scale would be off by 3×)."""
    common = [f"method={NAME}", "method.scale=3.0", "dataset=gaussian", "steps=20",
              "log_every=10", "checkpoint_every=20", "logger=none", "progress=false"]
    single = run(plugin_env, "gantrain.cli", *common, "seed=1", f"hydra.run.dir={tmp_path / 'one'}")
    assert single.returncode == 0, single.stderr[-3000:]
    sweep = run(plugin_env, "gantrain.cli", "-m", "launcher=ensemble", "hydra.launcher.size=2",
                *common, "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    log = sweep.stderr + sweep.stdout
    assert "launching 2 jobs as 1 groups" in log and "invalid with launcher=ensemble" not in log
    got = json.loads((tmp_path / "sweep" / "1" / "summary.json").read_text())
    want = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert got["status"] == want["status"] == "completed"
    numbers = {k: v for k, v in want["metrics"].items() if isinstance(v, float) and k != "step_time"}
    assert numbers and {k: got["metrics"][k] for k in numbers} == pytest.approx(numbers, rel=1e-5)


def test_the_plugin_rule_gets_its_spectrum_and_phase_diagram(plugin_env, tmp_path):
    common = [f"method={NAME}", "dataset=gaussian", "logger=none", "progress=false",
              "analysis.compare=[]", "analysis.gammas=[1.0]"]
    out = run(plugin_env, "gantrain.analyze", *common, "method.scale=3.0",
              f"hydra.run.dir={tmp_path / 'spectrum'}")
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads((tmp_path / "spectrum" / "spectrum.json").read_text())
    assert got["method"] == NAME and got["theory_eigenvalues"] is None
    # its field is 3·v: three times Theorem 1's SimGD spectrum (the defaults μ = 2, σ = 0.2, n = 2)
    from gantrain.analysis.theory import gaussian_eigenvalues

    want = 3 * gaussian_eigenvalues("simgd", 2.0, 0.2, 2, 0.0)
    ev = np.array([complex(*p) for p in got["eigenvalues"]])
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(want), atol=1e-8)

    out = run(plugin_env, "gantrain.analyze", *common, "analysis.mode=phase",
              "phase.lrs=[0.01,0.1]", "phase.gammas=[1.0]", "phase.steps=20",
              "phase.boundary_points=3", f"hydra.run.dir={tmp_path / 'phase'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "phase" / "phase.json").is_file()


def test_a_bad_plugin_option_is_refused_in_one_line(plugin_env, tmp_path):
    out = run(plugin_env, "gantrain.cli", f"method={NAME}", "method.scale=-1",
              f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-3000:]
    assert re.search(r"method\.scale=-1(\.0)? is invalid: must be > 0", lines[0]), lines


def test_the_compose_every_config_test_covers_the_plugin(plugin_env):
    test = "tests/config/test_compose.py::test_every_group_option_composes_and_validates"
    out = run(plugin_env, "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
              f"{test}[method={NAME}-gaussian]", f"{test}[method={NAME}-fake_images]", cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:]
    assert re.search(r"\b2 passed", out.stdout), out.stdout[-1000:]


def test_the_plugin_rule_is_in_the_quick_zoo_and_its_report(plugin_env, tmp_path):
    """``make zoo QUICK=1`` takes every registered rule: the plugin's too (here its DiracGAN part
    and its phase diagram beside SimGD's, to keep the test short), and the report lists it."""
    out = run(plugin_env, "gantrain.report.zoo", "run", str(tmp_path / "zoo"), "--quick",
              "--methods", f"simgd,{NAME}", "--parts", "dirac,phase", "--jobs", "1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "zoo" / "dirac" / NAME).is_dir()
    out = run(plugin_env, "gantrain.report.zoo", "report", str(tmp_path / "zoo"),
              "--out", str(tmp_path / "report"))
    assert out.returncode == 0, out.stderr[-3000:]
    report = (tmp_path / "report" / "summary.md").read_text()
    assert f"| {NAME} " in report or f"`{NAME}`" in report, report[:2000]
    names = subprocess.run(   # the plan's default: every registered rule
        [sys.executable, "-c", "from gantrain.report.zoo.plan import rule_names; "
         "print(' '.join(rule_names()))"], capture_output=True, text=True,
        env=plugin_env["env"], timeout=120).stdout.split()
    assert NAME in names and "simgd" in names, names
