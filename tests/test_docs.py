"""The documentation: the README a new user reads in five minutes, the site `make docs` builds, and
every command the two show.

Every shell block of README.md and docs/ (a fenced ``bash``/``sh``/``shell``/``console`` block, or an
indented block that starts with a command) carries a marker on the line before it:

- ``<!-- docs-test: run -->``: each of its commands finishes in under a minute; this file runs them,
  one by one, in a temporary folder (wandb disabled, the venv's scripts first on PATH), in `make test`;
- ``<!-- docs-test: run in the long tier: <time> -->``: the same, in `make test-long`: commands of
  20-60 s, kept out of `make test`'s time;
- ``<!-- docs-test: long: <reason> -->``: it takes more than a minute; the reason says what runs it
  instead, or how long it takes;
- ``<!-- docs-test: not run: <reason> -->``: it needs what a test machine lacks (a GPU, a cluster,
  a dataset, a run directory to fill in).

A block without a marker fails ``test_every_shell_block_is_run_or_marked``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
README_MAX_LINES = 150
MARK = re.compile(r"^<!-- docs-test: (run in the long tier|run|long|not run)(?:: (.+?))? -->$")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
COMMAND = re.compile(r"^(\$ )?((gantrain(-analyze|-report)?|make|python3?|torchrun|srun|sbatch|scontrol|"
                     r"pip|cd|git)(\s|$)|(\.venv|scripts)/\S+(\s|$)|[A-Z_]+=\S+ )")
# A command of a `run` block must finish within this (a minute on an idle machine, with room for a
# 2-core machine shared with other work: five times that).
RUN_TIMEOUT_S = 300


@dataclass
class Block:
    path: Path
    line: int            # 1-based, the block's first line
    lang: str
    text: str
    mark: str | None     # run | long | not run
    reason: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The block's commands: continuation lines joined, comments and blank lines left out."""
        out, cur = [], ""
        for line in self.text.splitlines():
            line = re.sub(r"^\$ ", "", line.rstrip())
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            cont = line.endswith("\\")
            cur += (line[:-1] if cont else line).strip() + (" " if cont else "")
            if not cont:
                out.append(cur.strip())
                cur = ""
        return out


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _mark(lines: list[str], start: int) -> tuple[str | None, str | None]:
    """The marker on the nearest non-blank line before line index ``start``."""
    i = start - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    m = MARK.match(lines[i].strip()) if i >= 0 else None
    return (m.group(1), m.group(2)) if m else (None, None)


def blocks(path: Path, text: str | None = None) -> list[Block]:
    """The code blocks of a markdown file (or of ``text``, as that file): fenced ones and indented
    ones (outside lists)."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if m:
            fence, j = m.group(2), i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            body = "\n".join(line[len(m.group(1)):] for line in lines[i + 1:j])
            out.append(Block(path, i + 2, m.group(3).lower(), body, *_mark(lines, i)))
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()) \
                and not _in_list(lines, i):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            body = "\n".join(line[4:] for line in lines[i:j]).strip("\n")
            out.append(Block(path, i + 1, "", body, *_mark(lines, i)))
            i = j
            continue
        i += 1
    return out


def _in_list(lines: list[str], i: int) -> bool:
    """True when the indented line i continues a list item (the paragraph above is one)."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    while j >= 0 and lines[j].strip():
        if re.match(r"^\s*([-*+]|\d+\.)\s", lines[j]):
            return True
        if not lines[j].startswith(" "):
            return False
        j -= 1
    return False


def is_shell(block: Block) -> bool:
    if block.lang in SHELL_LANGS:
        return True
    first = next((line for line in block.text.splitlines() if line.strip()), "")
    return block.lang in ("", "text") and bool(COMMAND.match(first.strip()))


def shell_blocks() -> list[Block]:
    return [b for p in doc_files() for b in blocks(p) if is_shell(b)]


def run_blocks() -> list:
    """The blocks this file runs: `run` ones in the slow tier, the others in the long tier."""
    return [pytest.param(b, id=b.where, marks=[pytest.mark.long] if b.mark != "run" else [])
            for b in shell_blocks() if (b.mark or "").startswith("run")]


# --- the README ---------------------------------------------------------------------------------
def test_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; the reference belongs in docs/"


def test_readme_links_and_picture_exist():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"^[a-z]+://", link)]
    assert any(link.endswith(".png") for link in local), "the README shows one picture of a result"
    assert sum(link.startswith("docs/") and link.endswith(".md") for link in local) >= 8
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


# --- the shell blocks -------------------------------------------------------------------------
def test_the_block_parser():
    """Fenced and indented blocks, markers, continuation lines; formulas and list items are not
    shell blocks."""
    doc = ROOT / "docs" / "x.md"
    text = ("Intro\n\n<!-- docs-test: run -->\n\n```bash\ngantrain --help   # help\n"
            "make appc \\\n  QUICK=1\n```\n\n    R = ½‖v‖²\n\n- item\n\n    gantrain continued\n\n"
            "<!-- docs-test: long: minutes -->\n\n    make fig7\n")
    found = []
    for b in blocks(doc, text):
        found.append((b.lang, b.mark, b.reason, is_shell(b), b.commands()))
    assert found == [("bash", "run", None, True, ["gantrain --help   # help", "make appc QUICK=1"]),
                     ("", None, None, False, ["R = ½‖v‖²"]),
                     ("", "long", "minutes", True, ["make fig7"])]


