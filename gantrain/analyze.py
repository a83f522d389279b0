"""`gantrain-analyze`: the Jacobian spectrum of a method's update field, as a command."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from gantrain.cli import CONFIG_DIR


def spectrum_at(cfg: DictConfig, method: str | None = None, gamma: float | None = None) -> dict:
    """Build the game in float64, move it to ``analysis.point`` and analyse ``method``."""
    import torch

    from gantrain.analysis.spectrum import analyze, move_to_point
    from gantrain.games import build_game

    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        if method is not None and method != cfg.method.name:
            cfg.method = {"name": method}
        if gamma is not None:
            cfg.gamma = gamma
    torch.manual_seed(cfg.seed)
    game = build_game(cfg, "cpu", torch.float64)
    point = move_to_point(game, str(cfg.analysis.point), "cpu")
    return analyze(cfg, game, point)


def format_table(result: dict) -> str:
    head = [f"method {result['method']}  gamma {result['gamma']:g}  lr {result['lr']:g}  "
            f"point {result['point']}  ({result['n_params']} parameters, {result['expectation']})"]
    theory = result.get("theory_eigenvalues")
    rows = ["      Re λ            Im λ" + ("        theorem Re      theorem Im" if theory else "")]
    for i, (re, im) in enumerate(result["eigenvalues"]):
        line = f"{re:14.8g}  {im:14.8g}"
        if theory and i < len(theory):
            line += f"  {theory[i][0]:14.8g}  {theory[i][1]:14.8g}"
        rows.append(line)
    fmt = lambda x: "n/a" if x is None else f"{x:.6g}"  # noqa: E731
    tail = [f"zeta (phase factor) {fmt(result['zeta'])}   tau (conditioning) {fmt(result['tau'])}",
            f"max stable lr (Lemma 4) {fmt(result['max_stable_lr'])}   lr {result['lr']:g} -> "
            f"{'stable' if result['stable'] else 'UNSTABLE'}"]
    if result.get("iterations_lower_bound"):
        b = result["iterations_lower_bound"]
        tail.append(f"iterations to reach eps={b['eps']:g}: >= {b['corollary1']} (Cor. 1), "
                    f">= {b['corollary2']} (Cor. 2)")
    return "\n".join(head + rows + tail)


def run_analysis(cfg: DictConfig, out_dir: Path) -> dict:
    from gantrain.analysis.plots import complex_plane, factors_vs_gamma
    from gantrain.config import validate
    from gantrain.tracking import write_json

    validate(cfg)
    result = spectrum_at(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "spectrum.json", result)
    title = f"{cfg.dataset.name}, γ = {cfg.gamma:g}, point {result['point']}"
    complex_plane({result["method"]: result["eigenvalues"]}, out_dir / "spectrum.png", title,
                  theory={result["method"]: result["theory_eigenvalues"]})
    compare = {m: spectrum_at(cfg, m) for m in cfg.analysis.compare}
    complex_plane({m: r["eigenvalues"] for m, r in compare.items()}, out_dir / "compare.png", title,
                  theory={m: r["theory_eigenvalues"] for m, r in compare.items()})
    gammas = [float(g) for g in cfg.analysis.gammas]
    sweep = [spectrum_at(cfg, gamma=g) for g in gammas]
    factors_vs_gamma(gammas, [r["zeta"] for r in sweep], [r["tau"] for r in sweep],
                     out_dir / "factors_vs_gamma.png", cfg.method.name,
                     f"{cfg.dataset.name}, point {result['point']}")
    write_json(out_dir / "factors_vs_gamma.json",
               {"method": cfg.method.name, "gammas": gammas, "zeta": [r["zeta"] for r in sweep],
                "tau": [r["tau"] for r in sweep],
                "max_stable_lr": [r["max_stable_lr"] for r in sweep]})
    print(format_table(result))
    print(f"wrote {out_dir}/spectrum.json")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="analyze")
def main(cfg: DictConfig) -> None:
    from gantrain.config import ConfigError

    try:
        mode = cfg.analysis.get("mode", "spectrum")
        if mode not in ("spectrum", "phase"):
            raise ConfigError(f"analysis.mode={mode!r} is invalid: allowed: phase, spectrum")
        if mode == "phase":
            from gantrain.analysis.phase import run_phase_diagram
            run_phase_diagram(cfg, Path(HydraConfig.get().runtime.output_dir))
        else:
            run_analysis(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as e:
        print(f"gantrain-analyze: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
