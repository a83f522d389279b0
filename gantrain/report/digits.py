"""The digits benchmark's report figures (dataset=digits, stacked_digits; ``make digits``): the
classifier's metrics against iterations, and one animated image per run of its sample grids
over training."""
from __future__ import annotations

import re
from pathlib import Path

from gantrain.report.collect import Section, fmt_value
from gantrain.report.figures import curve_grid

DIGITS_DATASETS = ("digits", "stacked_digits")
FRAME_MS = 400          # each sample grid shown this long; the last one three times as long


def is_digits_section(section: Section) -> bool:
    return section.kind == "train" and section.dataset in DIGITS_DATASETS


def digits_metrics(section: Section, path: Path) -> Path | None:
    """Modes covered, the modes' KL from uniform and digits-FD against iterations: one line per
    method (mean over seeds, min-max band), one column per other setting."""
    return curve_grid(section, [("modes_covered", "modes covered (higher is better)"),
                                ("mode_kl", "KL(modes ‖ uniform) (lower is better)"),
                                ("digits_fd", "digits-FD (lower is better)")], path,
                      f"{section.dataset}: the digits classifier's metrics (missing values skipped)")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=.+-]+", "_", text).strip("_") or "run"


def animations(section: Section, folder: Path) -> list[Path]:
    """One GIF per run: its sample grids (samples/step_XXXXXX.png, the same z throughout) in step
    order, written to ``folder/<setting>_seed<k>.gif``. Returns the files written."""
    from PIL import Image, ImageDraw

    written = []
    for s in section.settings:
        for r in s.runs:
            grids = r.sample_grids()
            if len(grids) < 2:
                continue
            frames = []
            for step in sorted(grids):
                with Image.open(grids[step]) as im:
                    frame = im.convert("RGB")
                canvas = Image.new("RGB", (frame.width, frame.height + 14), "white")
                canvas.paste(frame, (0, 14))
                ImageDraw.Draw(canvas).text((2, 1), f"iteration {step}", fill="black")
                frames.append(canvas)
            label = ", ".join(x for x in (section.line_label(s),
                                          section.context_label(section.context(s))) if x)
            path = folder / f"{_slug(label)}_seed{fmt_value(r.seed)}.gif"
            path.parent.mkdir(parents=True, exist_ok=True)
            durations = [FRAME_MS] * (len(frames) - 1) + [3 * FRAME_MS]
            frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations,
                           loop=0)
            written.append(path)
    return written
