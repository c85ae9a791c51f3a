//! Aggregate-only layers in tiles: no feature may locate a record. A grid cell is drawn at
//! its fixed centre, so a cell with one report does not sit on that report; the layer's
//! TileJSON bounds are snapped outward so they do not trace its outermost records.
//! The tiles are decoded by GDAL's MVT driver, not by buurtmeter.

mod common;

use gdal::vector::LayerAccess;

/// Web Mercator metres to lon/lat.
fn to_lonlat(mx: f64, my: f64) -> (f64, f64) {
    let r = 6_378_137.0;
    ((mx / r).to_degrees(), (my / r).sinh().atan().to_degrees())
}

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let k = 111_320.0;
    ((a.0 - b.0) * k * a.1.to_radians().cos()).hypot((a.1 - b.1) * k)
}

#[test]
fn aggregate_cells_do_not_sit_on_their_records() {
    let project = buurtmeter::config::Project::load(&common::demo_project()).unwrap();
    let snap = buurtmeter::snapshot::build(&project).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut tried = 0;
    for jl in snap.points.iter().filter(|p| p.access != buurtmeter::config::Access::Public) {
        let ts = snap.tiles.tileset(&jl.layer.id).unwrap();
        let pts: Vec<(f64, f64)> = jl.lonlat.iter().map(|p| (p[0], p[1])).collect();
        assert!(!pts.is_empty());
        // Bounds: outside every record by a margin, on a 0.05° grid.
        let b = snap.tiles.tilesets[ts].bounds;
        for v in b {
            assert!(((v / 0.05).round() * 0.05 - v).abs() < 1e-9, "bounds not snapped: {b:?}");
        }
        let maxzoom = snap.tiles.tilesets[ts].maxzoom;
        for z in [10u8, 12, 14, 16].into_iter().filter(|&z| z <= maxzoom) {
            let tiles: std::collections::BTreeSet<(u32, u32)> = pts.iter().map(|p| common::lonlat_to_tile(p.0, p.1, z)).collect();
            let (mut features, mut on_a_record) = (0usize, 0usize);
            for (x, y) in tiles {
                let bytes = snap.tiles.render(ts, z, x, y);
                if bytes.is_empty() {
                    continue;
                }
                // A z/x/y path: GDAL georeferences the tile (EPSG:3857).
                let d = dir.path().join(&jl.layer.id).join(z.to_string()).join(x.to_string());
                std::fs::create_dir_all(&d).unwrap();
                let f = d.join(format!("{y}.mvt"));
                std::fs::write(&f, &bytes).unwrap();
                let ds = gdal::Dataset::open(&f).unwrap();
                let mut layer = ds.layer_by_name(&jl.layer.id).unwrap();
                for feat in layer.features() {
                    let g = feat.geometry().unwrap();
                    let (px, py, _) = g.get_point(0);
                    let at = to_lonlat(px, py);
                    features += 1;
                    if pts.iter().any(|p| metres(at, *p) < 1.0) {
                        on_a_record += 1;
                    }
                }
            }
            // By chance a cell centre lies within 1 m of one of its few records with a
            // probability of about n·π/cell² (cells are at least ~150 m): well under 1 %.
            assert!(features > 0, "{} z{z}: no cells", jl.layer.id);
            assert!(on_a_record * 100 <= features, "{} z{z}: {on_a_record} of {features} cells within 1 m of a record", jl.layer.id);
            tried += features;
        }
    }
    assert!(tried > 100, "cells tried: {tried}");
}

/// The attack on a protected layer's grid: every non-zero cell holds a record, so a
/// published cell says "someone here". The cells stop at `min_cell_m` (500 m by default):
/// at the finest zoom served, a record lies within 100 m of a published non-zero cell no
/// more often than a point spread over a 500 m+ cell would (about π·100²/cell², some 5 %),
/// where 96 m cells put nearly every record there. Beyond that zoom there are no tiles.
#[test]
fn a_protected_layers_cells_do_not_place_records_within_a_block() {
    let project = buurtmeter::config::Project::load(&common::demo_project()).unwrap();
    let snap = buurtmeter::snapshot::build(&project).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let protected: Vec<_> = snap.points.iter().filter(|p| p.ptable.is_some()).collect();
    assert!(!protected.is_empty(), "the demo has a protected layer");
    for jl in protected {
        let ts = snap.tiles.tileset(&jl.layer.id).unwrap();
        let z = snap.tiles.tilesets[ts].maxzoom;
        let pts: Vec<(f64, f64)> = jl.lonlat.iter().map(|p| (p[0], p[1])).collect();
        let lat = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
        let tile_m = 40_075_016.686 * lat.to_radians().cos() / f64::from(1u32 << z);
        assert!(tile_m >= jl.min_cell_m, "{}: tiles at z{z} are {tile_m:.0} m, below min_cell_m {}", jl.layer.id, jl.min_cell_m);
        assert!(snap.tiles.render(ts, z + 1, 0, 0).is_empty(), "a tile beyond maxzoom");
        // Every published non-zero cell at the finest zoom, decoded by GDAL.
        let tiles: std::collections::BTreeSet<(u32, u32)> = pts.iter().map(|p| common::lonlat_to_tile(p.0, p.1, z)).collect();
        let mut cells: Vec<(f64, f64)> = Vec::new();
        for (x, y) in tiles {
            let bytes = snap.tiles.render(ts, z, x, y);
            if bytes.is_empty() {
                continue;
            }
            let d = dir.path().join(&jl.layer.id).join(z.to_string()).join(x.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let f = d.join(format!("{y}.mvt"));
            std::fs::write(&f, &bytes).unwrap();
            let ds = gdal::Dataset::open(&f).unwrap();
            let mut layer = ds.layer_by_name(&jl.layer.id).unwrap();
            for feat in layer.features() {
                let (px, py, _) = feat.geometry().unwrap().get_point(0);
                cells.push(to_lonlat(px, py));
            }
        }
        assert!(!cells.is_empty());
        let near = pts.iter().filter(|p| cells.iter().any(|c| metres(*c, **p) < 100.0)).count();
        let share = near as f64 / pts.len() as f64;
        eprintln!(
            "{}: z{z} ({tile_m:.0} m cells), {} cells, {near} of {} records within 100 m of one",
            jl.layer.id,
            cells.len(),
            pts.len()
        );
        assert!(share < 0.12, "{}: {near} of {} records within 100 m of a published non-zero cell", jl.layer.id, pts.len());
    }
}
