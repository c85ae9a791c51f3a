//! Area levels as tiles: snap to the zoom's world grid, at low zooms simplify with the
//! neighbours, drop repeated and exactly collinear vertices, clip to the buffered tile,
//! orient, encode.
//!
//! Why neighbours never show gaps or slivers at any zoom: every vertex is snapped to the
//! same world grid for every tile and both neighbours (they share the vertex); up to
//! [`SIMPLIFY_MAX_ZOOM`] all levels' rings are simplified together (Douglas–Peucker,
//! one world unit, [`super::simplify`]), each border shared by two areas once, so both
//! keep the same vertices of it; and a vertex is only cleaned away when it lies exactly
//! on the line through its neighbours, so the covered area does not change. At zoom z
//! the grid is `EXTENT · 2^z` units wide, so low zooms keep few vertices.
//!
//! Snapped rings for zooms up to [`PRECOMPUTE_MAX_ZOOM`] are computed once per level and
//! zoom, on first use; higher zooms snap only the areas a tile touches.

use std::sync::OnceLock;

use geo_types::MultiPolygon;
use rstar::{AABB, RTree};

use super::grid::{self, BUFFER, EXTENT};

/// Zooms whose snapped geometry is cached for the whole level.
pub const PRECOMPUTE_MAX_ZOOM: u8 = 10;

/// One area as snapped rings at one zoom: (is_exterior, ring in world units, closed).
pub type Rings = Vec<(bool, Vec<[i64; 2]>)>;

/// The tileable geometry of one level.
pub struct LevelGeometry {
    tree: RTree<crate::index::Entry>,
    /// Every level's geometry and snapped rings: the low zooms are simplified for all
    /// levels at once, so a gemeente's outline keeps the vertices its buurten keep.
    shared: std::sync::Arc<Shared>,
    index: usize,
}

/// What the levels of one snapshot share.
struct Shared {
    mercator: Vec<Vec<MultiPolygon<f64>>>,
    /// Per zoom up to [`PRECOMPUTE_MAX_ZOOM`]: per level, per area, the rings.
    by_zoom: Vec<OnceLock<Vec<Vec<Rings>>>>,
}

impl LevelGeometry {
    /// The geometry of every level (in Web Mercator metres), in level order.
    pub fn all(level_mercator: Vec<Vec<MultiPolygon<f64>>>) -> Vec<LevelGeometry> {
        let trees: Vec<RTree<crate::index::Entry>> = level_mercator.iter().map(crate::index::envelope_tree).collect();
        let shared =
            std::sync::Arc::new(Shared { mercator: level_mercator, by_zoom: (0..=PRECOMPUTE_MAX_ZOOM).map(|_| OnceLock::new()).collect() });
        trees.into_iter().enumerate().map(|(index, tree)| LevelGeometry { tree, shared: shared.clone(), index }).collect()
    }

    /// The areas whose box touches the buffered tile.
    pub fn candidates(&self, z: u8, x: u32, y: u32) -> Vec<u32> {
        let b = grid::buffered_bounds(z, x, y);
        let mut v: Vec<u32> =
            self.tree.locate_in_envelope_intersecting(&AABB::from_corners([b[0], b[1]], [b[2], b[3]])).map(|e| e.data).collect();
        v.sort_unstable();
        v
    }

    fn snapped(&self, z: u8, area: u32) -> std::borrow::Cow<'_, Rings> {
        let shared = &*self.shared;
        match shared.by_zoom.get(z as usize) {
            Some(cell) => {
                let all = cell.get_or_init(|| {
                    let levels: Vec<&[MultiPolygon<f64>]> = shared.mercator.iter().map(|m| m.as_slice()).collect();
                    snap_levels_with(&levels, z, (z <= SIMPLIFY_MAX_ZOOM).then_some(SIMPLIFY_TOLERANCE))
                });
                std::borrow::Cow::Borrowed(&all[self.index][area as usize])
            }
            None => std::borrow::Cow::Owned(snap_area(&shared.mercator[self.index][area as usize], z)),
        }
    }

    /// The area's rings in tile coordinates, clipped to the buffered tile; empty when
    /// nothing of it is left.
    pub fn tile_rings(&self, z: u8, x: u32, y: u32, area: u32) -> Vec<Vec<[i64; 2]>> {
        let rings = self.snapped(z, area);
        let (ox, oy) = (i64::from(x) * EXTENT, i64::from(y) * EXTENT);
        let clip = [ox - BUFFER, oy - BUFFER, ox + EXTENT + BUFFER, oy + EXTENT + BUFFER];
        let mut out: Vec<Vec<[i64; 2]>> = Vec::new();
        let mut have_exterior = false;
        for (exterior, ring) in rings.iter() {
            if !*exterior && !have_exterior {
                continue;
            }
            let clipped = clip_ring(ring, clip);
            let Some(mut r) = clean(clipped) else {
                if *exterior {
                    have_exterior = false;
                }
                continue;
            };
            let a = signed_area2(&r);
            if a == 0 {
                if *exterior {
                    have_exterior = false;
                }
                continue;
            }
            // Exteriors positive (clockwise on screen, y down), holes negative.
            if (a > 0) != *exterior {
                r.reverse();
            }
            for p in r.iter_mut() {
                p[0] -= ox;
                p[1] -= oy;
            }
            if *exterior {
                have_exterior = true;
            }
            out.push(r);
        }
        out
    }
}

/// Zooms up to this one are simplified besides snapped (see [`super::simplify`]).
pub const SIMPLIFY_MAX_ZOOM: u8 = 10;

/// Douglas–Peucker tolerance of the low zooms, in world units (tippecanoe's default: one
/// unit of a 4096-unit tile, an eighth of a pixel on a 512-pixel tile).
pub const SIMPLIFY_TOLERANCE: f64 = 1.0;

/// Every area of every level snapped at zoom z, simplified together when `tolerance` is
/// given (a border keeps the same vertices in every area and level that has it: a
/// gemeente's outline those of its buurten), then cleaned. Per level, per area.
pub fn snap_levels_with(levels: &[&[MultiPolygon<f64>]], z: u8, tolerance: Option<f64>) -> Vec<Vec<Rings>> {
    use rayon::prelude::*;
    let snapped: Vec<Vec<Rings>> = levels.iter().map(|l| l.par_iter().map(|mp| snapped_rings(mp, z)).collect()).collect();
    let Some(tolerance) = tolerance else {
        return snapped.into_iter().map(|l| l.into_iter().map(cleaned).collect()).collect();
    };
    // All levels' areas in one list (each its own owner), simplified, and split again.
    let sizes: Vec<usize> = snapped.iter().map(|l| l.len()).collect();
    let (kinds, mut rings): (Vec<Vec<bool>>, Vec<Vec<super::simplify::Ring>>) =
        snapped.into_iter().flatten().map(|a| a.into_iter().unzip()).unzip();
    super::simplify::level(&mut rings, tolerance);
    let mut areas = kinds.into_iter().zip(rings).map(|(k, r)| cleaned(k.into_iter().zip(r).collect()));
    sizes.iter().map(|&n| areas.by_ref().take(n).collect()).collect()
}

/// Snap an area's rings to the world grid at zoom z and clean them.
fn snap_area(mp: &MultiPolygon<f64>, z: u8) -> Rings {
    cleaned(snapped_rings(mp, z))
}

/// The rings cleaned (see [`clean`]); a polygon whose exterior is gone loses its holes.
fn cleaned(rings: Vec<(bool, Vec<[i64; 2]>)>) -> Rings {
    let mut out = Vec::new();
    let mut have_exterior = false;
    for (exterior, r) in rings {
        if exterior {
            have_exterior = false;
        } else if !have_exterior {
            continue;
        }
        if let Some(c) = clean(r) {
            have_exterior |= exterior;
            out.push((exterior, c));
        }
    }
    out
}

/// An area's rings snapped to the world grid at zoom z, closed, exact repeats dropped.
fn snapped_rings(mp: &MultiPolygon<f64>, z: u8) -> Vec<(bool, Vec<[i64; 2]>)> {
    let snap = |ls: &geo_types::LineString<f64>| -> Vec<[i64; 2]> {
        let mut pts: Vec<[i64; 2]> = Vec::with_capacity(ls.0.len());
        for c in &ls.0 {
            let (wx, wy) = grid::to_world(z, c.x, c.y);
            let p = [wx.round() as i64, wy.round() as i64];
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        if pts.len() > 1 && pts.first() != pts.last() {
            pts.push(pts[0]);
        }
        pts
    };
    let mut out = Vec::new();
    for poly in &mp.0 {
        out.push((true, snap(poly.exterior())));
        for hole in poly.interiors() {
            out.push((false, snap(hole)));
        }
    }
    out
}

/// Twice the signed area (shoelace) in y-down coordinates.
fn signed_area2(r: &[[i64; 2]]) -> i64 {
    r.windows(2).map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1]).sum()
}

fn cross(a: [i64; 2], b: [i64; 2], c: [i64; 2]) -> i128 {
    (i128::from(b[0] - a[0])) * i128::from(c[1] - a[1]) - i128::from(b[1] - a[1]) * i128::from(c[0] - a[0])
}

/// Drop repeated points and points exactly on the line through their neighbours; close
/// the ring. `None` when fewer than 3 distinct points remain.
fn clean(pts: Vec<[i64; 2]>) -> Option<Vec<[i64; 2]>> {
    let mut out: Vec<[i64; 2]> = Vec::with_capacity(pts.len());
    for p in pts {
        if out.last() == Some(&p) {
            continue;
        }
        while out.len() >= 2 && cross(out[out.len() - 2], out[out.len() - 1], p) == 0 {
            out.pop();
        }
        out.push(p);
    }
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    // The closing corner: the first point may sit on the line last → second.
    while out.len() >= 3 && cross(out[out.len() - 1], out[0], out[1]) == 0 {
        out.remove(0);
    }
    while out.len() >= 3 && cross(out[out.len() - 2], out[out.len() - 1], out[0]) == 0 {
        out.pop();
    }
    if out.len() < 3 {
        return None;
    }
    out.push(out[0]);
    Some(out)
}

/// Sutherland–Hodgman against an axis-aligned box; intersections computed with the
/// segment's endpoints in a canonical order, so both neighbours get the same point.
fn clip_ring(ring: &[[i64; 2]], clip: [i64; 4]) -> Vec<[i64; 2]> {
    let (min_x, min_y, max_x, max_y) = (clip[0], clip[1], clip[2], clip[3]);
    // Fast path: ring entirely inside.
    if ring.iter().all(|p| p[0] >= min_x && p[0] <= max_x && p[1] >= min_y && p[1] <= max_y) {
        return ring.to_vec();
    }
    let mut pts: Vec<[i64; 2]> = ring[..ring.len().saturating_sub(1)].to_vec();
    for edge in 0..4 {
        if pts.is_empty() {
            break;
        }
        let inside = |p: [i64; 2]| match edge {
            0 => p[0] >= min_x,
            1 => p[0] <= max_x,
            2 => p[1] >= min_y,
            _ => p[1] <= max_y,
        };
        let cut = |a: [i64; 2], b: [i64; 2]| -> [i64; 2] {
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            let (ax, ay, bx, by) = (a[0] as f64, a[1] as f64, b[0] as f64, b[1] as f64);
            match edge {
                0 | 1 => {
                    let x = if edge == 0 { min_x } else { max_x };
                    let t = (x as f64 - ax) / (bx - ax);
                    [x, (ay + t * (by - ay)).round() as i64]
                }
                _ => {
                    let y = if edge == 2 { min_y } else { max_y };
                    let t = (y as f64 - ay) / (by - ay);
                    [(ax + t * (bx - ax)).round() as i64, y]
                }
            }
        };
        let mut next = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let cur = pts[i];
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            match (inside(prev), inside(cur)) {
                (true, true) => next.push(cur),
                (true, false) => next.push(cut(prev, cur)),
                (false, true) => {
                    next.push(cut(prev, cur));
                    next.push(cur);
                }
                (false, false) => {}
            }
        }
        pts = next;
    }
    if let Some(&first) = pts.first() {
        pts.push(first);
    }
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_repeats_and_collinear_points() {
        let r = clean(vec![[0, 0], [5, 0], [10, 0], [10, 0], [10, 10], [0, 10], [0, 5], [0, 0]]).unwrap();
        assert_eq!(r, vec![[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]);
        assert!(clean(vec![[0, 0], [5, 0], [10, 0], [0, 0]]).is_none(), "degenerate ring dropped");
    }

    #[test]
    fn clipping_keeps_the_inside() {
        let ring = vec![[-100, -100], [100, -100], [100, 100], [-100, 100], [-100, -100]];
        let c = clean(clip_ring(&ring, [0, 0, 50, 50])).unwrap();
        assert_eq!(signed_area2(&c).abs(), 2 * 50 * 50);
    }
}
