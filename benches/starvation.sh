#!/usr/bin/env bash
# Tiles while anonymous callers ask for the most expensive analyses they may: the tile
# latency (p50, p99) on its own and while a dozen worst-case hot-spot, emerging and
# weights requests run in a loop, each with a fresh seed so that no answer comes from
# the analysis cache. All 3,340 Dutch wijken of 2022 (../shared/data), 40,000 points
# over five years, tiles uncached (--tile-cache-mb 0: every tile is rendered). Emerging
# hot spots at 800 permutations: the most 60 months allow an anonymous caller.
#
#   bash benches/starvation.sh [SECONDS]        (default 10 s per phase)
#
# Needs: a release build (cargo build --release), wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
bin="${CARGO_TARGET_DIR:-target}/release/buurtmeter"
wijken="$(cd .. && pwd)/shared/data/nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg"
[ -f "$wijken" ] || { echo "missing $wijken (see ../shared/data/SOURCES.md)" >&2; exit 1; }
dir="$(mktemp -d)"
port=18090
python3 - "$dir" "$wijken" <<'PY'
import sys
d, wijken = sys.argv[1], sys.argv[2]
seed = 20
def nxt():
    global seed
    seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
    return (seed >> 11) / float(1 << 53)
with open(f"{d}/punten.csv", "w") as f:
    f.write("id,x,y,datum\n")
    for i in range(40000):
        x, y = 13000 + 265000 * nxt(), 306000 + 313000 * nxt()
        year, month = 2019 + int(nxt() * 5), 1 + int(nxt() * 12)
        f.write(f"{i},{x:.1f},{y:.1f},{year}-{month:02d}-15\n")
open(f"{d}/wijken.toml", "w").write(f'''name = "wijken 2022 onder last"
[[levels]]
id = "wijken"
path = "{wijken}"
layer = "wijken"
id_field = "code"
[[points]]
id = "meldingen"
path = "punten.csv"
x = "x"
y = "y"
crs = "EPSG:28992"
date = "datum"
[[indicators]]
id = "per_maand"
title = "Meldingen per maand"
numerator = {{ points = "meldingen" }}
period = "month"
[[indicators]]
id = "per_jaar"
title = "Meldingen per jaar"
numerator = {{ points = "meldingen" }}
period = "year"
''')
PY
"$bin" serve --project "$dir/wijken.toml" --bind "127.0.0.1:$port" --tile-cache-mb 0 --watch-seconds 0 2>"$dir/server.log" &
pid=$!
loops=()
cleanup() { kill "${loops[@]}" "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
# The widest distance band an anonymous caller may ask for, from the server's own answer.
band=$(curl -s "$base/weights/wijken?type=distance&threshold=10000000" | grep -o 'at most [0-9]* m' | head -1 | grep -o '[0-9]*')
echo "anonymous distance band: $band m; analysis workers: $(nproc) cores / 2"

# Tiles over the Netherlands, zooms 9 to 12, every request a different tile.
cat > "$dir/tiles.lua" <<'LUA'
local i = 0
request = function()
  i = i + 1
  local z = 9 + (i % 4)
  local s = 2 ^ (z - 10)
  local x = math.floor((521 + (i * 7919) % 12 * 1.0) * s + (i % s))
  local y = math.floor((333 + (i * 104729) % 15 * 1.0) * s + ((i * 3) % s))
  return wrk.format("GET", "/tiles/wijken/" .. z .. "/" .. x .. "/" .. y .. ".mvt")
end
LUA
tiles() {
  echo "== tiles, $1"
  wrk -t1 -c4 -d"${secs}s" --latency -s "$dir/tiles.lua" "$base/" | grep -E "Requests/sec|Non-2xx|Socket errors|  50%|  99%"
}
tiles "alone"

# Each loop asks with its own seeds (loop i: seeds i, i + 16, i + 32, ...): never cached.
heavy() {
  local n=$2 v
  while true; do
    n=$((n + 16))
    v=$n
    [ -n "${3:-}" ] && v=$((n % $3 + 1))
    curl -s -o /dev/null -w "%{http_code} ${1%%\?*}\n" "$base$1$v" >>"$dir/analysis.codes"
  done
}
for i in 0 1 2 3; do heavy "/indicators/per_jaar/hotspots?level=wijken&weights=knn&k=50&permutations=999&seed=" "$i" & loops+=($!); done
for i in 4 5 6; do heavy "/indicators/per_jaar/hotspots?level=wijken&weights=distance&threshold=$band&seed=" "$i" & loops+=($!); done
for i in 7 8 9; do heavy "/indicators/per_maand/hotspots?level=wijken&method=emerging&permutations=800&seed=" "$i" & loops+=($!); done
# Weights: a different k each time (k = 1 to 50), so the weights cache helps only a little.
for i in 10 11; do heavy "/weights/wijken?type=knn&format=gal&k=" "$i" 50 & loops+=($!); done
sleep 2
tiles "while 12 worst-case analyses run"
kill "${loops[@]}" 2>/dev/null || true
wait "${loops[@]}" 2>/dev/null || true
echo "== analysis answers during the run (status: count)"
sort "$dir/analysis.codes" | uniq -c | awk '{print "  " $2 " " $3 ": " $1}'
