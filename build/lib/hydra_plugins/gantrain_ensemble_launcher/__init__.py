"""gantrain's ensemble launcher as a Hydra plugin (``launcher=ensemble``, module
``ensemble_launcher``); the work is done in ``gantrain.ensemble.launcher``."""
