"""Checkpoint files (gantrain.checkpoint): atomic writes, the kept checkpoints, and the fallback from
an unreadable checkpoint to the newest readable one."""
from __future__ import annotations

import errno
import logging
import os

import pytest
import torch
from torch import nn

import gantrain.checkpoint as ckpt_mod
from gantrain.checkpoint import CheckpointError, CheckpointIO, atomic_write_bytes, atomic_write_text
from gantrain.errors import ConfigError


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- atomic writes ---------------------------------------------------------------------------
def test_atomic_write_replaces_the_whole_file_with_the_usual_permissions(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert listing(path.parent) == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask   # not mkstemp's 0600


def test_a_crash_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_text(path, "old")

    def half_then_crash(f):
        f.write(b"new, cut sh")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, half_then_crash)
    assert path.read_text() == "old"
    assert listing(tmp_path) == ["a.bin"]   # no temporary file left behind


def test_a_full_disk_leaves_the_old_file_and_names_the_path(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    monkeypatch.setattr(os, "replace", enospc)
    with pytest.raises(OSError) as e:
        atomic_write_text(path, "new")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(path)
    assert path.read_text() == "old"
    assert listing(tmp_path) == ["a.txt"]


# --- CheckpointIO ----------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)


def weights_at(step: int) -> dict[str, torch.Tensor]:
    """The weights saved at ``step`` in these tests: a value nobody else computes."""
    return {"lin.weight": torch.full((2, 3), float(step)), "lin.bias": torch.arange(2.0) + step}


def save_steps(directory, steps, keep_last) -> tuple[Net, CheckpointIO]:
    net = Net()
    io = CheckpointIO(directory, keep_last=keep_last, net=net)
    for s in steps:
        net.load_state_dict(weights_at(s))
        io.save(step=s, note=f"at {s}")
    return net, io


def loaded(directory, keep_last=2) -> tuple[dict | None, Net, CheckpointIO]:
    net = Net()
    io = CheckpointIO(directory, keep_last=keep_last, net=net)
    return io.load_latest(), net, io


def assert_weights(net, step):
    for k, v in weights_at(step).items():
        assert torch.equal(net.state_dict()[k], v), (k, step)


@pytest.mark.parametrize("keep_last", [1, 2, 3])
def test_the_newest_keep_last_checkpoints_are_kept(tmp_path, keep_last):
    save_steps(tmp_path, [10, 20, 30, 40, 50], keep_last)
    kept = [50, 40, 30][:keep_last]
    assert listing(tmp_path) == sorted(["last.pt"] + [f"step_{s:08d}.pt" for s in kept[1:]])
    for s in kept:
        name = "last.pt" if s == 50 else f"step_{s:08d}.pt"
        payload = torch.load(tmp_path / name, weights_only=True)
        assert payload["step"] == s and payload["note"] == f"at {s}"
        for k, v in weights_at(s).items():
            assert torch.equal(payload["modules"]["net"][k], v)


def test_load_latest_loads_the_newest(tmp_path):
    save_steps(tmp_path, [10, 20], keep_last=2)
    extra, net, io = loaded(tmp_path)
    assert extra["step"] == 20 and extra["note"] == "at 20" and "modules" not in extra
    assert_weights(net, 20)
    assert io.unreadable == []


def test_no_checkpoint_at_all_is_none(tmp_path):
    assert loaded(tmp_path / "nothing")[0] is None


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def flip_a_weight_byte(path):
    """Change one stored weight in place (the zip structure stays valid: only its CRC fails)."""
    data = bytearray(path.read_bytes())
    needle = torch.full((2, 3), 30.0).numpy().tobytes()   # weights_at(30)["lin.weight"]
    at = bytes(data).find(needle)
    assert at >= 0
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, lambda p: p.write_bytes(b""),
                                    lambda p: p.write_bytes(b"PK\x03\x04 garbage" * 10),
                                    flip_a_weight_byte],
                         ids=["truncated", "empty", "garbage", "bit-flip"])
