"""`gantrain-report <multirun dir> [--name NAME] [--out outputs/report]`: a results table, the
papers' figures and a short summary from the run directories under a folder.

Writes under ``<out>/<name>/``: table.md, table.csv (spectra.csv for gantrain-analyze runs),
dynamics.png (Gaussian game), samples.png and modes.png (mixture of Gaussians), image_metrics.png,
image_samples.png, inception_score.png/.json and losses.png/.json (image GANs), spectra.png
(spectrum.json files) and summary.md. The report of a Numerics of GANs sweep (``--name`` numerics,
numerics_lr, ...) titles and captions its figures with the supplement's figure numbers (``numerics``).
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from functools import partial
from pathlib import Path

from gantrain.report import checks, digits, figures, image_curves, numerics, tables
from gantrain.report.collect import Run, Section, collect, is_image_section, sections
from gantrain.report.html import Figure, Table, esc, figures_html, page, table_html, write_page
from gantrain.report.html_runs import run_sections

log = logging.getLogger("gantrain.report")

FIGURE_TEXT = {
    "dynamics.png": "Gaussian game (JARE Fig. 5/6 layout): ‖θ − θ*‖ (top) and ‖φ − φ*‖ (bottom) "
                    "against iterations, one column per setting, one line per method, log scale; "
                    "✕ marks a divergence.",
    "samples.png": "Mixture of Gaussians (JARE Fig. 7/8 layout): generated samples, rows = "
                   "settings, columns = iterations.",
    "modes.png": "Mixture of Gaussians: modes covered and high-quality fraction against iterations.",
    "image_metrics.png": "Image GANs: Inception score and FID against iterations.",
    "image_samples.png": "Image GANs: the last sample grid of each run.",
    "inception_score.png": "Image GANs (Numerics of GANs Figs. 7, 8 layout): Inception score "
                           "against iterations, one panel per architecture/loss, one line per "
                           "method (mean over seeds, ± one standard deviation when several); the "
                           "plotted numbers in inception_score.json.",
    "losses.png": "Image GANs (Numerics of GANs Fig. 11 layout): discriminator and generator loss "
                  "(and the Inception score where logged) against iterations, mean over seeds "
                  "± one standard deviation; the plotted numbers in losses.json.",
    "digits_metrics.png": "Digits benchmark: modes covered, KL of the mode histogram from "
                          "uniform and digits-FD (the digits classifier's Fréchet distance) "
                          "against iterations, mean over seeds with a min-max band.",
    "spectra.png": "Eigenvalues of the update field's Jacobian in the complex plane, one panel per "
                   "analysed run; hollow circles: the theorems' eigenvalues.",
}


def _safe(what: str, fn, *args):
    """One figure that cannot be drawn must not cost the rest of the report."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        log.warning("could not draw %s: %s: %s", what, type(e).__name__, e)
        log.debug("%s", traceback.format_exc())
        return e


