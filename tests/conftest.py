import os

# Tests never talk to wandb; a test that checks the wandb wiring patches it explicitly.
os.environ["WANDB_MODE"] = "disabled"
