"""Launch detection: torchrun's and SLURM's variables, SLURM node lists, the master address/port."""
from __future__ import annotations

import os
import stat

import pytest

from gantrain import distributed

# Hand-written expansions (what `scontrol show hostnames` prints, one per line).
EXPANSIONS = {
    "gpu-a[01-04,07],gpu-b3": ["gpu-a01", "gpu-a02", "gpu-a03", "gpu-a04", "gpu-a07", "gpu-b3"],
    "node[1-3]": ["node1", "node2", "node3"],
    "a[001-003]-ib": ["a001-ib", "a002-ib", "a003-ib"],
    "n1,n2": ["n1", "n2"],
    "x[01-02]y[1-2]": ["x01y1", "x01y2", "x02y1", "x02y2"],
    "node[8-10]": ["node8", "node9", "node10"],
    "node[09-11]": ["node09", "node10", "node11"],
    "single": ["single"],
    "r[1-2]n[3,5],login": ["r1n3", "r1n5", "r2n3", "r2n5", "login"],
}

SLURM_VARS = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_ID", "SLURM_STEP_ID",
              "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST")
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    for k in (*SLURM_VARS, *TORCHRUN_VARS):
        # set first, so that undo also removes what init() adds with os.environ.update
        monkeypatch.setenv(k, "")
        monkeypatch.delenv(k)
    return monkeypatch


@pytest.fixture
def no_scontrol(clean_env, tmp_path):
    """A PATH without scontrol (only an empty folder and the system's, checked)."""
    clean_env.setenv("PATH", str(tmp_path))
    assert distributed.shutil.which("scontrol") is None
    return clean_env


def _fake_scontrol(folder, monkeypatch, output: str, log) -> None:
    script = folder / "scontrol"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> '{log}'\nprintf '{output}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.parametrize("nodelist", sorted(EXPANSIONS))
def test_expand_nodelist(nodelist):
    assert distributed.expand_nodelist(nodelist) == EXPANSIONS[nodelist]


@pytest.mark.parametrize("bad", ["n[1-", "n]1", "n[3-1]", "n[a-b]", "n1,,n2", "n[[1]]", "n[1-2"])
def test_expand_nodelist_refuses_malformed_lists(bad):
    with pytest.raises(ValueError, match="node list") as e:
        distributed.expand_nodelist(bad)
    assert "\n" not in str(e.value) and repr(bad) in str(e.value)


def test_env_world_single_process(clean_env):
    assert distributed.env_world() == (0, 1, 0)


def test_env_world_torchrun(clean_env):
    clean_env.setenv("RANK", "5")
    clean_env.setenv("WORLD_SIZE", "8")
    clean_env.setenv("LOCAL_RANK", "1")
    assert distributed.env_world() == (5, 8, 1)


def test_env_world_slurm(clean_env):
    clean_env.setenv("SLURM_PROCID", "6")
    clean_env.setenv("SLURM_NTASKS", "16")
    clean_env.setenv("SLURM_LOCALID", "2")
    assert distributed.env_world() == (6, 16, 2)
    assert distributed.local_device("cuda") == "cuda:2"


def test_env_world_torchrun_wins_over_slurm(clean_env):
    """torchrun inside a SLURM allocation: torchrun's own ranks, not the SLURM task's."""
    for k, v in dict(SLURM_PROCID="0", SLURM_NTASKS="2", SLURM_LOCALID="0",
                     RANK="3", WORLD_SIZE="4", LOCAL_RANK="3").items():
        clean_env.setenv(k, v)
    assert distributed.env_world() == (3, 4, 3)


def test_env_world_one_slurm_task_is_one_process(clean_env):
    clean_env.setenv("SLURM_PROCID", "0")
    clean_env.setenv("SLURM_NTASKS", "1")
    assert distributed.env_world() == (0, 1, 0)


def test_master_without_scontrol_uses_the_parser(no_scontrol):
    no_scontrol.setenv("SLURM_JOB_NODELIST", "gpu-a[07-09],gpu-b3")
    assert distributed._slurm_master() == "gpu-a07"
    no_scontrol.setenv("SLURM_STEP_NODELIST", "x[01-02]y[3-4]")   # the step's list comes first
    assert distributed._slurm_master() == "x01y3"
    assert distributed.slurm_hostnames("node[1-3]") == ["node1", "node2", "node3"]


def test_master_without_a_node_list_is_loopback(no_scontrol):
    assert distributed._slurm_master() == "127.0.0.1"


def test_master_from_scontrol(clean_env, tmp_path):
    """scontrol on PATH is asked (the site's own expansion wins, even where it differs from
    ours) and its first line is the master."""
    log = tmp_path / "calls.txt"
    _fake_scontrol(tmp_path, clean_env, r"site-host-7\nsite-host-8\n", log)
    clean_env.setenv("SLURM_JOB_NODELIST", "node[01-04]")
    assert distributed._slurm_master() == "site-host-7"
    assert log.read_text().split() == ["show", "hostnames", "node[01-04]"]


def test_failing_scontrol_falls_back_to_the_parser(clean_env, tmp_path):
    script = tmp_path / "scontrol"
    script.write_text("#!/bin/sh\necho 'slurm_load_ctl_conf error' >&2\nexit 1\n")
    script.chmod(0o755)
    clean_env.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    clean_env.setenv("SLURM_JOB_NODELIST", "node[01-04]")
    assert distributed._slurm_master() == "node01"


def test_init_sets_master_addr_and_port_from_slurm(no_scontrol, monkeypatch):
    """What init() puts in the environment before joining the group (the join is stubbed)."""
    joined = {}
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: joined.update(
        backend=backend, env={k: os.environ.get(k) for k in TORCHRUN_VARS}))
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: int(os.environ["RANK"]))
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: int(os.environ["WORLD_SIZE"]))
    for k, v in dict(SLURM_PROCID="3", SLURM_NTASKS="4", SLURM_LOCALID="1", SLURM_JOB_ID="123456",
                     SLURM_STEP_ID="0", SLURM_JOB_NODELIST="node[01-02]").items():
        monkeypatch.setenv(k, v)
    assert distributed.init("cpu") == distributed.Shard(3, 4)
    env = joined["env"]
    assert joined["backend"] == "gloo"
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"]) == ("3", "4", "1")
    assert env["MASTER_ADDR"] == "node01"
    port = int(env["MASTER_PORT"])
    assert 20000 <= port < 30000
    # Every task of the step derives the same port; another job (here one 1000 ids later,
    # which the old 29500 + id % 1000 collided with) gets another.
    assert distributed._slurm_port() == port
    monkeypatch.setenv("SLURM_JOB_ID", "124456")
    assert distributed._slurm_port() != port


def test_init_keeps_a_given_master(no_scontrol, monkeypatch):
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend: None)
    monkeypatch.setattr(distributed.dist, "get_rank", lambda: 0)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda: 2)
    for k, v in dict(SLURM_PROCID="0", SLURM_NTASKS="2", SLURM_JOB_NODELIST="node[01-02]",
                     MASTER_ADDR="head", MASTER_PORT="4242").items():
        monkeypatch.setenv(k, v)
    distributed.init("cpu")
    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("head", "4242")
