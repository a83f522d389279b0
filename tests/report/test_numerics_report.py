"""inception_score.png (Numerics of GANs Figs. 7, 8, 12-14): Inception score over iterations, one
panel per architecture/loss, one line per method, mean ± std over seeds; losses.png (Fig. 11): D and
G loss (and the score) over iterations; both from synthetic run directories whose numbers are known.
The report says why when every score is null; the smoothing optimizers are labelled by where they
come from; a numerics sweep's figures carry the supplement's figure numbers."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from gantrain.report import image_curves
from gantrain.report.cli import build_report

ARCHS = ("dcgan4", "dcgan3")
METHODS = ("simgd", "conopt", "jare_d")
SEEDS = (0, 1, 2)
STEPS = (0, 1000, 2000, 3000)
MISSING = "Inception weights not found: put pt_inception-2015-12-05-6726825d.pth in /nowhere"


def score(arch: str, method: str, seed: int, step: int) -> float:
    base = {"dcgan4": 2.0, "dcgan3": 1.0}[arch] + {"simgd": 0.0, "conopt": 1.5, "jare_d": 0.7}[method]
    return base + step / 1000 * 0.3 + 0.11 * seed * seed - 0.05 * seed * (step / 1000)


def loss(player: str, arch: str, method: str, seed: int, step: int) -> float:
    base = {"d": 1.3, "g": 0.7}[player] + {"dcgan4": 0.0, "dcgan3": 0.2}[arch] + 0.1 * len(method)
    return base + 0.05 * seed * seed - 0.01 * (step / 1000) * (seed + 1)


def write_run(run: Path, arch: str, method: str, seed: int, scores: dict[int, float | None],
              status: str = "completed", missing: str | None = None) -> None:
    run.mkdir(parents=True)
    cfg = {"dataset": {"name": "fake_images", "resolution": 32}, "arch": {"name": arch, "filters": 4},
           "method": {"name": method}, "loss": {"name": "standard"}, "gamma": 10.0, "eta": 1e-4,
           "seed": seed, "steps": max(STEPS),
           "eval": {"name": "numerics", "num_samples": 6400, "splits": 10, "every": 1000}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    records = [{"step": s, "loss_d": loss("d", arch, method, seed, s),
                "loss_g": loss("g", arch, method, seed, s), "inception_score": v, "fid": None,
                **({"missing": missing} if missing else {})} for s, v in scores.items()]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    last = records[-1]
    (run / "summary.json").write_text(json.dumps({
        "status": status, "steps_done": max(STEPS), "method": method, "gamma": 10.0, "seed": seed,
        "metrics": {"inception_score": last["inception_score"], "fid": None,
                    **({"missing": missing} if missing else {})}}))


@pytest.fixture()
def runs(tmp_path):
    root, job = tmp_path / "numerics", 0
    for arch in ARCHS:
        for method in METHODS:
            for seed in SEEDS:
                scores = {s: score(arch, method, seed, s) for s in STEPS}
                if (arch, method, seed) == ("dcgan3", "conopt", 2):
                    scores[2000] = None            # an evaluation that could not be scored
                write_run(root / str(job), arch, method, seed, scores)
                job += 1
    # a failed run without metrics: counted in the table, never in the curves
    (root / str(job) / ".hydra").mkdir(parents=True)
    (root / str(job) / ".hydra" / "overrides.yaml").write_text(
        "- arch=dcgan4\n- method=simgd\n- seed=9\n")
    return root


def expected(arch: str, method: str):
    """Mean and sample std over seeds at each step, skipping the null score."""
    means, stds = [], []
    for s in STEPS:
        vals = [score(arch, method, seed, s) for seed in SEEDS
                if not ((arch, method, seed) == ("dcgan3", "conopt", 2) and s == 2000)]
        means.append(statistics.fmean(vals))
        stds.append(statistics.stdev(vals))
    return means, stds


@pytest.mark.slow
def test_inception_score_figure_plots_the_seed_means(runs, tmp_path, monkeypatch):
    drawn = {}
    save = image_curves.save_figure

    def capture(plt, fig, path, title, legend_rows=0):
        if Path(path).name == "inception_score.png":
            drawn["axes"] = [(ax.get_title(), [(ln.get_xdata(), ln.get_ydata(), ln.get_color())
                                               for ln in ax.get_lines()],
                              len(ax.collections)) for ax in fig.axes if ax.get_visible()
                             and ax.axison]
            drawn["legend"] = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
            drawn["title"] = title
        return save(plt, fig, path, title, legend_rows)

    monkeypatch.setattr(image_curves, "save_figure", capture)
    result = build_report(runs, tmp_path / "out", name="numerics")
    d = result["dir"]
    assert (d / "inception_score.png").stat().st_size > 10_000
    assert "inception_score.json" in result["files"]
    # the figure itself: a panel per architecture, a line per method at the seed means
    panels = {title: lines for title, lines, _ in drawn["axes"]}
    assert set(panels) == {"arch = dcgan3", "arch = dcgan4"}
    for arch in ARCHS:
        lines = panels[f"arch = {arch}"]
        assert len(lines) == len(METHODS)
        for (x, y, c), method in zip(lines, METHODS):     # methods in the report's order
            assert c == image_curves.color(method)
            np.testing.assert_array_equal(x, STEPS)
            np.testing.assert_allclose(y, expected(arch, method)[0], rtol=1e-12)
    assert all(n == len(METHODS) for _, _, n in drawn["axes"])     # one std band per line
    assert "jare_d (smoothing, released code)" in drawn["legend"]
    assert "6400 samples, 10 splits" in drawn["title"] and "standard deviation" in drawn["title"]
    # the plotted numbers, written beside the figure
    data = json.loads((d / "inception_score.json").read_text())
    for panel in data["panels"]:
        arch = panel["title"].split(" = ")[1]
        for line in panel["lines"]:
            mean, std = expected(arch, line["method"])
            assert line["steps"] == list(STEPS) and line["seeds"] == 3
            np.testing.assert_allclose(line["mean"], mean, rtol=1e-12)
            np.testing.assert_allclose(line["std"], std, rtol=1e-9)
    summary = (d / "summary.md").read_text()
    assert "[inception_score.png](inception_score.png)" in summary


def test_a_single_seed_draws_no_band(tmp_path):
    root = tmp_path / "one"
    for i, method in enumerate(METHODS):
        write_run(root / str(i), "dcgan4", method, 0, {s: score("dcgan4", method, 0, s) for s in STEPS})
    result = build_report(root, tmp_path / "out")
    data = json.loads((result["dir"] / "inception_score.json").read_text())
    (panel,) = data["panels"]
    assert all(line["std"] == [None] * len(STEPS) and line["seeds"] == 1 for line in panel["lines"])


def test_null_scores_are_reported_not_drawn(tmp_path):
    root = tmp_path / "quick"
    for i, method in enumerate(("simgd", "conopt_d", "jare_d")):
        write_run(root / str(i), "dcgan4", method, 0, {s: None for s in STEPS}, missing=MISSING)
    result = build_report(root, tmp_path / "out", name="quick")
    d = result["dir"]
    assert not (d / "inception_score.png").exists() and not (d / "inception_score.json").exists()
    summary = (d / "summary.md").read_text()
    line = next(x for x in summary.splitlines() if x.startswith("- inception_score.png not made"))
    assert "no run logged an Inception score" in line and MISSING in line
    # losses.png keeps Fig. 11's score panel, empty, when the runs evaluated but scored nothing
    losses = json.loads((d / "losses.json").read_text())
    assert losses["metrics"] == ["loss_d", "loss_g", "inception_score"]
    (row,) = losses["rows"]
    assert [len(p["lines"]) for p in row["panels"]] == [3, 3, 0]
    # in a numerics sweep's report the missing figure says which of the supplement's it is
    summary = (build_report(root, tmp_path / "out", name="numerics_dense")["dir"] / "summary.md").read_text()
    assert "- inception_score.png (Numerics Fig. 8) not made: no run logged an Inception score" in summary
    # the smoothing optimizers say where they come from; the CSV keeps the bare names
    table = (d / "table.md").read_text()
    assert "conopt_d (smoothing, the supplement's text)" in table
    assert "jare_d (smoothing, released code)" in table
    rows = list(csv.DictReader((d / "table.csv").open()))
    assert {r["method"] for r in rows} == {"simgd", "conopt_d", "jare_d"}


# --- losses.png (Numerics Fig. 11) and the figure numbers ---------------------------------------
def loss_stats(player: str, arch: str, method: str, seeds=SEEDS):
    """Mean and sample std over seeds at each step, by the statistics module."""
    vals = [[loss(player, arch, method, seed, s) for seed in seeds] for s in STEPS]
    return [statistics.fmean(v) for v in vals], [statistics.stdev(v) for v in vals]


def capture_titles(monkeypatch) -> dict:
    titles = {}
    save = image_curves.save_figure

    def capture(plt, fig, path, title, legend_rows=0):
        titles[Path(path).name] = title
        return save(plt, fig, path, title, legend_rows)

    monkeypatch.setattr(image_curves, "save_figure", capture)
    return titles


def test_losses_figure_in_fig11_layout(tmp_path, monkeypatch):
    """ConOpt without batch norm against AltGD with it: one row, panels (a) D loss, (b) G loss,
    (c) Inception score, a line per run setting at the seed means."""
    root = tmp_path / "numerics_losses"
    job = 0
    for method, bn in (("conopt", False), ("altgd", True)):
        for seed in SEEDS:
            write_run(root / str(job), "dcgan4", method, seed,
                      {s: score("dcgan4", "conopt", seed, s) for s in STEPS})
            cfg = yaml.safe_load((root / str(job) / "config.yaml").read_text())
            cfg["arch"]["batch_norm"] = bn
            (root / str(job) / "config.yaml").write_text(yaml.safe_dump(cfg))
            job += 1
    titles = capture_titles(monkeypatch)
    result = build_report(root, tmp_path / "out")           # the name comes from the folder
    d = result["dir"]
    assert (d / "losses.png").stat().st_size > 10_000 and "losses.json" in result["files"]
    data = json.loads((d / "losses.json").read_text())
    assert data["metrics"] == ["loss_d", "loss_g", "inception_score"]
    assert data["label"] == "Numerics Fig. 11" and titles["losses.png"].startswith("Numerics Fig. 11.")
    (row,) = data["rows"]
    for panel in row["panels"][:2]:
        player = panel["metric"][-1]
        assert len(panel["lines"]) == 2
        for line in panel["lines"]:
            method = line["method"]
            assert ("batch_norm = false" in line["label"]) == (method == "conopt")
            mean, std = loss_stats(player, "dcgan4", method)
            assert line["steps"] == list(STEPS) and line["seeds"] == 3
            np.testing.assert_allclose(line["mean"], mean, rtol=1e-12)
            np.testing.assert_allclose(line["std"], std, rtol=1e-9)
    is_means = {ln["method"]: ln["mean"] for ln in row["panels"][2]["lines"]}
    np.testing.assert_allclose(is_means["altgd"], expected("dcgan4", "conopt")[0], rtol=1e-12)
    summary = (d / "summary.md").read_text()
    assert "- [losses.png](losses.png): Numerics Fig. 11: (a) discriminator loss" in summary


@pytest.mark.slow
def test_losses_a_row_per_net_and_the_lr_sweep_is_fig13(runs, tmp_path, monkeypatch):
    titles = capture_titles(monkeypatch)
    d = build_report(runs, tmp_path / "out", name="numerics_lr")["dir"]
    data = json.loads((d / "losses.json").read_text())
    assert [row["title"] for row in data["rows"]] == ["arch = dcgan3", "arch = dcgan4"]
    for row in data["rows"]:
        arch = row["title"].split(" = ")[1]
        for panel in row["panels"][:2]:
            assert [ln["method"] for ln in panel["lines"]] == list(METHODS)
            for line in panel["lines"]:
                mean, _ = loss_stats(panel["metric"][-1], arch, line["method"])
                np.testing.assert_allclose(line["mean"], mean, rtol=1e-12)
    # numerics_lr is the supplement's Fig. 13; its loss figure is not one of the supplement's
    assert titles["inception_score.png"].startswith("Numerics Fig. 13. fake_images")
    assert titles["losses.png"].startswith("fake_images: discriminator and generator loss")
    summary = (d / "summary.md").read_text()
    assert "[inception_score.png](inception_score.png): Numerics Fig. 13: the learning rate" in summary
    assert "Numerics Fig. 11:" not in summary
    # any other name: the generic captions, no figure number
    d2 = build_report(runs, tmp_path / "out", name="mine")["dir"]
    assert "Numerics Fig." not in (d2 / "summary.md").read_text()
    assert titles["inception_score.png"].startswith("fake_images: Inception score")


def test_every_numerics_sweep_has_the_figure_numbers_its_config_names():
    """The report's figure numbers and the sweep files' headers name the same figure."""
    import re

    from gantrain.cli import CONFIG_DIR
    from gantrain.report.numerics import NUMERICS_FIGURES

    sweeps = {p.stem: p for p in (Path(CONFIG_DIR) / "sweep").glob("numerics*.yaml")}
    assert set(NUMERICS_FIGURES) == set(sweeps)
    for name, figs in NUMERICS_FIGURES.items():
        header = sweeps[name].read_text().splitlines()[1]
        first = re.search(r"Figs?\. (\d+)", header).group(1)
        labels = [label for label, _ in figs.values()]
        assert any(label == f"Numerics Fig. {first}" for label in labels), (name, header, labels)
        for fname, (label, caption) in figs.items():
            assert caption.startswith(label + ":")
            assert fname in ("image_samples.png", "inception_score.png", "losses.png")


def test_an_lr_sweep_draws_a_panel_per_net_and_a_line_per_lr(tmp_path):
    """Figs. 12-13's layout: the step size makes lines, the net panels (γ follows the net)."""
    root, job = tmp_path / "numerics_lr", 0
    for arch, gamma in (("dcgan3", 0.1), ("dcgan4", 10.0)):
        for eta in (5e-5, 1e-4, 2e-4):
            write_run(root / str(job), arch, "conopt", 0, {s: score(arch, "conopt", 0, s) + eta * 1e4
                                                           for s in STEPS})
            cfg = yaml.safe_load((root / str(job) / "config.yaml").read_text())
            cfg.update(eta=eta, gamma=gamma)
            (root / str(job) / "config.yaml").write_text(yaml.safe_dump(cfg))
            job += 1
    d = build_report(root, tmp_path / "out")["dir"]
    data = json.loads((d / "inception_score.json").read_text())
    assert data["label"] == "Numerics Fig. 13"
    assert [p["title"] for p in data["panels"]] == ["arch = dcgan3", "arch = dcgan4"]
    for panel, gamma in zip(data["panels"], ("0.1", "10")):
        assert [ln["label"] for ln in panel["lines"]] == [
            f"conopt, η={eta}, γ={gamma}" for eta in ("5e-05", "0.0001", "0.0002")]
        arch = panel["title"].split(" = ")[1]
        for line, eta in zip(panel["lines"], (5e-5, 1e-4, 2e-4)):
            np.testing.assert_allclose(line["mean"], [score(arch, "conopt", 0, s) + eta * 1e4
                                                      for s in STEPS], rtol=1e-12)
    rows = json.loads((d / "losses.json").read_text())["rows"]
    assert [row["title"] for row in rows] == ["arch = dcgan3", "arch = dcgan4"]
