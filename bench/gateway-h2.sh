#!/usr/bin/env bash
# Ingress gateway over HTTP/2: `enclave gateway` vs nginx (the seed guide's TLS + auth_basic +
# proxy_pass with an upstream keepalive pool, here with `listen ... ssl http2`), side by side in
# one run, on 127.0.0.1 only, against the same upstream (nginx `return 200 "ok"`, keepalive).
# nginx runs twice: with an apr1 (MD5) htpasswd and with a bcrypt cost-10 htpasswd.
# Both fronts serve the same ECDSA P-256 certificate and key (one file pair), so the TLS work
# is the same kind. Load: h2load over h2 (ALPN; the script fails if a front answers in
# anything else), CONNS connections with STREAMS concurrent streams each, a valid
# `authorization: Basic` header on every request, for DURATION seconds. Latency percentiles come
# from h2load's per-request log (time from request start to end of response).
#
# On a 2-core machine h2load, the front and the upstream share the cores: the numbers are for
# that shared machine, not for the front alone. Per-process CPU over each run is printed.
#
# Usage: bench/gateway-h2.sh    env: CONNS=16 STREAMS=10 DURATION=10 ROUNDS=3 BCRYPT_DURATION=20 WARMUP=10 KEEP=
# Needs: java 17, nginx (with http_v2), h2load (nghttp2-client), htpasswd (apache2-utils), openssl, curl.
# nginx-bcrypt: 16 x 10 = 160 requests in flight at ~20 bcrypt checks/s take ~8 s to drain, so it
# gets a longer run (BCRYPT_DURATION) and its latency is mostly queueing.
# Stops everything it started, also on failure.
set -euo pipefail
NAME=gateway-h2
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
CONNS="${CONNS:-16}"
STREAMS="${STREAMS:-10}"
DURATION="${DURATION:-10}"
BCRYPT_DURATION="${BCRYPT_DURATION:-20}"
WARMUP="${WARMUP:-10}"
ROUNDS="${ROUNDS:-3}"
command -v h2load >/dev/null || { echo "$NAME: missing h2load (apt-get install -y nghttp2-client)" >&2; exit 2; }

ensure_jar
UP=$(free_port); ENC=$(free_port); NG_APR=$(free_port); NG_BCR=$(free_port)

# One certificate for every front: ECDSA P-256, key in PKCS#8 (what --tls-key reads).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1
chmod 644 "$work/tls.crt"; chmod 600 "$work/tls.key"

# lib-gateway.sh's nginx_gateway with h2 and the shared certificate. keepalive_requests: since
# nginx 1.19.7 it also caps requests per h2 connection (default 1000, then GOAWAY); h2load does
# not reconnect, so it is raised here. Enclave has no such cap.
nginx_gateway_h2() { # nginx_gateway_h2 NAME PORT UPSTREAM_PORT apr1|bcrypt
  NGINX_LISTEN="ssl http2" NGINX_CERT="$work/tls.crt" NGINX_KEY="$work/tls.key" \
    NGINX_HTTP_EXTRA="keepalive_requests 10000000;" nginx_gateway "$@"
}

nginx_upstream "$UP"; up_pid=$LAST
nginx_gateway_h2 nginx-apr1 "$NG_APR" "$UP" apr1; apr_pid=$LAST
nginx_gateway_h2 nginx-bcrypt "$NG_BCR" "$UP" bcrypt; bcr_pid=$LAST
enclave_gateway enclave "$ENC" "$UP" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"; enc_pid=$LAST
wait_http "http://127.0.0.1:$UP/"
for p in "$ENC" "$NG_APR" "$NG_BCR"; do
  wait_http "https://127.0.0.1:$p/" -H "$AUTH"; check_gateway "$p"
  v="$(curl -sk --http2 --max-time 5 -o /dev/null -w '%{http_version}' -H "$AUTH" "https://127.0.0.1:$p/")"
  [ "$v" = 2 ] || { echo "$NAME: port $p answered curl --http2 with HTTP/$v, not h2" >&2; exit 1; }
done

