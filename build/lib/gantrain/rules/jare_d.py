"""`jare_d`: the discriminator half of JARE (JARE code: simregd2), docs/methods.md §2.

u_φ = g_φ, u_θ = g_θ + γ ∇_θ ½‖g_φ‖².

This is the Numerics of GANs smoothing optimizer as the *released codes* implement it
(``SmoothingOptimizer`` in LMescheder/TheNumericsOfGANs and weilinie/JARE differentiate only
½‖g_φ‖² with respect to the discriminator). The Numerics text instead gives the discriminator the
gradient of ½(‖g_φ‖² + ‖g_θ‖²), which is `conopt_d`. Both are available (docs/methods.md §2.2).
"""
from gantrain.rules.jare_g import OneSidedJARE


class JARED(OneSidedJARE):
    name = "jare_d"
    color = "tab:purple"
    note = "smoothing, released code"
    penalize_generator = "none"
    penalize_discriminator = "cross"
