"""gantrain's resumable Optuna sweeper as a Hydra plugin (``hydra/sweeper=optuna``, module
``optuna_sweeper``); the work is done in ``gantrain.sweep.optuna_study``."""
