//! Boundary changes: the crosswalk from the real national wijken of 2022 to the Zuid-Holland
//! wijken of 2024 over the Rijnmond region, checked against PySAL's tobler (area-weighted)
//! and against GEOS through geopandas (weighted by the CBS 100 m grid's inhabitants), both
//! run here on the same inputs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{ogr_sql, run_reference, shared_data};
use serde_json::{Value, json};

/// The 12 Rijnmond gemeenten of 2024 (those of the buurten layer).
fn rijnmond_gemeenten(gpkg: &Path) -> Vec<String> {
    ogr_sql(gpkg, "select distinct gemeentecode as g from buurten order by g").into_iter().map(|f| f[0].1.clone()).collect()
}

type Rows = Vec<BTreeMap<String, String>>;

fn read_csv(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records().map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect()).collect()
}

fn run_crosswalk(old: &Path, new: &Path, within: &str, weighted: bool, dir: &Path) -> (Rows, Rows) {
    let (out, conv) = (dir.join("crosswalk.csv"), dir.join("converted.csv"));
    let mut args: Vec<String> = [
        "crosswalk",
        "--from",
        old.to_str().unwrap(),
        "--from-layer",
        "wijken",
        "--from-id",
        "code",
        "--to",
        new.to_str().unwrap(),
        "--to-layer",
        "wijken",
        "--to-within",
        within,
        "--values",
        "population",
        "--out",
        out.to_str().unwrap(),
        "--converted",
        conv.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if weighted {
        args.extend(
            ["--weights", new.to_str().unwrap(), "--weights-layer", "vierkant_100m", "--weight", "aantal_inwoners"].map(String::from),
        );
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = common::buurtmeter(&refs);
    assert!(run.status.success(), "{}", common::stderr(&run));
    (read_csv(&out), read_csv(&conv))
}

fn num(row: &BTreeMap<String, String>, k: &str) -> Option<f64> {
    row[k].parse().ok()
}

#[test]
fn area_weighted_conversion_equals_tobler() {
    let Some(old) = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let Some(new) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else { return };
    let within = rijnmond_gemeenten(&new).join(",");
    let dir = tempfile::tempdir().unwrap();
    let (links, converted) = run_crosswalk(&old, &new, &within, false, dir.path());
    let from: std::collections::BTreeSet<&str> = links.iter().map(|l| l["from_code"].as_str()).collect();
    let to: Vec<&str> = converted.iter().map(|c| c["code"].as_str()).collect();
    assert!(from.len() > 100 && to.len() > 100, "{} old, {} new wijken", from.len(), to.len());
    assert!(links.iter().all(|l| l["method"] == "area"));
    let tobler = run_reference(
        r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import geopandas as gpd
from tobler.area_weighted import area_interpolate
a = json.load(sys.stdin)
old = gpd.read_file(a["old"], layer="wijken")
old = old[old["code"].isin(a["from"])]
new = gpd.read_file(a["new"], layer="wijken")
new = new[new["wijkcode"].isin(a["to"])].reset_index(drop=True)
est = area_interpolate(old, new, extensive_variables=["population"])
print(json.dumps({c: float(v) for c, v in zip(new["wijkcode"], est["population"])}))
"#,
        &json!({"old": old, "new": new, "from": from, "to": to}),
    );
    let mut compared = 0;
    for c in &converted {
        let Some(ours) = num(c, "value") else { continue };
        let theirs = tobler[c["code"].as_str()].as_f64().unwrap();
        assert!((ours - theirs).abs() <= 1e-6 * theirs.abs().max(1.0), "{}: buurtmeter {ours} vs tobler {theirs}", c["code"]);
        compared += 1;
    }
    assert!(compared > 100, "{compared} wijken compared");
}

#[test]
fn population_weighted_shares_equal_geos_and_conserve_the_total() {
    let Some(old) = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let Some(new) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else { return };
    let within = rijnmond_gemeenten(&new).join(",");
    let dir = tempfile::tempdir().unwrap();
    let (links, converted) = run_crosswalk(&old, &new, &within, true, dir.path());
    let from: std::collections::BTreeSet<&str> = links.iter().map(|l| l["from_code"].as_str()).collect();
    let to: Vec<&str> = converted.iter().map(|c| c["code"].as_str()).collect();
    // The grid points in each (old, new) pair and in each old wijk's part that lies in the
    // new wijken, with GEOS (shapely).
    let geos = run_reference(
        r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
import geopandas as gpd
a = json.load(sys.stdin)
old = gpd.read_file(a["old"], layer="wijken")[["code", "population", "geometry"]]
old = old[old["code"].isin(a["from"])]
new = gpd.read_file(a["new"], layer="wijken")[["wijkcode", "geometry"]]
new = new[new["wijkcode"].isin(a["to"])]
grid = gpd.read_file(a["new"], layer="vierkant_100m")[["aantal_inwoners", "geometry"]]
in_old = gpd.sjoin(grid, old, predicate="within").drop(columns="index_right")
both = gpd.sjoin(in_old, new, predicate="within")
# A point in two (overlapping) new wijken counts once, in the first of them in file
# order: the rule of buurtmeter's point join, written in the crosswalk's documentation.
both = both.sort_values("index_right", kind="stable")
both = both[~both.index.duplicated(keep="first")]
total = both.groupby("code")["aantal_inwoners"].sum()
pairs = both.groupby(["code", "wijkcode"])["aantal_inwoners"].sum()
print(json.dumps({
    "total": {k: float(v) for k, v in total.items()},
    "pairs": {f"{o}>{n}": float(v) for (o, n), v in pairs.items()},
    "population": {c: (None if p != p else float(p)) for c, p in zip(old["code"], old["population"])},
}))
"#,
        &json!({"old": old, "new": new, "from": from, "to": to}),
    );
    let mut by_points = 0;
    for l in links.iter().filter(|l| l["method"] == "points" && num(l, "weight") > Some(0.0)) {
        let (o, n) = (l["from_code"].as_str(), l["to_code"].as_str());
        let pair = geos["pairs"][format!("{o}>{n}")].as_f64().unwrap_or_else(|| panic!("GEOS has no grid point in both {o} and {n}"));
        let total = geos["total"][o].as_f64().unwrap();
        assert_eq!(num(l, "weight"), Some(pair), "{o} → {n}");
        assert!((num(l, "share").unwrap() - pair / total).abs() < 1e-12, "{o} → {n}");
        by_points += 1;
    }
    assert_eq!(by_points, geos["pairs"].as_object().unwrap().len(), "every pair GEOS finds is in the crosswalk");
    // Conservation: the converted total is every old wijk's population times the share of
    // its people that live in the new wijken (all of it for a wijk inside the region).
    let shares: BTreeMap<&str, f64> = links.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l["from_code"].as_str()).or_insert(0.0) += num(l, "share").unwrap();
        m
    });
    let population = geos["population"].as_object().unwrap();
    let expected: f64 = shares.iter().map(|(o, s)| population[*o].as_f64().unwrap_or(0.0) * s).sum();
    let all_known = population.values().all(Value::is_f64);
    let got: f64 = converted.iter().filter_map(|c| num(c, "value")).sum();
    assert!(all_known, "an old wijk without population: the total is not comparable");
    assert!((got - expected).abs() < 1e-6 * expected, "converted total {got} vs {expected}");
    let whole: usize = shares.values().filter(|s| (**s - 1.0).abs() < 1e-12).count();
    assert!(whole * 10 > shares.len() * 8, "only {whole} of {} old wijken lie wholly in the new ones", shares.len());
}

