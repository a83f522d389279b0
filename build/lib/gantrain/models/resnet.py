"""The JARE supplement's ResNets (docs/experiments.md §C, Tables 2-5), as the released code
(``weilinie/JARE real/models/resnet_v1.py``, ``resnet_v2.py``) builds them.

Mf = ``filters``. Every convolution is TensorFlow-"SAME"-padded; every layer except the last of G
and D is followed by a ReLU, in D as well: the code's ResNet discriminators use ``tf.nn.relu``
(it imports its leaky ReLU but never calls it), so there is no leaky ReLU here.

- ResBlock: r = ReLU(conv3×3(ReLU(conv3×3(h)))), output h + 0.1·r. The inner width is Mf/2, except
  in D's first block, which the code gives Mf.
- G: dense z → s×s×Mf, ReLU; ``up`` stages [4×4 s2 deconv Mf, ReLU, ResBlock]; then either
  (v1) 4×4 s2 deconv → 3 or (v2, CelebA, ImageNet) 3×3 s1 conv → 3; tanh.
- D: ``down`` stages [4×4 s2 conv Mf, ReLU, ResBlock] down to 2×2, dense → 1 logit.

| arch | resolution | G start s | G up stages | G output | D down stages |
|---|---|---|---|---|---|
| resnet_v1 | 32 | 2 | 3 | 4×4 s2 deconv | 4 |
| resnet_v2 | 32 | 4 | 3 | 3×3 conv | 4 |
| resnet_celeba | 64 | 4 | 4 | 3×3 conv | 5 |
| resnet_imagenet | 128 | 4 | 5 | 3×3 conv | 6 |

No batch norm anywhere (none in the code). Initialisation: Xavier-uniform weights, zero biases
(slim's defaults, which the code uses).
"""
from __future__ import annotations

import torch
from torch import nn

from gantrain.models.dcgan import Squeeze, conv, deconv

# name: (resolution, G start side, G up stages, G output "deconv" | "conv", D down stages)
RESNETS = {
    "resnet_v1": (32, 2, 3, "deconv", 4),
    "resnet_v2": (32, 4, 3, "conv", 4),
    "resnet_celeba": (64, 4, 4, "conv", 5),
    "resnet_imagenet": (128, 4, 5, "conv", 6),
}
RESIDUAL_SCALE = 0.1   # the code's `net += 1e-1 * ...`


class ResBlock(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv1 = conv(channels, hidden, 3, 1)
        self.conv2 = conv(hidden, channels, 3, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        r = torch.relu(self.conv2(torch.relu(self.conv1(h))))
        return h + RESIDUAL_SCALE * r


def build_resnet(name: str, filters: int, z_dim: int,
                 channels: int = 3) -> tuple[nn.Sequential, nn.Sequential]:
    """(G, D) of a JARE ResNet; the caller has checked the resolution and ``filters >= 2``."""
    resolution, start, up, out, down = RESNETS[name]
    f, half = filters, filters // 2
    g: list[nn.Module] = [nn.Linear(z_dim, start * start * f), nn.Unflatten(1, (f, start, start)),
                          nn.ReLU()]
    for _ in range(up):
        g += [deconv(f, f, 4, 2), nn.ReLU(), ResBlock(f, half)]
    g.append(deconv(f, channels, 4, 2) if out == "deconv" else conv(f, channels, 3, 1))
    g.append(nn.Tanh())

    d: list[nn.Module] = []
    cin = channels
    for i in range(down):
        d += [conv(cin, f, 4, 2), nn.ReLU(), ResBlock(f, f if i == 0 else half)]
        cin = f
    side = resolution >> down
    d += [nn.Flatten(), nn.Linear(side * side * f, 1), Squeeze()]
    return nn.Sequential(*g), nn.Sequential(*d)
