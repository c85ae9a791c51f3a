//! The example project on real CBS data (`examples/rijnmond.toml`, reading
//! `../shared/data` in place): built, checked against published facts, and served to
//! GDAL's OAPIF driver.

mod common;

use std::path::Path;

use buurtmeter::config::Project;
use buurtmeter::snapshot;
use common::*;

fn project() -> Option<Project> {
    shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg")?;
    shared_data("bag_points/sdcspatial_bag_locations.gpkg")?;
    Some(Project::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rijnmond.toml")).unwrap())
}

#[test]
fn rijnmond_project_matches_published_cbs_figures() {
    let Some(p) = project() else { return };
    let snap = snapshot::build(&p).unwrap();
    let (bu, wk, gm) = (snap.level_index("buurten").unwrap(), snap.level_index("wijken").unwrap(), snap.level_index("gemeenten").unwrap());
    // The buurten level is the NPRZ region; the wijken and gemeenten (Zuid-Holland and the
    // whole country in the file) are limited to it by `region = "extent"`: exactly the
    // wijken and gemeenten the buurten's CBS codes nest in (an independent route, by code).
    let gpkg = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg").unwrap();
    let n_buurten = ogr_sql(&gpkg, "SELECT count(*) AS n FROM buurten")[0][0].1.parse::<usize>().unwrap();
    assert_eq!(snap.levels[bu].areas.len(), n_buurten);
    let codes = |li: usize| snap.levels[li].areas.iter().map(|a| a.code.clone()).collect::<std::collections::BTreeSet<_>>();
    let up =
        |li: usize, n: usize| snap.levels[li].areas.iter().map(|a| a.code[2..2 + n].to_string()).collect::<std::collections::BTreeSet<_>>();
    let strip =
        |s: std::collections::BTreeSet<String>| s.into_iter().map(|c| c[2..].to_string()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(strip(codes(wk)), up(bu, 6), "the wijken kept are those of the buurten");
    assert_eq!(strip(codes(gm)), up(bu, 4), "the gemeenten kept are those of the buurten");
    assert!(snap.levels[wk].areas.len() < 969, "fewer than the file's Zuid-Holland wijken");
    assert_eq!(snap.levels[bu].parent.map(|p| snap.levels[p].id.as_str()), Some("wijken"));
    assert_eq!(snap.levels[wk].parent.map(|p| snap.levels[p].id.as_str()), Some("gemeenten"));
    for jl in &snap.points {
        assert!(jl.layer.accounting.balances(), "{}", jl.layer.id);
    }
    // Σ grid aantal_inwoners inside the buurten, every cell once, against GDAL's SQL
    // (SpatiaLite's ST_Intersects; SOURCES.md's 1,296,425 counts the 150 cells in
    // overlapping buurten twice, a plain join does).
    let oracle = ogr_sql(
        &gpkg,
        "SELECT sum(v.aantal_inwoners) AS s, count(*) AS n FROM vierkant_100m v WHERE v.fid IN \
         (SELECT v2.fid FROM vierkant_100m v2, buurten b WHERE ST_Intersects(v2.geom, b.geom))",
    );
    let field = |k: &str| oracle[0].iter().find(|(n, _)| n == k).unwrap().1.parse::<f64>().unwrap();
    let inw = snap.indicator("inwoners_per_km2").unwrap();
    let total: f64 = inw.per_level[bu].numerator.iter().flatten().sum();
    assert_eq!(total, field("s"), "grid inhabitants inside the Rijnmond buurten, each cell once");
    let cells = snap.points.iter().find(|p| p.layer.id == "vierkant_inwoners").unwrap();
    assert_eq!(cells.joined_per_level[bu] as f64, field("n"), "grid cells in a buurt");
    // Rotterdam: the gemeente's own CBS figure is the denominator (woningvoorraad), and
    // its numerator is at least the sum over its wijken (points outside wijken polygons
    // are still found in the gemeente polygon).
    let rdam = snap.levels[gm].by_code["GM0599"];
    let nb = snap.indicator("niet_bewoond_pct").unwrap();
    let den = nb.per_level[gm].denominator[nb.per_level[gm].index(rdam, 0)].unwrap();
    assert!(den > 300_000.0, "Rotterdam woningvoorraad {den}");
    let wijk_sum: f64 = snap.levels[wk]
        .areas
        .iter()
        .enumerate()
        .filter(|(_, a)| a.code.starts_with("WK0599"))
        .map(|(i, _)| nb.per_level[wk].numerator[i].unwrap())
        .sum();
    let gm_num = nb.per_level[gm].numerator[rdam].unwrap();
    assert!(gm_num >= wijk_sum && gm_num > 0.0);
    let rate = nb.per_level[gm].value[rdam].unwrap();
    assert!((rate - gm_num / den * 100.0).abs() < 1e-9);
    // Missing CBS cells stay missing: some buurten have no woningvoorraad, so no rate.
    assert!(nb.per_level[bu].value.iter().any(Option::is_none));
}

#[test]
fn rijnmond_buurten_read_completely_through_gdal_oapif() {
    let Some(_) = project() else { return };
    let server = Server::start(&["--project", Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rijnmond.toml").to_str().unwrap()]);
    let url = format!("OAPIF:{}/ogc", server.base);
    let (ok, out) = ogrinfo(&["-ro", "-al", "-q", "-oo", "PAGE_SIZE=200", &url, "buurten"]);
    assert!(ok, "{}", &out[..out.len().min(2000)]);
    let n = out.lines().filter(|l| l.trim().starts_with("code (String) = ")).count();
    assert_eq!(n, 625, "every buurt read through the pages");
}

#[test]
fn heerlen_project_divides_cbs_odata_figures_of_the_latest_quarter() {
    let Some(csv) = shared_data("heerlen_cbs_uitkeringen_2013_2024/heerlen_uitkeringen_wijk_buurt_2013_2024.csv") else { return };
    shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg").unwrap();
    let p = Project::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/heerlen.toml")).unwrap();
    let snap = snapshot::build(&p).unwrap();
    let bu = snap.level_index("buurten").unwrap();
    assert_eq!(snap.levels[bu].areas.len(), 57);
    assert_eq!(snap.levels[bu].parent.map(|p| snap.levels[p].id.as_str()), Some("wijken"));
    // `region = ["GM0917"]`: of the national wijken and gemeenten, Heerlen's only (GDAL's
    // SQL on the same files as the oracle).
    let wijken = shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg").unwrap();
    let n = ogr_sql(&wijken, "SELECT count(*) AS n FROM wijken WHERE code LIKE 'WK0917%'")[0][0].1.parse::<usize>().unwrap();
    assert_eq!(snap.levels[snap.level_index("wijken").unwrap()].areas.len(), n);
    let gm = &snap.levels[snap.level_index("gemeenten").unwrap()];
    assert_eq!(gm.areas.iter().map(|a| a.code.as_str()).collect::<Vec<_>>(), vec!["GM0917"]);
    // The raw export, parsed here: the 2024MM03 rows by trimmed code.
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let mut checked = 0;
    let ind = snap.indicator("bijstand_per_1000").unwrap();
    let v = &ind.per_level[bu];
    // Quarterly since the time work: the last period, 2024-Q1, is CBS's 2024MM03.
    let last = v.period_index("2024-Q1").expect("2024-Q1 is a period");
    assert_eq!(last + 1, v.periods.len());
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f[col("Perioden")] != "2024MM03" {
            continue;
        }
        let code = f[col("WijkenEnBuurten")].trim();
        let Some(&a) = snap.levels[bu].by_code.get(code) else { continue };
        let num = f[col("Bijstandsuitkering_6")].parse::<f64>().ok();
        let den = f[col("InwonersVanaf15Jaar_13")].parse::<f64>().ok();
        let a = v.index(a, last);
        assert_eq!(v.numerator[a], num, "{code}");
        let expected = match (num, den) {
            // No rate on fewer than 50 inhabitants (the default minimum denominator).
            (Some(n), Some(d)) if d >= 50.0 => Some(n / d * 1000.0),
            _ => None,
        };
        match (v.value[a], expected) {
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "{code}"),
            (x, y) => assert_eq!(x, y, "{code}: missing stays missing"),
        }
        checked += 1;
    }
    assert_eq!(checked, 57, "every Heerlen buurt checked against the raw export");
}

/// The cell-key method on real points: the Rijnmond example with its BAG enterprise
/// locations protected (`min_count = 3`): every published count keeps the method's
/// promises, and the utility cost is printed (share of counts changed, mean absolute
/// deviation).
#[test]
fn cell_key_method_on_real_bag_points() {
    let Some(_) = project() else { return };
    let (_dir, path) = example_copy("rijnmond", |t| t.replace("layer = \"enterprises\"", "layer = \"enterprises\"\nmin_count = 3"));
    let snap = snapshot::build(&Project::load(&path).unwrap()).unwrap();
    let layer = snap.points.iter().find(|p| p.layer.id == "bedrijven").unwrap();
    let table = layer.ptable.as_ref().expect("protected");
    let ind = snap.indicator("bedrijven_per_1000_inw").unwrap();
    let (mut cells, mut changed, mut dev, mut nonzero) = (0u64, 0u64, 0u64, 0u64);
    for li in 0..snap.levels.len() {
        let truth = buurtmeter::indicators::evaluate(&ind.def, &layer.layer, &layer.assigned[li], None, &snap.levels, li).unwrap();
        for (k, n) in ind.per_level[li].numerator.iter().enumerate() {
            let Some(n) = n else { continue };
            let t = truth.numerator[k].unwrap() as u64;
            let n = *n as u64;
            assert!(n == 0 || n > u64::from(table.params.js), "published {n}");
            assert!(n.abs_diff(t) <= u64::from(table.params.max_deviation));
            cells += 1;
            nonzero += u64::from(t > 0);
            changed += u64::from(n != t);
            dev += n.abs_diff(t);
        }
    }
    eprintln!(
        "Rijnmond, BAG locations protected: {cells} counts ({nonzero} not zero), {changed} changed ({:.1} % of all, {:.1} % of the non-zero), mean absolute deviation {:.3} ({:.3} over the non-zero)",
        100.0 * changed as f64 / cells as f64,
        100.0 * changed as f64 / nonzero.max(1) as f64,
        dev as f64 / cells as f64,
        dev as f64 / nonzero.max(1) as f64
    );
    assert!(cells > 500 && changed > 0);
}

/// The quick validity check that spares GEOS most areas, on every real polygon file: the
/// CBS levels of the example projects, the German Gemeinden and districts, the postcode
/// areas and the Zensus grids. Whatever it shows valid, GEOS (through GDAL, as the reader
/// asks it) finds valid too, and the geometry it reads from the WKB is the one GDAL's
/// conversion gives; and it does spare GEOS most of them.
#[test]
fn quick_validity_agrees_with_geos_on_every_real_polygon_file() {
    use buurtmeter::ingest::validity::{multipolygon, surely_valid};
    use gdal::vector::LayerAccess;
    let files = [
        "nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg",
        "heerlen_buurten_2023/heerlen_buurten_2023.gpkg",
        "nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg",
        "nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg",
        "nl_pc4_2024_inwoners/nl_pc4_2024_certegis.gpkg",
        "de_aachen_statistische_bezirke/aachen_statistische_bezirke.gpkg",
        "de_vg250_gem_2022_simplified_region/de_vg250_gem_2022_simplified_region.gpkg",
        "de_zensus2011_grid_1km_aachen/de_zensus2011_1km_aachen.gpkg",
    ];
    let (mut polygons, mut valid, mut shown) = (0usize, 0usize, 0usize);
    for rel in files {
        let Some(path) = shared_data(rel) else { return };
        let ds = gdal::Dataset::open(&path).unwrap();
        for mut layer in ds.layers() {
            let name = layer.name();
            for feature in layer.features() {
                let Some(g) = feature.geometry() else { continue };
                let wkb = g.wkb().unwrap();
                let mut geos = gdal::vector::Geometry::from_wkb(&wkb).unwrap();
                geos.flatten_to_2d();
                let Ok(converted) = geos.to_geo() else { continue };
                let converted = match converted {
                    geo_types::Geometry::Polygon(p) => geo_types::MultiPolygon(vec![p]),
                    geo_types::Geometry::MultiPolygon(mp) => mp,
                    _ => continue,
                };
                polygons += 1;
                let is_valid = geos.is_valid();
                valid += usize::from(is_valid);
                let read = multipolygon(&wkb);
                if let Some(mp) = &read {
                    assert_eq!(mp, &converted, "{rel}, layer {name}, feature {:?}: read differently from GDAL", feature.fid());
                }
                if read.as_ref().is_some_and(surely_valid) {
                    assert!(is_valid, "{rel}, layer {name}, feature {:?}: shown valid, GEOS finds it invalid", feature.fid());
                    shown += 1;
                }
            }
        }
    }
    eprintln!("{polygons} polygons, {valid} valid for GEOS, {shown} of them shown valid without it");
    assert!(polygons > 10_000, "only {polygons} polygons read");
    assert!(shown * 100 >= valid * 95, "only {shown} of {valid} valid polygons shown valid without GEOS");
}

/// Low-zoom tiles are simplified with their neighbours: on the real Rijnmond buurten
/// (a CBS coverage), at every simplified zoom, no gap opens between neighbours. A gap
/// would leave edges that only one area uses; simplification only shortens the outline,
/// so the length of such edges may not grow. (CBS's buurten are generalised already:
/// snapping does most at low zooms, simplification a little more; on detailed borders,
/// such as the national benchmark's, it halves the z8 tiles.)
#[test]
fn simplified_low_zooms_keep_neighbouring_buurten_seamless() {
    use buurtmeter::tiles::polygons::{SIMPLIFY_MAX_ZOOM, SIMPLIFY_TOLERANCE, snap_levels_with};
    let Some(p) = project() else { return };
    let snap = snapshot::build(&p).unwrap();
    let bu = snap.level_index("buurten").unwrap();
    let mercator: Vec<geo_types::MultiPolygon<f64>> = snap.wgs84[bu]
        .iter()
        .map(|mp| {
            use geo::MapCoords;
            mp.map_coords(|c| {
                let (x, y) = buurtmeter::crs::lonlat_to_web_mercator(c.x, c.y);
                geo_types::Coord { x, y }
            })
        })
        .collect();
    // Once-used edges (length) and vertex count, of the rings as the tiles get them.
    let measure = |rings: &[buurtmeter::tiles::polygons::Rings]| {
        let mut uses: std::collections::HashMap<([i64; 2], [i64; 2]), u32> = std::collections::HashMap::new();
        let mut vertices = 0usize;
        for area in rings {
            for (_, r) in area {
                vertices += r.len();
                for w in r.windows(2) {
                    let k = if w[0] <= w[1] { (w[0], w[1]) } else { (w[1], w[0]) };
                    *uses.entry(k).or_insert(0) += 1;
                }
            }
        }
        let once: f64 = uses.iter().filter(|(_, n)| **n == 1).map(|((a, b), _)| ((a[0] - b[0]) as f64).hypot((a[1] - b[1]) as f64)).sum();
        (once, vertices)
    };
    for z in [6u8, 8, 10] {
        assert!(z <= SIMPLIFY_MAX_ZOOM);
        let rings = |tolerance: Option<f64>| snap_levels_with(&[&mercator], z, tolerance).pop().unwrap();
        let simplified = measure(&rings(Some(SIMPLIFY_TOLERANCE)));
        let plain = rings(None);
        let snapped = measure(&plain);
        eprintln!("z{z}: once-used edge length {:.0} -> {:.0}, vertices {} -> {}", snapped.0, simplified.0, snapped.1, simplified.1);
        assert!(simplified.0 <= snapped.0, "z{z}: a gap opened ({:.0} > {:.0})", simplified.0, snapped.0);
        assert!(simplified.1 < snapped.1, "z{z}: not simplified");
    }
}
