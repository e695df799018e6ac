#!/usr/bin/env bash
# CPU cost of one tunnel, Enclave vs squid, side by side in one run, on 127.0.0.1 only.
# On a 2-core machine the load generator and the origin share the cores with the proxy, so
# tunnels/s saturates the machine for every peer; CPU time per tunnel (user and kernel, from
# /proc/PID/stat over a measured window) shows what each proxy itself costs.
#
# Usage: bench/cpu-per-tunnel.sh      env: WORKERS=64 SECONDS_PER_RUN=8 ROUNDS=3
# Needs: java 17, squid. Run as root. Stops everything it started, also on failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
WORKERS="${WORKERS:-64}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-8}"
ROUNDS="${ROUNDS:-3}"
SQUID="$(command -v squid || echo /usr/sbin/squid)"
work="$(mktemp -d /tmp/enclave-cpu-bench.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 1.5
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start() { setsid "$@" >"$work/$(basename "$1").$RANDOM.out" 2>&1 < /dev/null & LAST=$!; disown "$LAST"; pids+=("$LAST"); }
port=$(( 20000 + RANDOM % 10000 ))
ORIGIN=$((port)); ENCLAVE=$((port + 1)); SQ=$((port + 2))

[ -f "$repo/enclave-cli/target/enclave.jar" ] || (cd "$repo" && ./mvnw -q -B -DskipTests package)
javac -d "$work/classes" "$here/EgressLoad.java"
load() { java -Xss512k -cp "$work/classes" EgressLoad "$@"; }
start java -cp "$work/classes" EgressLoad origin --port "$ORIGIN" --seconds 600

start "$repo/enclave" egress --listen "127.0.0.1:$ENCLAVE" --allow "localhost:$ORIGIN" --allow-cidr 127.0.0.0/8 \
    --audit "$work/enclave-audit.log"
enclave_pid=$LAST
mkdir -p "$work/squid"; chmod 777 "$work/squid"
cat > "$work/squid.conf" <<CONF
http_port 127.0.0.1:$SQ
pid_filename $work/squid/squid.pid
cache_log $work/squid/cache.log
access_log stdio:$work/squid/access.log
coredump_dir $work/squid
cache deny all
shutdown_lifetime 1 seconds
acl dst dstdomain localhost
acl okport port $ORIGIN
acl CONNECT method CONNECT
http_access allow CONNECT dst okport
http_access deny all
CONF
start "$SQUID" -N -f "$work/squid.conf"
squid_pid=$LAST
sleep 4

# tree_ticks PID: user and system clock ticks summed over PID and its children
tree_ticks() {
  local all=("$1") c
  for c in $(pgrep -P "$1" || true); do all+=("$c"); done
  for c in "${all[@]}"; do awk '{print $14, $15}' "/proc/$c/stat"; done | awk '{u+=$1; s+=$2} END {print u, s}'
}
hz=$(getconf CLK_TCK)
measure() { # name port pid
  local u1 s1 u2 s2 out n rate
  load rate --proxy "$2" --mode connect --target "localhost:$ORIGIN" --workers "$WORKERS" --seconds 10 >/dev/null # warm-up (JIT)
  read -r u1 s1 < <(tree_ticks "$3")
  out="$(load rate --proxy "$2" --mode connect --target "localhost:$ORIGIN" --workers "$WORKERS" --seconds "$SECONDS_PER_RUN")"
  read -r u2 s2 < <(tree_ticks "$3")
  n="$(grep -oE ' tunnels=[0-9]+' <<<"$out" | head -n1 | cut -d= -f2)"
  rate="$(grep -oE 'tunnels_per_s=[0-9]+' <<<"$out" | head -n1 | cut -d= -f2)"
  echo "$1 tunnels=$n tunnels_per_s=$rate user_us_per_tunnel=$(( (u2 - u1) * 1000000 / hz / n )) sys_us_per_tunnel=$(( (s2 - s1) * 1000000 / hz / n ))"
}
echo "cpu per tunnel -- $(date -u +%Y-%m-%dT%H:%M:%SZ) -- $(nproc) cores, $WORKERS workers, ${SECONDS_PER_RUN}s runs, loopback only"
for r in $(seq 1 "$ROUNDS"); do
  measure enclave "$ENCLAVE" "$enclave_pid"
  measure squid "$SQ" "$squid_pid"
done
