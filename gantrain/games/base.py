"""What every game offers the training loop and the update rules."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gantrain.distributed import SINGLE, Shard
from gantrain.losses import LOSSES, Mean, gan_losses


class Game:
    generator: nn.Module
    discriminator: nn.Module
    shard: Shard = SINGLE    # this process's rows of each global batch (gantrain.distributed)

    def __init__(self, loss: str, device: str, dtype: torch.dtype):
        self.loss, self.device, self.dtype = loss, torch.device(device), dtype
        self.zero_sum = bool(getattr(LOSSES.get(loss), "zero_sum", False))  # L_G = −L_D exactly

    def _finish_init(self) -> None:
        self.generator.to(self.device, self.dtype)
        self.discriminator.to(self.device, self.dtype)
        self._g_params = [p for p in self.generator.parameters() if p.requires_grad]
        self._d_params = [p for p in self.discriminator.parameters() if p.requires_grad]

    def g_params(self) -> list[torch.Tensor]:
        return self._g_params

    def d_params(self) -> list[torch.Tensor]:
        return self._d_params

    def sample_real(self, n: int, rng: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample_z(self, n: int, rng: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample_batch(self, n: int, rng: torch.Generator,
                     parts: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's rows of the global batch of ``n`` (all of it in one process): every
        process draws the same global batch and keeps its rows (``gantrain.distributed.Shard``),
        so the batch sequence does not depend on the world size."""
        x, z = self.sample_real(n, rng), self.sample_z(n, rng)
        if self.shard.world == 1:
            return x, z
        return self.shard.take(x, parts), self.shard.take(z, parts)

    def halves(self, x: torch.Tensor, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A batch's two halves (the unbiased estimates' independent half-batches)."""
        h = x.shape[0] // 2
        return [(x[:h], z[:h]), (x[h:], z[h:])]

    def losses(self, x_real: torch.Tensor, z: torch.Tensor,
               mean: Mean = torch.mean) -> tuple[torch.Tensor, torch.Tensor]:
        d_real = self.discriminator(x_real)
        d_fake = self.discriminator(self.generator(z))
        return gan_losses(self.loss, d_real, d_fake, mean)

    # The batch expectation of per-sample terms (the grid game: each point's mean, summed).
    batch_mean: Mean = staticmethod(torch.mean)
    sample_dims: int = 1   # leading dims of an input batch that index samples (grid game: 2)

    def input_gradient_sq(self, x: torch.Tensor) -> torch.Tensor:
        """½‖∇ₓD(x)‖² for every sample of ``x`` (the R1/R2 penalty's terms), differentiable in the
        discriminator's parameters. The samples are constants: the penalty is D's alone. A
        discriminator with batch norm runs in train mode here too (its statistics move twice)."""
        x = x.detach().requires_grad_(True)
        out = self.discriminator(x)
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        return 0.5 * g.square().flatten(self.sample_dims).sum(-1)

    def param_norm(self) -> torch.Tensor:
        return torch.sqrt(sum((p.detach() ** 2).sum() for p in self._g_params + self._d_params))

    def eval_metrics(self) -> dict[str, float]:
        """Game-specific quality metrics of the current point (cheap; run at every log step)."""
        return {}

    def eval_due(self, step: int) -> bool:
        """Whether ``evaluate`` (expensive metrics) runs at this step; the last step always does."""
        return False

    def evaluate(self, step: int) -> dict:
        """Expensive metrics (e.g. Inception score, FID), at ``eval_due`` steps and at the end."""
        return {}

    def save_images(self, step: int, run_dir: Path) -> list[Path]:
        """Write this step's pictures under the run directory; return their paths."""
        return []

    def after_step(self, step: int) -> None:
        """Called after every optimizer step (e.g. to update an EMA of the generator)."""

    def state_dict(self) -> dict:
        """State beyond the players' parameters that a resumed run needs (data position, EMA)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def randn(self, shape, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(shape, generator=rng, device=self.device, dtype=self.dtype)
