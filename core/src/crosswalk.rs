//! Crosswalks between two editions of boundaries: for every old area, the share of it that
//! went to each new area. CBS redraws and recodes buurten and wijken almost every year;
//! statistics published on old boundaries are converted to new ones with these shares.
//!
//! The shares are weighted by where people or addresses are, as the VNG's conversion
//! matrices for municipal monitors are (address-weighted) and as PySAL's `tobler` does
//! (area-weighted and dasymetric interpolation):
//! - **points** (the CBS 100 m grid with its inhabitants, BAG addresses): the share of old
//!   area `o` that went to new area `n` is the weight of the points in both, over the
//!   weight of the points in `o` that lie in a new area. A point counts once: where new
//!   areas overlap, in the first of them (as in the point join). An old area without
//!   weighted points falls back to area, and says so;
//! - **area**: area(o ∩ n) / Σₙ area(o ∩ n), exactly what
//!   `tobler.area_weighted.area_interpolate` uses for extensive variables with its default
//!   `allocate_total=True` (checked against it in `tests/crosswalk.rs`).
//!
//! So all of an old area's count goes to the new areas it meets: totals are conserved.
//! The part of an old area that lies in no new area (outside the region, or gaps between
//! simplified boundaries) is reported per old area as `uncovered` (by area or by weight).
//!
//! An old area whose code is in the new edition with the same geometry (both areas within
//! 1e-6 of their intersection) is carried over unchanged, share 1.
//!
//! Counts and sums are converted with the shares ([`convert`]); rates must be recomputed
//! from converted numerators and denominators, never converted themselves. Shares of an
//! old area add up to less than 1 where part of it lies outside every new area.

use std::collections::HashMap;

use geo::{Area as _, BooleanOps, BoundingRect};
use rayon::prelude::*;
use rstar::{AABB, RTree};

use crate::index::{AreaIndex, Entry, envelope_tree};
use crate::model::Area;

/// How the share of one old area was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Same code, same geometry: carried over, share 1.
    Unchanged,
    /// By the weight of the points in each part.
    Points,
    /// By land area (no weighting points, or none in this old area).
    Area,
}

impl Method {
    pub fn key(self) -> &'static str {
        match self {
            Method::Unchanged => "unchanged",
            Method::Points => "points",
            Method::Area => "area",
        }
    }
}

/// Part of old area `from` that went to new area `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub from: u32,
    pub to: u32,
    pub share: f64,
    /// Area of the intersection, in square working-CRS units (m² in RD New).
    pub area: f64,
    /// The weight of the points in the intersection (0 without points).
    pub weight: f64,
}

/// The crosswalk: links sorted by (from, to), how each old area was weighted, and which
/// part of it lies in no new area (0 to 1, by the same weighting).
#[derive(Debug, Clone)]
pub struct Crosswalk {
    pub links: Vec<Link>,
    pub method: Vec<Method>,
    pub uncovered: Vec<f64>,
}

/// Weighting points: coordinates in the areas' CRS and a weight per point.
pub struct WeightPoints<'a> {
    pub xs: &'a [f64],
    pub ys: &'a [f64],
    pub weights: &'a [f64],
}

/// Relative tolerance for "the same geometry".
const SAME: f64 = 1e-6;

