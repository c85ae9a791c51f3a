//! FlatGeobuf, read by GDAL: `export --fgb DIR` and the OGC API's `items?f=fgb` for the
//! demo and every project in `examples/` (real data read in place) carry the same features
//! as the OGC API's GeoJSON — count, codes, every attribute, geometries within 1e-7
//! degrees — with the spatial index GDAL uses; a bbox gives the same features as the
//! GeoJSON's bbox; the whole collection answers byte ranges, so GDAL's `/vsicurl/` reads it
//! like a file on object storage; a restricted layer's indicators never appear without
//! `--include-restricted`, and never on the server.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use buurtmeter::config::Project;
use common::*;
use gdal::vector::{LayerAccess, LayerCaps};
use serde_json::{Map, Value};

/// Features by code: (properties, geometry).
type Features = BTreeMap<String, (Map<String, Value>, Value)>;

/// Every feature of `items` (a path with a query) through the GeoJSON pages.
fn api_features(server: &Server, items: &str) -> Features {
    let mut out = Features::new();
    let mut offset = 0;
    loop {
        let (code, body) = server.get(&format!("{items}&f=json&limit=10000&offset={offset}"));
        assert_eq!(code, 200, "{items}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let features = v["features"].as_array().unwrap();
        for f in features {
            let code = f["properties"]["code"].as_str().unwrap().to_string();
            let old = out.insert(code.clone(), (f["properties"].as_object().unwrap().clone(), f["geometry"].clone()));
            assert!(old.is_none(), "{items}: code {code} twice");
        }
        offset += features.len();
        if features.is_empty() || offset >= v["numberMatched"].as_u64().unwrap() as usize {
            return out;
        }
    }
}

/// A FlatGeobuf file as GDAL reads it: `ogr2ogr -f GeoJSON`, then by code; and whether
/// its layer has the spatial index (GDAL's fast spatial filter).
fn fgb_features(fgb: &Path) -> (Features, bool, String) {
    let json = fgb.with_extension("geojson");
    let _ = std::fs::remove_file(&json);
    let out = Command::new("ogr2ogr").args(["-f", "GeoJSON"]).arg(&json).arg(fgb).output().expect("ogr2ogr (gdal-bin)");
    assert!(out.status.success(), "ogr2ogr {}: {}", fgb.display(), String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut features = Features::new();
    for f in v["features"].as_array().unwrap() {
        let code = f["properties"]["code"].as_str().unwrap().to_string();
        let old = features.insert(code.clone(), (f["properties"].as_object().unwrap().clone(), f["geometry"].clone()));
        assert!(old.is_none(), "{}: code {code} twice", fgb.display());
    }
    let ds = gdal::Dataset::open(fgb).unwrap();
    let layer = ds.layer(0).unwrap();
    let indexed = layer.has_capability(LayerCaps::OLCFastSpatialFilter);
    let srs = layer.spatial_ref().and_then(|s| s.auth_code().ok()).map(|c| c.to_string()).unwrap_or_default();
    (features, indexed, srs)
}

fn coords(g: &Value, out: &mut Vec<f64>) {
    match g {
        Value::Array(a) => a.iter().for_each(|x| coords(x, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        _ => {}
    }
}

/// The shape of a MultiPolygon's coordinates: polygons, rings, positions.
fn shape(g: &Value) -> Vec<Vec<usize>> {
    g["coordinates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_array().unwrap().iter().map(|r| r.as_array().unwrap().len()).collect())
        .collect()
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// The fgb's features are the API's: same codes, every property at the same value (the
/// fgb's other columns null), geometries within 1e-7 degrees.
fn assert_same(what: &str, api: &Features, fgb: &Features) {
    assert_eq!(api.len(), fgb.len(), "{what}: feature count");
    assert_eq!(api.keys().collect::<Vec<_>>(), fgb.keys().collect::<Vec<_>>(), "{what}: codes");
    for (code, (props, geom)) in api {
        let (fprops, fgeom) = &fgb[code];
        for (k, v) in props {
            let f = fprops.get(k).unwrap_or(&Value::Null);
            let ok = match (v, f) {
                (Value::Number(a), Value::Number(b)) => same_number(a.as_f64().unwrap(), b.as_f64().unwrap()),
                (a, b) => a == b,
            };
            assert!(ok, "{what}: {code}.{k}: API {v}, FlatGeobuf {f}");
        }
        for (k, f) in fprops {
            assert!(props.contains_key(k) || f.is_null(), "{what}: {code}.{k} = {f} in the FlatGeobuf only");
        }
        assert_eq!(geom["type"], "MultiPolygon", "{what}: {code}");
        assert_eq!(fgeom["type"], "MultiPolygon", "{what}: {code}");
        assert_eq!(shape(geom), shape(fgeom), "{what}: {code}: polygons, rings or vertices differ");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        coords(&geom["coordinates"], &mut a);
        coords(&fgeom["coordinates"], &mut b);
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(worst <= 1e-7, "{what}: {code}: coordinates differ by {worst} degrees");
    }
}

#[test]
fn export_and_items_fgb_are_the_ogc_api_features_as_gdal_reads_them() {
    for (name, project) in example_projects() {
        let p = project.to_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = buurtmeter(&["export", "--project", p, "--fgb", dir.path().to_str().unwrap()]);
        assert!(out.status.success(), "{name}: export --fgb: {}", stderr(&out));
        let server = Server::start(&["--project", p, "--watch-seconds", "0"]);
        let (code, body) = server.get("/ogc/collections?f=json");
        assert_eq!(code, 200);
        let collections: Value = serde_json::from_str(&body).unwrap();
        let levels = Project::load(&project).unwrap().levels.iter().map(|l| l.id.clone()).collect::<Vec<_>>();
        let mut checked = 0;
        eprintln!("{name}: levels {}", levels.join(", "));
        for c in collections["collections"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let fgb_link = c["links"].as_array().unwrap().iter().find(|l| l["type"] == "application/flatgeobuf");
            if !dir.path().join(format!("{id}.fgb")).exists() {
                assert!(fgb_link.is_none(), "{name}/{id}: a point layer offers FlatGeobuf");
                continue;
            }
            let link = fgb_link.unwrap_or_else(|| panic!("{name}/{id}: no FlatGeobuf link"));
            assert_eq!(link["rel"], "items");
            assert!(link["href"].as_str().unwrap().ends_with(&format!("/ogc/collections/{id}/items?f=fgb")));
            let items = format!("/ogc/collections/{id}/items?");
            let api = api_features(&server, &items);

            // export --fgb
            let (file, indexed, srs) = fgb_features(&dir.path().join(format!("{id}.fgb")));
            assert!(indexed || api.is_empty(), "{name}/{id}.fgb: no spatial index");
            assert_eq!(srs, "4326", "{name}/{id}.fgb: CRS");
            assert_same(&format!("{name}: export {id}.fgb"), &api, &file);

            // items?f=fgb, and the same through Accept
            let served = dir.path().join(format!("{id}-served.fgb"));
            assert_eq!(server.get_bytes(&format!("{items}f=fgb"), &served), 200);
            let (got, indexed, _) = fgb_features(&served);
            assert!(indexed || api.is_empty(), "{name}/{id}?f=fgb: no spatial index");
            assert_same(&format!("{name}: {id}?f=fgb"), &api, &got);
            let accept = Command::new("curl")
                .args(["-sf", "-H", "Accept: application/flatgeobuf", &format!("{}{items}", server.base)])
                .output()
                .unwrap();
            assert_eq!(accept.stdout, std::fs::read(&served).unwrap(), "{name}/{id}: Accept: application/flatgeobuf");

            // GDAL reading the URL by range requests, as from object storage.
            let (ok, info) = ogrinfo(&["-ro", "-so", &format!("/vsicurl/{}{items}f=fgb", server.base), id]);
            assert!(ok && info.contains(&format!("Feature Count: {}", api.len())), "{name}/{id}: /vsicurl/: {info}");

            // A bbox: the south-west quarter of the collection's extent, as in the GeoJSON.
            let b: Vec<f64> = c["extent"]["spatial"]["bbox"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let bbox = format!("{},{},{},{}", b[0], b[1], (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            let part_items = format!("/ogc/collections/{id}/items?bbox={bbox}");
            let part_api = api_features(&server, &part_items);
            let part = dir.path().join(format!("{id}-bbox.fgb"));
            assert_eq!(server.get_bytes(&format!("{part_items}&f=fgb"), &part), 200);
            let (got, _, _) = fgb_features(&part);
            assert_same(&format!("{name}: {id}?f=fgb&bbox={bbox}"), &part_api, &got);
            assert!(part_api.len() < api.len() || api.len() <= 1, "{name}/{id}: the bbox selects nothing less");
            eprintln!("  {id}: {} features, {} in the bbox", api.len(), part_api.len());
            checked += 1;
        }
        assert_eq!(checked, levels.len(), "{name}: every level read");
    }
}

#[test]
fn the_whole_collection_answers_byte_ranges_and_bad_requests_are_400() {
    let server = Server::start(&["--watch-seconds", "0"]);
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.fgb");
    assert_eq!(server.get_bytes("/ogc/collections/buurten/items?f=fgb", &whole), 200);
    let whole = std::fs::read(whole).unwrap();
    assert_eq!(&whole[..8], b"fgb\x03fgb\x00", "FlatGeobuf magic bytes");
    let range = |r: &str| {
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-H", &format!("Range: bytes={r}"), &format!("{}/ogc/collections/buurten/items?f=fgb", server.base)])
            .output()
            .unwrap();
        let text = out.stdout;
        let end = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (String::from_utf8_lossy(&text[..end]).to_lowercase(), text[end + 4..].to_vec())
    };
    let (head, body) = range("100-199");
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(head.contains(&format!("content-range: bytes 100-199/{}", whole.len())), "{head}");
    assert_eq!(body, whole[100..200]);
    let (head, body) = range("-10");
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert_eq!(body, whole[whole.len() - 10..]);
    let (head, _) = range(&format!("{}-", whole.len()));
    assert!(head.starts_with("http/1.1 416"), "{head}");
    for bad in [
        "/ogc/collections/buurten/items?f=fgb&crs=http://www.opengis.net/def/crs/EPSG/0/3857",
        "/ogc/collections/buurten/items?f=fgb&bbox=1,2,3",
        "/ogc/collections/buurten/items?f=fgb&limit=0",
        "/ogc/collections/buurten/items?f=fgb&nosuchproperty=1",
    ] {
        assert_eq!(server.get(bad).0, 400, "{bad}");
    }
    assert_eq!(server.get("/ogc/collections/nosuchlevel/items?f=fgb").0, 404);
    // A page, when asked for, is a complete file of that page.
    let page = dir.path().join("page.fgb");
    assert_eq!(server.get_bytes("/ogc/collections/buurten/items?f=fgb&limit=5&offset=3", &page), 200);
    let (got, _, _) = fgb_features(&page);
    let api = api_features(&server, "/ogc/collections/buurten/items?");
    let want: Vec<&String> = {
        let (_, body) = server.get("/ogc/collections/buurten/items?f=json&limit=5&offset=3");
        let v: Value = serde_json::from_str(&body).unwrap();
        let codes: Vec<String> = v["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
        api.keys().filter(|k| codes.contains(k)).collect()
    };
    assert_eq!(got.keys().collect::<Vec<_>>(), want);
}

#[test]
fn restricted_indicators_never_reach_a_flatgeobuf_without_being_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(demo_project()).unwrap();
    let text =
        text.replace("path = \"", &format!("path = \"{}/", data.display())).replace("access = \"aggregate\"", "access = \"restricted\"");
    assert!(text.contains("restricted"));
    let project = dir.path().join("p.toml");
    std::fs::write(&project, text).unwrap();
    let p = project.to_str().unwrap();
    // An API key (sha256 of "partner-key-123").
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, "# partner\n45f05d20999bb4742e828f14f49dce6501ef026ea1e6ef8451786c14d444201b\n").unwrap();
    let server = Server::start_with_env(&["--project", p, "--watch-seconds", "0"], &[("BUURTMETER_API_KEYS_FILE", keys.to_str().unwrap())]);
    let fields = |fgb: &Path| {
        let (ok, info) = ogrinfo(&["-ro", "-so", "-al", fgb.to_str().unwrap()]);
        assert!(ok, "{info}");
        info
    };
    for level in ["buurten", "wijken", "gemeenten"] {
        let file = dir.path().join(format!("{level}.fgb"));
        assert_eq!(server.get_bytes(&format!("/ogc/collections/{level}/items?f=fgb"), &file), 200);
        let info = fields(&file);
        assert!(info.contains("leegstand") && !info.contains("wateroverlast"), "{level}?f=fgb:\n{info}");
        let bytes = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("wateroverlast"), "{level}?f=fgb names a restricted indicator");
        // With the key too: the OGC API's features are public (as its GeoJSON), while the
        // key does open the restricted indicator in the indicator API.
        let keyed = Command::new("curl")
            .args([
                "-sf",
                "-H",
                "X-API-Key: partner-key-123",
                &format!("{}/ogc/collections/{level}/items?f=fgb&bbox=0,0,90,90", server.base),
            ])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&keyed.stdout).contains("wateroverlast"));
    }
    let keyed = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "X-API-Key: partner-key-123",
            &format!("{}/indicators/wateroverlast_per_1000_inw", server.base),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&keyed.stdout), "200", "the key opens the restricted indicator");
    let out_dir = dir.path().join("out");
    let o = buurtmeter(&["export", "--project", p, "--fgb", out_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = fields(&out_dir.join("buurten.fgb"));
    assert!(info.contains("leegstand") && !info.contains("wateroverlast"), "export --fgb:\n{info}");
    let o = buurtmeter(&["export", "--project", p, "--fgb", out_dir.to_str().unwrap(), "--include-restricted"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = fields(&out_dir.join("buurten.fgb"));
    assert!(info.contains("wateroverlast_per_1000_inw: Real"), "--include-restricted writes them:\n{info}");
}
