//! Hot spots against PySAL, run here from tests/reference/requirements.txt (libpysal 4.14,
//! esda 2.9): the queen and rook neighbours of the real Heerlen buurten and of all Dutch
//! wijken of 2022 equal libpysal's `Queen`/`Rook.from_dataframe`; global and local Moran's
//! I, the quadrants and Gi* (values and z-scores) equal esda's to 1e-9 on the same values
//! and weights; permutation p-values agree with esda's within Monte Carlo error.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Server, example_copy, run_reference, shared_data};
use serde_json::{Value, json};

fn get(server: &Server, path: &str) -> Value {
    let (status, body) = server.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// libpysal's neighbours of a layer, by the id field.
const LIBPYSAL_WEIGHTS: &str = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import geopandas as gpd
from libpysal.weights import Queen, Rook
a = json.load(sys.stdin)
df = gpd.read_file(a["path"], layer=a["layer"])
out = {}
for name, cls in [("queen", Queen), ("rook", Rook)]:
    w = cls.from_dataframe(df, ids=a["id"], use_index=False)
    out[name] = {str(k): sorted(str(x) for x in v) for k, v in w.neighbors.items()}
print(json.dumps(out))
"#;

/// Compare buurtmeter's /weights with libpysal's; returns the differing pairs.
fn compare_weights(server: &Server, level: &str, reference: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    for rule in ["queen", "rook"] {
        let ours = get(server, &format!("/weights/{level}?type={rule}"));
        let ours = ours["neighbours"].as_object().unwrap();
        let theirs = reference[rule].as_object().unwrap();
        let codes: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
        for c in codes {
            let set = |v: Option<&Value>| -> BTreeSet<String> {
                v.and_then(Value::as_array).map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
            };
            let (a, b) = (set(ours.get(c.as_str())), set(theirs.get(c.as_str())));
            for x in a.symmetric_difference(&b) {
                diffs.push(format!("{rule}: {c}–{x} ({})", if a.contains(x) { "only buurtmeter" } else { "only libpysal" }));
            }
        }
    }
    diffs
}

#[test]
fn contiguity_equals_libpysal_on_heerlen_buurten_and_all_dutch_wijken() {
    let Some(buurten) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else { return };
    let Some(wijken) = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let reference = run_reference(LIBPYSAL_WEIGHTS, &json!({"path": buurten, "layer": "buurten_rd", "id": "CBS-buurtcode"}));
    let diffs = compare_weights(&server, "buurten", &reference);
    assert!(diffs.is_empty(), "Heerlen buurten differ from libpysal: {diffs:?}");
    // All 3,340 wijken of 2022, one level, no region.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wijken.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"wijken 2022\"\n[[levels]]\nid = \"wijken\"\npath = \"{}\"\nlayer = \"wijken\"\nid_field = \"code\"\n",
            wijken.display()
        ),
    )
    .unwrap();
    let server = Server::start(&["--project", file.to_str().unwrap()]);
    let w = get(&server, "/weights/wijken?type=queen");
    assert_eq!(w["areas"], 3340);
    let reference = run_reference(LIBPYSAL_WEIGHTS, &json!({"path": wijken, "layer": "wijken", "id": "code"}));
    let diffs = compare_weights(&server, "wijken", &reference);
    // The one known difference: libpysal's rook takes consecutive boundary points as edges,
    // so a vertex repeated in both polygons is a zero-length "edge" they share, and two
    // wijken that touch in one point become rook neighbours. buurtmeter's edges have two
    // distinct ends. Every pair only libpysal has must be that case, checked with GEOS.
    let pairs: Vec<(String, String)> = diffs
        .iter()
        .map(|d| {
            assert!(d.starts_with("rook: ") && d.ends_with("(only libpysal)"), "an unexplained difference from libpysal: {d}");
            let (a, b) = d["rook: ".len()..].split_once(" (").unwrap().0.split_once('–').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    let why = run_reference(
        r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import geopandas as gpd
from libpysal.weights._contW_lists import _get_boundary_points
a = json.load(sys.stdin)
df = gpd.read_file(a["path"], layer="wijken").set_index("code")
def edges(g):
    v = _get_boundary_points(g)
    return {tuple(sorted([v[i], v[i + 1]])) for i in range(len(v) - 1)}
out = []
for x, y in a["pairs"]:
    shared = edges(df.loc[x].geometry) & edges(df.loc[y].geometry)
    out.append({"pair": [x, y], "degenerate_only": all(e[0] == e[1] for e in shared), "touch": df.loc[x].geometry.intersection(df.loc[y].geometry).geom_type})
print(json.dumps(out))
"#,
        &json!({"path": wijken, "pairs": pairs}),
    );
    for r in why.as_array().unwrap() {
        assert!(r["degenerate_only"] == true && r["touch"] == "Point", "not the zero-length-edge case: {r}");
    }
    eprintln!(
        "national wijken: {} rook pairs only in libpysal, all wijken touching in one point with a repeated vertex: {pairs:?}",
        pairs.len() / 2
    );
    eprintln!("national wijken: {} islands, {} components", w["islands"].as_array().unwrap().len(), w["components"]);
}

/// esda on the values and weights the server used.
const ESDA: &str = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from libpysal.weights import W
import esda
a = json.load(sys.stdin)
codes = a["codes"]
y = np.array(a["values"], dtype=float)
w = W({c: a["neighbours"][c] for c in codes}, id_order=codes, silence_warnings=True)
g = esda.Moran(y, w, transformation="r", permutations=999)
l = esda.Moran_Local(y, w, transformation="r", permutations=999, seed=12345)
w.transform = "b"
gi = esda.G_Local(y, w, transform="R", star=True, permutations=999, seed=12345)
w.transform = "b"
g0 = esda.G_Local(y, w, transform="R", star=False, permutations=0)
print(json.dumps({
    "I": g.I, "EI": g.EI, "z_norm": g.z_norm, "p_norm": g.p_norm, "p_sim_global": g.p_sim,
    "Is": l.Is.tolist(), "q": l.q.tolist(), "p_sim": l.p_sim.tolist(),
    "G": gi.Gs.tolist(), "Z": gi.Zs.tolist(), "gi_p_sim": gi.p_sim.tolist(),
    "G0": g0.Gs.tolist(), "Z0": g0.Zs.tolist(),
}))
"#;

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: buurtmeter {a} vs esda {b}");
}

