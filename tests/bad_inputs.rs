//! A corpus of bad input files, each through `buurtmeter count`: a clear message that
//! names the file (and the row or field where it applies), never a panic, and when the
//! file can be read at all, every row accounted for as joined, outside or rejected.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn demo_areas() -> PathBuf {
    demo_project().with_file_name("demodorp.gpkg")
}

/// Run count; returns (success, stderr, summary JSON if written).
fn count(areas: &Path, layer: &str, points: &Path, extra: &[&str]) -> (bool, String, Option<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let mut args = vec![
        "count",
        "--areas",
        areas.to_str().unwrap(),
        "--areas-layer",
        layer,
        "--points",
        points.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--out",
        dir.path().join("c.csv").to_str().unwrap().to_string().leak(),
    ];
    args.extend_from_slice(extra);
    let o = buurtmeter(&args);
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "panic on {}: {e}", points.display());
    let s = std::fs::read_to_string(&summary).ok().map(|t| serde_json::from_str(&t).unwrap());
    (o.status.success(), e, s)
}

fn balanced(s: &serde_json::Value) -> bool {
    let n = |k: &str| s[k].as_u64().unwrap();
    n("rows") == n("joined") + n("outside") + n("rejected")
}

#[test]
fn every_bad_point_file_gets_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    let f = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let areas = demo_areas();

    // Files that cannot be read: an error naming the file and saying what was expected.
    for (file, expect) in [
        (f("empty.csv", b""), "empty"),
        (f("binary.csv", &[0u8, 159, 146, 150, 0, 1, 2, 255, 0, 0]), "binary"),
        (f("garbage.csv", b"lorem ipsum dolor\nsit amet\n"), "no coordinate columns"),
        (f("not_a.gpkg", b"SQLite format 2 -- not really"), "GDAL cannot open"),
        (f("truncated.gpkg", &std::fs::read(&areas).unwrap()[..4096]), "truncated.gpkg"),
    ] {
        let (ok, e, _) = count(&areas, "buurten", &file, &[]);
        assert!(!ok, "{}: should fail", file.display());
        assert!(e.contains(file.file_name().unwrap().to_str().unwrap()), "{}: message does not name the file: {e}", file.display());
        assert!(e.contains(expect), "{}: expected '{expect}' in: {e}", file.display());
    }

    // Files that can be read: every row accounted for, reasons named.
    let header_only = f("header_only.csv", b"x;y\n");
    let (ok, e, s) = count(&areas, "buurten", &header_only, &[]);
    assert!(ok, "{e}");
    let s = s.unwrap();
    assert_eq!(s["rows"], 0);
    assert!(e.contains("no data rows"), "{e}");

    let weird = f("nan_inf_empty.csv", b"x;y\nNaN;320000\n186000;inf\n;\n186000;-inf\n186000;320000\n");
    let (ok, _, s) = count(&areas, "buurten", &weird, &[]);
    let s = s.unwrap();
    assert!(ok && balanced(&s));
    // The line ";" holds nothing at all: no record, named and not counted.
    assert_eq!(s["rows"], 4);
    assert_eq!(s["not_records"], 1);
    assert_eq!(s["rejected_by_reason"]["coordinate_not_finite"], 3);
    assert!(s["rejected_by_reason"].get("missing_coordinate").is_none(), "{s}");

    let mut long = b"x;y;opmerking\n186000;320000;".to_vec();
    long.extend(std::iter::repeat_n(b'a', 10 << 20));
    long.extend_from_slice(b"\n186100;320100;kort\n");
    let long = f("long_line.csv", &long);
    let (ok, e, s) = count(&areas, "buurten", &long, &[]);
    let s = s.unwrap();
    assert!(ok && balanced(&s), "{e}");
    assert_eq!(s["rows"], 2, "a 10 MB line is one row");

    // RD metres declared as lon/lat, and a whole file with lat/lon swapped: one warning
    // for the file, every row rejected with its reason.
    let rd_as_lonlat = f("rd_as_lonlat.csv", b"lon,lat\n186000,320000\n186100,320100\n");
    let (ok, e, s) = count(&areas, "buurten", &rd_as_lonlat, &["--lon", "lon", "--lat", "lat"]);
    let s = s.unwrap();
    assert!(ok && balanced(&s));
    assert_eq!(s["rejected_by_reason"]["rd_coordinates_declared_as_lon_lat"], 2);
    assert!(e.contains("use --x/--y instead of --lon/--lat"), "{e}");
    let swapped = f("swapped.csv", b"lon,lat\n50.87,5.83\n50.88,5.84\n50.86,5.82\n");
    let (ok, e, s) = count(&areas, "buurten", &swapped, &["--lon", "lon", "--lat", "lat"]);
    let s = s.unwrap();
    assert!(ok && balanced(&s));
    assert_eq!(s["rejected_by_reason"]["lat_lon_swapped"], 3);
    assert!(e.contains("the whole file looks swapped"), "{e}");

    // Mixed encodings: UTF-8 and Windows-1252 rows in one file, both read.
    let mut mixed = "x;y;soort\n186000;320000;café\n".as_bytes().to_vec();
    mixed.extend_from_slice(b"186100;320100;caf\xe9\n");
    let mixed = f("mixed.csv", &mixed);
    let (ok, _, s) = count(&areas, "buurten", &mixed, &[]);
    assert!(ok && balanced(&s.unwrap()));
    let rd = buurtmeter::crs::spatial_ref(buurtmeter::crs::RD_NEW).unwrap();
    let src = buurtmeter::ingest::PointSource { path: mixed.clone(), category: Some("soort".into()), ..Default::default() };
    let layer = buurtmeter::ingest::read_points(&src, &rd, "m").unwrap();
    assert_eq!(layer.categories, vec!["café"], "both rows decode to the same category");

    // Broken quoting: the row is rejected as malformed, the rest is read.
    let quotes = f("quotes.csv", b"x;y;naam\n186000;320000;\"open\n186100;320100;ok\n");
    let (ok, e, s) = count(&areas, "buurten", &quotes, &[]);
    assert!(ok, "{e}");
    assert!(balanced(&s.unwrap()));
}

