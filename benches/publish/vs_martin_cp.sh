#!/usr/bin/env bash
# The national static site against martin-cp: `buurtmeter publish` (every level, the point
# layer, the JSON, the FlatGeobuf downloads, z0–14) and `martin-cp` (Martin's bulk tile
# copier, the buurten table alone from PostGIS, z0–14, MBTiles) on the same national
# synthetic buurten, each under /usr/bin/time -v, in the same run. Sizes and tile counts of
# the buurten archives are printed side by side.
#
#   bash benches/publish/vs_martin_cp.sh [DATA_DIR]        (default /tmp/nat)
#
# DATA_DIR holds national.toml (benches/national/generate.py, then benches/national/run.py).
# Needs: a release build ($BUURTMETER, default target/release/buurtmeter), martin-cp
# ($MARTIN_CP; `cargo install martin --version 1.14.0 --no-default-features --features
# postgres,mbtiles`), Debian's postgresql + postgis (benches/peers/pg.sh), gdal-bin, sqlite3
# or python3, and the reference Python's `pmtiles` (tests/reference/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
data="${1:-/tmp/nat}"
bin="${BUURTMETER:-${CARGO_TARGET_DIR:-target}/release/buurtmeter}"
martin_cp="${MARTIN_CP:-$(command -v martin-cp || echo "$HOME/.cargo/bin/martin-cp")}"
pgdir="${BM_PG_DIR:-/tmp/bm-pg-tiles}"
pgport="${BM_PG_PORT:-55434}"
port=18324
work=/tmp/bm-publish
conn="host=127.0.0.1 port=$pgport user=postgres dbname=postgres"
rm -rf "$work"; mkdir -p "$work"
pid=""; pg_started=0
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ "$pg_started" = 1 ] && bash "$root/benches/peers/pg.sh" stop "$pgdir" || true
}
trap cleanup EXIT
if ! pg_isready -q -h 127.0.0.1 -p "$pgport"; then
  bash benches/peers/pg.sh start "$pgdir" "$pgport" >/dev/null; pg_started=1
fi
# The buurten table with buurtmeter's own values (skipped when it holds this data version).
"$bin" serve --project "$data/national.toml" --bind "127.0.0.1:$port" --watch-seconds 0 >"$work/serve.log" 2>&1 &
pid=$!
until grep -q "press Ctrl-C" "$work/serve.log"; do kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }; sleep 0.5; done
bash benches/tiles/load_pg.sh "$conn" "http://127.0.0.1:$port" "$data/national.gpkg"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

secs() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'; }
rss() { echo $(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$1") / 1024 )); }

/usr/bin/time -v -o "$work/publish.time" "$bin" publish --project "$data/national.toml" --out "$work/site" --maxzoom 14 >"$work/publish.log" 2>&1
cat > "$work/martin.yaml" <<YAML
postgres:
  connection_string: "postgresql://postgres@127.0.0.1:$pgport/postgres"
  auto_publish: false
  tables:
    buurten:
      schema: public
      table: buurten
      srid: 3857
      geometry_column: geom_3857
      geometry_type: MULTIPOLYGON
      id_column: fid
      extent: 4096
      buffer: 64
      clip_geom: true
      properties:
        code: text
        aantal_inwoners: float8
        land_km2: float8
        per_1000: float8
        per_1000_n: float8
        per_km2: float8
        per_km2_n: float8
YAML
bounds=$(psql "$conn" -Atc "SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM (SELECT ST_Extent(ST_Transform(geom, 4326)) AS e FROM buurten) b")
/usr/bin/time -v -o "$work/martin.time" "$martin_cp" --config "$work/martin.yaml" --source buurten \
  --output-file "$work/buurten.mbtiles" --mbtiles-type flat --min-zoom 0 --max-zoom 14 --bbox "$bounds" >"$work/martin.log" 2>&1
archive=$(ls "$work"/site/tiles/buurten.*.pmtiles)
py="${CARGO_TARGET_DIR:-target}/tmp/pyref/bin/python"
pm_tiles=$("$py" -c 'import sys; from pmtiles.reader import Reader, MmapSource; f=open(sys.argv[1],"rb"); print(Reader(MmapSource(f)).header()["addressed_tiles_count"])' "$archive")
mb_tiles=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from tiles").fetchone()[0])' "$work/buurten.mbtiles")
echo "== national synthetic buurten, z0-14, $(date '+%Y-%m-%d %H:%M'), $(nproc) cores"
printf '  %-58s %7.2f s  peak RSS %5s MB\n' "buurtmeter publish (3 levels + points + JSON + FlatGeobuf)" "$(secs "$work/publish.time")" "$(rss "$work/publish.time")"
printf '  %-58s %7.2f s  peak RSS %5s MB\n' "martin-cp (the buurten table alone, MBTiles)" "$(secs "$work/martin.time")" "$(rss "$work/martin.time")"
printf '  buurten archive: buurtmeter %s tiles, %s MB; martin-cp %s tiles, %s MB\n' \
  "$pm_tiles" "$(( $(stat -c %s "$archive") / 1048576 ))" "$mb_tiles" "$(( $(stat -c %s "$work/buurten.mbtiles") / 1048576 ))"
printf '  the whole site: %s MB\n' "$(( $(du -sb "$work/site" | cut -f1) / 1048576 ))"