run() { # run LABEL PORT PID SECONDS ROUND: one h2load run, one result line
  local label="$1" port="$2" pid="$3" secs="$4" round="$5" out="$work/h2load.$1.$5" log="$work/h2load.$1.$5.log"
  local p0 u0 p1 u1 t0 t1 m0 m1
  p0=$(tree_ticks "$pid"); u0=$(tree_ticks "$up_pid"); m0=$(machine_ticks); t0=$(date +%s.%N)
  ( timeout $(( secs + 60 )) h2load -c "$CONNS" -m "$STREAMS" -D "$secs" -H "authorization: ${AUTH#Authorization: }" \
      --log-file="$log" "https://127.0.0.1:$port/" > "$out" 2>&1 || true
    times > "$out.times"; tail -n1 "$out.times" | secs_of > "$out.cpu" )
  t1=$(date +%s.%N); p1=$(tree_ticks "$pid"); u1=$(tree_ticks "$up_pid"); m1=$(machine_ticks)
  if ! grep -q '^Application protocol: h2$' "$out" || [ ! -s "$log" ]; then
    echo "$NAME: h2load failed or did not speak h2 for $label:" >&2; cat "$out" >&2; return 0
  fi
  local rps ok non2xx failed pct el
  rps=$(awk '/^finished in/{for (i=1;i<=NF;i++) if ($i ~ /req\/s/) { v=$(i-1); sub(/,$/,"",v); print v }}' "$out" | head -1)
  ok=$(awk '/^requests:/{for (i=1;i<=NF;i++) if ($i ~ /^succeeded/) print $(i-1)}' "$out")
  failed=$(awk '/^requests:/{for (i=1;i<=NF;i++) if ($i ~ /^failed/) print $(i-1)}' "$out")
  non2xx=$(awk '/^status codes:/{gsub(",",""); print $5+$7+$9}' "$out")
  # p50/p90/p99 of the per-request times (µs, column 3) of all requests h2load logged
  pct=$(cut -f3 "$log" | sort -n | awk 'function at(q,   i) { i = int(NR * q); if (i < 1) i = 1; return a[i] / 1000 }
        { a[NR] = $1 } END { if (!NR) { print "nan nan nan"; exit } printf "%.2f %.2f %.2f", at(0.50), at(0.90), at(0.99) }')
  set -- $pct
  el=$(echo "$t1 - $t0" | bc -l)
  printf 'round=%s label=%s rps=%s p50_ms=%s p90_ms=%s p99_ms=%s succeeded=%s failed=%s non2xx=%s proxy_cpu_core_pct=%.0f upstream_cpu_core_pct=%.0f h2load_cpu_core_pct=%.0f machine_busy_pct=%s loadavg=%s\n' \
    "$round" "$label" "${rps:-0}" "$1" "$2" "$3" "${ok:-0}" "${failed:-0}" "${non2xx:-0}" \
    "$(echo "($p1 - $p0) * 100 / $HZ / $el" | bc -l)" "$(echo "($u1 - $u0) * 100 / $HZ / $el" | bc -l)" \
    "$(echo "$(cat "$out.cpu") * 100 / $el" | bc -l)" \
    "$(echo "$m1 $m0" | awk '{printf "%.0f steal_pct=%.0f", ($1-$4)*100/($2-$5), ($3-$6)*100/($2-$5)}')" \
    "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/results"
}
warm() { timeout $(( WARMUP + 30 )) h2load -c "$CONNS" -m "$STREAMS" -D "$WARMUP" -H "authorization: ${AUTH#Authorization: }" \
  "https://127.0.0.1:$1/" >/dev/null 2>&1 || true; }

machine_header
echo "# h2load -c $CONNS -m $STREAMS -D $DURATION x$ROUNDS rounds (bcrypt ${BCRYPT_DURATION}s x1), h2 over TLS (ECDSA P-256, same cert), valid Basic auth"
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
run nginx-bcrypt "$NG_BCR" "$bcr_pid" "$BCRYPT_DURATION" 1
echo "label=enclave h2_audit_lines=$(grep -c '"proto":"h2"' "$work/enclave/audit.log" || true) of $(wc -l < "$work/enclave/audit.log")"
# summary: median over rounds per label, ratios of the medians
awk '
  function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
                                   return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } l = v["label"]; if (l == "" || v["rps"] == "") next; n[l]++
    R[l, n[l]] = v["rps"]; P5[l, n[l]] = v["p50_ms"]; P9[l, n[l]] = v["p99_ms"] }
  END {
    split("enclave nginx-apr1 nginx-bcrypt", L, " ")
    for (k = 1; k <= 3; k++) { l = L[k]; if (!n[l]) continue
      for (i = 1; i <= n[l]; i++) { a[i] = R[l, i] } r[l] = med(a, n[l]); delete a
      for (i = 1; i <= n[l]; i++) { a[i] = P5[l, i] } p5[l] = med(a, n[l]); delete a
      for (i = 1; i <= n[l]; i++) { a[i] = P9[l, i] } p9[l] = med(a, n[l]); delete a
      printf "median label=%s runs=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n", l, n[l], r[l], p5[l], p9[l] }
    if (r["nginx-apr1"] > 0 && r["nginx-bcrypt"] > 0 && p9["nginx-apr1"] > 0)
      printf "ratio rps enclave/nginx-apr1=%.2f rps enclave/nginx-bcrypt=%.0f p50 enclave/nginx-apr1=%.2f p99 enclave/nginx-apr1=%.2f p99 enclave/nginx-bcrypt=%.3f\n",
        r["enclave"] / r["nginx-apr1"], r["enclave"] / r["nginx-bcrypt"], p5["enclave"] / p5["nginx-apr1"], p9["enclave"] / p9["nginx-apr1"], p9["enclave"] / p9["nginx-bcrypt"]
  }' "$work/results"
