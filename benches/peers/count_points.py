#!/usr/bin/env python3
"""Count points in polygon, end to end, buurtmeter against DuckDB spatial, GeoPandas,
SedonaDB and PostGIS, in the same run on the same files (ratios, not absolute times:
machines are shared).

Case "rijnmond" (default): the 625 real CBS 2024 Rijnmond buurten (../shared/data) and N
points drawn around the CBS 100 m grid cells, weighted by inhabitants (deterministic seed).
Case "wijken2022": the 3,340 real national CBS 2022 wijken (tmap copy, ../shared/data) and
N points drawn uniformly in the bounding box of a wijk picked with probability
proportional to its population (deterministic seed; points may land in a neighbour).
Each tool reads the CSV points and the GeoPackage areas, joins, and writes the counts;
the counts must be identical (points in overlapping areas go to the first area in the
file, as buurtmeter does: the peers use the same rule, min(fid)). Where they differ the
row says in how many areas and by how many points in total.

Usage: python3 benches/peers/count_points.py [--case rijnmond|wijken2022] [N ...]
       (default 1000000)
BM_PEERS=duckdb_spatial,sedonadb limits the run to those peers.
Needs: a release build (cargo build --release); peers, each skipped with a message when
missing (an error when CI=true): pip install duckdb==1.5.* duckdb-extension-spatial==1.5.*
geopandas pyogrio sedonadb; PostgreSQL + PostGIS (Debian postgresql,
postgresql-15-postgis-3; a throwaway cluster via pg.sh, started once per run and stopped
at the end; BM_PG_DIR, BM_PG_PORT) and GDAL's ogr2ogr.
"""
import argparse
import contextlib
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPKG = os.path.join(ROOT, "..", "shared", "data", "nprz_wijkenbuurten_2024_rijnmond", "wijkenbuurten_2024_nprz.gpkg")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BUURTMETER = os.path.join(TARGET, "release", "buurtmeter")
WIJKEN_2022 = os.path.join(ROOT, "..", "shared", "data", "nl_wijken_2022_tmap", "nl_wijken_gemeenten_2022_tmap.gpkg")
# The areas every runner reads: file, layer, id field (set per case by the callers).
LAYER = "buurten"
ID_FIELD = "buurtcode"
PG_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg.sh")
PG_DIR = os.environ.get("BM_PG_DIR", "/tmp/bm-pg-count")
PG_PORT = os.environ.get("BM_PG_PORT", "55433")
PG_CONNINFO = None          # set by postgis_server()


def make_points(n, path):
    import pyogrio
    grid = pyogrio.read_dataframe(GPKG, layer="vierkant_100m", columns=["aantal_inwoners"])
    w = grid["aantal_inwoners"].fillna(0).to_numpy(dtype=float) + 1.0
    xs, ys = grid.geometry.x.to_numpy(), grid.geometry.y.to_numpy()
    rng = np.random.default_rng(20261125)
    cell = rng.choice(len(w), size=n, p=w / w.sum())
    x = np.round(xs[cell] + rng.uniform(-50, 50, n), 2)
    y = np.round(ys[cell] + rng.uniform(-50, 50, n), 2)
    with open(path, "w") as f:
        f.write("x,y\n")
        np.savetxt(f, np.column_stack([x, y]), fmt="%.2f", delimiter=",")


def make_points_wijken(n, path):
    """N points: a wijk drawn with probability proportional to its population (+1), then
    a uniform point in its bounding box, rounded to 1 cm."""
    import pyogrio
    w = pyogrio.read_dataframe(WIJKEN_2022, layer="wijken", columns=["population"])
    pop = w["population"].fillna(0).clip(lower=0).to_numpy(dtype=float) + 1.0
    b = w.geometry.bounds.to_numpy()
    rng = np.random.default_rng(20221125)
    k = rng.choice(len(pop), size=n, p=pop / pop.sum())
    x = np.round(rng.uniform(b[k, 0], b[k, 2]), 2)
    y = np.round(rng.uniform(b[k, 1], b[k, 3]), 2)
    with open(path, "w") as f:
        f.write("x,y\n")
        np.savetxt(f, np.column_stack([x, y]), fmt="%.2f", delimiter=",")


CASES = {
    "rijnmond": dict(gpkg=GPKG, layer="buurten", id_field="buurtcode", make=make_points),
    "wijken2022": dict(gpkg=WIJKEN_2022, layer="wijken", id_field="code", make=make_points_wijken),
}


