#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine for the tests in tests/slurm (`make test-slurm`).
#
#   scripts/slurm_cluster.sh [pytest args...]     default: tests/slurm
#
# Installs slurm-wlm and munge with apt where missing (needs root: slurmd runs jobs as their
# user), writes a one-node slurm.conf for this host (2 CPUs, memory from /proc/meminfo, its own
# munge key and socket, non-default ports, no cgroups) into a temporary folder, starts munged,
# slurmctld and slurmd, waits until sinfo shows the node idle, runs pytest with SLURM_CONF set,
# and always stops the daemons and removes the folder. Partitions: `low` (default, preemptible:
# PreemptMode=REQUEUE) and `high` (a higher PriorityTier that preempts `low`).
# A daemon that does not start ends the script in one line naming it, with its log tail.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=${PYTEST:-.venv/bin/python -m pytest}
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-16818}

die() {   # one line: what did not start, then its log's last lines
    local what=$1 logf=${2:-}
    local tail_=""
    [[ -n $logf && -f $logf ]] && tail_=$(tail -n 3 "$logf" | tr '\n' ' ')
    echo "slurm_cluster: $what did not start${tail_:+ (log: $tail_)}" >&2
    exit 1
}

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [[ $(id -u) == 0 ]] || die "apt-get install slurm-wlm munge (not root)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -q slurm-wlm munge >/dev/null 2>&1; } \
        || die "apt-get install slurm-wlm munge"
fi
[[ $(id -u) == 0 ]] || die "slurmd (it must run as root)"

D=$(mktemp -d /tmp/gantrain-slurm.XXXXXX)
chmod 755 "$D"
cleanup() {
    local rc=$?
    for pidf in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
        [[ -s $pidf ]] && kill "$(cat "$pidf")" 2>/dev/null || true
    done
    for _ in $(seq 50); do   # up to 5 s for them to go, then SIGKILL
        local alive=0
        for pidf in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
            [[ -s $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null && alive=1
        done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pidf in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munged.pid"; do
        [[ -s $pidf ]] && kill -9 "$(cat "$pidf")" 2>/dev/null || true
    done
    rm -rf "$D"
    exit $rc
}
trap cleanup EXIT INT TERM

HOST=$(hostname -s)
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
mkdir -p "$D/state" "$D/spool"

# munge: its own key and socket, so that no system munged is needed or disturbed.
head -c 1024 /dev/urandom > "$D/munge.key"
chmod 400 "$D/munge.key"
munged --force --key-file="$D/munge.key" --socket="$D/munge.sock" --pid-file="$D/munged.pid" \
    --log-file="$D/munged.log" --seed-file="$D/munged.seed" >/dev/null 2>&1 \
    || die munged "$D/munged.log"

cat > "$D/slurm.conf" <<EOF
ClusterName=gantrain-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge.sock
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Preemption between partitions: a job in high requeues one in low (a cluster's scavenger queue).
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# Requeued jobs and finished ones stay visible to scontrol (no slurmdbd here, so no sacct).
MinJobAge=600
KillWait=30
InactiveLimit=0
SlurmdTimeout=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM_MB State=UNKNOWN
PartitionName=low Nodes=$HOST Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=0
PartitionName=high Nodes=$HOST MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
export SLURM_CONF=$D/slurm.conf

slurmctld -c -f "$SLURM_CONF" >/dev/null 2>&1 || die slurmctld "$D/slurmctld.log"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.2; done
scontrol ping 2>/dev/null | grep -q "is UP" || die slurmctld "$D/slurmctld.log"
slurmd -f "$SLURM_CONF" >/dev/null 2>&1 || die slurmd "$D/slurmd.log"
for _ in $(seq 150); do
    [[ $(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1) == idle ]] && break
    sleep 0.2
done
[[ $(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1) == idle ]] \
    || die "slurmd (node $HOST not idle: $(sinfo -h -o %t 2>&1 | head -1))" "$D/slurmd.log"
echo "slurm_cluster: node $HOST idle (2 CPUs, ${MEM_MB} MB; SLURM_CONF=$SLURM_CONF)"

# The tests submit jobs that run in this checkout; their files live under tests' tmp folders.
export GANTRAIN_SLURM_LOGS=$D
set +e
WANDB_MODE=disabled $PYTEST -q -p no:cacheprovider --basetemp="$D/pytest" "${@:-tests/slurm}"
rc=$?
set -e
exit $rc
