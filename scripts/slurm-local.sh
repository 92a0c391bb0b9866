#!/usr/bin/env bash
# A real single-node Slurm (with accounting) on this machine, for tests and CI. Runs as root, needs no
# systemd. Every daemon runs under $SUSTAIN_SLURM_ROOT with its own munge socket and ports, so a second
# cluster on the same host (another checkout, another CI job) only needs another root and port base.
#
#   scripts/slurm-local.sh install   apt packages (idempotent)
#   scripts/slurm-local.sh up        start munged, mariadbd, slurmdbd, slurmctld, slurmd; prints
#                                    `export SLURM_CONF=...` on stdout (eval "$(scripts/slurm-local.sh up)")
#   scripts/slurm-local.sh down      cancel jobs, then stop the daemons by pid
#   scripts/slurm-local.sh status    daemons, sinfo, squeue
#
# SUSTAIN_SLURM_ROOT  scratch root (default /tmp/sustain-slurm)
# SUSTAIN_SLURM_PORT  port base (default 6817): slurmctld, slurmd, slurmdbd and mariadbd use it .. +3
#
# The node advertises no GRES, as this machine has no GPU: `sbatch --gpus-per-node=N` is refused at
# submission ("Invalid generic resource (gres) specification"), so tests check a GPU request in the
# sbatch script submitit wrote and in sbatch's refusal, never by running it.
set -euo pipefail

ROOT=${SUSTAIN_SLURM_ROOT:-/tmp/sustain-slurm}
PORT=${SUSTAIN_SLURM_PORT:-6817}
CLUSTER=sustain
CTLD_PORT=$PORT
SLURMD_PORT=$((PORT + 1))
DBD_PORT=$((PORT + 2))
DB_PORT=$((PORT + 3))
ETC=$ROOT/etc
RUN=$ROOT/run
LOG=$ROOT/log
MUNGE_SOCKET=$ROOT/munge/munge.socket.2
DB_SOCKET=$RUN/mariadbd.sock
export SLURM_CONF=$ETC/slurm.conf
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
BINARIES=(/usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/slurmdbd /usr/sbin/mariadbd)

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# Waits up to $2 seconds for the command in "$3..." to succeed.
wait_for() {
  local what=$1 limit=$2 deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${limit}s; see $LOG"
    sleep 0.25
  done
}

# Starts a daemon in its own session with all output in its log, so no caller's pipe is held open.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_install() {
  local b missing=0
  for b in "${BINARIES[@]}"; do [ -x "$b" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
  # Without systemd the packages' postinst would start a system-wide mariadb/munge; forbid that.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
  fi
  say "installing ${PACKAGES[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2 \
    || { [ "$ours" = 1 ] && rm -f "$policy"; die "apt-get install failed"; }
  [ "$ours" = 1 ] && rm -f "$policy"
  return 0
}

write_slurm_conf() {
  local host node mem
  host=$(hostname -s)
  # `slurmd -C` describes this machine; keep ~90 % of its memory for jobs.
  node=$(/usr/sbin/slurmd -C | head -1 | tr ' ' '\n' | grep -v -E '^(UpTime|RealMemory)=' | tr '\n' ' ')
  mem=$(/usr/sbin/slurmd -C | head -1 | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)
  cat >"$SLURM_CONF" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$MUNGE_SOCKET
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
$node NodeAddr=127.0.0.1 RealMemory=$((mem * 9 / 10)) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  (
    umask 077
    cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
EOF
  )
}

start_munge() {
  alive munged && return 0
  mkdir -p "$ROOT/munge"
  chown munge:munge "$ROOT/munge"
  chmod 755 "$ROOT/munge"
  spawn munged runuser -u munge -- /usr/sbin/munged --socket="$MUNGE_SOCKET" \
    --pid-file="$ROOT/munge/munged.pid" --log-file="$ROOT/munge/munged.log" --seed-file="$ROOT/munge/munged.seed"
  wait_for munged 15 bash -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"
  cp "$ROOT/munge/munged.pid" "$RUN/munged.pid"
}

start_mariadb() {
  alive mariadbd && return 0
  port_free "$DB_PORT" || die "port $DB_PORT is taken; set SUSTAIN_SLURM_PORT to another base"
  if [ ! -d "$ROOT/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$ROOT/mysql" \
      --auth-root-authentication-method=normal --skip-test-db >>"$LOG/mariadbd.out" 2>&1
  fi
  spawn mariadbd /usr/sbin/mariadbd --no-defaults --user=root --datadir="$ROOT/mysql" --socket="$DB_SOCKET" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$RUN/mariadbd.pid" --log-error="$LOG/mariadbd.log"
  wait_for mariadbd 60 mariadb --no-defaults -S "$DB_SOCKET" -u root -e "SELECT 1"
  mariadb --no-defaults -S "$DB_SOCKET" -u root -e "
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start_slurm() {
  local p
  if ! alive slurmdbd; then
    port_free "$DBD_PORT" || die "port $DBD_PORT is taken; set SUSTAIN_SLURM_PORT to another base"
    spawn slurmdbd /usr/sbin/slurmdbd
    wait_for slurmdbd 60 sacctmgr -n list cluster
    sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >&2
  fi
  if ! alive slurmctld; then
    for p in "$CTLD_PORT" "$SLURMD_PORT"; do
      port_free "$p" || die "port $p is taken; set SUSTAIN_SLURM_PORT to another base"
    done
    spawn slurmctld /usr/sbin/slurmctld -f "$SLURM_CONF"
    wait_for slurmctld 30 scontrol ping
  fi
  if ! alive slurmd; then
    spawn slurmd /usr/sbin/slurmd -f "$SLURM_CONF"
  fi
  wait_for "an idle node" 60 bash -c "sinfo -h -o %T | grep -q -E '^(idle|mixed|allocated)'"
  wait_for sacct 30 sacct -n -X -S now
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "up needs root (the daemons run as root here)"
  local b
  for b in "${BINARIES[@]}"; do [ -x "$b" ] || die "$b is missing: run '$0 install' first"; done
  mkdir -p "$ETC" "$RUN" "$LOG" "$ROOT/state" "$ROOT/spool"
  write_slurm_conf
  start_munge
  start_mariadb
  start_slurm
  say "up: $(sinfo -h -o '%N %c CPUs %m MB %T')"
  echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
  local name=$1 pid i
  alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 80; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
}

cmd_down() {
  local i
  [ -f "$SLURM_CONF" ] || { say "nothing under $ROOT"; return 0; }
  # Jobs first: once slurmd is gone their processes would keep running.
  if alive slurmctld; then
    squeue -h -o %A | xargs -r scancel
    for ((i = 0; i < 120; i++)); do
      [ -z "$(squeue -h -o %A)" ] && break
      sleep 0.25
    done
  fi
  for name in slurmd slurmctld slurmdbd mariadbd munged; do stop "$name"; done
  say "down"
}

cmd_status() {
  local name
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then say "$name running (pid $(cat "$RUN/$name.pid"))"; else say "$name stopped"; fi
  done
  if alive slurmctld; then
    sinfo >&2
    squeue >&2
    echo "export SLURM_CONF=$SLURM_CONF"
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) die "usage: $0 install|up|down|status" ;;
esac
