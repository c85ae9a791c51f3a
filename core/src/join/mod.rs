//! The join: every point to the area that contains it, per level. Pure, synchronous, no
//! I/O, parallel over chunks of points.
//!
//! Boundary rule: a point on an edge shared by two areas goes to exactly one of them
//! (see [`crate::index::PreparedArea::contains`]); where areas overlap, the one listed
//! first wins. A point inside no area is *outside* ([`NONE`]), never dropped.

pub mod database;

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::index::AreaIndex;

/// Marks a point that lies in no area of the level.
pub const NONE: u32 = u32::MAX;

/// The index of the containing area for each point, or [`NONE`].
pub fn locate_all(index: &AreaIndex, xs: &[f64], ys: &[f64]) -> Vec<u32> {
    locate_all_checked(index, xs, ys).0
}

/// Points that lay in more than one area: (lower, higher area index) → number of points.
pub type Overlaps = BTreeMap<(u32, u32), u64>;

/// Like [`locate_all`], and also where areas overlap (points inside two or more areas).
///
/// Points are looked up in spatial order (see [`spatial_order`]), not file order: a run
/// of neighbouring points hits the same few areas, whose edges then stay in cache. At
/// national scale (14,500 areas, 120 MB of edges) that is what bounds the speed.
pub fn locate_all_checked(index: &AreaIndex, xs: &[f64], ys: &[f64]) -> (Vec<u32>, Overlaps) {
    const CHUNK: usize = 16 * 1024;
    // The coordinates in spatial order, moved there by the sort itself: the lookups then
    // read them in sequence (gathering xs[i], ys[i] by index missed cache on every point:
    // more time than the lookups).
    let (order, coords) = spatial_order(xs, ys);
    let mut sorted = vec![NONE; xs.len()];
    let overlaps = sorted
        .par_chunks_mut(CHUNK)
        .zip(coords.par_chunks(CHUNK))
        .map(|(chunk, xy)| {
            let mut overlaps = Overlaps::new();
            for (slot, &[x, y]) in chunk.iter_mut().zip(xy) {
                let (best, second) = index.locate_checked(x, y);
                if let Some(a) = best {
                    *slot = a;
                    if let Some(b) = second {
                        *overlaps.entry((a, b)).or_insert(0) += 1;
                    }
                }
            }
            overlaps
        })
        .reduce(Overlaps::new, |mut a, b| {
            for (k, v) in b {
                *a.entry(k).or_insert(0) += v;
            }
            a
        });
    let mut out = vec![NONE; xs.len()];
    for (&i, &a) in order.iter().zip(&sorted) {
        out[i as usize] = a;
    }
    (out, overlaps)
}

/// The points' indices ordered by cell of a grid over their extent (up to 1024 × 1024
/// cells, about four points per cell for fewer points), cells in Morton (Z-order)
/// sequence, and their coordinates in that order: a counting sort, two passes, no
/// comparison sort. Points with a non-finite coordinate go last.
pub fn spatial_order(xs: &[f64], ys: &[f64]) -> (Vec<u32>, Vec<[f64; 2]>) {
    let bits: u32 = ((usize::BITS - (xs.len() / 4).leading_zeros()) / 2).clamp(2, 10);
    let side = f64::from(1u32 << bits);
    let fin = |v: &&f64| v.is_finite();
    let (x0, x1) = xs.iter().filter(fin).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (y0, y1) = ys.iter().filter(fin).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (sx, sy) = (side / (x1 - x0).max(f64::MIN_POSITIVE), side / (y1 - y0).max(f64::MIN_POSITIVE));
    let n_cells = 1usize << (2 * bits);
    let cell = |i: usize| -> usize {
        let (x, y) = (xs[i], ys[i]);
        if !(x.is_finite() && y.is_finite()) {
            return n_cells;
        }
        let cx = (((x - x0) * sx) as u32).min((1 << bits) - 1);
        let cy = (((y - y0) * sy) as u32).min((1 << bits) - 1);
        interleave(cx) | (interleave(cy) << 1)
    };
    let cells: Vec<u32> = (0..xs.len()).into_par_iter().map(|i| cell(i) as u32).collect();
    let (order, coords, _) = crate::sort::counting_sort(&cells, n_cells + 1, |i| [xs[i], ys[i]]);
    (order, coords)
}

