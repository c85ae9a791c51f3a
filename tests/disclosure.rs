//! Disclosure control on the demo project: the rules hold at every level, and no secret
//! value (nor a raw point of an aggregate-only layer) escapes through any channel:
//! indicator API (JSON, CSV), tiles (decoded by GDAL), OGC API, CSV/GeoPackage/GeoJSON
//! exports.

mod common;

use std::collections::BTreeMap;

use buurtmeter::config::Project;
use buurtmeter::snapshot::{self, Snapshot};
use common::*;

fn snapshot() -> Snapshot {
    snapshot::build(&Project::load(&demo_project()).unwrap()).unwrap()
}

/// Secret cells of every SDC indicator: (indicator, level, code, period) → reason.
fn secrets(snap: &Snapshot) -> BTreeMap<(String, String, String, String), String> {
    let mut out = BTreeMap::new();
    for ind in snap.indicators.iter().filter(|i| i.def.disclosure.is_active()) {
        for (li, level) in snap.levels.iter().enumerate() {
            let v = &ind.per_level[li];
            for (a, area) in level.areas.iter().enumerate() {
                for (p, period) in v.periods.iter().enumerate() {
                    if let Some(why) = v.suppressed[v.index(a, p)] {
                        out.insert((ind.def.id.clone(), level.id.clone(), area.code.clone(), period.clone()), why.key().to_string());
                    }
                }
            }
        }
    }
    out
}

/// The true (unprotected) values of an indicator at a level, evaluated again without keys.
fn truth(snap: &Snapshot, ind: &buurtmeter::snapshot::IndicatorResult, li: usize) -> Vec<Option<f64>> {
    let layer = snap.points.iter().find(|p| Some(p.layer.id.as_str()) == ind.def.numerator.points()).unwrap();
    buurtmeter::indicators::evaluate(&ind.def, &layer.layer, &layer.assigned[li], None, &snap.levels, li).unwrap().numerator
}

/// The protected layer (residents' reports, `min_count = 3`): every count published about
/// it, at every level, period and filter, went through the cell-key method. (This test
/// replaces the one for rounding and secondary suppression, whose promise changed: there
/// are no secret cells to hide now, only perturbed counts.)
#[test]
fn rules_hold_at_every_level() {
    let snap = snapshot();
    let layer = snap.points.iter().find(|p| p.ptable.is_some()).expect("the demo has a protected layer");
    let table = layer.ptable.as_ref().unwrap();
    let (js, d) = (u64::from(table.params.js), u64::from(table.params.max_deviation));
    let (mut cells, mut changed, mut abs_dev, mut protected) = (0u64, 0u64, 0u64, 0u64);
    for ind in snap.indicators.iter().filter(|i| i.def.numerator.points() == Some(layer.layer.id.as_str())) {
        for (li, level) in snap.levels.iter().enumerate() {
            let v = &ind.per_level[li];
            let truth = truth(&snap, ind, li);
            for k in 0..v.numerator.len() {
                match (v.numerator[k], v.suppressed[k]) {
                    (Some(n), None) => {
                        let t = truth[k].unwrap();
                        assert_eq!(n.fract(), 0.0, "{}: a count is whole", ind.def.id);
                        let n = n as u64;
                        assert!(n == 0 || n > js, "{} {}: published {n} between 1 and {js}", ind.def.id, level.id);
                        assert!(n.abs_diff(t as u64) <= d, "{}: {n} from {t}", ind.def.id);
                        assert!(t != 0.0 || n == 0, "zeros stay zero");
                        cells += 1;
                        changed += u64::from(n != t as u64);
                        abs_dev += n.abs_diff(t as u64);
                        // The rate is the published count over the public denominator.
                        if let (Some(x), Some(den)) = (v.value[k], v.denominator[k]) {
                            assert!((x - n as f64 / den * ind.def.scale).abs() < 1e-9 * x.abs().max(1.0));
                        }
                    }
                    (None, Some(why)) => {
                        assert_eq!(why.key(), "protected", "one public word for a withheld cell");
                        assert!(v.value[k].is_none());
                        protected += 1;
                    }
                    (Some(_), Some(why)) => assert_eq!(why.key(), "small_denominator"),
                    (None, None) => panic!("a missing numerator without a reason"),
                }
                if let (Some(m), Some(_)) = (ind.def.disclosure.min_denominator, v.numerator[k]) {
                    assert!(v.denominator[k].unwrap() >= m, "min_denominator withholds the count with the rate");
                }
            }
        }
    }
    eprintln!(
        "protected layer: {cells} cells published, {changed} changed ({:.1} %), mean absolute deviation {:.3}, {protected} withheld",
        100.0 * changed as f64 / cells as f64,
        abs_dev as f64 / cells as f64
    );
    assert!(cells > 500 && changed > 0 && protected > 0);
}

