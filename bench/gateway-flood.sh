#!/usr/bin/env bash
# A logged-in user's latency, quiet and while another source sends wrong passwords, side by side
# in one run on 127.0.0.0/8, against the same upstream (nginx `return 200 "ok"`):
#   - the user (source 127.0.0.2, bench/GatewayLoad.java `user`): RATE requests/s over one
#     keep-alive HTTPS connection with valid Basic credentials, each timed from when it was due;
#     SECONDS_EACH quiet, then SECONDS_EACH while the flood runs;
#   - the flood (one other source, 127.0.0.1; h2load, C, so the generator stays cheap):
#     FLOOD_RATE wrong-password attempts/s for user alice, each on a new TLS connection
#     (handshake, one request, close): `h2load --h1 -r FLOOD_RATE -c N -n N`.
# Peers:
#   enclave-nolockout  `enclave gateway -c` a config with lockout max_failures 1000 per 1 s window,
#                      so the flooding source is never banned and every attempt costs an argon2id
#                      hash (the worst case for the user; 100/s is more than 2 cores can hash)
#   enclave            default lockout (5 failures in 10 min ban the source for 1 h): after the 5th
#                      attempt the source is refused before TLS (and stays banned in later rounds)
#   nginx-apr1         the seed guide's nginx (auth_basic apr1; no lockout of its own)
# Target (issue #4): the user's p99 under the flood within 2x of its quiet p99.
#
# Usage: bench/gateway-flood.sh    env: ROUNDS=2 RATE=50 SECONDS_EACH=15 FLOOD_RATE=100 KEEP=
#   ENCLAVE_B_OPTS="JVM options": adds a peer enclave-b-nolockout, the no-lockout gateway with these
#   JVM options instead of the launcher's (an A/B of a JVM or TLS setting within one run).
# Needs: java 17, nginx, h2load (nghttp2-client), htpasswd (apache2-utils), openssl, curl. Run as root. Stops all it started.
set -euo pipefail
NAME=gateway-flood
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
ROUNDS="${ROUNDS:-2}"
RATE="${RATE:-50}"
SECONDS_EACH="${SECONDS_EACH:-15}"
FLOOD_RATE="${FLOOD_RATE:-100}"

command -v h2load >/dev/null || { echo "$NAME: missing h2load (apt-get install -y nghttp2-client)" >&2; exit 2; }
ensure_jar
UP=$(free_port); ENC_NL=$(free_port); ENC=$(free_port); NG=$(free_port)
nginx_upstream "$UP"
printf 'gateway:\n  lockout:\n    max_failures: 1000\n    window: 1s\n' > "$work/nolockout.yaml"
enclave_gateway enclave-nolockout "$ENC_NL" "$UP" -c "$work/nolockout.yaml"; enc_nl_pid=$LAST
enclave_gateway enclave "$ENC" "$UP"; enc_pid=$LAST
nginx_gateway nginx-apr1 "$NG" "$UP" apr1; ng_pid=$LAST
peers=(enclave-nolockout enclave nginx-apr1)
if [ -n "${ENCLAVE_B_OPTS:-}" ]; then
  ENC_B=$(free_port); GW_OPTS="$ENCLAVE_B_OPTS" enclave_gateway enclave-b-nolockout "$ENC_B" "$UP" -c "$work/nolockout.yaml"; enc_b_pid=$LAST
  peers=(enclave-nolockout enclave-b-nolockout enclave nginx-apr1)
  wait_http "https://127.0.0.1:$ENC_B/" -H "$AUTH"; check_gateway "$ENC_B"
fi
wait_http "http://127.0.0.1:$UP/"
for p in "$ENC_NL" "$ENC" "$NG"; do wait_http "https://127.0.0.1:$p/" -H "$AUTH"; check_gateway "$p"; done

machine_header
echo "# user: $RATE req/s from 127.0.0.2, ${SECONDS_EACH}s quiet then ${SECONDS_EACH}s under the flood; flood: $FLOOD_RATE wrong-password attempts/s from 127.0.0.1 (h2load), new TLS connection each; $ROUNDS rounds"
WRONG="Authorization: Basic $(printf '%s:%s' "$USER_NAME" "not-the-password" | base64 -w0)"
FLOOD_N=$(( FLOOD_RATE * (SECONDS_EACH + 2) ))
user() { # user LABEL PORT PID
  local t0 t1
  wait_quiet "$1"
  printf '%s\n' h2load --h1 -r "$FLOOD_RATE" --rate-period=1s -c "$FLOOD_N" -n "$FLOOD_N" -H "$WRONG" \
    "https://127.0.0.1:$2/" > "$work/flood-args.$1"
  t0=$(tree_ticks "$3")
  "${LOAD[@]}" user --label "$1" --port "$2" --source 127.0.0.2 --auth "$USER_NAME:$PASSWORD" --rate "$RATE" \
    --seconds "$SECONDS_EACH" --flood-args "$work/flood-args.$1" | tee -a "$work/results"
  t1=$(tree_ticks "$3")
  echo "label=$1 test=cpu front_cpu_s=$(echo "($t1 - $t0) / $HZ" | bc -l | xargs printf '%.1f') (quiet + flood phases, warm-up included)"
}
for r in $(seq 1 "$ROUNDS"); do
  order=("${peers[@]}")
  for i in $(seq 1 $(( (r - 1) % ${#peers[@]} ))); do order=("${order[@]:1}" "${order[0]}"); done
  for peer in "${order[@]}"; do
    case $peer in
      enclave-nolockout) user enclave-nolockout "$ENC_NL" "$enc_nl_pid" ;;
      enclave-b-nolockout) user enclave-b-nolockout "$ENC_B" "$enc_b_pid" ;;
      enclave) user enclave "$ENC" "$enc_pid" ;;
      nginx-apr1) user nginx-apr1 "$NG" "$ng_pid" ;;
    esac
  done
done

awk '
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
  v["test"] == "user" && v["phase"] != "" { l = v["label"]; k = l SUBSEP v["phase"]; n[k]++; s[k] = s[k] " " v["p99_ms"] }
  v["test"] == "user" && v["ratio_p99_flood_over_quiet"] != "" { r[v["label"]] = r[v["label"]] " " v["ratio_p99_flood_over_quiet"] }
  END {
    split("enclave-nolockout enclave-b-nolockout enclave nginx-apr1", L, " ")
    for (i = 1; i <= 4; i++) { l = L[i]; if (!n[l SUBSEP "quiet"]) continue
      printf "summary label=%s quiet_p99_ms=[%s ] flood_p99_ms=[%s ] ratio_flood_over_quiet=[%s ] (target <= 2.0)\n", l, s[l SUBSEP "quiet"], s[l SUBSEP "flood"], r[l] }
  }' "$work/results"
