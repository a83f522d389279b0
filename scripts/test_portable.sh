#!/usr/bin/env bash
# Rerun every test whose outcome depends on a training trajectory (pytest marker `trajectory`)
# under each CPU kernel path PyTorch can take on this machine and with 1 and 2 threads: another
# CPU rounds differently, and a claim about a chaotic run must hold whatever the bits.
#   ATEN_CPU_CAPABILITY=default   scalar kernels (another vector width, as on another CPU)
#   ATEN_CPU_CAPABILITY=avx2      on an AVX-512 machine, the AVX2 kernels most laptops take
#   (unset)                       this machine's own kernels
# Usage: scripts/test_portable.sh [python] [extra pytest args]
set -uo pipefail
PY=${1:-.venv/bin/python}
shift || true
native=$(env -u ATEN_CPU_CAPABILITY "$PY" -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')
caps=(default)
case "$native" in
  AVX512*) caps+=(avx2 native) ;;
  AVX2*)   caps+=(native) ;;
esac
status=0
summary=()
for cap in "${caps[@]}"; do
  for threads in 1 2; do
    if [ "$cap" = native ]; then capenv=(env -u ATEN_CPU_CAPABILITY); else capenv=(env ATEN_CPU_CAPABILITY="$cap"); fi
    # 1 thread: two xdist workers (as `make test`); 2 threads: one process with two threads
    # (--dist loadfile: a module's shared training fixture runs once, not once per worker)
    if [ "$threads" = 1 ]; then workers=(-n 2 --dist loadfile); else workers=(-p no:xdist); fi
    start=$(date +%s)
    "${capenv[@]}" GANTRAIN_TEST_THREADS=$threads WANDB_MODE=disabled \
      "$PY" -m pytest -q -m trajectory "${workers[@]}" "$@"
    rc=$?
    line="kernels=$cap ($native native) threads=$threads: $([ $rc = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
    summary+=("$line")
    echo "test-portable: $line"
    [ $rc = 0 ] || status=1
  done
done
printf 'test-portable: %s\n' "${summary[@]}"
exit $status
