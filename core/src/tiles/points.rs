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

/// One point layer, ready for tiles.
pub struct PointTiles {
    /// Protected layers: the cell-key table and the record keys in key order; cell counts
    /// are perturbed like every other published count of the layer (and zero cells left out).
    ckm: Option<(crate::indicators::ckm::PTable, Vec<u64>)>,
    keys: Vec<u64>,
    /// World coordinates at zoom 16, in key order.
    world: Vec<[u32; 2]>,
    /// The point's index in its layer, in key order.
    index: Vec<u32>,
    pub public: bool,
    /// The finest cell zoom (cells never smaller than a tile at this zoom).
    finest_cell_zoom: u32,
}

impl PointTiles {
    /// From EPSG:3857 coordinates.
    pub fn new(mercator: &[[f64; 2]], public: bool) -> PointTiles {
        let max = (1u64 << BITS) as f64 - 1.0;
        use rayon::prelude::*;
        let mut items: Vec<(u64, [u32; 2], u32)> = mercator
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                let (wx, wy) = grid::to_world(grid::MAX_ZOOM, p[0], p[1]);
                let (wx, wy) = (wx.floor().clamp(0.0, max) as u32, wy.floor().clamp(0.0, max) as u32);
                (morton(wx, wy), [wx, wy], i as u32)
            })
            .collect();
        items.par_sort_unstable_by_key(|t| (t.0, t.2));
        PointTiles {
            ckm: None,
            keys: items.par_iter().map(|t| t.0).collect(),
            world: items.par_iter().map(|t| t.1).collect(),
            index: items.par_iter().map(|t| t.2).collect(),
            public,
            finest_cell_zoom: if public { BITS } else { AGGREGATE_FINEST_CELL_ZOOM },
        }
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
                layer.points(u64::from(self.index[k]), &props(self.index[k]), &[local(self.world[k])]);
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
                let p = local(self.world[end]);
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
                let w = self.world[k];
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
        let pts: Vec<[f64; 2]> = (0..5000).map(|_| [600_000.0 + rnd() * 50_000.0, 6_600_000.0 + rnd() * 50_000.0]).collect();
        let t = PointTiles::new(&pts, false);
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
}
