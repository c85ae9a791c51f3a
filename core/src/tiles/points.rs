//! Point layers as tiles. Points are sorted once along a Morton (Z-order) curve of their
//! world coordinates at zoom 16, so every tile, and every cell inside a tile, is one
//! contiguous run of the sorted array: a tile is two binary searches and a scan.
//!
//! Individual points are served only for public layers and only from
//! [`POINTS_MIN_ZOOM`]; otherwise points are aggregated into grid cells (1/64 of a tile,
//! never smaller than a zoom-18 tile for aggregate-only layers). Each point falls in
//! exactly one tile and one cell, so the counts of a zoom's tiles add up to the total.

use super::grid::{self, EXTENT};
use super::mvt::{LayerBuilder, Prop};

/// The zoom whose tiles are at least `min_cell_m` metres on the ground at latitude `lat`:
/// the finest cell (and tile) zoom of a protected layer.
pub fn zoom_for_cell(min_cell_m: f64, lat: f64) -> u8 {
    let ground = 40_075_016.686 * lat.to_radians().cos().abs().max(0.01);
    let z = (ground / min_cell_m.max(1.0)).log2().floor();
    z.clamp(0.0, f64::from(grid::MAX_ZOOM)) as u8
}

/// From this zoom on, public layers show individual points.
pub const POINTS_MIN_ZOOM: u8 = 14;
/// Bits per axis of world coordinates at zoom 16 (4096 · 2^16 = 2^28).
const BITS: u32 = 28;
/// Cells per tile side for aggregates: 2^6 = 64.
const CELL_BITS: u32 = 6;
/// Aggregate-only layers: cells never smaller than a tile at this zoom.
const AGGREGATE_FINEST_CELL_ZOOM: u32 = 18;

