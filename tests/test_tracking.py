"""Run records (gantrain.tracking): strict JSON whatever the values, metrics.jsonl writes and
truncation, and the wandb wrapper's finish."""
from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gantrain.tracking import MetricsFile, WandbLogger, to_json_value, write_json

INF, NAN = float("inf"), float("nan")


def strict(text: str):
    """json.loads that fails on NaN/Infinity (Python's json writes and reads them by default)."""
    def refuse(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_every_value_becomes_strict_json():
    value = {
        "gamma": INF, "eta": -INF, "lr": NAN, "ok": 0.5, "n": 3, "flag": True, "none": None,
        "tensor": torch.tensor(NAN), "tensor_ok": torch.tensor(2.5, dtype=torch.float64),
        "matrix": torch.tensor([[1.0, INF], [NAN, -2.0]]),
        "np_scalar": np.float32(INF), "np_int": np.int64(7), "np_bool": np.bool_(False),
        "np_array": np.array([1.5, NAN]),
        "nested": {"list": [INF, (1, NAN)], "deeper": {"x": [torch.tensor(-INF)]}},
        "config": OmegaConf.create({"gamma": INF, "tags": ["a", NAN]}),
        3: "int key", "path": Path("/a/b"), "complex": complex(1.0, INF),
    }
    expected = {
        "gamma": None, "eta": None, "lr": None, "ok": 0.5, "n": 3, "flag": True, "none": None,
        "tensor": None, "tensor_ok": 2.5, "matrix": [[1.0, None], [None, -2.0]],
        "np_scalar": None, "np_int": 7, "np_bool": False, "np_array": [1.5, None],
        "nested": {"list": [None, [1, None]], "deeper": {"x": [None]}},
        "config": {"gamma": None, "tags": ["a", None]},
        "3": "int key", "path": "/a/b", "complex": [1.0, None],
    }
    out = to_json_value(value)
    assert out == expected
    assert strict(json.dumps(out, allow_nan=False)) == expected
    for key in ("np_int", "np_bool", "tensor_ok"):   # plain Python types, not numpy/torch ones
        assert type(out[key]) in (int, bool, float), key


def test_write_json_never_fails_on_a_value(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"status": "completed", "gamma": INF, "config": {"eval": {"x": [NAN]}},
                      "metrics": {"loss": torch.tensor(INF)}, "other": object()})
    got = strict(path.read_text())
    assert got["gamma"] is None and got["config"] == {"eval": {"x": [None]}}
    assert got["metrics"] == {"loss": None} and got["other"].startswith("<object object")


def test_metrics_append_read_and_truncate(tmp_path):
    m = MetricsFile(tmp_path / "metrics.jsonl")
    for step in (0, 5, 10, 15):
        m.append({"step": step, "loss": torch.tensor(NAN if step == 10 else step / 10),
                  "top": [INF, step]})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    recs = [strict(line) for line in lines]
    assert [r["step"] for r in recs] == [0, 5, 10, 15]
    assert recs[2]["loss"] is None and recs[1]["loss"] == 0.5 and recs[3]["top"] == [None, 15]

    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 20, "loss": 0.')   # a kill in the middle of a line
    m.truncate_after(10)
    recs = [strict(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [0, 5, 10]
    assert m.read() == recs


def test_metrics_write_error_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    m = MetricsFile(path)
    m.append({"step": 0})

    def full_disk(self, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "open", full_disk)
    with pytest.raises(OSError) as e:
        m.append({"step": 1})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)


def test_a_disabled_metrics_file_writes_nothing(tmp_path):
    m = MetricsFile(tmp_path / "metrics.jsonl", enabled=False)
    m.append({"step": 0})
    m.truncate_after(0)
    m.reset()
    assert not (tmp_path / "metrics.jsonl").exists()


class FakeRun:
    def __init__(self, preemptible=True):
        self.calls = []
        if preemptible:
            self.mark_preempting = lambda: self.calls.append("mark_preempting")

    def finish(self, exit_code=0):
        self.calls.append(("finish", exit_code))


@pytest.mark.parametrize("preemptible", [True, False])
def test_finish_marks_a_preempted_wandb_run(preemptible):
    logger = WandbLogger(OmegaConf.create({"mode": "disabled"}), Path("."), {}, name="x")
    run = logger.run = FakeRun(preemptible)
    logger.finish(exit_code=75, preempting=True)
    assert run.calls == (["mark_preempting"] if preemptible else []) + [("finish", 75)]
    assert logger.run is None
    logger.finish()   # a second finish is a no-op


def test_finite_values_are_kept_exactly():
    x = 0.1 + 0.2
    assert to_json_value({"a": x})["a"] == x and math.isfinite(to_json_value(torch.tensor(1e-30)))


def test_reading_a_metrics_file_that_a_resume_removes_meanwhile(tmp_path, monkeypatch):
    """A monitor (the report, a test waiting for a step) reads metrics.jsonl while a resuming run
    removes it (a resume with no checkpoint starts the file again): the file seen a moment ago
    is gone at the read, which must give no records, not an error."""
    from gantrain.jsonl import read_jsonl
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setattr(Path, "is_file", lambda self: True)   # the check passed, then the unlink
    assert read_jsonl(path) == []
    assert read_jsonl(tmp_path) == []                        # a folder where the file should be


# --- a real offline wandb run: what reaches its files -------------------------------------------
def _wandb_records(path: Path) -> list:
    """The protobuf records of a ``run-*.wandb`` file, read with our own parser of its framing
    (a 7-byte header, then LevelDB-log blocks of 32 KiB with 7-byte chunk headers)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb
    data, pos, chunk, out = path.read_bytes(), 7, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):   # the block's padding
            pos += left
            continue
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):   # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(chunk)
            out.append(record)
            chunk = b""
    return out


@pytest.mark.slow
def test_offline_wandb_run_holds_the_digits_images_and_scalars(tmp_path, monkeypatch):
    """dataset=digits with logger.mode=offline: the sample grid and the mode histogram reach the
    wandb run as images (the very PNGs of the run directory), the metrics as scalars."""
    import hashlib

    from gantrain.train import train
    from tests.helpers import make_cfg
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("GANTRAIN_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "run"
    cfg = make_cfg("dataset=digits", "steps=4", "log_every=2", "eval.every=4",
                   "eval.num_samples=100", "arch.filters=4", "arch.z_dim=8", "logger=wandb",
                   "logger.mode=offline")
    assert train(cfg, d)["status"] == "completed"
    (wfile,) = (d / "wandb").glob("offline-run-*/run-*.wandb")
    rows = {}
    for r in _wandb_records(wfile):
        if r.WhichOneof("record_type") == "history":
            row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            rows[row["_step"]] = row
    assert sorted(rows) == [0, 2, 4]
    last = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()][-1]
    for key in ("modes_covered", "mode_kl", "digits_fd", "classifier_score", "loss_d"):
        assert rows[4][key] == last[key], key
    media = wfile.parent / "files"
    for kind, png in (("samples", "step_000004.png"), ("modes", "modes_step_000004.png")):
        image = rows[4][f"images/{kind}/path"]
        assert (rows[4][f"images/{kind}/_type"]) == "image-file"
        assert (media / image).read_bytes() == (d / "samples" / png).read_bytes(), kind
        assert rows[4][f"images/{kind}/sha256"] == hashlib.sha256((media / image).read_bytes()).hexdigest()
