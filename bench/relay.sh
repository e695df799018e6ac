#!/usr/bin/env bash
# LLM relay benchmark: `enclave relay` vs nginx configured as a key-injecting reverse proxy
# (`proxy_set_header Authorization "Bearer …"`, TLS upstream with verification, keepalive pool,
# `proxy_buffering off` so server-sent events stream), side by side in one run on 127.0.0.1,
# against the same fake OpenAI-shaped API (bench/RelayLoad.java `fake-llm`, TLS, one event loop).
# The fake answers 401 unless the real key arrives, so every 200 below proves the key was injected.
#   - non-streamed requests/s: wrk, POST /v1/chat/completions, CONNS keep-alive connections;
#   - added latency: p50 over direct (wrk on one keep-alive connection, calls one after another);
#   - added time to first streamed byte: an SSE answer of CHUNKS deltas PAUSE_MS apart, p50 over direct.
# Targets (issue #5): requests/s >= 1.0x nginx; added p50 < 1 ms; added time to first byte < 1 ms.
#
# Usage: bench/relay.sh    env: CONNS=32 DURATION=10 ROUNDS=3 WARMUP=20 STREAM_COUNT=200 CHUNKS=20 PAUSE_MS=5 KEEP=
#        CPU=1 bench/relay.sh: CPU time per call only (enclave vs nginx), less sensitive to a machine shared
#        with other jobs: user+system ticks from /proc/PID/stat of the relay JVM and of nginx's
#        master and workers, before and after the same wrk run, divided by the calls wrk made.
#        Prints one "ratio cpu_us_per_call enclave/nginx=..." line (lower is better; <= 1.0 is nginx's cost).
#        Both modes warm the relay until its JIT compilers are done (WARMUP..WARMUP_MAX=180 s of load).
#        ENCLAVE_JAVA_OPTS="-XX:+UseSerialGC -Xms32m -Xmx256m -Denclave.relay.tls=jdk" CPU=1 bench/relay.sh:
#        the same with the JDK's TLS engine for the upstream instead of BoringSSL.
#        CPU=1 ENCLAVE_B_OPTS="... -Denclave.relay.tls=jdk" (and/or ENCLAVE_B_JAR=old.jar): a second relay,
#        "enclave-b", measured in the same rounds, for before/after comparisons in one run.
# Needs: java 17, nginx, wrk, openssl, curl. Run as root. Stops all it started.
set -euo pipefail
NAME=relay
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-gateway.sh"
CONNS="${CONNS:-32}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-20}"
STREAM_COUNT="${STREAM_COUNT:-200}" # each streamed answer takes CHUNKS x PAUSE_MS (about 0.1 s)
CHUNKS="${CHUNKS:-20}"
PAUSE_MS="${PAUSE_MS:-5}"
command -v wrk >/dev/null 2>&1 || { echo "$NAME: missing wrk (apt-get install -y wrk)" >&2; exit 2; }
RLOAD=(java -XX:+UseSerialGC -cp "$JAR" "$here/RelayLoad.java")

ensure_jar
FAKE=$(free_port); REL=$(free_port); NGX=$(free_port)
KEY="sk-bench-$(openssl rand -hex 16)"

# a CA and a server certificate for api.fake.test (and 127.0.0.1, for the direct peer)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=api.fake.test \
  -keyout "$work/fake.key" -out "$work/fake.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:api.fake.test,IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/fake.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/san.ext" -out "$work/fake.pem" >/dev/null 2>&1
openssl pkcs8 -topk8 -nocrypt -in "$work/fake.key" -out "$work/fake.pk8"

start fake "${RLOAD[@]}" fake-llm --port "$FAKE" --cert "$work/fake.pem" --key "$work/fake.pk8" \
  --chunks "$CHUNKS" --pause-ms "$PAUSE_MS" --key-expected "$KEY"
fake_pid=$LAST

# nginx as the key-injecting proxy a careful operator would write by hand
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  upstream llm {
    server 127.0.0.1:$FAKE;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$NGX;
    location /v1/chat/completions {
      proxy_pass https://llm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host api.fake.test;
      proxy_set_header Authorization "Bearer $KEY";
      proxy_ssl_server_name on;
      proxy_ssl_name api.fake.test;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $work/ca.pem;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
    location / { return 403; }
  }
}
CONF
start nginx "$NGINX" -c "$work/nginx/nginx.conf" -g 'daemon off;'
ngx_pid=$LAST

start enclave env BENCH_LLM_KEY="$KEY" "$repo/enclave" relay --listen "127.0.0.1:$REL" \
  --upstream "https://api.fake.test:$FAKE" --key-env BENCH_LLM_KEY --ca "$work/ca.pem" \
  --resolve "api.fake.test=127.0.0.1" --allow-cidr 127.0.0.1/32 --audit "$work/relay-audit.log"