#[test]
fn bad_area_files_say_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let points = dir.path().join("p.csv");
    std::fs::write(&points, "x;y\n186000;320000\n").unwrap();
    let areas = demo_areas();
    let (ok, e, _) = count(&areas, "buurtjes", &points, &[]);
    assert!(!ok, "an unknown layer is an error");
    assert!(
        e.contains("no layer 'buurtjes'")
            && ["buurten", "wijken", "gemeenten"]
                .iter()
                .all(|l| e.contains(&format!("{l}, ")) || e.ends_with(l) || e.trim_end().ends_with(l)),
        "{e}"
    );
    let (ok, e, _) = count(&areas, "buurten", &points, &["--id-field", "bu_code"]);
    assert!(!ok && e.contains("no field 'bu_code'") && e.contains("buurtcode"), "{e}");
    let empty = dir.path().join("empty.gpkg");
    std::fs::write(&empty, b"").unwrap();
    let (ok, e, _) = count(&empty, "buurten", &points, &[]);
    assert!(!ok && e.contains("empty.gpkg"), "{e}");
    // RD New coordinates in a GeoJSON without a crs member (so WGS84): said, with the ids.
    let rd_geojson = dir.path().join("rd.geojson");
    std::fs::write(&rd_geojson, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"A"},"geometry":{"type":"Polygon","coordinates":[[[185000,320000],[186000,320000],[186000,321000],[185000,320000]]]}}]}"#).unwrap();
    let (ok, e, _) = count(&rd_geojson, "rd", &points, &["--id-field", "code"]);
    assert!(ok && e.contains("outside the valid area of the layer's CRS") && e.contains(" A"), "{e}");
    let missing = dir.path().join("nope.gpkg");
    let (ok, e, _) = count(&missing, "buurten", &points, &[]);
    assert!(!ok && e.contains("file not found"), "{e}");
}

#[test]
fn a_misspelt_statistic_is_an_error_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(demo_project()).unwrap().replace("path = \"", &format!("path = \"{}/", data.display())).replacen(
        "denominator = \"woningvoorraad\"",
        "denominator = \"woningvoorad\"",
        1,
    );
    let p = dir.path().join("p.toml");
    std::fs::write(&p, text).unwrap();
    let out = buurtmeter(&["check", "--project", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("indicators[0].denominator") && err.contains("'woningvoorad' is not a statistic of any level"), "{err}");
    assert!(err.to_lowercase().contains("did you mean 'woningvoorraad"), "{err}");
}

#[test]
fn a_geopackage_that_cannot_be_written_is_an_output_error() {
    // Under a file, so no folder can be made there (not even by root, which CI may be).
    let out = buurtmeter(&["export", "--gpkg", "/dev/null/sub/out.gpkg"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("writing /dev/null/sub"), "named as a write failure, not an input: {err}");
}

/// The project file is checked as a whole before any data is read: a bad delimiter, a
/// bad hot-spot method or a cycle of parents is reported with the project file and the
/// key, even though none of the data files exists.
#[test]
fn the_project_spec_is_checked_before_any_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    let base = "name='x'\n[[levels]]\nid='buurten'\npath='nowhere.gpkg'\n";
    for (extra, says) in [
        ("[[points]]\nid='m'\npath='nowhere.csv'\ndelimiter='::'\n", "delimiter '::' is not one character"),
        (
            "[[points]]\nid='m'\npath='nowhere.csv'\n[[indicators]]\nid='i'\ntitle='t'\nnumerator={points='m'}\nhotspots={method='getis'}\n",
            "hotspots: method = 'getis'",
        ),
        ("parent='wijken'\n[[levels]]\nid='wijken'\npath='nowhere.gpkg'\nparent='buurten'\n", "the parents form a cycle"),
        ("[[indicators]]\nid='i'\ntitle='t'\nnumerator={statistic='s', weighted=true}\n", "apply to points, not to a statistic"),
    ] {
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        let out = buurtmeter(&["check", "--project", p.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("project file") && err.contains(says), "{extra}: {err}");
        assert!(!err.contains("nowhere"), "no data file was opened: {err}");
    }
}

/// A file that cannot be read is named with the section of the project it belongs to:
/// the level, the statistics file or the point layer, and then the file itself.
#[test]
fn a_missing_file_is_named_with_its_level_statistics_or_point_layer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    let gpkg = demo_project().with_file_name("demodorp.gpkg");
    let level = format!("name='x'\n[[levels]]\nid='buurten'\npath='{}'\nlayer='buurten'\n", gpkg.display());
    for (extra, says) in [
        ("[[points]]\nid='meldingen'\npath='weg.csv'\n", "point layer 'meldingen': "),
        ("[[statistics]]\npath='weg.csv'\n", "statistics[0]: "),
    ] {
        std::fs::write(&p, format!("{level}{extra}")).unwrap();
        let out = buurtmeter(&["check", "--project", p.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(says) && err.contains("weg.csv"), "{extra}: {err}");
    }
    std::fs::write(&p, "name='x'\n[[levels]]\nid='wijken'\npath='weg.gpkg'\n").unwrap();
    let err = stderr(&buurtmeter(&["check", "--project", p.to_str().unwrap()]));
    assert!(err.contains("level 'wijken': ") && err.contains("weg.gpkg") && err.contains("file not found"), "{err}");
}
