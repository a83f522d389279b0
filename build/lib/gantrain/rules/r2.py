"""`r2`: SimGD with the gradient penalty on generated data (Mescheder, Geiger and Nowozin 2018):
the discriminator minimizes L_D + γ·½ E_{z} ‖∇ₓD(G(z))‖², the samples G(z) held constant
(docs/methods.md §8). Everything else is `r1`'s."""
from gantrain.rules.r1 import R1


class R2(R1):
    name = "r2"
    color = "slateblue"
    on = "fake"
