#!/usr/bin/env bash
# The lab's run time (issue 7): `enclave lab up`, `lab verify` and `lab down`, each timed, ROUNDS
# times, on this machine. There is no peer to run side by side (the seed's list is run by hand);
# the target is an absolute one: up + verify + down < 60 s on a 2-core machine.
#
# Usage: sudo bench/lab.sh    env: ROUNDS=3 LAB_DIR=/tmp/enclave-lab-bench DESIGN=enclave (or seed)
# Needs: root, java 17, iproute2, nftables, util-linux, curl, bind9-dnsutils, wget, socat, iputils-ping, iptables (and sudo for seed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROUNDS="${ROUNDS:-3}"
LAB_DIR="${LAB_DIR:-/tmp/enclave-lab-bench}"
DESIGN="${DESIGN:-enclave}"
[ "$(id -u)" = 0 ] || { echo "lab: run as root (sudo bench/lab.sh)" >&2; exit 2; }
"$here/../enclave" --version >/dev/null # builds the jar first when needed, outside the timings
# Then the jar itself: the launcher would rebuild between steps if sources changed meanwhile.
enclave() { java -jar "$here/../enclave-cli/target/enclave.jar" "$@"; }
enclave lab down --state "$LAB_DIR" >/dev/null
mkdir -p "$LAB_DIR" && chmod 755 "$LAB_DIR"
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
totals=()
echo "# $(date -u +%FT%TZ) lab (design $DESIGN); $(nproc) cores, kernel $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); enclave lab up --design "$DESIGN" --state "$LAB_DIR" >/dev/null
  t1=$(now); rc=0; enclave lab verify --state "$LAB_DIR" > "$LAB_DIR/verify-$r.txt" || rc=$?
  t2=$(now); enclave lab down --state "$LAB_DIR" >/dev/null
  t3=$(now)
  total=$(sub "$t3" "$t0")
  totals+=("$total")
  printf 'round %d: up %.1f s, verify %.1f s (exit %d, %s), down %.1f s, total %.1f s\n' "$r" \
    "$(sub "$t1" "$t0")" "$(sub "$t2" "$t1")" "$rc" "$(tail -n1 "$LAB_DIR/verify-$r.txt" | sed 's/^enclave lab verify: //')" \
    "$(sub "$t3" "$t2")" "$total"
done
median=$(printf '%s\n' "${totals[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
printf 'lab (design %s): median up + verify + down %.1f s over %d rounds (target < 60 s); %s, %d cores, loadavg %s\n' "$DESIGN" "$median" "$ROUNDS" \
  "$(date -u +%FT%TZ)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
