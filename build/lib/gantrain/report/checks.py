"""The "checks" of summary.md: what the runs measured, in numbers, setting by setting.

Nothing here asserts a paper's claim; it states final values, how fast each method got 10× closer to
the equilibrium than where it started, which ones moved 10× away, and which runs diverged.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from gantrain.report.collect import Section, Setting
from gantrain.report.runs import Run
from gantrain.report.tables import Stat, md_table, num, run_label, spectrum_numbers, stat
from gantrain.report.values import finite, fmt_value

FACTOR = 10.0


def _runs_with_curves(s: Setting) -> list[Run]:
    return [r for r in s.runs if r.status in ("completed", "diverged")]


def reach_step(run: Run, key: str = "dist_equilibrium") -> tuple[float | None, int | None, float | None]:
    """(start value, first logged step with value ≤ start/10, max value / start) of one run."""
    steps, values = run.series(key)
    if not len(values) or values[0] <= 0:
        return None, None, None
    start = float(values[0])
    below = [int(st) for st, v in zip(steps, values) if v <= start / FACTOR]
    return start, (below[0] if below else None), float(values.max() / start)


def _steps_text(steps: list[int | None], horizon: int | None) -> str:
    got = [s for s in steps if s is not None]
    if not steps:
        return "—"
    if len(got) < len(steps):
        out = f"not within {horizon} iterations" if horizon is not None else "not reached"
        return out if not got else f"{len(got)}/{len(steps)} runs: {min(got)}–{max(got)}; others {out}"
    lo, hi = min(got), max(got)
    return str(lo) if lo == hi else f"{statistics.fmean(got):.0f} (range {lo}–{hi})"


GAUSSIAN_HEADER = ["method", "completed", "final ‖w − w*‖", "final ‖φ − φ*‖", "final ‖θ − θ*‖",
                   "start ‖w − w*‖", "first iteration 10× closer", "max ‖w − w*‖ / start",
                   "not completed"]


@dataclass
class _Distances:
    """One setting's row of the Gaussian table and what the bullet points say of it."""
    label: str
    cells: list[str]
    has_curve: bool                # a run logged dist_equilibrium
    final: str | None              # "label mean" of the final distance
    reached: float | None          # mean first step 10× closer, when every run got there
    grew: str | None               # when a run moved 10× away
    diverged: list[str]


def gaussian_checks(section: Section) -> list[str]:
    """The Gaussian game's checks: per context, a table of distances to the equilibrium and
    bullet points on which methods got 10× closer, moved 10× away or diverged.

    Args:
        section: a training section of the ``gaussian`` dataset.

    Returns:
        The markdown lines.
    """
    log_every = section.fixed.get("log_every") or _const(section, "log_every")
    out = ["Distances: ‖w − w*‖ = dist_equilibrium (both players), ‖φ − φ*‖ = dist_generator, "
           "‖θ − θ*‖ = dist_discriminator; final values are means over completed seeds. "
           "\"10× closer\": the first logged iteration at which ‖w − w*‖ ≤ its step-0 value / 10"
           + (f" (logged every {fmt_value(log_every)} iterations)" if log_every else "") + ".", ""]
    for ctx, settings in section.by_context():
        out += [f"**{section.context_label(ctx) or section.title}**", ""]
        rows = [_distances(section, s) for s in settings]
        out += [md_table(GAUSSIAN_HEADER, [r.cells for r in rows]), ""]
        out += _gaussian_findings(rows)
        out.append("")
    return out


def _distances(section: Section, s: Setting) -> _Distances:
    done = [r for r in s.runs if r.status == "completed"]
    curves = _runs_with_curves(s)
    per_run = [reach_step(r) for r in curves]
    starts = [p[0] for p in per_run if p[0] is not None]
    steps = [p[1] for p in per_run if p[0] is not None]
    ratios = [p[2] for p in per_run if p[2] is not None]
    horizon = max((r.last_step() or 0 for r in curves), default=None)
    f = {k: stat(r.final.get(k) for r in done)
         for k in ("dist_equilibrium", "dist_generator", "dist_discriminator")}
    label = section.line_label(s)
    cells = [label, f"{len(done)}/{len(s.runs)}", _fs(f["dist_equilibrium"]),
             _fs(f["dist_generator"]), _fs(f["dist_discriminator"]),
             num(statistics.fmean(starts)) if starts else "—",
             _steps_text(steps, horizon),
             f"{max(ratios):.3g}×" if ratios else "—",
             "; ".join(run_label(r, s) + r.describe() for r in s.runs
                       if r.status != "completed") or "—"]
    grew = None
    if ratios and max(ratios) > FACTOR:
        last = [finite(r.final.get("dist_equilibrium")) for r in curves]
        grew = (f"{label} (up to {max(ratios):.3g}× its start"
                + (f", final {num(statistics.fmean([x for x in last if x is not None]))}"
                   if any(x is not None for x in last) else "") + ")")
    return _Distances(
        label=label, cells=cells, has_curve=bool(starts),
        final=f"{label} {num(f['dist_equilibrium'].mean)}" if f["dist_equilibrium"].n else None,
        reached=(statistics.fmean(steps) if steps and all(x is not None for x in steps)
                 else None),
        grew=grew,
        diverged=[f"{label}, seed {fmt_value(r.seed)}, at iteration {r.diverged_at}"
                  for r in s.runs if r.status == "diverged"])


