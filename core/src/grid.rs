//! The European statistical grid (INSPIRE, EPSG:3035 ETRS89-LAEA): cells by arithmetic.
//!
//! A cell is named by its size and its lower-left corner in EPSG:3035 metres, as INSPIRE
//! writes it: `CRS3035RES1000mN3112000E4036000`. CBS and Destatis publish the same cells
//! under other spellings, all read as the same cell by [`Cell::parse`]:
//!
//! | spelling | who |
//! |---|---|
//! | `CRS3035RES1000mN3112000E4036000` | INSPIRE, Zensus 2022 (`GITTER_ID_1km`) |
//! | `NL_CRS3035RES1000mN…`, `DE_…` | country-prefixed (Eurostat GEOSTAT) |
//! | `1kmN3112E4036`, `100mN31120E40360` | Destatis Zensus 2011 (`Gitter_ID_1km`), in units of the cell size |
//! | `E4036N3112` + size | CBS vierkantstatistieken (`c28992r1000` excepted: that is RD) |
//!
//! A point's cell is `floor(x / size)`, `floor(y / size)` in EPSG:3035; cells of
//! 100 m, 1 km and 10 km nest, so a cell's parent is found by the same arithmetic.

use std::fmt;

/// The CRS of the grid.
pub const GRID_CRS: &str = "EPSG:3035";

/// One cell of the grid: its size in metres and its lower-left corner in EPSG:3035.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    pub size: u32,
    /// Easting of the lower-left corner (metres, a multiple of `size`).
    pub east: i64,
    /// Northing of the lower-left corner (metres, a multiple of `size`).
    pub north: i64,
}

impl Cell {
    /// The cell of size `size` holding the EPSG:3035 point (`x`, `y`); a point on a cell
    /// edge belongs to the cell east / north of it (floor), so every point has one cell.
    pub fn containing(size: u32, x: f64, y: f64) -> Option<Cell> {
        if size == 0 || !x.is_finite() || !y.is_finite() {
            return None;
        }
        let s = f64::from(size);
        let (i, j) = ((x / s).floor(), (y / s).floor());
        // Far outside the grid's valid range (±10,000 km) is no cell.
        if i.abs() > 1e8 || j.abs() > 1e8 {
            return None;
        }
        Some(Cell { size, east: i as i64 * i64::from(size), north: j as i64 * i64::from(size) })
    }

    /// The cell whose centre is (`x_mp`, `y_mp`), as Destatis' `x_mp_1km`/`y_mp_1km`
    /// columns give it; `None` when the point is not a centre of a cell of that size.
    pub fn from_centre(size: u32, x_mp: f64, y_mp: f64) -> Option<Cell> {
        let cell = Cell::containing(size, x_mp, y_mp)?;
        let (cx, cy) = cell.centre();
        ((cx - x_mp).abs() <= 0.5 && (cy - y_mp).abs() <= 0.5).then_some(cell)
    }

    /// The centre of the cell.
    pub fn centre(&self) -> (f64, f64) {
        let half = f64::from(self.size) / 2.0;
        (self.east as f64 + half, self.north as f64 + half)
    }

    /// The cell's corners: min x, min y, max x, max y.
    pub fn bounds(&self) -> [f64; 4] {
        let s = f64::from(self.size);
        [self.east as f64, self.north as f64, self.east as f64 + s, self.north as f64 + s]
    }

    /// The cell of size `size` (a multiple of this cell's size) that holds this cell.
    pub fn parent(&self, size: u32) -> Option<Cell> {
        if size < self.size || size % self.size != 0 {
            return None;
        }
        let s = i64::from(size);
        Some(Cell { size, east: self.east.div_euclid(s) * s, north: self.north.div_euclid(s) * s })
    }

    /// The INSPIRE code, `CRS3035RES1000mN3112000E4036000`.
    pub fn code(&self) -> String {
        self.to_string()
    }