rel_pid=$LAST
relb_pid=""
if [ -n "${ENCLAVE_B_OPTS:-}${ENCLAVE_B_JAR:-}" ]; then # CPU=1 only: a second relay ("enclave-b") to compare builds or options in one run
  RELB=$(free_port)
  # shellcheck disable=SC2086 # a word list on purpose
  start enclave-b env BENCH_LLM_KEY="$KEY" java ${ENCLAVE_B_OPTS:--XX:+UseSerialGC -Xms32m -Xmx256m -XX:+ExitOnOutOfMemoryError} \
    -jar "${ENCLAVE_B_JAR:-$JAR}" relay --listen "127.0.0.1:$RELB" \
    --upstream "https://api.fake.test:$FAKE" --key-env BENCH_LLM_KEY --ca "$work/ca.pem" \
    --resolve "api.fake.test=127.0.0.1" --allow-cidr 127.0.0.1/32 --audit "$work/relay-b-audit.log"
  relb_pid=$LAST
fi

wait_http "https://127.0.0.1:$FAKE/v1/models" --cacert "$work/ca.pem"
for p in "$REL" "$NGX" ${RELB:-}; do
  wait_http "http://127.0.0.1:$p/v1/models"
  code=$(curl -s -o "$work/check.out" -w '%{http_code}' --max-time 5 -H 'Authorization: Bearer placeholder' \
    -H 'Content-Type: application/json' -d '{"model":"gpt-bench","messages":[]}' "http://127.0.0.1:$p/v1/chat/completions")
  [ "$code" = 200 ] || { echo "$NAME: port $p answered $code: $(cat "$work/check.out")" >&2; exit 1; }
done

# jit_ticks PID: "tid ticks" of the JVM's JIT compiler threads (they come and go; compare by tid)
jit_ticks() { local t; for t in /proc/"$1"/task/*; do grep -qE '^C[12] CompilerThre' "$t/comm" 2>/dev/null && echo "${t##*/} $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"; done; true; }
# warm_relay URL PID LABEL: load the relay (wrk, 5 s at a time) until the JIT is done: its compiler threads
# used under 5 % of the process's CPU in the last 5 s, after at least WARMUP s, at most WARMUP_MAX s.
# On 2 busy cores C2 takes a minute or more to compile Netty's and the relay's hot paths; until then
# the relay pays for compiling, which a long-running relay does once.
warm_relay() {
  local url="$1" pid="$2" label="$3" waited=0 j0 j1 p0 p1 jit
  while :; do
    j0=$(jit_ticks "$pid"); p0=$(tree_ticks "$pid")
    timeout 40 wrk -t2 -c"$CONNS" -d5s -s "$work/post.lua" "$url" >/dev/null 2>&1 || true
    j1=$(jit_ticks "$pid"); p1=$(tree_ticks "$pid"); waited=$(( waited + 5 ))
    jit=$(awk 'NR == FNR { b[$1] = $2; next } ($1 in b) { d += $2 - b[$1] } END { print d + 0 }' <(echo "$j0") <(echo "$j1"))
    echo "label=$label test=warmup seconds=$waited jit_pct_of_relay_cpu=$(( jit * 100 / (p1 - p0 > 0 ? p1 - p0 : 1) ))" >&2
    [ "$waited" -ge "$WARMUP" ] && [ $(( jit * 20 )) -le $(( p1 - p0 )) ] && break
    [ "$waited" -ge "${WARMUP_MAX:-180}" ] && { echo "$NAME: the relay's JIT was still compiling after ${WARMUP_MAX:-180}s of load" >&2; break; }
  done
}

if [ -n "${CPU:-}" ]; then
  machine_header
  echo "# CPU per call: wrk -t2 -c$CONNS -d${DURATION}s x$ROUNDS rounds (non-streamed POST) after a warm-up (nginx ${WARMUP}s; the relay until its JIT is done); ticks of the peer's process tree (HZ=$HZ)"
  cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-bench","messages":[{"role":"user","content":"say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer placeholder"
