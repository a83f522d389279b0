"""The HTML report's run sections: each run's status (its summary.json, and the sweep's own record
``<sweep dir>/sweep.json`` where there is one), the config keys whose values differ between runs,
and relative links to the run directories.

sweep.json (written by the sweep itself) is ``{"gantrain_sweep_format": 1, "jobs": {"<job>":
{"overrides": [...], "status": "done|resumed|refused|failed", "dir": "<run dir, relative>"}}}``.
The report works without it; one it cannot read is named on the page, never fatal.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from gantrain.report.collect import Run, finite, fmt_value, natural_key, order_keys
from gantrain.report.html import Cell, Table, esc, table_html
from gantrain.report.tables import num

log = logging.getLogger("gantrain.report")

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = 1
_MISSING = object()


@dataclass
class Job:
    """One job of a sweep.json: its number, status, overrides and run directory."""
    number: str
    status: str
    overrides: list[str]
    path: Path


@dataclass
class SweepRecord:
    """What the sweep.json files under a report's source say: jobs by run directory, jobs with no
    run directory, and problems reading them (one line each)."""
    by_dir: dict[Path, Job] = field(default_factory=dict)
    orphans: list[Job] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _sweep_dirs(source: Path, runs: list[Run]) -> list[Path]:
    """``source`` and every folder between it and a run directory: where a sweep.json may be."""
    source = source.resolve()
    dirs = {source}
    for r in runs:
        for parent in r.path.resolve().parents:
            if parent == source or source not in parent.parents:
                break
            dirs.add(parent)
    return sorted(dirs, key=lambda d: natural_key(str(d)))


def _read_jobs(path: Path) -> list[Job]:
    """The jobs of one sweep.json; ValueError (one line) when it is not one gantrain writes."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if not isinstance(obj, dict) or obj.get("gantrain_sweep_format") != SWEEP_FORMAT:
        fmt = obj.get("gantrain_sweep_format") if isinstance(obj, dict) else None
        raise ValueError(f"format {fmt!r}, this gantrain reads format {SWEEP_FORMAT}")
    jobs = obj.get("jobs")
    if not isinstance(jobs, dict):
        raise ValueError("no 'jobs' mapping")
    out = []
    for number, job in jobs.items():
        job = job if isinstance(job, dict) else {}
        overrides = job.get("overrides")
        out.append(Job(str(number), str(job.get("status", "?")),
                       [str(o) for o in overrides] if isinstance(overrides, list) else [],
                       (path.parent / str(job.get("dir") or number)).resolve()))
    return out


def read_sweeps(source: Path, runs: list[Run]) -> SweepRecord:
    """Read the sweep.json at ``source`` and in any folder above a run directory under it.

    Args:
        source: the folder the report reads.
        runs: its runs.

    Returns:
        A SweepRecord (empty when there is no sweep.json).
    """
    rec = SweepRecord()
    run_dirs = {r.path.resolve() for r in runs}
    for d in _sweep_dirs(Path(source), runs):
        path = d / SWEEP_FILE
        if not path.is_file():
            continue
        try:
            jobs = _read_jobs(path)
        except ValueError as e:
            rec.problems.append(f"{path}: {e}; job status from it not shown")
            log.warning("%s: %s; the report shows the runs without it", path, e)
            continue
        for job in jobs:
            if job.path in run_dirs:
                rec.by_dir[job.path] = job
            else:
                rec.orphans.append(job)
    return rec


def link(path: Path, html_dir: Path) -> str:
    """A relative link from the page's folder to a directory.

    Args:
        path: the directory.
        html_dir: the folder of report.html.

    Returns:
        The URL-quoted relative path, with a trailing slash.
    """
    rel = os.path.relpath(Path(path).resolve(), Path(html_dir).resolve())
    return quote(Path(rel).as_posix()) + "/"


def _overrides(run: Run, job: Job | None) -> str:
    if job is not None and job.overrides:
        return " ".join(job.overrides)
    path = run.path / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return ""
    import yaml
    try:
        items = yaml.safe_load(path.read_text())
    except Exception:  # noqa: BLE001 - a damaged file only costs this cell
        return ""
    return " ".join(str(i) for i in items) if isinstance(items, list) else ""


