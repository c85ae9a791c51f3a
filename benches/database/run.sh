#!/usr/bin/env bash
# The join in process against the join pushed down into PostGIS (join = "database"),
# end to end, on N synthetic points in the real Rijnmond buurten (inside their extent,
# uniform), with a date, a category and an id per point.
#
#   cargo build --release
#   bash benches/database/run.sh [N=1000000] [BUURTMETER=target/release/buurtmeter]
#
# Starts a throwaway PostGIS cluster (benches/peers/pg.sh) in $TMPDIR, loads the points,
# writes the same rows to CSV, and times, with /usr/bin/time -v:
#   1. buurtmeter compute on the CSV (every point read and joined in process)
#   2. buurtmeter compute on the table with join = "database"
#   3. the aggregation query alone in psql (what a Citus cluster would spread over workers)
set -euo pipefail
n="${1:-1000000}"
bin="${BUURTMETER:-${CARGO_TARGET_DIR:-target}/release/buurtmeter}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
gpkg="$here/../shared/data/nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg"
work="$(mktemp -d)"; chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conn=$(bash "$here/benches/peers/pg.sh" start "$work/pg" "$port")
trap 'bash "$here/benches/peers/pg.sh" stop "$work/pg"; rm -rf "$work"' EXIT
q() { psql "$conn" -v ON_ERROR_STOP=1 -Atq "$@"; }
ogr2ogr -f PostgreSQL PG:"$conn" "$gpkg" buurten -nln ref_buurten -nlt PROMOTE_TO_MULTI -lco GEOMETRY_NAME=geom
read -r x0 y0 x1 y1 < <(q -F' ' -c "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM ref_buurten) s")
echo "generating $n points in ($x0 $y0, $x1 $y1)" >&2
q -c "SELECT setseed(0.42)" -c "CREATE TABLE punten AS SELECT i AS id, 'P-' || i AS melding_id,
        ST_SetSRID(ST_MakePoint($x0 + random() * ($x1 - $x0), $y0 + random() * ($y1 - $y0)), 28992)::geometry(Point, 28992) AS geom,
        date '2022-01-01' + (random() * 1095)::int AS gemeld_op, (ARRAY['afval','verlichting','overlast'])[1 + (random() * 2)::int] AS soort
      FROM generate_series(1, $n) i" -c "ALTER TABLE punten ADD PRIMARY KEY (id)" -c "ANALYZE punten"
q -c "\copy (SELECT melding_id, gemeld_op, soort, ST_X(geom)::text AS x, ST_Y(geom)::text AS y FROM punten ORDER BY id) TO '$work/punten.csv' WITH (FORMAT csv, HEADER true)"
project() { # $1 name, $2 the point source lines
  cat > "$work/$1.toml" <<TOML
name = "bench"
crs = "EPSG:28992"
region = "extent"
[[levels]]
id = "buurten"
path = "$gpkg"
layer = "buurten"
[[levels]]
id = "wijken"
path = "$gpkg"
layer = "wijken"
[[levels]]
id = "gemeenten"
path = "$gpkg"
layer = "gemeenten"
[[points]]
id = "m"
$2
date = "gemeld_op"
category = "soort"
id_column = "melding_id"
release = "live"
min_count = 3
[[indicators]]
id = "meldingen"
title = "Meldingen per maand"
numerator = { points = "m" }
period = "month"
TOML
}
project csv "path = \"$work/punten.csv\"
x = \"x\"
y = \"y\""
project db "path = \"PG:$conn\"
layer = \"public.punten\"
join = \"database\""
export BUURTMETER_SDC_SECRET=bench
# The areas table is made by a first run (once per set of areas), not timed.
"$bin" check --project "$work/db.toml" >/dev/null
for v in csv db; do
  /usr/bin/time -v "$bin" compute --project "$work/$v.toml" --out "$work/out_$v" 2> "$work/time_$v.txt" >/dev/null
  echo "$v: $(grep -E 'Elapsed' "$work/time_$v.txt" | sed 's/.*: //') wall, $(grep -E 'Maximum resident' "$work/time_$v.txt" | sed 's/.*: //') kB peak"
done
cmp "$work/out_csv/indicators_buurten.csv" "$work/out_db/indicators_buurten.csv" && echo "identical indicators (buurten)"
# The query alone, as the server runs it (EXPLAIN ANALYZE: the plan and where the time goes).
RUST_LOG=buurtmeter_core=debug "$bin" check --project "$work/db.toml" 2>&1 | grep -o 'sql=.*' | head -1 | sed 's/^sql=//' > "$work/query.sql"
{ echo '\timing on'; cat "$work/query.sql"; echo ';'; } > "$work/timed.sql"
psql "$conn" -Atq -f "$work/timed.sql" | grep -E '^Time' | sed 's/^/query alone: /'
