"""Which process of a run this is, from the launcher's environment alone (no torch import, so the
command line can answer before torch loads)."""
from __future__ import annotations

import os


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's variables, else SLURM's, else (0, 1, 0).

    Returns:
        The rank of this process, the number of processes and the rank on this node.
    """
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                int(os.environ.get("LOCAL_RANK", 0)))
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return (int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"]),
                int(os.environ.get("SLURM_LOCALID", 0)))
    return 0, 1, 0
