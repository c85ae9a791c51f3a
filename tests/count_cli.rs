//! `buurtmeter count` against real CBS and BAG data, checked against GDAL's own SQL
//! (SpatiaLite `ST_Intersects`) as an independent oracle.

mod common;

use common::*;

#[test]
fn rijnmond_grid_points_per_buurt_match_gdal_sql() {
    let Some(gpkg) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("counts.csv");
    let summary = dir.path().join("summary.json");
    let o = buurtmeter(&[
        "count",
        "--areas",
        gpkg.to_str().unwrap(),
        "--areas-layer",
        "buurten",
        "--points",
        gpkg.to_str().unwrap(),
        "--points-layer",
        "vierkant_100m",
        "--weight",
        "aantal_inwoners",
        "--out",
        out.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = read_counts(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(ours.len(), 625, "one row per buurt, zeros included");

    let oracle = ogr_sql(
        &gpkg,
        // Simplified boundaries overlap a little (150 grid points lie in two buurten): like
        // buurtmeter, the oracle gives such a point to the buurt that comes first (lowest fid).
        "SELECT b.buurtcode AS code, count(*) AS n, sum(t.inw) AS inw FROM \
           (SELECT v.fid AS vf, min(b.fid) AS bf, coalesce(v.aantal_inwoners, 0) AS inw \
            FROM vierkant_100m v JOIN buurten b ON ST_Intersects(b.geom, v.geom) GROUP BY v.fid) t \
         JOIN buurten b ON b.fid = t.bf GROUP BY b.buurtcode",
    );
    assert!(oracle.len() > 500, "oracle returned {} rows", oracle.len());
    for row in &oracle {
        let get = |k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap();
        let code = get("code");
        let (n, inw) = ours[&code];
        assert_eq!(n, get("n").parse::<u64>().unwrap(), "count for {code}");
        assert_eq!(inw, get("inw").parse::<f64>().unwrap(), "inhabitants for {code}");
    }
    let with_points = ours.values().filter(|(n, _)| *n > 0).count();
    assert_eq!(with_points, oracle.len(), "buurten with points");

    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let (rows, joined, outside, rejected) =
        (s["rows"].as_u64().unwrap(), s["joined"].as_u64().unwrap(), s["outside"].as_u64().unwrap(), s["rejected"].as_u64().unwrap());
    assert_eq!(rows, 16_383);
    assert_eq!(rows, joined + outside + rejected);
    assert_eq!(joined, ours.values().map(|(n, _)| n).sum::<u64>());
    let warnings = s["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("150 points lie in more than one area")), "{warnings:?}");
}

#[test]
fn amersfoort_bag_dwellings_as_csv_per_national_wijk_match_geo_contains() {
    let (Some(bag), Some(wijken)) =
        (shared_data("bag_points/sdcspatial_bag_locations.gpkg"), shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg"))
    else {
        return;
    };
    // The BAG points as a ';'-separated CSV with quoted numbers, written by GDAL.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("dwellings.csv");
    let st = std::process::Command::new("ogr2ogr")
        .args(["-f", "CSV", "-lco", "SEPARATOR=SEMICOLON"])
        .arg(&csv)
        .arg(&bag)
        .arg("dwellings")
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    let n_rows = text.lines().count() - 1;
    let out = dir.path().join("counts.csv");
    let o = buurtmeter(&[
        "count",
        "--areas",
        wijken.to_str().unwrap(),
        "--areas-layer",
        "wijken",
        "--id-field",
        "code",
        "--points",
        csv.to_str().unwrap(),
        "--x",
        "x",
        "--y",
        "y",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours = read_counts(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(ours.len(), 3340);
    let total: u64 = ours.values().map(|c| c.0).sum();
    assert_eq!(total as usize, n_rows, "every Amersfoort dwelling lies in some wijk");

    // Oracle: geo's own `Contains` (a different algorithm) on the wijken read with GDAL.
    use gdal::vector::LayerAccess;
    use geo::{BoundingRect, Contains, Intersects};
    let ds = gdal::Dataset::open(&wijken).unwrap();
    let mut layer = ds.layer_by_name("wijken").unwrap();
    let mut polys: Vec<(String, geo_types::Geometry<f64>, geo_types::Rect<f64>)> = Vec::new();
    for f in layer.features() {
        let code = f.field_as_string(f.field_index("code").unwrap()).unwrap().unwrap();
        let g = f.geometry().unwrap().to_geo().unwrap();
        let r = g.bounding_rect().unwrap();
        if r.max().x >= 149_000.0 && r.min().x <= 162_000.0 && r.max().y >= 457_000.0 && r.min().y <= 471_000.0 {
            polys.push((code, g, r));
        }
    }
    let mut oracle: std::collections::BTreeMap<String, u64> = Default::default();
    let mut on_boundary = 0u64;
    let header: Vec<&str> = text.lines().next().unwrap().split(';').collect();
    let xi = header.iter().position(|h| h.trim_matches('"') == "x").unwrap();
    let yi = header.iter().position(|h| h.trim_matches('"') == "y").unwrap();
    let num = |s: &str| s.trim_matches('"').replace(',', ".").parse::<f64>().unwrap();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        let p = geo_types::Point::new(num(f[xi]), num(f[yi]));
        let inside: Vec<&String> = polys.iter().filter(|(_, g, r)| r.intersects(&p) && g.contains(&p)).map(|(c, _, _)| c).collect();
        if inside.len() == 1 {
            *oracle.entry(inside[0].clone()).or_insert(0) += 1;
        } else {
            on_boundary += 1;
        }
    }
    assert!(oracle.len() > 20, "Amersfoort has dozens of wijken with dwellings");
    let diff: u64 = ours.iter().map(|(k, v)| v.0.abs_diff(*oracle.get(k).unwrap_or(&0))).sum();
    assert!(diff <= on_boundary, "{diff} differences, {on_boundary} points on boundaries");
}

#[test]
fn wgs84_and_rd_versions_of_heerlen_give_the_same_counts() {
    let Some(gpkg) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else {
        return;
    };
    // Deterministic pseudo-random points over Heerlen, written as RD New and as lon/lat.
    let dir = tempfile::tempdir().unwrap();
    let rd_csv = dir.path().join("rd.csv");
    let mut s = String::from("x,y\n");
    let mut seed = 42u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..20_000 {
        s.push_str(&format!("{:.2},{:.2}\n", 189_000.0 + rnd() * 10_000.0, 316_000.0 + rnd() * 10_000.0));
    }
    std::fs::write(&rd_csv, s).unwrap();
    let run = |layer: &str| {
        let out = dir.path().join(format!("{layer}.csv"));
        let o = buurtmeter(&[
            "count",
            "--areas",
            gpkg.to_str().unwrap(),
            "--areas-layer",
            layer,
            "--id-field",
            "CBS-buurtcode",
            "--points",
            rd_csv.to_str().unwrap(),
            "--x",
            "x",
            "--y",
            "y",
            "--crs",
            "EPSG:28992",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        read_counts(&std::fs::read_to_string(&out).unwrap())
    };
    let rd = run("buurten_rd");
    let wgs = run("buurten_wgs84");
    assert_eq!(rd.len(), 57);
    let total_rd: u64 = rd.values().map(|c| c.0).sum();
    let total_wgs: u64 = wgs.values().map(|c| c.0).sum();
    assert!(total_rd > 5_000, "axis order: most points must land in Heerlen, got {total_rd}");
    // The two geometries differ by reprojection round-off only: a handful of points at most.
    let diff: u64 = rd.iter().map(|(k, v)| v.0.abs_diff(wgs[k].0)).sum();
    assert!(diff <= 4, "RD and WGS84 layers disagree on {diff} points");
    assert!(total_rd.abs_diff(total_wgs) <= 2);
}

#[test]
fn bad_inputs_give_messages_that_name_the_file_and_what_exists() {
    let Some(gpkg) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else {
        return;
    };
    let g = gpkg.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    std::fs::write(&csv, "xx;yy\n1;2\n").unwrap();
    let c = csv.to_str().unwrap();

    let o = buurtmeter(&["count", "--areas", g, "--areas-layer", "nope", "--points", c]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("no layer 'nope'") && e.contains("buurten_rd") && e.contains("heerlen_buurten_2023.gpkg"), "{e}");
    assert!(!e.contains("panicked"), "{e}");

    let o = buurtmeter(&["count", "--areas", g, "--areas-layer", "buurten_rd", "--id-field", "buurtcode", "--points", c]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("no field 'buurtcode'") && e.contains("CBS-buurtcode"), "{e}");

    let o = buurtmeter(&["count", "--areas", g, "--areas-layer", "buurten_rd", "--points", c, "--x", "x", "--y", "y"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("no column 'x'") && e.contains("xx, yy") && e.contains("p.csv"), "{e}");

    let bogus = dir.path().join("not.gpkg");
    std::fs::write(&bogus, b"this is not a geopackage").unwrap();
    let o = buurtmeter(&["count", "--areas", bogus.to_str().unwrap(), "--points", c]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("not.gpkg") && !e.contains("panicked"), "{e}");
}

#[test]
fn counts_go_to_stdout_with_zeros_and_weights() {
    let Some(gpkg) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    // One point in Heerlen centre (weight 2,5 with a decimal comma), one in the sea, one broken.
    std::fs::write(&csv, "lat;lon;gewicht\n50,8885;5,9795;2,5\n52,5;3,5;1\n;;1\n").unwrap();
    let o = buurtmeter(&[
        "count",
        "--areas",
        gpkg.to_str().unwrap(),
        "--areas-layer",
        "buurten_wgs84",
        "--id-field",
        "CBS-buurtcode",
        "--points",
        csv.to_str().unwrap(),
        "--lon",
        "lon",
        "--lat",
        "lat",
        "--weight",
        "gewicht",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(out.starts_with("area_id,count,weight_sum\n"), "{out}");
    let counts = read_counts(&out);
    assert_eq!(counts.len(), 57);
    assert_eq!(counts.values().map(|c| c.0).sum::<u64>(), 1);
    assert_eq!(counts.values().map(|c| c.1).sum::<f64>(), 2.5);
    let e = stderr(&o);
    assert!(e.contains("3 rows: 1 joined, 1 outside all areas, 1 rejected"), "{e}");
}

#[test]
fn verbose_logs_into_a_pipe_have_no_colour_codes() {
    let out = buurtmeter(&["-v", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("INFO"), "{err}");
    assert!(!err.contains('\u{1b}'), "escape codes in a pipe: {err}");
}
