"""`gantrain`: the Hydra command line."""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
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


def _shared_run_dir(cfg: DictConfig, run_dir: Path) -> Path:
    """Under torch.distributed every process runs this Hydra app; rank 0's run directory is the
    run's. The others (started with no .hydra folder and no log file, see ``main``) drop the
    empty directory Hydra made for them when it differs (e.g. a ${now:...} a second later)."""
    from gantrain import distributed as ddp
    from gantrain.engine import resolve_device

    ddp.init(ddp.local_device(resolve_device(cfg.device)))
    shared = Path(ddp.broadcast_object(str(run_dir)))
    if shared.resolve() != run_dir.resolve():
        for d in (run_dir, run_dir.parent):
            try:
                d.rmdir()   # only when empty
            except OSError:
                break
    return shared


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    from gantrain.config import ConfigError
    from gantrain.distributed import env_world
    from gantrain.train import train

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    rank, world, _ = env_world()
    if world > 1:
        try:
            run_dir = _shared_run_dir(cfg, run_dir)
        except ConfigError as e:
            if rank == 0:
                print(f"gantrain: error: {e}", file=sys.stderr)
            sys.exit(2)
    # In a sweep a bad or crashing job is recorded (summary.json: failed) and the sweep goes on.
    sweeping = hc.mode == RunMode.MULTIRUN
    try:
        summary = train(cfg, run_dir)
    except ConfigError as e:
        if sweeping:
            if not (run_dir / "summary.json").exists():
                from gantrain.tracking import write_json
                write_json(run_dir / "summary.json", {
                    "status": "failed", "steps_done": 0, "diverged_at": None, "wall_time_s": 0.0,
                    "error": f"ConfigError: {e}", "metrics": {}})
            log.error("job %s: %s", hc.job.num, e)
            return
        if rank == 0:
            _drop_if_only_hydra_files(run_dir)
            print(f"gantrain: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # the run wrote status: failed with the error
        if not sweeping:
            raise
        log.error("job %s failed: %s: %s", hc.job.num, type(e).__name__, e)
        return
    if rank != 0:
        return
    m = summary["metrics"]
    shown = ", ".join(f"{k}={m[k]:.4g}" for k in ("modes_covered", "high_quality_fraction",
                                                   "mode_kl", "dist_equilibrium")
                      if isinstance(m.get(k), (int, float)))
    log.info("%s after %d steps (%.1f s)%s -> %s", summary["status"], summary["steps_done"],
             summary["wall_time_s"], f": {shown}" if shown else "", run_dir)


def main() -> None:
    """The ``gantrain`` script (also ``python -m gantrain.cli``, e.g. under torchrun)."""
    from gantrain.distributed import env_world

    rank, world, _ = env_world()
    if world > 1 and rank != 0:   # rank 0 alone keeps Hydra's .hydra folder and log file
        sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=disabled",
                     "hydra/hydra_logging=disabled"]
    _main()


if __name__ == "__main__":
    main()
