//! The one place that knows about coordinate reference systems and builds transforms.
//!
//! Inside buurtmeter there is one working CRS (EPSG:28992 RD New unless the project says
//! otherwise): ingest reprojects every geometry into it, and the rest of the pipeline is
//! planar. Reprojection happens only at the edges (ingest here; tiles and OGC API output
//! later). Every `SpatialRef` built here uses the traditional GIS axis order (x = lon,
//! y = lat), so EPSG:4326 never comes out as (lat, lon).
//!
//! GDAL handles are neither `Sync` nor long-lived: a [`Reprojector`] is built, used by one
//! thread during ingest, and dropped.

/// A CRS (GDAL's handle: made here, not shared between threads).
pub use gdal::spatial_ref::SpatialRef;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform};
use geo_types::{Coord, LineString, MultiPolygon, Polygon, Rect};

/// A CRS that GDAL/PROJ does not know, or no transform between two CRSs.
#[derive(Debug, thiserror::Error)]
#[error("CRS '{crs}': {message}")]
pub struct CrsError {
    pub crs: String,
    pub message: String,
}

type Result<T, E = CrsError> = std::result::Result<T, E>;

/// The default working CRS: Amersfoort / RD New.
pub const RD_NEW: &str = "EPSG:28992";
/// WGS84 longitude/latitude.
pub const WGS84: &str = "EPSG:4326";

/// The working CRS: like [`spatial_ref`], and projected (areas per km² need metres).
pub fn working(definition: &str) -> Result<SpatialRef> {
    let srs = spatial_ref(definition)?;
    if !srs.is_projected() {
        return Err(CrsError {
            crs: definition.to_string(),
            message: "is not a projected CRS in metres; areas per km² need one (e.g. EPSG:28992)".into(),
        });
    }
    Ok(srs)
}

