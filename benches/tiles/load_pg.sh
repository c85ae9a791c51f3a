#!/usr/bin/env bash
# Load "the same data" buurtmeter serves into PostGIS, for the Martin and ogr2ogr peers.
#
#   bash benches/tiles/load_pg.sh CONNINFO BUURTMETER_URL GPKG [LAYER]
#
# CONNINFO         libpq conninfo of a PostGIS database (benches/peers/pg.sh start prints one)
# BUURTMETER_URL   a running `buurtmeter serve` on the same project (e.g. http://127.0.0.1:18311)
# GPKG, LAYER      the project's buurten source (default layer: buurten)
#
# Result: table public.buurten with the buurten polygons (EPSG:28992, column geom, MULTIPOLYGON)
# and the attributes buurtmeter puts in its tiles and OGC API features, with the values taken
# from buurtmeter's indicator API (so they are identical, not recomputed):
#   fid, buurtcode, wijkcode, gemeentecode, code, aantal_inwoners, land_km2,
#   per_1000, per_1000_n, per_km2, per_km2_n
# plus geom_3857 (EPSG:3857) for tile servers; GiST indexes on both geometry columns.
# Table buurten_meta records buurtmeter's data version; when it matches, nothing is reloaded.
# Written for the national synthetic project (indicators per_1000 and per_km2, see
# benches/national/run.py). Needs: gdal-bin (ogr2ogr), psql, curl.
set -euo pipefail
conn="$1"; url="$2"; gpkg="$3"; layer="${4:-buurten}"
q() { psql "$conn" -v ON_ERROR_STOP=1 -Atq "$@"; }
version=$(curl -sf "$url/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_version"])')
have=$(q -c "SELECT version FROM buurten_meta" 2>/dev/null || true)
if [ "$have" = "$version" ] && [ "$(q -c "SELECT count(*) FROM buurten" 2>/dev/null)" -gt 0 ]; then
  echo "PostGIS table buurten already holds data version $version" >&2
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
ogr2ogr -f PostgreSQL PG:"$conn" "$gpkg" "$layer" -nln buurten_src -overwrite -nlt MULTIPOLYGON \
  -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=NONE --config PG_USE_COPY YES 2>&1 \
  | grep -v "user_version" >&2 || true
for ind in per_1000 per_km2; do
  curl -sf "$url/indicators/$ind?level=$layer&format=csv" > "$tmp/$ind.csv"
done
q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS ind_per_1000, ind_per_km2, buurten, buurten_meta;
CREATE TABLE ind_per_1000 (indicator text, level text, area_code text, area_name text, period text,
  numerator float8, denominator float8, denominator_period text, value float8, unit text, suppressed text,
  converted text);
CREATE TABLE ind_per_km2 (LIKE ind_per_1000);
\copy ind_per_1000 FROM '$tmp/per_1000.csv' WITH (FORMAT csv, HEADER true)
\copy ind_per_km2 FROM '$tmp/per_km2.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE buurten AS
SELECT s.fid, s.buurtcode, s.wijkcode, s.gemeentecode, s.buurtcode AS code,
       a.denominator AS aantal_inwoners, k.denominator AS land_km2,
       a.value AS per_1000, a.numerator AS per_1000_n,
       k.value AS per_km2, k.numerator AS per_km2_n,
       s.geom::geometry(MultiPolygon, 28992) AS geom,
       ST_Transform(s.geom, 3857)::geometry(MultiPolygon, 3857) AS geom_3857
FROM buurten_src s
JOIN ind_per_1000 a ON a.area_code = s.buurtcode
JOIN ind_per_km2 k ON k.area_code = s.buurtcode
ORDER BY s.fid;
ALTER TABLE buurten ADD PRIMARY KEY (fid);
CREATE INDEX buurten_geom ON buurten USING gist (geom);
CREATE INDEX buurten_geom_3857 ON buurten USING gist (geom_3857);
DROP TABLE ind_per_1000, ind_per_km2, buurten_src;
VACUUM ANALYZE buurten;
CREATE TABLE buurten_meta AS SELECT '$version'::text AS version;
SQL
n=$(q -c "SELECT count(*) FROM buurten")
echo "PostGIS table buurten: $n rows, data version $version, loaded in $(echo "$(date +%s.%N) - $t0" | bc) s" >&2