def run_buurtmeter(points, out):
    subprocess.run([BUURTMETER, "count", "--areas", GPKG, "--areas-layer", LAYER, "--id-field", ID_FIELD,
                    "--points", points, "--x", "x", "--y", "y", "--out", out], check=True, stderr=subprocess.DEVNULL)
    return read_counts(out)


def read_counts(path):
    with open(path) as f:
        next(f)
        return {l.split(",")[0]: int(l.split(",")[1]) for l in f if l.strip()}


def run_duckdb(points, out):
    import duckdb
    ext = glob.glob(os.path.join(os.path.dirname(__import__("duckdb_extension_spatial").__file__), "**", "*.duckdb_extension"), recursive=True)[0]
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    con.execute(f"""
        CREATE TABLE b AS SELECT row_number() OVER () AS fid, "{ID_FIELD}" AS buurtcode, geom FROM ST_Read('{GPKG}', layer='{LAYER}');
        CREATE TABLE p AS SELECT row_number() OVER () AS pid, ST_Point(x, y) AS pt FROM read_csv('{points}', header=true, columns={{'x':'DOUBLE','y':'DOUBLE'}});
        CREATE TABLE hits AS SELECT p.pid, min(b.fid) AS fid FROM p JOIN b ON ST_Contains(b.geom, p.pt) GROUP BY p.pid;
        COPY (SELECT b.buurtcode AS area_id, count(h.pid) AS count FROM b LEFT JOIN hits h ON h.fid = b.fid GROUP BY b.buurtcode) TO '{out}' (HEADER);
    """)
    return read_counts(out)


def run_geopandas(points, out):
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    b = pyogrio.read_dataframe(GPKG, layer=LAYER, columns=[ID_FIELD]).rename(columns={ID_FIELD: "buurtcode"})
    b["fid"] = range(len(b))
    df = pd.read_csv(points)
    p = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df.x, df.y), crs=b.crs)
    j = gpd.sjoin(p, b, predicate="within", how="inner")
    first = j.groupby(level=0)["fid"].min()
    counts = first.value_counts()
    res = pd.DataFrame({"area_id": b["buurtcode"], "count": b["fid"].map(counts).fillna(0).astype(int)})
    res.to_csv(out, index=False)
    return read_counts(out)


def run_sedonadb(points, out):
    """SedonaDB (Apache Sedona's single-node engine on DataFusion): areas through its
    pyogrio reader (with the GeoPackage fid), points with its CSV reader, ST_Contains
    spatial join, min(fid) per point, counts written by its CSV writer."""
    import sedonadb
    sd = sedonadb.connect()
    sd.read_pyogrio(GPKG, options={"layer": LAYER, "return_fids": True}).to_view("b_file")
    # (no column alias here: SedonaDB 0.5.0 fails in DataFusion's ProjectionPushdown with one)
    sd.sql(f'SELECT fid, "{ID_FIELD}", geom FROM b_file').to_memtable().to_view("b")
    sd.read.csv(points).to_view("csv")
    sd.sql("SELECT row_number() OVER () AS pid, ST_Point(x, y, 28992) AS pt FROM csv").to_view("p")
    sd.sql(f"""
        SELECT b."{ID_FIELD}" AS area_id, count(h.pid) AS count
        FROM b LEFT JOIN (SELECT p.pid, min(b.fid) AS fid FROM p JOIN b ON ST_Contains(b.geom, p.pt) GROUP BY p.pid) h
          ON h.fid = b.fid
        GROUP BY b."{ID_FIELD}"
        """).to_csv(out)
    return read_counts(out)


def psql(script, out=None):
    with open(out, "w") if out else contextlib.nullcontext() as f:
        subprocess.run(["psql", PG_CONNINFO, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], input=script,
                       text=True, check=True, stdout=f)