def _gaussian_findings(rows: list[_Distances]) -> list[str]:
    """The bullet points under one context's table."""
    out = []
    finals = [r.final for r in rows if r.final is not None]
    reached = sorted((r.reached, r.label) for r in rows if r.reached is not None)
    grew = [r.grew for r in rows if r.grew is not None]
    diverged = [d for r in rows for d in r.diverged]
    any_curve = any(r.has_curve for r in rows)
    if finals:
        out.append(f"- Final ‖w − w*‖: {', '.join(finals)}.")
    if not any_curve:
        out.append("- No logged distances (no metrics.jsonl with dist_equilibrium) to time.")
    elif reached:
        best = reached[0]
        others = [f"{lab} {it:.0f}" for it, lab in reached[1:]]
        out.append(f"- Fastest to 10× closer than its start: **{best[1]}** (iteration "
                   f"{best[0]:.0f}" + (f"; then {', '.join(others)}" if others else "") + ").")
        missing = [r.label for r in rows if r.label not in {lab for _, lab in reached}]
        if missing:
            out.append(f"- Not 10× closer in every run: {', '.join(missing)}.")
    else:
        out.append("- No method got 10× closer than its start in every run.")
    if any_curve:
        out.append(f"- Grew more than 10× (left the equilibrium): {', '.join(grew)}." if grew
                   else "- No method's distance grew more than 10× its start.")
    out.append(f"- Diverged: {'; '.join(diverged)}." if diverged else "- No run diverged.")
    return out


def _const(section: Section, key: str):
    values = {r.config.get(key) for r in section.runs}
    return next(iter(values)) if len(values) == 1 else None


def _fs(s: Stat) -> str:
    if s.n == 0:
        return "—"
    return num(s.mean) if s.std is None else f"{num(s.mean)} ± {num(s.std, 2)}"


def mog_checks(section: Section) -> list[str]:
    k = section.fixed.get("dataset.modes")
    out = ["Final values at the last logged iteration, mean over completed seeds.", ""]
    body, best = [], []
    for s in section.settings:
        done = [r for r in s.runs if r.status == "completed"]
        f = {m: stat(r.final.get(m) for r in done)
             for m in ("modes_covered", "high_quality_fraction", "mode_kl")}
        label = ", ".join(x for x in (section.line_label(s), section.context_label(section.context(s)))
                          if x)
        body.append([label, f"{len(done)}/{len(s.runs)}",
                     _fs(f["modes_covered"]) + (f" of {fmt_value(k)}" if k and f["modes_covered"].n
                                                else ""),
                     _fs(f["high_quality_fraction"]), _fs(f["mode_kl"]),
                     str(max((r.last_step() or 0 for r in s.runs), default=0))])
        if f["modes_covered"].n:
            best.append((f["modes_covered"].mean, f["high_quality_fraction"].mean or 0.0, label))
    out.append(md_table(["setting", "completed", "modes covered", "high-quality fraction",
                          "mode KL", "last iteration"], body))
    out.append("")
    if best and max(best)[0] == 0:
        out += ["- No setting covers any mode at its last iteration.", ""]
    elif best:
        top = max(best)
        out.append(f"- Most modes covered: {top[2]} ({num(top[0])}"
                   + (f" of {fmt_value(k)}" if k else "") + f", high-quality fraction {num(top[1])}).")
        out.append("")
    return out


def image_checks(section: Section) -> list[str]:
    out = ["Final scores at the last evaluation, mean over completed seeds (missing scores are "
           "left out, never counted as 0).", ""]
    body, reasons = [], set()
    for s in section.settings:
        done = [r for r in s.runs if r.status == "completed"]
        f = {m: stat(r.final.get(m) for r in done) for m in ("inception_score", "fid")}
        for r in s.runs:
            if r.final.get("missing"):
                reasons.add(str(r.final["missing"]).splitlines()[0])
        label = ", ".join(x for x in (section.line_label(s), section.context_label(section.context(s)))
                          if x)
        body.append([label, f"{len(done)}/{len(s.runs)}", _fs(f["inception_score"]),
                     _fs(f["fid"])])
    out.append(md_table(["setting", "completed", "Inception score", "FID"], body))
    out.append("")
    for reason in sorted(reasons):
        out.append(f"- Scores missing: {reason}")
    if reasons:
        out.append("")
    return out


def spectrum_checks(section: Section) -> list[str]:
    out = []
    analysed = [(s, r) for s in section.settings for r in s.runs if r.spectrum]
    if not analysed:
        return ["No spectrum.json could be read.", ""]
    unstable_field, unstable_lr, devs = [], [], []
    for s, r in analysed:
        nums = spectrum_numbers(r.spectrum)
        label = ", ".join(x for x in (section.line_label(s), section.context_label(section.context(s)))
                          if x)
        if nums.get("max_re") is not None and nums["max_re"] >= 0:
            unstable_field.append(f"{label} (max Re λ = {num(nums['max_re'])})")
        if r.spectrum.get("stable") is False:
            unstable_lr.append(f"{label} (lr {fmt_value(r.spectrum.get('lr'))} > max stable lr "
                               f"{num(nums.get('max_stable_lr'))})")
        if nums.get("theory_dev") is not None:
            devs.append(nums["theory_dev"])
    out.append(f"- {len(analysed)} spectra read.")
    out.append(f"- Fields with an eigenvalue at Re λ ≥ 0: {', '.join(unstable_field)}."
               if unstable_field else "- Every field has all its eigenvalues at Re λ < 0.")
    out.append(f"- Step size over the largest stable one (Lemma 4): {'; '.join(unstable_lr)}."
               if unstable_lr else "- Every analysed step size is under its largest stable one.")
    if devs:
        out.append(f"- Largest distance between a computed eigenvalue and the theorem's, over the "
                   f"{len(devs)} spectra with a theorem: {max(devs):.3g}.")
    out.append("")
    return out
