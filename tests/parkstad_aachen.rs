//! `examples/parkstad-aachen.toml` on the real data of both sides of the border: the
//! German numbers are Destatis' numbers (read here from the files with nothing of
//! buurtmeter's), the Dutch numbers CBS's, conversions between the grid and the areas
//! make and lose nothing, and the map speaks Dutch, German and English.
mod common;

use std::collections::BTreeMap;

use serde_json::Value;

fn values(server: &common::Server, indicator: &str, level: &str) -> BTreeMap<String, Value> {
    let (status, body) = server.get(&format!("/indicators/{indicator}?level={level}"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["values"].as_array().unwrap().iter().map(|a| (a["code"].as_str().unwrap().to_string(), a.clone())).collect()
}

/// The Zensus 2022 export, read the plain way: `ARS;Name;Personen;Anzahl;value;flag` rows.
fn zensus_2022() -> BTreeMap<String, f64> {
    let path = common::shared_data("de_zensus2022_gemeinden_1000A/1000A-0000_de.csv").unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            (f.len() >= 6 && f[0].len() == 12 && f[0].bytes().all(|b| b.is_ascii_digit()))
                .then(|| (f[0].to_string(), f[4].parse().unwrap()))
        })
        .collect()
}

/// The Zensus 2011 1 km file: cell (lower-left corner, INSPIRE code) → Einwohner, `-1`
/// (no value) as `None`.
fn zensus_2011() -> BTreeMap<String, Option<f64>> {
    let path = common::shared_data("de_zensus2011_grid_1km_aachen/de_zensus2011_1km_spitze_werte_aachen.csv").unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            let (x, y): (i64, i64) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            let n: f64 = f[2].parse().unwrap();
            (format!("CRS3035RES1000mN{}E{}", y - 500, x - 500), (n >= 0.0).then_some(n))
        })
        .collect()
}