    /// Read any of the spellings in the module documentation. `None` when `text` is not a
    /// grid cell code, or names a corner that is not on the grid of its size.
    pub fn parse(text: &str) -> Option<Cell> {
        let t = text.trim();
        // Country prefix: two letters and an underscore (`NL_`, `DE_`).
        let t = match t.as_bytes() {
            [a, b, b'_', ..] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => &t[3..],
            _ => t,
        };
        if let Some(rest) = t.strip_prefix("CRS3035RES").or_else(|| t.strip_prefix("CRS3035Res")) {
            let (size, rest) = split_size(rest)?;
            let (north, east) = north_east(rest)?;
            return Cell::checked(size, east, north);
        }
        // Destatis 2011: `1kmN3112E4036`, `100mN31120E40360`: corners in units of the size.
        let (size, rest) = split_size(t)?;
        let (north, east) = north_east(rest)?;
        let s = i64::from(size);
        Cell::checked(size, east.checked_mul(s)?, north.checked_mul(s)?)
    }

    fn checked(size: u32, east: i64, north: i64) -> Option<Cell> {
        let s = i64::from(size);
        (size > 0 && east % s == 0 && north % s == 0).then_some(Cell { size, east, north })
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CRS3035RES{}mN{}E{}", self.size, self.north, self.east)
    }
}

/// `1000m…` → (1000, rest), `1km…` → (1000, rest), `10km…`, `100m…`.
fn split_size(text: &str) -> Option<(u32, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let n: u32 = text[..digits].parse().ok()?;
    let rest = &text[digits..];
    if let Some(r) = rest.strip_prefix("km") { Some((n.checked_mul(1000)?, r)) } else { rest.strip_prefix('m').map(|r| (n, r)) }
}

/// `N3112000E4036000` → (3112000, 4036000).
fn north_east(text: &str) -> Option<(i64, i64)> {
    let rest = text.strip_prefix('N')?;
    let (n, e) = rest.split_once('E')?;
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (ok(n) && ok(e)).then(|| Some((n.parse().ok()?, e.parse().ok()?))).flatten()
}

/// The canonical INSPIRE code of a cell code in any spelling, or `None`.
pub fn canonical_code(text: &str) -> Option<String> {
    Cell::parse(text).map(|c| c.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_name_the_same_cell() {
        let c = Cell { size: 1000, east: 4_036_000, north: 3_112_000 };
        for s in [
            "CRS3035RES1000mN3112000E4036000",
            "NL_CRS3035RES1000mN3112000E4036000",
            "DE_CRS3035RES1000mN3112000E4036000",
            "1kmN3112E4036",
            " CRS3035RES1000mN3112000E4036000 ",
        ] {
            assert_eq!(Cell::parse(s), Some(c), "{s}");
        }
        assert_eq!(c.code(), "CRS3035RES1000mN3112000E4036000");
        assert_eq!(Cell::parse("100mN31120E40360"), Some(Cell { size: 100, east: 4_036_000, north: 3_112_000 }));
        assert_eq!(Cell::parse("10kmN311E403"), Some(Cell { size: 10_000, east: 4_030_000, north: 3_110_000 }));
        for bad in ["", "GM0917", "CRS3035RES1000mN3112500E4036000", "CRS3035RES1000mN3112000", "1kmN31x2E4036", "CRS3035RES0mN0E0"] {
            assert_eq!(Cell::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn points_centres_and_parents() {
        let c = Cell::containing(1000, 4_036_999.9, 3_112_000.0).unwrap();
        assert_eq!((c.east, c.north), (4_036_000, 3_112_000));
        assert_eq!(Cell::containing(100, -0.5, 0.0).unwrap().east, -100);
        assert_eq!(Cell::from_centre(1000, 4_049_500.0, 3_066_500.0), Some(Cell { size: 1000, east: 4_049_000, north: 3_066_000 }));
        assert_eq!(Cell::from_centre(1000, 4_049_000.0, 3_066_500.0), None);
        let small = Cell { size: 100, east: 4_036_900, north: 3_112_100 };
        assert_eq!(small.parent(1000), Some(Cell { size: 1000, east: 4_036_000, north: 3_112_000 }));
        assert_eq!(small.parent(10_000), Some(Cell { size: 10_000, east: 4_030_000, north: 3_110_000 }));
        assert_eq!(small.parent(250), None);
        assert_eq!(Cell::containing(1000, f64::NAN, 0.0), None);
    }
}
