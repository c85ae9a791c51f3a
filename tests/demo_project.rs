//! The demo project end to end, checked against an independent recount: the CSVs parsed
//! here by hand, the buurten read with GDAL, containment by geo's `Contains`.

mod common;

use std::collections::BTreeMap;

use buurtmeter::config::Project;
use buurtmeter::snapshot::{self, Snapshot};
use geo::{BoundingRect, Contains};

fn snapshot() -> Snapshot {
    let project = Project::load(&common::demo_project()).expect("demo project loads");
    snapshot::build(&project).expect("demo project builds")
}

/// The vacancy CSV parsed by hand: (x, y, functie, year, m²) for rows with good values.
fn vacancy_rows() -> Vec<(f64, f64, String, i32, f64)> {
    let text = std::fs::read_to_string(common::demo_project().with_file_name("leegstand_demodorp.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let num = |s: &str| s.replace(',', ".").parse::<f64>().ok().filter(|v| v.is_finite());
            let d: Vec<i32> = f[4].split('-').filter_map(|p| p.parse().ok()).collect();
            let days_in_month = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let valid_date = d.len() == 3 && (1..=12).contains(&d[1]) && d[0] >= 1 && d[0] <= days_in_month[(d[1] - 1) as usize];
            Some((num(f[1])?, num(f[2])?, f[3].to_string(), if valid_date { d[2] } else { return None }, num(f[5])?))
        })
        .filter(|(x, y, ..)| (0.0..300_000.0).contains(x) && (300_000.0..650_000.0).contains(y))
        .collect()
}

#[test]
fn every_row_is_accounted_for() {
    let snap = snapshot();
    let by_id = |id: &str| &snap.points.iter().find(|p| p.layer.id == id).unwrap().layer.accounting;
    let lee = by_id("leegstand");
    assert!(lee.balances());
    assert_eq!(lee.rows, 3006);
    assert_eq!(lee.outside, 1, "the Amsterdam row");
    assert_eq!(lee.rejected_total(), 4, "{:?}", lee.rejected);
    // 31-02-2024 is no date: the row is a point all the same, in whole-period indicators,
    // not in any month, and named.
    assert_eq!(lee.field_issues.get(&buurtmeter::model::FieldIssue::DateNotReadable), Some(&1), "{:?}", lee.field_issues);
    assert_eq!(lee.joined, 3001);
    let wat = by_id("wateroverlast");
    assert!(wat.balances());
    assert_eq!(wat.rows, 1510);
    assert_eq!(wat.outside, 5, "the reports from across the border");
    assert_eq!(wat.rejected_total(), 5, "{:?}", wat.rejected);
    let keys: Vec<&str> = wat.rejected.keys().map(|r| r.key()).collect();
    assert!(keys.contains(&"lat_lon_swapped") && keys.contains(&"rd_coordinates_declared_as_lon_lat"), "{keys:?}");
}

#[test]
fn vacancy_counts_and_rates_match_an_independent_recount() {
    let snap = snapshot();
    let rows = vacancy_rows();
    assert_eq!(rows.len(), 3001, "3000 good rows + the Amsterdam one");

    // Buurten straight from the GeoPackage with GDAL; geo's Contains as the oracle.
    use gdal::vector::LayerAccess;
    let ds = gdal::Dataset::open(common::demo_project().with_file_name("demodorp.gpkg")).unwrap();
    let mut layer = ds.layer_by_name("buurten").unwrap();
    let buurten: Vec<(String, geo_types::Geometry<f64>)> = layer
        .features()
        .map(|f| (f.field_as_string(f.field_index("buurtcode").unwrap()).unwrap().unwrap(), f.geometry().unwrap().to_geo().unwrap()))
        .collect();
    let mut oracle: BTreeMap<(String, i32), f64> = BTreeMap::new();
    let mut area_sum: BTreeMap<(String, i32), f64> = BTreeMap::new();
    for (x, y, functie, year, m2) in &rows {
        let p = geo_types::Point::new(*x, *y);
        let inside: Vec<&String> = buurten
            .iter()
            .filter(|(_, g)| g.bounding_rect().is_some_and(|r| r.min().x <= *x && *x <= r.max().x) && g.contains(&p))
            .map(|(c, _)| c)
            .collect();
        assert!(inside.len() <= 1, "buurten overlap at ({x}, {y})");
        if let Some(code) = inside.first() {
            if functie == "wonen" {
                *oracle.entry(((*code).clone(), *year)).or_insert(0.0) += 1.0;
            }
            *area_sum.entry(((*code).clone(), *year)).or_insert(0.0) += m2;
        }
    }

    let ind = snap.indicator("leegstand_woningen_pct").unwrap();
    let bu = snap.level_index("buurten").unwrap();
    let v = &ind.per_level[bu];
    assert_eq!(v.periods, vec!["2023", "2024", "2025"]);
    let level = &snap.levels[bu];
    for (a, area) in level.areas.iter().enumerate() {
        for (p, period) in v.periods.iter().enumerate() {
            let k = v.index(a, p);
            let expected = oracle.get(&(area.code.clone(), period.parse().unwrap())).copied().unwrap_or(0.0);
            assert_eq!(v.numerator[k], Some(expected), "{} {period}", area.code);
            match v.denominator[k] {
                Some(d) if d > 0.0 => {
                    assert!((v.value[k].unwrap() - expected / d * 100.0).abs() < 1e-9)
                }
                _ => assert_eq!(v.value[k], None, "{}: no denominator, no rate", area.code),
            }
        }
    }
    // The weighted indicator sums floor areas.
    let w = &snap.indicator("leegstand_m2_per_1000_inw").unwrap().per_level[bu];
    for (a, area) in level.areas.iter().enumerate() {
        for (p, period) in w.periods.iter().enumerate() {
            let expected = area_sum.get(&(area.code.clone(), period.parse().unwrap())).copied().unwrap_or(0.0);
            assert!((w.numerator[w.index(a, p)].unwrap() - expected).abs() < 1e-6, "{} {period}", area.code);
        }
    }
}

