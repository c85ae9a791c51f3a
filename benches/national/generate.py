#!/usr/bin/env python3
"""A deterministic national-scale synthetic area set and point set, for benchmarks only
(never committed: written to the directory given).

- ~14,500 buurten on a jittered grid over the Netherlands' extent in RD New, every shared
  edge one fractal polyline used by both neighbours (no gaps, no overlaps), 256 vertices
  per buurt (real CBS buurten: median about 250);
- wijken = blocks of 2x2 buurten (~3,600), gemeenten = blocks of 7x6 buurten (~345),
  built by unioning their buurten;
- N points clustered like addresses: 70 % around ~400 town centres (log-normal sizes),
  30 % spread, all inside the extent.

Usage: python3 benches/national/generate.py OUT_DIR [N_POINTS]
"""
import os
import sys

import numpy as np
import shapely
from shapely.geometry import Polygon

X0, Y0, W, H = 13_000.0, 306_000.0, 265_000.0, 310_000.0
NX, NY = 110, 132          # 14,520 cells of ~2.4 km
DEPTH = 6                  # 64 segments per edge, 256 vertices per buurt


def main():
    out = sys.argv[1]
    n_points = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(14500)
    cw, ch = W / NX, H / NY
    vx = X0 + np.arange(NX + 1)[:, None] * cw + np.zeros((1, NY + 1))
    vy = Y0 + np.arange(NY + 1)[None, :] * ch + np.zeros((NX + 1, 1))
    inner = np.zeros((NX + 1, NY + 1), bool)
    inner[1:-1, 1:-1] = True
    vx = vx + np.where(inner, rng.uniform(-0.2, 0.2, vx.shape) * cw, 0)
    vy = vy + np.where(inner, rng.uniform(-0.2, 0.2, vy.shape) * ch, 0)
    edges = {}

    def edge(a, b):
        key = (a, b) if a <= b else (b, a)
        if key not in edges:
            p, q = np.array([vx[key[0]], vy[key[0]]]), np.array([vx[key[1]], vy[key[1]]])
            pts = [p, q]
            amp = 0.07 * np.linalg.norm(q - p)
            for _ in range(DEPTH):
                nxt = []
                for s, t in zip(pts[:-1], pts[1:]):
                    d = t - s
                    n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-9)
                    nxt += [s, (s + t) / 2 + n * rng.uniform(-1, 1) * amp]
                nxt.append(pts[-1])
                pts, amp = nxt, amp / 2
            edges[key] = np.round(np.array(pts), 2)
        line = edges[key]
        return line if a <= b else line[::-1]

    buurten, codes, wijk_of, gm_of = [], [], [], []
    for i in range(NX):
        for j in range(NY):
            c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            ring = np.concatenate([edge(c[k], c[(k + 1) % 4])[:-1] for k in range(4)])
            buurten.append(Polygon(ring))
            g = (i // 7) * (NY // 6 + 1) + j // 6
            w = (i // 2) * (NY // 2 + 1) + j // 2
            gm_of.append(g)
            wijk_of.append(w)
    gm_codes = {g: f"GM{k:04d}" for k, g in enumerate(sorted(set(gm_of)))}
    wk_codes, wk_count = {}, {}
    for w, g in zip(wijk_of, gm_of):
        if w not in wk_codes:
            n = wk_count.get(g, 0)
            wk_count[g] = n + 1
            wk_codes[w] = f"WK{gm_codes[g][2:]}{n % 100:02d}" if n < 100 else f"WK{gm_codes[g][2:]}{chr(65 + n // 100)}{n % 10}"
    bu_count = {}
    for w in wijk_of:
        n = bu_count.get(w, 0)
        bu_count[w] = n + 1
        codes.append(f"BU{wk_codes[w][2:]}{n:02d}")

    import geopandas as gpd
    b = gpd.GeoDataFrame({"buurtcode": codes, "wijkcode": [wk_codes[w] for w in wijk_of], "gemeentecode": [gm_codes[g] for g in gm_of],
                          "aantal_inwoners": rng.integers(50, 5000, len(codes)), "woningvoorraad": rng.integers(20, 2500, len(codes))},
                         geometry=buurten, crs="EPSG:28992")
    path = os.path.join(out, "national.gpkg")
    if os.path.exists(path):
        os.remove(path)
    b.to_file(path, layer="buurten", driver="GPKG")
    wk = b.dissolve(by="wijkcode", aggfunc={"aantal_inwoners": "sum", "woningvoorraad": "sum"}).reset_index()
    wk[["wijkcode", "aantal_inwoners", "woningvoorraad", "geometry"]].to_file(path, layer="wijken", driver="GPKG")
    gm = b.dissolve(by="gemeentecode", aggfunc={"aantal_inwoners": "sum", "woningvoorraad": "sum"}).reset_index()
    gm[["gemeentecode", "aantal_inwoners", "woningvoorraad", "geometry"]].to_file(path, layer="gemeenten", driver="GPKG")

    centres = np.column_stack([rng.uniform(X0, X0 + W, 400), rng.uniform(Y0, Y0 + H, 400)])
    size = rng.lognormal(0, 1, 400)
    n_town = int(n_points * 0.7)
    which = rng.choice(400, n_town, p=size / size.sum())
    spread = 400 + 1500 * np.sqrt(size[which])
    tx = centres[which, 0] + rng.normal(0, 1, n_town) * spread
    ty = centres[which, 1] + rng.normal(0, 1, n_town) * spread
    rx = rng.uniform(X0, X0 + W, n_points - n_town)
    ry = rng.uniform(Y0, Y0 + H, n_points - n_town)
    x = np.clip(np.concatenate([tx, rx]), X0, X0 + W)
    y = np.clip(np.concatenate([ty, ry]), Y0, Y0 + H)
    with open(os.path.join(out, "points.csv"), "w") as f:
        f.write("x,y\n")
        np.savetxt(f, np.column_stack([x, y]), fmt="%.2f", delimiter=",")
    print(f"{len(b)} buurten, {len(wk)} wijken, {len(gm)} gemeenten, {n_points} points in {out}")


if __name__ == "__main__":
    main()