LUA
  tree_user_sys() { # tree_user_sys PID: "user system" clock ticks over PID and its descendants
    local all=("$1") q=("$1") c
    while [ "${#q[@]}" -gt 0 ]; do
      for c in $(pgrep -P "${q[0]}" || true); do all+=("$c"); q+=("$c"); done
      q=("${q[@]:1}")
    done
    for c in "${all[@]}"; do [ -r "/proc/$c/stat" ] && awk '{print $14, $15}' "/proc/$c/stat" 2>/dev/null; done | awk '{u+=$1; s+=$2} END {print u+0, s+0}'
  }
  port_of() { case $1 in enclave) echo "$REL" ;; enclave-b) echo "$RELB" ;; nginx) echo "$NGX" ;; esac; }
  cpu_pid_of() { case $1 in enclave) echo "$rel_pid" ;; enclave-b) echo "$relb_pid" ;; nginx) echo "$ngx_pid" ;; esac; }
  warm_relay "http://127.0.0.1:$REL/v1/chat/completions" "$rel_pid" enclave
  if [ -n "$relb_pid" ]; then warm_relay "http://127.0.0.1:$RELB/v1/chat/completions" "$relb_pid" enclave-b; fi
  timeout $(( WARMUP + 30 )) wrk -t2 -c"$CONNS" -d"${WARMUP}s" -s "$work/post.lua" "http://127.0.0.1:$NGX/v1/chat/completions" >/dev/null 2>&1 || true
  fresh0=$(grep -c '"reused":false' "$work/relay-audit.log" || true)
  for r in $(seq 1 "$ROUNDS"); do
    order=(enclave ${relb_pid:+enclave-b} nginx); [ $(( r % 2 )) -eq 0 ] && order=(nginx ${relb_pid:+enclave-b} enclave)
    for p in "${order[@]}"; do
      read -r u0 s0 < <(tree_user_sys "$(cpu_pid_of "$p")"); m0=($(machine_ticks))
      timeout $(( DURATION + 30 )) wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$work/post.lua" "http://127.0.0.1:$(port_of "$p")/v1/chat/completions" > "$work/wrk.out" 2>&1 || true
      read -r u1 s1 < <(tree_user_sys "$(cpu_pid_of "$p")"); m1=($(machine_ticks))
      n=$(awk '/requests in/{print $1}' "$work/wrk.out")
      [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "$NAME: wrk made no calls to $p: $(cat "$work/wrk.out")" >&2; exit 1; }
      up=$(ss -Htn state established "dport = :$FAKE" | wc -l)
      echo "label=$p test=cpu round=$r calls=$n rps=$(awk '/^Requests\/sec:/{print $2}' "$work/wrk.out") non2xx=$(awk '/Non-2xx/{print $NF}' "$work/wrk.out" | grep . || echo 0) cpu_us_per_call=$(( (u1 + s1 - u0 - s0) * 1000000 / HZ / n )) user_us=$(( (u1 - u0) * 1000000 / HZ / n )) sys_us=$(( (s1 - s0) * 1000000 / HZ / n )) machine_busy_pct=$(( (m1[0] - m0[0]) * 100 / (m1[1] - m0[1] > 0 ? m1[1] - m0[1] : 1) )) upstream_conns_open_all_peers=$up" | tee -a "$work/results"
    done
  done
  echo "label=enclave upstream_connections_opened_after_warmup=$(( $(grep -c '"reused":false' "$work/relay-audit.log" || true) - fresh0 )) audit_lines=$(wc -l < "$work/relay-audit.log") key_in_audit=$(grep -c -- "$KEY" "$work/relay-audit.log" || true) key_in_output=$(grep -c -- "$KEY" "$work/enclave.out" || true)"
  awk '
    { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    v["test"] == "cpu" { n[v["label"]]++; c[v["label"], n[v["label"]]] = v["cpu_us_per_call"] }
    function med(l,   i, j, t, x, k) { k = n[l]; for (i = 1; i <= k; i++) x[i] = c[l, i]
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
      return k % 2 ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2 }
    END { e = med("enclave"); g = med("nginx")
      printf "median label=enclave cpu_us_per_call=%d\nmedian label=nginx cpu_us_per_call=%d\n", e, g
      if (n["enclave-b"]) { b = med("enclave-b"); printf "median label=enclave-b cpu_us_per_call=%d\nratio cpu_us_per_call enclave-b/nginx=%.2f enclave/enclave-b=%.2f\n", b, b / g, e / b }
      printf "ratio cpu_us_per_call enclave/nginx=%.2f (lower is better; the relay costs %.2fx nginx per call)\n", e / g, e / g }' "$work/results"
  exit 0
fi

machine_header
echo "# wrk -t2 -c$CONNS -d${DURATION}s x$ROUNDS rounds (non-streamed POST); latency: wrk -t1 -c1 -d5s (calls one after another); SSE time to first byte: $STREAM_COUNT calls after 50, $CHUNKS chunks ${PAUSE_MS} ms apart"
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-bench","messages":[{"role":"user","content":"say hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer placeholder"
LUA
# the direct peer has no relay to inject the key: it sends the real one itself
sed "s/Bearer placeholder/Bearer $KEY/" "$work/post.lua" > "$work/post-direct.lua"
url_of() { case $1 in direct) echo "https://127.0.0.1:$FAKE/v1/chat/completions" ;; enclave) echo "http://127.0.0.1:$REL/v1/chat/completions" ;; nginx) echo "http://127.0.0.1:$NGX/v1/chat/completions" ;; esac; }
pid_of() { case $1 in direct) echo "$fake_pid" ;; enclave) echo "$rel_pid" ;; nginx) echo "$ngx_pid" ;; esac; }
throughput() { # throughput LABEL
  local out="$work/wrk.out" t0 t1
  t0=$(tree_ticks "$(pid_of "$1")")
  local lua="$work/post.lua"; [ "$1" = direct ] && lua="$work/post-direct.lua"
  timeout $(( DURATION + 30 )) wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$lua" "$(url_of "$1")" > "$out" 2>&1 || true
  t1=$(tree_ticks "$(pid_of "$1")")
  echo "label=$1 test=rps rps=$(awk '/^Requests\/sec:/{print $2}' "$out") non2xx=$(awk '/Non-2xx/{print $NF}' "$out" | grep . || echo 0) front_cpu_core_pct=$(( (t1 - t0) * 100 / HZ / DURATION ))"
}
one_by_one() { # one_by_one LABEL: non-streamed calls one after another on one connection (wrk -c1; a C client adds
  # less of its own time than the JDK's HttpClient, which hid the proxies' share)
  local out="$work/wrk1.out" lua="$work/post.lua"; [ "$1" = direct ] && lua="$work/post-direct.lua"
  timeout 40 wrk -t1 -c1 -d5s --latency -s "$lua" "$(url_of "$1")" > "$out" 2>&1 || true
  echo "label=$1 test=latency stream=false client=wrk-c1 rps=$(awk '/^Requests\/sec:/{print $2}' "$out") total_p50_ms=$(awk '$1=="50%"{print $2}' "$out" | to_ms) total_p99_ms=$(awk '$1=="99%"{print $2}' "$out" | to_ms)"
}
latency() { # latency LABEL STREAM
  local extra=()
  [ "$1" = direct ] && extra=(--ca "$work/ca.pem" --key "$KEY")
  "${RLOAD[@]}" latency --label "$1" --url "$(url_of "$1")" --stream "$2" --count "$STREAM_COUNT" --warmup 50 "${extra[@]}"
}
# warm-up (JIT of the relay and of the client code paths), not recorded
# (the fake upstream is a JVM too: every peer's warm-up warms it as well)
warm_relay "$(url_of enclave)" "$rel_pid" enclave
timeout $(( WARMUP + 30 )) wrk -t2 -c"$CONNS" -d"${WARMUP}s" -s "$work/post.lua" "$(url_of nginx)" >/dev/null 2>&1 || true
for r in $(seq 1 "$ROUNDS"); do
  order=(enclave nginx direct); [ $(( r % 2 )) -eq 0 ] && order=(nginx enclave direct)
  for p in "${order[@]}"; do
    wait_quiet "$p" >/dev/null
    throughput "$p" | tee -a "$work/results"
    one_by_one "$p" | tee -a "$work/results"
    latency "$p" true | tee -a "$work/results"
  done
