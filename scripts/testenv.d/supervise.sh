# shellcheck shell=bash
# The process supervisor of scripts/testenv and its cluster profile: every long-running service
# of the test environment is started, waited for, stopped and reported on by these functions, so
# each one behaves the same way.
#
#   svc_start NAME [--port PORT] [--socket PATH] -- [KEY=VALUE...] CMD [ARG...]
#       starts CMD (with the KEY=VALUE environment) unless NAME's process is alive: in its own
#       session and process group (setsid), output appended to logs/NAME.log, its pid in
#       run/NAME.pid and its command line, one argument a line, in run/NAME.cmd. --port: fail
#       when 127.0.0.1:PORT is taken by a process this supervisor did not start. --socket: a unix
#       socket the service listens on, removed before it starts and after it stops.
#   svc_wait NAME SECONDS CHECK [ARG...]
#       returns when `CHECK ARG...` succeeds; fails with the log's last lines when NAME's process
#       exits first or SECONDS pass.
#   svc_stop NAME            SIGTERM to NAME's process group; SIGKILL to what is left after
#                            SVC_STOP_GRACE seconds (10); returns once the group has exited
#   svc_running NAME         0 when NAME's process is alive
#   svc_pid NAME             prints the pid of NAME's process when it is alive
#   svc_status NAME CHECK [ARG...]   prints "PID STATE" (healthy, starting or down); 0 when healthy
#   svc_changed NAME [KEY=VALUE...] CMD [ARG...]   0 when NAME runs with another command line
#   svc_logs NAME [LINES]    the last LINES (100) lines of NAME's log
#
# Files live under $SVC_HOME (run/ and logs/): the default profile sets it to $STATE, the cluster
# profile to $STATE/cluster. Messages start with "$SVC_LABEL: ". A service's pid is its process
# group's id, so `kill -- -PID` reaches it and every child it did not move to a group of its own
# (test/integration/faults.ts kills kube-apiserver that way).

SVC_HOME="${SVC_HOME:-$STATE}"
SVC_LABEL="${SVC_LABEL:-testenv}"
SVC_STOP_GRACE="${SVC_STOP_GRACE:-10}"

svc_pidfile() { echo "$SVC_HOME/run/$1.pid"; }
svc_cmdfile() { echo "$SVC_HOME/run/$1.cmd"; }
svc_logfile() { echo "$SVC_HOME/logs/$1.log"; }
svc_socketfile() { echo "$SVC_HOME/run/$1.socket"; } # the --socket path, for svc_stop

svc_fail() {
  echo "$SVC_LABEL: $*" >&2
  exit 1
}

# A pid whose process exists and is not a zombie (PID 1 here may never reap an orphan).
svc_alive() {
  [[ -d "/proc/$1" ]] && [[ "$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

svc_pid() {
  local f pid
  f="$(svc_pidfile "$1")"
  [[ -s "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] && svc_alive "$pid" || return 1
  echo "$pid"
}

svc_running() { svc_pid "$1" >/dev/null; }

# The live (non-zombie) members of process group PGID.
svc_group() {
  ps -e -o pgid=,stat=,pid= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { print $3 }'
}

svc_port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

svc_start() {
  local name=$1 port="" socket=""
  shift
  while [[ $# -gt 0 && "$1" != -- ]]; do
    case "$1" in
      --port) port=$2; shift 2 ;;
      --socket) socket=$2; shift 2 ;;
      *) svc_fail "svc_start $name: unknown option $1" ;;
    esac
  done
  [[ "${1:-}" == -- ]] || svc_fail "svc_start $name: no command (svc_start NAME [options] -- CMD...)"
  shift
  svc_running "$name" && return 0 # alive (maybe still starting: svc_wait decides)
  if [[ -n "$port" ]] && svc_port_taken "$port"; then
    svc_fail "$name: 127.0.0.1:$port is already in use by a process this state dir ($SVC_HOME) did not start (another checkout's testenv? stop it with its 'scripts/testenv down')"
  fi
  local -a argv=("$@") envs=()
  while [[ ${#argv[@]} -gt 0 && "${argv[0]}" == *=* && "${argv[0]}" != /* ]]; do
    envs+=("${argv[0]}")
    argv=("${argv[@]:1}")
  done
  [[ ${#argv[@]} -gt 0 ]] || svc_fail "svc_start $name: no command after the environment"
  mkdir -p "$SVC_HOME/run" "$SVC_HOME/logs"
  local log
  log="$(svc_logfile "$name")"
  if [[ -n "$socket" ]]; then
    rm -f "$socket"
    echo "$socket" >"$(svc_socketfile "$name")"
  else
    rm -f "$(svc_socketfile "$name")"
  fi
  echo "=== $(date -u +%FT%TZ) starting: ${argv[*]}" >>"$log"
  printf '%s\n' "$@" >"$(svc_cmdfile "$name")"
  # setsid: its own session and process group (this shell has no job control, so the background
  # child is no group leader and setsid execs in place: $! is the group's id). 7>&- 8>&- 9>&-: the
  # scripts' locks must not outlive them in a service.
  env "${envs[@]}" setsid "${argv[@]}" >>"$log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
  echo $! >"$(svc_pidfile "$name")"
  disown $! # no "Killed" notice from this shell when a restart stops it
}

svc_wait() {
  local name=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds)) log
  log="$(svc_logfile "$name")"
  until "$@"; do
    if ! svc_running "$name"; then
      tail -n 30 "$log" >&2 || true
      svc_fail "$name exited while starting; log: $log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$log" >&2 || true
      svc_fail "$name did not become healthy within ${seconds}s; log: $log"
    fi
    sleep 0.2
  done
}

# 0 when neither the leader PGID nor any member of its process group is alive.
svc_group_gone() { ! svc_alive "$1" && [[ -z "$(svc_group "$1")" ]]; }

# Polls until process group PGID is gone or SECONDS pass; 0 when it is gone.
svc_wait_group_exit() {
  local pgid=$1 seconds=$2 i
  for ((i = 0; i < seconds * 10; i++)); do
    svc_group_gone "$pgid" && return 0
    sleep 0.1
  done
  svc_group_gone "$pgid"
}

svc_stop() {
  local name=$1 pid socket
  if pid="$(svc_pid "$name")"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    if ! svc_wait_group_exit "$pid" "$SVC_STOP_GRACE"; then
      echo "$SVC_LABEL: $name (pid $pid) did not stop on SIGTERM in ${SVC_STOP_GRACE}s; sending SIGKILL" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      svc_wait_group_exit "$pid" 5 ||
        echo "$SVC_LABEL: $name: processes $(svc_group "$pid" | tr '\n' ' ')are still alive after SIGKILL" >&2
    fi
  fi
  socket="$(cat "$(svc_socketfile "$name")" 2>/dev/null || true)"
  [[ -z "$socket" ]] || rm -f "$socket"
  rm -f "$(svc_pidfile "$name")" "$(svc_cmdfile "$name")" "$(svc_socketfile "$name")"
}

svc_status() {
  local name=$1 pid
  shift
  if ! pid="$(svc_pid "$name")"; then
    echo "- down"
    return 1
  fi
  if "$@"; then
    echo "$pid healthy"
  else
    echo "$pid starting"
    return 1
  fi
}

svc_changed() {
  local name=$1
  shift
  svc_running "$name" || return 1
  [[ "$(printf '%s\n' "$@")" != "$(cat "$(svc_cmdfile "$name")" 2>/dev/null)" ]]
}

svc_logs() { tail -n "${2:-100}" "$(svc_logfile "$1")"; }