/// Statistics published on the wijken of 2022, in a project on the wijken of 2024: the
/// project converts them with the same crosswalk as the command (weighted by the 100 m
/// grid), every served value equals the command's conversion, and every channel says the
/// value was converted (the gemeenten too, which sum the converted wijken).
#[test]
fn a_project_converts_statistics_of_older_boundaries_and_says_so() {
    let Some(old) = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let Some(new) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bevolking_2022.csv");
    let ok = std::process::Command::new("ogr2ogr")
        .args(["-f", "CSV"])
        .arg(&csv)
        .arg(&old)
        // a name of its own: `population` would find each level's own aantal_inwoners of 2024
        .args(["-sql", "select code, population as bevolking2022 from wijken"])
        .status()
        .unwrap();
    assert!(ok.success());
    // The same figures again as a 2023 edition on the same boundaries: read and crosswalked once.
    let csv2023 = dir.path().join("bevolking_2023.csv");
    std::fs::copy(&csv, &csv2023).unwrap();
    let (_tmp, project) = common::example_copy("rijnmond", |t| {
        let entry = |path: &std::path::Path, period: u32| {
            format!(
                "\n[[statistics]]\npath = \"{}\"\nperiod = \"{period}\"\nboundaries = {{ path = \"../../shared/data/nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg\", layer = \"wijken\", id_field = \"code\" }}\nconvert = [\"bevolking2022\"]\nweights = {{ path = \"../../shared/data/nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg\", layer = \"vierkant_100m\", field = \"aantal_inwoners\" }}\n",
                path.display()
            )
        };
        let t = format!("{t}{}", entry(&csv2023, 2023));
        format!(
            "{t}\n[[statistics]]\npath = \"{}\"\nperiod = \"2022\"\nboundaries = {{ path = \"../../shared/data/nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg\", layer = \"wijken\", id_field = \"code\" }}\nconvert = [\"bevolking2022\"]\nweights = {{ path = \"../../shared/data/nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg\", layer = \"vierkant_100m\", field = \"aantal_inwoners\" }}\n\n[[indicators]]\nid = \"bevolking2022\"\ntitle = \"Inwoners 2022 op de wijken van 2024\"\nnumerator = {{ statistic = \"bevolking2022\" }}\n",
            csv.display()
        )
    });
    let check = common::buurtmeter(&["-v", "check", "--project", project.to_str().unwrap()]);
    let log = common::stderr(&check);
    assert!(check.status.success(), "{log}");
    assert_eq!(log.matches("stage=\"read boundaries").count() + log.matches("stage=read boundaries").count(), 1, "{log}");
    assert!(log.contains("converted to 'wijken' weighted by the weighting points") && log.contains("1 converted (bevolking2022)"), "{log}");
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);
    let (status, body) = server.get("/indicators/bevolking2022?level=wijken");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let rows = served["values"].as_array().unwrap();
    let codes: Vec<&str> = rows.iter().map(|r| r["code"].as_str().unwrap()).collect();
    // The command on the same inputs, limited to the project's wijken.
    let (_, converted) = run_crosswalk_weighted(&old, &new, &codes.join(","), dir.path());
    let by_code: BTreeMap<&str, Option<f64>> = converted.iter().map(|c| (c["code"].as_str(), num(c, "value"))).collect();
    let mut compared = 0;
    for r in rows {
        let code = r["code"].as_str().unwrap();
        let expected = by_code[code];
        match (r["value"].as_f64(), expected) {
            (Some(v), Some(e)) => assert!((v - e).abs() < 1e-6 * e.max(1.0), "{code}: served {v}, crosswalk {e}"),
            (v, e) => assert_eq!(v, e, "{code}"),
        }
        assert_eq!(r["converted"], true, "{code}: {r}");
        compared += r["value"].is_f64() as usize;
    }
    assert!(compared > 100, "{compared}");
    let (_, body) = server.get("/indicators/bevolking2022?level=gemeenten");
    let gm: Value = serde_json::from_str(&body).unwrap();
    assert!(gm["values"].as_array().unwrap().iter().all(|r| r["converted"] == true), "{gm}");
    let (_, text) = server.get("/indicators/bevolking2022?level=wijken&format=csv");
    assert!(text.lines().next().unwrap().ends_with(",converted"), "{text}");
    assert!(text.lines().skip(1).all(|l| l.ends_with(",true")), "{text}");
    // The area layers (OGC API, tiles, GeoPackage share them) carry CBS's word for it.
    let (_, items) = server.get(&format!("/ogc/collections/wijken/items/{}?f=json", codes[0]));
    let item: Value = serde_json::from_str(&items).unwrap();
    assert_eq!(item["properties"]["bevolking2022_converted"], "berekend", "{item}");
    let (_, meta) = server.get("/indicators");
    assert!(meta.contains("converted from the areas of"), "the source says so: {meta}");
}