#[test]
fn both_sides_of_the_border_in_one_project_with_each_partys_numbers() {
    let Some(wijken) = common::shared_data("nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg") else { return };
    let (_dir, project) = common::example_copy("parkstad-aachen", |t| t);
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);

    // Gemeenten: the seven Parkstad gemeenten (CBS) and the StädteRegion's Gemeinden
    // (VG250, ARS) with Destatis' Zensus 2022 population, Aachen 261,178.
    let gem = values(&server, "inwoners_per_km2", "gemeenten");
    let destatis = zensus_2022();
    let german: Vec<&String> = gem.keys().filter(|c| c.starts_with("05334")).collect();
    assert_eq!(german.len(), 9, "{:?}", gem.keys());
    for code in &german {
        assert_eq!(gem[*code]["numerator"].as_f64(), Some(destatis[*code]), "{code}");
    }
    assert_eq!(gem["053340002002"]["numerator"].as_f64(), Some(261_178.0));
    assert_eq!(gem["053340002002"]["name"], "Aachen, Stadt");
    let dutch: Vec<&String> = gem.keys().filter(|c| c.starts_with("GM")).collect();
    assert_eq!(dutch.len(), 7);
    // The Dutch numbers are the CBS file's own (GDAL reads the gemeenten layer).
    let gpkg = common::shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg").unwrap();
    for code in dutch {
        let rows =
            common::ogr_sql(&gpkg, &format!("SELECT aantal_inwoners FROM gemeenten WHERE gemeentecode = '{code}' AND water = 'NEE'"));
        let cbs: f64 = rows[0][0].1.parse().unwrap();
        assert_eq!(gem[code]["numerator"].as_f64(), Some(cbs), "{code}");
    }

    // The wijken level: Parkstad's 49 wijken and Aachen's 34 districts, every district in
    // Aachen (by geometry: their codes nest in nothing).
    let wk = values(&server, "inwoners_per_km2", "wijken");
    let districts: Vec<&String> = wk.keys().filter(|c| !c.starts_with("WK")).collect();
    assert_eq!((wk.len() - districts.len(), districts.len()), (49, 34));
    let (status, body) = server.get(&format!("/areas/wijken/{}", districts[0]));
    assert_eq!(status, 200);
    let profile: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(profile["parents"][0]["code"], "053340002002", "{body}");

    // The grid: every 1 km cell of the Zensus file that is in the level holds at least
    // its census count (cells across the border add the Dutch wijken's share), and the
    // total is the census total plus the Dutch wijken's: nothing made, nothing lost.
    let grid = values(&server, "inwoners_per_km2", "raster_1km");
    let census = zensus_2011();
    let mut census_total = 0.0;
    for (code, cell) in &grid {
        let n = cell["numerator"].as_f64().unwrap_or(0.0);
        if let Some(Some(c)) = census.get(code) {
            assert!(n >= c - 1e-6, "{code}: {n} < census {c}");
            census_total += c;
        }
    }
    let nl_wijken: f64 = wk.iter().filter(|(c, _)| c.starts_with("WK")).map(|(_, v)| v["numerator"].as_f64().unwrap()).sum();
    let grid_total: f64 = grid.values().map(|c| c["numerator"].as_f64().unwrap_or(0.0)).sum();
    assert!(
        (grid_total - census_total - nl_wijken).abs() < 1e-6 * grid_total,
        "grid {grid_total} = census {census_total} + NL {nl_wijken}?"
    );
    // The Dutch wijken's figures are the file's (GDAL).
    let rows = common::ogr_sql(
        &wijken,
        "SELECT SUM(aantal_inwoners) AS s FROM wijken_rd WHERE gemeentecode IN ('GM0917','GM0928','GM0882','GM0899','GM0965','GM0986','GM1954')",
    );
    assert_eq!(nl_wijken, rows[0][0].1.parse::<f64>().unwrap());
    // Aachen's districts hold the census cells' inhabitants by area: together about the
    // census count of the cells whose centre lies in Aachen (234,104 per SOURCES.md: the
    // cells cross the city limit, so only about).
    let districts_total: f64 = districts.iter().map(|c| wk[*c]["numerator"].as_f64().unwrap()).sum();
    assert!((200_000.0..270_000.0).contains(&districts_total), "{districts_total}");
    assert!(districts.iter().all(|c| wk[*c]["converted"] == true));

    // The vacancy rate: the Zensus' own, withheld (-9) cells withheld, not 0.
    let vac = values(&server, "leegstand_pct", "raster_1km");
    let published = vac.values().filter(|v| v["value"].is_number()).count();
    assert!(published > 300, "{published}");
}

/// The map of both sides in Dutch, German and English, in headless Chromium: the
/// browser's language picks the interface, no console errors, every language draws.
#[test]
fn the_cross_border_map_in_three_languages() {
    if !common::require_browser() {
        return;
    }
    if common::shared_data("nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg").is_none() {
        return;
    }
    let (_dir, project) = common::example_copy("parkstad-aachen", |t| t);
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("parkstad-aachen");
    std::fs::create_dir_all(&shots).unwrap();
    let hosts = common::basemap_hosts(&buurtmeter::config::Project::load(&project).unwrap());
    let args = [server.base.as_ref(), shots.as_os_str(), "/areas/gemeenten/053340002002".as_ref()];
    let r = common::browser_json("languages.cjs", &args, &[("BASEMAP_HOST", &hosts)]);
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{r:#}");
    for (key, lang, legend) in [("de", "de", "Legende"), ("en", "en", "Legend"), ("nl", "nl", "Legenda")] {
        assert_eq!(r[key]["lang"], lang, "{key}: {:#}", r[key]);
        assert_eq!(r[key]["legendTitle"], legend, "{key}: {:#}", r[key]);
        assert!(r[key]["features"].as_u64().unwrap_or(0) > 10, "{key}: nothing drawn: {:#}", r[key]);
        assert_eq!(r[key]["basemapVisible"], true, "{key}: the chooser of both sides' background maps");
    }
    for (key, lang) in [("profileDe", "de"), ("profileEn", "en"), ("profileNl", "nl")] {
        assert_eq!(r[key]["lang"], lang, "{key}");
        assert!(r[key]["title"].as_str().unwrap_or("").contains("Aachen"), "{key}: {:#}", r[key]);
    }
    eprintln!("screenshots: {}", shots.display());
}