#[test]
fn wijk_rates_come_from_summed_numerators_not_averaged_rates() {
    let snap = snapshot();
    let (bu, wk, gm) = (snap.level_index("buurten").unwrap(), snap.level_index("wijken").unwrap(), snap.level_index("gemeenten").unwrap());
    // Indicators under disclosure control have secret and rounded cells: see tests/disclosure.rs.
    for ind in snap.indicators.iter().filter(|i| !i.def.disclosure.is_active()) {
        let (vb, vw, vg) = (&ind.per_level[bu], &ind.per_level[wk], &ind.per_level[gm]);
        assert_eq!(vb.periods, vw.periods);
        for (w, wijk) in snap.levels[wk].areas.iter().enumerate() {
            for p in 0..vw.periods.len() {
                let sum: f64 = snap.levels[bu]
                    .areas
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.code[2..8] == wijk.code[2..8])
                    .map(|(b, _)| vb.numerator[vb.index(b, p)].unwrap())
                    .sum();
                assert_eq!(vw.numerator[vw.index(w, p)], Some(sum), "{} {} {}", ind.def.id, wijk.code, vw.periods[p]);
                if let (Some(d), Some(v)) = (vw.denominator[vw.index(w, p)], vw.value[vw.index(w, p)]) {
                    assert!((v - sum / d * ind.def.scale).abs() < 1e-9);
                }
            }
        }
        for p in 0..vg.periods.len() {
            let total: f64 = (0..snap.levels[wk].areas.len()).map(|w| vw.numerator[vw.index(w, p)].unwrap()).sum();
            assert_eq!(vg.numerator[vg.index(0, p)], Some(total), "{}", ind.def.id);
        }
    }
}

#[test]
fn secret_statistics_stay_missing_and_give_missing_rates() {
    let snap = snapshot();
    let bu = snap.level_index("buurten").unwrap();
    let level = &snap.levels[bu];
    let (name, woningen) = buurtmeter::indicators::stats::find_column(&level.stats, "woningvoorraad").unwrap();
    assert!(name.starts_with("Woningvoorraad"), "{name}");
    let secret: Vec<usize> = (0..woningen.len()).filter(|&i| woningen[i].is_none()).collect();
    assert!(!secret.is_empty(), "the demo has '.' cells");
    assert!(woningen.iter().flatten().all(|&v| v > 0.0), "'.' is never read as 0");
    let v = &snap.indicator("leegstand_woningen_pct").unwrap().per_level[bu];
    for &a in &secret {
        for p in 0..v.periods.len() {
            assert_eq!(v.value[v.index(a, p)], None, "{}", level.areas[a].code);
        }
    }
}

#[test]
fn per_km2_uses_cbs_land_area() {
    let snap = snapshot();
    let bu = snap.level_index("buurten").unwrap();
    let v = &snap.indicator("wateroverlast_km2").unwrap().per_level[bu];
    let (_, land_ha) = buurtmeter::indicators::stats::find_column(&snap.levels[bu].stats, "oppervlakte_land_in_ha").unwrap();
    for a in 0..snap.levels[bu].areas.len() {
        for p in 0..v.periods.len() {
            assert_eq!(v.denominator[v.index(a, p)], land_ha[a].map(|h| h / 100.0));
        }
    }
    assert!(v.denominator_source.as_deref().unwrap().contains("oppervlakte_land_in_ha"));
}

