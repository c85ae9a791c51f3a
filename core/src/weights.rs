//! Spatial weights of a level: which areas are neighbours, from the polygons themselves.
//!
//! The rules are libpysal's (`Queen`/`Rook.from_dataframe`), so that an analyst gets the
//! same neighbours in PySAL or GeoDa:
//! - **queen**: two areas are neighbours when they share at least one vertex;
//! - **rook**: when they share at least one edge (two consecutive vertices, either way);
//! - vertices are compared exactly; with `tolerance` > 0 they are first snapped to a grid
//!   of that size (working-CRS units, metres), for real data whose neighbours do not share
//!   vertices exactly (digitised separately, or simplified). That is *our* extension: the
//!   same as libpysal with 0.
//!
//! Also on the areas' interior points (a point inside each polygon, `geo::InteriorPoint`):
//! - **k nearest neighbours** (libpysal `KNN`): the k other areas whose points are
//!   nearest (not symmetric);
//! - **distance band** (libpysal `DistanceBand`, binary): the areas whose points lie within
//!   a distance (working-CRS units, metres).
//!
//! Islands (areas without neighbours) and the connected components are reported, by code,
//! as libpysal does; in the statistics an island has no spatial lag (esda's default).

use std::collections::{HashMap, HashSet};

use crate::model::Area;

/// Which contiguity rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contiguity {
    Queen,
    Rook,
}

impl Contiguity {
    pub fn parse(s: &str) -> Option<Contiguity> {
        match s {
            "queen" => Some(Contiguity::Queen),
            "rook" => Some(Contiguity::Rook),
            _ => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Contiguity::Queen => "queen",
            Contiguity::Rook => "rook",
        }
    }
}

/// Which weights, with their parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    Contiguity(Contiguity, f64),
    Knn(usize),
    Distance(f64),
}

impl Spec {
    /// From `type` (queen, rook, knn, distance) and its parameters; an error says what to give.
    pub fn parse(kind: &str, tolerance: Option<f64>, k: Option<usize>, threshold: Option<f64>) -> Result<Spec, String> {
        let spec = match kind {
            "queen" | "rook" => {
                let t = tolerance.unwrap_or(0.0);
                if !(0.0..=1000.0).contains(&t) {
                    return Err(format!("tolerance={t}: give 0 to 1000 (working-CRS units, metres)"));
                }
                Spec::Contiguity(Contiguity::parse(kind).unwrap_or(Contiguity::Queen), t)
            }
            "knn" => {
                let k = k.unwrap_or(5);
                if !(1..=50).contains(&k) {
                    return Err(format!("k={k}: give 1 to 50 nearest neighbours"));
                }
                Spec::Knn(k)
            }
            "distance" => match threshold {
                Some(d) if d > 0.0 && d.is_finite() => Spec::Distance(d),
                _ => return Err("type=distance needs threshold=… (metres, above 0)".into()),
            },
            other => return Err(format!("type={other}: give queen, rook, knn (with k) or distance (with threshold)")),
        };
        Ok(spec)
    }

    pub fn key(&self) -> &'static str {
        match self {
            Spec::Contiguity(c, _) => c.key(),
            Spec::Knn(_) => "knn",
            Spec::Distance(_) => "distance",
        }
    }

    /// The rule in words, for the responses.
    pub fn describe(&self) -> String {
        match self {
            Spec::Contiguity(Contiguity::Queen, t) => format!("neighbours share at least one vertex (libpysal Queen){}", tol(*t)),
            Spec::Contiguity(Contiguity::Rook, t) => format!("neighbours share at least one edge (libpysal Rook){}", tol(*t)),
            Spec::Knn(k) => format!("the {k} nearest areas by their interior points (libpysal KNN)"),
            Spec::Distance(d) => format!("the areas whose interior points lie within {d} m (libpysal DistanceBand, binary)"),
        }
    }

    pub fn build(&self, areas: &[Area]) -> Neighbours {
        match *self {
            Spec::Contiguity(c, t) => contiguity(areas, c, t),
            Spec::Knn(k) => knn(&interior_points(areas), k),
            Spec::Distance(d) => distance_band(&interior_points(areas), d),
        }
    }
}

fn tol(t: f64) -> String {
    if t > 0.0 { format!(", vertices snapped to {t} m") } else { String::new() }
}

