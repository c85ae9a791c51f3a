//! Real CBS files as published: StatLine CSV with symbols, an OData export, and the
//! CBS 2024 GeoPackage with its sentinels and land/water rows.

mod common;

use buurtmeter::crs;
use buurtmeter::ingest::statistics::{StatSource, read};
use buurtmeter::ingest::vector::{AreaSource, read_areas};

#[test]
fn statline_csv_with_symbols() {
    let Some(path) = common::shared_data("statline_csv_samples/SES_WOA_scores_per_wijk_en_buurt_25042023_160857.csv") else {
        return;
    };
    let t = read(&StatSource { path, ..Default::default() }).unwrap();
    assert_eq!(t.codes.len(), 579);
    assert_eq!(t.codes[0], "GM0363", "codes are trimmed");
    assert_eq!(t.codes.iter().filter(|c| c.starts_with("BU")).count(), 479);
    let missing: usize = t.columns.iter().map(|(_, v)| v.iter().filter(|x| x.is_none()).count()).sum();
    assert_eq!(missing, 450, "every '.' cell is missing, nothing else");
    let hh = &t.columns.iter().find(|(n, _)| n.starts_with("Particuliere huishoudens")).unwrap().1;
    assert_eq!(hh[0], Some(457400.0));
}

#[test]
fn odata_export_with_padded_codes_and_quarterly_periods() {
    let Some(path) = common::shared_data("heerlen_cbs_uitkeringen_2013_2024/heerlen_uitkeringen_wijk_buurt_2013_2024.csv") else {
        return;
    };
    let t = read(&StatSource { path: path.clone(), ..Default::default() }).unwrap();
    assert_eq!(t.period.as_deref(), Some("2024MM03"), "latest period");
    assert_eq!(t.periods.len(), 45);
    assert_eq!(t.codes.len(), 81);
    assert!(t.codes.contains(&"GM0917".to_string()) && t.codes.contains(&"WK091710".to_string()));
    assert!(t.columns.iter().any(|(n, _)| n == "AOWUitkering_8"));
    assert!(t.columns.iter().all(|(n, _)| n != "Codering_3" && n != "ID"));
    let t13 = read(&StatSource { path, period: Some("2013MM03".into()), ..Default::default() }).unwrap();
    let (_, ww) = t13.columns.iter().find(|(n, _)| n == "Werkloosheidsuitkering_5").unwrap();
    let gm = t13.codes.iter().position(|c| c == "GM0917").unwrap();
    assert_eq!(ww[gm], Some(2200.0));
}

#[test]
fn cbs_2024_geopackage_land_rows_and_sentinels() {
    let Some(path) = common::shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else {
        return;
    };
    let rd = crs::spatial_ref(crs::RD_NEW).unwrap();
    let g = read_areas(&AreaSource { path: path.clone(), layer: Some("gemeenten".into()), ..Default::default() }, Some(&rd)).unwrap();
    assert_eq!(g.id_field, "gemeentecode");
    assert_eq!(g.areas.len(), 342, "423 rows minus 81 water rows");
    assert!(g.warnings.iter().any(|w| w.contains("81 water rows")), "{:?}", g.warnings);
    let heerlen = g.areas.iter().position(|a| a.code == "GM0917").unwrap();
    assert_eq!(g.areas[heerlen].name.as_deref(), Some("Heerlen"));
    assert_eq!(g.attributes.columns["aantal_inwoners"][heerlen], Some(87461.0));
    assert_eq!(g.attributes.columns["woningvoorraad"][heerlen], Some(46697.0));

    let b = read_areas(
        &AreaSource { path, layer: Some("buurten".into()), level_hint: Some("buurten".into()), ..Default::default() },
        Some(&rd),
    )
    .unwrap();
    assert_eq!(b.id_field, "buurtcode");
    assert_eq!(b.areas.len(), 625);
    for (name, col) in &b.attributes.columns {
        assert!(col.iter().flatten().all(|v| *v != -99997.0 && *v != -99995.0), "{name} still holds a sentinel");
    }
    let missing = b.attributes.columns["percentage_onbewoond"].iter().filter(|v| v.is_none()).count();
    assert!(missing > 0, "secret cells are missing, not 0");
}

#[test]
fn postcode_areas_with_an_invalid_polygon_are_reported_by_id() {
    let Some(path) = common::shared_data("nl_pc4_2024_inwoners/nl_pc4_2024_certegis.gpkg") else {
        return;
    };
    let rd = crs::spatial_ref(crs::RD_NEW).unwrap();
    let p = read_areas(
        &AreaSource { path, layer: Some("postcodes4".into()), id_field: Some("postcode".into()), ..Default::default() },
        Some(&rd),
    )
    .unwrap();
    assert!(p.areas.len() >= 4067);
    assert!(p.areas.iter().any(|a| a.code == "6411"), "real postcodes read as integers");
    assert!(p.warnings.iter().any(|w| w.contains("5028")), "{:?}", p.warnings);
}