/// Both p-values estimate the same probability from 999 permutations each: their
/// difference over its standard error sqrt(2·p(1−p)/999) must stay within 5 for every area
/// (a two-sample test on binomial proportions; 5 makes a false alarm over all areas
/// practically impossible while a wrong p-value, off by 0.05 or more, still fails).
fn p_values_agree(ours: &[Option<f64>], theirs: &[f64], what: &str) -> f64 {
    let mut worst: f64 = 0.0;
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let Some(a) = a else { continue };
        let pbar = ((a + b) / 2.0).clamp(1.0 / 1000.0, 0.5);
        let se = (2.0 * pbar * (1.0 - pbar) / 999.0).sqrt();
        let z = (a - b).abs() / se;
        worst = worst.max(z);
        assert!(z < 5.0, "{what} area {k}: p_sim {a} vs esda {b} (z = {z:.2})");
    }
    worst
}

#[test]
fn moran_and_gi_star_equal_esda_on_heerlen_buurten() {
    let Some(_) = shared_data("heerlen_buurten_2023") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    for indicator in ["bijstand_per_1000", "ao_per_1000"] {
        let lm = get(&server, &format!("/indicators/{indicator}/hotspots?level=buurten&method=local_moran"));
        let gs = get(&server, &format!("/indicators/{indicator}/hotspots?level=buurten&method=gi_star"));
        let rows: Vec<&Value> = lm["areas"].as_array().unwrap().iter().filter(|r| r["value"].is_f64()).collect();
        let codes: Vec<String> = rows.iter().map(|r| r["code"].as_str().unwrap().to_string()).collect();
        let values: Vec<f64> = rows.iter().map(|r| r["value"].as_f64().unwrap()).collect();
        // The served weights, limited to the areas with a value (as the server does).
        let w = get(&server, "/weights/buurten?type=queen");
        let keep: BTreeSet<&String> = codes.iter().collect();
        let neighbours: BTreeMap<&String, Vec<String>> = codes
            .iter()
            .map(|c| {
                let l = w["neighbours"][c.as_str()]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .filter(|x| keep.contains(x))
                    .collect();
                (c, l)
            })
            .collect();
        let e = run_reference(ESDA, &json!({"codes": codes, "values": values, "neighbours": neighbours}));
        let g = &lm["global_moran"];
        close(g["I"].as_f64().unwrap(), e["I"].as_f64().unwrap(), "global I");
        close(g["expected"].as_f64().unwrap(), e["EI"].as_f64().unwrap(), "E[I]");
        close(g["z_norm"].as_f64().unwrap(), e["z_norm"].as_f64().unwrap(), "z_norm");
        close(g["p_norm"].as_f64().unwrap(), e["p_norm"].as_f64().unwrap(), "p_norm");
        let gi_rows: Vec<&Value> = gs["areas"].as_array().unwrap().iter().filter(|r| r["value"].is_f64()).collect();
        let g0 = get(&server, &format!("/indicators/{indicator}/hotspots?level=buurten&method=gi&permutations=0"));
        let g0_rows: Vec<&Value> = g0["areas"].as_array().unwrap().iter().filter(|r| r["value"].is_f64()).collect();
        let mut lisa_p = Vec::new();
        let mut gi_p = Vec::new();
        for k in 0..rows.len() {
            close(rows[k]["local_i"].as_f64().unwrap(), e["Is"][k].as_f64().unwrap(), &format!("{indicator} {} local I", codes[k]));
            assert_eq!(rows[k]["quadrant"].as_i64(), e["q"][k].as_i64(), "{indicator} {} quadrant", codes[k]);
            close(gi_rows[k]["g"].as_f64().unwrap(), e["G"][k].as_f64().unwrap(), &format!("{indicator} {} Gi*", codes[k]));
            close(gi_rows[k]["z"].as_f64().unwrap(), e["Z"][k].as_f64().unwrap(), &format!("{indicator} {} Gi* z", codes[k]));
            close(g0_rows[k]["g"].as_f64().unwrap(), e["G0"][k].as_f64().unwrap(), &format!("{indicator} {} Gi", codes[k]));
            close(g0_rows[k]["z"].as_f64().unwrap(), e["Z0"][k].as_f64().unwrap(), &format!("{indicator} {} Gi z", codes[k]));
            lisa_p.push(rows[k]["p_sim"].as_f64());
            gi_p.push(gi_rows[k]["p_sim"].as_f64());
        }
        let to_vec = |k: &str| e[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<f64>>();
        let worst_lisa = p_values_agree(&lisa_p, &to_vec("p_sim"), "local Moran");
        let worst_gi = p_values_agree(&gi_p, &to_vec("gi_p_sim"), "Gi*");
        eprintln!(
            "{indicator}: {} buurten equal esda; p_sim differences at most z = {worst_lisa:.2} (LISA), {worst_gi:.2} (Gi*)",
            rows.len()
        );
    }
}

/// The statistics read published values only: on a protected layer (the demo's flood
/// reports, cell-key method) the areas' values in the hot-spot response are the values the
/// indicator API publishes, and a restricted indicator's hot spots are an unknown id.
#[test]
fn hot_spots_use_published_values_only() {
    let server = Server::start(&["--project", common::demo_project().to_str().unwrap()]);
    let h = get(&server, "/indicators/wateroverlast_per_1000_inw/hotspots?level=buurten&method=gi_star&permutations=99");
    let api = get(&server, "/indicators/wateroverlast_per_1000_inw?level=buurten");
    let published: BTreeMap<&str, &Value> =
        api["values"].as_array().unwrap().iter().map(|r| (r["code"].as_str().unwrap(), &r["value"])).collect();
    for r in h["areas"].as_array().unwrap() {
        assert_eq!(&r["value"], published[r["code"].as_str().unwrap()], "{r}");
    }
    let (status, body) = server.get("/indicators/nope/hotspots?level=buurten");
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.get("/indicators/wateroverlast_per_1000_inw/hotspots?level=buurten&permutations=100000");
    assert_eq!(status, 400);
}

/// `hotspots = { … }` on an indicator (the Heerlen example's bijstand_per_1000): the
/// clusters are in the area layers (OGC API here; tiles and GeoPackage share the
/// properties) and equal what the hot-spot endpoint answers with the same settings.
#[test]
fn configured_hot_spots_are_in_the_area_layers() {
    let Some(_) = shared_data("heerlen_buurten_2023") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let list = get(&server, "/indicators");
    let h = &list["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "bijstand_per_1000").unwrap()["hotspots"];
    assert_eq!(h["method"], "local_moran");
    let served = get(&server, "/indicators/bijstand_per_1000/hotspots?level=buurten");
    let items = get(&server, "/ogc/collections/buurten/items?limit=100&f=json");
    let mut clusters = 0;
    for f in items["features"].as_array().unwrap() {
        let code = f["properties"]["code"].as_str().unwrap();
        let row = served["areas"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap();
        assert_eq!(f["properties"].get("bijstand_per_1000_hotspot").unwrap_or(&Value::Null), &row["cluster"], "{code}");
        clusters += usize::from(row["cluster"].as_str().is_some_and(|c| c != "not_significant"));
    }
    assert!(clusters > 0, "no significant cluster among Heerlen's buurten");
    // The GeoPackage: the clusters as a field of the level layers, with a categorised
    // QGIS style for them in layer_styles (read back with GDAL's SQL).
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("heerlen.gpkg");
    let run = common::buurtmeter(&["export", "--project", project.to_str().unwrap(), "--gpkg", gpkg.to_str().unwrap()]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let rows = common::ogr_sql(
        &gpkg,
        "select count(*) as n from buurten where bijstand_per_1000_hotspot in ('high_high', 'low_low', 'high_low', 'low_high')",
    );
    assert_eq!(rows[0][0].1.parse::<usize>().unwrap(), clusters);
    let styles = common::ogr_sql(
        &gpkg,
        "select count(*) as n from layer_styles where f_table_name = 'buurten' and styleName like '%clusters' and styleQML like '%categorizedSymbol%' and styleQML like '%attr=\"bijstand_per_1000_hotspot\"%'",
    );
    assert_eq!(styles[0][0].1, "1", "a categorised QGIS style on the clusters");
}

/// Empirical-Bayes rates (`eb=true`): local Moran's I on esda's `assuncao_rate` of the
/// published numerators and denominators equals esda's `Moran_Local_Rate(adjusted=True)`,
/// and global Moran's I equals `Moran_Rate(adjusted=True)`, to 1e-9.
#[test]
fn empirical_bayes_rates_equal_esda() {
    let Some(_) = shared_data("heerlen_buurten_2023") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let h = get(&server, "/indicators/ww_per_1000/hotspots?level=buurten&method=local_moran&eb=true&permutations=99");
    assert_eq!(h["method"]["empirical_bayes"], true);
    let api = get(&server, "/indicators/ww_per_1000?level=buurten");
    let rows: Vec<&Value> = h["areas"].as_array().unwrap().iter().filter(|r| r["local_i"].is_f64()).collect();
    let codes: Vec<String> = rows.iter().map(|r| r["code"].as_str().unwrap().to_string()).collect();
    let row_of = |c: &str| api["values"].as_array().unwrap().iter().find(|r| r["code"] == c).unwrap().clone();
    let e: Vec<f64> = codes.iter().map(|c| row_of(c)["numerator"].as_f64().unwrap()).collect();
    let b: Vec<f64> = codes.iter().map(|c| row_of(c)["denominator"].as_f64().unwrap()).collect();
    let w = get(&server, "/weights/buurten?type=queen");
    let keep: BTreeSet<&String> = codes.iter().collect();
    let neighbours: BTreeMap<&String, Vec<String>> = codes
        .iter()
        .map(|c| {
            (
                c,
                w["neighbours"][c.as_str()]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .filter(|x| keep.contains(x))
                    .collect(),
            )
        })
        .collect();
    let r = run_reference(
        r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from libpysal.weights import W
import esda
a = json.load(sys.stdin)
w = W({c: a["neighbours"][c] for c in a["codes"]}, id_order=a["codes"], silence_warnings=True)
e, b = np.array(a["e"]), np.array(a["b"])
l = esda.Moran_Local_Rate(e, b, w, adjusted=True, transformation="r", permutations=0)
g = esda.Moran_Rate(e, b, w, adjusted=True, transformation="r", permutations=0)
print(json.dumps({"Is": l.Is.tolist(), "q": l.q.tolist(), "y": esda.smoothing.assuncao_rate(e, b).tolist(), "I": g.I}))
"#,
        &json!({"codes": codes, "e": e, "b": b, "neighbours": neighbours}),
    );
    for (k, row) in rows.iter().enumerate() {
        close(row["value"].as_f64().unwrap(), r["y"][k].as_f64().unwrap(), &format!("{} EB rate", codes[k]));
        close(row["local_i"].as_f64().unwrap(), r["Is"][k].as_f64().unwrap(), &format!("{} EB local I", codes[k]));
        assert_eq!(row["quadrant"].as_i64(), r["q"][k].as_i64(), "{}", codes[k]);
    }
    close(h["global_moran"]["I"].as_f64().unwrap(), r["I"].as_f64().unwrap(), "EB global I");
    assert!(rows.len() > 50);
}

/// k nearest neighbours and the distance band on the areas' interior points (given in the
/// response) equal libpysal's `KNN` and `DistanceBand` on the same points.
#[test]
fn knn_and_distance_band_equal_libpysal_on_the_same_points() {
    let Some(_) = shared_data("heerlen_buurten_2023") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    for (query, kind) in [("type=knn&k=5", "knn"), ("type=distance&threshold=1200", "distance")] {
        let w = get(&server, &format!("/weights/buurten?{query}"));
        let points = w["points"].as_object().unwrap();
        let codes: Vec<&String> = points.keys().collect();
        let r = run_reference(
            r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from libpysal.weights import KNN, DistanceBand
a = json.load(sys.stdin)
pts = np.array([a["points"][c] for c in a["codes"]])
w = KNN.from_array(pts, k=5, ids=a["codes"]) if a["kind"] == "knn" else DistanceBand.from_array(pts, threshold=1200, binary=True, ids=a["codes"], silence_warnings=True)
print(json.dumps({str(k): sorted(str(x) for x in v) for k, v in w.neighbors.items()}))
"#,
            &json!({"codes": codes, "points": points, "kind": kind}),
        );
        for c in &codes {
            let ours: BTreeSet<String> =
                w["neighbours"][c.as_str()].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
            let theirs: BTreeSet<String> = r[c.as_str()].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
            assert_eq!(ours, theirs, "{kind} {c}");
        }
    }
    // Global Moran's I on the (one-way) nearest-neighbour weights equals esda's: S1 and S2
    // for weights that are not symmetric.
    let h = get(&server, "/indicators/bijstand_per_1000/hotspots?level=buurten&weights=knn&k=6&permutations=99");
    assert_eq!(h["method"]["weights"]["type"], "knn");
    let rows: Vec<&Value> = h["areas"].as_array().unwrap().iter().filter(|r| r["value"].is_f64()).collect();
    let codes: Vec<String> = rows.iter().map(|r| r["code"].as_str().unwrap().to_string()).collect();
    let keep: BTreeSet<&String> = codes.iter().collect();
    let w = get(&server, "/weights/buurten?type=knn&k=6");
    let neighbours: BTreeMap<&String, Vec<String>> = codes
        .iter()
        .map(|c| {
            (
                c,
                w["neighbours"][c.as_str()]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .filter(|x| keep.contains(x))
                    .collect(),
            )
        })
        .collect();
    let values: Vec<f64> = rows.iter().map(|r| r["value"].as_f64().unwrap()).collect();
    let r = run_reference(
        r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from libpysal.weights import W
import esda
a = json.load(sys.stdin)
w = W({c: a["neighbours"][c] for c in a["codes"]}, id_order=a["codes"], silence_warnings=True)
g = esda.Moran(np.array(a["values"]), w, transformation="r", permutations=0)
print(json.dumps({"I": g.I, "z_norm": g.z_norm}))
"#,
        &json!({"codes": codes, "values": values, "neighbours": neighbours}),
    );
    close(h["global_moran"]["I"].as_f64().unwrap(), r["I"].as_f64().unwrap(), "knn global I");
    close(h["global_moran"]["z_norm"].as_f64().unwrap(), r["z_norm"].as_f64().unwrap(), "knn z_norm");
}

/// Emerging hot spots: each period's hot and cold spots are exactly the significant Gi*
/// results of that period (the same endpoint, method=gi_star, same seed and
/// permutations), and every area's category follows from its spots and z-scores by the
/// written definitions (checked for the categories that need no trend: new, consecutive,
/// historical, sporadic, oscillating).
#[test]
fn emerging_hot_spots_follow_from_gi_star_per_period() {
    let Some(_) = shared_data("heerlen_buurten_2023") else { return };
    let (_dir, project) = example_copy("heerlen", |t| t);
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let e = get(&server, "/indicators/bijstand_per_1000/hotspots?level=buurten&method=emerging&permutations=199&seed=7");
    let periods: Vec<String> = serde_json::from_value(e["periods"].clone()).unwrap();
    assert_eq!(periods.len(), 45);
    for p in [0usize, 22, 44] {
        let g = get(
            &server,
            &format!(
                "/indicators/bijstand_per_1000/hotspots?level=buurten&method=gi_star&permutations=199&seed=7&global_permutations=0&period={}",
                periods[p]
            ),
        );
        for (row, gi) in e["areas"].as_array().unwrap().iter().zip(g["areas"].as_array().unwrap()) {
            let want = match (gi["significant"].as_bool(), gi["z"].as_f64()) {
                (Some(true), Some(z)) if z > 0.0 => 1,
                (Some(true), Some(_)) => -1,
                _ => 0,
            };
            assert_eq!(row["spots"][p].as_i64(), Some(want), "{} {}", row["code"], periods[p]);
            assert_eq!(row["z"][p].as_f64(), gi["z"].as_f64(), "{} {}", row["code"], periods[p]);
        }
    }
    let mut categories = BTreeSet::new();
    for row in e["areas"].as_array().unwrap() {
        let spots: Vec<i64> = row["spots"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
        let n = spots.len();
        let (hot, cold) = (spots.iter().filter(|&&s| s == 1).count(), spots.iter().filter(|&&s| s == -1).count());
        let cat = row["category"].as_str().unwrap();
        categories.insert(cat.to_string());
        match cat {
            "new" => assert!(hot == 1 && spots[n - 1] == 1),
            "consecutive" => {
                assert!(spots[n - 1] == 1 && hot >= 2 && (hot as f64) < 0.9 * n as f64 && spots[n - hot..].iter().all(|&s| s == 1))
            }
            "historical" => assert!(spots[n - 1] != 1 && hot as f64 >= 0.9 * n as f64),
            "sporadic" => assert!(spots[n - 1] == 1 && (hot as f64) < 0.9 * n as f64 && cold == 0),
            "oscillating" => assert!(spots[n - 1] == 1 && cold > 0),
            "intensifying" | "persistent" | "diminishing" => assert!(spots[n - 1] == 1 && hot as f64 >= 0.9 * n as f64, "{row}"),
            "no_pattern" => assert!(spots[n - 1] == 0 || hot + cold == 0 || (hot as f64) < 0.9 * n as f64),
            _ => assert!(cat.ends_with("_cold"), "{cat}"),
        }
    }
    assert!(categories.len() > 2, "{categories:?}");
}

/// A period without variation (a month without reports: every buurt 0) has no clusters:
/// the endpoint says so instead of calling every area significant, and emerging hot spots
/// leave such periods out (no spot, no z).
#[test]
fn a_period_without_variation_has_no_clusters() {
    let server = Server::start(&["--project", common::demo_project().to_str().unwrap()]);
    // The months in which every buurt published 0.
    let list = get(&server, "/indicators");
    let ind = list["indicators"].as_array().unwrap().iter().find(|i| i["id"] == "water_in_huis_per_maand").unwrap();
    let empty: Vec<String> = ind["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .filter(|p| {
            let v = get(&server, &format!("/indicators/water_in_huis_per_maand?level=buurten&period={p}"));
            v["values"].as_array().unwrap().iter().all(|r| r["value"].as_f64() == Some(0.0))
        })
        .collect();
    assert!(!empty.is_empty(), "the demo has a month without reports");
    for period in &empty {
        let (status, body) = server
            .get(&format!("/indicators/water_in_huis_per_maand/hotspots?level=buurten&period={period}&method=gi_star&permutations=99"));
        assert_eq!(status, 400, "{period}: {body}");
        assert!(body.contains("do not vary"), "{body}");
    }
    let e = get(&server, "/indicators/water_in_huis_per_maand/hotspots?level=buurten&method=emerging&permutations=99");
    let periods: Vec<String> = serde_json::from_value(e["periods"].clone()).unwrap();
    for row in e["areas"].as_array().unwrap() {
        for (p, period) in periods.iter().enumerate() {
            if empty.contains(period) {
                assert_eq!(row["spots"][p], 0, "{} {period}", row["code"]);
                assert!(row["z"][p].is_null(), "{} {period}", row["code"]);
            }
        }
    }
}
