"""Every "paper" label in docs/experiments.md and the Numerics configs carries a phrase that occurs
word for word in the source document it names (the JARE appendix, the Numerics supplement).

The source texts are not in the repository. Where they are (beside the checkout, or in
$GANTRAIN_SOURCE_TEXTS), each quoted phrase is looked up in its document, whitespace normalised, and
tests/provenance_quotes.txt must list exactly the SHA-256 of the phrases quoted. Everywhere else
(CI) the labels' form is checked and every quoted phrase must be one of those hashes, so a quote
changed without being checked against the source fails there too.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "experiments.md"
HASHES = ROOT / "tests" / "provenance_quotes.txt"
CONF = ROOT / "gantrain" / "conf"
# the labels of docs/experiments.md (its legend explains them)
KINDS = ("paper", "main paper", "other paper", "code", "ours", "derived here", "measured here")
# a document is recognised by its text, not by its file name
DOCUMENTS = {"the JARE appendix": "A Proofs in Section 4",
             "the Numerics supplement": "The Numerics of GANs: Supplementary Material"}


def norm(text: str) -> str:
    return " ".join(text.split())


def digest(document: str, phrase: str) -> str:
    return hashlib.sha256(f"{document}\n{norm(phrase)}".encode()).hexdigest()


def tags(text: str) -> list[tuple[str, str]]:
    """Every label [kind…] of the text as (kind, body), the body up to the closing bracket outside
    quotes (a quote may hold brackets: “RMSProp [25]”)."""
    out = []
    for m in re.finditer(r"\[(" + "|".join(KINDS) + r")(?=[:\]])", text):
        i, quoted = m.end(), False
        while i < len(text) and (quoted or text[i] != "]"):
            quoted = {"“": True, "”": False}.get(text[i], quoted)
            i += 1
        out.append((m.group(1), text[m.end():i]))
    return out


def doc_quotes(text: str) -> list[tuple[str, str]]:
    """(document, phrase) of every [paper: …] label; a label not of the form
    ``[paper: the JARE appendix|the Numerics supplement, “…”; “…”]`` raises AssertionError."""
    out = []
    for kind, body in tags(text):
        if kind != "paper":
            continue
        m = re.fullmatch(r": (the JARE appendix|the Numerics supplement), (“[^”]+”(; “[^”]+”)*)",
                         norm(body))
        assert m, f"a paper label without a quoted phrase: [paper{norm(body)}]"
        out += [(m.group(1), q) for q in re.findall(r"“([^”]+)”", m.group(2)) if q != "…"]  # legend
    return out


def config_files() -> list[Path]:
    return sorted([*CONF.glob("sweep/numerics*.yaml"), *CONF.glob("experiment/numerics_*.yaml"),
                   *CONF.glob("variant/numerics_*.yaml")])


def config_quotes(path: Path) -> list[tuple[str, str]]:
    """The Numerics configs quote the supplement in their comments, in ASCII double quotes; each
    "(paper" label stands by a quote, each "paper, the Numerics supplement:" precedes one."""
    comments = norm(" ".join(line.lstrip("#") for line in path.read_text().splitlines()
                             if line.startswith("#")))
    for m in re.finditer(r"\(paper\b", comments):
        near = comments[max(0, m.start() - 60):m.end() + 20]
        assert '"' in near, f"{path.name}: a paper label without a quote: {near}"
    for m in re.finditer(r"paper, the Numerics supplement:", comments):
        assert '"' in comments[m.end():m.end() + 80], f"{path.name}: {comments[m.start():m.end() + 80]}"
    return [("the Numerics supplement", q) for q in re.findall(r'"([^"]+)"', comments)]


def all_quotes() -> list[tuple[str, str, str]]:
    """(where, document, phrase) of every quote this test checks."""
    out = [("docs/experiments.md", d, q) for d, q in doc_quotes(DOC.read_text())]
    for path in config_files():
        out += [(str(path.relative_to(ROOT)), d, q) for d, q in config_quotes(path)]
    return out


def source_texts() -> dict[str, str] | None:
    """The two documents' text by name, whitespace normalised; None when they are not here."""
    folder = Path(os.environ.get("GANTRAIN_SOURCE_TEXTS", ROOT.parent / "shared" / "seeds"))
    if not folder.is_dir():
        return None
    found = {}
    for path in folder.glob("*.txt"):
        text = norm(path.read_text(encoding="utf-8", errors="replace"))
        for name, opening in DOCUMENTS.items():
            if text.startswith(norm(opening)) or text[:200].find(opening) >= 0:
                found[name] = text
    return found if set(found) == set(DOCUMENTS) else None


def test_every_label_is_a_known_kind_and_no_bare_paper_label():
    text = DOC.read_text()
    found = tags(text)
    assert {k for k, _ in found} >= {"paper", "main paper", "code", "ours"}
    doc_quotes(text)                                  # every [paper …] has its quotes
    stripped = text
    for kind, body in found:                          # outside the labels, no "paper" as a label
        stripped = stripped.replace(f"[{kind}{body}]", "")
    bare = [m.group(0) for m in re.finditer(r".{0,30}\bpaper\b.{0,30}", stripped)]
    assert not bare, f"'paper' outside a [paper: …] label: {bare}"
    assert not re.search(r"\|\s*(paper|code|paper and code)\s*\|", text), "an unlabelled source cell"


def test_every_quote_is_one_checked_against_the_sources():
    stored = {line.split()[0] for line in HASHES.read_text().splitlines() if line.strip()}
    quotes = all_quotes()
    assert len(quotes) >= 40
    unchecked = [(where, d, q) for where, d, q in quotes if digest(d, q) not in stored]
    assert not unchecked, ("quotes never checked against the source texts (run this test where "
                           f"they are): {unchecked}")


def test_every_quote_occurs_in_its_source_text():
    texts = source_texts()
    if texts is None:
        pytest.skip("the source texts are not beside this checkout")
    quotes = all_quotes()
    missing = [(where, d, q) for where, d, q in quotes if norm(q) not in texts[d]]
    assert not missing, f"not found word for word: {missing}"
    want = sorted({f"{digest(d, q)}  {d}" for _, d, q in quotes})
    have = sorted(line for line in HASHES.read_text().splitlines() if line.strip())
    assert have == want, ("tests/provenance_quotes.txt is not the set of quoted phrases; it should "
                          "read:\n" + "\n".join(want))
