import os

# Tests never talk to wandb; a test that checks the wandb wiring patches it explicitly.
os.environ["WANDB_MODE"] = "disabled"
# `make test` runs two xdist workers on two cores: more threads per worker than that only makes
# OpenMP threads spin against each other (observed: 50x slower double-backward passes).
# `make test-portable` reruns the trajectory tests with GANTRAIN_TEST_THREADS=2 (one worker).
THREADS = int(os.environ.get("GANTRAIN_TEST_THREADS", "1"))
os.environ["OMP_NUM_THREADS"] = str(THREADS)

import torch  # noqa: E402

from gantrain.metrics import defaults  # noqa: E402
from gantrain.metrics.inception import build_fid_inception  # noqa: E402

torch.set_num_threads(THREADS)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fake_torch_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("torch_home")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = build_fid_inception()
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
    path = home / "hub" / "checkpoints" / defaults.WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    return home


@pytest.fixture
def torch_home(fake_torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(fake_torch_home))
    return fake_torch_home