/// Build the crosswalk from `old` to `new` (same CRS), weighted by `points` when given.
pub fn build(old: &[Area], new: &[Area], points: Option<&WeightPoints>) -> Crosswalk {
    let tree: RTree<Entry> = envelope_tree(new.iter().map(|a| &a.geometry));
    let overlaps: Vec<Vec<(u32, f64)>> = old.par_iter().map(|o| intersections(o, new, &tree)).collect();
    let by_points = points.map(|p| point_weights(old, new, p));
    let mut links = Vec::new();
    let mut method = Vec::with_capacity(old.len());
    let mut uncovered = Vec::with_capacity(old.len());
    for (oi, o) in old.iter().enumerate() {
        let area_o = o.geometry.unsigned_area();
        let parts = &overlaps[oi];
        let unchanged = parts.iter().find(|(n, a)| {
            let n = &new[*n as usize];
            n.code == o.code && (area_o - a).abs() <= SAME * area_o && (n.geometry.unsigned_area() - a).abs() <= SAME * area_o
        });
        if let Some(&(n, a)) = unchanged {
            links.push(Link { from: oi as u32, to: n, share: 1.0, area: a, weight: by_points.as_ref().map_or(0.0, |w| w.total[oi]) });
            method.push(Method::Unchanged);
            uncovered.push(0.0);
            continue;
        }
        match by_points.as_ref().filter(|w| w.covered(oi) > 0.0) {
            Some(w) => {
                let total = w.covered(oi);
                uncovered.push(1.0 - total / w.total[oi]);
                // Every new area the old one meets, by polygons or by points; one that
                // holds none of its points gets share 0 (nobody lives there), not nothing.
                let mut to: Vec<u32> = w.pairs[oi].keys().copied().chain(parts.iter().map(|p| p.0)).collect();
                to.sort_unstable();
                to.dedup();
                for n in to {
                    let area = parts.iter().find(|(m, _)| *m == n).map_or(0.0, |p| p.1);
                    let weight = w.pairs[oi].get(&n).copied().unwrap_or(0.0);
                    links.push(Link { from: oi as u32, to: n, share: weight / total, area, weight });
                }
                method.push(Method::Points);
            }
            None => {
                let covered: f64 = parts.iter().map(|p| p.1).sum();
                for &(n, a) in parts {
                    links.push(Link { from: oi as u32, to: n, share: a / covered, area: a, weight: 0.0 });
                }
                method.push(Method::Area);
                uncovered.push(if area_o > 0.0 { (1.0 - covered / area_o).max(0.0) } else { 1.0 });
            }
        }
    }
    Crosswalk { links, method, uncovered }
}

/// The old areas that belong to the new ones: those whose interior point lies in a new
/// area. An old area that only touches the new ones (a neighbour outside the region, a
/// sliver between simplified boundaries) would otherwise give all its count to them.
pub fn old_areas_within(old: &[Area], new: &[Area]) -> Vec<usize> {
    use geo::InteriorPoint;
    let index = AreaIndex::build(new.iter().map(|a| &a.geometry));
    (0..old.len()).filter(|&i| old[i].geometry.interior_point().is_some_and(|p| index.locate(p.x(), p.y()).is_some())).collect()
}

