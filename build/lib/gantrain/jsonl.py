"""Reading JSON-lines files such as metrics.jsonl (no torch import: the report tool uses it)."""
from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    """The objects of a JSON-lines file, skipping lines that are blank or were cut short by a
    crash in the middle of a write; [] when the file does not exist."""
    try:
        text = Path(path).read_text(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        # Also when a resuming run replaces the file between a check and the read.
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
