#!/usr/bin/env bash
# Bounded load test on loopback: a fixed number of connections for a fixed time per
# endpoint family (tiles, OGC API items, indicators), then a check that the server's
# memory stayed bounded by the tile cache. Stops by itself.
#
#   bash benches/load.sh [SECONDS] [CONNECTIONS]     (defaults: 10 s, 16 connections)
#
# Needs: a release build (cargo build --release) and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
conns="${2:-16}"
bin="${CARGO_TARGET_DIR:-target}/release/buurtmeter"
port=18080
cache_mb=64
"$bin" serve --bind "127.0.0.1:$port" --tile-cache-mb "$cache_mb" --watch-seconds 0 2>/tmp/buurtmeter-load.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "RSS at start: $(rss) kB"

# A Lua script that walks the demo's z12-z15 tiles, so the cache sees many keys.
cat > /tmp/buurtmeter-tiles.lua <<'LUA'
local z, i = {12, 13, 14, 15}, 0
local base = {[12] = {2112, 1371}, [13] = {4225, 2743}, [14] = {8451, 5487}, [15] = {16903, 10975}}
request = function()
  i = i + 1
  local zz = z[(i % 4) + 1]
  local b = base[zz]
  local span = 2 ^ (zz - 12) * 3
  local x = b[1] + (i * 7) % span
  local y = b[2] + (i * 13) % span
  return wrk.format("GET", "/tiles/buurten/" .. zz .. "/" .. x .. "/" .. y .. ".mvt")
end
LUA
run() {
  echo "== $1"
  wrk -t2 -c"$conns" -d"${secs}s" --latency ${3:-} "http://127.0.0.1:$port$2" | grep -E "Requests/sec|Non-2xx|Socket errors|99%|50%"
}
run "tiles (mixed zooms, uncached then cached)" "/" "-s /tmp/buurtmeter-tiles.lua"
run "one cached tile" "/tiles/buurten/12/2114/1373.mvt"
run "OGC API items (limit 100)" "/ogc/collections/buurten/items?limit=100"
run "indicator API (wijken, JSON)" "/indicators/wateroverlast_per_1000_inw?level=wijk"
echo "RSS at end: $(rss) kB (tile cache bound: $cache_mb MB)"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^buurtmeter_tile_cache_(bytes|entries)"
