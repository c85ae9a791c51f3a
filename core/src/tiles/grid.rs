//! Tile maths for WebMercatorQuad (EPSG:3857, y from the top), and "world pixel"
//! integer coordinates: at zoom z the world is `EXTENT · 2^z` units wide, so a tile's
//! local coordinates are world coordinates minus `EXTENT · (x, y)`. Snapping to world
//! units is the same for every tile, which is what keeps neighbouring areas gap-free.

/// Tile extent in MVT units.
pub const EXTENT: i64 = 4096;
/// Clip buffer around a tile, in MVT units (64 = 1/64 of the tile).
pub const BUFFER: i64 = 64;
/// Highest zoom with its own data; beyond it clients overzoom.
pub const MAX_ZOOM: u8 = 16;
/// Half the width of the Web Mercator world in metres.
pub const HALF: f64 = 20_037_508.342_789_244;

/// True when (z, x, y) is a tile of the pyramid up to [`MAX_ZOOM`].
pub fn valid(z: u8, x: u32, y: u32) -> bool {
    z <= MAX_ZOOM && (x as u64) < (1u64 << z) && (y as u64) < (1u64 << z)
}

/// World units per metre at zoom z.
pub fn scale(z: u8) -> f64 {
    (EXTENT as f64) * f64::from(1u32 << z) / (2.0 * HALF)
}

/// EPSG:3857 metres → world units at zoom z (y down).
#[inline]
pub fn to_world(z: u8, x: f64, y: f64) -> (f64, f64) {
    let s = scale(z);
    ((x + HALF) * s, (HALF - y) * s)
}

/// The tile's bounds in EPSG:3857 metres: (min x, min y, max x, max y).
pub fn tile_bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let size = 2.0 * HALF / f64::from(1u32 << z);
    let min_x = -HALF + f64::from(x) * size;
    let max_y = HALF - f64::from(y) * size;
    [min_x, max_y - size, min_x + size, max_y]
}

/// The tile's bounds widened by the buffer.
pub fn buffered_bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let b = tile_bounds(z, x, y);
    let pad = (b[2] - b[0]) * BUFFER as f64 / EXTENT as f64;
    [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_bounds_and_world_units_agree() {
        let b = tile_bounds(1, 1, 0);
        assert!((b[0] - 0.0).abs() < 1e-6 && (b[3] - HALF).abs() < 1e-6);
        let (wx, wy) = to_world(1, b[0], b[3]);
        assert!((wx - 4096.0).abs() < 1e-6 && wy.abs() < 1e-6);
        assert!(valid(16, 65535, 0) && !valid(17, 0, 0) && !valid(2, 4, 0));
    }
}