def run_postgis(points, out):
    """PostGIS, all timed: areas loaded with ogr2ogr (fid kept), points with COPY (psql
    \\copy, the file is read client-side) into an unlogged table whose point geometry is a
    stored generated column, a GiST index on the points, ANALYZE, then ST_Contains per area
    through that index, min(fid) per point, counts out with COPY TO STDOUT.

    No index on the areas on purpose: with one the planner loops over the points and probes
    the areas (about 3x slower at 1M Rijnmond points); without, it loops over the areas
    and probes the points' index, where PostGIS's prepared-geometry cache pays off. Session
    settings: jit off (its compile time only costs here), work_mem 1GB (the per-point
    aggregate), parallel plans allowed for the small areas table (2 workers)."""
    psql("DROP TABLE IF EXISTS bm_areas, bm_points;")
    subprocess.run(["ogr2ogr", "-f", "PostgreSQL", "PG:" + PG_CONNINFO, GPKG, LAYER, "-nln", "bm_areas",
                    "-select", ID_FIELD, "-nlt", "PROMOTE_TO_MULTI", "-preserve_fid", "-lco", "FID=fid",
                    "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=NONE"], check=True)
    psql(f"""
        SET jit = off;
        SET work_mem = '1GB';
        SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
        CREATE UNLOGGED TABLE bm_points (pid bigint GENERATED ALWAYS AS IDENTITY, x float8, y float8,
          geom geometry(Point, 28992) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(x, y), 28992)) STORED);
        \\copy bm_points (x, y) FROM '{points}' WITH (FORMAT csv, HEADER)
        CREATE INDEX ON bm_points USING GIST (geom);
        ANALYZE bm_areas; ANALYZE bm_points;
        COPY (
          SELECT a."{ID_FIELD.lower()}" AS area_id, count(h.pid) AS count
          FROM bm_areas a LEFT JOIN (
            SELECT hit.pid, min(a.fid) AS fid
            FROM bm_areas a CROSS JOIN LATERAL (SELECT pid FROM bm_points p WHERE ST_Contains(a.geom, p.geom)) hit
            GROUP BY hit.pid) h ON h.fid = a.fid
          GROUP BY a.fid ORDER BY a.fid) TO STDOUT WITH (FORMAT csv, HEADER);
    """, out=out)
    return read_counts(out)


@contextlib.contextmanager
def postgis_server():
    """Start the throwaway cluster (not timed), yield whether PostGIS is usable, stop it."""
    global PG_CONNINFO
    missing = peer_missing("postgis")
    if missing:
        yield False
        return
    try:
        r = subprocess.run(["bash", PG_SH, "start", PG_DIR, PG_PORT], capture_output=True, text=True)
        if r.returncode != 0:
            skip("postgis", f"could not start the cluster in {PG_DIR}: {r.stderr.strip()[-300:]}")
            yield False
            return
        PG_CONNINFO = r.stdout.strip().splitlines()[-1]
        yield True
    finally:
        if PG_CONNINFO:
            subprocess.run(["psql", PG_CONNINFO, "-X", "-q", "-c", "DROP TABLE IF EXISTS bm_areas, bm_points"],
                           capture_output=True)
        subprocess.run(["bash", PG_SH, "stop", PG_DIR], capture_output=True)
        PG_CONNINFO = None


def skip(peer, why):
    if os.environ.get("CI") == "true":
        raise SystemExit(f"{peer}: {why} (CI=true: peers are required)")
    print(f"skip {peer}: {why}", file=sys.stderr, flush=True)


def peer_missing(peer):
    """None when the peer can run here, else (after printing a skip line) the reason."""
    need = {"duckdb_spatial": ["duckdb", "duckdb_extension_spatial"], "geopandas": ["geopandas", "pyogrio"],
            "sedonadb": ["sedonadb", "pyogrio"]}.get(peer, [])
    why = next((f"python package {m} not installed" for m in need if importlib.util.find_spec(m) is None), None)
    if peer == "postgis":
        bins = glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if not bins:
            why = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not found"
        elif not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
            why = "the PostGIS extension is not installed"
        else:
            why = next((f"{b} not on PATH" for b in ("psql", "ogr2ogr") if shutil.which(b) is None), None)
    if why:
        skip(peer, why)
    return why


PEERS = [("duckdb_spatial", run_duckdb), ("geopandas", run_geopandas), ("sedonadb", run_sedonadb),
         ("postgis", run_postgis)]


def available_peers(postgis_up):
    # BM_PEERS=duckdb_spatial,sedonadb: only these peers (the others are not run at all).
    only = [p for p in os.environ.get("BM_PEERS", "").split(",") if p]
    return [(name, f) for name, f in PEERS
            if (not only or name in only)
            and (postgis_up if name == "postgis" else not peer_missing(name))]


def compare(row, name, counts, ref):
    """Adds <peer>_identical, and when not: areas differing and points, net and absolute."""
    row[name + "_identical"] = counts == ref
    if counts != ref:
        keys = set(counts) | set(ref)
        d = [counts.get(k, 0) - ref.get(k, 0) for k in keys]
        row[name + "_areas_differing"] = sum(1 for v in d if v)
        row[name + "_points_net_diff"] = sum(d)
        row[name + "_points_abs_diff"] = sum(abs(v) for v in d)
    return counts == ref


