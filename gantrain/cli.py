"""`gantrain`: the Hydra command line."""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("gantrain")


def _drop_if_only_hydra_files(run_dir: Path) -> None:
    """A config error leaves no trace in a directory Hydra made just now for this run."""
    if (run_dir / "config.yaml").exists():
        return
    if all(p.name in (".hydra",) or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)
        try:  # the date folder of the default run directory, when this run was its only one
            run_dir.parent.rmdir()
        except OSError:
            pass


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
    from gantrain.config import ConfigError
    from gantrain.train import train

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = train(cfg, run_dir)
    except ConfigError as e:
        _drop_if_only_hydra_files(run_dir)
        print(f"gantrain: error: {e}", file=sys.stderr)
        sys.exit(2)
    m = summary["metrics"]
    shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("modes_covered", "high_quality_fraction",
                                                   "mode_kl", "dist_equilibrium")
                      if isinstance(m.get(k), (int, float)))
    log.info("%s after %d steps (%.1f s)%s -> %s", summary["status"], summary["steps_done"],
             summary["wall_time_s"], f": {shown}" if shown else "", run_dir)


if __name__ == "__main__":
    main()
