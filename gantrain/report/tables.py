"""One row per setting: counts of completed / diverged / failed runs and mean ± std over seeds of
the final metrics, as Markdown (table.md) and CSV (table.csv; spectra.csv for gantrain-analyze runs)."""
from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gantrain.report.collect import (
    Run,
    Section,
    Setting,
    finite,
    fmt_value,
    method_label,
    order_keys,
    pretty_key,
)

# Final metrics tabulated when a run of the section has them, in this order.
CANDIDATE_METRICS = ("dist_equilibrium", "dist_generator", "dist_discriminator",
                     "modes_covered", "high_quality_fraction", "mode_kl",
                     "digits_fd", "classifier_score",
                     "inception_score", "fid", "ema_inception_score", "ema_fid")
RUN_STATS = ("steps_done", "wall_time_s")

FOOTNOTE = ("Metrics, steps_done and wall time: mean ± sample standard deviation (n − 1) over the "
            "**completed** runs of a setting (its seeds); one run shows no ±, and (n=k) marks a "
            "metric that only k completed runs have as a finite number. Diverged and failed runs "
            "are counted but do not enter the means; the last column says what became of them "
            "(e.g. \"diverged at 131\": the step at which a loss or parameter became non-finite or "
            "the parameter norm passed divergence.max_param_norm).")


@dataclass
class Stat:
    mean: float | None
    std: float | None
    n: int


def stat(values) -> Stat:
    vals = [v for v in (finite(x) for x in values) if v is not None]
    if not vals:
        return Stat(None, None, 0)
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals))


def num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "—"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def fmt_stat(s: Stat, expected: int) -> str:
    if s.n == 0:
        return "—"
    text = num(s.mean) if s.std is None else f"{num(s.mean)} ± {num(s.std, 2)}"
    return text + (f" (n={s.n})" if s.n < expected else "")


def metric_keys(section: Section) -> list[str]:
    present = set().union(*(r.final for r in section.runs)) if section.runs else set()
    return [k for k in CANDIDATE_METRICS if k in present]


@dataclass
class Row:
    setting: Setting
    completed: int
    diverged: int
    failed: int
    stats: dict[str, Stat]
    notes: list[str]


def run_label(run: Run, setting: Setting) -> str:
    """How a run is named beside its setting's other runs: its seed, else its folder."""
    if len(setting.runs) == 1:
        return ""
    return f"seed {fmt_value(run.seed)}: " if run.seed is not None else f"{run.rel}: "


def rows(section: Section) -> list[Row]:
    out = []
    keys = metric_keys(section)
    for s in section.settings:
        done = [r for r in s.runs if r.status == "completed"]
        stats = {k: stat(r.final.get(k) for r in done) for k in keys}
        for k in RUN_STATS:
            stats[k] = stat((r.summary or {}).get(k) for r in done)
        notes = [run_label(r, s) + r.describe() for r in s.runs if r.status != "completed"]
        out.append(Row(s, len(done), s.count("diverged"), s.count("failed"), stats, notes))
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def header_name(key: str) -> str:
    return "method" if key == "method.name" else key


def _cell(s: Setting, key: str) -> str:
    """A Markdown table cell; the method with what it is where its name is ambiguous (the CSV
    keeps the bare name)."""
    if key not in s.values:
        return "—"
    return method_label(s.method) if key == "method.name" else fmt_value(s.values[key])


def md_table(header: list[str], body: list[list[str]]) -> str:
    """A Markdown table: a header row, a separator and one row per body list (cells escaped)."""
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def fixed_line(section: Section) -> str:
    """The section's constant settings in one sentence ("" when there are none)."""
    if not section.fixed:
        return ""
    return "Same in every run: " + ", ".join(f"{pretty_key(k)} = {fmt_value(v)}"
                                               for k, v in section.fixed.items()) + "."


def train_table(section: Section) -> tuple[list[str], list[list[str]]]:
    """A training section's table: (header, one row of cells per setting)."""
    keys = metric_keys(section)
    header = [header_name(k) for k in section.varying] + ["runs", "completed", "diverged", "failed"] \
        + keys + [
        "steps_done", "wall time (s)", "not completed"]
    body = []
    for row in rows(section):
        s = row.setting
        cells = [_cell(s, k) for k in section.varying]
        cells += [str(len(s.runs)), str(row.completed), str(row.diverged), str(row.failed)]
        cells += [fmt_stat(row.stats[k], row.completed) for k in keys + list(RUN_STATS)]
        cells.append("; ".join(row.notes) or "")
        body.append(cells)
    return header, body


def train_table_md(section: Section) -> str:
    return md_table(*train_table(section))


# --- spectra (gantrain-analyze runs) -----------------------------------------------------------
def theory_deviation(spectrum: dict) -> float | None:
    """max |λ − λ_theorem| after matching the two sets of eigenvalues one to one."""
    ev, th = spectrum.get("eigenvalues"), spectrum.get("theory_eigenvalues")
    if not ev or not th:
        return None
    try:
        from scipy.optimize import linear_sum_assignment
        a = np.array([complex(*p) for p in ev])
        b = np.array([complex(*p) for p in th])
        if a.shape != b.shape:
            return None
        cost = np.abs(a[:, None] - b[None, :])
        i, j = linear_sum_assignment(cost)
        return float(cost[i, j].max())
    except (TypeError, ValueError):
        return None


