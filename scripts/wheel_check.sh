#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install it into a fresh venv in a temporary
# folder outside the checkout (torch pinned by constraints.txt), and from an empty folder there run
# `gantrain --help`, a short default job, gantrain-analyze, a paper sweep in its quick form and
# gantrain-report on it. Fails on the first thing that does not work; removes the folder.
# Usage: scripts/wheel_check.sh [python]
set -euo pipefail
PY=${1:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/gantrain-wheel.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
step() { echo "wheel-check: $*"; }

step "building the wheel"
"$PY" -m pip wheel -q --no-deps "$ROOT" -w "$TMP/dist"
rm -rf "$ROOT/build"
WHEEL=$(ls "$TMP"/dist/gantrain-*.whl)
n_yaml=$("$PY" -c "import sys, zipfile; print(sum(n.endswith('.yaml') for n in zipfile.ZipFile(sys.argv[1]).namelist()))" "$WHEEL")
n_tree=$(find "$ROOT/gantrain/conf" -name '*.yaml' | wc -l)
step "$(basename "$WHEEL") holds $n_yaml config files (the checkout's gantrain/conf: $n_tree)"
[ "$n_yaml" -eq "$n_tree" ] || { echo "wheel-check: the wheel holds $n_yaml .yaml files, gantrain/conf $n_tree: configs are missing"; exit 1; }

step "installing it into a fresh venv ($TMP/venv)"
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q --upgrade pip
"$TMP/venv/bin/pip" install -q -c "$ROOT/constraints.txt" "$WHEEL"
BIN=$TMP/venv/bin
mkdir "$TMP/work" && cd "$TMP/work"    # no checkout here: configs must come from the package
export WANDB_MODE=disabled

step "gantrain --help lists the groups"
"$BIN/gantrain" --help > help.txt
for group in method dataset arch sweep quick experiment; do
  grep -q "^$group:" help.txt || { echo "wheel-check: gantrain --help does not list the group '$group'"; cat help.txt; exit 1; }
done

step "a short default job"
"$BIN/gantrain" steps=40 log_every=20 checkpoint_every=40 eval.image_steps=[40] logger=none \
  progress=false hydra.run.dir=runs/default
grep -q '"status": "completed"' runs/default/summary.json

step "gantrain-analyze at the Gaussian equilibrium"
"$BIN/gantrain-analyze" dataset=gaussian method=jare logger=none hydra.run.dir=runs/analyze
ls runs/analyze/*.json > /dev/null

step "the digits classifier's shipped weights load from the installed package"
"$BIN/python" -c "from gantrain.metrics.digits_classifier import load_digits_classifier as l; \
from gantrain.metrics import defaults as d; i = l()[1]; \
assert i['weights_sha256'] == d.DIGITS_CLASSIFIER_SHA256 and 'site-packages' in i['path'], i; \
print('wheel-check: digits classifier', i['weights_sha256'][:16], i['path'])"

step "a paper sweep in its quick form (fig5, quick=gauss, shortened) and its report"
"$BIN/gantrain" -m sweep=fig5 quick=gauss steps=200 log_every=50 checkpoint_every=200 \
  logger=none progress=false hydra.sweep.dir=runs/fig5
"$BIN/gantrain-report" runs/fig5 --name fig5 --out report
[ "$(ls -d runs/fig5/[0-9]* | wc -l)" = 9 ] || { echo "wheel-check: fig5 did not run 9 jobs"; exit 1; }
grep -q jare report/fig5/table.md

step "passed: installed from $(basename "$WHEEL"), the tools ran outside the checkout"
