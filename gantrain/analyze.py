"""`gantrain-analyze`: the Jacobian spectrum of a method's update field, as a command."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from gantrain.cli import CONFIG_DIR, drop_if_only_hydra_files, preflight
from gantrain.errors import ConfigError


def spectrum_at(cfg: DictConfig, method: str | None = None, gamma: float | None = None,
                mu: float | None = None) -> dict:
    """Build the game in float64 (data mean ``mu``, if given), move it to ``analysis.point`` and
    analyse ``method``."""
    import torch

    from gantrain.analysis.spectrum import analyze, move_to_point
    from gantrain.config import validate
    from gantrain.games import build_game

    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        if method is not None and method != cfg.method.name:
            cfg.method = {"name": method}
        if gamma is not None:
            cfg.gamma = gamma
        if mu is not None:
            cfg.dataset.mu = mu
    torch.manual_seed(cfg.seed)
    game = build_game(validate(cfg), "cpu", torch.float64)   # this point's own config
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
            f"max stable lr ({'spectral radius of the map' if 'multipliers' in result else 'Lemma 4'}) "
            f"{fmt(result['max_stable_lr'])}   lr {result['lr']:g} -> "
            f"{'stable' if result['stable'] else 'UNSTABLE'}"]
    tail.append("flow cosine (App. C; < 0: the rule reverses the player's flow) "
                f"generator {fmt(result.get('flow_cos_g'))}   "
                f"discriminator {fmt(result.get('flow_cos_d'))}")
    bound = result.get("conopt_bound")
    if bound:
        tail.append(f"eq. (30): tau(A) {fmt(bound['tau_conopt'])} >= tau(M)*Delta(gamma) "
                    f"{fmt(bound['bound'])} -> {'holds' if bound['holds'] else 'VIOLATED'}")
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
    if compare:   # analysis.compare=[] draws no comparison
        complex_plane({m: r["eigenvalues"] for m, r in compare.items()}, out_dir / "compare.png",
                      title, theory={m: r["theory_eigenvalues"] for m, r in compare.items()})
    gammas = [float(g) for g in cfg.analysis.gammas]
    sweep = [spectrum_at(cfg, gamma=g) for g in gammas]
    factors_vs_gamma(gammas, [r["zeta"] for r in sweep], [r["tau"] for r in sweep],
                     out_dir / "factors_vs_gamma.png", cfg.method.name,
                     f"{cfg.dataset.name}, point {result['point']}")
    write_json(out_dir / "factors_vs_gamma.json",
               {"method": cfg.method.name, "gammas": gammas, "zeta": [r["zeta"] for r in sweep],
                "tau": [r["tau"] for r in sweep],
                "max_stable_lr": [r["max_stable_lr"] for r in sweep]})
    if cfg.dataset.name == "gaussian" and result["point"] == "equilibrium":
        write_factors_vs_mu(cfg, out_dir)
    print(format_table(result))
    print(f"wrote {out_dir}/spectrum.json")
    return result


def write_factors_vs_mu(cfg: DictConfig, out_dir: Path) -> dict:
    """ζ and τ at the equilibrium against the data mean μ (`analysis.mus`): App. B's question of
    how the data itself (e^{2v} for arch=fullrank, β² = σ² + μ² for linear) sets both factors."""
    from gantrain.analysis.plots import method_color, save_figure
    from gantrain.config.schema import Analysis
    from gantrain.plots import pyplot
    from gantrain.tracking import write_json

    mus = cfg.analysis.get("mus")
    mus = [float(m) for m in (Analysis().mus if mus is None else mus)]
    sweep = [spectrum_at(cfg, mu=m) for m in mus]
    out = {"method": cfg.method.name, "arch": cfg.arch.name, "gamma": float(cfg.gamma),
           "sigma": float(cfg.dataset.sigma), "dim": int(cfg.dataset.dim), "mus": mus,
           "zeta": [r["zeta"] for r in sweep], "tau": [r["tau"] for r in sweep],
           "max_stable_lr": [r["max_stable_lr"] for r in sweep],
           "theory_eigenvalues": [r["theory_eigenvalues"] for r in sweep]}
    write_json(out_dir / "factors_vs_mu.json", out)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    for ax, key, name in zip(axes, ("zeta", "tau"), ("ζ = max |Im λ|/|Re λ|", "τ = |λ|max/|λ|min")):
        ys = [float("nan") if y is None else y for y in out[key]]
        ax.plot(mus, ys, "o-", color=method_color(cfg.method.name), label=cfg.method.name)
        positive = all(y > 0 for y in ys if y == y)   # NaN (∞ factor) drawn as a gap
        ax.set(xlabel="μ (data mean)", ylabel=name, yscale="log" if positive else "linear")
        ax.legend(fontsize=8)
    save_figure(plt, fig, out_dir / "factors_vs_mu.png",
          f"gaussian, arch={cfg.arch.name}, σ = {cfg.dataset.sigma:g}, γ = {cfg.gamma:g}, equilibrium")
    return out


def check_config(cfg: DictConfig) -> None:
    """Every check that can run before any work: the shared schemas, and the phase diagram's or
    the field plots'."""
    from gantrain.config import validate

    validate(cfg)
    if cfg.analysis.mode == "phase" and cfg.dataset.name == "gaussian":
        from gantrain.analysis.phase import PhaseSettings, check_cfg

        check_cfg(cfg)
        PhaseSettings.from_cfg(cfg)
    elif cfg.analysis.mode == "phase":   # a neural game: ensembles of MLP runs
        from gantrain.analysis.phase import PhaseSettings
        from gantrain.analysis.phase_neural import NeuralPhaseSettings, check_cfg

        check_cfg(cfg)
        PhaseSettings.from_cfg(cfg)   # the shared keys (and no unknown ones)
        NeuralPhaseSettings.from_cfg(cfg)
    elif cfg.analysis.mode == "field":
        from gantrain.analysis.field import FieldSettings, check_cfg

        check_cfg(cfg)
        FieldSettings.from_cfg(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="analyze")
def _main(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_config(cfg)
        if cfg.analysis.mode == "phase" and cfg.dataset.name == "gaussian":
            from gantrain.analysis.phase import run_phase_diagram
            run_phase_diagram(cfg, out_dir)
        elif cfg.analysis.mode == "phase":
            from gantrain.analysis.phase_neural import run_neural_phase
            run_neural_phase(cfg, out_dir)
        elif cfg.analysis.mode == "field":
            from gantrain.analysis.field import run_field
            run_field(cfg, out_dir)
        else:
            run_analysis(cfg, out_dir)
    except ConfigError as e:
        drop_if_only_hydra_files(out_dir)
        print(f"gantrain-analyze: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """The ``gantrain-analyze`` script; bad input is refused in one line before Hydra starts."""
    preflight("gantrain-analyze", "analyze", check_config, task_name="analyze")
    _main()


if __name__ == "__main__":
    main()