#[test]
fn generator_reproduces_the_committed_demo_csvs() {
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_gen_demo")).arg(dir.path()).status().unwrap();
    assert!(st.success());
    for f in ["kerncijfers_demodorp.csv", "leegstand_demodorp.csv", "wateroverlast_demodorp.csv"] {
        let committed = std::fs::read(common::demo_project().with_file_name(f)).unwrap();
        let fresh = std::fs::read(dir.path().join(f)).unwrap();
        assert!(committed == fresh, "{f} in data/ is not what the generator writes: run `cargo run --bin gen_demo -- data/`");
    }
}

/// One time axis per indicator: every level has the same periods, so parent and child
/// cells line up (before, each level took its periods from its own points).
#[test]
fn every_level_has_the_same_periods() {
    let snap = snapshot();
    for ind in &snap.indicators {
        for v in &ind.per_level[1..] {
            assert_eq!(v.periods, ind.per_level[0].periods, "{}", ind.def.id);
        }
    }
    // A project whose coarser level reaches beyond the finest one's points still gets
    // the same axis: checked on the demo by limiting the buurten to one wijk.
    let mut p = Project::load(&common::demo_project()).unwrap();
    let first_wijk = snap.levels[snap.level_index("wijken").unwrap()].areas[0].code.clone();
    p.levels[0].within = Some(buurtmeter::region::Region::Codes(vec![first_wijk]));
    let small = buurtmeter::snapshot::build(&p).unwrap();
    for ind in &small.indicators {
        for v in &ind.per_level[1..] {
            assert_eq!(v.periods, ind.per_level[0].periods, "{} with one wijk's buurten", ind.def.id);
        }
    }
}

/// `land_km2` without CBS's land area falls back to the polygon's planar area.
#[test]
fn land_km2_falls_back_to_the_polygon_area() {
    let snap = snapshot();
    let ind = snap.indicators.iter().find(|i| i.def.denominator == buurtmeter::indicators::Denominator::LandKm2).unwrap();
    for (li, level) in snap.levels.iter().enumerate() {
        let v = &ind.per_level[li];
        let source = v.denominator_source.clone().unwrap_or_default();
        if source.contains("polygon area") {
            for (a, area) in level.areas.iter().enumerate() {
                assert_eq!(v.denominator[v.index(a, 0)], Some(area.geometry_km2), "{}: {}", level.id, area.code);
            }
        } else {
            assert!(source.contains("/ 100"), "CBS hectares / 100: {source}");
        }
    }
    // Without the CBS figure (a layer with only its codes, no statistics file): the
    // polygon's planar area, checked against SpatiaLite's ST_Area through GDAL.
    let dir = tempfile::tempdir().unwrap();
    let data = common::demo_project().parent().unwrap().to_path_buf();
    let bare = dir.path().join("bare.gpkg");
    let ok = std::process::Command::new("ogr2ogr")
        .args(["-f", "GPKG", bare.to_str().unwrap(), data.join("demodorp.gpkg").to_str().unwrap(), "buurten", "-select", "buurtcode"])
        .status()
        .unwrap();
    assert!(ok.success());
    let toml = format!(
        "name = 'bare'\n[[levels]]\nid = 'buurten'\npath = '{}'\n[[points]]\nid = 'l'\npath = '{}'\nx = 'x'\ny = 'y'\naccess = 'public'\n[[indicators]]\nid = 'd'\ntitle = 'd'\nnumerator = {{ points = 'l' }}\ndenominator = 'land_km2'\n",
        bare.display(),
        data.join("leegstand_demodorp.csv").display()
    );
    let pf = dir.path().join("bare.toml");
    std::fs::write(&pf, toml).unwrap();
    let snap = buurtmeter::snapshot::build(&Project::load(&pf).unwrap()).unwrap();
    let v = &snap.indicator("d").unwrap().per_level[0];
    assert!(v.denominator_source.as_deref().unwrap().contains("polygon area"), "{:?}", v.denominator_source);
    let rows = common::ogr_sql(&bare, "SELECT buurtcode, ST_Area(geom) / 1e6 AS km2 FROM buurten");
    assert_eq!(rows.len(), snap.levels[0].areas.len());
    for r in rows {
        let code = &r[0].1;
        let km2: f64 = r[1].1.parse().unwrap();
        let a = snap.levels[0].by_code[code];
        let ours = v.denominator[v.index(a, 0)].unwrap();
        assert!((ours - km2).abs() < 1e-9 * km2.max(1.0), "{code}: {ours} vs GDAL {km2}");
    }
}
