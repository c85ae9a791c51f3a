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

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use geo_types::{Coord, LineString, MultiPolygon, Polygon, Rect};

use crate::error::{Error, Result};

/// The default working CRS: Amersfoort / RD New.
pub const RD_NEW: &str = "EPSG:28992";
/// WGS84 longitude/latitude.
pub const WGS84: &str = "EPSG:4326";

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
    let mut srs = parsed.map_err(|e| Error::Crs {
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

/// True when both refer to the same CRS (so no transform is needed).
pub fn same(a: &SpatialRef, b: &SpatialRef) -> bool {
    a == b || label(a) == label(b)
}

/// Reprojects batches of coordinates from a source CRS to the working CRS and knows the
/// valid range of the source CRS, so nonsense coordinates are rejected, not moved.
pub struct Reprojector {
    transform: Option<CoordTransform>,
    /// The source CRS's area of use (with a margin), in source coordinates.
    valid: Option<Rect<f64>>,
    /// The target CRS's area of use (with a margin) in lon/lat, for the swap check.
    target_lonlat: Option<Rect<f64>>,
    pub source_is_geographic: bool,
    pub source_label: String,
}

/// Margin around a CRS's published area of use that still counts as valid, in degrees.
/// Generous on purpose: cross-border partners (Aachen, Liège) lie just outside RD New's area.
const AREA_OF_USE_MARGIN_DEG: f64 = 1.0;

impl Reprojector {
    pub fn new(source: &SpatialRef, target: &SpatialRef) -> Result<Reprojector> {
        let source_label = label(source);
        let transform = if same(source, target) {
            None
        } else {
            Some(
                CoordTransform::new(source, target)
                    .map_err(|e| Error::Crs { crs: source_label.clone(), message: format!("no transform to {}: {e}", label(target)) })?,
            )
        };
        let source_is_geographic = source.is_geographic();
        let valid = valid_bounds(source)?;
        let target_lonlat = area_of_use(target).map(|a| {
            let m = AREA_OF_USE_MARGIN_DEG;
            Rect::new((a[0] - m, a[1] - m), (a[2] + m, a[3] + m))
        });
        Ok(Reprojector { transform, valid, target_lonlat, source_is_geographic, source_label })
    }

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

    /// Transform in place. Returns, per coordinate, whether it transformed to finite values.
    pub fn transform(&self, xs: &mut [f64], ys: &mut [f64]) -> Vec<bool> {
        if let Some(t) = &self.transform
            && !xs.is_empty()
        {
            // A failed point makes the whole call report failure; the others are still
            // transformed, and the failed ones come back as HUGE_VAL/inf, checked below.
            let _ = t.transform_coords(xs, ys, &mut []);
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

/// Spherical (web) Mercator, EPSG:3857, from WGS84 lon/lat in degrees. Latitude is
/// clamped to the Web Mercator range (±85.0511°).
pub fn lonlat_to_web_mercator(lon: f64, lat: f64) -> (f64, f64) {
    const R: f64 = 6_378_137.0;
    let lat = lat.clamp(-85.051_128_779_806_59, 85.051_128_779_806_59);
    (R * lon.to_radians(), R * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln())
}

/// WGS84 lon/lat in degrees from EPSG:3857.
pub fn web_mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    const R: f64 = 6_378_137.0;
    ((x / R).to_degrees(), (2.0 * (y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees())
}

/// The area of use, also for a CRS given as WKT without one (identified by EPSG code).
/// West, south, east, north in degrees.
fn area_of_use(srs: &SpatialRef) -> Option<[f64; 4]> {
    let a = srs.area_of_use().or_else(|| {
        let mut copy = srs.clone();
        copy.auto_identify_epsg().ok()?;
        let code = copy.auth_code().ok()?;
        SpatialRef::from_epsg(code as u32).ok()?.area_of_use()
    })?;
    Some([a.west_lon_degree, a.south_lat_degree, a.east_lon_degree, a.north_lat_degree])
}

/// The CRS's area of use widened by a margin, in its own coordinates.
fn valid_bounds(srs: &SpatialRef) -> Result<Option<Rect<f64>>> {
    let Some(area) = area_of_use(srs) else {
        return Ok(None);
    };
    let m = AREA_OF_USE_MARGIN_DEG;
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
}
