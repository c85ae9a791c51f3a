//! Low zooms: the snapped rings of a whole level simplified (Douglas–Peucker, one world
//! unit, as tippecanoe does by default) so that neighbours stay seamless.
//!
//! A border two areas share is one run of identical snapped vertices in both rings (the
//! same vertices, in opposite directions). The rings are cut into *chains* where the set
//! of areas owning the edges changes (junctions of three areas, where a border meets the
//! outline, where a ring touches itself), and every chain is simplified in one canonical
//! direction with its ends kept: both neighbours keep exactly the same vertices of their
//! border, so no gap or sliver can open between them. Only exactly repeated points are
//! dropped before (the collinear-point cleaning runs after, per ring, as before).

use rayon::prelude::*;

/// A ring's vertices in world units, closed (first = last), repeats removed.
pub type Ring = Vec<[i64; 2]>;

/// Simplify every ring of every area (`areas[a]` = its rings) with `tolerance` world
/// units, keeping shared borders identical in both areas.
pub fn level(areas: &mut [Vec<Ring>], tolerance: f64) {
    // Where each ring's edges start in one flat numbering of all edges.
    let mut first_ring = Vec::with_capacity(areas.len());
    let mut offsets = Vec::new();
    let mut total = 0usize;
    for rings in areas.iter() {
        first_ring.push(offsets.len());
        for r in rings {
            offsets.push(total);
            total += r.len().saturating_sub(1);
        }
    }
    // Every edge, undirected, with its area and its number: sorted, equal edges side by
    // side; each edge then gets a signature of the set of areas that own it.
    let mut edges: Vec<(u128, u32, u32)> = areas
        .par_iter()
        .enumerate()
        .flat_map_iter(|(a, rings)| {
            let offsets = &offsets[first_ring[a]..];
            rings
                .iter()
                .zip(offsets)
                .flat_map(move |(r, &o)| r.windows(2).enumerate().map(move |(i, w)| (edge_key(w[0], w[1]), a as u32, (o + i) as u32)))
        })
        .collect();
    edges.par_sort_unstable_by_key(|e| e.0);
    let mut owners = vec![0u64; total];
    let mut ids: Vec<u32> = Vec::new();
    for group in edges.chunk_by(|x, y| x.0 == y.0) {
        ids.clear();
        ids.extend(group.iter().map(|e| e.1));
        ids.sort_unstable();
        ids.dedup();
        let signature = ids.iter().fold(ids.len() as u64, |h, &id| (h ^ u64::from(id)).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29));
        for e in group {
            owners[e.2 as usize] = signature;
        }
    }
    drop(edges);
    areas.par_iter_mut().enumerate().for_each(|(a, rings)| {
        for (k, ring) in rings.iter_mut().enumerate() {
            let o = offsets[first_ring[a] + k];
            let n = ring.len().saturating_sub(1);
            *ring = simplify_ring(ring, &owners[o..o + n], tolerance);
        }
    });
}

/// An undirected edge as one number (world units at zoom ≤ 16 fit in 32 bits).
fn edge_key(p: [i64; 2], q: [i64; 2]) -> u128 {
    let pack = |v: [i64; 2]| (u128::from(v[0] as u32) << 32) | u128::from(v[1] as u32);
    let (a, b) = if p <= q { (p, q) } else { (q, p) };
    (pack(a) << 64) | pack(b)
}