#[test]
fn no_secret_value_escapes_through_any_channel() {
    let snap = snapshot();
    let secret = secrets(&snap);
    assert!(!secret.is_empty());
    let server = Server::start(&[]);

    // Indicator API, JSON and CSV, every level and period.
    for ind in snap.indicators.iter().filter(|i| i.def.disclosure.is_active()) {
        for level in &snap.levels {
            for period in &ind.per_level[0].periods {
                let (_, body) = server.get(&format!("/indicators/{}?level={}&period={period}", ind.def.id, level.id));
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                for row in v["values"].as_array().unwrap() {
                    let key = (ind.def.id.clone(), level.id.clone(), row["code"].as_str().unwrap().to_string(), period.clone());
                    if let Some(why) = secret.get(&key) {
                        assert_eq!(row["suppressed"].as_str(), Some(why.as_str()), "{key:?}");
                        assert!(row["value"].is_null(), "{key:?}");
                        if why != "small_denominator" {
                            assert!(row["numerator"].is_null(), "{key:?}");
                        }
                    }
                }
            }
            let (_, csv) = server.get(&format!("/indicators/{}?level={}&format=csv", ind.def.id, level.id));
            check_csv_rows(&csv, &secret);
        }
    }

    // Exports: CSV (long), GeoPackage (long table and level layers), GeoJSON.
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("e.gpkg");
    let o = buurtmeter(&[
        "export",
        "--gpkg",
        gpkg.to_str().unwrap(),
        "--csv",
        dir.path().join("csv").to_str().unwrap(),
        "--geojson",
        dir.path().join("gj").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for level in &snap.levels {
        check_csv_rows(&std::fs::read_to_string(dir.path().join(format!("csv/indicators_{}.csv", level.id))).unwrap(), &secret);
    }
    let rows = ogr_sql(
        &gpkg,
        "SELECT indicator, level, area_code, period, numerator, value, suppressed FROM indicator_values WHERE suppressed != ''",
    );
    // Rates withheld on a small denominator by the default minimum (not a secret) aside.
    let default_min: Vec<String> = snap.indicators.iter().filter(|i| !i.def.disclosure.is_active()).map(|i| i.def.id.clone()).collect();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| !(default_min.contains(&r[0].1) && r.iter().any(|(k, v)| k == "suppressed" && v == "small_denominator")))
        .collect();
    assert_eq!(rows.len(), secret.len(), "every secret cell is marked in the GeoPackage");
    for r in &rows {
        let get = |k: &str| r.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str()).unwrap_or("");
        assert!(get("value") == "(null)" || get("value").is_empty(), "{r:?}");
        if get("suppressed") != "small_denominator" {
            assert!(get("numerator") == "(null)" || get("numerator").is_empty(), "{r:?}");
        }
    }

    // Latest-period channels: tiles, OGC API items, GeoJSON export, GeoPackage level layers.
    for ind in snap.indicators.iter().filter(|i| i.def.disclosure.is_active()) {
        let latest = ind.per_level[0].periods.last().unwrap().clone();
        for level in &snap.levels {
            let (_, items) = server.get(&format!("/ogc/collections/{}/items?limit=1000&f=json", level.id));
            let items: serde_json::Value = serde_json::from_str(&items).unwrap();
            let gj: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("gj/{}.geojson", level.id))).unwrap()).unwrap();
            for fc in [&items, &gj] {
                for f in fc["features"].as_array().unwrap() {
                    let code = f["properties"]["code"].as_str().unwrap().to_string();
                    if let Some(why) = secret.get(&(ind.def.id.clone(), level.id.clone(), code.clone(), latest.clone())) {
                        let props = &f["properties"];
                        assert!(props.get(&ind.def.id).is_none(), "{code}: value shown");
                        if why != "small_denominator" {
                            assert!(props.get(format!("{}_n", ind.def.id)).is_none(), "{code}: count shown");
                        }
                        assert_eq!(props[format!("{}_suppressed", ind.def.id)].as_str(), Some(why.as_str()));
                    }
                }
            }
        }
    }

    // Tiles at every zoom for the buurten: decode with GDAL and check.
    let (_, tj) = server.get("/tiles/buurten");
    let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let tile = |lon: f64, lat: f64, z: u8| {
        let n = f64::from(1u32 << z);
        let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
        let y = ((1.0 - (lat.to_radians().tan() + 1.0 / lat.to_radians().cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
        (x, y)
    };
    let mut checked = 0;
    for z in [10u8, 13] {
        let (x0, y0) = tile(b[0], b[3], z);
        let (x1, y1) = tile(b[2], b[1], z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                let f = dir.path().join(format!("{z}-{x}-{y}.mvt"));
                if server.get_bytes(&format!("/tiles/buurten/{z}/{x}/{y}.mvt"), &f) != 200 {
                    continue;
                }
                let out = std::process::Command::new("ogrinfo").args(["-q", "-al"]).arg(&f).output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                for feature in text.split("OGRFeature(").skip(1) {
                    let field = |k: &str| {
                        feature.lines().find_map(|l| {
                            l.trim().strip_prefix(&format!("{k} ")).and_then(|r| r.split_once(" = ")).map(|(_, v)| v.to_string())
                        })
                    };
                    let code = field("code").unwrap();
                    for ind in snap.indicators.iter().filter(|i| i.def.disclosure.is_active()) {
                        let latest = ind.per_level[0].periods.last().unwrap().clone();
                        if let Some(why) = secret.get(&(ind.def.id.clone(), "buurten".into(), code.clone(), latest)) {
                            let v = field(&ind.def.id);
                            assert!(
                                v.is_none() || v.as_deref() == Some("(null)") || v.as_deref() == Some(""),
                                "tile shows {}={v:?} for {code}",
                                ind.def.id
                            );
                            assert_eq!(field(&format!("{}_suppressed", ind.def.id)).as_deref(), Some(why.as_str()));
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 0, "secret cells were seen in tiles");

    // Raw points of the aggregate-only layer never leave: no collection, no point attributes.
    assert_eq!(server.get("/ogc/collections/wateroverlast/items").0, 404);
    assert_eq!(server.get("/ogc/collections/wateroverlast").0, 404);
}

fn check_csv_rows(csv: &str, secret: &BTreeMap<(String, String, String, String), String>) {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    for line in lines {
        // area names have no commas in the demo
        let f: Vec<&str> = line.split(',').collect();
        let key =
            (f[col("indicator")].to_string(), f[col("level")].to_string(), f[col("area_code")].to_string(), f[col("period")].to_string());
        match secret.get(&key) {
            Some(why) => {
                assert_eq!(f[col("suppressed")], why, "{line}");
                assert_eq!(f[col("value")], "", "{line}");
                if why != "small_denominator" {
                    assert_eq!(f[col("numerator")], "", "{line}");
                }
            }
            // Not secret; a rate may still be withheld on too small a denominator (the
            // default minimum for rates per inhabitant), never a count.
            None => {
                let s = f[col("suppressed")];
                assert!(s.is_empty() || (s == "small_denominator" && f[col("value")].is_empty()), "{line}");
            }
        }
    }
}
