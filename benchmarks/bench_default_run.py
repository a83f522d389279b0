"""Wall time and peak memory of the README's default command, run as a user runs it.

Usage: python benchmarks/bench_default_run.py [extra overrides...]
Runs `gantrain method=jare gamma=10` (wandb offline, as by default) in a fresh run directory and
prints wall time, the peak resident memory of the training process, and the final mode metrics.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    gantrain = Path(sys.executable).with_name("gantrain")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(gantrain), "method=jare", "gamma=10", f"hydra.run.dir={tmp}/run", "progress=false",
               *sys.argv[1:]]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    m = summary["metrics"]
    print(f"command: gantrain method=jare gamma=10 {' '.join(sys.argv[1:])}".rstrip())
    print(f"wall time: {wall:.1f} s (training loop {summary['wall_time_s']:.1f} s, "
          f"{summary['steps_done']} steps)")
    print(f"peak RSS of the largest process: {peak_mib:.0f} MiB")
    print(f"modes_covered={m['modes_covered']}, high_quality_fraction={m['high_quality_fraction']:.3f}, "
          f"mode_kl={m['mode_kl']:.4f}")


if __name__ == "__main__":
    main()
