"""Every "paper" label in docs/experiments.md and the Numerics configs carries a phrase that occurs
word for word in the source document it names (the JARE appendix, the Numerics supplement), and
every other "paper"/"papers'" in README.md, docs/ and the yaml under gantrain/conf has its source in
its sentence: a phrase quoted from one of the two documents, or a marker that the value is the
released code's, ours, derived or measured here, or from the main or another paper (LABEL_MARKERS).

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
import sys
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


def all_quotes(texts: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(where, document, phrase) of every quote this test checks: the [paper: …] labels', the
    Numerics configs', and those that source a bare label (``label_quotes``)."""
    out = [("docs/experiments.md", d, q) for d, q in doc_quotes(DOC.read_text())]
    for path in config_files():
        out += [(str(path.relative_to(ROOT)), d, q) for d, q in config_quotes(path)]
    return out + label_quotes(texts)


# --- bare labels: "the papers' value", "(paper)" outside a [paper: …] label --------------------
PAPER = re.compile(r"\bpapers?\b", re.IGNORECASE)
# a sentence holding one of these says where its value comes from without a quote
LABEL_MARKERS = re.compile(r"\bcode\b|\bours\b|derived here|measured here|main paper|other paper",
                           re.IGNORECASE)
QUOTE = re.compile(r'“([^”]+)”|"([^"\n]{4,})"')
# Uses of the word that label no value (names and headings), each with where it stands; each
# must still occur, so the list cannot outlive its entries.
NOT_LABELS = {
    "README.md": ("[Reproducing the papers](docs/papers.md)", "the paper targets"),
    "docs/index.md": ("[Reproducing the papers](papers.md)",),
    "docs/install.md": ("`trajectory`: the paper claims", "one worker holds the paper-claims module",
                        "a quick paper sweep"),
    "docs/development.md": ("one multirun grid per paper figure or table",),
    "docs/papers.md": ("# Reproducing the papers",),
    "docs/methods.md": ("It draws on two papers and their authors' TensorFlow code",
                        "§8 adds rules from further papers"),
}


def label_files() -> list[Path]:
    """Every file that may label a value: README.md, everything under docs/ that is text, and
    every yaml under gantrain/conf."""
    docs = [p for p in sorted((ROOT / "docs").rglob("*")) if p.is_file()
            and p.suffix in (".md", ".csv", ".json", ".txt")]
    return [ROOT / "README.md", *docs, *sorted(CONF.rglob("*.yaml"))]


def paragraphs(path: Path) -> list[str]:
    """The file's prose, one normalised string per paragraph: a yaml's comments (a run of
    comment lines), a markdown or text file's blocks between blank lines, where a table row or an
    indented code line is a paragraph of its own."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".yaml":
        blocks, block = [], []
        for line in lines + [""]:
            comment = line.split(" #", 1)[1] if " #" in line and not line.lstrip().startswith("#") \
                else line.lstrip()[1:] if line.lstrip().startswith("#") else None
            if comment is not None and comment.strip():
                block.append(comment)
            elif block:
                blocks.append(" ".join(block))
                block = []
        return [norm(b) for b in blocks]
    out = []
    for block in re.split(r"\n\s*\n", "\n".join(lines)):
        rows = block.splitlines()
        apart = [r for r in rows if r.lstrip().startswith("|") or r.startswith("    ")]
        prose = " ".join(r for r in rows if r not in apart)
        out += [norm(t) for t in (*apart, prose) if t.strip()]
    return out


def sentences(paragraph: str) -> list[str]:
    """A paragraph cut after . ! ? or ; where the next sentence starts (not "Fig. 7", "e.g. a")."""
    return re.split(r"(?<=[.!?;])\s+(?=[A-Z*\[(`“\"#|-])", paragraph)


def bare_labels(path: Path) -> list[str]:
    """The sentences of ``path`` that use "paper" outside a [paper: …], [main paper: …] or
    [other paper: …] label and outside NOT_LABELS."""
    skip = NOT_LABELS.get(str(path.relative_to(ROOT)), ())
    out = []
    for para in paragraphs(path):
        stripped = para
        for kind, body in tags(para):
            stripped = stripped.replace(f"[{kind}{body}]", "[label]")
        for phrase in skip:
            stripped = stripped.replace(phrase, "")
        out += [s for s in sentences(stripped) if PAPER.search(s)]
    return out


def sentence_quotes(sentence: str) -> list[str]:
    return [a or b for a, b in QUOTE.findall(sentence)]


# a sentence that names a source document, so its quotes are taken as the document's
NAMES_SOURCE = re.compile(r"appendix|supplement|caption", re.IGNORECASE)
NO_SOURCE = "no source document"


def label_quotes(texts: dict[str, str] | None) -> list[tuple[str, str, str]]:
    """(where, document, phrase) of every quote in a sentence that names a source document or
    holds a bare label: the document the phrase occurs in (with the source texts), or whose
    checked hash it has (without); NO_SOURCE when none, which fails the tests below."""
    stored = stored_hashes()
    out = []
    for path in label_files():
        bare = set(bare_labels(path))
        for para in paragraphs(path):
            for s in sentences(para):
                if not NAMES_SOURCE.search(s) and s not in bare:
                    continue
                for q in sentence_quotes(s):
                    if q == "…":   # experiments.md's legend
                        continue
                    docs = [d for d in DOCUMENTS
                            if ((norm(q) in texts[d]) if texts else digest(d, q) in stored)]
                    out.append((str(path.relative_to(ROOT)), docs[0] if docs else NO_SOURCE, q))
    return out


def stored_hashes() -> set[str]:
    return {line.split()[0] for line in HASHES.read_text().splitlines() if line.strip()}


def unsourced(sentence: str, stored: set[str]) -> bool:
    """True when a bare label's sentence has neither a marker nor a checked quote."""
    return not LABEL_MARKERS.search(sentence) and not any(
        digest(d, q) in stored for q in sentence_quotes(sentence) for d in DOCUMENTS)


