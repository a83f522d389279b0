"""The zoo's report.html (``zoo report --html``): its game tables, both figures embedded, every
training run and phase diagram listed with a link, and a folder with no zoo runs refused in one
line with nothing written."""
from __future__ import annotations

import base64
from urllib.parse import unquote

from gantrain.report.zoo.cli import main
from gantrain.report.zoo.render import build_report
from tests.report.test_html import Page


def test_the_zoo_page_holds_its_tables_figures_and_runs(zoo_root, tmp_path):
    result = build_report(zoo_root, tmp_path, html=True)
    page = Page(result["files"]["report.html"].read_text(encoding="utf-8"))
    embedded = [base64.b64decode(a["src"].split(",", 1)[1]) for a in page.tags["img"]]
    assert sorted(embedded) == sorted(result["files"][n].read_bytes()
                                      for n in ("dynamics.png", "stability.png"))
    titles = {t[0][0] for t in page.tables}
    assert {"method", "job", "run directory"} <= titles
    assert len([t for t in page.tables if t[0][0] == "method"]) == len(result["games"])
    links = {(tmp_path / unquote(a["href"])).resolve() for a in page.tags["a"]
             if not a["href"].startswith("#")}
    assert (zoo_root / "gaussian_mu2" / "jare" / "seed=2").resolve() in links
    assert (zoo_root / "phase" / "jare" / "mu=2").resolve() in links


def test_html_on_a_folder_with_no_zoo_runs_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--html"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no zoo runs" in err and "nothing written" in err
    assert not (tmp_path / "out").exists()
