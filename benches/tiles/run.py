#!/usr/bin/env python3
"""Vector tiles on the national synthetic buurten: buurtmeter against Martin on PostGIS,
same data, same tiles, same load generator, in the same run (ratios, not absolute times:
the machine is shared).

  python3 benches/tiles/run.py [--data /tmp/nat] [--seconds 10] [--connections 16] [--threads 2]
                               [--rounds 3] [--sample 200] [--hot 20] [--gzip] [--patience 120]

What it does (everything on loopback, every step bounded in time, all processes it
started are stopped on exit, also on Ctrl-C):
  1. starts a PostGIS cluster (benches/peers/pg.sh, DIR/PORT from BM_PG_DIR/BM_PG_PORT,
     default /tmp/bm-pg-tiles 55434; an already running one is reused and left running),
     two buurtmeter servers on DATA/national.toml (--tile-cache-mb 0, and the default
     256 MB cache) and loads the buurten with buurtmeter's own indicator values into
     PostGIS (benches/tiles/load_pg.sh: geom EPSG:28992 + geom_3857 with GiST indexes);
  2. starts two Martin servers on that table (`cache: disable`, and Martin's default cache)
     as a table source with the same attributes (code, per_1000, per_1000_n, per_km2,
     per_km2_n, aantal_inwoners, land_km2), extent 4096 and buffer 64 like buurtmeter;
  3. picks the tiles: every z8 tile that intersects a buurt (19) and 200 such tiles at z11
     and at z14 (deterministic sample), checks that both servers answer 200 with a
     non-empty tile for every one, and decodes a few per zoom with GDAL's MVT driver to
     compare feature counts and fields;
  4. single-request times, uncached (cache-less servers, one keep-alive connection,
     requests interleaved buurtmeter/Martin tile by tile): p50/p99 per zoom over the
     sample (z8: the 19 tiles 10 times);
  5. wrk, same threads/connections/duration for both: uncached (cache-less servers, a Lua
     script walking the sample) and cached (caching servers, a hot set of 20 tiles per zoom
     requested once before the run), per zoom, --rounds times with the server order
     alternating (every round is printed); then ratios buurtmeter/Martin of the best rounds
     and of the medians, the median ratio against the targets (uncached >= 2x Martin,
     cached >= 1x), and GET /health on both for context (per-request HTTP cost of each
     server with this load generator).
Before each timed part it waits (up to --patience s, default 120) until the machine is at
most 25% busy with other work (niced work counts: from another session it competes at full
weight under the scheduler's autogroups); it records how busy the machine was before, and
from /proc how much of the cores other work took during each wrk run (all CPU minus the
servers, our PostgreSQL and wrk). No Accept-Encoding is sent (both servers answer
uncompressed MVT) unless --gzip.

Needs: a release build of buurtmeter (target/release/buurtmeter, or $BUURTMETER), Martin
(`cargo install martin --no-default-features --features postgres`; $MARTIN or
~/.cargo/bin/martin or PATH), wrk, Debian's postgresql + postgis, gdal-bin, curl, bc, and
the national data (python3 benches/national/generate.py DATA N; python3
benches/national/run.py DATA writes DATA/national.toml). Output: a summary on stdout and
all numbers as JSON in $BM_OUT (default /tmp/bm-tiles/results.json).
"""
import argparse
import atexit
import http.client
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUURTMETER = os.environ.get("BUURTMETER", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "buurtmeter"))
MARTIN = os.environ.get("MARTIN") or shutil.which("martin") or os.path.expanduser("~/.cargo/bin/martin")
PG_DIR = os.environ.get("BM_PG_DIR", "/tmp/bm-pg-tiles")
PG_PORT = os.environ.get("BM_PG_PORT", "55434")
WORK = os.environ.get("BM_WORK", "/tmp/bm-tiles")
OUT = os.environ.get("BM_OUT", os.path.join(WORK, "results.json"))
CONN = f"host=127.0.0.1 port={PG_PORT} user=postgres dbname=postgres"
PORTS = {"bm_nocache": 18311, "bm_cache": 18313, "martin_nocache": 18312, "martin_cache": 18314}
ZOOMS = (8, 11, 14)