def test_every_paper_label_everywhere_has_a_quote_or_a_marker():
    files = label_files()
    names = {str(p.relative_to(ROOT)) for p in files}
    assert {"README.md", "docs/methods.md", "docs/experiments.md",
            "gantrain/conf/train.yaml", "gantrain/conf/dataset/cifar10.yaml"} <= names
    stored = stored_hashes()
    bad = [(str(p.relative_to(ROOT)), s) for p in files for s in bare_labels(p) if unsourced(s, stored)]
    assert not bad, "a 'paper' label without a quote from the sources or a code/ours marker:\n" + \
        "\n".join(f"{where}: {s}" for where, s in bad)
    for where, phrases in NOT_LABELS.items():
        text = norm((ROOT / where).read_text())
        assert all(norm(p) in text for p in phrases), (where, [p for p in phrases if norm(p) not in text])


@pytest.mark.parametrize("planted,caught", [
    ("Its lr 1e-4 and 20 000 steps are the papers' values.", True),
    ('Batch 64 is the paper\'s ("a batch size of 64 is sufficient").', True),   # not its phrase
    ('Batch 64 is the paper\'s ("In practice, we found that a batch size of 64 is usually '
     'sufficient to make consensus optimization work.").', False),
    ("The lr is the papers' (code: train.py).", False),
    ("The seeds are the papers' (ours: they give none).", False),
])
def test_a_planted_label_is_caught(tmp_path, monkeypatch, planted, caught):
    """The check itself: a bare label in a new yaml comment under gantrain/conf."""
    conf = tmp_path / "gantrain" / "conf"
    (conf / "sweep").mkdir(parents=True)
    (conf / "sweep" / "planted.yaml").write_text(f"# Planted. {planted}\nsteps: 1\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("nothing here\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "CONF", conf)
    [(path, sentence)] = [(p, s) for p in label_files() for s in bare_labels(p)]
    assert unsourced(sentence, stored_hashes()) is caught, sentence


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
    quotes = all_quotes(texts)
    missing = [(where, d, q) for where, d, q in quotes if d == NO_SOURCE or norm(q) not in texts[d]]
    assert not missing, f"not found word for word: {missing}"
    want = sorted({f"{digest(d, q)}  {d}" for _, d, q in quotes})
    have = sorted(line for line in HASHES.read_text().splitlines() if line.strip())
    assert have == want, ("tests/provenance_quotes.txt is not the set of quoted phrases; it should "
                          "read:\n" + "\n".join(want))
