"""Image GANs (docs/experiments.md §C–§D): a dataset, the papers' architectures, Inception score and FID,
sample grids from a fixed z, and an optional EMA of the generator evaluated beside it."""
from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch

from gantrain import engine
from gantrain.games.base import Game

log = logging.getLogger("gantrain")


def _same_rows(a, b) -> bool:
    if a is None or b is None or isinstance(a, slice) or isinstance(b, slice):
        return a == b
    return torch.equal(a, b)


class GeneratorEMA:
    """Exponential moving average of the generator's parameters; buffers (batch-norm statistics)
    are copied, so the average is a usable generator."""

    def __init__(self, generator: torch.nn.Module, decay: float, start: int):
        self.model = copy.deepcopy(generator).eval().requires_grad_(False)
        self.decay, self.start = decay, start

    @torch.no_grad()
    def update(self, generator: torch.nn.Module, step: int) -> None:
        d = self.decay if step > self.start else 0.0   # follow the generator until `start`
        for e, p in zip(self.model.parameters(), generator.parameters()):
            e.lerp_(p, 1 - d)
        for e, b in zip(self.model.buffers(), generator.buffers()):
            e.copy_(b)


class ImageGame(Game):
    def __init__(self, cfg, device: str, dtype: torch.dtype):
        from gantrain.data import ImageData
        from gantrain.models import ARCHS

        super().__init__(cfg.loss.name, device, dtype)
        self.cfg = cfg
        self.data = ImageData(cfg.dataset, seed=cfg.seed, batch_size=cfg.batch_size, device=device,
                              workers=int(cfg.dataset.workers))   # its schema holds the default
        self.generator, self.discriminator = ARCHS[cfg.arch.name].build_models(
            cfg.arch, self.data.resolution, self.data.channels, f"dataset={cfg.dataset.name}")
        self._finish_init()
        self.channels_last = bool(cfg.engine.channels_last) and self.device.type == "cuda"
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.z_dim, self.z_std = int(cfg.arch.z_dim), float(cfg.arch.z_std)
        self.autocast = engine.autocast(cfg, device)
        self.next_batch = 0          # index of the next real batch: the data stream's position
        self._stream = None
        self.ema = (GeneratorEMA(self.generator, float(cfg.ema.decay), int(cfg.ema.start))
                    if cfg.ema.decay > 0 else None)
        g = torch.Generator(device=self.device).manual_seed(int(cfg.eval.seed))
        self.grid_z = self.z_std * self.randn((64, self.z_dim), g)
        self.eval_every = int(cfg.eval.every or 0)   # eval's schema holds its default
        self._scored = None   # (step, uint8 samples, mode histogram) of the last evaluation
        self.evaluator = None
        if self.eval_every > 0:
            from gantrain.data.registry import DATASETS
            from gantrain.registry import load
            evaluator = load(DATASETS[cfg.dataset.name].evaluator)   # IS/FID, or the digits metrics
            self.evaluator = evaluator(cfg.eval, self.data, self.device)
            if self.evaluator.missing:  # say it once, at the start; scores are then missing, not 0
                log.warning("%s", self.evaluator.missing)

    # --- data --------------------------------------------------------------------------------
    def sample_batch(self, n, rng, parts=1):
        """This process's rows of global batch ``next_batch`` (only those images are loaded) and
        of the global z."""
        rows = self.shard.rows(n, parts)
        if not _same_rows(rows, self.data.rows):
            self.data.rows, self._stream = rows, None   # restart the stream with the new rows
        x = self.sample_real(n, rng)
        z = self.sample_z(n, rng)
        return x, (z if rows is None else self.shard.take(z, parts))

    def sample_real(self, n, rng):
        if self._stream is None:
            self._stream = self.data.stream(self.next_batch)
        x = next(self._stream)
        self.next_batch += 1
        if n != self.data.batch_size:   # the global batch (this process holds its rows of it)
            raise ValueError(f"ImageGame serves batches of {self.data.batch_size}, asked for {n}")
        x = x.to(self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def sample_z(self, n, rng):
        return self.z_std * self.randn((n, self.z_dim), rng)

    def losses(self, x_real, z, mean=torch.mean):
        with self.autocast:
            loss_d, loss_g = super().losses(x_real, z, mean)
        return loss_d.float(), loss_g.float()

    # --- hooks -------------------------------------------------------------------------------
    def after_step(self, step: int) -> None:
        if self.ema is not None:
            self.ema.update(self.generator, step)

    def state_dict(self) -> dict:
        state = {"next_batch": self.next_batch}
        if self.ema is not None:
            state["ema"] = self.ema.model.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.next_batch = int(state["next_batch"])
        self._stream = None   # restart the stream at the restored position
        if self.ema is not None and "ema" in state:
            self.ema.model.load_state_dict(state["ema"])

    # --- evaluation ----------------------------------------------------------------------------
    def eval_due(self, step: int) -> bool:
        return self.eval_every > 0 and step % self.eval_every == 0

    def _finite(self) -> bool:
        return all(torch.isfinite(p).all() for p in self.generator.parameters())

    def evaluate(self, step: int) -> dict:
        if self.evaluator is None or not self._finite():
            return {}
        out = {}
        for ema, model in self._generators():
            scores = self.evaluator.evaluate(self._sampler(model), int(self.cfg.eval.num_samples))
            if not ema and getattr(self.evaluator, "last_samples", None) is not None:
                # what was scored, written beside the sample grid by save_images
                self._scored = (step, self.evaluator.last_samples, self.evaluator.last_histogram)
            protocol = scores.pop("protocol", None)
            out.update({("ema_" if ema else "") + k: v for k, v in scores.items()})
            out["eval_protocol"] = protocol
        return out

    def _generators(self) -> list[tuple[bool, torch.nn.Module]]:
        """The generator, and its EMA when there is one (flagged True)."""
        return [(False, self.generator)] + ([(True, self.ema.model)] if self.ema else [])

    @torch.no_grad()
    def _generate(self, model: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
        """Images from z in eval mode (batch-norm running statistics), leaving the mode as it was."""
        was_training = model.training
        model.eval()
        try:
            with self.autocast:
                return model(z).float()
        finally:
            model.train(was_training)

    def _sampler(self, model: torch.nn.Module):
        g = torch.Generator(device=self.device).manual_seed(int(self.cfg.eval.seed) + 1)

        def sample(n: int, keep: bool = True) -> torch.Tensor | None:
            z = self.z_std * self.randn((n, self.z_dim), g)
            # keep=False: another process generates this batch (sharded evaluation)
            return self._generate(model, z) if keep else None
        return sample

    @torch.no_grad()
    def save_images(self, step: int, run_dir: Path) -> list[Path]:
        from torchvision.utils import save_image

        paths = []
        for ema, model in self._generators():
            images = self._generate(model, self.grid_z)
            path = Path(run_dir) / "samples" / f"{'ema_step' if ema else 'step'}_{step:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(images, path, nrow=8, normalize=True, value_range=(-1, 1))
            paths.append(path)
        if self._scored is not None and self._scored[0] == step:
            paths += self._save_scored(Path(run_dir) / "samples")
        return paths

    def _save_scored(self, folder: Path) -> list[Path]:
        """The last evaluation's samples (uint8, so that anyone can score them again with another
        classifier) and its mode histogram as a picture."""
        import numpy as np

        from gantrain.plots import mode_histogram

        step, samples, histogram = self._scored
        np.savez_compressed(folder / "eval_samples.npz", samples=samples, step=step,
                            dataset=self.data.name)
        path = folder / f"modes_step_{step:06d}.png"
        mode_histogram(np.asarray(histogram), path, f"{self.data.name}, step {step}")
        return [path]
