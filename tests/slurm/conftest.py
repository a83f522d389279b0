"""The cluster tests' shared pieces: a releaser of requeued jobs and the observations report."""
from __future__ import annotations

import subprocess
import threading

import pytest

from tests.slurm import cluster

OBSERVED: list[str] = []


def observe(line: str) -> None:
    """A measured fact for the end-of-session summary (requeues, resumed steps, differences)."""
    OBSERVED.append(line)


def pytest_terminal_summary(terminalreporter):
    if OBSERVED:
        terminalreporter.section("observed on the SLURM cluster")
        for line in OBSERVED:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def release_requeued_jobs():
    """SLURM holds a requeued job back for two minutes (BeginTime); every such job of the test
    cluster is let go at once, so that the tests wait for gantrain, not for that delay."""
    if not cluster.up():
        yield
        return
    stop = threading.Event()

    def loop():
        while not stop.wait(0.5):
            out = subprocess.run(["squeue", "-h", "-t", "PD", "-o", "%i %r"], capture_output=True,
                                 text=True, timeout=30).stdout
            for line in out.splitlines():
                job_id, _, reason = line.partition(" ")
                if reason.strip() == "BeginTime":
                    cluster.release_requeued(job_id, {"JobState": "PENDING", "Reason": "BeginTime"})

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield
    stop.set()
    t.join(timeout=5)
