//! Areas that are not CBS areas (issue 22): one `gemeenten` level of two files in two
//! CRSs (the Dutch gemeenten in EPSG:28992 with CBS codes, the German Gemeinden of VG250
//! in EPSG:25832 with 12-digit ARS codes), Aachen's 34 statistical districts (EPSG:4326
//! and 3035, numbers for codes) whose parent is found by geometry, the municipalities of
//! the StädteRegion with their names for codes, all in the working CRS EPSG:3035; the
//! invalid VG250 polygon reported by its ARS and repaired. Real data from
//! `../shared/data`, read in place; the oracles are GDAL's own answers on the same files.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use buurtmeter::config::Project;
use buurtmeter::model::Prop;
use buurtmeter::snapshot;
use common::*;

/// The Parkstad gemeenten and Vaals: the Dutch side of the region.
const NL_REGION: [&str; 8] = ["GM0917", "GM0928", "GM0882", "GM0899", "GM0965", "GM0986", "GM1954", "GM0981"];

struct Files {
    nl_gemeenten: PathBuf,
    vg250: PathBuf,
    aachen: PathBuf,
}

fn files() -> Option<Files> {
    Some(Files {
        nl_gemeenten: shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg")?,
        vg250: shared_data("de_vg250_gem_2022_simplified_region/de_vg250_gem_2022_simplified_region.gpkg")?,
        aachen: shared_data("de_aachen_statistische_bezirke/aachen_statistische_bezirke.gpkg")?,
    })
}

