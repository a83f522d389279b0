"""Headless Chromium driven by Selenium, for the HTML report's browser tests (`make test-browser`)
and its screenshot in the docs:

    .venv/bin/python -m tests.report.browser PAGE.html OUT.png

Debian's chromium and chromedriver are used as installed (apt): Selenium is given both paths, so
it never looks for a browser or driver to download.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)
WIDTH, HEIGHT = 1280, 1000
SHOT_HEIGHT = 1300        # the docs' screenshot: the tables and the first figure


def _which(names: tuple[str, ...]) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


def missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make test-browser installs it)"
    if not _which(CHROMIUM) or not _which(DRIVER):
        return "chromium or chromedriver not found (make test-browser installs Debian's)"
    return None


def driver(width: int = WIDTH, height: int = HEIGHT):
    """A headless Chromium that keeps every console message (``get_log("browser")``).

    Args:
        width, height: the window's size in CSS pixels.

    Returns:
        A selenium WebDriver; quit it when done.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _which(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-device-scale-factor=1",
                "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=_which(DRIVER)), options=opts)


def load(drv, page: Path, timeout: float = 20.0) -> None:
    """Open a local page and wait until its script has run (``<body data-ready="1">``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    drv.get(Path(page).resolve().as_uri())
    WebDriverWait(drv, timeout).until(
        lambda d: d.execute_script("return document.body && document.body.dataset.ready") == "1")


def full_screenshot(drv, out: Path, max_height: int = 6000) -> Path:
    """A screenshot of the whole page (the window stretched to its height, at most
    ``max_height``).

    Args:
        drv: a driver with the page loaded.
        out: the PNG to write.
        max_height: the tallest screenshot taken.

    Returns:
        ``out``.
    """
    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(WIDTH, min(int(height) + 100, max_height))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(out))
    return Path(out)


def main(argv: list[str]) -> int:
    """``PAGE OUT.png``: a screenshot of the top of a report page, ``WIDTH`` x ``SHOT_HEIGHT``."""
    if len(argv) != 2:
        print("usage: python -m tests.report.browser PAGE.html OUT.png", file=sys.stderr)
        return 2
    drv = driver()
    try:
        drv.set_window_size(WIDTH, SHOT_HEIGHT)
        load(drv, Path(argv[0]))
        drv.save_screenshot(argv[1])
    finally:
        drv.quit()
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
