import os

# Tests never talk to wandb; a test that checks the wandb wiring patches it explicitly.
os.environ["WANDB_MODE"] = "disabled"
# `make test` runs two xdist workers on two cores: more threads per worker than that only makes
# OpenMP threads spin against each other (observed: 50x slower double-backward passes).
os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