/// (new area, intersection area) for every new area that meets `o`, by index.
fn intersections(o: &Area, new: &[Area], tree: &RTree<Entry>) -> Vec<(u32, f64)> {
    let Some(r) = o.geometry.bounding_rect() else { return Vec::new() };
    let env = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
    let mut out: Vec<(u32, f64)> = tree
        .locate_in_envelope_intersecting(&env)
        .filter_map(|e| {
            let n = e.data;
            let a = o.geometry.intersection(&new[n as usize].geometry).unsigned_area();
            (a > 0.0).then_some((n, a))
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// The weight of the points per old area and per (old, new) pair.
struct PointWeights {
    /// All points in the old area.
    total: Vec<f64>,
    pairs: Vec<HashMap<u32, f64>>,
}

impl PointWeights {
    /// The weight of the points of old area `o` that lie in a new area.
    fn covered(&self, o: usize) -> f64 {
        self.pairs[o].values().sum()
    }
}

fn point_weights(old: &[Area], new: &[Area], p: &WeightPoints) -> PointWeights {
    let old_index = AreaIndex::build(old.iter().map(|a| &a.geometry));
    let new_index = AreaIndex::build(new.iter().map(|a| &a.geometry));
    let mut total = vec![0.0; old.len()];
    let mut pairs: Vec<HashMap<u32, f64>> = vec![HashMap::new(); old.len()];
    for i in 0..p.xs.len() {
        let w = p.weights[i];
        if !(w.is_finite() && w > 0.0) {
            continue;
        }
        if let Some(o) = old_index.locate(p.xs[i], p.ys[i]) {
            total[o as usize] += w;
            if let Some(n) = new_index.locate(p.xs[i], p.ys[i]) {
                *pairs[o as usize].entry(n).or_insert(0.0) += w;
            }
        }
    }
    PointWeights { total, pairs }
}

/// A count or sum converted to the new areas: per new area the value (missing when any
/// old area that gave it a share is missing) and whether it was converted (received
/// anything from an old area that was not carried over unchanged).
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    pub value: Option<f64>,
    pub converted: bool,
    /// How many old areas contributed.
    pub sources: u32,
}

/// Convert a count or sum published on the old areas (`values`, aligned with them) to
/// the new areas.
pub fn convert(cw: &Crosswalk, values: &[Option<f64>], n_new: usize) -> Vec<Converted> {
    let mut out = vec![Converted { value: Some(0.0), converted: false, sources: 0 }; n_new];
    for l in &cw.links {
        let c = &mut out[l.to as usize];
        c.sources += 1;
        c.converted |= cw.method[l.from as usize] != Method::Unchanged;
        c.value = match (c.value, values[l.from as usize]) {
            (Some(s), Some(v)) => Some(s + v * l.share),
            _ => None,
        };
    }
    for c in &mut out {
        if c.sources == 0 {
            c.value = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{MultiPolygon, polygon};

    fn square(code: &str, x0: f64, y0: f64, x1: f64, y1: f64) -> Area {
        let g = MultiPolygon(vec![polygon![(x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)]]);
        Area { code: code.into(), name: None, geometry_km2: g.unsigned_area() / 1e6, geometry: g, country: None }
    }

    #[test]
    fn a_split_area_is_shared_by_area_or_by_points_and_an_unchanged_one_carried_over() {
        let old = vec![square("A", 0.0, 0.0, 100.0, 100.0), square("B", 100.0, 0.0, 200.0, 100.0)];
        let new = vec![square("A1", 0.0, 0.0, 25.0, 100.0), square("A2", 25.0, 0.0, 100.0, 100.0), square("B", 100.0, 0.0, 200.0, 100.0)];
        let cw = build(&old, &new, None);
        assert_eq!(cw.method, vec![Method::Area, Method::Unchanged]);
        assert_eq!(cw.uncovered, vec![0.0, 0.0]);
        let shares: Vec<(u32, u32, f64)> = cw.links.iter().map(|l| (l.from, l.to, l.share)).collect();
        assert_eq!(shares, vec![(0, 0, 0.25), (0, 1, 0.75), (1, 2, 1.0)]);
        // Three people in A1's part, one in A2's: shares 3/4 and 1/4.
        let (xs, ys, ws) = (vec![10.0, 50.0, 150.0], vec![50.0, 50.0, 50.0], vec![3.0, 1.0, 7.0]);
        let cw = build(&old, &new, Some(&WeightPoints { xs: &xs, ys: &ys, weights: &ws }));
        assert_eq!(cw.method, vec![Method::Points, Method::Unchanged]);
        assert_eq!(cw.links[0].share, 0.75);
        // Nobody in A2's part but one person: and with nobody there at all, share 0.
        let (xs, ys, ws) = (vec![10.0], vec![50.0], vec![3.0]);
        let cw = build(&old, &new, Some(&WeightPoints { xs: &xs, ys: &ys, weights: &ws }));
        let shares: Vec<(u32, u32, f64)> = cw.links.iter().map(|l| (l.from, l.to, l.share)).collect();
        assert_eq!(shares, vec![(0, 0, 1.0), (0, 1, 0.0), (1, 2, 1.0)]);
        assert_eq!(convert(&cw, &[Some(100.0), Some(8.0)], 3)[1].value, Some(0.0));
        let (xs, ys, ws) = (vec![10.0, 50.0, 150.0], vec![50.0, 50.0, 50.0], vec![3.0, 1.0, 7.0]);
        let cw = build(&old, &new, Some(&WeightPoints { xs: &xs, ys: &ys, weights: &ws }));
        let c = convert(&cw, &[Some(100.0), Some(8.0)], 3);
        assert_eq!(c.iter().map(|c| c.value).collect::<Vec<_>>(), vec![Some(75.0), Some(25.0), Some(8.0)]);
        assert_eq!(c.iter().map(|c| c.converted).collect::<Vec<_>>(), vec![true, true, false]);
        assert_eq!(convert(&cw, &[None, Some(8.0)], 3)[0].value, None);
        // Half of C lies outside every new area: all of it goes to the half inside.
        let old = vec![square("C", -100.0, 0.0, 100.0, 100.0)];
        let cw = build(&old, &new, None);
        assert_eq!(cw.uncovered, vec![0.5]);
        let total: f64 = convert(&cw, &[Some(40.0)], 3).iter().filter_map(|c| c.value).sum();
        assert_eq!(total, 40.0);
    }
}