/// One ring (`owners[i]`: the signature of the areas owning edge i, from vertex i to
/// i + 1): cut at the vertices where the owners of the edge before and after differ,
/// each piece simplified in its canonical direction.
fn simplify_ring(ring: &Ring, owners: &[u64], tolerance: f64) -> Ring {
    let n = ring.len().saturating_sub(1); // distinct positions of the closed ring
    if n < 4 {
        return ring.clone();
    }
    let cuts: Vec<usize> = (0..n).filter(|&i| owners[(i + n - 1) % n] != owners[i]).collect();
    let mut keep = vec![false; n];
    if cuts.is_empty() {
        // One closed chain (an island, an enclave and the hole around it): start at its
        // smallest vertex, go towards the smaller of that vertex's two neighbours.
        let s = (0..n).min_by_key(|&i| ring[i]).unwrap_or(0);
        let forward = ring[(s + 1) % n] <= ring[(s + n - 1) % n];
        let order: Vec<usize> = (0..=n).map(|k| if forward { (s + k) % n } else { (s + n - k % n) % n }).collect();
        mark(ring, &order, tolerance, &mut keep);
    } else {
        for (c, &start) in cuts.iter().enumerate() {
            let end = cuts[(c + 1) % cuts.len()];
            let len = (end + n - start) % n;
            let len = if len == 0 { n } else { len };
            let mut order: Vec<usize> = (0..=len).map(|k| (start + k) % n).collect();
            // Canonical direction: from the smaller end (a chain from a vertex to itself
            // goes towards the smaller neighbour).
            let (a, b) = (ring[order[0]], ring[order[len]]);
            if b < a || (a == b && ring[order[len - 1]] < ring[order[1]]) {
                order.reverse();
            }
            mark(ring, &order, tolerance, &mut keep);
        }
    }
    // A ring simplified to fewer than three vertices stays so (the cleaning drops it): its
    // neighbours' borders with it were simplified to the same line, so they meet there.
    // (Keeping it unsimplified would leave it overlapping them.)
    let mut out: Ring = (0..n).filter(|&i| keep[i]).map(|i| ring[i]).collect();
    out.push(out[0]);
    out
}

/// Douglas–Peucker over `ring[order[..]]`: its ends and every vertex farther than
/// `tolerance` from the simplified line are marked kept (ties: the first in `order`).
fn mark(ring: &Ring, order: &[usize], tolerance: f64, keep: &mut [bool]) {
    let last = order.len() - 1;
    keep[order[0]] = true;
    keep[order[last]] = true;
    let mut stack = vec![(0usize, last)];
    while let Some((i, j)) = stack.pop() {
        if j <= i + 1 {
            continue;
        }
        let (a, b) = (ring[order[i]], ring[order[j]]);
        let mut best = (0.0f64, 0usize);
        for k in i + 1..j {
            let d = distance(ring[order[k]], a, b);
            if d > best.0 {
                best = (d, k);
            }
        }
        if best.0 > tolerance {
            keep[order[best.1]] = true;
            stack.push((i, best.1));
            stack.push((best.1, j));
        }
    }
}

