#!/usr/bin/env bash
# Ingress gateway benchmark: `enclave gateway` vs nginx (TLS + auth_basic + proxy_pass with an
# upstream keepalive pool, as in the seed guide), side by side in one run, on 127.0.0.1 only,
# against the same upstream (a second nginx answering `return 200 "ok"` with keepalive).
# nginx runs twice: with an apr1 (MD5) htpasswd and with a bcrypt cost-10 htpasswd.
# Load: wrk over HTTPS with keep-alive connections (so TLS handshakes are not what is measured)
# and a valid Authorization header on every request.
#
# On a 2-core machine wrk, the proxy and the upstream share the cores: the numbers are for
# that shared machine, not for the proxy alone. Per-process CPU over each run is printed.
#
# Usage: bench/gateway.sh    env: THREADS=2 CONNS=64 DURATION=10 ROUNDS=3 BCRYPT_DURATION=10 WARMUP=15 KEEP=
# Needs: java 17, nginx, wrk, htpasswd (apache2-utils), openssl. Run as root.
# Stops everything it started, also on failure. Finishes in well under 5 minutes.
set -euo pipefail
NAME=gateway.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-64}"
DURATION="${DURATION:-10}"
BCRYPT_DURATION="${BCRYPT_DURATION:-10}"
WARMUP="${WARMUP:-15}"
ROUNDS="${ROUNDS:-3}"
command -v wrk >/dev/null 2>&1 || { echo "$NAME: missing wrk (apt-get install -y wrk)" >&2; exit 2; }

ensure_jar
UP=$(free_port); ENC=$(free_port); NG_APR=$(free_port); NG_BCR=$(free_port)
nginx_upstream "$UP"; up_pid=$LAST
# the seed guide's front: TLS + auth_basic + proxy_pass to a keepalive pool
nginx_gateway nginx-apr1 "$NG_APR" "$UP" apr1; apr_pid=$LAST
nginx_gateway nginx-bcrypt "$NG_BCR" "$UP" bcrypt; bcr_pid=$LAST
enclave_gateway enclave "$ENC" "$UP"; enc_pid=$LAST

wait_http "http://127.0.0.1:$UP/"
wait_http "https://127.0.0.1:$NG_APR/" -H "$AUTH"
wait_http "https://127.0.0.1:$NG_BCR/" -H "$AUTH"
wait_http "https://127.0.0.1:$ENC/" -H "$AUTH"
for p in "$ENC" "$NG_APR" "$NG_BCR"; do check_gateway "$p"; done
grep -m1 'SHA-256' "$work/enclave.out" >&2 || true