def spectrum_numbers(spectrum: dict | None) -> dict[str, float | None]:
    if not spectrum or not spectrum.get("eigenvalues"):
        return {}
    try:
        ev = np.array([complex(*p) for p in spectrum["eigenvalues"]])
    except (TypeError, ValueError):
        return {}
    return {"max_re": float(ev.real.max()), "max_abs": float(np.abs(ev).max()),
            "max_stable_lr": finite(spectrum.get("max_stable_lr")),
            "lr": finite(spectrum.get("lr")), "zeta": finite(spectrum.get("zeta")),
            "tau": finite(spectrum.get("tau")), "theory_dev": theory_deviation(spectrum)}


SPECTRUM_COLUMNS = (("max_re", "max Re λ"), ("max_abs", "max |λ|"), ("lr", "lr"),
                    ("max_stable_lr", "max stable lr"), ("zeta", "ζ"), ("tau", "τ"),
                    ("theory_dev", "max |λ − theorem|"))


def spectrum_table(section: Section) -> tuple[list[str], list[list[str]]]:
    """A gantrain-analyze section's table: (header, one row of cells per analysed run)."""
    header = [header_name(k) for k in section.varying] + ["seed", "point"] \
        + [h for _, h in SPECTRUM_COLUMNS] + ["stable at lr",
                                                                                      "status"]
    body = []
    for s in section.settings:
        for r in s.runs:
            nums = spectrum_numbers(r.spectrum)
            sp = r.spectrum or {}
            cells = [_cell(s, k) for k in section.varying]
            cells += [fmt_value(r.seed), str(sp.get("point", "—"))]
            cells += [num(nums.get(k)) for k, _ in SPECTRUM_COLUMNS]
            cells += ["—" if "stable" not in sp else ("yes" if sp["stable"] else "no"),
                      r.describe()]
            body.append(cells)
    return header, body


def spectrum_table_md(section: Section) -> str:
    return md_table(*spectrum_table(section))


def markdown(secs: list[Section], name: str, source: str) -> str:
    parts = [f"# {name}: results table", "", f"Runs read from `{source}`.", ""]
    aliases = {}
    for sec in secs:
        n_set = len(sec.settings)
        parts.append(f"## {sec.title}: {len(sec.runs)} run{'s' * (len(sec.runs) != 1)}, "
                     f"{n_set} setting{'s' * (n_set != 1)}")
        parts.append("")
        if sec.kind == "train":
            parts += [train_table_md(sec), ""]
        elif sec.kind == "spectrum":
            parts += [spectrum_table_md(sec), ""]
        else:
            parts += ["Phase-diagram runs (phase.json; see their phase.png), not tabulated: "
                      + ", ".join(f"`{r.rel}`" for r in sec.runs), ""]
        fixed = fixed_line(sec)
        if fixed:
            parts += [fixed, ""]
        aliases.update(sec.aliases)
    parts.append(FOOTNOTE)
    if aliases:
        parts += ["", "Not shown as columns because they equal a shown column in every run: "
                  + ", ".join(f"{k} (= {v})" for k, v in sorted(aliases.items())) + "."]
    return "\n".join(parts) + "\n"


def _csv_num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


def write_csv(secs: list[Section], path: Path) -> Path:
    train = [s for s in secs if s.kind == "train"]
    keys = order_keys({k for s in train for k in s.varying})
    metrics = [k for k in CANDIDATE_METRICS if any(k in metric_keys(s) for s in train)]
    header = ["dataset"] + [header_name(k) for k in keys] + ["runs", "completed", "diverged", "failed"]
    for k in metrics + list(RUN_STATS):
        header += [f"{k}_mean", f"{k}_std", f"{k}_n"]
    header.append("not_completed")
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for sec in train:
            for row in rows(sec):
                s = row.setting
                line = [sec.dataset] + [fmt_value(s.values[k]) if k in s.values else "" for k in keys]
                line += [len(s.runs), row.completed, row.diverged, row.failed]
                for k in metrics + list(RUN_STATS):
                    st = row.stats.get(k, Stat(None, None, 0))
                    line += [_csv_num(st.mean), _csv_num(st.std), st.n]
                line.append("; ".join(row.notes))
                w.writerow(line)
    return Path(path)


def write_spectra_csv(secs: list[Section], path: Path) -> Path | None:
    spec = [s for s in secs if s.kind == "spectrum"]
    if not spec:
        return None
    keys = order_keys({k for s in spec for k in s.varying})
    header = ["dataset"] + [header_name(k) for k in keys] + ["seed", "point", "run"] \
        + [k for k, _ in SPECTRUM_COLUMNS] + [
        "stable", "status"]
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for sec in spec:
            for s in sec.settings:
                for r in s.runs:
                    nums = spectrum_numbers(r.spectrum)
                    sp = r.spectrum or {}
                    w.writerow([sec.dataset] + [fmt_value(s.values[k]) if k in s.values else ""
                                                for k in keys]
                               + [fmt_value(r.seed), sp.get("point", ""), r.rel]
                               + [_csv_num(nums.get(k)) for k, _ in SPECTRUM_COLUMNS]
                               + [sp.get("stable", ""), r.describe()])
    return Path(path)
