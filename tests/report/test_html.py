"""gantrain-report --html on a hand-made sweep (Gaussian and MoG runs as gantrain leaves them, a job
that failed before writing anything, a run whose folder name and config hold HTML, the sweep's own
sweep.json): every figure embedded byte for byte, the tables, each run's status and link, the
config differences, everything escaped, nothing loaded from elsewhere; and the zoo's page.
The page in a real browser: tests/report/test_html_browser.py (`make test-browser`)."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from gantrain.report.cli import build_report, main
from gantrain.report.html_runs import config_differences
from gantrain.report.runs import collect
from gantrain.report.tables import train_table
from tests.report.zoo.runs import write_run

ODD = 'odd <b>&"name"'                                  # a run folder whose name is HTML
TAG = "<script>document.title='pwned'</script>"          # a config value that is HTML
# Gaussian jobs 0-9: (method, μ, seed, final distance, wall time); the distances and job numbers
# sort differently as numbers and as text (10 < 9.5 as text), so a sort by text is caught.
GAUSS_JOBS = [("simgd", 2, 0, 9.5, 10.25), ("simgd", 2, 1, 10.0, 9.5), ("conopt", 2, 0, 0.25, 100.0),
              ("conopt", 2, 1, 0.5, 2.0), ("jare", 2, 0, 0.0625, 3.0), ("jare", 2, 1, 0.125, 30.0),
              ("simgd", 4, 0, 100.0, 1.5), ("conopt", 4, 0, 2.5, 20.0), ("jare", 4, 0, 1.5, 11.0),
              ("jare", 4, 1, 1.75, 12.0)]
SWEEP_STATUS = {"3": "resumed", "11": "failed", "12": "refused"}


def _gauss(path: Path, method: str, mu: int, seed: int, final: float, wall: float) -> None:
    dists = [4.0, 2.0 + seed / 4, final]
    write_run(path, dataset="gaussian", method=method, seed=seed, mu=mu, wall_time_s=wall,
              series={"dist_equilibrium": dists, "dist_generator": [d / 2 for d in dists],
                      "dist_discriminator": [d / 3 for d in dists]})


def build_sweep_dir(root: Path, sweep_json: bool = True) -> Path:
    """A sweep folder: Gaussian jobs 0-9, a MoG job 10, job 11 failed before writing anything
    (Hydra's .hydra/ only), job 12 refused (in sweep.json only) and a run named ``ODD``.

    Args:
        root: the folder to create.
        sweep_json: write ``root/sweep.json`` too.

    Returns:
        ``root``.
    """
    for job, spec in enumerate(GAUSS_JOBS):
        _gauss(root / str(job), *spec)
    write_run(root / "10", dataset="mog", method="jare", seed=0, log_every=100,
              series={"modes_covered": [1, 5, 8], "high_quality_fraction": [0.0, 0.5, 0.75]})
    (root / "11" / ".hydra").mkdir(parents=True)
    cfg = yaml.safe_load((root / "6" / "config.yaml").read_text())     # simgd, μ = 4, seed 0
    (root / "11" / ".hydra" / "config.yaml").write_text(yaml.safe_dump({**cfg, "seed": 1}))
    (root / "11" / ".hydra" / "overrides.yaml").write_text("- method=simgd\n- dataset.mu=4\n")
    _gauss(root / ODD, "simgd", 2, 7, 3.0, 1.0)
    cfg = yaml.safe_load((root / ODD / "config.yaml").read_text())
    (root / ODD / "config.yaml").write_text(yaml.safe_dump({**cfg, "tag": TAG}))
    if sweep_json:
        jobs = {str(j): {"overrides": [f"method={m}", f"dataset.mu={mu}", f"seed={s}"],
                         "status": SWEEP_STATUS.get(str(j), "done"), "dir": str(j)}
                for j, (m, mu, s, _, _) in enumerate(GAUSS_JOBS + [("jare", 2, 0, 0, 0)] * 3)}
        (root / "sweep.json").write_text(json.dumps({"gantrain_sweep_format": 1, "jobs": jobs}))
    return root


class Page(HTMLParser):
    """The parts of a page the tests read: elements by tag with their attributes, table cells by
    table, text, and the inline script."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: dict[str, list[dict]] = {}
        self.tables: list[list[list[str]]] = []
        self.scripts: list[str] = []
        self._cell: list[str] | None = None
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.setdefault(tag, []).append(dict(attrs))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        self._in_script = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_script:
            self.scripts.append(data)


def assert_page(path: Path, runs: int) -> Page:
    """A written report.html parses, embeds every image of its report folder byte for byte, and
    lists ``runs`` run directories, each with a link.

    Args:
        path: the page.
        runs: how many run directories it must list.

    Returns:
        The parsed page.
    """
    page = Page(path.read_text(encoding="utf-8"))
    images = sorted(p.read_bytes() for p in path.parent.rglob("*") if p.suffix in (".png", ".gif"))
    embedded = sorted(base64.b64decode(a["src"].split(",", 1)[1]) for a in page.tags.get("img", []))
    assert images and embedded == images
    table = next(t for t in page.tables if t[0][:2] == ["job", "run directory"])
    assert len(table) - 1 == runs
    folders = sum(row[3] != "no run directory" for row in table[1:])
    targets = {(path.parent / unquote(a["href"])).resolve() for a in page.tags["a"]
               if not a["href"].startswith("#")}
    assert len(targets) == folders and all(t.is_dir() for t in targets)
    return page


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = build_sweep_dir(tmp_path_factory.mktemp("html") / "sweep")
    out = tmp_path_factory.mktemp("html_out")
    result = build_report(root, out, "sweep", html=True)
    text = (out / "sweep" / "report.html").read_text(encoding="utf-8")
    return {"root": root, "result": result, "text": text, "page": Page(text),
            "dir": out / "sweep"}


def test_every_figure_is_embedded_byte_for_byte(report):
    images = [p for n, p in report["result"]["files"].items() if n.endswith((".png", ".gif"))]
    assert {p.name for p in images} >= {"dynamics.png", "modes.png"}
    srcs = [a["src"] for a in report["page"].tags["img"]]
    assert len(srcs) == len(images)
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in srcs]
    for path in images:
        assert path.read_bytes() in embedded, path.name
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "samples.png not made: no sample images" in report["text"]


