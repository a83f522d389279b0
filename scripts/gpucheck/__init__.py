"""The GPU check of the image engine (run by ``scripts/gpu_check.py``, ``make gpu-check``).

Every check and measurement runs the project's own code (gantrain.rules, gantrain.games,
gantrain.metrics, the training CLI, benchmarks/bench_images.py) on one device; ``--device cpu``
runs the same code paths at tiny sizes, so the script is known to work before a GPU is seen.
"""
