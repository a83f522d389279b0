"""Dataclass schemas of the toy games' datasets (the ``dataset`` config group), torch-free.

Each schema carries its dataset's facts: which architectures fit it, whether per-sample gradients
are defined (no batch norm: ``regularizer_estimate=variance_corrected``), and how its game is built.
Registered by name in ``gantrain.games.DATASETS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from gantrain.checks import check


class ToyData:
    """Facts shared by the toy games: small explicit players, per-sample gradients defined."""
    image: ClassVar[bool] = False
    per_sample: ClassVar[bool] = True
    archs: ClassVar[tuple[str, ...]] = ()
    game: ClassVar[str]   # "module:Class" of the game, built as Class(dataset, arch, loss, device, dtype)

    @classmethod
    def compatible_archs(cls) -> tuple[str, ...]:
        """The ``arch`` names that fit this dataset."""
        return cls.archs

    @classmethod
    def build_game(cls, cfg, device, dtype):
        """The game of ``cfg`` (its dataset is this one).

        Args:
            cfg: the run's checked config (``gantrain.config.Checked``).
            device, dtype: where and in what precision the players live.
        Returns:
            a ``gantrain.games.base.Game``.
        """
        import importlib

        module, attr = cls.game.split(":")
        return getattr(importlib.import_module(module), attr)(cfg.dataset, cfg.arch, cfg.loss.name,
                                                               device, dtype)


@dataclass
class DiracData(ToyData):   # Mescheder et al. 2018: real data δ₀, G(z) = φ, D(x) = θx (their θ, ψ)
    name: str = "dirac"
    archs = ("linear",)
    game = "gantrain.games.dirac:DiracGame"
    init_phi: float = 1.0      # the generator's start (Mescheder's θ)
    init_theta: float = 1.0    # the discriminator's start (Mescheder's ψ)


@dataclass
class GaussianData(ToyData):
    name: str = "gaussian"
    archs = ("linear", "fullrank")
    game = "gantrain.games.gaussian:GaussianGame"
    mu: float = 2.0
    sigma: float = 0.2
    dim: int = 2
    init_offset: float = 0.05    # φ = v + offset·1, θ = offset·1, as in the released code
    init_phi: Optional[list[float]] = None     # an explicit start of `dim` numbers, over the offset
    init_theta: Optional[list[float]] = None

    def __post_init__(self):
        check(self.sigma > 0, "dataset.sigma", self.sigma, "must be > 0")
        check(self.dim >= 1, "dataset.dim", self.dim, "must be >= 1")
        for key in ("init_phi", "init_theta"):
            value = getattr(self, key)
            check(value is None or len(value) == self.dim, f"dataset.{key}", value,
                   f"must be null or a list of dataset.dim={self.dim} numbers")


@dataclass
class MixtureData(ToyData):
    name: str = "mog"
    archs = ("mlp",)
    modes: int = 8
    radius: float = 2.0
    std: float = 0.06

    @classmethod
    def build_game(cls, cfg, device, dtype):   # its game also takes the eval section, so no ``game``
        from gantrain.games.mog import MixtureGame

        return MixtureGame(cfg.dataset, cfg.arch, cfg.loss.name, device, dtype, cfg.eval)

    def __post_init__(self):
        check(self.modes >= 1, "dataset.modes", self.modes, "must be >= 1")
        check(self.radius > 0, "dataset.radius", self.radius, "must be > 0")
        check(self.std > 0, "dataset.std", self.std, "must be > 0")
