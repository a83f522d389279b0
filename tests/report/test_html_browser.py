"""The HTML report in a real browser: Debian's headless Chromium, driven by Selenium. The page of
the hand-made sweep of test_html.py (whose run names and config hold HTML) loads with no console
message at error level, shows every figure, sorts its tables by a click on a header, and its
screenshot is not blank.

Run by `make test-browser` (which installs chromium, chromium-driver and selenium where missing);
`make test` leaves this module out (it needs GANTRAIN_BROWSER_TESTS=1), and with that variable set
a missing browser fails the tests instead of skipping them."""
from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

from gantrain.report.cli import build_report
from tests.report import browser
from tests.report.test_html import GAUSS_JOBS, TAG, build_sweep_dir

pytestmark = pytest.mark.skipif(os.environ.get("GANTRAIN_BROWSER_TESTS") != "1",
                                reason="a browser test: make test-browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    why = browser.missing()
    assert why is None, why
    root = build_sweep_dir(tmp_path_factory.mktemp("browser") / "sweep")
    out = tmp_path_factory.mktemp("browser_out")
    result = build_report(root, out, "sweep", html=True)
    figures = [n for n in result["files"] if n.endswith((".png", ".gif"))]
    drv = browser.driver()
    try:
        browser.load(drv, result["files"]["report.html"])
        yield {"driver": drv, "figures": figures, "path": result["files"]["report.html"]}
    finally:
        drv.quit()


def test_the_page_loads_with_no_console_error(page):
    drv = page["driver"]
    log = drv.get_log("browser")
    errors = [e for e in log if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert drv.execute_script("return document.body.dataset.ready") == "1"   # its script ran
    assert "pwned" not in drv.title and drv.title == "Report: sweep"


def test_every_figure_is_shown(page):
    drv = page["driver"]
    images = drv.find_elements("tag name", "img")
    assert len(images) == len(page["figures"]) >= 2
    for img in images:
        drv.execute_script("arguments[0].scrollIntoView()", img)
        shown = drv.execute_script(
            "var i = arguments[0], r = i.getBoundingClientRect();"
            "return [i.complete, i.naturalWidth, i.naturalHeight, r.width, r.height];", img)
        assert shown[0] and min(shown[1:]) > 50, (img.get_attribute("alt"), shown)
        assert img.is_displayed(), img.get_attribute("alt")


def _table(drv, first_header: str):
    return next(t for t in drv.find_elements("css selector", "table.sortable")
                if t.find_element("css selector", "thead th").text.strip() == first_header)


def _column(table, header: str) -> tuple[object, list[str]]:
    heads = table.find_elements("css selector", "thead th")
    col = [h.text.strip().rstrip("▲▼ ") for h in heads].index(header)
    cells = [row.find_elements("css selector", "td")[col].text.strip()
             for row in table.find_elements("css selector", "tbody tr")]
    return heads[col], cells


def _click(table, header: str) -> list[str]:
    th, _ = _column(table, header)
    th.click()
    return _column(table, header)[1]


def _numbers(cells: list[str]) -> list[float]:
    return [float(re.match(r"[-+.\d]+(e[-+]?\d+)?", c).group()) for c in cells if c != "—"]


def test_clicking_a_header_sorts_its_table(page):
    drv = page["driver"]
    runs = _table(drv, "job")
    jobs = _click(runs, "job")                        # numbers as numbers: 2 before 10
    assert _numbers(jobs) == sorted(_numbers(jobs)) and len(_numbers(jobs)) == 13
    assert jobs[-1] == "—"                            # a run outside the sweep's record last
    assert _column(runs, "job")[0].get_attribute("aria-sort") == "ascending"
    jobs = _click(runs, "job")
    assert _numbers(jobs) == sorted(_numbers(jobs), reverse=True) and jobs[-1] == "—"
    walls = _numbers(_click(runs, "wall time (s)"))
    assert walls == sorted(walls) and max(walls) == max(w for *_, w in GAUSS_JOBS)
    methods = [m for m in _click(runs, "method") if m != "—"]
    assert methods == sorted(methods)
    results = _table(drv, "dataset.mu")
    dists = _click(results, "dist_equilibrium")      # "0.0625", "9.75 ± 0.35": leading numbers
    assert _numbers(dists) == sorted(_numbers(dists)) and len(dists) >= 6


def test_config_html_is_shown_as_text(page):
    text = page["driver"].find_element("id", "config").text
    assert TAG in text and 'odd <b>&"name"' in text


def test_a_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image

    drv = page["driver"]
    shot = browser.full_screenshot(drv, tmp_path / "page.png")
    with Image.open(shot) as im:
        grey = np.asarray(im.convert("L"), dtype=float)
    assert grey.shape[0] > 1500 and grey.shape[1] >= 1000
    assert grey.std() > 20 and (grey < 200).mean() > 0.02, (grey.std(), (grey < 200).mean())
    figure = drv.find_element("css selector", "figure img")   # the figure itself drawn, not blank
    with Image.open(io.BytesIO(figure.screenshot_as_png)) as im:
        assert np.asarray(im.convert("L"), dtype=float).std() > 10
