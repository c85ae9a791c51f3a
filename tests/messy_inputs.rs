//! Messy but realistic inputs: points as GeoJSON and Shapefile, areas with duplicated
//! ids and self-intersections, a custom (non-CBS) level rolled up through its polygons.

mod common;

use std::process::Command;

use common::*;

fn ogr2ogr(args: &[&str]) {
    let st = Command::new("ogr2ogr").args(args).status().expect("ogr2ogr");
    assert!(st.success(), "ogr2ogr {args:?}");
}

/// `buurtmeter count` of (points file, layer) in (areas file, layer), written to `dir`:
/// the counts per area and what it said on stderr.
fn count_in(
    dir: &std::path::Path,
    (areas, areas_layer): (&str, &str),
    (points, points_layer): (&str, Option<&str>),
) -> (std::collections::BTreeMap<String, (u64, f64)>, String) {
    let out = dir.join("c.csv");
    let mut args = vec!["count", "--areas", areas, "--areas-layer", areas_layer, "--points", points, "--out", out.to_str().unwrap()];
    if let Some(l) = points_layer {
        args.extend(["--points-layer", l]);
    }
    let o = buurtmeter(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    (read_counts(&std::fs::read_to_string(&out).unwrap()), stderr(&o))
}

#[test]
fn geojson_and_shapefile_points_count_like_the_geopackage() {
    let Some(gpkg) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else {
        return;
    };
    let g = gpkg.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let geojson = dir.path().join("grid.geojson");
    let shp = dir.path().join("grid.shp");
    // GeoJSON is written in WGS84 (as RFC 7946 wants); the Shapefile stays in RD New.
    ogr2ogr(&["-f", "GeoJSON", "-t_srs", "EPSG:4326", geojson.to_str().unwrap(), g, "vierkant_100m"]);
    ogr2ogr(&["-f", "ESRI Shapefile", shp.to_str().unwrap(), g, "vierkant_100m"]);
    let count = |points: &str, layer: Option<&str>| count_in(dir.path(), (g, "wijken"), (points, layer)).0;
    let from_gpkg = count(g, Some("vierkant_100m"));
    let from_shp = count(shp.to_str().unwrap(), None);
    let from_geojson = count(geojson.to_str().unwrap(), None);
    assert_eq!(from_gpkg, from_shp);
    let total: u64 = from_gpkg.values().map(|c| c.0).sum();
    assert!(total > 16_000);
    // Cell centres are 50 m from any 100 m grid line; a WGS84 round trip moves them by
    // centimetres, so the counts agree except for points within centimetres of a boundary.
    let diff: u64 = from_gpkg.iter().map(|(k, v)| v.0.abs_diff(from_geojson[k].0)).sum();
    assert!(diff <= 4, "{diff}");
}

/// Files with Z or M coordinates (a PolygonZ export, points with heights or measures)
/// count as their 2D selves: GDAL's conversion refuses such geometries, which once lost
/// every area ("no usable polygon geometry") and every point ("no geometry").
#[test]
fn areas_and_points_with_z_or_m_count_like_their_2d_selves() {
    let Some(gpkg) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else {
        return;
    };
    let g = gpkg.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (areas_z, points_m, points_z) =
        (dir.path().join("wijken_z.gpkg"), dir.path().join("points_m.gpkg"), dir.path().join("points_z.shp"));
    ogr2ogr(&["-f", "GPKG", "-dim", "XYZ", areas_z.to_str().unwrap(), g, "wijken"]);
    ogr2ogr(&["-f", "GPKG", "-dim", "XYM", points_m.to_str().unwrap(), g, "vierkant_100m"]);
    ogr2ogr(&["-f", "ESRI Shapefile", "-dim", "XYZ", points_z.to_str().unwrap(), g, "vierkant_100m"]);
    let count = |areas: &str, layer: &str, points: &str, points_layer: Option<&str>| {
        let (counts, e) = count_in(dir.path(), (areas, layer), (points, points_layer));
        assert!(!e.contains("without a usable polygon") && !e.contains("no_geometry"), "{e}");
        counts
    };
    let flat = count(g, "wijken", g, Some("vierkant_100m"));
    assert!(flat.values().map(|c| c.0).sum::<u64>() > 16_000);
    assert_eq!(count(areas_z.to_str().unwrap(), "wijken", points_m.to_str().unwrap(), None), flat);
    assert_eq!(count(areas_z.to_str().unwrap(), "wijken", points_z.to_str().unwrap(), None), flat);
}

#[test]
fn duplicated_ids_and_self_intersections_are_warnings_naming_the_ids() {
    let dir = tempfile::tempdir().unwrap();
    let areas = dir.path().join("areas.geojson");
    std::fs::write(
        &areas,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::28992"}},"features":[
 {"type":"Feature","properties":{"code":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,300000],[100,300000],[100,300100],[0,300100],[0,300000]]]}},
 {"type":"Feature","properties":{"code":"A"},"geometry":{"type":"Polygon","coordinates":[[[200,300000],[300,300000],[300,300100],[200,300100],[200,300000]]]}},
 {"type":"Feature","properties":{"code":"BOWTIE"},"geometry":{"type":"Polygon","coordinates":[[[400,300000],[500,300100],[500,300000],[400,300100],[400,300000]]]}},
 {"type":"Feature","properties":{"code":"C"},"geometry":{"type":"Polygon","coordinates":[[[600,300000],[700,300000],[700,300100],[600,300100],[600,300000]]]}}
]}"#,
    )
    .unwrap();
    let points = dir.path().join("p.csv");
    std::fs::write(&points, "x;y\n50;300050\n250;300050\n650;300050\n425;300050\n9999;300050\n").unwrap();
    let summary = dir.path().join("s.json");
    let o = buurtmeter(&[
        "count",
        "--areas",
        areas.to_str().unwrap(),
        "--id-field",
        "code",
        "--points",
        points.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("duplicated ids") && e.contains("A (×2)"), "{e}");
    assert!(e.contains("invalid polygons") && e.contains("BOWTIE"), "{e}");
    assert!(!e.contains("Warning 1:"), "GDAL's raw messages stay in the log: {e}");
    let counts = read_counts(&String::from_utf8(o.stdout.clone()).unwrap());
    assert_eq!(counts["A"].0, 2, "both parts of the duplicated id count");
    assert_eq!(counts["C"].0, 1);
    assert_eq!(counts["BOWTIE"].0, 1, "the left lobe of the bow tie, even-odd rule");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["rows"], 5);
    assert_eq!(s["joined"], 4);
    assert_eq!(s["outside"], 1);
}