/// Exact queen and rook contiguity per level, made when first asked for and then kept:
/// the build (configured hot spots) and the server (hot-spot and weights endpoints) share
/// one per snapshot. Other weights are made per call.
#[derive(Debug, Default)]
pub struct Cache(Vec<[std::sync::OnceLock<Neighbours>; 2]>);

impl Cache {
    pub fn new(levels: usize) -> Cache {
        Cache((0..levels).map(|_| [std::sync::OnceLock::new(), std::sync::OnceLock::new()]).collect())
    }

    /// The exact contiguity of level `li` (whose areas are `areas`).
    pub fn contiguity(&self, li: usize, areas: &[Area], rule: Contiguity) -> &Neighbours {
        self.0[li][usize::from(rule == Contiguity::Rook)].get_or_init(|| contiguity(areas, rule, 0.0))
    }

    /// The weights `spec` of level `li`: from the cache where they are exact contiguity.
    pub fn weights(&self, li: usize, areas: &[Area], spec: Spec) -> std::borrow::Cow<'_, Neighbours> {
        match spec {
            Spec::Contiguity(c, 0.0) => std::borrow::Cow::Borrowed(self.contiguity(li, areas, c)),
            other => std::borrow::Cow::Owned(other.build(areas)),
        }
    }
}

/// Neighbour lists (sorted area indices), one per area.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    pub lists: Vec<Vec<u32>>,
}

impl Neighbours {
    /// Areas without neighbours.
    pub fn islands(&self) -> Vec<usize> {
        (0..self.lists.len()).filter(|&i| self.lists[i].is_empty()).collect()
    }

    /// The connected component of every area (numbered from 0) and how many there are.
    pub fn components(&self) -> (Vec<usize>, usize) {
        let n = self.lists.len();
        let mut comp = vec![usize::MAX; n];
        let mut count = 0;
        for start in 0..n {
            if comp[start] != usize::MAX {
                continue;
            }
            let mut stack = vec![start];
            comp[start] = count;
            while let Some(i) = stack.pop() {
                for &j in &self.lists[i] {
                    if comp[j as usize] == usize::MAX {
                        comp[j as usize] = count;
                        stack.push(j as usize);
                    }
                }
            }
            count += 1;
        }
        (comp, count)
    }

    /// The weights restricted to the areas in `keep` (in that order): the neighbours among
    /// them, renumbered (libpysal's `w_subset`).
    pub fn subset(&self, keep: &[usize]) -> Neighbours {
        let pos: HashMap<usize, u32> = keep.iter().enumerate().map(|(k, &i)| (i, k as u32)).collect();
        Neighbours {
            lists: keep
                .iter()
                .map(|&i| {
                    let mut l: Vec<u32> = self.lists[i].iter().filter_map(|j| pos.get(&(*j as usize)).copied()).collect();
                    l.sort_unstable();
                    l
                })
                .collect(),
        }
    }
}

/// A vertex as a hashable key: its exact bits, or snapped to `tolerance`.
fn key(x: f64, y: f64, tolerance: f64) -> (i64, i64) {
    if tolerance > 0.0 {
        ((x / tolerance).round() as i64, (y / tolerance).round() as i64)
    } else {
        // -0.0 and 0.0 are one vertex
        ((x + 0.0).to_bits() as i64, (y + 0.0).to_bits() as i64)
    }
}