def test_every_shell_block_is_run_or_marked():
    blocks_ = shell_blocks()
    assert len(blocks_) >= 20
    unmarked = [b.where for b in blocks_ if b.mark is None]
    assert not unmarked, ("shell blocks without a <!-- docs-test: run|long: why|not run: why --> "
                          f"marker: {unmarked}")
    no_reason = [b.where for b in blocks_ if b.mark != "run" and not (b.reason or "").strip()]
    reason = [b.where for b in blocks_ if b.mark == "run" and b.reason]
    assert not reason, f"run blocks take no reason (a long one says so): {reason}"
    assert not no_reason, f"long or not-run blocks without their reason: {no_reason}"
    assert len(run_blocks()) >= 8


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder that looks like the checkout to `make` (Makefile, scripts, the venv) but keeps what
    the commands write (outputs/) to itself."""
    work = tmp_path_factory.mktemp("docs-commands")
    for name in ("Makefile", "scripts", "benchmarks", "constraints.txt"):
        (work / name).symlink_to(ROOT / name)
    (work / ".venv").symlink_to(VENV_BIN.parent)
    return work


def command_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1", NO_MKDOCS_2_WARNING="1",
               PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


@pytest.mark.slow
@pytest.mark.parametrize("block", run_blocks())
def test_documented_command_runs(block, workdir):
    for cmd in block.commands():
        start = time.monotonic()
        res = subprocess.run(["bash", "-c", cmd], cwd=workdir, env=command_env(), capture_output=True,
                             text=True, timeout=RUN_TIMEOUT_S)
        took = time.monotonic() - start
        assert res.returncode == 0, f"{block.where}: `{cmd}` exit {res.returncode} after {took:.0f} s\n" \
            + res.stdout[-2000:] + res.stderr[-2000:]


# --- the site ---------------------------------------------------------------------------------
def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "mkdocs"), "build", "--strict", "-f", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300,
                          env=command_env())


@pytest.mark.slow
def test_make_docs_builds_the_site_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (make install has it)")
    res = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "rules" / "index.html").read_text()
    assert "UpdateRule" in api                              # mkdocstrings read the docstrings
    html = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html   # nothing from the network


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (make install has it)")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "gantrain").symlink_to(ROOT / "gantrain")
    with (tmp_path / "docs" / "index.md").open("a") as f:
        f.write("\nSee [a page that is not there](nowhere.md).\n")
    res = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert res.returncode != 0 and "nowhere.md" in res.stdout + res.stderr


def test_the_nav_holds_every_topic_and_only_pages_that_exist():
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))["nav"]

    def pages(node) -> set[str]:
        if isinstance(node, str):
            return {node}
        if isinstance(node, list):
            return set().union(*(pages(n) for n in node))
        return set().union(*(pages(v) for v in node.values()))

    listed = pages(nav)
    md = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert listed - md == set(), f"nav entries without a page: {sorted(listed - md)}"
    topics = {"configuration.md", "rules.md", "analysis.md", "papers.md", "ensembles.md",
              "distributed.md", "slurm.md", "gpu-check.md", "results.md", "plugins.md"}
    assert topics <= listed, sorted(topics - listed)


# --- gantrain --help ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def help_text(tmp_path_factory) -> str:
    res = subprocess.run([str(VENV_BIN / "gantrain"), "--help"], cwd=tmp_path_factory.mktemp("help"),
                         env=command_env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.slow
def test_help_lists_every_registered_rule_first(help_text):
    from gantrain.rules import RULES

    rules = help_text.index("method=<rule>")
    groups = help_text.index("Config groups")
    for name in RULES:
        assert re.search(rf"^  {re.escape(name)}\s+\S", help_text[rules:groups], re.M), name
    assert rules < groups < help_text.index("Settings")


@pytest.mark.slow
def test_help_shows_user_groups_only_in_the_order_a_user_picks(help_text):
    assert "schema/" not in help_text
    groups = re.findall(r"^([a-z_]+): ", help_text[help_text.index("Config groups"):
                                                  help_text.index("Settings")], re.M)
    assert groups[:6] == ["dataset", "arch", "loss", "optim", "eval", "logger"], groups
    assert {"experiment", "launcher", "sweep", "quick"} <= set(groups)


@pytest.mark.slow
def test_help_settings_lead_with_the_key_settings(help_text):
    settings = help_text[help_text.index("Settings"):]
    keys = re.findall(r"^([a-z_]+):", settings, re.M)
    assert keys[:4] == ["gamma", "eta", "steps", "batch_size"], keys
    assert keys.index("method") < keys.index("dataset") < keys.index("analysis")
    assert keys.index("engine") > keys.index("logger")
    assert "lr: ${eta}" in settings                       # interpolations shown as written