fn spread(v: u32) -> u64 {
    let mut x = u64::from(v) & 0x0fff_ffff;
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

fn morton(x: u32, y: u32) -> u64 {
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`spread`]: the even bits of `v`, packed.
fn compact(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    x = (x | (x >> 16)) & 0x0000_0000_ffff_ffff;
    x as u32
}

/// World coordinates at zoom 16 of a Morton key.
fn world(key: u64) -> [u32; 2] {
    [compact(key), compact(key >> 1)]
}

/// One point layer, ready for tiles.
pub struct PointTiles {
    /// Protected layers: the cell-key table and the record keys in key order; cell counts
    /// are perturbed like every other published count of the layer (and zero cells left out).
    ckm: Option<(crate::indicators::ckm::PTable, Vec<u64>)>,
    /// Morton keys of the world coordinates at zoom 16, sorted (the coordinates
    /// themselves are the key's bits: [`world`]).
    keys: Vec<u64>,
    /// The point's index in its layer, in key order (ascending among equal keys).
    index: Vec<u32>,
    pub public: bool,
    /// The finest cell zoom (cells never smaller than a tile at this zoom).
    finest_cell_zoom: u32,
}

impl PointTiles {
    /// From WGS84 longitude/latitude, to Web Mercator through `table`.
    ///
    /// The sort: a counting sort on the top bits of the keys that differ (about 8 points
    /// per bucket, on all cores), then each bucket sorted on its own; no comparison sort of
    /// the whole layer.
    pub fn new(lonlat: &[[f64; 2]], table: &crate::crs::MercatorTable, public: bool) -> PointTiles {
        use rayon::prelude::*;
        let max = (1u64 << BITS) as f64 - 1.0;
        let keys: Vec<u64> = lonlat
            .par_iter()
            .map(|c| {
                let (mx, my) = table.apply(c[0], c[1]);
                let (wx, wy) = grid::to_world(grid::MAX_ZOOM, mx, my);
                // Clamped first, so truncation is the floor (NaN: 0, as before).
                morton(wx.clamp(0.0, max) as u32, wy.clamp(0.0, max) as u32)
            })
            .collect();
        let (index, keys) = sort_keys(&keys);
        PointTiles { ckm: None, keys, index, public, finest_cell_zoom: if public { BITS } else { AGGREGATE_FINEST_CELL_ZOOM } }
    }

    /// Protect the cell counts with the cell-key method: `record_keys` in the layer's
    /// order; cells never finer than a tile at `finest_cell_zoom`.
    pub fn with_cell_keys(mut self, table: crate::indicators::ckm::PTable, record_keys: &[u64], finest_cell_zoom: u8) -> PointTiles {
        let sorted = self.index.iter().map(|&i| record_keys[i as usize]).collect();
        self.ckm = Some((table, sorted));
        self.finest_cell_zoom = self.finest_cell_zoom.min(u32::from(finest_cell_zoom));
        self
    }

    /// The run of sorted points inside tile (z, x, y).
    fn range(&self, z: u8, x: u32, y: u32) -> std::ops::Range<usize> {
        let shift = 2 * (BITS - u32::from(z));
        let start = morton(x, y) << shift;
        let end = (morton(x, y) + 1) << shift;
        let lo = self.keys.partition_point(|&k| k < start);
        let hi = self.keys.partition_point(|&k| k < end);
        lo..hi
    }

    /// Encode the tile; `props(i)` gives the properties of point `i` of the layer.
    pub fn render(&self, name: &str, z: u8, x: u32, y: u32, props: &dyn Fn(u32) -> Vec<(&'static str, Prop)>) -> LayerBuilder {
        let mut layer = LayerBuilder::new(name);
        let range = self.range(z, x, y);
        if range.is_empty() {
            return layer;
        }
        let down = u32::from(grid::MAX_ZOOM - z);
        let (ox, oy) = (i64::from(x) * EXTENT, i64::from(y) * EXTENT);
        let local = |w: [u32; 2]| [i64::from(w[0] >> down) - ox, i64::from(w[1] >> down) - oy];
        if self.public && z >= POINTS_MIN_ZOOM {
            for k in range {
                layer.points(u64::from(self.index[k]), &props(self.index[k]), &[local(world(self.keys[k]))]);
            }
            return layer;
        }
        let cell_zoom = (u32::from(z) + CELL_BITS).min(self.finest_cell_zoom);
        let cell_shift = 2 * (BITS - cell_zoom.min(BITS));
        let mut k = range.start;
        while k < range.end {
            let cell = self.keys[k] >> cell_shift;
            let mut end = k;
            let (mut sx, mut sy) = (0f64, 0f64);
            while end < range.end && self.keys[end] >> cell_shift == cell {
                let p = local(world(self.keys[end]));
                sx += p[0] as f64;
                sy += p[1] as f64;
                end += 1;
            }
            let n = (end - k) as f64;
            let at = if self.public {
                // Public points may be seen one by one anyway: the cell's mean position.
                [(sx / n).round() as i64, (sy / n).round() as i64]
            } else {
                // Aggregate-only: the cell's fixed centre, never a position derived from
                // the records (a cell with one point would sit on it).
                let s = BITS - cell_zoom.min(BITS);
                let w = world(self.keys[k]);
                let centre = |v: u32| ((v >> s) << s) + ((1u32 << s) >> 1);
                local([centre(w[0]), centre(w[1])])
            };
            let at = [at[0].clamp(0, EXTENT - 1), at[1].clamp(0, EXTENT - 1)];
            let count = (end - k) as f64;
            if let Some((table, keys)) = &self.ckm {
                // The cell key of exactly these records: the same value as any area or
                // cell at another zoom holding the same records.
                let ck = keys[k..end].iter().fold(0u64, |a, &x| a.wrapping_add(x));
                let shown = table.perturb(end as u64 - k as u64, ck);
                if shown > 0 {
                    layer.points(cell, &[("count", Prop::Int(shown as i64))], &[at]);
                }
            } else {
                layer.points(cell, &[("count", Prop::Int(count as i64))], &[at]);
            }
            k = end;
        }
        layer
    }
}

/// `keys` sorted, ties in index order, and the index of each: see [`PointTiles::new`].
fn sort_keys(keys: &[u64]) -> (Vec<u32>, Vec<u64>) {
    use rayon::prelude::*;
    let (lo, hi) = keys
        .par_iter()
        .fold(|| (u64::MAX, 0), |(a, b), &k| (a.min(k), b.max(k)))
        .reduce(|| (u64::MAX, 0), |x, y| (x.0.min(y.0), x.1.max(y.1)));
    // The bits below the prefix all keys share; buckets on the top ones of those.
    let varying = if keys.is_empty() { 0 } else { u64::BITS - (lo ^ hi).leading_zeros() };
    let bucket_bits = (usize::BITS - (keys.len() / 8).leading_zeros()).clamp(1, 20).min(varying);
    let shift = varying - bucket_bits;
    let mask = (1u64 << bucket_bits) - 1;
    let cells: Vec<u32> = keys.par_iter().map(|&k| ((k >> shift) & mask) as u32).collect();
    let (mut index, mut sorted, start) = crate::sort::counting_sort(&cells, 1 << bucket_bits, |i| keys[i]);
    drop(cells);
    // Each bucket on its own, on all cores: groups of buckets of about 64k points, split
    // off the output safely.
    let mut groups: Vec<(&mut [u32], &mut [u64])> = Vec::new();
    let (mut irest, mut krest): (&mut [u32], &mut [u64]) = (&mut index, &mut sorted);
    let mut b = 0;
    while b + 1 < start.len() {
        let mut e = b + 1;
        while e + 1 < start.len() && start[e] - start[b] < 1 << 16 {
            e += 1;
        }
        let len = (start[e] - start[b]) as usize;
        let (i, ir) = irest.split_at_mut(len);
        let (k, kr) = krest.split_at_mut(len);
        irest = ir;
        krest = kr;
        groups.push((i, k));
        b = e;
    }
    groups.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(pairs, packed): &mut (Vec<(u64, u32)>, Vec<u64>), (index, keys)| {
            // Runs of one bucket are contiguous; a bucket is sorted when its keys are.
            let mut s = 0;
            while s < keys.len() {
                let bucket = (keys[s] >> shift) & mask;
                let mut e = s + 1;
                while e < keys.len() && (keys[e] >> shift) & mask == bucket {
                    e += 1;
                }
                if e - s > 1 && keys[s..e].windows(2).any(|w| w[0] > w[1]) {
                    if shift <= 32 {
                        // The key bits below the bucket's and the index fit in one word: one
                        // integer sort (half the bytes of pairs, one comparison).
                        let low = (1u64 << shift) - 1;
                        let high = keys[s] & !low;
                        packed.clear();
                        packed.extend(keys[s..e].iter().zip(&index[s..e]).map(|(&k, &i)| ((k & low) << 32) | u64::from(i)));
                        packed.sort_unstable();
                        for (o, &p) in packed.iter().enumerate() {
                            keys[s + o] = high | (p >> 32);
                            index[s + o] = p as u32;
                        }
                    } else {
                        pairs.clear();
                        pairs.extend(keys[s..e].iter().copied().zip(index[s..e].iter().copied()));
                        pairs.sort_unstable();
                        for (o, (k, i)) in pairs.iter().enumerate() {
                            keys[s + o] = *k;
                            index[s + o] = *i;
                        }
                    }
                }
                s = e;
            }
        },
    );
    (index, sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ranges_partition_the_points() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let pts: Vec<[f64; 2]> = (0..5000)
            .map(|_| {
                let (lon, lat) = crate::crs::web_mercator_to_lonlat(600_000.0 + rnd() * 50_000.0, 6_600_000.0 + rnd() * 50_000.0);
                [lon, lat]
            })
            .collect();
        let t = PointTiles::new(&pts, &crate::crs::MercatorTable::new(50.0, 56.0), false);
        for z in [8u8, 11, 14] {
            let (x0, y0, x1, y1) = {
                let (a, b) = grid::to_world(z, 600_000.0, 6_650_000.0);
                let (c, d) = grid::to_world(z, 650_000.0, 6_600_000.0);
                ((a / 4096.0) as u32, (b / 4096.0) as u32, (c / 4096.0) as u32, (d / 4096.0) as u32)
            };
            let mut total = 0;
            for x in x0..=x1 {
                for y in y0..=y1 {
                    total += t.range(z, x, y).len();
                }
            }
            assert_eq!(total, pts.len(), "zoom {z}");
        }
    }

    #[test]
    fn the_bucket_sort_equals_a_comparison_sort() {
        let mut seed = 11u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            seed >> 20
        };
        // Clustered keys with many ties, as points on addresses are.
        // Clustered keys (a few low bits vary: one word per point in a bucket) and keys
        // over the whole Morton range (key and index sorted as pairs).
        let cases = [0usize, 1, 2, 1000, 300_000].into_iter().flat_map(|n| [(n, false), (n, true)]);
        for (n, wide) in cases {
            let keys: Vec<u64> =
                (0..n).map(|_| if wide { rnd() % (1 << 56) } else { (1u64 << 40) + (rnd() % 5000) * (rnd() % 7) + (rnd() % 3) }).collect();
            let (index, sorted) = sort_keys(&keys);
            let mut expected: Vec<(u64, u32)> = keys.iter().enumerate().map(|(i, &k)| (k, i as u32)).collect();
            expected.sort_unstable();
            assert_eq!(sorted, expected.iter().map(|p| p.0).collect::<Vec<_>>(), "{n} keys");
            assert_eq!(index, expected.iter().map(|p| p.1).collect::<Vec<_>>(), "{n} indices");
        }
    }

    #[test]
    fn world_coordinates_come_back_from_the_key() {
        for (x, y) in [(0u32, 0u32), (1, 2), ((1 << 28) - 1, 12_345_678), (123_456, (1 << 28) - 1)] {
            assert_eq!(world(morton(x, y)), [x, y]);
        }
    }
}