/// Distance from p to the segment a–b (to a when a = b).
fn distance(p: [i64; 2], a: [i64; 2], b: [i64; 2]) -> f64 {
    let (px, py) = ((p[0] - a[0]) as f64, (p[1] - a[1]) as f64);
    let (bx, by) = ((b[0] - a[0]) as f64, (b[1] - a[1]) as f64);
    let len2 = bx * bx + by * by;
    if len2 == 0.0 {
        return px.hypot(py);
    }
    let t = ((px * bx + py * by) / len2).clamp(0.0, 1.0);
    (px - t * bx).hypot(py - t * by)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 × 4 coverage of squares whose shared sides are one zigzag polyline each (used
    /// by both neighbours, reversed in one), as real borders are.
    fn coverage() -> Vec<Vec<Ring>> {
        let side = 64i64;
        // The border between lattice points p and q: a zigzag of ±1..3 units, a function
        // of the undirected pair, so both neighbours have the same vertices.
        let border = |p: [i64; 2], q: [i64; 2]| -> Vec<[i64; 2]> {
            let (a, b) = if p <= q { (p, q) } else { (q, p) };
            let mut v: Vec<[i64; 2]> = (0..=16)
                .map(|k| {
                    let t = k * side / 16;
                    let wiggle = if k == 0 || k == 16 { 0 } else { ((a[0] * 7 + a[1] * 13 + k * 5) % 7) - 3 };
                    if a[1] == b[1] { [a[0] + t, a[1] + wiggle] } else { [a[0] + wiggle, a[1] + t] }
                })
                .collect();
            if p > q {
                v.reverse();
            }
            v
        };
        let mut areas = Vec::new();
        for i in 0..4 {
            for j in 0..4 {
                let (x0, y0) = (i * side, j * side);
                let corners = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]];
                let mut ring: Ring = vec![corners[0]];
                for w in corners.windows(2) {
                    ring.extend(border(w[0], w[1]).into_iter().skip(1));
                }
                areas.push(vec![ring]);
            }
        }
        areas
    }

    fn edge_set(areas: &[Vec<Ring>]) -> std::collections::HashMap<u128, usize> {
        let mut m = std::collections::HashMap::new();
        for rings in areas {
            for r in rings {
                for w in r.windows(2) {
                    *m.entry(edge_key(w[0], w[1])).or_insert(0) += 1;
                }
            }
        }
        m
    }

    #[test]
    fn shared_borders_stay_shared_and_get_fewer_vertices() {
        let before = coverage();
        let mut after = before.clone();
        level(&mut after, 4.0);
        let count = |a: &[Vec<Ring>]| a.iter().flatten().map(|r| r.len()).sum::<usize>();
        assert!(count(&after) * 2 < count(&before), "{} -> {} vertices", count(&before), count(&after));
        // Every edge inside the coverage is used by exactly two areas, as before: no gap,
        // no sliver. The outline's edges by one.
        let (eb, ea) = (edge_set(&before), edge_set(&after));
        let outline = |m: &std::collections::HashMap<u128, usize>| m.values().filter(|&&c| c == 1).count();
        assert!(ea.values().all(|&c| c == 1 || c == 2));
        assert!(outline(&ea) < outline(&eb) && outline(&ea) > 0);
        let inner_vertices = |m: &std::collections::HashMap<u128, usize>| m.values().filter(|&&c| c == 2).count();
        assert!(inner_vertices(&ea) > 0);
        // The corners where borders meet are kept in every square.
        for (k, rings) in after.iter().enumerate() {
            let (x0, y0) = ((k as i64 / 4) * 64, (k as i64 % 4) * 64);
            for c in [[x0, y0], [x0 + 64, y0], [x0 + 64, y0 + 64], [x0, y0 + 64]] {
                assert!(rings[0].contains(&c), "square {k} lost its corner {c:?}");
            }
        }
    }

    #[test]
    fn an_island_and_the_hole_around_it_match() {
        // An enclave: a circle-ish ring, and the same vertices as the hole of its
        // surrounding area, in the other direction.
        let pts: Vec<[i64; 2]> = (0..40)
            .map(|k| {
                let a = k as f64 / 40.0 * std::f64::consts::TAU;
                let r = 100.0 + ((k * 7) % 5) as f64;
                [(1000.0 + r * a.cos()).round() as i64, (1000.0 + r * a.sin()).round() as i64]
            })
            .collect();
        let mut enclave = pts.clone();
        enclave.push(enclave[0]);
        let mut hole: Ring = pts.iter().rev().copied().collect();
        hole.push(hole[0]);
        let outer: Ring = vec![[0, 0], [2000, 0], [2000, 2000], [0, 2000], [0, 0]];
        let mut areas = vec![vec![enclave], vec![outer, hole]];
        level(&mut areas, 3.0);
        let mut a: Vec<[i64; 2]> = areas[0][0].clone();
        let mut b: Vec<[i64; 2]> = areas[1][1].clone();
        assert!(a.len() < 41, "simplified: {}", a.len());
        // The same vertices (each ring closed at its own start).
        for r in [&mut a, &mut b] {
            r.pop();
            r.sort();
        }
        assert_eq!(a, b, "the enclave and the hole keep the same vertices");
    }
}
