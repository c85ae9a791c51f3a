#!/usr/bin/env python3
"""Local Moran's I with 999 permutations on the synthetic national buurten (14,520)
(global Moran's I without permutations, as esda's Moran_Local has none),
buurtmeter's /indicators/{id}/hotspots against esda (with numba) in the same run, on the
same values (the indicator's published values, read back from buurtmeter) and the same
queen weights (libpysal's from the GeoPackage).

Usage: python3 benches/hotspots/run.py DATA_DIR PYTHON_WITH_ESDA_AND_NUMBA
       (DATA_DIR from benches/national/generate.py; numba: pip install numba into it)
"""
import json, os, re, subprocess, sys, time, urllib.request

data, py = sys.argv[1], sys.argv[2]
bm = os.environ.get("BUURTMETER", os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "buurtmeter"))
project = os.path.join(data, "hotspots.toml")
with open(project, "w") as f:
    f.write(f"""name = "national buurten (synthetic)"
[[levels]]
id = "buurten"
path = "{data}/national.gpkg"
layer = "buurten"
[[indicators]]
id = "woningen_per_inwoner"
title = "woningen per inwoner"
numerator = {{ statistic = "woningvoorraad" }}
denominator = "aantal_inwoners"
""")
p = subprocess.Popen([bm, "serve", "--project", project, "--bind", "127.0.0.1:18182", "--watch-seconds", "0"], stderr=subprocess.PIPE, text=True)
for line in p.stderr:
    if line.startswith("press Ctrl-C"):
        break
base = "http://127.0.0.1:18182"
def fetch_raw(path):
    with urllib.request.urlopen(base + path) as r:
        return r.read()
def fetch(path):
    return json.loads(fetch_raw(path))
fetch("/weights/buurten?type=queen")  # the weights are built once per data version
times = []
for _ in range(3):
    t = time.perf_counter()
    raw = fetch_raw("/indicators/woningen_per_inwoner/hotspots?level=buurten&method=local_moran&permutations=999&global_permutations=0")
    times.append(time.perf_counter() - t)
h = json.loads(raw)
p.terminate()
rows = [r for r in h["areas"] if r["value"] is not None]
inp = {"gpkg": os.path.join(data, "national.gpkg"), "codes": [r["code"] for r in rows], "values": [r["value"] for r in rows]}
script = r'''
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, geopandas as gpd
from libpysal.weights import Queen, w_subset
import esda
a = json.load(sys.stdin)
df = gpd.read_file(a["gpkg"], layer="buurten")
w = w_subset(Queen.from_dataframe(df, ids="buurtcode", use_index=False), a["codes"])
y = np.array(a["values"])
esda.Moran_Local(y[:200], w_subset(w, a["codes"][:200]), permutations=99, n_jobs=2)  # numba compiles here
out = []
for _ in range(3):
    t = time.perf_counter()
    esda.Moran_Local(y, w, permutations=999, n_jobs=2, seed=1)
    out.append(time.perf_counter() - t)
print(json.dumps(out))
'''
r = subprocess.run([py, "-c", script], input=json.dumps(inp), capture_output=True, text=True)
if r.returncode:
    sys.exit(r.stderr)
esda_times = json.loads(r.stdout.strip().splitlines()[-1])
b, e = min(times), min(esda_times)
print(f"local Moran's I, 999 permutations, {len(rows)} buurten, 2 cores: buurtmeter {b:.3f} s (the HTTP request with its 14,520-area JSON response, not parsed; best of 3), "
      f"esda with numba {e:.3f} s (best of 3, n_jobs=2, after compilation): esda / buurtmeter = {e / b:.1f}")
