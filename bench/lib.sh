# lib.sh - shell functions sourced by bench/run.sh and bench/cells.sh: ports, processes, CPU
# accounting from /proc, and the quiet-machine wait. No path of any one machine.

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

# wait_port PORT [SECONDS]: wait until 127.0.0.1:PORT accepts a TCP connection.
wait_port() {
  local port=$1 t=${2:-10} i
  for ((i = 0; i < t * 20; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_pid PID: TERM, then KILL after ~5 s, one process by its PID; waits until it is gone.
stop_pid() {
  local pid=$1 i
  [[ -n $pid && -d /proc/$pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do [[ -d /proc/$pid ]] || return 0; sleep 0.05; done
  echo "bench: process $pid ignored TERM, sending KILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do [[ -d /proc/$pid ]] || return 0; sleep 0.05; done
}

# children PID: direct children of PID (e.g. nginx's worker), one per line.
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

# cpu_ticks PID...: utime+stime of the given processes (all their threads), clock ticks.
cpu_ticks() {
  local sum=0 pid f a
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    f=$(<"/proc/$pid/stat"); f=${f##*) }
    read -r -a a <<<"$f"
    sum=$((sum + a[11] + a[12]))
  done
  echo "$sum"
}

# busy_ticks: CPU ticks the whole machine spent busy (user, nice, system, irq, softirq, steal).
busy_ticks() {
  local a
  read -r -a a < /proc/stat
  echo $((a[1] + a[2] + a[3] + a[6] + a[7] + a[8]))
}

HZ=$(getconf CLK_TCK)

# quiet_wait MAX_SECS [CORES]: while our servers are idle, wait (at most MAX_SECS) until the
# rest of the machine uses less than CORES cores (default 0.25). Prints the last reading.
quiet_wait() {
  local max=$1 cores=${2:-0.25} end b0 b1 used
  end=$((SECONDS + max))
  while :; do
    b0=$(busy_ticks); sleep 0.5; b1=$(busy_ticks)
    used=$(awk -v d=$((b1 - b0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz / 0.5 }')
    if awk -v u="$used" -v c="$cores" 'BEGIN { exit !(u < c) }' || ((SECONDS >= end)); then
      echo "$used"
      return 0
    fi
  done
}

# vm_kb PID FIELD: a memory field of /proc/PID/status (VmRSS, VmHWM), in kB.
vm_kb() { awk -v f="$2:" '$1 == f { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }
