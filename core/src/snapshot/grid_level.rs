//! A level of cells of the European grid (`grid = { size = 1000, … }`): made by
//! arithmetic from its extent, never read from a file.
//!
//! The cells are the squares of EPSG:3035 of the level's size that lie in `extent`
//! (lon/lat), or, without it, that touch an area of the project's other levels. In a
//! project whose working CRS is EPSG:3035 the cells are exact squares and a point's cell
//! is found by `floor(x / size)` ([`crate::index::AreaIndex::cells`]); in another working
//! CRS the corners are transformed once, shared by neighbouring cells (so contiguity
//! holds), and points are located in the transformed squares.

use geo::{Area as _, BoundingRect, Intersects};
use geo_types::{Coord, LineString, MultiPolygon, Polygon, Rect};

use super::areas::{AreasError, Result};
use crate::config::{GridConfig, LevelConfig, Project, ProjectError};
use crate::crs::{self, Reprojector, SpatialRef};
use crate::grid::Cell;
use crate::model::{Area, Level, StatColumns};

/// More cells than this in one level is a mistake in `extent` or `size` (a 100 m grid
/// over all of the Netherlands is 4.2 million cells).
pub const MAX_CELLS: usize = 5_000_000;

/// Points along each side of a lon/lat box when it is transformed (its sides curve).
const DENSIFY: usize = 32;

