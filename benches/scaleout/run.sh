#!/usr/bin/env bash
# Scale-out: stateless buurtmeter replicas serving one immutable snapshot behind a load
# balancer. Two replicas on the same project + Debian's nginx (round robin, keep-alive
# upstreams) on loopback; a bounded wrk run through nginx and one directly against a replica,
# then a short run through nginx with one replica stopped (failover).
#
#   bash benches/scaleout/run.sh [DATA_DIR] [SECONDS] [CONNECTIONS]    (defaults: /tmp/nat, 10, 16)
#
# Shows: both replicas load the same data version (/health) and give byte-identical tiles
# with the same ETag (so browser/CDN caches work across replicas); requests/s, latency and
# errors direct vs through nginx; how many requests each replica served (from its /metrics
# and from nginx's $upstream_addr log); errors while a replica is down.
# Workload: a walk over 1,000 tiles at z12-z14 inside the data's bounds (some empty: 204),
# requested once on each replica before the timed runs (warm tile caches on both). On one
# 2-core machine both replicas share the same cores, so this shows the mechanism (and nginx's
# overhead), not more throughput: that needs replicas on separate machines.
#
# Needs: a release build (target/release/buurtmeter or $BUURTMETER), nginx (Debian package;
# not started as a service: runs in the foreground with its own config under /tmp), wrk,
# curl, python3, and the national data (DATA_DIR/national.toml, see benches/national/run.py).
# Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-/tmp/nat}"
secs="${2:-10}"
conns="${3:-16}"
bin="${BUURTMETER:-${CARGO_TARGET_DIR:-target}/release/buurtmeter}"
work=/tmp/bm-scaleout
p1=18331; p2=18332; plb=18330
rm -rf "$work"; mkdir -p "$work/tmp" "$work/logs"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_replica() {  # PORT -> pid in $rpid
  "$bin" serve --project "$data/national.toml" --bind "127.0.0.1:$1" --watch-seconds 0 >"$work/logs/replica-$1.log" 2>&1 &
  rpid=$!; pids+=("$rpid")
}
wait_ready() {  # PORT PID
  local t0; t0=$(date +%s)
  until grep -q "press Ctrl-C" "$work/logs/replica-$1.log"; do
    kill -0 "$2" 2>/dev/null || { tail "$work/logs/replica-$1.log" >&2; exit 1; }
    [ $(( $(date +%s) - t0 )) -lt 600 ] || { echo "replica $1 not ready after 600 s" >&2; exit 1; }
    sleep 0.5
  done
}
binfo="binary built $(date -d @"$(stat -c %Y "$bin")" '+%Y-%m-%d %H:%M:%S'), worktree $(git rev-parse --short HEAD)$([ -n "$(git status --porcelain --untracked-files=no)" ] && echo +changes)"
start_replica $p1; r1=$rpid
start_replica $p2; r2=$rpid
wait_ready $p1 $r1; wait_ready $p2 $r2

cat > "$work/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/logs/nginx-error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  log_format up '\$upstream_addr \$status';
  access_log $work/logs/nginx-access.log up buffer=256k flush=1s;
  upstream buurtmeter {
    server 127.0.0.1:$p1 max_fails=1 fail_timeout=5s;
    server 127.0.0.1:$p2 max_fails=1 fail_timeout=5s;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$plb;
    location / {
      proxy_pass http://buurtmeter;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Forwarded-Proto http;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_buffers 16 64k;
    }
  }
}
CONF
nginx -t -q -c "$work/nginx.conf" -p "$work" 2> >(grep -v "user\" directive" >&2)
nginx -c "$work/nginx.conf" -p "$work" &
pids+=("$!")
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$plb/health" >/dev/null && break; sleep 0.1; done

echo "== scale-out: 2 buurtmeter replicas behind nginx on loopback, $(date '+%Y-%m-%d %H:%M'), $(nproc) cores (shared, load average $(cut -d' ' -f1 /proc/loadavg))"
echo "  $("$bin" --version) ($binfo); $(nginx -v 2>&1 | sed 's/.*: //'); wrk -t2 -c$conns -d${secs}s, tile walk over 1,000 z12-z14 tiles, warm caches"
# Same snapshot on both replicas; byte-identical tiles and ETags; the tile list; warm-up.
python3 - "$p1" "$p2" "$plb" "$work" <<'PY'
import hashlib, http.client, json, math, random, sys
p1, p2, plb, work = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=60) for p in (p1, p2, plb)}
def get(port, path):
    c = conns[port]; c.request("GET", path); r = c.getresponse(); return r.status, r.getheader("ETag"), r.read()
v = [json.loads(get(p, "/health")[2])["data_version"] for p in (p1, p2)]
w, s, e, n = json.loads(get(plb, "/tiles/buurten")[2])["bounds"]
def tile(lon, lat, z):
    x = int((lon + 180) / 360 * 2 ** z)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2 ** z)
    return x, y