fn write_project(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("project.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn region_line(extra: &[&str]) -> String {
    let codes: Vec<String> = NL_REGION.iter().chain(extra).map(|c| format!("\"{c}\"")).collect();
    format!("region = [{}]", codes.join(", "))
}

/// The `gemeenten` level of two parts: the Dutch gemeenten and the German Gemeinden.
fn gemeenten_level(f: &Files, german_layer: &str) -> String {
    format!(
        r#"
[[levels]]
id = "gemeenten"
title = "Gemeenten / Gemeinden"

[[levels.parts]]
path = "{nl}"
layer = "gemeenten"
id_field = "gemeentecode"
name_field = "gemeentenaam"
country = "NL"

[[levels.parts]]
path = "{de}"
layer = "{german_layer}"
id_field = "ARS"
country = "DE"
"#,
        nl = f.nl_gemeenten.display(),
        de = f.vg250.display(),
    )
}

/// `SELECT ARS FROM gemeinden_25832 WHERE NOT ST_IsValid(geom)`, as GDAL answers it.
fn invalid_ars(vg250: &Path) -> Vec<String> {
    ogr_sql(vg250, "SELECT ARS FROM gemeinden_25832 WHERE NOT ST_IsValid(geom)")
        .into_iter()
        .map(|row| row.into_iter().find(|(k, _)| k == "ARS").unwrap().1)
        .collect()
}

#[test]
fn a_level_of_two_countries_in_three_crss_with_districts_found_by_geometry() {
    let Some(f) = files() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"name = "Parkstad en Aachen"
crs = "EPSG:3035"
{region}

# Aachen's districts (EPSG:4326): numbers no region code can name, so not limited.
[[levels]]
id = "bezirke"
path = "{aachen}"
layer = "statistische_bezirke_wgs84"
id_field = "STATBEZ"
name_field = "ST_NAME"
country = "DE"
parent = "gemeenten"
within = "all"

# The same districts in EPSG:3035, in the municipalities of the StädteRegion, Kreis
# Heinsberg and Kreis Düren (EPSG:4326) that have no code: their names are the codes.
[[levels]]
id = "bezirke_3035"
path = "{aachen}"
layer = "statistische_bezirke_3035"
id_field = "STATBEZ"
name_field = "ST_NAME"
country = "DE"
parent = "kommunen"
within = "all"

[[levels]]
id = "kommunen"
path = "{aachen}"
layer = "kommunen_wgs84"
id_field = "GN"
name_field = "GN"
country = "DE"
within = "all"
{gemeenten}"#,
        region = region_line(&["05334"]),
        aachen = f.aachen.display(),
        gemeenten = gemeenten_level(&f, "gemeinden_25832"),
    );
    let project = Project::load(&write_project(dir.path(), &text)).unwrap();
    let snap = snapshot::build(&project).unwrap();
    let li = |id: &str| snap.level_index(id).unwrap();
    let (bz, bz3035, km, gm) = (li("bezirke"), li("bezirke_3035"), li("kommunen"), li("gemeenten"));

    // The gemeenten level: the Dutch gemeenten of the region (their land rows) and the
    // German Gemeinden of the StädteRegion Aachen (ARS prefix 05334), codes as the files
    // have them, each with its country.
    let nl_codes: BTreeSet<String> = ogr_sql(
        &f.nl_gemeenten,
        &format!(
            "SELECT gemeentecode FROM gemeenten WHERE water = 'NEE' AND gemeentecode IN ({})",
            NL_REGION.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
        ),
    )
    .into_iter()
    .map(|r| r[0].1.clone())
    .collect();
    assert_eq!(nl_codes.len(), NL_REGION.len());
    let de_codes: BTreeSet<String> =
        ogr_sql(&f.vg250, "SELECT ARS FROM gemeinden_25832 WHERE ARS LIKE '05334%'").into_iter().map(|r| r[0].1.clone()).collect();
    assert!(de_codes.len() >= 8, "{de_codes:?}");
    let level = &snap.levels[gm];
    let country_of = |c: &str| level.areas[level.by_code[c]].country.clone();
    let got: BTreeSet<String> = level.areas.iter().map(|a| a.code.clone()).collect();
    assert_eq!(got, nl_codes.union(&de_codes).cloned().collect::<BTreeSet<_>>(), "the region's gemeenten on both sides");
    assert!(nl_codes.iter().all(|c| country_of(c).as_deref() == Some("NL")));
    assert!(de_codes.iter().all(|c| country_of(c).as_deref() == Some("DE")));
    assert_eq!(level.cbs_kind, None, "a level of two code systems is no CBS level");
    assert_eq!(level.areas[level.by_code["GM0917"]].name.as_deref(), Some("Heerlen"));

    // The country is an area property: in the tiles, the OGC API items and the GeoPackage.
    let props = snapshot::area_properties(&snap.levels, &snap.indicators);
    let aachen = level.by_code["053340002002"];
    assert!(props[gm][aachen].contains(&("country".to_string(), Prop::Str("DE".into()))), "{:?}", props[gm][aachen]);
    assert!(props[gm][level.by_code["GM0928"]].contains(&("country".to_string(), Prop::Str("NL".into()))));

    // 34 of 34 districts lie in Aachen, found by geometry (their numbers nest in nothing):
    // in the VG250 Gemeinde 053340002002 and in the Freifunk municipality "Aachen".
    for (child, parent, code) in [(bz, gm, "053340002002"), (bz3035, km, "Aachen")] {
        let l = &snap.levels[child];
        assert_eq!(l.areas.len(), 34, "{}", l.id);
        assert_eq!(l.parent, Some(parent));
        let in_aachen =
            l.parent_area.iter().filter(|p| p.map(|p| snap.levels[parent].areas[p as usize].code.as_str()) == Some(code)).count();
        assert_eq!(in_aachen, 34, "districts of {} in {code}", l.id);
        assert!(l.areas.iter().all(|a| a.country.as_deref() == Some("DE")));
    }
    assert!(snap.levels[bz].by_code.contains_key("10") && snap.levels[bz].by_code.contains_key("66"));

    // EPSG:4326 → 3035: Aachen's municipal polygon is 160.88 km² (SOURCES.md; official
    // 160.85), and the districts read from 4326 and from 3035 have the same areas.
    let kommunen = &snap.levels[km];
    assert_eq!(kommunen.areas.len(), 35);
    let a = kommunen.areas[kommunen.by_code["Aachen"]].geometry_km2;
    assert!((a - 160.88).abs() < 0.05, "Aachen {a} km²");
    for (x, y) in snap.levels[bz].areas.iter().zip(&snap.levels[bz3035].areas) {
        assert_eq!(x.code, y.code);
        assert!((x.geometry_km2 - y.geometry_km2).abs() < 1e-3 * y.geometry_km2, "{} {} {}", x.code, x.geometry_km2, y.geometry_km2);
    }
    // EPSG:28992 → 3035: Heerlen as GDAL measures it after its own transformation.
    let heerlen_3035 = ogr_sql(
        &f.nl_gemeenten,
        "SELECT ST_Area(ST_Transform(geom, 3035)) / 1e6 AS km2 FROM gemeenten WHERE gemeentecode = 'GM0917' AND water = 'NEE'",
    )[0][0]
        .1
        .parse::<f64>()
        .unwrap();
    let heerlen = level.areas[level.by_code["GM0917"]].geometry_km2;
    assert!((heerlen - heerlen_3035).abs() < 1e-3, "{heerlen} vs {heerlen_3035}");

    // The invalid VG250 polygon, found by GDAL, is named by its ARS with its file and
    // layer, and repaired as MakeValid does: its area is GDAL's area of the repaired polygon.
    let invalid = invalid_ars(&f.vg250);
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    let ars = &invalid[0];
    let w = snap.warnings.iter().find(|w| w.contains("invalid polygons")).unwrap_or_else(|| panic!("{:#?}", snap.warnings));
    assert!(w.contains(ars.as_str()) && w.contains("ARS") && w.contains("gemeinden_25832"), "{w}");
    assert!(w.contains("de_vg250_gem_2022_simplified_region.gpkg") && w.contains("repaired"), "{w}");
    let repaired = dir.path().join("repaired.gpkg");
    let o = std::process::Command::new("ogr2ogr")
        .args(["-f", "GPKG", "-makevalid", "-t_srs", "EPSG:3035", "-where"])
        .arg(format!("ARS = '{ars}'"))
        .arg(&repaired)
        .arg(&f.vg250)
        .arg("gemeinden_25832")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let oracle = ogr_sql(&repaired, "SELECT ST_Area(geom) / 1e6 AS km2, ST_IsValid(geom) AS ok FROM gemeinden_25832")[0][0]
        .1
        .parse::<f64>()
        .unwrap();
    let ours = level.areas[level.by_code[ars.as_str()]].geometry_km2;
    // (The polygon as it is, shoelace over its crossing ring, is 0.008 km² off.)
    assert!((ours - oracle).abs() < 0.001, "{ars}: {ours} km² vs GDAL's MakeValid {oracle} km²");
}

