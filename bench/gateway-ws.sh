#!/usr/bin/env bash
# WebSocket through the ingress gateway, side by side in one run on 127.0.0.1:
#   1. echo round trip, one socket, sequential 64-byte text messages: direct to the echo server
#      (ws://, no TLS), through `enclave gateway` (wss://, Basic auth on the upgrade), and through
#      nginx as the seed guide sets it up (TLS + auth_basic apr1 + proxy_pass with Upgrade headers).
#      Prints p50/p99 and what each front adds over direct (target: enclave adds < 0.3 ms p50).
#   2. IDLE WebSockets held open through enclave and through nginx (default 1,000), each checked
#      with an echo when opened and again after a settle; then the front's RSS (target < 300 MB).
# The echo server and the load client are bench/GatewayLoad.java (Netty server, JDK client).
#
# Usage: bench/gateway-ws.sh     env: ROUNDS=2 COUNT=20000 WARMUP=5000 SIZE=64 IDLE=1000 KEEP=
#   ENCLAVE_B_OPTS="JVM options": adds a peer enclave-b, the same gateway with these JVM options
#   instead of the launcher's (an A/B of a JVM or TLS setting within one run).
# Needs: java 17, nginx, htpasswd (apache2-utils), openssl, curl. Run as root. Stops all it started.
set -euo pipefail
NAME=gateway-ws
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
ROUNDS="${ROUNDS:-2}"
COUNT="${COUNT:-20000}"
WARMUP="${WARMUP:-5000}"
SIZE="${SIZE:-64}"
IDLE="${IDLE:-1000}"

ensure_jar
ECHO=$(free_port); ENC=$(free_port); NG=$(free_port)
start echo "${LOAD[@]}" echo-server --port "$ECHO"; echo_pid=$LAST
enclave_gateway enclave "$ENC" "$ECHO"; enc_pid=$LAST
nginx_gateway nginx-apr1 "$NG" "$ECHO" apr1; ng_pid=$LAST
peers=(direct enclave nginx-apr1)
if [ -n "${ENCLAVE_B_OPTS:-}" ]; then
  ENC_B=$(free_port); GW_OPTS="$ENCLAVE_B_OPTS" enclave_gateway enclave-b "$ENC_B" "$ECHO"; enc_b_pid=$LAST
  peers=(direct enclave enclave-b nginx-apr1)
  wait_http "https://127.0.0.1:$ENC_B/" -H "$AUTH"; check_gateway "$ENC_B"
fi
wait_http "http://127.0.0.1:$ECHO/"
wait_http "https://127.0.0.1:$ENC/" -H "$AUTH"
wait_http "https://127.0.0.1:$NG/" -H "$AUTH"
check_gateway "$ENC"; check_gateway "$NG"

machine_header
echo "# rtt: $ROUNDS rounds x $COUNT sequential round trips of $SIZE bytes after $WARMUP warm-up ones, one socket per run; idle: $IDLE sockets"
rtt() { # rtt LABEL URL [auth]
  wait_quiet "$1"
  "${LOAD[@]}" rtt --label "$1" --url "$2" ${3:+--auth "$3"} --count "$COUNT" --warmup "$WARMUP" --size "$SIZE" | tee -a "$work/results"
}
for r in $(seq 1 "$ROUNDS"); do # rotate the order so no peer always runs first
  order=("${peers[@]}")
  for i in $(seq 1 $(( (r - 1) % ${#peers[@]} ))); do order=("${order[@]:1}" "${order[0]}"); done
  for peer in "${order[@]}"; do
    case $peer in
      direct) rtt direct "ws://127.0.0.1:$ECHO/ws" ;;
      enclave) rtt enclave "wss://127.0.0.1:$ENC/ws" "$USER_NAME:$PASSWORD" ;;
      enclave-b) rtt enclave-b "wss://127.0.0.1:$ENC_B/ws" "$USER_NAME:$PASSWORD" ;;
      nginx-apr1) rtt nginx-apr1 "wss://127.0.0.1:$NG/ws" "$USER_NAME:$PASSWORD" ;;
    esac
  done
done
wait_quiet enclave
"${LOAD[@]}" idle --label enclave --url "wss://127.0.0.1:$ENC/ws" --auth "$USER_NAME:$PASSWORD" --count "$IDLE" --pid "$enc_pid" | tee -a "$work/results"
if [ -n "${ENCLAVE_B_OPTS:-}" ]; then
  wait_quiet enclave-b
  "${LOAD[@]}" idle --label enclave-b --url "wss://127.0.0.1:$ENC_B/ws" --auth "$USER_NAME:$PASSWORD" --count "$IDLE" --pid "$enc_b_pid" | tee -a "$work/results"
fi
wait_quiet nginx-apr1
"${LOAD[@]}" idle --label nginx-apr1 --url "wss://127.0.0.1:$NG/ws" --auth "$USER_NAME:$PASSWORD" --count "$IDLE" --pid "$ng_pid" | tee -a "$work/results"

# summary: medians over the rounds; added = peer percentile - direct percentile (same round order)
awk '
  function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                   return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  v["test"] == "rtt" { l = v["label"]; n[l]++; P5[l, n[l]] = v["p50_ms"]; P9[l, n[l]] = v["p99_ms"] }
  v["test"] == "idle" { rss[v["label"]] = v["rss_mb"]; alive[v["label"]] = v["alive"] }
  END {
    split("direct enclave enclave-b nginx-apr1", L, " ")
    for (k = 1; k <= 4; k++) { l = L[k]; if (!n[l]) continue
      for (i = 1; i <= n[l]; i++) { a[i] = P5[l, i] } p5[l] = med(a, n[l]); delete a
      for (i = 1; i <= n[l]; i++) { a[i] = P9[l, i] } p9[l] = med(a, n[l]); delete a
      printf "median label=%s runs=%d rtt_p50_ms=%.3f rtt_p99_ms=%.3f added_p50_ms=%.3f added_p99_ms=%.3f\n", l, n[l], p5[l], p9[l], p5[l] - p5["direct"], p9[l] - p9["direct"] }
    if (n["enclave"] && n["nginx-apr1"])
      printf "ratio added_p50 enclave/nginx-apr1=%.2f (enclave adds %.3f ms p50, target < 0.3) rtt_p99 enclave/nginx-apr1=%.2f\n",
        (p5["enclave"] - p5["direct"]) / (p5["nginx-apr1"] - p5["direct"]), p5["enclave"] - p5["direct"], p9["enclave"] / p9["nginx-apr1"]
    if (n["enclave-b"])
      printf "ratio added_p50 enclave-b/enclave=%.2f rtt_p99 enclave-b/enclave=%.2f idle_rss enclave-b=%.1f MB\n",
        (p5["enclave-b"] - p5["direct"]) / (p5["enclave"] - p5["direct"]), p9["enclave-b"] / p9["enclave"], rss["enclave-b"]
    if (rss["enclave"] && rss["nginx-apr1"])
      printf "ratio idle_rss enclave/nginx-apr1=%.2f (enclave %.1f MB with %d of '"$IDLE"' sockets alive, target < 300 MB; nginx %.1f MB)\n",
        rss["enclave"] / rss["nginx-apr1"], rss["enclave"], alive["enclave"], rss["nginx-apr1"]
  }' "$work/results"