done
echo "label=enclave audit_lines=$(wc -l < "$work/relay-audit.log") key_in_audit=$(grep -c -- "$KEY" "$work/relay-audit.log" || true) key_in_output=$(grep -c -- "$KEY" "$work/enclave.out" || true)"

awk '
  function med(k, n,   i, j, t, x) { for (i = 1; i <= n; i++) x[i] = V[k, i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
  function add(k, v) { N[k]++; V[k, N[k]] = v }
  { delete v; for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } l = v["label"] }
  v["test"] == "rps" { add(l SUBSEP "rps", v["rps"]) }
  v["test"] == "latency" && v["stream"] == "false" { add(l SUBSEP "p50", v["total_p50_ms"]) }
  v["test"] == "latency" && v["stream"] == "true" { add(l SUBSEP "ttfb", v["ttfb_p50_ms"]) }
  END {
    split("direct enclave nginx", L, " ")
    for (i = 1; i <= 3; i++) { l = L[i]
      rps[l] = med(l SUBSEP "rps", N[l SUBSEP "rps"]); p50[l] = med(l SUBSEP "p50", N[l SUBSEP "p50"]); ttfb[l] = med(l SUBSEP "ttfb", N[l SUBSEP "ttfb"])
      printf "median label=%s rps=%.0f p50_ms=%.3f stream_ttfb_p50_ms=%.3f\n", l, rps[l], p50[l], ttfb[l] }
    printf "ratio rps enclave/nginx=%.2f (target >= 1.0); added p50 over direct: enclave %.3f ms, nginx %.3f ms (target < 1 ms); added stream TTFB over direct: enclave %.3f ms, nginx %.3f ms (target < 1 ms)\n",
      rps["enclave"] / rps["nginx"], p50["enclave"] - p50["direct"], p50["nginx"] - p50["direct"], ttfb["enclave"] - ttfb["direct"], ttfb["nginx"] - ttfb["direct"]
  }' "$work/results"
