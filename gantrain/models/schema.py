"""Dataclass schemas of the architectures (the ``arch`` config group), torch-free.

Registered by name in ``gantrain.models.ARCHS``; ``image`` says whether it is an image network
(every image dataset takes every image architecture).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from gantrain.checks import check, one_of


class ArchSchema:
    image: ClassVar[bool] = False   # an image network (fits every image dataset)


@dataclass
class MLPArch(ArchSchema):
    name: str = "mlp"
    depth: int = 4
    width: int = 256
    z_dim: int = 64
    z_std: float = 1.0

    def __post_init__(self):
        check(self.depth >= 0, "arch.depth", self.depth, "must be >= 0")
        for key in ("width", "z_dim"):
            check(getattr(self, key) >= 1, f"arch.{key}", getattr(self, key), "must be >= 1")
        check(self.z_std > 0, "arch.z_std", self.z_std, "must be > 0")


@dataclass
class LinearArch(ArchSchema):
    name: str = "linear"


@dataclass
class FullRankArch(ArchSchema):   # JARE App. B: D_θ(x) = θᵀeˣ on the Gaussian game
    name: str = "fullrank"


@dataclass
class ImageArch(ArchSchema):
    """An image architecture's options: the defaults here, what differs in
    ``conf/arch/<name>.yaml``. gantrain's are built by
    ``gantrain.models.images.build_image_models``; a plugin's image architecture subclasses this
    and overrides ``build_models``."""
    name: str
    filters: int = 64                   # Mf
    d_filters: Optional[int] = None     # DC-GAN style nets: D's Mf (null: filters, as the papers' nets)
    z_dim: int = 128
    z_std: float = 1.0
    spectral_norm: bool = False         # true: SN on every D conv/dense layer (SN-GAN baseline)
    init: str = "xavier"                # slim's Xavier-uniform + zero biases (both codes); normal: N(0, 0.02)
    batch_norm: Optional[bool] = None   # null: the architecture's default
    d_extra_dense: int = 0              # DC-GAN style nets: units of an extra dense layer in D (0: none)
    g_extra_dense: int = 0              # ... and in G, after z
    channels: Optional[int] = None      # image channels (null: the dataset's; set, it must match)

    def __post_init__(self):
        for key in ("filters", "z_dim"):
            check(getattr(self, key) >= 1, f"arch.{key}", getattr(self, key), "must be >= 1")
        check(self.d_filters is None or self.d_filters >= 1, "arch.d_filters", self.d_filters,
              "must be null (arch.filters) or >= 1")
        for key in ("d_extra_dense", "g_extra_dense"):
            check(getattr(self, key) >= 0, f"arch.{key}", getattr(self, key), "must be >= 0 (0: none)")
        check(self.z_std > 0, "arch.z_std", self.z_std, "must be > 0")
        check(self.channels is None or self.channels >= 1, "arch.channels", self.channels,
              "must be null (the dataset's) or >= 1")
        one_of("arch.init", self.init, ("xavier", "normal"))

    image = True

    @classmethod
    def build_models(cls, arch_cfg, resolution: int, channels: int = 3,
                     dataset: str = "the dataset"):
        """(generator, discriminator) for images of ``resolution``.

        Args:
            arch_cfg: the ``arch`` section.
            resolution: the images' side in pixels.
            channels: the dataset's colour channels.
            dataset: the dataset, as error messages name it.
        Returns:
            the two ``torch.nn.Module``s.
        """
        from gantrain.models.images import build_image_models

        return build_image_models(arch_cfg, resolution, channels, dataset)