/// Contiguity of `areas` by `rule`.
pub fn contiguity(areas: &[Area], rule: Contiguity, tolerance: f64) -> Neighbours {
    type Vertex = (i64, i64);
    let mut by_vertex: HashMap<Vertex, Vec<u32>> = HashMap::new();
    let mut by_edge: HashMap<(Vertex, Vertex), Vec<u32>> = HashMap::new();
    for (i, a) in areas.iter().enumerate() {
        let mut seen_v: HashSet<Vertex> = HashSet::new();
        let mut seen_e: HashSet<(Vertex, Vertex)> = HashSet::new();
        for poly in &a.geometry.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                let ks: Vec<Vertex> = ring.0.iter().map(|c| key(c.x, c.y, tolerance)).collect();
                match rule {
                    Contiguity::Queen => seen_v.extend(ks.iter().copied()),
                    Contiguity::Rook => {
                        for w in ks.windows(2) {
                            if w[0] != w[1] {
                                seen_e.insert(if w[0] < w[1] { (w[0], w[1]) } else { (w[1], w[0]) });
                            }
                        }
                    }
                }
            }
        }
        seen_v.into_iter().for_each(|v| by_vertex.entry(v).or_default().push(i as u32));
        seen_e.into_iter().for_each(|e| by_edge.entry(e).or_default().push(i as u32));
    }
    let mut sets: Vec<HashSet<u32>> = vec![HashSet::new(); areas.len()];
    for owners in by_vertex.values().chain(by_edge.values()) {
        for &a in owners {
            for &b in owners {
                if a != b {
                    sets[a as usize].insert(b);
                }
            }
        }
    }
    Neighbours {
        lists: sets
            .into_iter()
            .map(|s| {
                let mut l: Vec<u32> = s.into_iter().collect();
                l.sort_unstable();
                l
            })
            .collect(),
    }
}

/// Each area's interior point (`None` for an empty geometry).
pub fn interior_points(areas: &[Area]) -> Vec<Option<[f64; 2]>> {
    use geo::InteriorPoint;
    areas.iter().map(|a| a.geometry.interior_point().map(|p| [p.x(), p.y()])).collect()
}

fn point_tree(points: &[Option<[f64; 2]>]) -> rstar::RTree<rstar::primitives::GeomWithData<[f64; 2], u32>> {
    rstar::RTree::bulk_load(
        points.iter().enumerate().filter_map(|(i, p)| p.map(|p| rstar::primitives::GeomWithData::new(p, i as u32))).collect(),
    )
}

/// Per point, the other points `near` gives (sorted); none for a missing point.
fn by_point(
    points: &[Option<[f64; 2]>],
    near: impl Fn(&rstar::RTree<rstar::primitives::GeomWithData<[f64; 2], u32>>, &[f64; 2], u32) -> Vec<u32>,
) -> Neighbours {
    let tree = point_tree(points);
    let lists = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let Some(p) = p else { return Vec::new() };
            let mut l: Vec<u32> = near(&tree, p, i as u32).into_iter().filter(|&j| j as usize != i).collect();
            l.sort_unstable();
            l
        })
        .collect();
    Neighbours { lists }
}

/// The `k` nearest other points of every point.
pub fn knn(points: &[Option<[f64; 2]>], k: usize) -> Neighbours {
    by_point(points, |tree, p, me| tree.nearest_neighbor_iter(p).map(|e| e.data).filter(|&j| j != me).take(k).collect())
}

/// The other points within `threshold` of every point.
pub fn distance_band(points: &[Option<[f64; 2]>], threshold: f64) -> Neighbours {
    by_point(points, |tree, p, _| tree.locate_within_distance(*p, threshold * threshold).map(|e| e.data).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Area as _;
    use geo_types::{MultiPolygon, polygon};

    fn square(x: f64, y: f64) -> Area {
        let g = MultiPolygon(vec![polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0), (x: x, y: y)]]);
        Area { code: format!("{x}_{y}"), name: None, geometry_km2: g.unsigned_area() / 1e6, geometry: g, country: None }
    }

    #[test]
    fn queen_touches_at_corners_rook_needs_an_edge() {
        // a 2 × 2 grid and one square far away
        let areas = vec![square(0.0, 0.0), square(1.0, 0.0), square(0.0, 1.0), square(1.0, 1.0), square(5.0, 5.0)];
        let q = contiguity(&areas, Contiguity::Queen, 0.0);
        assert_eq!(q.lists[0], vec![1, 2, 3]);
        let r = contiguity(&areas, Contiguity::Rook, 0.0);
        assert_eq!(r.lists[0], vec![1, 2]);
        assert_eq!(q.islands(), vec![4]);
        assert_eq!(q.components().1, 2);
        assert_eq!(q.subset(&[0, 3, 4]).lists, vec![vec![1], vec![0], vec![]]);
        // A neighbour 1 mm off: only with a tolerance.
        let off = vec![square(0.0, 0.0), square(1.001, 0.0)];
        assert!(contiguity(&off, Contiguity::Rook, 0.0).lists[0].is_empty());
        assert_eq!(contiguity(&off, Contiguity::Rook, 0.01).lists[0], vec![1]);
    }
}