def test_an_unreadable_last_checkpoint_falls_back_with_one_warning(tmp_path, caplog, damage):
    save_steps(tmp_path, [10, 20, 30], keep_last=2)
    if damage is flip_a_weight_byte:   # the newest holds weights_at(30)
        flip_a_weight_byte(tmp_path / "last.pt")
    else:
        damage(tmp_path / "last.pt")
    with caplog.at_level(logging.WARNING, logger="gantrain"):
        extra, net, io = loaded(tmp_path)
    assert extra["step"] == 20
    assert_weights(net, 20)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "last.pt" in warnings[0]
    assert io.unreadable == [tmp_path / "last.pt"]

    io.set_aside_unreadable()   # kept for inspection, never tried again
    assert listing(tmp_path) == ["last.pt.corrupt", "step_00000020.pt"]
    net.load_state_dict(weights_at(25))
    io.save(step=25)
    assert listing(tmp_path) == ["last.pt", "last.pt.corrupt", "step_00000020.pt"]
    again, net2, _ = loaded(tmp_path)
    assert again["step"] == 25
    assert_weights(net2, 25)


def test_a_last_checkpoint_of_unknown_step_is_replaced_not_kept(tmp_path):
    """A CheckpointIO that never read last.pt cannot name it step_<n>.pt: it overwrites it."""
    save_steps(tmp_path, [10], keep_last=1)
    save_steps(tmp_path, [3], keep_last=2)
    assert listing(tmp_path) == ["last.pt"]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 3


def test_a_crash_between_the_renames_resumes_from_the_kept_one(tmp_path):
    """Killed after last.pt became step_<n>.pt and before the new last.pt took its place."""
    save_steps(tmp_path, [10, 20], keep_last=2)
    os.replace(tmp_path / "last.pt", tmp_path / "step_00000020.pt")
    extra, net, io = loaded(tmp_path)
    assert extra["step"] == 20 and io.unreadable == []
    assert_weights(net, 20)


def test_no_readable_checkpoint_is_one_config_error(tmp_path):
    save_steps(tmp_path, [10, 20], keep_last=2)
    truncate(tmp_path / "last.pt")
    (tmp_path / "step_00000010.pt").write_bytes(b"")
    with pytest.raises(CheckpointError) as e:
        loaded(tmp_path)
    msg = str(e.value)
    assert isinstance(e.value, ConfigError)
    assert "\n" not in msg and str(tmp_path) in msg and "resume=false" in msg
    assert "last.pt" in msg and "step_00000010.pt" in msg


def test_a_checkpoint_without_a_registered_module_is_unreadable(tmp_path):
    save_steps(tmp_path, [10], keep_last=1)
    io = CheckpointIO(tmp_path, net=Net(), other=Net())
    with pytest.raises(CheckpointError, match="lacks"):
        io.load_latest()


@pytest.mark.parametrize("where", ["write", "rename"])
def test_a_full_disk_while_saving_keeps_the_previous_checkpoints(tmp_path, monkeypatch, where):
    net, io = save_steps(tmp_path, [10, 20], keep_last=2)
    before = {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)}
    if where == "write":
        def full_disk_save(obj, f):
            f.write(b"PK\x03\x04 partial")
            enospc()
        monkeypatch.setattr(ckpt_mod.torch, "save", full_disk_save)
    else:
        monkeypatch.setattr(os, "replace", enospc)
    with pytest.raises(OSError) as e:
        io.save(step=30)
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "last.pt")
    assert {name: (tmp_path / name).read_bytes() for name in listing(tmp_path)} == before
    extra, net2, _ = loaded(tmp_path)
    assert extra["step"] == 20
    assert_weights(net2, 20)


def test_clear_and_temporary_files(tmp_path):
    save_steps(tmp_path, [10, 20], keep_last=2)
    (tmp_path / ".last.pt.abc123.tmp").write_bytes(b"torn")
    io = CheckpointIO(tmp_path, keep_last=2, net=Net())
    assert io.candidates() == [tmp_path / "last.pt", tmp_path / "step_00000010.pt"]
    io.remove_temporary()
    assert listing(tmp_path) == ["last.pt", "step_00000010.pt"]
    io.clear()
    assert listing(tmp_path) == []


def test_keep_last_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointIO(tmp_path, keep_last=0)