/// Parse `EPSG:28992`, `28992`, `epsg:4326`, a WKT or a PROJ string.
pub fn spatial_ref(definition: &str) -> Result<SpatialRef> {
    let def = definition.trim();
    let parsed = if let Ok(code) = def.parse::<u32>() {
        SpatialRef::from_epsg(code)
    } else if let Some(code) = def.strip_prefix("EPSG:").or_else(|| def.strip_prefix("epsg:")).and_then(|c| c.trim().parse::<u32>().ok()) {
        SpatialRef::from_epsg(code)
    } else {
        SpatialRef::from_definition(def)
    };
    let mut srs = parsed.map_err(|e| CrsError {
        crs: definition.to_string(),
        message: format!("GDAL does not know this CRS ({e}); use e.g. EPSG:28992 or EPSG:4326"),
    })?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// A short human label for a CRS: `EPSG:28992` when it has an EPSG code, else its name.
pub fn label(srs: &SpatialRef) -> String {
    match (srs.auth_name(), srs.auth_code()) {
        (Some(auth), Ok(code)) => format!("{auth}:{code}"),
        _ => {
            let mut copy = srs.clone();
            if copy.auto_identify_epsg().is_ok()
                && let Ok(code) = copy.auth_code()
            {
                return format!("EPSG:{code}");
            }
            srs.name().unwrap_or_else(|| "unknown CRS".into())
        }
    }
}

/// One batch through one transform, in place.
fn transform_batch(t: &CoordTransform, xs: &mut [f64], ys: &mut [f64]) {
    // A failed point makes the whole call report failure; the others are still
    // transformed, and the failed ones come back as HUGE_VAL/inf, checked by the caller.
    let _ = t.transform_coords(xs, ys, &mut []);
}

/// Transforms made from WKT, by (source WKT, target WKT); `None` where none could be made.
type OwnTransforms = Vec<((String, String), Option<CoordTransform>)>;

thread_local! {
    /// This thread's transforms made from WKT, by (source, target) WKT, kept for the next
    /// batch: making one asks PROJ's database (milliseconds), so that a thread makes one
    /// per CRS pair and process instead of one per batch. `None`: the thread could not.
    static OWN_TRANSFORMS: std::cell::RefCell<OwnTransforms> = const { std::cell::RefCell::new(Vec::new()) };
}

/// CRS pairs a thread keeps transforms for (the oldest is dropped beyond).
const OWN_TRANSFORMS_KEPT: usize = 8;

/// `xs`/`ys` in pieces on `threads` threads, each with its own transform made from the
/// WKTs (and kept by the thread, see `OWN_TRANSFORMS`); a piece whose thread cannot make
/// one, or makes one that answers otherwise, goes through `fallback` afterwards.
fn transform_in_parallel(fallback: &CoordTransform, (from, to): (&str, &str), xs: &mut [f64], ys: &mut [f64], threads: usize) {
    use rayon::prelude::*;
    let make = || -> Option<CoordTransform> {
        let srs = |wkt: &str| {
            let mut s = SpatialRef::from_wkt(wkt).ok()?;
            s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            Some(s)
        };
        CoordTransform::new(&srs(from)?, &srs(to)?).ok()
    };
    let piece = xs.len().div_ceil(threads);
    // The first coordinate of each piece through the caller's transform: a transform made
    // again from WKT must give the same coordinates, bit for bit, or the piece is not
    // transformed by it (a CRS from a PROJ string can lose a datum choice in WKT).
    let one = |t: &CoordTransform, x: f64, y: f64| {
        let (mut x, mut y) = ([x], [y]);
        transform_batch(t, &mut x, &mut y);
        (x[0].to_bits(), y[0].to_bits())
    };
    let expected: Vec<(u64, u64)> = (0..xs.len()).step_by(piece).map(|k| one(fallback, xs[k], ys[k])).collect();
    let done: Vec<bool> = xs
        .par_chunks_mut(piece)
        .zip(ys.par_chunks_mut(piece))
        .zip(expected)
        .map(|((x, y), expected)| {
            OWN_TRANSFORMS.with_borrow_mut(|own| {
                let k = match own.iter().position(|((f, t), _)| f == from && t == to) {
                    Some(k) => k,
                    None => {
                        if own.len() == OWN_TRANSFORMS_KEPT {
                            own.remove(0);
                        }
                        own.push(((from.to_string(), to.to_string()), make()));
                        own.len() - 1
                    }
                };
                match &own[k].1 {
                    Some(t) if one(t, x[0], y[0]) == expected => {
                        transform_batch(t, x, y);
                        true
                    }
                    _ => false,
                }
            })
        })
        .collect();
    for (k, _) in done.iter().enumerate().filter(|(_, d)| !**d) {
        let r = k * piece..((k + 1) * piece).min(xs.len());
        transform_batch(fallback, &mut xs[r.clone()], &mut ys[r]);
    }
}

/// True when both refer to the same CRS (so no transform is needed).
pub fn same(a: &SpatialRef, b: &SpatialRef) -> bool {
    a == b || label(a) == label(b)
}

/// Reprojects batches of coordinates from a source CRS to the working CRS and knows the
/// valid range of the source CRS, so nonsense coordinates are rejected, not moved.
pub struct Reprojector {
    transform: Option<CoordTransform>,
    /// The source and target CRS as WKT, to make one transform per thread for large
    /// batches (a GDAL transform cannot be shared between threads).
    wkt: Option<(String, String)>,
    range: CrsRange,
}

/// Batches from this size on are transformed on all cores (a thread's first batch of a
/// CRS pair makes its transform, milliseconds; later ones reuse it).
const PARALLEL_MIN_COORDS: usize = 16_384;

/// Where coordinates of a CRS can lie: plain numbers, no GDAL handle, so the range checks
/// can run on every thread of a parallel read (a GDAL transform cannot be shared).
#[derive(Debug, Clone)]
pub struct CrsRange {
    /// The source CRS's area of use (with a margin), in source coordinates.
    valid: Option<Rect<f64>>,
    /// The source CRS's area of use without the margin, in source coordinates, for the
    /// x/y swap check of projected coordinates.
    strict: Option<Rect<f64>>,
    /// The target CRS's area of use (with a margin) in lon/lat, for the swap check.
    target_lonlat: Option<Rect<f64>>,
    pub source_is_geographic: bool,
    pub source_label: String,
}

/// A reprojector answers every range question of its source CRS.
impl std::ops::Deref for Reprojector {
    type Target = CrsRange;
    fn deref(&self) -> &CrsRange {
        &self.range
    }
}

/// Margin around a CRS's published area of use that still counts as valid, in degrees.
/// Generous on purpose: cross-border partners (Aachen, Liège) lie just outside RD New's area.
const AREA_OF_USE_MARGIN_DEG: f64 = 1.0;

impl Reprojector {
    pub fn new(source: &SpatialRef, target: &SpatialRef) -> Result<Reprojector> {
        let source_label = label(source);
        let (transform, wkt) = if same(source, target) {
            (None, None)
        } else {
            let t = CoordTransform::new(source, target)
                .map_err(|e| CrsError { crs: source_label.clone(), message: format!("no transform to {}: {e}", label(target)) })?;
            (Some(t), source.to_wkt().ok().zip(target.to_wkt().ok()))
        };
        let source_is_geographic = source.is_geographic();
        let valid = valid_bounds(source, AREA_OF_USE_MARGIN_DEG)?;
        let strict = if source_is_geographic { None } else { valid_bounds(source, 0.0)? };
        let target_lonlat = area_of_use_cached(target).map(|a| {
            let m = AREA_OF_USE_MARGIN_DEG;
            Rect::new((a[0] - m, a[1] - m), (a[2] + m, a[3] + m))
        });
        Ok(Reprojector { transform, wkt, range: CrsRange { valid, strict, target_lonlat, source_is_geographic, source_label } })
    }

    /// The range checks alone, to hand to other threads.
    pub fn range(&self) -> CrsRange {
        self.range.clone()
    }
}

impl CrsRange {
    /// True when (x, y) in source coordinates lies in the source CRS's valid range.
    pub fn in_valid_range(&self, x: f64, y: f64) -> bool {
        if self.source_is_geographic && !((-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)) {
            return false;
        }
        match &self.valid {
            Some(r) => x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y,
            None => true,
        }
    }

    /// For lon/lat input: true when (x, y) lies outside the target CRS's area but (y, x)
    /// inside it, i.e. latitude and longitude were most likely exchanged.
    pub fn looks_swapped(&self, x: f64, y: f64) -> bool {
        let inside = |r: &Rect<f64>, x: f64, y: f64| x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y;
        self.source_is_geographic && self.target_lonlat.is_some_and(|r| !inside(&r, x, y) && inside(&r, y, x))
    }

    /// For projected input: true when (x, y) lies outside the source CRS's area of use but
    /// (y, x) inside it. RD New x is below 300 km and y above 289 km, so an exchanged pair
    /// lands south-east of the country, in the margin kept for Aachen and Liège, and
    /// would otherwise be counted as a point across the border.
    pub fn looks_xy_swapped(&self, x: f64, y: f64) -> bool {
        let inside = |r: &Rect<f64>, x: f64, y: f64| x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y;
        !self.source_is_geographic && self.strict.is_some_and(|r| !inside(&r, x, y) && inside(&r, y, x))
    }
}

impl Reprojector {
    /// Transform in place. Returns, per coordinate, whether it transformed to finite values.
    /// Large batches run on all cores, each thread with a transform of its own made from
    /// the same two CRSs (dropped when the call returns).
    pub fn transform(&self, xs: &mut [f64], ys: &mut [f64]) -> Vec<bool> {
        if let Some(t) = &self.transform
            && !xs.is_empty()
        {
            let threads = rayon::current_num_threads();
            let parallel = xs.len() >= PARALLEL_MIN_COORDS && threads > 1;
            match &self.wkt {
                Some((from, to)) if parallel => transform_in_parallel(t, (from, to), xs, ys, threads),
                _ => transform_batch(t, xs, ys),
            }
        }
        xs.iter().zip(ys.iter()).map(|(x, y)| x.is_finite() && y.is_finite() && x.abs() < 1e20 && y.abs() < 1e20).collect()
    }

    pub fn is_identity(&self) -> bool {
        self.transform.is_none()
    }

    /// Reproject every vertex; rings with fewer than 4 points and polygons without an
    /// exterior are dropped; `None` when nothing is left or a vertex fails.
    pub fn multipolygon(&self, mp: &MultiPolygon<f64>) -> Option<MultiPolygon<f64>> {
        let ring = |ls: &LineString<f64>| -> Option<LineString<f64>> {
            if ls.0.len() < 4 {
                return None;
            }
            if self.is_identity() {
                return Some(ls.clone());
            }
            let mut xs: Vec<f64> = ls.0.iter().map(|c| c.x).collect();
            let mut ys: Vec<f64> = ls.0.iter().map(|c| c.y).collect();
            let ok = self.transform(&mut xs, &mut ys);
            ok.iter().all(|&b| b).then(|| xs.into_iter().zip(ys).map(|(x, y)| Coord { x, y }).collect())
        };
        let polys: Vec<Polygon<f64>> =
            mp.0.iter()
                .filter_map(|p| {
                    let ext = ring(p.exterior())?;
                    let holes = p.interiors().iter().filter_map(ring).collect();
                    Some(Polygon::new(ext, holes))
                })
                .collect();
        (!polys.is_empty()).then_some(MultiPolygon(polys))
    }
}

/// A reprojection approximated by bilinear interpolation between the exactly transformed
/// nodes of a regular grid over the data's extent, checked against the exact transform
/// at cells' centres and edge midpoints before use: GDAL's approximate transformer
/// (gdalwarp's error threshold) does the same. The check covers every cell of a grid of
/// up to 64 cells a side and, for finer grids, the cells of every `cells / 64`-th row and
/// column and of the last row and column (about 64 × 64 cells spread evenly over the
/// extent: the error of a bilinear grid over a smooth transform changes slowly from cell
/// to cell). Plain data, so it is `Sync` and runs on
/// all cores; PROJ costs about a microsecond per coordinate on one thread, this about
/// ten nanoseconds.
pub struct GridTransform {
    x0: f64,
    y0: f64,
    dx: f64,
    dy: f64,
    /// Nodes per side.
    n: usize,
    /// Target coordinates of node (i, j) at `j * n + i`.
    nodes: Vec<[f64; 2]>,
    /// The largest difference from the exact transform seen at the check points.
    pub max_error: f64,
}

impl GridTransform {
    /// A grid over `bounds` (source coordinates) whose interpolation stays within
    /// `tolerance` (target units) of `exact` at every check point: the grid is refined
    /// until it does (up to 1024 cells a side). `None` when the transform is the
    /// identity, fails anywhere in the extent, or bends too much for the tolerance: the
    /// caller then transforms exactly.
    pub fn new(exact: &Reprojector, bounds: Rect<f64>, tolerance: f64) -> Option<GridTransform> {
        if exact.is_identity() || !(bounds.width().is_finite() && bounds.height().is_finite()) {
            return None;
        }
        // A degenerate extent (one point, a vertical line) still gets a grid of cells.
        let pad = |lo: f64, hi: f64| if hi - lo > 0.0 { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
        let ((x0, x1), (y0, y1)) = (pad(bounds.min().x, bounds.max().x), pad(bounds.min().y, bounds.max().y));
        let bounds = [x0, y0, x1, y1];
        // The smallest grid of 64 · 2^k cells that passes its check. Each grid keeps the
        // nodes of the one before (every second node), so the exact transform runs once
        // per node of the grid used, plus its check points and those of the coarser ones;
        // a grid's new nodes and its check points go through it in one batch.
        let mut cells = 64;
        let mut coarse: Option<Vec<[f64; 2]>> = None;
        loop {
            let (nodes, checks) = ExactNodes::with_checks(exact, bounds, cells, coarse.as_deref())?;
            let n = cells + 1;
            let (dx, dy) = ((x1 - x0) / cells as f64, (y1 - y0) / cells as f64);
            let mut grid = GridTransform { x0, y0, dx, dy, n, nodes, max_error: 0.0 };
            grid.max_error = checks.iter().map(|&(x, y, tx, ty)| grid.error(x, y, tx, ty)).fold(0.0, f64::max);
            if grid.max_error <= tolerance {
                return Some(grid);
            }
            if cells >= 1024 {
                return None;
            }
            coarse = Some(grid.nodes);
            cells *= 2;
        }
    }

    /// The check points of a grid of `cells` over `[x0, y0, x1, y1]` (see the type): the
    /// centre and the bottom and left edge midpoints of every `stride`-th cell of every
    /// `stride`-th row, and always of the last row and column (with their top and right
    /// edge midpoints too).
    fn check_points(cells: usize, [x0, y0, x1, y1]: [f64; 4]) -> (Vec<f64>, Vec<f64>) {
        let stride = (cells / 64).max(1);
        let (dx, dy) = ((x1 - x0) / cells as f64, (y1 - y0) / cells as f64);
        let lattice: Vec<usize> = (0..cells).step_by(stride).chain(((cells - 1) % stride != 0).then_some(cells - 1)).collect();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for &j in &lattice {
            for &i in &lattice {
                let (x, y) = (x0 + i as f64 * dx, y0 + j as f64 * dy);
                let mut at = vec![(0.5, 0.5), (0.5, 0.0), (0.0, 0.5)];
                if j == cells - 1 {
                    at.push((0.5, 1.0));
                }
                if i == cells - 1 {
                    at.push((1.0, 0.5));
                }
                for (fx, fy) in at {
                    xs.push(x + fx * dx);
                    ys.push(y + fy * dy);
                }
            }
        }
        (xs, ys)
    }

    /// The difference from the exact (tx, ty) at source (x, y); infinite outside the grid.
    fn error(&self, x: f64, y: f64, tx: f64, ty: f64) -> f64 {
        self.apply(x, y).map_or(f64::INFINITY, |(ax, ay)| (ax - tx).abs().max((ay - ty).abs()))
    }

    /// Cells per side.
    pub fn cells(&self) -> usize {
        self.n - 1
    }

    /// The interpolated target coordinates; `None` outside the grid's extent.
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let fx = (x - self.x0) / self.dx;
        let fy = (y - self.y0) / self.dy;
        let cells = (self.n - 1) as f64;
        if !(fx >= 0.0 && fx <= cells && fy >= 0.0 && fy <= cells) {
            return None;
        }
        let (i, j) = ((fx as usize).min(self.n - 2), (fy as usize).min(self.n - 2));
        let (u, v) = (fx - i as f64, fy - j as f64);
        let k = j * self.n + i;
        let (a, b, c, d) = (self.nodes[k], self.nodes[k + 1], self.nodes[k + self.n], self.nodes[k + self.n + 1]);
        let lerp = |p: f64, q: f64, r: f64, s: f64| (p * (1.0 - u) + q * u) * (1.0 - v) + (r * (1.0 - u) + s * u) * v;
        Some((lerp(a[0], b[0], c[0], d[0]), lerp(a[1], b[1], c[1], d[1])))
    }
}

/// The exactly transformed nodes of a regular grid of `cells` × `cells` over `bounds`.
struct ExactNodes;

impl ExactNodes {
    /// The nodes of a grid of `cells` over `bounds` (target coordinates of node (i, j) at
    /// `j * (cells + 1) + i`), those of the grid of half the cells `coarse` kept and the
    /// others transformed, and the grid's check points (source x, y, exact target x, y),
    /// in one batch through `exact`. `None` when the transform fails at any of them.
    #[allow(clippy::type_complexity)]
    fn with_checks(
        exact: &Reprojector,
        bounds: [f64; 4],
        cells: usize,
        coarse: Option<&[[f64; 2]]>,
    ) -> Option<(Vec<[f64; 2]>, Vec<(f64, f64, f64, f64)>)> {
        let [x0, y0, x1, y1] = bounds;
        let n = cells + 1;
        let source = |i: usize, j: usize| (x0 + i as f64 * ((x1 - x0) / cells as f64), y0 + j as f64 * ((y1 - y0) / cells as f64));
        let mut nodes = vec![[0.0; 2]; n * n];
        let mut new = Vec::with_capacity(n * n);
        for j in 0..n {
            for i in 0..n {
                match coarse {
                    Some(c) if i % 2 == 0 && j % 2 == 0 => nodes[j * n + i] = c[(j / 2) * (cells / 2 + 1) + i / 2],
                    _ => new.push((i, j)),
                }
            }
        }
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = new.iter().map(|&(i, j)| source(i, j)).unzip();
        let (cx, cy) = GridTransform::check_points(cells, bounds);
        xs.extend(&cx);
        ys.extend(&cy);
        if !exact.transform(&mut xs, &mut ys).iter().all(|&ok| ok) {
            return None;
        }
        for (k, &(i, j)) in new.iter().enumerate() {
            nodes[j * n + i] = [xs[k], ys[k]];
        }
        let checks = (0..cx.len()).map(|k| (cx[k], cy[k], xs[new.len() + k], ys[new.len() + k])).collect();
        Some((nodes, checks))
    }
}

/// Spherical (web) Mercator, EPSG:3857, from WGS84 lon/lat in degrees. Latitude is
/// clamped to the Web Mercator range (±85.0511°).
pub fn lonlat_to_web_mercator(lon: f64, lat: f64) -> (f64, f64) {
    const R: f64 = 6_378_137.0;
    let lat = lat.clamp(-85.051_128_779_806_59, 85.051_128_779_806_59);
    (R * lon.to_radians(), R * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln())
}

/// Web Mercator for many coordinates in a band of latitudes: x is linear in longitude,
/// y is read off a table of `y(lat)` (linear interpolation between 65,537 exact values)
/// instead of a tangent and a logarithm per coordinate. Over the 3° of latitude of the
/// Netherlands a step is under a millionth of a radian and the interpolation within two
/// micrometres of [`lonlat_to_web_mercator`]; in a band of 10° up to 85° within a
/// millimetre (both tested). Outside the band, and for a band wider than 10°, the
/// formula itself.
pub struct MercatorTable {
    lat0: f64,
    per_degree: f64,
    ys: Vec<f64>,
}

impl MercatorTable {
    const STEPS: usize = 1 << 16;

    /// A table for latitudes from `lat_min` to `lat_max` (degrees).
    pub fn new(lat_min: f64, lat_max: f64) -> MercatorTable {
        // The formula clamps here: the table never spans the kink.
        const LIMIT: f64 = 85.051_128_779_806_59;
        let (lat_min, lat_max) = (lat_min.max(-LIMIT), lat_max.min(LIMIT));
        if !(lat_min.is_finite() && lat_max.is_finite() && lat_max >= lat_min && lat_max - lat_min <= 10.0) {
            return MercatorTable { lat0: 0.0, per_degree: 0.0, ys: Vec::new() };
        }
        let span = (lat_max - lat_min).max(1e-6);
        let per_degree = Self::STEPS as f64 / span;
        let ys = (0..=Self::STEPS).map(|k| lonlat_to_web_mercator(0.0, lat_min + k as f64 / per_degree).1).collect();
        MercatorTable { lat0: lat_min, per_degree, ys }
    }

    /// EPSG:3857 metres of WGS84 (lon, lat) in degrees.
    #[inline]
    pub fn apply(&self, lon: f64, lat: f64) -> (f64, f64) {
        let f = (lat - self.lat0) * self.per_degree;
        if f >= 0.0 && f <= Self::STEPS as f64 && !self.ys.is_empty() {
            let k = (f as usize).min(Self::STEPS - 1);
            let u = f - k as f64;
            let y = self.ys[k] + (self.ys[k + 1] - self.ys[k]) * u;
            (6_378_137.0 * lon.to_radians(), y)
        } else {
            lonlat_to_web_mercator(lon, lat)
        }
    }
}

/// WGS84 lon/lat in degrees from EPSG:3857.
pub fn web_mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    const R: f64 = 6_378_137.0;
    ((x / R).to_degrees(), (2.0 * (y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees())
}

/// The area of use, also for a CRS given as WKT without one (identified by EPSG code).
/// West, south, east, north in degrees.
/// [`area_of_use`], once per CRS per process.
fn area_of_use_cached(srs: &SpatialRef) -> Option<[f64; 4]> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<String, Option<[f64; 4]>>>> = OnceLock::new();
    let Ok(wkt) = srs.to_wkt() else { return area_of_use(srs) };
    let known = KNOWN.get_or_init(Default::default);
    if let Some(v) = known.lock().ok().and_then(|g| g.get(&wkt).copied()) {
        return v;
    }
    let v = area_of_use(srs);
    if let Ok(mut g) = known.lock() {
        g.insert(wkt, v);
    }
    v
}

fn area_of_use(srs: &SpatialRef) -> Option<[f64; 4]> {
    let a = srs.area_of_use().or_else(|| {
        let mut copy = srs.clone();
        copy.auto_identify_epsg().ok()?;
        let code = copy.auth_code().ok()?;
        SpatialRef::from_epsg(code as u32).ok()?.area_of_use()
    })?;
    Some([a.west_lon_degree, a.south_lat_degree, a.east_lon_degree, a.north_lat_degree])
}

/// The CRS's area of use widened by a margin, in its own coordinates. Asked of PROJ's
/// database and a transform from WGS84 (tens of milliseconds): once per CRS and margin
/// per process, then from memory (every reader makes reprojectors, most of them for the
/// same two or three CRSs).
fn valid_bounds(srs: &SpatialRef, m: f64) -> Result<Option<Rect<f64>>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Known = HashMap<(String, u64), Option<Rect<f64>>>;
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    let key = srs.to_wkt().ok().map(|w| (w, m.to_bits()));
    let known = KNOWN.get_or_init(Default::default);
    if let Some(k) = &key
        && let Some(v) = known.lock().ok().and_then(|g| g.get(k).copied())
    {
        return Ok(v);
    }
    let v = valid_bounds_uncached(srs, m)?;
    if let (Some(k), Ok(mut g)) = (key, known.lock()) {
        g.insert(k, v);
    }
    Ok(v)
}

