#!/usr/bin/env bash
# OGC API - Features: a full paged read of the national buurten through GDAL's OAPIF driver
# from buurtmeter, against the same read of the same table from PostGIS with ogr2ogr; both
# written to a GeoPackage. Ratios, not absolute times: the machine is shared.
#
#   bash benches/oapif/run.sh [DATA_DIR] [REPEAT]      (defaults: /tmp/nat, 2; best of REPEAT)
#
# Reads:
#   buurtmeter  ogr2ogr -f GPKG out.gpkg OAPIF:http://127.0.0.1:18321/ogc buurten
#               with GDAL's default page size (10 in GDAL < 3.9: 1,452 requests) and with
#               -oo PAGE_SIZE=1000 / 10000; output in CRS84 (buurtmeter's default CRS; GDAL
#               3.6's OAPIF driver cannot ask for another one)
#   PostGIS     ogr2ogr -f GPKG out.gpkg PG:"... tables=buurten(geom)" buurten   (EPSG:28992,
#               native) and the same with -t_srs OGC:CRS84 (the same output as the OAPIF read)
#   context     the same pages fetched with curl only (limit=1000), i.e. the server's share;
#               and ogr2ogr of the same features saved as two GeoJSON files (the client's
#               parsing + writing without HTTP and without the OAPIF driver)
# Each read must give 14,520 features (checked). The PostGIS table holds buurtmeter's own
# values (benches/tiles/load_pg.sh).
#
# Needs: a release build (target/release/buurtmeter or $BUURTMETER), the national data
# (benches/national/generate.py + run.py: DATA_DIR/national.toml), gdal-bin, curl, bc, Debian's
# postgresql + postgis. Before each timed read it waits (up to 120 s) for the shared machine
# to be at most 25% busy, and prints how busy it was. PostGIS: BM_PG_DIR/BM_PG_PORT (default /tmp/bm-pg-tiles 55434, shared
# with benches/tiles/run.py; a running cluster is reused and left running, otherwise it is
# started and stopped). Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
data="${1:-/tmp/nat}"
repeat="${2:-2}"
bin="${BUURTMETER:-${CARGO_TARGET_DIR:-target}/release/buurtmeter}"
pgdir="${BM_PG_DIR:-/tmp/bm-pg-tiles}"
pgport="${BM_PG_PORT:-55434}"
port=18321
work=/tmp/bm-oapif
expected=14520
conn="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"
mkdir -p "$work"
pid=""; pg_started=0
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ "$pg_started" = 1 ] && bash "$root/benches/peers/pg.sh" stop "$pgdir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! pg_isready -q -h 127.0.0.1 -p "$pgport"; then
  bash benches/peers/pg.sh start "$pgdir" "$pgport" >/dev/null; pg_started=1
fi
binfo="binary built $(date -d @"$(stat -c %Y "$bin")" '+%Y-%m-%d %H:%M:%S'), worktree $(git rev-parse --short HEAD)$([ -n "$(git status --porcelain --untracked-files=no)" ] && echo +changes)"
"$bin" serve --project "$data/national.toml" --bind "127.0.0.1:$port" --watch-seconds 0 >"$work/serve.log" 2>&1 &
pid=$!
t0=$(date +%s)
until grep -q "press Ctrl-C" "$work/serve.log"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  [ $(( $(date +%s) - t0 )) -lt 600 ] || { echo "buurtmeter not ready after 600 s" >&2; exit 1; }
  sleep 0.5
done
bash benches/tiles/load_pg.sh "$conn" "http://127.0.0.1:$port" "$data/national.gpkg"

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
export GDAL_HTTP_TIMEOUT=120 CPL_LOG=/dev/null
# time_read NAME SRC [ogr2ogr args...]: best wall time of $repeat runs; checks the count.
declare -A best
time_read() {
  local name="$1"; shift
  local b=""
  for _ in $(seq 1 "$repeat"); do
    rm -f "$work/$name.gpkg"
    wait_quiet
    local s e
    s=$(date +%s.%N)
    timeout 900 ogr2ogr -f GPKG "$work/$name.gpkg" "$@" 2> >(grep -v user_version >&2)
    e=$(date +%s.%N)
    local t; t=$(echo "$e - $s" | bc)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  local n; n=$(ogrinfo -ro -so "$work/$name.gpkg" buurten 2>/dev/null | sed -n 's/^Feature Count: //p')
  [ "$n" = "$expected" ] || { echo "$name: $n features, expected $expected" >&2; exit 1; }
  best[$name]=$b
  printf '  %-34s %8.2f s  %s features  %s MB\n' "$name" "$b" "$n" "$(( $(stat -c %s "$work/$name.gpkg") / 1048576 ))" >&2
}
reqs() { curl -s "http://127.0.0.1:$port/metrics" | sed -n 's/^buurtmeter_http_requests_total{route="\/ogc\/collections\/{id}\/items",method="GET",status="200"} //p'; }

