//! The server against real clients: GDAL's OAPIF driver, GDAL's MVT driver (tiles decoded
//! by GDAL, not by us), MapLibre GL JS in headless Chromium; and the tile guarantees
//! (no gaps between neighbours, counts that add up, values equal to the indicator API).

mod common;

use std::collections::BTreeMap;

use common::*;
use gdal::vector::LayerAccess;
use geo::{Area, BooleanOps};

/// Features of an MVT tile decoded by GDAL's MVT driver, in tile coordinates.
fn decode(bytes_file: &std::path::Path, layer: &str) -> Vec<(BTreeMap<String, String>, geo_types::Geometry<f64>)> {
    let ds = gdal::Dataset::open(bytes_file).expect("GDAL opens the tile");
    let mut l = ds.layer_by_name(layer).expect("layer in tile");
    let names: Vec<String> = l.defn().fields().map(|f| f.name()).collect();
    l.features()
        .map(|f| {
            let mut props = BTreeMap::new();
            for (i, n) in names.iter().enumerate() {
                // Absent properties come back unset or empty: leave them out.
                if let Ok(Some(v)) = f.field_as_string(i)
                    && !v.is_empty()
                {
                    props.insert(n.clone(), v);
                }
            }
            (props, f.geometry().unwrap().to_geo().unwrap())
        })
        .collect()
}

#[test]
fn gdal_oapif_reads_every_collection_pages_bboxes_and_crs() {
    let server = Server::start(&[]);
    let url = format!("OAPIF:{}/ogc", server.base);
    let (ok, out) = ogrinfo(&["-ro", "-q", &url]);
    assert!(ok, "{out}");
    for c in ["buurten", "wijken", "gemeenten", "leegstand"] {
        assert!(out.contains(&format!(": {c} ")), "collection {c} missing:\n{out}");
    }
    assert!(!out.contains("wateroverlast"), "aggregate-only layers are not collections:\n{out}");

    // A full paged read (page size 10 → 7 pages) gives every buurt once.
    let (ok, out) = ogrinfo(&["-ro", "-al", "-q", "-oo", "PAGE_SIZE=10", &url, "buurten"]);
    assert!(ok, "{out}");
    let codes: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("code (String) = ")).collect();
    assert_eq!(codes.len(), 68, "every buurt read through the pages");
    let unique: std::collections::BTreeSet<&&str> = codes.iter().collect();
    assert_eq!(unique.len(), 68, "no buurt twice");

    // bbox: a small box around one buurt's centre selects a few buurten, not all.
    let (ok, out) = ogrinfo(&["-ro", "-al", "-q", "-spat", "5.80", "50.86", "5.81", "50.87", &url, "buurten"]);
    assert!(ok, "{out}");
    let n = out.lines().filter(|l| l.trim().starts_with("code (String) = ")).count();
    assert!((1..20).contains(&n), "{n} buurten in the bbox");

    // crs=EPSG:28992: coordinates equal the source GeoPackage's, to the centimetre.
    let (code, body) = server.get("/ogc/collections/buurten/items/BU99990000?crs=http://www.opengis.net/def/crs/EPSG/0/28992&f=json");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let first = &v["geometry"]["coordinates"][0][0][0];
    let (x, y) = (first[0].as_f64().unwrap(), first[1].as_f64().unwrap());
    let ds = gdal::Dataset::open(demo_project().with_file_name("demodorp.gpkg")).unwrap();
    let mut l = ds.layer_by_name("buurten").unwrap();
    let f =
        l.features().find(|f| f.field_as_string(f.field_index("buurtcode").unwrap()).unwrap().as_deref() == Some("BU99990000")).unwrap();
    let g = f.geometry().unwrap().to_geo().unwrap();
    let geo_types::Geometry::MultiPolygon(mp) = g else { panic!("multipolygon") };
    let c = mp.0[0].exterior().0[0];
    assert!((c.x - x).abs() < 0.01 && (c.y - y).abs() < 0.01, "({x}, {y}) vs source ({}, {})", c.x, c.y);
    // EPSG:4326 is lat/lon: the same point with the axes swapped relative to CRS84.
    let (_, b84) = server.get("/ogc/collections/buurten/items/BU99990000?f=json");
    let (_, b4326) = server.get("/ogc/collections/buurten/items/BU99990000?f=json&crs=http://www.opengis.net/def/crs/EPSG/0/4326");
    let p84 = serde_json::from_str::<serde_json::Value>(&b84).unwrap()["geometry"]["coordinates"][0][0][0].clone();
    let p4326 = serde_json::from_str::<serde_json::Value>(&b4326).unwrap()["geometry"]["coordinates"][0][0][0].clone();
    assert_eq!(p84[0], p4326[1]);
    assert_eq!(p84[1], p4326[0]);
    assert!((50.0..54.0).contains(&p4326[0].as_f64().unwrap()), "latitude first in EPSG:4326");

    // Property filter and the landing page links QGIS needs.
    let (_, body) = server.get("/ogc/collections/buurten/items?wijkcode=WK999901&f=json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["features"].as_array().unwrap().iter().all(|f| f["properties"]["wijkcode"] == "WK999901"));
    assert!(v["numberMatched"].as_u64().unwrap() >= 1);
    let (_, landing) = server.get("/ogc?f=json");
    assert!(landing.contains("\"service-desc\"") && landing.contains("\"data\""));
    let (_, api) = server.get("/ogc/api");
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api["components"]["parameters"]["limit"]["schema"]["maximum"], 10_000);
    assert_eq!(api["components"]["parameters"]["limit"]["schema"]["default"], 100);
}