#[test]
fn custom_postcode_level_rolls_up_to_gemeenten_through_polygons() {
    let (Some(pc4), Some(nl), Some(rijnmond)) = (
        shared_data("nl_pc4_2024_inwoners/nl_pc4_2024_certegis.gpkg"),
        shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg"),
        shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "postcodes"
[[levels]]
id = "postcodes"
path = "{}"
layer = "postcodes4"
id_field = "postcode"
parent = "gemeenten"
[[levels]]
id = "gemeenten"
path = "{}"
layer = "gemeenten"
id_field = "code"
[[points]]
id = "grid"
path = "{}"
layer = "vierkant_100m"
weight = "aantal_inwoners"
[[indicators]]
id = "inwoners"
title = "inwoners (CBS 100 m grid)"
numerator = {{ points = "grid", weighted = true }}
"#,
            pc4.display(),
            nl.display(),
            rijnmond.display()
        ),
    )
    .unwrap();
    let p = buurtmeter::config::Project::load(&project).unwrap();
    let snap = buurtmeter::snapshot::build(&p).unwrap();
    let (pc, gm) = (snap.level_index("postcodes").unwrap(), snap.level_index("gemeenten").unwrap());
    assert!(snap.levels[pc].parent_area.iter().filter(|p| p.is_some()).count() > 4000, "postcodes found their gemeente");
    let ind = &snap.indicators[0];
    let (vp, vg) = (&ind.per_level[pc], &ind.per_level[gm]);
    let total_pc: f64 = vp.numerator.iter().flatten().sum();
    let total_gm: f64 = vg.numerator.iter().flatten().sum();
    // Points in no postcode area (water, simplified coasts) are still found in a gemeente
    // polygon: the gemeente total is the postcode total plus exactly those.
    let jl = &snap.points[0];
    let w = jl.layer.weights.as_ref().unwrap();
    let extra: f64 = (0..jl.layer.len())
        .filter(|&i| jl.assigned[pc][i] == buurtmeter::join::NONE && jl.assigned[gm][i] != buurtmeter::join::NONE)
        .map(|i| w[i])
        .sum();
    assert!(extra < 0.01 * total_pc, "{extra}");
    assert!((total_pc + extra - total_gm).abs() < 1e-6, "{total_pc} + {extra} vs {total_gm}");
    // Points with a postcode inherit that postcode's gemeente.
    for i in 0..jl.layer.len() {
        let a = jl.assigned[pc][i];
        if a != buurtmeter::join::NONE {
            assert_eq!(snap.levels[pc].parent_area[a as usize], Some(jl.assigned[gm][i]).filter(|&g| g != buurtmeter::join::NONE));
        }
    }
    let rotterdam = snap.levels[gm].by_code["GM0599"];
    assert!(vg.numerator[rotterdam].unwrap() > 500_000.0, "Rotterdam has its inhabitants: {:?}", vg.numerator[rotterdam]);
    let acc = &snap.points[0].layer.accounting;
    assert!(acc.balances());
}
