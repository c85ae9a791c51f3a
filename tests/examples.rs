//! Every project in `examples/` (real CBS and BAG data read in place from `../shared/data`)
//! and the built-in demo, as a user meets them: `check` succeeds and accounts for every
//! level, the exported MapLibre styles pass MapLibre's own validator, and the web map
//! renders each project in headless Chromium, every level at its own zoom, without a
//! console error. A new file in `examples/` is covered without touching this test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use buurtmeter::config::Project;
use common::*;

#[test]
fn every_project_checks_with_accounting_per_level() {
    for (name, path) in example_projects() {
        let out = buurtmeter(&["check", "--project", path.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(out.status.success(), "{name}: check failed:\n{err}");
        let p = Project::load(&path).unwrap();
        for l in &p.levels {
            assert!(err.contains(&format!("level {}: ", l.id)), "{name}: no line for level {}:\n{err}", l.id);
        }
        for pts in &p.points {
            let line = err.lines().skip_while(|l| !l.starts_with(&format!("points {} ", pts.id))).nth(1).unwrap_or("");
            assert!(line.trim_start().starts_with("per level:"), "{name}: no per-level accounting for {}:\n{err}", pts.id);
        }
        assert!(!err.contains("lies in the region"), "{name}: a level lost all its areas to the region:\n{err}");
    }
}

#[test]
fn every_style_passes_maplibre_style_validation() {
    let validator = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules/.bin/gl-style-validate");
    assert!(validator.exists(), "run sh .ci/setup (npm ci in web/) for MapLibre's gl-style-validate");
    for (name, path) in example_projects() {
        let dir = tempfile::tempdir().unwrap();
        let out = buurtmeter(&["export", "--project", path.to_str().unwrap(), "--styles", dir.path().to_str().unwrap()]);
        assert!(out.status.success(), "{name}: export failed: {}", stderr(&out));
        let mut n = 0;
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let f = e.unwrap().path();
            if f.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let v = Command::new(&validator).arg(&f).output().expect("node");
            let text = format!("{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
            assert!(v.status.success() && text.trim().is_empty(), "{name}: {} is not a valid MapLibre style:\n{text}", f.display());
            n += 1;
        }
        assert!(n > 0, "{name}: no styles written");
        eprintln!("{name}: {n} styles valid");
    }
}

#[test]
fn every_project_renders_in_headless_chromium() {
    if !require_browser() {
        return;
    }
    for (name, path) in example_projects() {
        let server = Server::start(&["--project", path.to_str().unwrap()]);
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("webmap-{name}.png"));
        let hosts = basemap_hosts(&Project::load(&path).unwrap());
        let r = browser_json("webmap.cjs", &[server.base.as_ref(), shot.as_os_str()], &[("BASEMAP_HOST", &hosts)]);
        assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{name}: {r}");
        assert!(r["features"].as_u64().unwrap_or(0) > 0, "{name}: nothing rendered: {r}");
        assert!(r["legend"].as_u64().unwrap_or(0) >= 2, "{name}: {r}");
        assert!(r["labels"].as_u64().unwrap_or(0) > 0, "{name}: no area names on the map: {r}");
        let p = Project::load(&path).unwrap();
        // Trend mode where the first indicator has a series: the legend says what the
        // colours mean, areas are coloured by their trend, a click draws the series.
        let (_, list) = server.get("/indicators");
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        let periods = list["indicators"][0]["periods"].as_array().map_or(0, Vec::len);
        assert_eq!(r["trendEnabled"].as_bool(), Some(periods >= 4), "{name}: trend mode with {periods} periods: {r}");
        if periods >= 4 {
            let legend = r["trendLegend"].as_str().unwrap_or("");
            assert!(legend.contains("stijgend") && legend.contains("dalend") && legend.contains("p < 0,05"), "{name}: {r}");
            assert!(r["trendAreas"].as_u64().unwrap_or(0) > 0, "{name}: no area coloured by trend: {r}");
            assert_eq!(r["seriesChart"].as_u64(), Some(1), "{name}: no time-series chart: {r}");
            assert!(r["seriesText"].as_str().unwrap_or("").contains("Trend:"), "{name}: {r}");
        }
        // The deep link: indicator, period and area from the URL; the details name the
        // area and link its profile; the table lists the level and marks the area.
        let (dl, want) = (&r["deepLink"], &r["deepLinkExpected"]);
        assert_eq!(dl["indicator"], want["indicator"], "{name}: {r}");
        assert_eq!(dl["period"], want["period"], "{name}: {r}");
        assert!(dl["info"].as_str().unwrap_or("").contains(want["code"].as_str().unwrap()), "{name}: {r}");
        assert_eq!(dl["profileLink"], true, "{name}: {r}");
        assert!(dl["tableRows"].as_u64().unwrap_or(0) > 0 && !dl["selectedRow"].as_str().unwrap_or("").is_empty(), "{name}: {r}");
        // `compare=` in the link: two areas side by side, a row per indicator.
        assert_eq!(dl["compareRows"], want["indicators"], "{name}: {r}");
        // The cluster mode where the first indicator has hotspots = { … }.
        let has_hotspots = !list["indicators"][0]["hotspots"].is_null();
        assert_eq!(r["hotspotsEnabled"].as_bool(), Some(has_hotspots), "{name}: {r}");
        if has_hotspots {
            assert!(r["hotspotLegend"].as_str().unwrap_or("").contains("permutaties"), "{name}: {r}");
            assert!(r["hotspotAreas"].as_u64().unwrap_or(0) > 0, "{name}: no area coloured by cluster: {r}");
        }
        for l in &p.levels {
            let n = r["perLevel"][&l.id].as_u64().unwrap_or(0);
            assert!(n > 0, "{name}: level {} drew no area at its own zoom: {r}", l.id);
        }
        assert!(shot.exists());
        // A project limited to a region has its surroundings as grey context, never as
        // one of its own areas.
        let (_, ctx) = server.get("/context.geojson");
        let ctx: serde_json::Value = serde_json::from_str(&ctx).unwrap();
        let ctx_codes: Vec<String> =
            ctx["features"].as_array().unwrap().iter().map(|f| f["properties"]["code"].as_str().unwrap().to_string()).collect();
        if p.region.is_some() || p.levels.iter().any(|l| l.within.is_some()) {
            assert!(!ctx_codes.is_empty(), "{name}: no context around the region");
            let (_, items) = server.get(&format!("/ogc/collections/{}/items?limit=10000&f=json", p.levels.last().unwrap().id));
            for c in &ctx_codes {
                assert!(!items.contains(&format!("\"code\":\"{c}\"")), "{name}: context area {c} is also a project area");
            }
        }
        eprintln!("{name}: screenshot {} ({r})", shot.display());
    }
}

#[test]
fn every_style_converts_in_qgis_without_skipped_expressions() {
    let python = Path::new("/usr/bin/python3");
    let has_qgis = python.exists() && Command::new(python).args(["-c", "import qgis.core"]).output().is_ok_and(|o| o.status.success());
    if !require_program(has_qgis, "python3-qgis", "BUURTMETER_SKIP_QGIS") {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qgis/convert_style.py");
    for (name, path) in example_projects() {
        let dir = tempfile::tempdir().unwrap();
        let out = buurtmeter(&["export", "--project", path.to_str().unwrap(), "--styles", dir.path().to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let run = Command::new(python).arg(&script).args(&files).env("QT_QPA_PLATFORM", "offscreen").output().expect("python3");
        assert!(run.status.success(), "{name}: {}", String::from_utf8_lossy(&run.stderr));
        let levels = Project::load(&path).unwrap().levels.len();
        let lines: Vec<serde_json::Value> =
            String::from_utf8_lossy(&run.stdout).lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), files.len(), "{name}: one result per style");
        for r in lines {
            assert_eq!(r["result"], 0, "{name}: {r}");
            assert_eq!(r["warnings"].as_array().map(Vec::len), Some(0), "{name}: QGIS skipped part of the style: {r}");
            // Per level at least one value class plus protected and missing.
            assert!(r["fill_styles"].as_u64().unwrap() >= 3 * levels as u64, "{name}: {r}");
        }
    }
}

#[test]
fn every_channel_carries_the_same_fields() {
    for (name, path) in example_projects() {
        let server = Server::start(&["--project", path.to_str().unwrap()]);
        let dir = tempfile::tempdir().unwrap();
        let gpkg = dir.path().join("e.gpkg");
        let out = buurtmeter(&["export", "--project", path.to_str().unwrap(), "--gpkg", gpkg.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        for l in Project::load(&path).unwrap().levels {
            // Tiles: the TileJSON's field list.
            let (_, tj) = server.get(&format!("/tiles/{}", l.id));
            let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
            let tile_fields: std::collections::BTreeSet<String> =
                tj["vector_layers"][0]["fields"].as_object().unwrap().keys().cloned().collect();
            // OGC API: the union of the items' property names.
            let (_, items) = server.get(&format!("/ogc/collections/{}/items?limit=10000&f=json", l.id));
            let items: serde_json::Value = serde_json::from_str(&items).unwrap();
            let ogc_fields: std::collections::BTreeSet<String> = items["features"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["properties"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
                .collect();
            // GeoPackage: the level layer's fields, as GDAL lists them.
            let (ok, info) = ogrinfo(&["-so", gpkg.to_str().unwrap(), &l.id]);
            assert!(ok, "{info}");
            let gpkg_fields: std::collections::BTreeSet<String> = info
                .lines()
                .filter_map(|line| {
                    line.split_once(": ").filter(|(_, t)| t.starts_with("String") || t.starts_with("Real")).map(|(k, _)| k.to_string())
                })
                .collect();
            assert_eq!(tile_fields, ogc_fields, "{name} {}: tiles vs OGC API", l.id);
            assert_eq!(tile_fields, gpkg_fields, "{name} {}: tiles vs GeoPackage", l.id);
        }
    }
}

/// Every example project in German, English and Dutch in headless Chromium
/// (`tests/browser/languages.cjs`): the browser's language picks the interface of the
/// map and of an area's profile, `?lang=` and the switch override it, no console errors.
#[test]
fn every_example_speaks_dutch_german_and_english() {
    if !require_browser() {
        return;
    }
    for (name, path) in example_projects().into_iter().filter(|(n, _)| n != "demo") {
        let p = Project::load(&path).unwrap();
        let server = Server::start(&["--project", path.to_str().unwrap()]);
        let level = &p.levels[0].id;
        let (_, items) = server.get(&format!("/ogc/collections/{level}/items?limit=1&f=json"));
        let items: serde_json::Value = serde_json::from_str(&items).unwrap();
        let code = items["features"][0]["id"].as_str().unwrap_or_else(|| panic!("{name}: no area in {level}")).to_string();
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("languages-{name}"));
        std::fs::create_dir_all(&shots).unwrap();
        let profile = format!("/areas/{level}/{code}");
        let args = [server.base.as_ref(), shots.as_os_str(), profile.as_ref()];
        let r = browser_json("languages.cjs", &args, &[("BASEMAP_HOST", &basemap_hosts(&p))]);
        assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{name}: {r:#}");
        for (key, lang, legend) in [("de", "de", "Legende"), ("en", "en", "Legend"), ("switched", "en", "Legend"), ("nl", "nl", "Legenda")]
        {
            assert_eq!(r[key]["lang"], lang, "{name} {key}: {:#}", r[key]);
            assert_eq!(r[key]["legendTitle"], legend, "{name} {key}: {:#}", r[key]);
            assert!(r[key]["features"].as_u64().unwrap_or(0) > 0, "{name} {key}: nothing drawn: {:#}", r[key]);
        }
        for (key, lang) in [("profileDe", "de"), ("profileEn", "en"), ("profileNl", "nl")] {
            assert_eq!(r[key]["lang"], lang, "{name} {key}: {:#}", r[key]);
        }
    }
}