#[test]
fn a_region_of_cbs_codes_only_leaves_the_german_part_out_and_says_how_to_keep_it() {
    let Some(f) = files() else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = format!("name = \"t\"\ncrs = \"EPSG:3035\"\n{}\n{}", region_line(&[]), gemeenten_level(&f, "gemeinden_3035"));
    let snap = snapshot::build(&Project::load(&write_project(dir.path(), &text)).unwrap()).unwrap();
    let level = &snap.levels[0];
    assert_eq!(level.areas.len(), NL_REGION.len());
    assert!(level.areas.iter().all(|a| a.country.as_deref() == Some("NL")));
    let w = snap.warnings.iter().find(|w| w.contains("lies in the region")).unwrap_or_else(|| panic!("{:#?}", snap.warnings));
    assert!(w.contains("de_vg250_gem_2022_simplified_region.gpkg") && w.contains("05334") && w.contains("within = \"all\""), "{w}");
}

#[test]
fn german_gemeinden_nest_in_their_kreis_by_ars() {
    let Some(f) = files() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A Kreis level whose one polygon is far from its Gemeinden: only the codes can nest.
    let kreise = dir.path().join("kreise.geojson");
    std::fs::write(
        &kreise,
        r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3035"}},"features":[
 {"type":"Feature","properties":{"ARS":"05334","GEN":"Städteregion Aachen"},"geometry":{"type":"Polygon","coordinates":[[[3000000,2000000],[3001000,2000000],[3001000,2001000],[3000000,2001000],[3000000,2000000]]]}}
]}"#,
    )
    .unwrap();
    let text = format!(
        r#"name = "t"
crs = "EPSG:3035"

[[levels]]
id = "gemeinden"
path = "{vg250}"
layer = "gemeinden_3035"
id_field = "ARS"
country = "DE"
parent = "kreise"

[[levels]]
id = "kreise"
path = "{kreise}"
id_field = "ARS"
name_field = "GEN"
country = "DE"
"#,
        vg250 = f.vg250.display(),
        kreise = kreise.display()
    );
    let snap = snapshot::build(&Project::load(&write_project(dir.path(), &text)).unwrap()).unwrap();
    let g = &snap.levels[0];
    assert_eq!(g.areas.len(), 26);
    let nested = g.areas.iter().zip(&g.parent_area).filter(|(a, p)| a.code.starts_with("05334") && **p == Some(0)).count();
    let in_kreis = g.areas.iter().filter(|a| a.code.starts_with("05334")).count();
    assert_eq!(nested, in_kreis, "every Gemeinde of 05334 in its Kreis by code");
    assert!(g.areas.iter().zip(&g.parent_area).all(|(a, p)| a.code.starts_with("05334") || p.is_none()));
    let w = snap.warnings.iter().find(|w| w.contains("lie in no area of 'kreise'")).unwrap_or_else(|| panic!("{:#?}", snap.warnings));
    assert!(w.contains(&format!("{} areas", 26 - in_kreis)), "the Gemeinden of Düren and Heinsberg: {w}");
}

