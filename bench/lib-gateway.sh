# Shared setup for the gateway benchmarks (bench/gateway.sh, gateway-rate.sh, gateway-ws.sh, gateway-flood.sh, gateway-h2.sh; sourced, not run): a temp work
# dir, processes in their own groups stopped on exit, free ports below 32768, nginx configured as
# the seed guide does (TLS + auth_basic + proxy_pass to a keepalive pool, WebSocket upgrade headers),
# the enclave gateway through its launcher. Everything listens on 127.0.0.1 (or 127.0.0.0/8).
# The caller sets NAME (for messages) before sourcing.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
for t in "$NGINX" htpasswd openssl java curl; do
  command -v "$t" >/dev/null 2>&1 || { echo "$NAME: missing $t (apt-get install -y nginx apache2-utils openssl curl)" >&2; exit 2; }
done
USER_NAME=alice
PASSWORD="correct-horse-battery-staple"
AUTH="Authorization: Basic $(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 -w0)"
JAR="$repo/enclave-cli/target/enclave.jar"
LOAD=(java -XX:+UseSerialGC -cp "$JAR" "$here/GatewayLoad.java")

work="$(mktemp -d "/tmp/enclave-$NAME.XXXXXX")"
chmod 755 "$work"
pids=()
cleanup() {
  local p i
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for i in $(seq 1 30); do # up to 3 s for a clean exit
    for p in "${pids[@]}"; do kill -0 -- "-$p" 2>/dev/null && break; p=""; done
    [ -z "$p" ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if kill -0 -- "-$p" 2>/dev/null; then
      echo "$NAME: process group $p ignored TERM for 3 s; KILL" >&2
      kill -KILL -- "-$p" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "$NAME: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
start() { # start NAME CMD...: own process group (setsid execs, so $LAST is the command's pid), output to $work/NAME.out
  local name="$1"; shift
  setsid "$@" >"$work/$name.out" 2>&1 < /dev/null & LAST=$!
  pids+=("$LAST")
}

used_ports=" "
free_port() { # a TCP port below 32768 nobody listens on (bounded tries)
  local i p
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! ss -Htln "sport = :$p" | grep -q .; then used_ports+="$p "; echo "$p"; return 0; fi
  done
  echo "$NAME: no free port" >&2; return 1
}

wait_http() { # wait_http URL [curl args]: bounded wait until URL answers
  local url="$1" i; shift
  for i in $(seq 1 150); do
    curl -sk -o /dev/null --max-time 1 "$@" "$url" && return 0
    sleep 0.2
  done
  echo "$NAME: $url did not come up" >&2; return 1
}

check_gateway() { # check_gateway PORT: 200 "ok" with the credentials, 401 without
  local body code
  body="$(curl -sk --max-time 5 -H "$AUTH" "https://127.0.0.1:$1/")"
  code="$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/")"
  [ "$body" = ok ] && [ "$code" = 401 ] || { echo "$NAME: port $1: body='$body' no-auth code=$code" >&2; exit 1; }
}

ensure_jar() { # the launcher rebuilds a jar older than any source (bench/*.java too): once, here, not in each peer's start
  "$repo/enclave" --version >/dev/null || { echo "$NAME: building enclave.jar failed" >&2; exit 1; }
}

nginx_upstream() { # nginx_upstream PORT: return 200 "ok", keepalive, 1 worker (as in bench/gateway.sh)
  local d="$work/up"; mkdir -p "$d"
  cat > "$d/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp;
  proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$1;
    location / { default_type text/plain; return 200 "ok"; }
  }
}
CONF
  start upstream "$NGINX" -c "$d/nginx.conf" -g 'daemon off;'
}

