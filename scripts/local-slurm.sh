#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for `--launcher slurm` and its tests.
#
#   scripts/local-slurm.sh start    install (Debian: slurmctld slurmd munge) if missing,
#                                   write a minimal slurm.conf, start munged, slurmctld and
#                                   slurmd as root, wait until `sinfo` shows the node idle
#   scripts/local-slurm.sh stop     stop the three daemons
#   scripts/local-slurm.sh status   what runs, and `sinfo`
#
# DLBENCH_SLURM_TASK_PLUGIN selects how slurmd binds a job's tasks to CPUs:
#   none (default)  TaskPlugin=task/none: tasks inherit slurmd's CPUs
#   affinity        TaskPlugin=task/affinity: each task bound to its own CPUs with
#                   sched_setaffinity (the usual production setting)
#   cgroup          TaskPlugin=task/cgroup,task/affinity with ProctrackType=proctrack/cgroup
#                   and ConstrainCores=yes (cgroup.conf): each job confined to its
#                   allocated CPUs by a cpuset cgroup. Needs a cgroup hierarchy slurmd may
#                   write (this project's container has one: cgroup v1 with a writable
#                   cpuset, Slurm 22.05); where a container does not, `start` fails and
#                   says why.
# `start` with another plugin than the running one rewrites slurm.conf and restarts the
# daemons; a plain `start` afterwards brings the default back.
#
# Idempotent: `start` on a running cluster checks it and returns. The node is this host
# with its real CPU count and memory (`slurmd -C`); the partition `dlbench` is the default
# and gives every job an exclusive node (OverSubscribe=EXCLUSIVE), as a benchmark needs.
# No accounting daemon: dlbench reads job states from squeue and scontrol (finished jobs
# are kept for MinJobAge seconds). Needs root. Exit code 1 with the reason when it cannot.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
LOG_DIR=/var/log/slurm
SPOOL=/var/spool
PARTITION=dlbench
WAIT_S=${DLBENCH_SLURM_WAIT_S:-60}
TASK_PLUGIN=${DLBENCH_SLURM_TASK_PLUGIN:-none}

die() { echo "local-slurm: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it starts munged, slurmctld and slurmd)"
}

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
      && command -v munged >/dev/null && command -v sinfo >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "slurm is not installed and there is no apt-get to install it"
  echo "local-slurm: installing slurmctld slurmd munge (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q slurmctld slurmd munge >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q slurmctld slurmd munge >/dev/null; } \
    || die "apt-get install slurmctld slurmd munge failed"
}

# slurm.conf's ProctrackType and TaskPlugin lines for $TASK_PLUGIN.
plugin_lines() {
  case "$TASK_PLUGIN" in
    none) printf 'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n' ;;
    affinity) printf 'ProctrackType=proctrack/linuxproc\nTaskPlugin=task/affinity\n' ;;
    cgroup) printf 'ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity\n' ;;
    *) die "DLBENCH_SLURM_TASK_PLUGIN=$TASK_PLUGIN: valid: none, affinity, cgroup" ;;
  esac
}

write_cgroup_conf() {
  cat >"$CONF_DIR/cgroup.conf" <<EOF
# written by dlbench scripts/local-slurm.sh (DLBENCH_SLURM_TASK_PLUGIN=cgroup)
CgroupPlugin=autodetect
ConstrainCores=yes
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
}

write_conf() {
  local host node_line plugins
  [ "$TASK_PLUGIN" = none ] || [ "$TASK_PLUGIN" = affinity ] || [ "$TASK_PLUGIN" = cgroup ] \
    || die "DLBENCH_SLURM_TASK_PLUGIN=$TASK_PLUGIN: valid: none, affinity, cgroup"
  plugins=$(plugin_lines)   # after the check above: its `die` would end only the $( )
  host=$(hostname -s)
  # The node as slurmd sees it: CPUs, sockets, cores, threads and RealMemory.
  node_line=$(slurmd -C | head -n 1) || die "slurmd -C failed"
  [[ "$node_line" == NodeName=* ]] || die "unexpected slurmd -C output: $node_line"
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL/slurmctld" "$SPOOL/slurmd"
  if [ "$TASK_PLUGIN" = cgroup ]; then
    write_cgroup_conf
  elif grep -qs '^# written by dlbench' "$CONF_DIR/cgroup.conf"; then
    rm -f "$CONF_DIR/cgroup.conf"
  fi
  cat >"$CONF.tmp" <<EOF
# written by dlbench scripts/local-slurm.sh: a one-node cluster for tests
ClusterName=dlbench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
$plugins
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$SPOOL/slurmctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
$node_line State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE
EOF
  if [ -f "$CONF" ] && cmp -s "$CONF.tmp" "$CONF"; then
    rm -f "$CONF.tmp"
    return 1          # unchanged
  fi
  mv "$CONF.tmp" "$CONF"
  return 0
}

# Each daemon by the pid file it writes (never by name: other processes may share it).
pidfile() {
  case "$1" in
    munged) echo /run/munge/munged.pid ;;
    *) echo "/run/$1.pid" ;;
  esac
}

running() {
  local f pid
  f=$(pidfile "$1")
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] && grep -qx "$1" "/proc/$pid/comm" 2>/dev/null
}

kill_daemon() {
  local d=$1 pid
  running "$d" || return 0
  pid=$(cat "$(pidfile "$d")")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do running "$d" || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

start_munge() {
  running munged && return
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
    else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    su -s /bin/sh munge -c munged 2>/dev/null || munged --force
  else
    munged --force
  fi
}

node_idle() {
  sinfo -h -p "$PARTITION" -o "%T" 2>/dev/null | grep -qE '^(idle|mixed|allocated)'
}

start() {
  need_root
  install_if_missing
  local changed=0
  write_conf && changed=1
  start_munge
  if [ "$changed" -eq 1 ] && { running slurmctld || running slurmd; }; then
    stop_daemons       # a new configuration: restart with it
  fi
  running slurmctld || slurmctld
  running slurmd || slurmd \
    || die "slurmd did not start with DLBENCH_SLURM_TASK_PLUGIN=$TASK_PLUGIN: $(tail -n 1 "$LOG_DIR/slurmd.log" 2>/dev/null)"
  local waited=0
  until node_idle; do
    if [ "$waited" -ge "$WAIT_S" ]; then
      sinfo >&2 || true
      tail -n 5 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 2>/dev/null || true
      die "the node did not become idle within ${WAIT_S}s"
    fi
    # a node left down/drained by an earlier run is put back into service
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 1
    waited=$((waited + 1))
  done
  echo "local-slurm: up ($(grep '^TaskPlugin=' "$CONF")); partition $PARTITION: $(sinfo -h -p "$PARTITION" -o '%D node(s) %T, %c CPUs')"
}

stop_daemons() {
  kill_daemon slurmd
  kill_daemon slurmctld
}

stop() {
  need_root
  stop_daemons
  kill_daemon munged
  echo "local-slurm: stopped"
}

status() {
  local d
  for d in munged slurmctld slurmd; do
    if running "$d"; then echo "$d: running"; else echo "$d: not running"; fi
  done
  if [ -f "$CONF" ]; then grep -E '^(ProctrackType|TaskPlugin)=' "$CONF" || true; fi
  if command -v sinfo >/dev/null && running slurmctld; then sinfo; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