def test_the_results_tables_are_those_of_table_md(report):
    secs = report["result"]["sections"]
    tables = report["page"].tables
    for sec, table in zip(secs, tables):
        header, body = train_table(sec)
        assert table[0] == header and table[1:] == body
    assert [t[0][0] for t in tables[len(secs):]] == ["job", "run directory"]


def _runs_table(report) -> dict[str, dict]:
    table = next(t for t in report["page"].tables if t[0][:2] == ["job", "run directory"])
    return {row[1]: dict(zip(table[0], row)) for row in table[1:]}


def test_each_run_has_its_status_overrides_and_a_link_to_its_folder(report):
    rows = _runs_table(report)
    runs = collect(report["root"])
    assert set(rows) == {r.rel for r in runs} | {"12"}
    for r in runs:
        assert rows[r.rel]["outcome"] == r.describe()
    assert rows["3"]["sweep status"] == "resumed" and rows["0"]["sweep status"] == "done"
    assert rows["11"]["sweep status"] == "failed" and rows["11"]["outcome"].startswith("failed")
    assert rows["12"]["sweep status"] == "refused" and rows["12"]["outcome"] == "no run directory"
    assert rows[ODD]["sweep status"] == "—" and rows[ODD]["job"] == "—"
    assert rows["4"]["overrides"] == "method=jare dataset.mu=2 seed=0"
    assert rows["4"]["wall time (s)"] == "3"
    hrefs = [a["href"] for a in report["page"].tags["a"] if not a["href"].startswith("#")]
    targets = {(report["dir"] / unquote(h)).resolve() for h in hrefs}
    assert {r.path.resolve() for r in runs} <= targets
    assert not any(h.startswith(("/", "file:")) for h in hrefs)


def test_config_differences_name_the_keys_that_differ(report):
    runs = collect(report["root"])
    differ, same = config_differences(runs)
    assert {"dataset.mu", "method.name", "seed", "tag", "dataset.name", "steps"} <= set(differ)
    assert "optim.lr" in same and "gamma" in same
    table = next(t for t in report["page"].tables if t[0][0] == "run directory")
    assert table[0] == ["run directory", *differ] and len(table) - 1 == len(runs)
    row = next(r for r in table if r[0] == ODD)
    assert row[table[0].index("tag")] == TAG          # shown as text, not run
    assert f"{len(same)} keys the same in every run" in report["text"]


def test_every_text_is_escaped(report):
    page = report["page"]
    assert len(page.tags["script"]) == 1 and "pwned" not in "".join(page.scripts)
    assert "b" not in page.tags                       # the folder name's <b> is text
    assert "odd &lt;b&gt;&amp;&quot;name&quot;" in report["text"]
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in report["text"]


def test_the_page_loads_nothing_from_elsewhere(report):
    text, page = report["text"], report["page"]
    assert not re.search(r'(src|href)="(https?:)?//', text)
    csp = next(m["content"] for m in page.tags["meta"] if m.get("http-equiv") ==
               "Content-Security-Policy")
    assert "default-src 'none'" in csp and "img-src data:" in csp
    script = "".join(page.scripts)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp                # the script the page holds is allowed


def test_without_sweep_json_and_with_a_damaged_one(tmp_path):
    root = build_sweep_dir(tmp_path / "plain", sweep_json=False)
    build_report(root, tmp_path / "out", "plain", html=True)
    text = (tmp_path / "out" / "plain" / "report.html").read_text()
    rows = _runs_table({"page": Page(text)})
    assert "No sweep.json here" in text and {r["sweep status"] for r in rows.values()} == {"—"}
    (root / "sweep.json").write_text('{"gantrain_sweep_format": 99, "jobs": {}}')
    build_report(root, tmp_path / "out", "plain", html=True)
    text = (tmp_path / "out" / "plain" / "report.html").read_text()
    assert "format 99, this gantrain reads format 1; job status from it not shown" in text
    (root / "sweep.json").write_text("{not json")
    build_report(root, tmp_path / "out", "plain", html=True)
    assert "unreadable (JSONDecodeError)" in (tmp_path / "out" / "plain" / "report.html").read_text()


def test_html_on_a_folder_with_no_runs_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    old = tmp_path / "out" / "empty" / "report.html"
    old.parent.mkdir(parents=True)
    old.write_text("an earlier report")
    assert main([str(tmp_path / "empty"), "--html", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("gantrain-report: error: no run directories under") and \
        "nothing written" in err
    assert old.read_text() == "an earlier report"
    assert sorted(p.name for p in old.parent.iterdir()) == ["report.html"]


def test_the_console_script_writes_the_page(tmp_path, capsys):
    root = build_sweep_dir(tmp_path / "s")
    assert main([str(root), "--html", "--out", str(tmp_path / "out")]) == 0
    assert f"wrote {tmp_path / 'out' / 's' / 'report.html'}" in capsys.readouterr().out
    assert_page(tmp_path / "out" / "s" / "report.html", runs=14)    # 13 folders, job 12 refused
    assert not list((tmp_path / "out" / "s").glob(".*tmp"))
