"""Which figure of the Numerics of GANs supplement each report figure of a numerics sweep is.

The report of a sweep is named after it (``make numerics`` passes ``--name <sweep>``; without
``--name`` the folder's name is used, and Hydra names the folder after the sweep), so the report
figure ``inception_score.png`` of ``numerics_lr`` is titled and captioned as Fig. 13. The figures'
contents are as the supplement's captions state them (docs/experiments.md §C.5-C.10 quotes them);
where a caption does not say what is plotted (Figs. 12-14), the caption here says so.
"""
from __future__ import annotations

# sweep -> report figure -> (label heading the figure's title, caption in summary.md)
NUMERICS_FIGURES: dict[str, dict[str, tuple[str, str]]] = {
    "numerics": {
        "image_samples.png": (
            "Numerics Fig. 6",
            "Numerics Fig. 6: samples of SimGD, AltGD and ConOpt (the smoothing optimizer's beside "
            "them) on the four nets: DC-GAN, + no batch normalization, + constant number of "
            "filters in each layer, + Jensen-Shannon objective."),
        "inception_score.png": (
            "Numerics Fig. 7",
            "Numerics Fig. 7: Inception score over iterations, panels (a) DC-GAN, (b) + no batch "
            "normalization, (c) + constant number of filters, (d) + Jensen-Shannon objective; a "
            "line per method, the smoothing optimizer both ways (conopt_d: the text; jare_d: the "
            "released code)."),
    },
    "numerics_dense": {
        "inception_score.png": (
            "Numerics Fig. 8",
            "Numerics Fig. 8: Inception score over iterations with an additional fully connected "
            "layer in the discriminator only, panels (a) constant number of filters, (b) + "
            "Jensen-Shannon objective; a line per method."),
    },
    "numerics_divergence": {
        "image_samples.png": (
            "Numerics Fig. 9",
            "Numerics Fig. 9: samples of ConOpt with (a) the standard GAN objective, (b) the "
            "Jensen-Shannon divergence (loss=minimax), (c) the indicator divergence, on the "
            "DC-GAN without batch normalization and with constant filters."),
    },
    "numerics_resnet": {
        "image_samples.png": (
            "Numerics Fig. 10",
            "Numerics Fig. 10: samples of (a) SimGD, (b) AltGD, (c) ConOpt on the DC-GAN with "
            "ResNet layers, constant filters and no batch normalization."),
    },
    "numerics_losses": {
        "losses.png": (
            "Numerics Fig. 11",
            "Numerics Fig. 11: (a) discriminator loss, (b) generator loss, (c) Inception score "
            "over iterations, ConOpt without batch normalization against AltGD with it, on the "
            "4-layer DC-GAN."),
    },
    "numerics_altgd_lr": {
        "inception_score.png": (
            "Numerics Fig. 12",
            "Numerics Fig. 12: the learning rate's effect on AltGD, panels (a) 3 and (b) 4 "
            "convolutional layers, a line per learning rate. The supplement's caption does not say "
            "which quantity its figure plots; this is the Inception score over iterations."),
    },
    "numerics_lr": {
        "inception_score.png": (
            "Numerics Fig. 13",
            "Numerics Fig. 13: the learning rate's effect on ConOpt (γ = 0.1 with 3, γ = 10 with 4 "
            "convolutional layers), panels (a) 3 and (b) 4 layers, a line per learning rate. The "
            "caption does not say which quantity is plotted; this is the Inception score."),
    },
    "numerics_gamma": {
        "inception_score.png": (
            "Numerics Fig. 14",
            "Numerics Fig. 14: the effect of γ on ConOpt at learning rate 2·10⁻⁴, panels (a) 3 and "
            "(b) 4 convolutional layers, a line per γ. The caption does not say which quantity is "
            "plotted; this is the Inception score."),
    },
}


def figure_label(report: str | None, fname: str) -> str:
    """The supplement's figure that ``fname`` of the report ``report`` is ("" when none)."""
    return NUMERICS_FIGURES.get(report or "", {}).get(fname, ("", ""))[0]


def figure_caption(report: str | None, fname: str) -> str | None:
    """The caption of ``fname`` in a numerics sweep's report, with its figure number; None when the
    figure is not one of the supplement's (the report's generic text applies)."""
    entry = NUMERICS_FIGURES.get(report or "", {}).get(fname)
    return entry[1] if entry else None