#[test]
fn tiles_decode_in_gdal_without_gaps_with_true_counts_and_api_values() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (_, tj) = server.get("/tiles/buurten");
    let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
    assert_eq!(tj["tilejson"], "3.0.0");
    assert!(tj["tiles"][0].as_str().unwrap().starts_with("http://") && tj["tiles"][0].as_str().unwrap().contains("?v="));
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();

    // API values for the latest period, by code.
    let (_, api) = server.get("/indicators/leegstand_woningen_pct?level=buurten");
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let api_values: BTreeMap<String, Option<f64>> =
        api["values"].as_array().unwrap().iter().map(|r| (r["code"].as_str().unwrap().to_string(), r["value"].as_f64())).collect();

    let mut checked_values = 0;
    for z in [8u8, 11, 13, 15] {
        let (x0, y0) = lonlat_to_tile(b[0], b[3], z);
        let (x1, y1) = lonlat_to_tile(b[2], b[1], z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                let fb = dir.path().join(format!("b-{z}-{x}-{y}.mvt"));
                let fg = dir.path().join(format!("g-{z}-{x}-{y}.mvt"));
                let cb = server.get_bytes(&format!("/tiles/buurten/{z}/{x}/{y}.mvt"), &fb);
                let cg = server.get_bytes(&format!("/tiles/gemeenten/{z}/{x}/{y}.mvt"), &fg);
                assert!(cb == 200 || cb == 204);
                assert_eq!(cb == 204, cg == 204, "buurten and gemeente cover the same tiles ({z}/{x}/{y})");
                if cb == 204 {
                    continue;
                }
                let tile_box = geo_types::Rect::new((0.0, 0.0), (4096.0, 4096.0)).to_polygon();
                let area_in_tile = |g: &geo_types::Geometry<f64>| match g {
                    geo_types::Geometry::Polygon(p) => p.intersection(&tile_box).unsigned_area(),
                    geo_types::Geometry::MultiPolygon(mp) => mp.intersection(&tile_box).unsigned_area(),
                    _ => 0.0,
                };
                let buurten = decode(&fb, "buurten");
                let gemeente = decode(&fg, "gemeenten");
                let sum: f64 = buurten.iter().map(|(_, g)| area_in_tile(g)).sum();
                let whole: f64 = gemeente.iter().map(|(_, g)| area_in_tile(g)).sum();
                // No gaps, no overlaps: the buurten tile exactly what the gemeente covers.
                assert!((sum - whole).abs() <= 1e-6 * whole.max(1.0) + 1e-3, "z{z} {x}/{y}: buurten {sum} vs gemeente {whole}");
                if z >= 11 {
                    for (props, _) in &buurten {
                        let code = &props["code"];
                        let tile_value = props.get("leegstand_woningen_pct").map(|s| s.parse::<f64>().unwrap());
                        let expected = api_values[code];
                        match (tile_value, expected) {
                            (Some(t), Some(e)) => assert!((t - e).abs() <= 1e-9 * e.abs().max(1.0), "{code}: tile {t} vs API {e}"),
                            (t, e) => assert_eq!(t, e, "{code}"),
                        }
                        checked_values += 1;
                    }
                }
            }
        }
    }
    assert!(checked_values > 100, "{checked_values} tile values compared");

    // Point counts per zoom add up to every point of the layer (aggregated below z14).
    let (_, health) = server.get("/health");
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    // A protected layer's exact counts are not public (not in /health): the truth from the snapshot.
    let project = buurtmeter::config::Project::load(&demo_project()).unwrap();
    let snap = buurtmeter::snapshot::build(&project).unwrap();
    let n_points = snap.points.iter().find(|p| p.layer.id == "wateroverlast").unwrap().lonlat.len() as u64;
    let flood = health["points"].as_array().unwrap().iter().find(|p| p["id"] == "wateroverlast").unwrap();
    assert!(flood.get("joined").is_none(), "a protected layer's exact count is not public: {flood}");
    let (_, tj) = server.get("/tiles/wateroverlast");
    let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
    let pb: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    for z in [6u8, 9, 12] {
        let (x0, y0) = lonlat_to_tile(pb[0], pb[3], z);
        let (x1, y1) = lonlat_to_tile(pb[2], pb[1], z);
        let (mut total, mut cells) = (0u64, 0u64);
        for x in x0..=x1 {
            for y in y0..=y1 {
                let f = dir.path().join(format!("w-{z}-{x}-{y}.mvt"));
                if server.get_bytes(&format!("/tiles/wateroverlast/{z}/{x}/{y}.mvt"), &f) == 200 {
                    for (props, _) in decode(&f, "wateroverlast") {
                        assert!(!props.contains_key("category"), "aggregate-only: no point attributes");
                        let c =
                            props.get("count").expect("every cell of a protected layer shows its perturbed count").parse::<u64>().unwrap();
                        assert!(c >= 3, "min_count = 3: no published count of 1 or 2, got {c}");
                        total += c;
                        cells += 1;
                    }
                }
            }
        }
        // Cell-key noise: each cell within a few of its true count, and unbiased, so the
        // total stays close to the number of points (parts need not add up exactly).
        assert!(cells > 0);
        assert!(total.abs_diff(n_points) <= 4 * cells, "zoom {z}: {total} in {cells} cells vs {n_points} points");
        assert!((total as f64 - n_points as f64).abs() < 0.25 * n_points as f64, "zoom {z}: {total} vs {n_points}");
    }
    // The public vacancy layer has no disclosure rules: its counts add up exactly.
    let lee = health["points"].as_array().unwrap().iter().find(|p| p["id"] == "leegstand").unwrap();
    let n_lee = lee["joined"].as_u64().unwrap() + lee["outside"].as_u64().unwrap();
    let (_, tj) = server.get("/tiles/leegstand");
    let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
    let lb: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    for z in [6u8, 9, 12] {
        let (x0, y0) = lonlat_to_tile(lb[0], lb[3], z);
        let (x1, y1) = lonlat_to_tile(lb[2], lb[1], z);
        let mut total = 0u64;
        for x in x0..=x1 {
            for y in y0..=y1 {
                let f = dir.path().join(format!("l-{z}-{x}-{y}.mvt"));
                if server.get_bytes(&format!("/tiles/leegstand/{z}/{x}/{y}.mvt"), &f) == 200 {
                    total += decode(&f, "leegstand").iter().map(|(p, _)| p["count"].parse::<u64>().unwrap()).sum::<u64>();
                }
            }
        }
        assert_eq!(total, n_lee, "zoom {z}: counts add up to every point");
    }
}

