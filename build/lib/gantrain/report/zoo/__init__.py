"""The zoo (`make zoo`): every registered update rule on the Gaussian game (μ ∈ {2, 4, 6}), the
DiracGAN and the mixture of Gaussians, with each rule's stability phase diagram, in one report.

    python -m gantrain.report.zoo run DIR [--quick] [--jobs N] [--methods a,b] [--parts ...] [key=value ...]
    python -m gantrain.report.zoo report DIR --out OUT

The plan (games and their overrides, seeds, γ, the phase grid, and its quick form) is
gantrain/conf/zoo.yaml. The rules are ``sorted(gantrain.rules.RULES)`` read when ``run`` starts,
so a rule added later joins the zoo without an edit here; whether a rule takes a γ is its class's
``uses_gamma``. ``run`` trains every (game, rule, seed) as ``gantrain <overrides>`` would (the same
composition, ``gantrain.train.train``; the command is in each run's command.txt) and draws every
(rule, μ) phase diagram as ``gantrain-analyze analysis.mode=phase ...`` would, in a pool of worker
processes, one torch thread each: on these tiny games a Hydra multirun's per-job start-up costs
more than the runs. A run that fails is recorded (summary.json / error.json) and the others go on;
finished runs are kept, so a rerun after adding a rule trains only that rule. ``report`` writes
summary.md (a table per game), table.csv, zoo.json, dynamics.png and stability.png.

Modules: ``plan`` (conf/zoo.yaml and the jobs), ``runner`` (running them), ``results`` (the runs
read back), ``render`` (the report's files), ``figures``, ``cli``.
"""
