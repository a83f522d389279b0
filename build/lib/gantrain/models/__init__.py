"""Generator and discriminator architectures (config group ``arch``), found by name in ``ARCHS``.

``ARCHS`` maps ``arch=<name>`` to its options schema (``gantrain.models.schema``), which says
whether it is an image network and, for one, how its models are built: gantrain's own and those
of installed packages registering in the ``gantrain.archs`` entry-point group.
"""
from __future__ import annotations

from gantrain.registry import Registry

_IMAGE = "gantrain.models.schema:ImageArch"
ARCHS = Registry("arch", "gantrain.archs", {
    "mlp": "gantrain.models.schema:MLPArch",
    "linear": "gantrain.models.schema:LinearArch",
    "fullrank": "gantrain.models.schema:FullRankArch",
    # the image networks: gantrain.models.resnet.RESNETS and gantrain.models.dcgan.DCGAN_STAGES
    **{name: _IMAGE for name in ("resnet_v1", "resnet_v2", "resnet_celeba", "resnet_imagenet",
                                 "conv4", "conv4_nobn", "dcgan4_nobn", "dcgan4", "dcgan4_const",
                                 "dcgan3", "dcgan4_resnet")},
})


def image_archs() -> tuple[str, ...]:
    """The names of the image architectures (every image dataset takes each)."""
    return ARCHS.where(lambda a: a.image)