#[test]
fn a_code_in_two_parts_is_an_error_naming_both_files() {
    let Some(f) = files() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The German Gemeinden twice, once from each layer of the file.
    let text = format!(
        r#"name = "t"
crs = "EPSG:3035"

[[levels]]
id = "gemeenten"
parts = [
  {{ path = "{de}", layer = "gemeinden_25832", id_field = "ARS", country = "DE" }},
  {{ path = "{de}", layer = "gemeinden_3035", id_field = "ARS", country = "DE" }},
]
"#,
        de = f.vg250.display()
    );
    let project = write_project(dir.path(), &text);
    let o = buurtmeter(&["check", "--project", project.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("level 'gemeenten'") && e.contains("is in two of its parts") && e.contains("unique"), "{e}");
    assert!(e.contains("layer 'gemeinden_25832'") && e.contains("layer 'gemeinden_3035'"), "{e}");
    assert_eq!(e.matches("de_vg250_gem_2022_simplified_region.gpkg").count(), 2, "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn parts_are_checked_before_any_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let load =
        |text: &str| Project::load(&write_project(dir.path(), &format!("name = \"t\"\n{text}"))).map(|_| ()).unwrap_err().to_string();
    let e = load("[[levels]]\nid = \"g\"\npath = \"a.gpkg\"\n[[levels.parts]]\npath = \"b.gpkg\"\n");
    assert!(e.contains("path beside parts"), "{e}");
    let e = load("[[levels]]\nid = \"g\"\n[[levels.parts]]\npath = \"b.gpkg\"\ncountry = \"de\"\n");
    assert!(e.contains("country = 'de'") && e.contains("\"DE\""), "{e}");
    let e = load("[[levels]]\nid = \"g\"\n[[levels.parts]]\npath = \"b.gpkg\"\ncrs = \"EPSG:25832\"\n");
    assert!(e.contains("crs"), "unknown keys in a part are errors: {e}");
    let e = load("region = \"all\"\n[[levels]]\nid = \"g\"\npath = \"a.gpkg\"\n");
    assert!(e.contains("region = 'all'"), "{e}");
    let e = load("[[levels]]\nid = \"g\"\n");
    assert!(e.contains("give either path"), "{e}");
}