/// Build the grid level `lc` from its configuration; `others` are the project's levels
/// read from files (for the extent when `grid.extent` is not given).
pub(super) fn build(project: &Project, lc: &LevelConfig, g: &GridConfig, working: &SpatialRef, others: &[&Level]) -> Result<Level> {
    let err = |m: String| AreasError::Project(ProjectError::new(&project.file, format!("levels '{}': grid: {m}", lc.id)));
    let grid_srs = crs::spatial_ref(crate::grid::GRID_CRS).map_err(|e| err(e.to_string()))?;
    let size = g.size;
    let to_grid_bbox = |source: &SpatialRef, r: Rect<f64>| -> Result<Rect<f64>> {
        let t = Reprojector::new(source, &grid_srs).map_err(|e| err(e.to_string()))?;
        let (mut xs, mut ys) = densified(r);
        let ok = t.transform(&mut xs, &mut ys);
        if !ok.iter().all(|&b| b) {
            return Err(err(format!("the box {:?} cannot be transformed to EPSG:3035", [r.min().x, r.min().y, r.max().x, r.max().y])));
        }
        Ok(bbox(&xs, &ys))
    };
    let (bounds, keep_touching) = match g.extent {
        Some([x0, y0, x1, y1]) => {
            let wgs84 = crs::spatial_ref("EPSG:4326").map_err(|e| err(e.to_string()))?;
            (to_grid_bbox(&wgs84, Rect::new((x0, y0), (x1, y1)))?, false)
        }
        None => {
            let rects: Vec<Rect<f64>> = others.iter().flat_map(|l| l.areas.iter().filter_map(|a| a.geometry.bounding_rect())).collect();
            let Some(r) = rects.into_iter().reduce(|a, b| {
                Rect::new((a.min().x.min(b.min().x), a.min().y.min(b.min().y)), (a.max().x.max(b.max().x), a.max().y.max(b.max().y)))
            }) else {
                return Err(err("no extent: give extent = [lon0, lat0, lon1, lat1], or a level with areas to cover".into()));
            };
            (to_grid_bbox(working, r)?, true)
        }
    };
    let s = i64::from(size);
    let (i0, j0) = ((bounds.min().x / size as f64).floor() as i64, (bounds.min().y / size as f64).floor() as i64);
    let (i1, j1) = ((bounds.max().x / size as f64).ceil() as i64, (bounds.max().y / size as f64).ceil() as i64);
    let (nx, ny) = ((i1 - i0).max(0) as usize, (j1 - j0).max(0) as usize);
    if nx.saturating_mul(ny) > MAX_CELLS {
        return Err(err(format!("{nx} × {ny} cells of {size} m is more than {MAX_CELLS}: a smaller extent or a larger size")));
    }
    // The lattice of corners, transformed once: neighbours share their corners exactly.
    let mut xs: Vec<f64> = Vec::with_capacity((nx + 1) * (ny + 1));
    let mut ys: Vec<f64> = Vec::with_capacity((nx + 1) * (ny + 1));
    for j in 0..=ny {
        for i in 0..=nx {
            xs.push(((i0 + i as i64) * s) as f64);
            ys.push(((j0 + j as i64) * s) as f64);
        }
    }
    let to_working = Reprojector::new(&grid_srs, working).map_err(|e| err(e.to_string()))?;
    let ok = to_working.transform(&mut xs, &mut ys);
    let corner = |i: usize, j: usize| -> Option<Coord<f64>> {
        let k = j * (nx + 1) + i;
        ok[k].then(|| Coord { x: xs[k], y: ys[k] })
    };
    let touching = keep_touching.then(|| {
        let geoms: Vec<&MultiPolygon<f64>> = others.iter().flat_map(|l| l.areas.iter().map(|a| &a.geometry)).collect();
        (crate::index::envelope_tree(geoms.iter().copied()), geoms)
    });
    let mut areas = Vec::new();
    for j in 0..ny {
        for i in 0..nx {
            let ring = [corner(i, j), corner(i + 1, j), corner(i + 1, j + 1), corner(i, j + 1), corner(i, j)];
            let Some(ring) = ring.into_iter().collect::<Option<Vec<_>>>() else { continue };
            let square = MultiPolygon(vec![Polygon::new(LineString(ring), vec![])]);
            if let Some((tree, geoms)) = &touching {
                let Some(r) = square.bounding_rect() else { continue };
                let env = rstar::AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                if !tree.locate_in_envelope_intersecting(&env).any(|e| geoms[e.data as usize].intersects(&square)) {
                    continue;
                }
            }
            let cell = Cell { size, east: (i0 + i as i64) * s, north: (j0 + j as i64) * s };
            let km2 = square.unsigned_area() / 1e6;
            areas.push(Area { code: cell.code(), name: None, geometry: square, geometry_km2: km2, country: None });
        }
    }
    tracing::info!(level = %lc.id, size, cells = areas.len(), "grid level");
    let by_code = areas.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
    Ok(Level {
        id: lc.id.clone(),
        title: lc.title.clone().unwrap_or_else(|| default_title(size)),
        cbs_kind: None,
        areas,
        by_code,
        parent: lc.parent_index,
        parent_area: Vec::new(),
        stats: StatColumns::default(),
        groups: None,
        grid: Some(size),
    })
}

/// `Vierkanten van 1 km`, `Vierkanten van 100 m`.
fn default_title(size: u32) -> String {
    if size % 1000 == 0 { format!("Vierkanten van {} km", size / 1000) } else { format!("Vierkanten van {size} m") }
}

fn densified(r: Rect<f64>) -> (Vec<f64>, Vec<f64>) {
    let (x0, y0, x1, y1) = (r.min().x, r.min().y, r.max().x, r.max().y);
    let mut xs = Vec::with_capacity(4 * DENSIFY);
    let mut ys = Vec::with_capacity(4 * DENSIFY);
    for k in 0..=DENSIFY {
        let t = k as f64 / DENSIFY as f64;
        for (x, y) in [(x0 + t * (x1 - x0), y0), (x0 + t * (x1 - x0), y1), (x0, y0 + t * (y1 - y0)), (x1, y0 + t * (y1 - y0))] {
            xs.push(x);
            ys.push(y);
        }
    }
    (xs, ys)
}

fn bbox(xs: &[f64], ys: &[f64]) -> Rect<f64> {
    let fold = |v: &[f64]| v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let ((x0, x1), (y0, y1)) = (fold(xs), fold(ys));
    Rect::new((x0, y0), (x1, y1))
}