procs = []
pg_started = False


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cleanup():
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(procs):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    procs.clear()
    global pg_started
    if pg_started:
        subprocess.run(["bash", os.path.join(ROOT, "benches", "peers", "pg.sh"), "stop", PG_DIR], check=False)
        pg_started = False


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


def psql(sql):
    return subprocess.run(["psql", CONN, "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True, capture_output=True, text=True).stdout


def start_pg():
    global pg_started
    if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", PG_PORT]).returncode == 0:
        log(f"reusing the PostgreSQL already running on port {PG_PORT}")
        return
    subprocess.run(["bash", os.path.join(ROOT, "benches", "peers", "pg.sh"), "start", PG_DIR, PG_PORT], check=True, stdout=subprocess.DEVNULL)
    pg_started = True


def start_buurtmeter(name, project, extra, wait=True):
    logf = open(os.path.join(WORK, f"{name}.log"), "w")
    p = subprocess.Popen([BUURTMETER, "serve", "--project", project, "--bind", f"127.0.0.1:{PORTS[name]}", "--watch-seconds", "0", *extra],
                         stdout=logf, stderr=subprocess.STDOUT)
    procs.append(p)
    p.bm_log = logf.name
    if wait:
        wait_buurtmeter(p)
    return p


def wait_buurtmeter(p, timeout=600):
    t = time.time()
    while time.time() - t < timeout:
        if p.poll() is not None:
            sys.exit(f"buurtmeter exited with {p.returncode}; see {p.bm_log}")
        if "press Ctrl-C" in open(p.bm_log).read():
            return time.time() - t
        time.sleep(0.5)
    sys.exit(f"buurtmeter not ready after {timeout} s; see {p.bm_log}")


def start_martin(name, cache):
    cfg = os.path.join(WORK, f"{name}.yaml")
    props = "\n".join(f"        {c}: {t}" for c, t in [("code", "text"), ("aantal_inwoners", "float8"), ("land_km2", "float8"), ("per_1000", "float8"),
                                                         ("per_1000_n", "float8"), ("per_km2", "float8"), ("per_km2_n", "float8")])
    with open(cfg, "w") as f:
        f.write(f"""listen_addresses: "127.0.0.1:{PORTS[name]}"
{cache}
postgres:
  connection_string: "postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"
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
{props}
""")
    logf = open(os.path.join(WORK, f"{name}.log"), "w")
    p = subprocess.Popen([MARTIN, "--config", cfg], stdout=logf, stderr=subprocess.STDOUT)
    procs.append(p)
    t = time.time()
    while time.time() - t < 120:
        if p.poll() is not None:
            sys.exit(f"martin exited with {p.returncode}; see {logf.name}")
        try:
            if get(PORTS[name], "/health")[0] == 200:
                return p
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit(f"martin not ready after 120 s; see {logf.name}")


_conns = {}


def get(port, path, timeout=60):
    """GET on a kept-alive connection; returns (status, body)."""
    c = _conns.get(port)
    for attempt in range(2):
        if c is None:
            c = _conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        except (http.client.HTTPException, OSError):
            c.close()
            c = _conns[port] = None
            if attempt:
                raise


def tile_path(server, z, x, y):
    return f"/tiles/buurten/{z}/{x}/{y}.mvt" if server.startswith("bm") else f"/buurten/{z}/{x}/{y}"


def pick_tiles(sample):
    """Tiles that intersect a buurt: all of them at z8, a deterministic sample at z11, z14."""
    sql = f"""
WITH e AS (SELECT ST_Transform(ST_SetSRID(ST_Extent(geom_3857)::geometry, 3857), 4326) g FROM buurten),
zz AS (SELECT unnest(ARRAY[{','.join(map(str, ZOOMS))}]) z),
r AS (SELECT z, floor((ST_XMin(g)+180)/360*2^z)::int x0, floor((ST_XMax(g)+180)/360*2^z)::int x1,
  floor((1-ln(tan(radians(ST_YMax(g)))+1/cos(radians(ST_YMax(g))))/pi())/2*2^z)::int y0,
  floor((1-ln(tan(radians(ST_YMin(g)))+1/cos(radians(ST_YMin(g))))/pi())/2*2^z)::int y1 FROM e, zz),
t AS (SELECT z, x, y FROM r, generate_series(x0, x1) x, generate_series(y0, y1) y
      WHERE EXISTS (SELECT 1 FROM buurten WHERE ST_Intersects(geom_3857, ST_TileEnvelope(z, x, y)))),
n AS (SELECT z, x, y, row_number() OVER (PARTITION BY z ORDER BY md5(z || '/' || x || '/' || y)) i, count(*) OVER (PARTITION BY z) total FROM t)
SELECT z, x, y, total FROM n WHERE i <= {sample} ORDER BY z, i"""
    tiles, totals = {z: [] for z in ZOOMS}, {}
    for line in psql(sql).split():
        z, x, y, total = map(int, line.split("|"))
        tiles[z].append((x, y))
        totals[z] = total
    return tiles, totals


def ogr_summary(path):
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", path], capture_output=True, text=True).stdout
    n = re.search(r"Feature Count: (\d+)", out)
    fields = sorted(m.group(1) for m in re.finditer(r"^(\w+): (?:String|Real|Integer64|Integer)", out, re.M))
    return (int(n.group(1)) if n else None), fields


def verify(tiles):
    """Both servers: 200 and non-empty for every tile; GDAL decodes a few per zoom."""
    report = {}
    for z in ZOOMS:
        bad, sizes = [], {"bm": [], "martin": []}
        for x, y in tiles[z]:
            for s, port in (("bm", PORTS["bm_nocache"]), ("martin", PORTS["martin_nocache"])):
                st, body = get(port, tile_path(s, z, x, y))
                if st != 200 or not body:
                    bad.append((s, z, x, y, st))
                sizes[s].append(len(body))
        decoded = []
        for x, y in tiles[z][:3]:
            row = {"tile": f"{z}/{x}/{y}"}
            for s, port in (("bm", PORTS["bm_nocache"]), ("martin", PORTS["martin_nocache"])):
                f = os.path.join(WORK, f"{s}_{z}_{x}_{y}.mvt")
                with open(f, "wb") as fh:
                    fh.write(get(port, tile_path(s, z, x, y))[1])
                row[s + "_features"], row[s + "_fields"] = ogr_summary(f)
            decoded.append(row)
        report[z] = {"tiles": len(tiles[z]), "not_ok": bad, "bm_median_bytes": int(statistics.median(sizes["bm"])),
                     "martin_median_bytes": int(statistics.median(sizes["martin"])), "decoded": decoded}
    return report


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def single_times(tiles):
    out = {}
    for z in ZOOMS:
        rounds = 10 if len(tiles[z]) < 50 else 1
        t = {"bm": [], "martin": []}
        for _ in range(rounds):
            for x, y in tiles[z]:
                for s, port in (("bm", PORTS["bm_nocache"]), ("martin", PORTS["martin_nocache"])):
                    t0 = time.perf_counter()
                    st, body = get(port, tile_path(s, z, x, y))
                    t[s].append((time.perf_counter() - t0) * 1000)
                    if st != 200:
                        sys.exit(f"{s} {z}/{x}/{y}: status {st}")
        out[z] = {s: {"n": len(v), "p50_ms": round(pct(v, 50), 2), "p99_ms": round(pct(v, 99), 2)} for s, v in t.items()}
    return out


LUA = r"""
local paths, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
  if args[2] == "gzip" then wrk.headers["Accept-Encoding"] = "gzip" end
end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def cpu_busy(seconds=1.0):
    """Share of all cores that other work (not our servers, PostgreSQL cluster or wrk) kept
    busy over the next `seconds`, from /proc (niced work counts: from another session it
    competes at full weight)."""
    t0, b0, o0 = *stat_jiffies(), our_jiffies()
    time.sleep(seconds)
    t1, b1, o1 = *stat_jiffies(), our_jiffies()
    return max(0.0, (b1 - b0) - (o1 - o0)) / max(1, t1 - t0)


PATIENCE = [120.0]


def wait_quiet(limit=0.25):
    """Before a timed run: wait (up to `patience` s) until other work leaves the cores idle."""
    t = time.time()
    busy = cpu_busy()
    while busy > limit and time.time() - t < PATIENCE[0]:
        busy = cpu_busy(2.0)
    if busy > limit and PATIENCE[0] > 0:
        log(f"  machine still {busy:.0%} busy after {PATIENCE[0]:g} s; measuring anyway")
    return round(busy, 2)


def stat_jiffies():
    v = list(map(int, open("/proc/stat").readline().split()[1:9]))
    return sum(v), sum(v) - v[3] - v[4]   # total, busy


def our_jiffies():
    """CPU time (jiffies) of the servers we started and of our PostgreSQL cluster's processes."""
    pids = {p.pid for p in procs}
    try:
        pids.add(int(open(os.path.join(PG_DIR, "postmaster.pid")).readline()))
    except (OSError, ValueError):
        pass
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) in pids:   # utime + stime, and cutime + cstime: children that have exited
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        elif int(f[1]) in pids:   # f[1]: parent pid (running PostgreSQL backends, parallel workers)
            total += int(f[11]) + int(f[12])
    return total


def wrk(port, paths, seconds, conns, threads, label, gzip=False):
    lst = os.path.join(WORK, f"paths_{label}.txt")
    with open(lst, "w") as f:
        f.write("\n".join(paths) + "\n")
    lua = os.path.join(WORK, "walk.lua")
    with open(lua, "w") as f:
        f.write(LUA)
    idle_busy = wait_quiet()
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", lua, f"http://127.0.0.1:{port}", "--", lst] + (["gzip"] if gzip else [])
    t0, b0, o0, c0 = *stat_jiffies(), our_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    t1, b1, o1, c1 = *stat_jiffies(), our_jiffies(), resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_j = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) * os.sysconf("SC_CLK_TCK")
    other = max(0.0, (b1 - b0) - (o1 - o0) - wrk_j) / max(1, t1 - t0)
    with open(os.path.join(WORK, f"wrk_{label}.txt"), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)

    def num(pat, default=0.0):
        m = re.search(pat, out)
        return float(m.group(1)) if m else default

    def ms(pat):
        m = re.search(pat + r"\s+([0-9.]+)(us|ms|s)\b", out)
        if not m:
            return None
        return round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 2)

    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": num(r"Requests/sec:\s+([0-9.]+)"), "requests": int(num(r"(\d+) requests in")), "p50_ms": ms(r"50%"), "p99_ms": ms(r"99%"),
            "non_2xx": int(num(r"Non-2xx or 3xx responses: (\d+)")), "socket_errors": sum(map(int, errs.groups())) if errs else 0,
            "transfer": (re.search(r"Transfer/sec:\s+(\S+)", out) or [None, None])[1], "busy_before": idle_busy, "other_during": round(other, 2)}