def make_figures(secs: list[Section], out: Path,
                 name: str | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """The figures that apply; returns (written name -> path, skipped name -> why). ``name``, the
    report's, picks the Numerics supplement's figure numbers for a numerics sweep's figures."""
    written: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    jobs = []
    by_dataset = {s.dataset: s for s in secs if s.kind == "train"}
    if "gaussian" in by_dataset:
        jobs.append(("dynamics.png", figures.dynamics, by_dataset["gaussian"],
                     "no logged distances"))
    if "mog" in by_dataset:
        jobs.append(("samples.png", figures.samples, by_dataset["mog"], "no sample images"))
        jobs.append(("modes.png", figures.modes, by_dataset["mog"], "no logged mode metrics"))
    image_secs = [s for s in secs if is_image_section(s)]
    for sec in image_secs:
        suffix = "" if len(image_secs) == 1 else f"_{sec.dataset}"
        jobs.append((f"image_metrics{suffix}.png", figures.image_metrics, sec,
                     "no Inception score or FID values in any run"))
        jobs.append((f"image_samples{suffix}.png",
                     partial(figures.image_samples,
                             label=numerics.figure_label(name, "image_samples.png")), sec,
                     "no sample grids"))
        reasons = image_curves.missing_reasons(sec)
        jobs.append((f"inception_score{suffix}.png",
                     partial(image_curves.inception_curves,
                             label=numerics.figure_label(name, "inception_score.png")), sec,
                     "no run logged an Inception score"
                     + (f" (the scores are null: {'; '.join(reasons)})" if reasons else "")))
        jobs.append((f"losses{suffix}.png",
                     partial(image_curves.loss_curves,
                             label=numerics.figure_label(name, "losses.png")), sec,
                     "no run logged loss_d or loss_g"))
    for sec in (s for s in secs if digits.is_digits_section(s)):
        suffix = "" if len(image_secs) == 1 else f"_{sec.dataset}"
        jobs.append((f"digits_metrics{suffix}.png", digits.digits_metrics, sec,
                     "no run logged the digits classifier's metrics"))
    spec = [s for s in secs if s.kind == "spectrum"]
    for sec in spec:
        suffix = "" if len(spec) == 1 else f"_{sec.dataset}"
        jobs.append((f"spectra{suffix}.png", figures.spectra, sec, "no readable spectrum.json"))
    for name, fn, sec, why in jobs:
        result = _safe(name, fn, sec, out / name)
        if isinstance(result, Path):
            written[name] = result
        elif isinstance(result, Exception):
            skipped[name] = f"error while drawing: {type(result).__name__}: {result}"
        else:
            skipped[name] = why
    return written, skipped


def figure_text(name: str | None, fname: str) -> str:
    """A figure's caption in summary.md: the Numerics supplement's figure where it is one, else the
    generic text of its kind."""
    caption = numerics.figure_caption(name, fname)
    if caption:
        return caption
    key = next((k for k in FIGURE_TEXT if fname == k or fname.startswith(k[:-4] + "_")), "")
    return FIGURE_TEXT.get(key, "")


def summary_md(name: str, source: Path, secs: list[Section], written: dict[str, Path],
               skipped: dict[str, str], table: str) -> str:
    runs = [r for s in secs for r in s.runs]
    train = [r for r in runs if r.kind == "train"]
    counts = {k: sum(r.status == k for r in train) for k in ("completed", "diverged", "failed")}
    parts = [f"# Report: {name}", "",
             f"{len(runs)} run directories under `{source}`: {len(train)} training runs "
             f"({counts['completed']} completed, {counts['diverged']} diverged, "
             f"{counts['failed']} failed)"
             + "".join(f", {n} {what}" for n, what in (
                 (sum(r.kind == "spectrum" for r in runs), "gantrain-analyze spectra"),
                 (sum(r.kind == "phase" for r in runs), "phase diagrams")) if n) + ".", ""]
    parts += ["## Figures", ""]
    for fname in written:
        parts.append(f"- [{fname}]({fname}): {figure_text(name, fname)}")
    for fname, why in skipped.items():
        label = numerics.figure_label(name, fname)
        parts.append(f"- {fname}{f' ({label})' if label else ''} not made: {why}.")
    if not written and not skipped:
        parts.append("- None apply to these runs.")
    parts += ["", "## Table", "", "(also table.md, table.csv)", ""]
    parts += [table.split("\n", 3)[3] if table.startswith("# ") else table]
    parts += ["## Checks", ""]
    for sec in secs:
        if sec.kind == "train" and sec.dataset == "gaussian":
            parts += [f"### {sec.title}", ""] + checks.gaussian_checks(sec)
        elif sec.kind == "train" and sec.dataset == "mog":
            parts += [f"### {sec.title}", ""] + checks.mog_checks(sec)
        elif is_image_section(sec):
            parts += [f"### {sec.title}", ""] + checks.image_checks(sec)
        elif sec.kind == "spectrum":
            parts += [f"### {sec.title}", ""] + checks.spectrum_checks(sec)
    bad = [(sec, r) for sec in secs for r in sec.runs if r.status in ("diverged", "failed")]
    parts += ["## Runs that did not complete", ""]
    if bad:
        for sec, r in bad:
            setting = next(s for s in sec.settings if r in s.runs)
            desc = ", ".join(x for x in (sec.line_label(setting),
                                         sec.context_label(sec.context(setting)),
                                         f"seed {r.seed}" if r.seed is not None else "") if x)
            parts.append(f"- `{r.rel}` ({sec.title}; {desc}): {r.describe()}")
    else:
        parts.append("- None.")
    return "\n".join(parts) + "\n"


def html_tables(secs: list[Section]) -> list[Table]:
    """The results tables of table.md as sortable HTML tables.

    Args:
        secs: the report's sections.

    Returns:
        One Table per section, its constant settings and hidden alias columns as notes.
    """
    out = []
    for sec in secs:
        title = f"{sec.title}: {len(sec.runs)} run{'s' * (len(sec.runs) != 1)}, " \
                f"{len(sec.settings)} setting{'s' * (len(sec.settings) != 1)}"
        notes = [tables.fixed_line(sec)] + [f"{k} not shown: it equals {v} in every run"
                                            for k, v in sorted(sec.aliases.items())]
        if sec.kind == "train":
            out.append(Table(title, *tables.train_table(sec), notes))
        elif sec.kind == "spectrum":
            out.append(Table(title, *tables.spectrum_table(sec), notes))
        else:
            out.append(Table(title, ["run directory", "outcome"],
                             [[r.rel, r.describe()] for r in sec.runs],
                             ["Phase-diagram runs: see each one's phase.png."]))
    return out


def write_html(name: str, source: Path, runs: list[Run], secs: list[Section], files: dict,
               written: dict[str, Path], skipped: dict[str, str], out: Path) -> Path:
    """``<out>/report.html``: the tables, every figure and animation, the runs and their config
    differences in one self-contained page.

    Args:
        name: the report's name.
        source: the folder read.
        runs: every run read, in order.
        secs: their sections.
        files: the report's files (the animations among them are embedded too).
        written, skipped: the figures drawn, and those not made with why.
        out: the report's folder.

    Returns:
        The page's path.
    """
    figs = [Figure(f, p, figure_text(name, f)) for f, p in written.items()]
    figs += [Figure(f, p, "the run's sample grids over iterations") for f, p in files.items()
             if f.startswith("animations/")]
    train = [r for r in runs if r.kind == "train"]
    intro = [f"{len(runs)} run directories under {source}: {len(train)} training runs ("
             + ", ".join(f"{sum(r.status == k for r in train)} {k}"
                         for k in ("completed", "diverged", "failed")) + ")."]
    body = "".join(table_html(t) for t in html_tables(secs)) \
        + f'<p class="note">{esc(tables.FOOTNOTE.replace("**", ""))}</p>'
    sections_ = [("tables", "Tables", body), ("figures", "Figures", figures_html(figs, skipped)),
                 *run_sections(runs, source, out)]
    return write_page(out / "report.html", page(f"Report: {name}", intro, sections_))


def build_report(source: Path, out_root: Path = Path("outputs/report"),
                 name: str | None = None, html: bool = False) -> dict:
    """Read every run under ``source`` and write the report (tables, figures, summary.md).

    Args:
        source: a folder of run directories, at any depth.
        out_root: where reports go.
        name: the report's name (None: ``source``'s folder name).
        html: also write report.html (``write_html``).

    Returns:
        {"dir": out_root/name, "runs": count, "sections", "files": {name: path},
        "skipped": {figure: why}}. FileNotFoundError when ``source`` holds no run.
    """
    source = Path(source)
    name = name or source.resolve().name
    out = Path(out_root) / name
    runs = collect(source)
    if not runs:
        raise FileNotFoundError(f"no run directories under {source} (looked for summary.json, "
                                "spectrum.json, config.yaml, metrics.jsonl or .hydra/)")
    out.mkdir(parents=True, exist_ok=True)
    secs = sections(runs)
    table = tables.markdown(secs, name, str(source))
    files = {}
    (out / "table.md").write_text(table)
    files["table.md"] = out / "table.md"
    files["table.csv"] = tables.write_csv(secs, out / "table.csv")
    spectra_csv = tables.write_spectra_csv(secs, out / "spectra.csv")
    if spectra_csv:
        files["spectra.csv"] = spectra_csv
    written, skipped = make_figures(secs, out, name)
    files.update(written)
    for sec in (s for s in secs if digits.is_digits_section(s)):   # one animation per run
        gifs = _safe("animations", digits.animations, sec, out / "animations")
        if isinstance(gifs, list):
            files.update({f"animations/{p.name}": p for p in gifs})
    for fname, path in written.items():      # a figure's plotted numbers, where it writes them
        if path.with_suffix(".json").is_file() and fname.startswith(("inception_score", "losses")):
            files[path.with_suffix(".json").name] = path.with_suffix(".json")
    (out / "summary.md").write_text(summary_md(name, source, secs, written, skipped, table))
    files["summary.md"] = out / "summary.md"
    if html:
        files["report.html"] = write_html(name, source, runs, secs, files, written, skipped, out)
    return {"dir": out, "runs": len(runs), "sections": secs, "files": files, "skipped": skipped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gantrain-report",
        description="Tables, figures and a summary from a folder of gantrain runs (a Hydra "
                    "multirun directory, or a folder of such folders at any depth).")
    parser.add_argument("source", type=Path, help="multirun directory (or any folder of run directories)")
    parser.add_argument("--name", default=None, help="report name (default: the folder's name)")
    parser.add_argument("--out", type=Path, default=Path("outputs/report"),
                        help="where reports go (default: outputs/report); writes <out>/<name>/")
    parser.add_argument("--html", action="store_true",
                        help="also write <out>/<name>/report.html: tables, figures, run status "
                             "and config differences in one self-contained page")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.source.is_dir():
        print(f"gantrain-report: error: {args.source} is not a directory", file=sys.stderr)
        return 2
    try:
        result = build_report(args.source, args.out, args.name, html=args.html)
    except FileNotFoundError as e:      # nothing was written: an earlier report stays as it was
        print(f"gantrain-report: error: {e}; nothing written", file=sys.stderr)
        return 2
    print(f"read {result['runs']} run directories under {args.source}")
    for fname, path in result["files"].items():
        print(f"wrote {path}")
    for fname, why in result["skipped"].items():
        print(f"not made: {fname} ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
