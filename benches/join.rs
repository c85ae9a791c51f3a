//! Join throughput: points per second through the R-tree + banded point-in-polygon
//! index, on the real Rijnmond buurten (../shared/data), single-threaded and parallel,
//! and against geo's `Contains` over R-tree candidates (the straightforward approach).
//!
//! Run: cargo bench --bench join   (release build; figures in BENCHMARKS.md)

use std::time::Instant;

use buurtmeter::crs;
use buurtmeter::index::AreaIndex;
use buurtmeter::ingest::vector::{AreaSource, read_areas};
use buurtmeter::join;
use geo::{BoundingRect, Contains};

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("ran"))
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = [
        (
            "Rijnmond buurten 2024 (real, simplified)",
            root.join("../shared/data/nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg"),
            "buurten",
            None,
        ),
        (
            "all Dutch wijken 2022 (real)",
            root.join("../shared/data/nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg"),
            "wijken",
            Some("code"),
        ),
        ("demo buurten (synthetic, 256 vertices each)", root.join("data/demodorp.gpkg"), "buurten", None),
    ];
    for (name, path, layer, id) in cases {
        if !path.exists() {
            eprintln!("{}: missing, skipped", path.display());
            continue;
        }
        println!("\n== {name}");
        bench(&path, layer, id);
    }
    println!("\n== European grid, 1 km cells (EPSG:3035)");
    bench_grid();
}

/// A grid level's join: a point's cell by `floor(x / size)` and a hash map
/// (`AreaIndex::cells`) against the same cells as polygons in the banded index
/// (`AreaIndex::build`), on 4M uniform points over 100 × 100 km; identical assignments.
fn bench_grid() {
    use buurtmeter::grid::Cell;
    let size = 1000u32;
    let (x0, y0) = (4_000_000.0, 3_050_000.0);
    let cells: Vec<Cell> = (0..100i64)
        .flat_map(|j| (0..100i64).map(move |i| Cell { size, east: 4_000_000 + i * 1000, north: 3_050_000 + j * 1000 }))
        .collect();
    let squares: Vec<geo_types::MultiPolygon<f64>> = cells
        .iter()
        .map(|c| {
            let [a, b, cx, d] = c.bounds();
            geo_types::MultiPolygon(vec![geo_types::Polygon::new(
                geo_types::LineString::from(vec![(a, b), (cx, b), (cx, d), (a, d), (a, b)]),
                vec![],
            )])
        })
        .collect();
    let n = 4_000_000usize;
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let xs: Vec<f64> = (0..n).map(|_| x0 + rnd() * 100_000.0).collect();
    let ys: Vec<f64> = (0..n).map(|_| y0 + rnd() * 100_000.0).collect();
    let (t_build_cells, by_arithmetic) = best_of(3, || AreaIndex::cells(size, cells.iter().copied().map(Some)));
    let (t_build_poly, by_polygon) = best_of(3, || AreaIndex::build(&squares));
    let one = |index: &AreaIndex| {
        rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(|| join::locate_all(index, &xs, &ys))
    };
    let (t_cells, a) = best_of(3, || one(&by_arithmetic));
    let (t_poly, b) = best_of(3, || one(&by_polygon));
    let (t_cells_par, _) = best_of(3, || join::locate_all(&by_arithmetic, &xs, &ys));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    println!("{} cells; index built: arithmetic {:.1} ms, polygons {:.1} ms", cells.len(), t_build_cells * 1e3, t_build_poly * 1e3);
    println!("arithmetic, one thread: {:.3} s = {:.1} M points/s", t_cells, n as f64 / t_cells / 1e6);
    println!("arithmetic, {} threads: {:.3} s = {:.1} M points/s", rayon::current_num_threads(), t_cells_par, n as f64 / t_cells_par / 1e6);
    println!(
        "polygons, one thread:   {:.3} s = {:.1} M points/s; arithmetic is {:.1}x faster; {same}/{n} identical",
        t_poly,
        n as f64 / t_poly / 1e6,
        t_poly / t_cells
    );
}

fn bench(path: &std::path::Path, layer: &str, id: Option<&str>) {
    let rd = crs::spatial_ref(crs::RD_NEW).expect("RD");
    let src = AreaSource { path: path.to_path_buf(), layer: Some(layer.into()), id_field: id.map(String::from), ..Default::default() };
    let areas = read_areas(&src, Some(&rd)).expect("areas");
    let geoms: Vec<_> = areas.areas.iter().map(|a| a.geometry.clone()).collect();
    let vertices: usize = geoms.iter().map(|g| g.0.iter().map(|p| p.exterior().0.len()).sum::<usize>()).sum();
    let (t_index, index) = best_of(3, || AreaIndex::build(&geoms));
    let bbox = geoms.iter().filter_map(|g| g.bounding_rect()).reduce(|a, b| {
        geo_types::Rect::new((a.min().x.min(b.min().x), a.min().y.min(b.min().y)), (a.max().x.max(b.max().x), a.max().y.max(b.max().y)))
    });
    let bbox = bbox.expect("bbox");
    let n = 4_000_000usize;
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let xs: Vec<f64> = (0..n).map(|_| bbox.min().x + rnd() * bbox.width()).collect();
    let ys: Vec<f64> = (0..n).map(|_| bbox.min().y + rnd() * bbox.height()).collect();

    let threads = rayon::current_num_threads();
    let (t_par, assigned) = best_of(3, || join::locate_all(&index, &xs, &ys));
    let (t_one, _) =
        best_of(3, || rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool").install(|| join::locate_all(&index, &xs, &ys)));
    // The straightforward way: R-tree candidates, then geo's Contains, on 1/10 of the points.
    let m = n / 10;
    let tree = rstar::RTree::bulk_load(
        geoms
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                g.bounding_rect().map(|r| {
                    rstar::primitives::GeomWithData::new(
                        rstar::primitives::Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                        i,
                    )
                })
            })
            .collect(),
    );
    let (t_geo, geo_assigned) = best_of(1, || {
        (0..m)
            .map(|i| {
                let p = geo_types::Point::new(xs[i], ys[i]);
                tree.locate_all_at_point(&[xs[i], ys[i]])
                    .map(|e| e.data)
                    .filter(|&a| geoms[a].contains(&p))
                    .min()
                    .map_or(join::NONE, |a| a as u32)
            })
            .collect::<Vec<u32>>()
    });
    let agree = (0..m).filter(|&i| assigned[i] == geo_assigned[i]).count();
    let joined = assigned.iter().filter(|&&a| a != join::NONE).count();
    println!("{} areas, {vertices} vertices; index built in {:.1} ms", geoms.len(), t_index * 1e3);
    println!("{n} uniform points over the bbox, {joined} inside an area");
    println!("parallel ({threads} threads): {:.3} s = {:.1} M points/s", t_par, n as f64 / t_par / 1e6);
    println!("one thread:                  {:.3} s = {:.1} M points/s", t_one, n as f64 / t_one / 1e6);
    println!(
        "geo Contains (one thread):   {:.3} s for {m} = {:.2} M points/s; banded index is {:.1}x faster; {agree}/{m} identical",
        t_geo,
        m as f64 / t_geo / 1e6,
        (t_geo / m as f64) / (t_one / n as f64)
    );
}
