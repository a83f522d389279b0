"""The GPU check's report: one JSON file (every number) and one Markdown file (tables), and the
issue's goals judged from the measurements."""
from __future__ import annotations

import json
import math
from pathlib import Path

from gpucheck import ensemble
from gpucheck.steps import GOAL_FACTOR, REGULARIZED

ISFID_GOAL_S = 60.0       # 50 000-sample IS + FID on an H100/H200
GOAL_SAMPLES = 50_000


def goals(report: dict) -> list[dict]:
    """Each goal: met (True/False) or None when it was not measured or cannot be judged here (a
    CPU run judges no goal: its numbers are smoke numbers)."""
    cuda = report["device"]["type"] == "cuda"
    m = report["measurements"]
    out = []
    rows = [r for r in m.get("steps", []) if r["rule"] in REGULARIZED]
    met = sum(bool(r["goal_met"]) for r in rows)
    out.append({"goal": f"every regularized rule's time ratio to SimGD ≤ {GOAL_FACTOR}× its FLOP ratio",
                "met": (met == len(rows) if rows and cuda else None),
                "detail": f"{met}/{len(rows)} met" if rows else "not measured"})
    met, detail = ensemble.goal(m.get("ensemble"))
    out.append({"goal": f"{ensemble.GOAL_N} JARE ensemble members ≥ {ensemble.GOAL_RATIO:g}× the "
                        "members/s of single runs (default MoG)",
                "met": met if cuda else None, "detail": detail})
    inc = m.get("inception_throughput")
    out.append({"goal": "Inception throughput ≥ pytorch-fid's InceptionV3",
                "met": (inc["ratio"] >= 1.0 if inc and cuda else None),
                "detail": f"ratio {inc['ratio']:.2f}" if inc else "not measured"})
    isfid = m.get("isfid")
    judged = isfid and cuda and isfid["samples"] == GOAL_SAMPLES
    out.append({"goal": f"{GOAL_SAMPLES} -sample IS + FID in ≤ {ISFID_GOAL_S:g} s".replace(" -", "-"),
                "met": (isfid["wall_s"] <= ISFID_GOAL_S if judged else None),
                "detail": (f"{isfid['wall_s']:.1f} s for {isfid['samples']} samples" if isfid
                           else "not measured")})
    return out


def _finite(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return _finite(obj)


def _fmt(x, spec=".3g") -> str:
    return "–" if x is None else format(x, spec)


def markdown(report: dict) -> str:
    d = report["device"]
    lines = [f"# gantrain GPU check ({d['mode']} mode)", "",
             f"Device: **{d['name']}** ({d['type']}); torch {d['torch']}, CUDA {d['cuda']}, "
             f"Python {d['python']}; gantrain from {d['gantrain_from']}; wall time "
             f"{report['wall_s']:.0f} s.", ""]
    if d["type"] != "cuda":
        lines += ["CPU mode: tiny sizes, the same code paths. **These numbers are smoke numbers, "
                  "not GPU numbers**; no goal is judged.", ""]
    lines += ["## Checks", "", "| check | result | seconds | note |", "|---|---|---:|---|"]
    for c in report["checks"]:
        lines.append(f"| {c['name']} | {'pass' if c['passed'] else '**FAIL**'} | {c['seconds']:.1f} "
                     f"| {c['note']} |")
    dirs = next((c for c in report["checks"] if c["name"] == "rule_directions"), None)
    if dirs and dirs["numbers"].get("rows"):
        lines += ["", "### Rule directions (relative error against the CPU float64 reference)", "",
                  "| arch | rule | CPU f32 | device f32 | bound | device TF32 |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in dirs["numbers"]["rows"]:
            lines.append(f"| {r['arch']} | {r['rule']} | {_fmt(r['cpu_f32'])} "
                         f"| {_fmt(r['device_f32'])} | {_fmt(r['bound_f32'])} | {_fmt(r['device_tf32'])} |")
    m = report["measurements"]
    if m.get("steps"):
        lines += ["", "## Step time per rule", "",
                  "| arch | rule | batch | ms/step | img/s | peak MiB | GFLOP/step | time ratio "
                  "| FLOP ratio | goal |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in m["steps"]:
            goal = {None: "", True: "met", False: "**not met**"}[r["goal_met"]]
            lines.append(f"| {r['arch']} | {r['rule']} | {r['batch']} | {r['ms_per_step']:.1f} "
                         f"| {r['images_per_s']:.0f} | {_fmt(r['peak_mib'], '.0f')} "
                         f"| {r['gflop_per_step']:.3g} | {r['time_ratio']:.2f} "
                         f"| {r['flop_ratio']:.2f} | {goal} |")
    if m.get("ensemble"):
        lines += _ensemble_lines(m["ensemble"])
    if m.get("inception_throughput"):
        t = m["inception_throughput"]
        lines += ["", f"Inception features, batch {t['batch']}: gantrain {t['gantrain_img_s']:.0f} "
                  f"img/s, pytorch-fid InceptionV3 {t['pytorch_fid_img_s']:.0f} img/s "
                  f"(ratio {t['ratio']:.2f})."]
    if m.get("isfid"):
        s = m["isfid"]
        lines += ["", f"IS + FID of {s['samples']} samples with cached reference statistics: "
                  f"{s['wall_s']:.1f} s (the first evaluation, {s['first_eval_samples']} samples and "
                  f"the {s['reference_images']}-image reference statistics: {s['first_eval_s']:.1f} s)."
                  + ("" if d["type"] == "cuda" else " CPU mode: the sample count is scaled down "
                     f"from {GOAL_SAMPLES}.")]
    for name, err in report.get("errors", {}).items():
        lines += ["", f"**{name} failed**: {err}"]
    lines += ["", "## Goals", "", "| goal | met | detail |", "|---|---|---|"]
    for g in report["goals"]:
        met = {None: "not judged" + (" (CPU mode)" if d["type"] != "cuda" else ""),
               True: "met", False: "**not met**"}[g["met"]]
        lines.append(f"| {g['goal']} | {met} | {g['detail']} |")
    return "\n".join(lines) + "\n"


def _ensemble_lines(e: dict) -> list[str]:
    sizes = [s["n"] for s in e["rules"][0]["sizes"]]
    lines = ["", f"## Ensembles: members/s (ratio to single runs), MoG "
             f"{' '.join(e['overrides']) or 'default (4×256, batch 128)'}, {e['steps']} steps", "",
             "| rule | single runs | " + " | ".join(f"N={n}" for n in sizes) + " |",
             "|---|---:|" + "---:|" * len(sizes)]
    for r in e["rules"]:
        cells = [f"{s['members_per_s']:.0f} ({s['ratio']:.2f}×)" for s in r["sizes"]]
        lines.append(f"| {r['rule']} | {r['single_members_per_s']:.0f} | " + " | ".join(cells) + " |")
    peaks = [s["peak_mib"] for s in e["rules"][-1]["sizes"]]
    if all(p is not None for p in peaks):
        lines += ["", "JARE peak memory (MiB): " + ", ".join(
            f"N={n}: {p:.0f}" for n, p in zip(sizes, peaks)) + "."]
    lines += ["", "Member 0 of a 2-member JARE ensemble against its single run after 5 steps on "
              f"this device: relative distance {e['member0_rel_err_after_5_steps']:.2e}."]
    return lines


def write(report: dict, out: Path) -> tuple[Path, Path]:
    """``gpu_check.json`` and ``gpu_check.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    report = _clean(report)
    js, md = out / "gpu_check.json", out / "gpu_check.md"
    js.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    md.write_text(markdown(report))
    return js, md
