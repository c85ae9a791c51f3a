#!/usr/bin/env bash
# The national bulk read in binary: ogr2ogr of all 14,520 national buurten from buurtmeter's
# OGC API as FlatGeobuf (items?f=fgb, read by GDAL's FlatGeobuf driver through /vsicurl/,
# i.e. by HTTP range requests like a file on object storage) against ogr2ogr of the same
# table from PostGIS (PG:), in the same run; for context the GeoJSON path (OAPIF driver,
# PAGE_SIZE=10000). Each read writes a GeoPackage; every command under /usr/bin/time -v
# (wall clock and the client's peak RSS are printed). Ratios, not absolute times: the
# machine is shared.
#
#   bash benches/oapif/fgb.sh [DATA_DIR] [REPEAT]     (defaults: /tmp/nat, 3; best of REPEAT)
#
# DATA_DIR holds national.toml (benches/national/generate.py DATA_DIR, then the project as
# benches/national/run.py writes it). The first f=fgb read is also reported on its own: it
# includes writing the file (once per data version; later reads come from the cache).
# Needs: a build of buurtmeter ($BUURTMETER, default target/release/buurtmeter), gdal-bin,
# curl, bc, Debian's postgresql + postgis (benches/peers/pg.sh; BM_PG_DIR/BM_PG_PORT as in
# benches/oapif/run.sh, a running cluster is reused).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
data="${1:-/tmp/nat}"
repeat="${2:-3}"
bin="${BUURTMETER:-${CARGO_TARGET_DIR:-target}/release/buurtmeter}"
pgdir="${BM_PG_DIR:-/tmp/bm-pg-tiles}"
pgport="${BM_PG_PORT:-55434}"
port=18322
work=/tmp/bm-fgb
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
"$bin" serve --project "$data/national.toml" --bind "127.0.0.1:$port" --watch-seconds 0 >"$work/serve.log" 2>&1 &
pid=$!
t0=$(date +%s)
until grep -q "press Ctrl-C" "$work/serve.log"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  [ $(( $(date +%s) - t0 )) -lt 1200 ] || { echo "buurtmeter not ready after 1200 s" >&2; exit 1; }
  sleep 0.5
done
bash benches/tiles/load_pg.sh "$conn" "http://127.0.0.1:$port" "$data/national.gpkg"
export GDAL_HTTP_TIMEOUT=300 CPL_LOG=/dev/null
url="http://127.0.0.1:$port/ogc/collections/buurten/items?f=fgb"

# timed NAME SRC [ogr2ogr args...]: one ogr2ogr under /usr/bin/time -v; sets t (wall s) and rss (MB).
timed() {
  local name="$1"; shift
  rm -f "$work/$name.gpkg"
  /usr/bin/time -v -o "$work/$name.time" timeout 900 ogr2ogr -f GPKG "$work/$name.gpkg" "$@" 2> >(grep -v user_version >&2)
  t=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$name.time" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  rss=$(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$name.time") / 1024 ))
  local n; n=$(ogrinfo -ro -so "$work/$name.gpkg" buurten 2>/dev/null | sed -n 's/^Feature Count: //p')
  [ "$n" = "$expected" ] || { echo "$name: $n features, expected $expected" >&2; exit 1; }
}
declare -A best bestrss
best_of() {
  local name="$1"; shift
  local b=""
  for _ in $(seq 1 "$repeat"); do
    timed "$name" "$@"
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; bestrss[$name]=$rss; fi
  done
  best[$name]=$b
  printf '  %-30s best %6.2f s  client peak RSS %5s MB\n' "$name" "$b" "${bestrss[$name]}" >&2
}

echo "timing (best of $repeat) ..." >&2
timed fgb_first "/vsicurl/$url" -nln buurten
first=$t
size=$(curl -sf -o /dev/null -w '%{size_download}' "$url")
s=$(date +%s.%N); curl -sf -o /dev/null "$url"; curl_s=$(echo "$(date +%s.%N) - $s" | bc)
best_of fgb_vsicurl "/vsicurl/$url" -nln buurten
best_of postgis_native PG:"$conn tables=buurten(geom)" buurten
best_of postgis_crs84 PG:"$conn tables=buurten(geom)" buurten -t_srs OGC:CRS84
best_of oapif_geojson_10000 "OAPIF:http://127.0.0.1:$port/ogc" buurten -oo PAGE_SIZE=10000

ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
echo "== national buurten ($expected features) into a GeoPackage with ogr2ogr, $(date '+%Y-%m-%d %H:%M'), $(nproc) cores (shared)"
echo "  $(ogrinfo --version); $(psql "$conn" -Atc 'SELECT postgis_full_version()' | cut -d' ' -f1-2); PostgreSQL $(psql "$conn" -Atc 'SHOW server_version' | cut -d' ' -f1)"
echo "  $("$bin" --version) ($bin); FlatGeobuf $((size / 1048576)) MB"
printf '  %-52s %7.2f s\n' "buurtmeter f=fgb, first read (includes writing it)" "$first"
printf '  %-52s %7.2f s\n' "buurtmeter f=fgb, /vsicurl/ (cached)" "${best[fgb_vsicurl]}"
printf '  %-52s %7.2f s\n' "PostGIS, PG: (EPSG:28992, native)" "${best[postgis_native]}"
printf '  %-52s %7.2f s\n' "PostGIS, PG: -t_srs OGC:CRS84" "${best[postgis_crs84]}"
printf '  %-52s %7.2f s\n' "buurtmeter GeoJSON, OAPIF PAGE_SIZE=10000" "${best[oapif_geojson_10000]}"
printf '  %-52s %7.2f s\n' "the fgb fetched with curl only (cached)" "$curl_s"
echo "  ratio f=fgb/PostGIS native: $(ratio "${best[fgb_vsicurl]}" "${best[postgis_native]}")x;" \
     "f=fgb/PostGIS CRS84: $(ratio "${best[fgb_vsicurl]}" "${best[postgis_crs84]}")x;" \
     "GeoJSON/f=fgb: $(ratio "${best[oapif_geojson_10000]}" "${best[fgb_vsicurl]}")x (above 1 = the first slower)"
