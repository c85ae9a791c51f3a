#!/usr/bin/env python3
"""Count points in polygon, end to end, buurtmeter against DuckDB spatial and GeoPandas,
in the same run on the same files (ratios, not absolute times: machines are shared).

Case "rijnmond": the 625 real CBS 2024 Rijnmond buurten (../shared/data) and N points
drawn around the CBS 100 m grid cells, weighted by inhabitants (deterministic seed).
Each tool reads the CSV points and the GeoPackage areas, joins, and writes the counts;
the counts must be identical (points in overlapping buurten go to the first buurt in the
file, as buurtmeter does: the peers use the same rule, min(fid)).

Usage: python3 benches/peers/count_points.py [N ...]     (default 1000000)
Needs: a release build (cargo build --release), pip install duckdb==1.5.* \
       duckdb-extension-spatial==1.5.* geopandas pyogrio
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPKG = os.path.join(ROOT, "..", "shared", "data", "nprz_wijkenbuurten_2024_rijnmond", "wijkenbuurten_2024_nprz.gpkg")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BUURTMETER = os.path.join(TARGET, "release", "buurtmeter")


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


def run_buurtmeter(points, out):
    subprocess.run([BUURTMETER, "count", "--areas", GPKG, "--areas-layer", "buurten", "--points", points,
                    "--x", "x", "--y", "y", "--out", out], check=True, stderr=subprocess.DEVNULL)
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
        CREATE TABLE b AS SELECT row_number() OVER () AS fid, buurtcode, geom FROM ST_Read('{GPKG}', layer='buurten');
        CREATE TABLE p AS SELECT row_number() OVER () AS pid, ST_Point(x, y) AS pt FROM read_csv('{points}', header=true, columns={{'x':'DOUBLE','y':'DOUBLE'}});
        CREATE TABLE hits AS SELECT p.pid, min(b.fid) AS fid FROM p JOIN b ON ST_Contains(b.geom, p.pt) GROUP BY p.pid;
        COPY (SELECT b.buurtcode AS area_id, count(h.pid) AS count FROM b LEFT JOIN hits h ON h.fid = b.fid GROUP BY b.buurtcode) TO '{out}' (HEADER);
    """)
    return read_counts(out)


def run_geopandas(points, out):
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    b = pyogrio.read_dataframe(GPKG, layer="buurten", columns=["buurtcode"])
    b["fid"] = range(len(b))
    df = pd.read_csv(points)
    p = gpd.GeoDataFrame(geometry=gpd.points_from_xy(df.x, df.y), crs=b.crs)
    j = gpd.sjoin(p, b, predicate="within", how="inner")
    first = j.groupby(level=0)["fid"].min()
    counts = first.value_counts()
    res = pd.DataFrame({"area_id": b["buurtcode"], "count": b["fid"].map(counts).fillna(0).astype(int)})
    res.to_csv(out, index=False)
    return read_counts(out)


def timed(f, *args, repeat=3):
    best, result = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = f(*args)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, result


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000]
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            pts = os.path.join(tmp, f"points_{n}.csv")
            make_points(n, pts)
            row = {"case": "rijnmond", "points": n}
            results = {}
            for name, f in [("buurtmeter", run_buurtmeter), ("duckdb_spatial", run_duckdb), ("geopandas", run_geopandas)]:
                secs, counts = timed(f, pts, os.path.join(tmp, f"{name}.csv"), repeat=1 if (name == "geopandas" and n > 2_000_000) else 3)
                row[name + "_s"] = round(secs, 3)
                results[name] = counts
            for name in ("duckdb_spatial", "geopandas"):
                row[name + "_identical"] = results[name] == results["buurtmeter"]
                row[name + "_over_buurtmeter"] = round(row[name + "_s"] / row["buurtmeter_s"], 2)
            row["buurtmeter_points_per_s"] = round(n / row["buurtmeter_s"])
            report.append(row)
            print(json.dumps(row), flush=True)
    return report


if __name__ == "__main__":
    main()
