#!/usr/bin/env python3
"""National scale: count-points-in-polygon against DuckDB spatial, GeoPandas, SedonaDB and
PostGIS (see ../peers/count_points.py; each skipped with a message when missing) on the
synthetic national buurten (generate.py), and buurtmeter's start-up with all of it loaded.

GeoPandas is skipped above BM_GEOPANDAS_MAX points (default 10,000,000; at 10M it takes
about a minute and 4.4 GB). Every tool runs once (repeat=1).

Usage: python3 benches/national/run.py DATA_DIR     (after generate.py DATA_DIR N)
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import count_points as cp  # noqa: E402


def startup(data):
    project = os.path.join(data, "national.toml")
    with open(project, "w") as f:
        f.write(f"""name = "national (synthetic)"
[[levels]]
id = "buurten"
path = "{data}/national.gpkg"
layer = "buurten"
[[levels]]
id = "wijken"
path = "{data}/national.gpkg"
layer = "wijken"
[[levels]]
id = "gemeenten"
path = "{data}/national.gpkg"
layer = "gemeenten"
[[points]]
id = "adressen"
path = "{data}/points.csv"
x = "x"
y = "y"
[[indicators]]
id = "per_1000"
title = "per 1.000 inwoners"
numerator = {{ points = "adressen" }}
denominator = "aantal_inwoners"
scale = 1000
[[indicators]]
id = "per_km2"
title = "per km2"
numerator = {{ points = "adressen" }}
denominator = "land_km2"
""")
    t = time.perf_counter()
    p = subprocess.Popen([cp.BUURTMETER, "-v", "serve", "--project", project, "--bind", "127.0.0.1:18181", "--watch-seconds", "0"],
                         stderr=subprocess.PIPE, text=True)
    stages = []
    for line in p.stderr:
        m = re.search(r"stage=(.*?) seconds=\"?([0-9.]+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            stages.append((m.group(1), float(m.group(2))))
        if line.startswith("press Ctrl-C"):
            break
    ready = time.perf_counter() - t
    rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1))
    p.terminate()
    p.wait()
    return ready, rss, hwm, stages


def main():
    data = sys.argv[1]
    cp.GPKG = os.path.join(data, "national.gpkg")
    pts = os.path.join(data, "points.csv")
    n = sum(1 for _ in open(pts)) - 1
    row = {"case": "national synthetic", "points": n, "load_avg_1m_before": round(os.getloadavg()[0], 2)}
    results = {}
    with cp.postgis_server() as postgis_up:
        peers = cp.available_peers(postgis_up)
        gp_max = int(os.environ.get("BM_GEOPANDAS_MAX", 10_000_000))
        if n > gp_max and any(name == "geopandas" for name, _ in peers):
            print(f"skip geopandas: {n} points > BM_GEOPANDAS_MAX={gp_max}", file=sys.stderr, flush=True)
            peers = [(name, f) for name, f in peers if name != "geopandas"]
        for name, f in [("buurtmeter", cp.run_buurtmeter)] + peers:
            secs, counts = cp.timed(f, pts, os.path.join(data, f"{name}.csv"), repeat=1)
            row[name + "_s"] = round(secs, 2)
            results[name] = counts
    row["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    for name, _ in peers:
        if not cp.compare(row, name, results[name], results["buurtmeter"]):
            cp.explain_diff(name, pts, results[name], results["buurtmeter"])
        row[name + "_over_buurtmeter"] = round(row[name + "_s"] / row["buurtmeter_s"], 2)
    print(json.dumps(row), flush=True)
    ready, rss, hwm, stages = startup(data)
    print({"startup_s": round(ready, 2), "rss_mb": rss // 1024, "peak_rss_mb": hwm // 1024})
    for s, secs in stages:
        print(f"  {s}: {secs:.2f} s")


if __name__ == "__main__":
    main()
