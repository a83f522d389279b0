"""gantrain: an experiment runner for GAN training dynamics (SimGD, AltGD, ConOpt, JARE)."""

__version__ = "0.1.0"