fn valid_bounds_uncached(srs: &SpatialRef, m: f64) -> Result<Option<Rect<f64>>> {
    let Some(area) = area_of_use(srs) else {
        return Ok(None);
    };
    let lonlat = [(area[0] - m).max(-180.0), (area[1] - m).max(-90.0), (area[2] + m).min(180.0), (area[3] + m).min(90.0)];
    if srs.is_geographic() {
        return Ok(Some(Rect::new((lonlat[0], lonlat[1]), (lonlat[2], lonlat[3]))));
    }
    let wgs84 = spatial_ref(WGS84)?;
    let Ok(t) = CoordTransform::new(&wgs84, srs) else {
        return Ok(None);
    };
    Ok(t.transform_bounds(&lonlat, 21).ok().map(|b| Rect::new((b[0], b[1]), (b[2], b[3]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rd_new_to_wgs84_puts_heerlen_in_heerlen() {
        // Known point (BUILD-NOTES): RD (194000, 320000) is lon 5.9411914, lat 50.8684838.
        let rd = spatial_ref(RD_NEW).unwrap();
        let wgs = spatial_ref(WGS84).unwrap();
        let r = Reprojector::new(&rd, &wgs).unwrap();
        let (mut xs, mut ys) = (vec![194000.0], vec![320000.0]);
        assert_eq!(r.transform(&mut xs, &mut ys), vec![true]);
        assert!((xs[0] - 5.9411914).abs() < 2e-5, "lon {}", xs[0]);
        assert!((ys[0] - 50.8684838).abs() < 2e-5, "lat {}", ys[0]);
    }

    #[test]
    fn rd_new_valid_range_excludes_nonsense() {
        let rd = spatial_ref("28992").unwrap();
        let r = Reprojector::new(&rd, &rd).unwrap();
        assert!(r.is_identity());
        assert!(r.in_valid_range(194000.0, 320000.0));
        assert!(!r.in_valid_range(5.94, 50.87), "lon/lat values are not RD metres");
        assert!(!r.in_valid_range(1.0e7, 320000.0));
        assert_eq!(label(&rd), "EPSG:28992");
    }

    #[test]
    fn unknown_crs_is_a_clear_error() {
        let err = spatial_ref("EPSG:999999").unwrap_err().to_string();
        assert!(err.contains("EPSG:999999"), "{err}");
    }

    #[test]
    fn the_mercator_table_agrees_with_the_formula() {
        for (lo, hi, bound) in [(50.5, 53.7, 2e-6), (75.0, 85.0, 1e-3), (76.0, 86.0, 1e-3), (-90.0, -80.0, 1e-3)] {
            let table = MercatorTable::new(lo, hi);
            let mut worst = 0.0f64;
            for k in 0..=200_000 {
                let lat = lo + (hi - lo) * (k as f64 / 200_000.0);
                let lon = -10.0 + (k % 97) as f64 * 0.3;
                let (ex, ey) = lonlat_to_web_mercator(lon, lat);
                let (ax, ay) = table.apply(lon, lat);
                assert_eq!(ax, ex, "x is the formula");
                worst = worst.max((ay - ey).abs());
            }
            assert!(worst < bound, "{lo}..{hi}: {worst} m");
        }
        let table = MercatorTable::new(50.5, 53.7);
        // Outside the band and for NaN: the formula.
        assert_eq!(table.apply(5.0, 60.0), lonlat_to_web_mercator(5.0, 60.0));
        assert!(table.apply(f64::NAN, f64::NAN).1.is_nan());
        // Too wide a band: the formula everywhere.
        assert_eq!(MercatorTable::new(40.0, 60.0).apply(5.0, 52.0), lonlat_to_web_mercator(5.0, 52.0));
    }

    #[test]
    fn grid_transform_agrees_with_proj_within_a_centimetre() {
        let rd = spatial_ref(RD_NEW).unwrap();
        let wgs = spatial_ref(WGS84).unwrap();
        let exact = Reprojector::new(&rd, &wgs).unwrap();
        // The Netherlands' extent in RD New.
        let bounds = Rect::new((10_000.0, 300_000.0), (280_000.0, 625_000.0));
        let grid = GridTransform::new(&exact, bounds, 1e-7).expect("RD New -> WGS84 is smooth");
        assert!(grid.max_error <= 1e-7, "{}", grid.max_error);
        // Random points (not the check points, which cover 1 in 64 cells at this size) against PROJ.
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) =
            (0..50_000).map(|_| (10_000.0 + rnd() * 270_000.0, 300_000.0 + rnd() * 325_000.0)).unzip();
        let approx: Vec<(f64, f64)> = xs.iter().zip(&ys).map(|(&x, &y)| grid.apply(x, y).unwrap()).collect();
        exact.transform(&mut xs, &mut ys);
        for (k, (ax, ay)) in approx.iter().enumerate() {
            // 1e-7 degrees is about 1 cm.
            assert!((ax - xs[k]).abs() < 1e-7 && (ay - ys[k]).abs() < 1e-7, "({ax}, {ay}) vs ({}, {})", xs[k], ys[k]);
        }
        // The lattice check against every cell's centre, on the national extent with a
        // cross-border margin (a grid of 512 cells: 262,144 centres).
        let wide = Rect::new((-20_000.0, 280_000.0), (291_000.0, 654_000.0));
        let g = GridTransform::new(&exact, wide, 1e-7).expect("smooth");
        let c = g.cells();
        let (w, h) = (wide.width() / c as f64, wide.height() / c as f64);
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) =
            (0..c * c).map(|k| (-20_000.0 + ((k % c) as f64 + 0.5) * w, 280_000.0 + ((k / c) as f64 + 0.5) * h)).unzip();
        let approx: Vec<(f64, f64)> = xs.iter().zip(&ys).map(|(&x, &y)| g.apply(x, y).unwrap()).collect();
        exact.transform(&mut xs, &mut ys);
        let worst = approx.iter().enumerate().map(|(k, (ax, ay))| (ax - xs[k]).abs().max((ay - ys[k]).abs())).fold(0.0, f64::max);
        assert!(worst <= 1e-7, "{c} cells: {worst}° at a centre");
        assert!(grid.apply(0.0, 0.0).is_none(), "outside the grid: no answer, not a guess");
        assert!(GridTransform::new(&Reprojector::new(&rd, &rd).unwrap(), bounds, 1e-7).is_none(), "identity needs no grid");
    }

    #[test]
    fn a_large_batch_on_all_cores_equals_one_transform_on_one_thread() {
        let wgs = spatial_ref(WGS84).unwrap();
        let rd = spatial_ref(RD_NEW).unwrap();
        let r = Reprojector::new(&wgs, &rd).unwrap();
        let n = PARALLEL_MIN_COORDS * 3 + 17;
        let lon: Vec<f64> = (0..n).map(|i| 3.3 + (i % 997) as f64 * 0.004).collect();
        let lat: Vec<f64> = (0..n).map(|i| 50.7 + (i % 991) as f64 * 0.0035).collect();
        let (mut px, mut py) = (lon.clone(), lat.clone());
        let ok = r.transform(&mut px, &mut py);
        let (mut sx, mut sy) = (lon, lat);
        transform_batch(r.transform.as_ref().unwrap(), &mut sx, &mut sy);
        assert!(ok.iter().all(|&b| b));
        assert!(px == sx && py == sy, "the parallel pieces give other coordinates than one pass");
        assert!((px[0] - 13_000.0).abs() < 60_000.0 && py[0] > 300_000.0, "({}, {}) is not RD New", px[0], py[0]);
    }
}
