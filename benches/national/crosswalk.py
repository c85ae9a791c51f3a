#!/usr/bin/env python3
"""Crosswalk at national scale: buurtmeter against PySAL's tobler in the same run.

The synthetic national buurten (generate.py) as the old edition, the same buurten moved
37 m east and 23 m north as the new edition (every buurt then meets its neighbours), and
1,000,000 of the synthetic points as weighting points. Each tool once per variant:
- area-weighted: `buurtmeter crosswalk ... --values aantal_inwoners` against
  `tobler.area_weighted.area_interpolate(old, new, extensive_variables=["aantal_inwoners"])`
  (both read the GeoPackages and convert the counts);
- point-weighted: `buurtmeter crosswalk --weights` (tobler has no point-weighted variant).

Usage: python3 benches/national/crosswalk.py DATA_DIR PYTHON_WITH_TOBLER
       (DATA_DIR from generate.py; the Python of target/tmp/pyref after `sh .ci/setup test`)
"""
import os
import subprocess
import sys
import time

data, py = sys.argv[1], sys.argv[2]
bm = os.environ.get("BUURTMETER", os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "buurtmeter"))
old, new = os.path.join(data, "national.gpkg"), os.path.join(data, "shifted.gpkg")
if not os.path.exists(new):
    subprocess.run(["ogr2ogr", "-f", "GPKG", new, old, "-dialect", "sqlite", "-sql",
                    "select buurtcode, ST_Translate(geom, 37, 23, 0) as geom from buurten", "-nln", "buurten"], check=True)
pts = os.path.join(data, "weights_1m.csv")
if not os.path.exists(pts):
    with open(os.path.join(data, "points.csv")) as f, open(pts, "w") as out:
        next(f)
        out.write("x,y,w\n")
        for i, line in enumerate(f):
            if i == 1_000_000:
                break
            out.write(line.strip() + ",1\n")


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(r.stderr)
    return time.perf_counter() - t, int(r.stderr.strip().splitlines()[-1]) / 1e6


base = [bm, "crosswalk", "--from", old, "--from-layer", "buurten", "--to", new, "--to-layer", "buurten",
        "--values", "aantal_inwoners", "--out", "/tmp/cw.csv", "--converted", "/tmp/cw_conv.csv"]
tobler = f"""
import warnings; warnings.filterwarnings("ignore")
import geopandas as gpd
from tobler.area_weighted import area_interpolate
old = gpd.read_file("{old}", layer="buurten")
new = gpd.read_file("{new}", layer="buurten")
area_interpolate(old, new, extensive_variables=["aantal_inwoners"]).to_csv("/tmp/tobler_conv.csv")
"""
b_area = timed(base)
t_area = timed([py, "-c", tobler])
b_pts = timed(base + ["--weights", pts, "--weight", "w"])
print(f"area-weighted, 14,520 × 14,520 buurten: buurtmeter {b_area[0]:.2f} s ({b_area[1]:.2f} GB), "
      f"tobler {t_area[0]:.2f} s ({t_area[1]:.2f} GB): tobler / buurtmeter = {t_area[0] / b_area[0]:.1f}")
print(f"point-weighted (1,000,000 points): buurtmeter {b_pts[0]:.2f} s ({b_pts[1]:.2f} GB)")