/// Spread the low 10 bits of `v` to the even bit positions.
fn interleave(v: u32) -> usize {
    let mut x = v as usize & 0x3ff;
    x = (x | (x << 8)) & 0x00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f;
    x = (x | (x << 2)) & 0x3333_3333;
    x = (x | (x << 1)) & 0x5555_5555;
    x
}

/// A warning naming the overlapping areas, when points fell in more than one area.
pub fn overlap_warning(overlaps: &Overlaps, areas: &[crate::model::Area], what: &std::path::Path) -> Option<String> {
    if overlaps.is_empty() {
        return None;
    }
    let n: u64 = overlaps.values().sum();
    let mut pairs: Vec<(&(u32, u32), &u64)> = overlaps.iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(a.1));
    let shown: Vec<String> =
        pairs.iter().take(10).map(|((a, b), k)| format!("{} & {} ({k})", areas[*a as usize].code, areas[*b as usize].code)).collect();
    Some(format!(
        "{}: {n} points lie in more than one area (overlapping polygons, {} pairs); each was counted once, in the area listed first in the file: {}{}",
        what.display(),
        overlaps.len(),
        shown.join(", "),
        if pairs.len() > 10 { ", ..." } else { "" }
    ))
}

/// For points not yet assigned (`NONE` in `assigned`), locate them in `index`; keep the
/// others. Used for coarser levels: most points inherit their area from the finer level
/// through the code hierarchy, the rest are looked up in the coarser polygons.
pub fn fill_unassigned(index: &AreaIndex, xs: &[f64], ys: &[f64], assigned: &mut [u32]) {
    assigned.par_iter_mut().enumerate().for_each(|(i, slot)| {
        if *slot == NONE
            && let Some(a) = index.locate(xs[i], ys[i])
        {
            *slot = a;
        }
    });
}

/// Count points (and sum weights) per area. `counts.len()` = number of areas. A point
/// without a usable weight (NaN) is counted, and left out of the sums.
pub fn count_per_area(assigned: &[u32], weights: Option<&[f64]>, n_areas: usize) -> (Vec<u64>, Vec<f64>) {
    let mut counts = vec![0u64; n_areas];
    let mut sums = vec![0f64; n_areas];
    for (i, &a) in assigned.iter().enumerate() {
        if a != NONE {
            counts[a as usize] += 1;
            let w = weights.map_or(1.0, |w| w[i]);
            if !w.is_nan() {
                sums[a as usize] += w;
            }
        }
    }
    (counts, sums)
}

/// Assign every point to an area at every level. A level with a child level inherits the
/// child's answer through the hierarchy (code prefix or polygon containment); the points
/// that gives no answer for are looked up in the level's own polygons, so a gemeente
/// without loaded buurten still gets its points.
pub fn join_hierarchy(
    levels: &[crate::model::Level],
    indexes: &[AreaIndex],
    order: &[usize],
    layer: &crate::model::PointLayer,
) -> (Vec<Vec<u32>>, Vec<(usize, Overlaps)>) {
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    let mut overlaps = Vec::new();
    for &li in order {
        let child = (0..levels.len()).find(|&c| levels[c].parent == Some(li) && !assigned[c].is_empty());
        let Some(c) = child else {
            // A finest level: every point is looked up, and overlaps are reported.
            let (mine, o) = locate_all_checked(&indexes[li], &layer.xs, &layer.ys);
            if !o.is_empty() {
                overlaps.push((li, o));
            }
            assigned[li] = mine;
            continue;
        };
        let mut mine: Vec<u32> =
            assigned[c].par_iter().map(|&a| if a == NONE { NONE } else { levels[c].parent_area[a as usize].unwrap_or(NONE) }).collect();
        fill_unassigned(&indexes[li], &layer.xs, &layer.ys, &mut mine);
        assigned[li] = mine;
    }
    (assigned, overlaps)
}