def explain_diff(name, points, counts, ref, limit=3, tol=1e-6):
    """For a few areas where a peer differs from buurtmeter, print (stderr) the points within
    tol metres of the area's boundary, with the areas whose boundary they touch (within tol)
    and the ones GEOS says strictly contain them. ST_Contains and GeoPandas' "within" count
    a point exactly on a shared edge in no area, buurtmeter in exactly one; a decimal point
    exactly on an edge can also be a few 1e-12 m off it as a double, inside one area for
    GEOS's exact predicates, while buurtmeter may count it on the other side."""
    import pandas as pd
    import pyogrio
    import shapely
    areas = pyogrio.read_dataframe(GPKG, layer=LAYER, columns=[ID_FIELD])
    df = pd.read_csv(points)
    tree = shapely.STRtree(areas.geometry.values)
    ids = areas[ID_FIELD].to_numpy()
    keys = sorted(k for k in set(counts) | set(ref) if counts.get(k, 0) != ref.get(k, 0))
    for k in keys[:limit]:
        g = areas.geometry[areas[ID_FIELD] == k].iloc[0]
        x0, y0, x1, y1 = g.bounds
        sub = df[(df.x >= x0 - tol) & (df.x <= x1 + tol) & (df.y >= y0 - tol) & (df.y <= y1 + tol)]
        pts = shapely.points(sub.x.to_numpy(), sub.y.to_numpy())
        dist = shapely.distance(pts, g.boundary)
        near = pts[dist <= tol]
        desc = []
        for p, d in zip(near[:5], dist[dist <= tol][:5]):
            touch = [ids[i] for i in tree.query(p, predicate="dwithin", distance=tol)]
            inside = [ids[i] for i in tree.query(p, predicate="within")]
            desc.append(f"({p.x}, {p.y}) {d:.1e} m from the boundary; near the boundary of {', '.join(touch)};"
                        f" strictly inside (GEOS): {', '.join(inside) or 'none'}")
        print(f"  {name} differs in {k}: buurtmeter {ref.get(k, 0)}, {name} {counts.get(k, 0)}; "
              f"{len(near)} point(s) within {tol:g} m of its boundary" + "".join("\n    " + d for d in desc),
              file=sys.stderr, flush=True)
    if len(keys) > limit:
        print(f"  ({len(keys) - limit} more areas differ)", file=sys.stderr, flush=True)


def timed(f, *args, repeat=3):
    best, result = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = f(*args)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, result


def use_case(case):
    global GPKG, LAYER, ID_FIELD
    c = CASES[case]
    GPKG, LAYER, ID_FIELD = c["gpkg"], c["layer"], c["id_field"]
    return c


def main():
    ap = argparse.ArgumentParser(description="count points in polygon: buurtmeter against its peers")
    ap.add_argument("--case", choices=sorted(CASES), default="rijnmond")
    ap.add_argument("sizes", nargs="*", type=int, default=[1_000_000])
    args = ap.parse_args()
    case = use_case(args.case)
    report = []
    with tempfile.TemporaryDirectory() as tmp, postgis_server() as postgis_up:
        peers = available_peers(postgis_up)
        for n in args.sizes:
            pts = os.path.join(tmp, f"points_{n}.csv")
            case["make"](n, pts)
            row = {"case": args.case, "points": n, "load_avg_1m_before": round(os.getloadavg()[0], 2)}
            results, best = {}, {}
            # Best of 3 (of 1 for the slow peers above 2M), in rounds over all tools, so that
            # a change in the (shared) machine's load hits every tool alike.
            for rnd in range(3):
                for name, f in [("buurtmeter", run_buurtmeter)] + peers:
                    if rnd > 0 and name in ("geopandas", "postgis") and n > 2_000_000:
                        continue
                    secs, results[name] = timed(f, pts, os.path.join(tmp, f"{name}.csv"), repeat=1)
                    best[name] = min(secs, best.get(name, secs))
            for name, secs in best.items():
                row[name + "_s"] = round(secs, 3)
            row["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
            for name, _ in peers:
                if not compare(row, name, results[name], results["buurtmeter"]):
                    explain_diff(name, pts, results[name], results["buurtmeter"])
                row[name + "_over_buurtmeter"] = round(row[name + "_s"] / row["buurtmeter_s"], 2)
            row["buurtmeter_points_per_s"] = round(n / row["buurtmeter_s"])
            report.append(row)
            print(json.dumps(row), flush=True)
    return report


if __name__ == "__main__":
    main()