nginx_gateway() { # nginx_gateway NAME PORT UPSTREAM_PORT apr1|bcrypt: the seed guide's front, WebSocket-capable
  # The caller may set NGINX_LISTEN (default "ssl"; gateway-h2.sh: "ssl http2"), NGINX_CERT and
  # NGINX_KEY (default: an RSA-2048 self-signed pair made once) and NGINX_HTTP_EXTRA (http-level lines).
  local d="$work/$1" cert="${NGINX_CERT:-$work/nginx-tls.crt}" key="${NGINX_KEY:-$work/nginx-tls.key}"; mkdir -p "$d"
  [ -n "${NGINX_CERT:-}" ] || [ -f "$work/nginx-tls.crt" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/nginx-tls.key" -out "$work/nginx-tls.crt" >/dev/null 2>&1
  if [ "$4" = bcrypt ]; then htpasswd -nbB -C 10 "$USER_NAME" "$PASSWORD" > "$d/htpasswd"; else htpasswd -nbm "$USER_NAME" "$PASSWORD" > "$d/htpasswd"; fi
  chmod 644 "$d/htpasswd"
  cat > "$d/nginx.conf" <<CONF
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 8192; }
http {
  access_log $d/access.log;
  client_body_temp_path $d/tmp;
  proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  ${NGINX_HTTP_EXTRA:-}
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream app {
    server 127.0.0.1:$3;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$2 ${NGINX_LISTEN:-ssl};
    server_name localhost;
    ssl_certificate $cert;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.2 TLSv1.3;
    auth_basic "enclave";
    auth_basic_user_file $d/htpasswd;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_read_timeout 60s;
    }
  }
}
CONF
  start "$1" "$NGINX" -c "$d/nginx.conf" -g 'daemon off;'
}

enclave_gateway() { # enclave_gateway NAME PORT UPSTREAM_PORT [extra args...]: through the ./enclave launcher (its JVM
  # defaults, or GW_OPTS as ENCLAVE_JAVA_OPTS when set: see ENCLAVE_B_OPTS in the scripts)
  local name="$1" port="$2" up="$3" d="$work/$1"; shift 3
  mkdir -p "$d"
  printf '%s\n' "$PASSWORD" | "$repo/enclave" users add "$USER_NAME" --users "$d/users" --password-stdin \
    >"$work/$name-users.out" 2>&1 || { cat "$work/$name-users.out" >&2; exit 1; }
  start "$name" env ${GW_OPTS:+ENCLAVE_JAVA_OPTS="$GW_OPTS"} "$repo/enclave" gateway --listen "127.0.0.1:$port" --upstream "http://127.0.0.1:$up" \
    --users "$d/users" --state "$d" --name localhost --audit "$d/audit.log" "$@"
}

machine_header() {
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $NAME; $(nproc) cores ($(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//')), kernel $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# java: $(java -version 2>&1 | head -1); nginx: $("$NGINX" -v 2>&1 | sed 's/.*: //'); enclave JVM options: ${ENCLAVE_JAVA_OPTS:-launcher defaults}${ENCLAVE_B_OPTS:+; enclave-b JVM options: $ENCLAVE_B_OPTS}"
}

# to_ms: wrk's and h2load's "1.23ms" / "456.78us" / "1.02s" -> milliseconds
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }

# tree_ticks PID: user+system clock ticks over PID and all its descendants
tree_ticks() {
  local all=("$1") c t=0 q=("$1")
  while [ "${#q[@]}" -gt 0 ]; do
    for c in $(pgrep -P "${q[0]}" || true); do all+=("$c"); q+=("$c"); done
    q=("${q[@]:1}")
  done
  for c in "${all[@]}"; do
    [ -r "/proc/$c/stat" ] || continue
    t=$(( t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

# machine_ticks: "busy total steal" clock ticks over all cores, from /proc/stat
machine_ticks() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6, $9; exit}' /proc/stat; }
# secs_of: seconds from bash `times` output (m:ss.sss fields)
secs_of() { awk '{t=0; for (i=1;i<=NF;i++) { v=$i; sub(/s$/,"",v); split(v,a,"m"); t+=a[1]*60+a[2] } printf "%.3f", t}'; }

# wait_quiet: other jobs share this machine; wait (at most QUIET_WAIT s, default 60) until the
# machine is under 25 % busy over one second, then print what it was, so a noisy run is visible.
busy_pct() {
  local a b
  a=($(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)); sleep 1
  b=($(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat))
  echo $(( (b[0] - a[0]) * 100 / (b[1] - a[1] > 0 ? b[1] - a[1] : 1) ))
}
wait_quiet() { # wait_quiet LABEL
  local i busy
  for i in $(seq 1 "${QUIET_WAIT:-60}"); do busy=$(busy_pct); [ "$busy" -lt 25 ] && break; done
  echo "label=$1 test=machine busy_before_pct=$busy loadavg=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/results"
}