/// The warnings of a layer's points that lay in two areas of a level at once.
pub fn overlap_warnings(levels: &[crate::model::Level], layer: &str, overlaps: &[(usize, Overlaps)]) -> Vec<String> {
    overlaps
        .iter()
        .filter_map(|(li, o)| {
            let what = std::path::PathBuf::from(format!("points '{layer}' in level '{}'", levels[*li].id));
            overlap_warning(o, &levels[*li].areas, &what)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{LineString, MultiPolygon, Polygon};

    #[test]
    fn spatial_order_is_a_permutation_grouping_neighbours() {
        for n in [0usize, 1, 7, 1000, 100_000] {
            let xs: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64).collect();
            let mut ys: Vec<f64> = (0..n).map(|i| ((i * 104_729) % 997) as f64).collect();
            if n > 1 {
                ys[0] = f64::NAN;
            }
            let (order, coords) = spatial_order(&xs, &ys);
            assert!(
                order
                    .iter()
                    .zip(&coords)
                    .all(|(&i, c)| c[0].to_bits() == xs[i as usize].to_bits() && c[1].to_bits() == ys[i as usize].to_bits())
            );
            let mut seen = order.clone();
            seen.sort_unstable();
            assert!(seen.iter().enumerate().all(|(k, &i)| k == i as usize), "n = {n}: not a permutation");
            if n > 1 {
                assert_eq!(order[n - 1], 0, "a non-finite point goes last");
            }
            if n >= 1000 {
                // Consecutive points in the order are close: far closer than in file order.
                let step = |a: usize, b: usize| (xs[a] - xs[b]).abs() + (ys[a] - ys[b]).abs();
                let sorted: f64 = order[..n - 1].windows(2).map(|w| step(w[0] as usize, w[1] as usize)).sum();
                let file: f64 = (1..n - 1).map(|i| step(i, i + 1)).sum();
                assert!(sorted * 3.0 < file, "n = {n}: {sorted} vs {file}");
            }
        }
    }

    /// A 4×4 grid of unit squares; points on a lattice that hits every edge and corner.
    #[test]
    fn every_point_in_a_coverage_is_counted_exactly_once() {
        let mut areas = Vec::new();
        for i in 0..4 {
            for j in 0..4 {
                let (x0, y0) = (i as f64, j as f64);
                areas.push(MultiPolygon(vec![Polygon::new(
                    LineString::from(vec![(x0, y0), (x0 + 1.0, y0), (x0 + 1.0, y0 + 1.0), (x0, y0 + 1.0), (x0, y0)]),
                    vec![],
                )]));
            }
        }
        let idx = AreaIndex::build(&areas);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..=16 {
            for j in 0..=16 {
                xs.push(i as f64 * 0.25);
                ys.push(j as f64 * 0.25);
            }
        }
        let assigned = locate_all(&idx, &xs, &ys);
        // Interior lattice points (0 < x,y < 4) all land; brute force says each is in one.
        for k in 0..xs.len() {
            let (x, y) = (xs[k], ys[k]);
            if x > 0.0 && x < 4.0 && y > 0.0 && y < 4.0 {
                assert_ne!(assigned[k], NONE, "({x}, {y}) lost");
            }
        }
        let (counts, _) = count_per_area(&assigned, None, areas.len());
        let joined = assigned.iter().filter(|&&a| a != NONE).count() as u64;
        assert_eq!(counts.iter().sum::<u64>(), joined);
    }
}