fn run_crosswalk_weighted(old: &Path, new: &Path, within: &str, dir: &Path) -> (Rows, Rows) {
    let sub = dir.join("command");
    std::fs::create_dir_all(&sub).unwrap();
    run_crosswalk(old, new, within, true, &sub)
}

/// A weighting file with a bad row: the command names the row and why, and goes on with
/// the others (nothing lost without a word).
#[test]
fn a_bad_weighting_row_is_named() {
    let Some(old) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else { return };
    let Some(new) = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.csv");
    std::fs::write(&weights, "x,y,w\n194000,320000,10\nabc,320000,5\n196500,321500,7\n").unwrap();
    let out = dir.path().join("cw.csv");
    let run = common::buurtmeter(&[
        "crosswalk",
        "--from",
        old.to_str().unwrap(),
        "--from-layer",
        "buurten_rd",
        "--from-id",
        "CBS-buurtcode",
        "--to",
        new.to_str().unwrap(),
        "--to-layer",
        "wijken",
        "--to-id",
        "code",
        "--to-within",
        "GM0917",
        "--weights",
        weights.to_str().unwrap(),
        "--weight",
        "w",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = common::stderr(&run);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("3 rows, 2 points") && err.contains("1 rejected") && err.contains("rejected row 2"), "{err}");
    assert!(read_csv(&out).iter().any(|l| l["method"] == "points"), "the good rows still weigh");
}