echo "timing (best of $repeat) ..." >&2
r0=$(reqs); r0=${r0:-0}
time_read oapif_default_page "OAPIF:http://127.0.0.1:$port/ogc" buurten
r1=$(reqs)
time_read oapif_page_1000 "OAPIF:http://127.0.0.1:$port/ogc" buurten -oo PAGE_SIZE=1000
time_read oapif_page_10000 "OAPIF:http://127.0.0.1:$port/ogc" buurten -oo PAGE_SIZE=10000
time_read postgis_native PG:"$conn tables=buurten(geom)" buurten
time_read postgis_crs84 PG:"$conn tables=buurten(geom)" buurten -t_srs OGC:CRS84

# The server's share: the same pages with curl only (no parsing, no writing).
wait_quiet
s=$(date +%s.%N); bytes=0
for off in $(seq 0 1000 $((expected - 1))); do
  b=$(curl -sf -o /dev/null -w '%{size_download}' "http://127.0.0.1:$port/ogc/collections/buurten/items?limit=1000&offset=$off")
  bytes=$((bytes + b))
done
curl_s=$(echo "$(date +%s.%N) - $s" | bc)

# The client's share: GDAL's GeoJSON driver on the same features saved to files (no HTTP,
# no OAPIF driver), into a GeoPackage.
curl -sf -o "$work/page0.json" "http://127.0.0.1:$port/ogc/collections/buurten/items?limit=10000&offset=0"
curl -sf -o "$work/page1.json" "http://127.0.0.1:$port/ogc/collections/buurten/items?limit=10000&offset=10000"
rm -f "$work/geojson_files.gpkg"
wait_quiet
s=$(date +%s.%N)
ogr2ogr -f GPKG "$work/geojson_files.gpkg" "$work/page0.json" -nln buurten -nlt MULTIPOLYGON
ogr2ogr -f GPKG -append "$work/geojson_files.gpkg" "$work/page1.json" -nln buurten -nlt MULTIPOLYGON
files_s=$(echo "$(date +%s.%N) - $s" | bc)
n=$(ogrinfo -ro -so "$work/geojson_files.gpkg" buurten | sed -n 's/^Feature Count: //p')
rm -f "$work/page0.json" "$work/page1.json"

pages=$(( (r1 - r0) / repeat ))
bm_best=$(printf '%s\n' "${best[oapif_default_page]}" "${best[oapif_page_1000]}" "${best[oapif_page_10000]}" | sort -g | head -1)
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
echo "== OGC API - Features full read: national buurten ($expected features) into a GeoPackage, $(date '+%Y-%m-%d %H:%M'), $(nproc) cores (shared)"
echo "  $(ogrinfo --version); $(psql "$conn" -Atc 'SELECT postgis_full_version()' | cut -d' ' -f1-2); PostgreSQL $(psql "$conn" -Atc 'SHOW server_version' | cut -d' ' -f1)"
echo "  $("$bin" --version) ($binfo; data version $(curl -sf "http://127.0.0.1:$port/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_version"])'))"
printf '  %-44s %7.2f s  (%s requests per read)\n' "buurtmeter, OAPIF, GDAL default page size" "${best[oapif_default_page]}" "$pages"
printf '  %-44s %7.2f s\n' "buurtmeter, OAPIF, PAGE_SIZE=1000" "${best[oapif_page_1000]}"
printf '  %-44s %7.2f s\n' "buurtmeter, OAPIF, PAGE_SIZE=10000" "${best[oapif_page_10000]}"
printf '  %-44s %7.2f s\n' "PostGIS, ogr2ogr PG: (EPSG:28992, native)" "${best[postgis_native]}"
printf '  %-44s %7.2f s\n' "PostGIS, ogr2ogr PG: -t_srs OGC:CRS84" "${best[postgis_crs84]}"
printf '  %-44s %7.2f s  (%s MB GeoJSON)\n' "buurtmeter pages with curl only (limit=1000)" "$curl_s" "$((bytes / 1048576))"
printf '  %-44s %7.2f s  (%s features)\n' "GDAL, the same GeoJSON from files (no HTTP)" "$files_s" "$n"
echo "  machine busy with other work before the timed runs: at most ${max_busy}% (waits for <= 25%, up to 120 s)"
echo "  ratio OAPIF(default page)/PostGIS native: $(ratio "${best[oapif_default_page]}" "${best[postgis_native]}")x;" \
     "best OAPIF/PostGIS native: $(ratio "$bm_best" "${best[postgis_native]}")x;" \
     "best OAPIF/PostGIS CRS84: $(ratio "$bm_best" "${best[postgis_crs84]}")x (above 1 = buurtmeter slower)"