def runs_table(runs: list[Run], sweep: SweepRecord, html_dir: Path) -> Table:
    """Every run: its job, directory (a link), the sweep's status, its outcome and its overrides.

    Args:
        runs: the report's runs.
        sweep: what sweep.json says (``read_sweeps``).
        html_dir: the folder of report.html (links are relative to it).

    Returns:
        The Table (jobs of sweep.json without a run directory at the end).
    """
    rows = []
    for r in runs:
        job = sweep.by_dir.get(r.path.resolve())
        s = r.summary or {}
        rows.append([job.number if job else "—", Cell(r.rel, link(r.path, html_dir)),
                     Cell(job.status, cls=job.status) if job else "—",
                     Cell(r.describe(), cls=r.status), r.method, fmt_value(r.seed),
                     num(finite(s.get("steps_done"))), num(finite(s.get("wall_time_s")), 3),
                     _overrides(r, job)])
    for job in sweep.orphans:
        rows.append([job.number, job.path.name, Cell(job.status, cls=job.status),
                     "no run directory", "—", "—", "—", "—", " ".join(job.overrides)])
    notes = list(sweep.problems)
    if not sweep.by_dir and not sweep.orphans and not sweep.problems:
        notes.append("No sweep.json here: the status is each run's own (its summary.json).")
    return Table(f"{len(runs)} run directories", ["job", "run directory", "sweep status", "outcome",
                                                  "method", "seed", "steps", "wall time (s)",
                                                  "overrides"], rows, notes)


def config_differences(runs: list[Run]) -> tuple[list[str], dict[str, object]]:
    """The config keys whose values differ between runs (a key some runs lack differs), and the
    others with their common value; runs without a config are left out.

    Args:
        runs: the report's runs.

    Returns:
        (differing keys in the report's column order, {same key: value}).
    """
    with_config = [r for r in runs if r.config]
    keys = set().union(*(r.config for r in with_config)) if with_config else set()
    differ, same = [], {}
    for k in order_keys(keys):
        values = {r.config.get(k, _MISSING) for r in with_config}
        if len(values) > 1:
            differ.append(k)
        else:
            same[k] = next(iter(values))
    return differ, same


def config_table(runs: list[Run], html_dir: Path) -> Table:
    """One row per run, one column per config key that differs between runs.

    Args:
        runs: the report's runs.
        html_dir: the folder of report.html.

    Returns:
        The Table; its note names how many keys are the same in every run.
    """
    differ, same = config_differences(runs)
    rows = [[Cell(r.rel, link(r.path, html_dir))]
            + [fmt_value(r.config[k]) if k in r.config else "—" for k in differ]
            for r in runs if r.config]
    notes = [f"{len(differ)} keys differ between runs; {len(same)} are the same in every run "
             "(listed below)." if differ else "Every run has the same config."]
    lacking = [r.rel for r in runs if not r.config]
    if lacking:
        notes.append("No config found for: " + ", ".join(lacking) + ".")
    return Table("Keys that differ", ["run directory", *differ], rows, notes)


def same_keys_html(runs: list[Run]) -> str:
    """The keys every run shares, folded away.

    Args:
        runs: the report's runs.

    Returns:
        A ``<details>`` list of ``key = value`` ("" when no key is shared).
    """
    _, same = config_differences(runs)
    if not same:
        return ""
    items = "".join(f"<li><code>{esc(k)}</code> = {esc(fmt_value(v))}</li>" for k, v in same.items())
    return (f"<details><summary>The {len(same)} keys the same in every run</summary>"
            f"<ul>{items}</ul></details>")


def run_sections(runs: list[Run], source: Path, html_dir: Path) -> list[tuple[str, str, str]]:
    """The page's "Runs" and "Config differences" sections.

    Args:
        runs: the report's runs, in the order to list them.
        source: the folder the report read (where sweep.json may be).
        html_dir: the folder of report.html.

    Returns:
        [(anchor, heading, HTML fragment)] for ``gantrain.report.html.page``.
    """
    sweep = read_sweeps(source, runs)
    return [("runs", "Runs", table_html(runs_table(runs, sweep, html_dir))),
            ("config", "Config differences",
             table_html(config_table(runs, html_dir)) + same_keys_html(runs))]