#[test]
fn tile_http_behaviour_matches_what_clients_need() {
    let server = Server::start(&[]);
    let (_, tj) = server.get("/tiles/buurten");
    let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
    let c = tj["center"].as_array().unwrap();
    let (x, y) = lonlat_to_tile(c[0].as_f64().unwrap(), c[1].as_f64().unwrap(), 12);
    let url = format!("{}/tiles/buurten/12/{x}/{y}.mvt", server.base);
    let head = |extra: &[&str]| {
        let out = std::process::Command::new("curl").args(["-s", "-D", "-", "-o", "/dev/null"]).args(extra).arg(&url).output().unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let plain = head(&[]);
    assert!(plain.starts_with("http/1.1 200"), "{plain}");
    assert!(plain.contains("content-type: application/vnd.mapbox-vector-tile"));
    assert!(!plain.contains("content-encoding"), "no gzip unless asked");
    assert!(plain.contains("access-control-allow-origin: *"));
    assert!(plain.contains("cache-control:"));
    // The tile route has no middleware: it answers a browser's preflight itself (a map
    // page on another origin that sends an API key asks first).
    let preflight = head(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://kaart.example.nl",
        "-H",
        "Access-Control-Request-Method: GET",
        "-H",
        "Access-Control-Request-Headers: authorization",
    ]);
    assert!(
        preflight.starts_with("http/1.1 204")
            && preflight.contains("access-control-allow-origin: *")
            && preflight.contains("access-control-allow-headers: *"),
        "{preflight}"
    );
    let gz = head(&["-H", "Accept-Encoding: gzip"]);
    assert!(gz.contains("content-encoding: gzip") && gz.contains("vary: accept-encoding"), "{gz}");
    let etag = plain.lines().find_map(|l| l.strip_prefix("etag: ")).unwrap().trim().to_string();
    let not_modified = head(&["-H", &format!("If-None-Match: {etag}")]);
    assert!(not_modified.starts_with("http/1.1 304"), "{not_modified}");
    // Outside the data: 204; outside the pyramid or not numbers: 4xx with a problem body.
    assert_eq!(server.get("/tiles/buurten/12/0/0.mvt").0, 204);
    assert_eq!(server.get("/tiles/buurten/22/0/0.mvt").0, 404);
    assert_eq!(server.get("/tiles/buurten/a/b/c.mvt").0, 400);
    assert_eq!(server.get("/tiles/nope/1/0/0.mvt").0, 404);
    let (_, metrics) = server.get("/metrics");
    assert!(metrics.contains("buurtmeter_http_requests_total{route=\"/tiles/{tileset}/{z}/{x}/{y}\""), "{metrics}");
}

