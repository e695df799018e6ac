#!/usr/bin/env bash
# Tail latency at the same offered load: Enclave vs the seed guide's nginx (auth_basic apr1), side
# by side in one run on 127.0.0.1, against the same upstream (nginx `return 200 "ok"`).
#
# bench/gateway.sh drives both with wrk, which is closed-loop: each of its 64 connections sends the
# next request when the last answer came, so each server runs at its own saturation (Enclave at
# about 4x nginx's rate) and the p99s compare two different loads. Here the client
# (bench/GatewayLoad.java `rate`) is open-loop: RATE requests/s over CONNS keep-alive HTTPS
# connections, each request timed from when it was due (wrk2's correction for coordinated
# omission), so both peers get exactly the same load and a stall shows up in the tail instead of
# lowering the load. The issue's target: p99 <= 1.2x nginx-apr1's.
#
# Usage: bench/gateway-rate.sh    env: RATES="1000 2000 4000" CONNS=64 SECONDS_EACH=10 WARMUP=3 ROUNDS=3 KEEP=
# Needs: java 17, nginx, htpasswd (apache2-utils), openssl, curl. Run as root. Stops all it started.
set -euo pipefail
NAME=gateway-rate
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
RATES="${RATES:-1000 2000 4000}"
CONNS="${CONNS:-64}"
SECONDS_EACH="${SECONDS_EACH:-10}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-3}"

ensure_jar
UP=$(free_port); ENC=$(free_port); NG=$(free_port)
nginx_upstream "$UP"
enclave_gateway enclave "$ENC" "$UP"; enc_pid=$LAST
nginx_gateway nginx-apr1 "$NG" "$UP" apr1; ng_pid=$LAST
wait_http "http://127.0.0.1:$UP/"
for p in "$ENC" "$NG"; do wait_http "https://127.0.0.1:$p/" -H "$AUTH"; check_gateway "$p"; done

machine_header
echo "# open loop: RATES=[$RATES] req/s over $CONNS keep-alive HTTPS connections, ${SECONDS_EACH}s recorded after ${WARMUP}s unrecorded, $ROUNDS rounds, peers alternate"
port_of() { case $1 in enclave) echo "$ENC" ;; nginx-apr1) echo "$NG" ;; esac; }
pid_of() { case $1 in enclave) echo "$enc_pid" ;; nginx-apr1) echo "$ng_pid" ;; esac; }
run() { # run LABEL RATE SECONDS WARMUP
  local t0 t1 port pid
  port=$(port_of "$1"); pid=$(pid_of "$1")
  t0=$(tree_ticks "$pid")
  "${LOAD[@]}" rate --label "$1" --port "$port" --auth "$USER_NAME:$PASSWORD" --rate "$2" --conns "$CONNS" \
    --seconds "$3" --warmup "$4" | sed "s/\$/ front_cpu_core_pct=PCT/" > "$work/run.out"
  t1=$(tree_ticks "$pid")
  sed "s/PCT/$(( (t1 - t0) * 100 / HZ / ($3 + $4) ))/" "$work/run.out"
}
# JIT warm-up of both fronts (and of this client) at the highest rate, not recorded in the results
top_rate="${RATES##* }"
for peer in enclave nginx-apr1; do run "$peer" "$top_rate" 10 0 | sed 's/^/warm-up /'; done
for r in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    order=(enclave nginx-apr1); [ $(( r % 2 )) -eq 0 ] && order=(nginx-apr1 enclave)
    for peer in "${order[@]}"; do
      wait_quiet "$peer" >/dev/null
      run "$peer" "$rate" "$SECONDS_EACH" "$WARMUP" | tee -a "$work/results"
    done
  done
done

awk '
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  v["test"] == "rate" { k = v["label"] SUBSEP v["rate"]; n[k]++; p99[k, n[k]] = v["p99_ms"]; p50[k, n[k]] = v["p50_ms"]; rates[v["rate"]] = 1
    bad[k] += v["failed"] + v["incomplete"] + v["non200"] }
  function median(a, k, m,   i, j, t, x) { for (i = 1; i <= m; i++) x[i] = a[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
  END {
    for (r in rates) {
      e = "enclave" SUBSEP r; g = "nginx-apr1" SUBSEP r
      if (!n[e] || !n[g]) continue
      me = median(p99, e, n[e]); mg = median(p99, g, n[g])
      printf "median rate=%s enclave_p50_ms=%.2f enclave_p99_ms=%.2f nginx_apr1_p50_ms=%.2f nginx_apr1_p99_ms=%.2f ratio_p99=%.2f (target <= 1.2) rounds=%d errors_enclave=%d errors_nginx=%d\n",
        r, median(p50, e, n[e]), me, median(p50, g, n[g]), mg, (mg > 0 ? me / mg : 0), n[e], bad[e], bad[g]
    }
  }' "$work/results" | sort -t= -k2 -n