rng = random.Random(20261125)
paths = set()
while len(paths) < 1000:
    z = rng.choice((12, 13, 14))
    x, y = tile(rng.uniform(w, e), rng.uniform(s, n), z)
    paths.add(f"/tiles/buurten/{z}/{x}/{y}.mvt")
paths = sorted(paths)
open(f"{work}/paths.txt", "w").write("\n".join(paths) + "\n")
same, codes = 0, {}
for i, p in enumerate(paths):
    a, b = get(p1, p), get(p2, p)
    codes[a[0]] = codes.get(a[0], 0) + 1
    same += a[0] == b[0] and a[1] == b[1] and hashlib.sha256(a[2]).digest() == hashlib.sha256(b[2]).digest()
print(f"  data version: replica {p1} {v[0]}, replica {p2} {v[1]} ({'same' if v[0] == v[1] else 'DIFFERENT'})")
print(f"  {len(paths)} tiles z12-z14 (status {codes}); identical status, ETag and bytes on both replicas: {same}/{len(paths)}")
PY

cat > "$work/walk.lua" <<'LUA'
local paths, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
# Share (%) of all cores busy over one second (niced work counts: from another session it
# competes at full weight); wait_quiet waits (up to 120 s) until other work leaves the machine <= 25%
# busy before a timed run (it is shared).
busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local t=0 i
  for i in 1 2 3 4 5 6 7 8; do t=$(( t + b[i] - a[i] )); done
  echo $(( 100 - 100 * (b[4] + b[5] - a[4] - a[5]) / (t > 0 ? t : 1) ))
}
wait_quiet() {
  local t0 b; t0=$(date +%s); b=$(busy)
  while [ "$b" -gt 25 ] && [ $(( $(date +%s) - t0 )) -lt 120 ]; do b=$(busy); done
  max_busy=$(( b > ${max_busy:-0} ? b : ${max_busy:-0} ))
}
served() {  # PORT: requests the replica has answered (its own /metrics), not counting these /metrics calls
  curl -sf "http://127.0.0.1:$1/metrics" | awk '/^buurtmeter_http_requests_total/ && !/route="\/metrics"/ {s += $NF} END {print s + 0}'
}
slug() { echo "$1" | tr -c 'A-Za-z0-9\n' '_'; }
run() {  # LABEL PORT SECONDS
  wait_quiet
  local f; f="$work/wrk-$(slug "$1").txt"
  wrk -t2 -c"$conns" -d"$3s" --timeout 30s --latency -s "$work/walk.lua" "http://127.0.0.1:$2" -- "$work/paths.txt" > "$f"
  local rps p50 p99 non2xx sock
  rps=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f"); p99=$(awk '$1 == "99%" {print $2}' "$f")
  non2xx=$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses: //p' "$f"); non2xx=${non2xx:-0}
  sock=$(sed -n 's/^[[:space:]]*Socket errors: //p' "$f"); sock=${sock:-none}
  printf '  %-34s %9s req/s  p50 %-8s p99 %-8s non-2xx %s, socket errors %s\n' "$1" "$rps" "$p50" "$p99" "$non2xx" "$sock"
}

a1=$(served $p1); a2=$(served $p2)
run "direct, replica $p1" $p1 "$secs"
b1=$(served $p1); b2=$(served $p2)
: > "$work/logs/nginx-access.log"
run "through nginx (2 replicas)" $plb "$secs"
sleep 1.5   # nginx flushes its buffered access log every second
c1=$(served $p1); c2=$(served $p2)
echo "  through nginx, served by replica $p1: $((c1 - b1)), replica $p2: $((c2 - b2)) (their /metrics);" \
     "nginx log: $(awk '{n[$1]++} END {for (u in n) printf "%s %d  ", u, n[u]}' "$work/logs/nginx-access.log")"
echo "  direct run, served by replica $p1: $((b1 - a1)), replica $p2: $((b2 - a2))"
rps_of() { sed -n 's/^Requests\/sec:[[:space:]]*//p' "$work/wrk-$(slug "$1").txt"; }
echo "  through nginx / direct: $(printf '%.2f' "$(echo "scale=4; $(rps_of "through nginx (2 replicas)") / $(rps_of "direct, replica $p1")" | bc)")x" \
     "(same 2 cores for wrk, nginx and both replicas: the balancer's cost, not a capacity gain)"
kill "$r2"; wait "$r2" 2>/dev/null || true
: > "$work/logs/nginx-access.log"
half=$(( secs / 2 > 0 ? secs / 2 : 1 ))
run "nginx, replica $p2 stopped" $plb "$half"
sleep 1.5
echo "  with replica $p2 stopped, nginx log: $(awk '{n[$1 " " $2]++} END {for (u in n) printf "[%s] %d  ", u, n[u]}' "$work/logs/nginx-access.log")"
echo "  machine busy with other work before the runs: at most ${max_busy}% (waits for <= 25%, up to 120 s); raw wrk output and logs in $work"