def binary_info():
    """The buurtmeter binary the servers start from (it may be rebuilt while we run)."""
    mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.stat(BUURTMETER).st_mtime))
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    return f"binary built {mtime}, worktree {head}{'+changes' if dirty else ''}"


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/nat")
    ap.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=200, help="tiles per zoom (z11, z14)")
    ap.add_argument("--hot", type=int, default=20, help="tiles per zoom in the cached hot set")
    ap.add_argument("--rounds", type=int, default=3, help="wrk rounds (server order alternates); the median ratio is judged")
    ap.add_argument("--gzip", action="store_true", help="wrk sends Accept-Encoding: gzip (as browsers do)")
    ap.add_argument("--patience", type=float, default=120, help="max seconds to wait for a quiet machine before each timed part (0: no wait)")
    a = ap.parse_args()
    PATIENCE[0] = a.patience
    for tool in (BUURTMETER, MARTIN):
        if not os.access(tool, os.X_OK):
            sys.exit(f"missing {tool}")
    project = os.path.join(a.data, "national.toml")
    os.makedirs(WORK, exist_ok=True)
    atexit.register(cleanup)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t_start = time.time()
    load0 = os.getloadavg()

    start_pg()
    bm_build = binary_info()
    log("starting buurtmeter (no tile cache) ...")
    bm0 = start_buurtmeter("bm_nocache", project, ["--tile-cache-mb", "0"], wait=False)
    bm_ready = wait_buurtmeter(bm0)
    log(f"  ready in {bm_ready:.1f} s; starting buurtmeter (256 MB tile cache), loading PostGIS ...")
    bm1 = start_buurtmeter("bm_cache", project, ["--tile-cache-mb", "256"], wait=False)
    subprocess.run(["bash", os.path.join(HERE, "load_pg.sh"), CONN, f"http://127.0.0.1:{PORTS['bm_nocache']}", os.path.join(a.data, "national.gpkg")], check=True)
    wait_buurtmeter(bm1)
    start_martin("martin_nocache", "cache: disable")
    start_martin("martin_cache", "")
    log("servers up; picking and checking tiles ...")

    versions = {"buurtmeter": f"{version([BUURTMETER, '--version'])} ({bm_build}; data version "
                              f"{json.loads(get(PORTS['bm_nocache'], '/health')[1])['data_version']})", "martin": version([MARTIN, "--version"]),
                "postgis": psql("SELECT postgis_full_version()").split(" PGSQL")[0].strip(), "postgresql": psql("SHOW server_version").strip(),
                "wrk": version(["wrk", "-v"]), "gdal": version(["ogrinfo", "--version"])}
    tiles, totals = pick_tiles(a.sample)
    check = verify(tiles)
    for z in ZOOMS:
        if check[z]["not_ok"]:
            log(f"WARNING z{z}: not 200/non-empty: {check[z]['not_ok'][:10]}")
    log("single-request times (uncached) ...")
    wait_quiet()
    single = single_times(tiles)

    log("wrk runs ...")
    load, allruns = {}, []
    servers = [("bm", ("bm_nocache", "bm_cache")), ("martin", ("martin_nocache", "martin_cache"))]
    for rnd in range(a.rounds):
        for z in ZOOMS:
            hot = tiles[z][: a.hot]
            for s, (nc, c) in (servers if rnd % 2 == 0 else servers[::-1]):
                paths = [tile_path(s, z, x, y) for x, y in tiles[z]]
                hot_paths = [tile_path(s, z, x, y) for x, y in hot]
                for p in hot_paths:
                    get(PORTS[c], p)
                for mode, port, pp in (("uncached", PORTS[nc], paths), ("cached", PORTS[c], hot_paths)):
                    r = wrk(port, pp, a.seconds, a.connections, a.threads, f"{s}_z{z}_{mode}_r{rnd}", a.gzip)
                    r["round"] = rnd
                    allruns.append({"zoom": z, "server": s, "mode": mode, **r})
                    if (z, s, mode) not in load or r["rps"] > load[(z, s, mode)]["rps"]:
                        load[(z, s, mode)] = r
                log(f"  round {rnd} z{z} {s}: uncached {allruns[-2]['rps']:.0f} req/s, cached {allruns[-1]['rps']:.0f} req/s")
    floor = {s: wrk(PORTS[c], ["/health"], a.seconds, a.connections, a.threads, f"{s}_health", a.gzip)
             for s, c in (("bm", "bm_cache"), ("martin", "martin_cache"))}
    entries = re.search(r"^buurtmeter_tile_cache_entries (\d+)", get(PORTS["bm_nocache"], "/metrics")[1].decode(), re.M)
    entries_cached = re.search(r"^buurtmeter_tile_cache_entries (\d+)", get(PORTS["bm_cache"], "/metrics")[1].decode(), re.M)
    martin_log = open(os.path.join(WORK, "martin_nocache.log")).read()

    # summary
    print(f"== tiles: buurtmeter vs Martin on PostGIS, national synthetic buurten ({a.data}), "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores (shared; load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f})")
    for k, v in versions.items():
        print(f"  {k}: {v}")
    print(f"  tiles intersecting a buurt: " + ", ".join(f"z{z} {totals[z]}" for z in ZOOMS)
          + f"; sample: " + ", ".join(f"z{z} {len(tiles[z])}" for z in ZOOMS))
    print(f"  buurtmeter start-up {bm_ready:.0f} s; uncached servers: buurtmeter --tile-cache-mb 0 (cache entries after the run: "
          f"{entries.group(1) if entries else '?'}), Martin 'cache: disable' ({'Tile caching is disabled' in martin_log and 'confirmed in its log' or 'NOT confirmed'})")
    print("-- check: every sampled tile 200 and non-empty on both; GDAL MVT decode of the first 3 per zoom")
    for z in ZOOMS:
        c = check[z]
        dec = "; ".join(f"{d['tile']}: {d['bm_features']} vs {d['martin_features']} features" for d in c["decoded"])
        print(f"  z{z}: not ok {len(c['not_ok'])}, median bytes buurtmeter {c['bm_median_bytes']} / Martin {c['martin_median_bytes']}; {dec}")
    d0 = check[ZOOMS[0]]["decoded"][0]
    print(f"  fields buurtmeter: {','.join(d0['bm_fields'])}\n  fields Martin:     {','.join(d0['martin_fields'])}")
    print("-- single requests, uncached (ms, one connection)")
    print(f"  {'zoom':<5}{'n':>5} {'bm p50':>8}{'bm p99':>8} {'Martin p50':>11}{'Martin p99':>11}  {'Martin/bm p50':>13}")
    for z in ZOOMS:
        b, m = single[z]["bm"], single[z]["martin"]
        print(f"  z{z:<4}{b['n']:>5} {b['p50_ms']:>8}{b['p99_ms']:>8} {m['p50_ms']:>11}{m['p99_ms']:>11}  {m['p50_ms'] / b['p50_ms']:>12.2f}x")
    print(f"-- wrk -t{a.threads} -c{a.connections} -d{a.seconds}s{' Accept-Encoding: gzip' if a.gzip else ''}, {a.rounds} rounds "
          f"(server order alternating): best round, requests/s (p50/p99 ms) [non-2xx, socket errors]; ratio of the best rounds "
          f"and of the medians; the target is judged on the median ratio")
    print(f"  {'zoom':<5}{'mode':<9}{'buurtmeter':>28}{'Martin':>28}  {'best':>6} {'median':>6}  target")
    ok_all = True
    for z in ZOOMS:
        for mode in ("uncached", "cached"):
            b, m = load[(z, "bm", mode)], load[(z, "martin", mode)]
            runs = {srv: [r["rps"] for r in allruns if (r["zoom"], r["server"], r["mode"]) == (z, srv, mode)] for srv in ("bm", "martin")}
            ratio = b["rps"] / m["rps"] if m["rps"] else float("inf")
            med = statistics.median(runs["bm"]) / statistics.median(runs["martin"]) if statistics.median(runs["martin"]) else float("inf")
            need = 2.0 if mode == "uncached" else 1.0
            met = med >= need
            ok_all &= met
            fmt = lambda r: f"{r['rps']:.0f} ({r['p50_ms']}/{r['p99_ms']}) [{r['non_2xx']},{r['socket_errors']}]"  # noqa: E731
            busy = max(r["busy_before"] for r in allruns if (r["zoom"], r["mode"]) == (z, mode))
            during = max(r["other_during"] for r in allruns if (r["zoom"], r["mode"]) == (z, mode))
            print(f"  z{z:<4}{mode:<9}{fmt(b):>28}{fmt(m):>28}  {ratio:>5.2f}x {med:>5.2f}x  >={need:g}x {'met' if met else 'NOT met':<8} "
                  f"rounds {'/'.join(f'{x:.0f}' for x in runs['bm'])} | {'/'.join(f'{x:.0f}' for x in runs['martin'])}; "
                  f"other work before/during <= {busy:.0%}/{during:.0%}")
    hb, hm = floor["bm"], floor["martin"]
    print(f"  for context, GET /health with the same wrk settings: buurtmeter {hb['rps']:.0f} req/s (a JSON status document), "
          f"Martin {hm['rps']:.0f} req/s (a static 'OK')")
    print(f"  all targets met: {ok_all}; cached hot set {a.hot} tiles/zoom (buurtmeter cache entries {entries_cached.group(1) if entries_cached else '?'}); "
          f"raw wrk output in {WORK}/wrk_*.txt; total {time.time() - t_start:.0f} s")
    with open(OUT, "w") as f:
        json.dump({"versions": versions, "totals": totals, "check": {str(k): v for k, v in check.items()},
                   "single": {str(k): v for k, v in single.items()},
                   "wrk_best": [{"zoom": z, "server": s, "mode": m, **r} for (z, s, m), r in load.items()], "wrk_all": allruns, "health_floor": floor,
                   "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