#[test]
fn styles_are_served_for_maplibre_and_qgis() {
    let server = Server::start(&[]);
    let (code, style) = server.get("/styles/wateroverlast_per_1000_inw.json");
    assert_eq!(code, 200);
    let s: serde_json::Value = serde_json::from_str(&style).unwrap();
    assert_eq!(s["version"], 8);
    for src in s["sources"].as_object().unwrap().values() {
        assert!(src["url"].as_str().unwrap().starts_with(&server.base), "absolute URLs");
    }
    let (code, qml) = server.get("/styles/wateroverlast_per_1000_inw.qml");
    assert_eq!(code, 200);
    assert!(qml.contains("graduatedSymbol") && qml.contains("attr=\"wateroverlast_per_1000_inw\""));
    assert_eq!(server.get("/styles/..%2f..%2fetc%2fpasswd.json").0, 404);
    assert_eq!(server.get("/static/..%2fCargo.toml").0, 404);
}

#[test]
fn maplibre_renders_the_web_map_in_headless_chromium() {
    if !require_browser() {
        return;
    }
    let server = Server::start(&[]);
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("webmap.png");
    let out = std::process::Command::new("node")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/webmap.cjs"))
        .arg(&server.base)
        .arg(&shot)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr)));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["errors"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["hasMap"], true, "window.map is exposed");
    assert!(r["features"].as_u64().unwrap() > 10, "rendered features: {r}");
    assert!(r["featuresAfterSwitch"].as_u64().unwrap() > 10, "{r}");
    assert!(r["legend"].as_u64().unwrap() >= 3, "{r}");
    assert_eq!(r["periodLabel"], "2023", "{r}");
    assert!(shot.exists(), "screenshot at {}", shot.display());
    eprintln!("screenshot: {}", shot.display());
}
