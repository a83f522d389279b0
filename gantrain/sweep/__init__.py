"""Sweeps as the unit of work (``gantrain -m``): the sweep directory's record of every job
(``sweep.json``, ``gantrain.sweep.record``), the checks made before a sweep starts again in the
same directory (``gantrain.sweep.guard``) and the resumable Optuna sweeper
(``gantrain.sweep.optuna``, ``hydra/sweeper=optuna``). User-facing: docs/sweeps.md."""
import os

# optuna 2.10 on SQLAlchemy 1.4 (constraints.txt) warns of SQLAlchemy 2.0 on every start.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