run() { # run LABEL PORT PID SECONDS ROUND: one wrk run, one result line
  local label="$1" port="$2" pid="$3" secs="$4" round="$5" out="$work/wrk.$1.$5"
  local p0 u0 p1 u1 t0 t1 m0 m1
  p0=$(tree_ticks "$pid"); u0=$(tree_ticks "$up_pid"); m0=$(machine_ticks); t0=$(date +%s.%N)
  ( timeout $(( secs + 30 )) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 10s --latency -H "$AUTH" \
      "https://127.0.0.1:$port/" > "$out" 2>&1 || true
    times > "$out.times"; tail -n1 "$out.times" | secs_of > "$out.cpu" )
  t1=$(date +%s.%N); p1=$(tree_ticks "$pid"); u1=$(tree_ticks "$up_pid"); m1=$(machine_ticks)
  if ! grep -q 'Requests/sec' "$out"; then echo "$NAME: wrk failed for $label:" >&2; cat "$out" >&2; return 0; fi
  local rps p50 p99 non2xx errs el
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  p50=$(awk '$1=="50%"{print $2}' "$out" | to_ms)
  p99=$(awk '$1=="99%"{print $2}' "$out" | to_ms)
  non2xx=$(awk '/Non-2xx/{print $NF}' "$out"); non2xx="${non2xx:-0}"
  errs=$(awk '/Socket errors/{print $0}' "$out" | tr -s ' ' | sed 's/^ *Socket errors: //; s/, /,/g; s/ /=/g'); errs="${errs:-none}"
  el=$(echo "$t1 - $t0" | bc -l)
  printf 'round=%s label=%s rps=%s p50_ms=%s p99_ms=%s non2xx=%s socket_errors=%s proxy_cpu_core_pct=%.0f upstream_cpu_core_pct=%.0f wrk_cpu_core_pct=%.0f machine_busy_pct=%s\n' \
    "$round" "$label" "${rps:-0}" "${p50:-nan}" "${p99:-nan}" "$non2xx" "$errs" \
    "$(echo "($p1 - $p0) * 100 / $HZ / $el" | bc -l)" "$(echo "($u1 - $u0) * 100 / $HZ / $el" | bc -l)" \
    "$(echo "$(cat "$out.cpu") * 100 / $el" | bc -l)" \
    "$(echo "$m1 $m0" | awk '{printf "%.0f steal_pct=%.0f", ($1-$4)*100/($2-$5), ($3-$6)*100/($2-$5)}')" | tee -a "$work/results"
}
warm() { timeout $(( WARMUP + 20 )) wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -H "$AUTH" "https://127.0.0.1:$1/" >/dev/null 2>&1 || true; }

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) cores=$(nproc) wrk -t$THREADS -c$CONNS -d${DURATION}s x$ROUNDS rounds (bcrypt ${BCRYPT_DURATION}s x1), keep-alive, HTTPS, valid Basic auth"
echo "# cpu: *_cpu_core_pct = % of one core; machine_busy_pct = % of all $(nproc) cores"
# warm-up (JIT for the JVM; nginx gets the same for fairness; not bcrypt: too slow to matter)
warm "$ENC"; warm "$NG_APR"
for r in $(seq 1 "$ROUNDS"); do # alternate the order, so neither side always runs first
  if [ $(( r % 2 )) -eq 1 ]; then
    run enclave "$ENC" "$enc_pid" "$DURATION" "$r"; run nginx-apr1 "$NG_APR" "$apr_pid" "$DURATION" "$r"
  else
    run nginx-apr1 "$NG_APR" "$apr_pid" "$DURATION" "$r"; run enclave "$ENC" "$enc_pid" "$DURATION" "$r"
  fi
done
rss=$(awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$enc_pid/status" 2>/dev/null || echo nan) # the launcher execs java
run nginx-bcrypt "$NG_BCR" "$bcr_pid" "$BCRYPT_DURATION" 1
echo "label=enclave rss_after_load_mb=${rss:-nan} audit_lines=$(wc -l < "$work/enclave/audit.log")"
# summary: median over rounds per label, ratios of the medians
awk '
  function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                   return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } l = v["label"]; n[l]++
    R[l, n[l]] = v["rps"]; P5[l, n[l]] = v["p50_ms"]; P9[l, n[l]] = v["p99_ms"] }
  END {
    split("enclave nginx-apr1 nginx-bcrypt", L, " ")
    for (k = 1; k <= 3; k++) { l = L[k]; if (!n[l]) continue
      for (i = 1; i <= n[l]; i++) { a[i] = R[l, i] } r[l] = med(a, n[l]); delete a
      for (i = 1; i <= n[l]; i++) { a[i] = P5[l, i] } p5[l] = med(a, n[l]); delete a
      for (i = 1; i <= n[l]; i++) { a[i] = P9[l, i] } p9[l] = med(a, n[l]); delete a
      printf "median label=%s runs=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n", l, n[l], r[l], p5[l], p9[l] }
    if (r["nginx-apr1"] > 0 && r["nginx-bcrypt"] > 0 && p9["nginx-apr1"] > 0)
      printf "ratio rps enclave/nginx-apr1=%.2f (target >= 1.0) rps enclave/nginx-bcrypt=%.0f (target >= 300) p99 enclave/nginx-apr1=%.2f (target <= 1.2)\n",
        r["enclave"] / r["nginx-apr1"], r["enclave"] / r["nginx-bcrypt"], p9["enclave"] / p9["nginx-apr1"]
  }' "$work/results"
