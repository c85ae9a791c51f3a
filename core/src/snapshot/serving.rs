//! The serving stage: every area and point in WGS84 and Web Mercator, the properties the
//! tiles, the OGC API and the GeoPackage share, and the tilesets.

use geo::MapCoords;
use geo_types::MultiPolygon;
use rayon::prelude::*;

use super::{IndicatorResult, JoinedLayer};
use crate::config::Access;
use crate::crs::{self, CrsError, SpatialRef};
use crate::indicators::{self, Indicator};
use crate::model::{CbsKind, Level, Prop, cbs_ancestor_code};
use crate::tiles::{self, FieldKind, TileData, Tileset};

type Result<T, E = CrsError> = std::result::Result<T, E>;

/// The statistic names shown next to the indicators (the CBS figures behind them).
pub fn denominator_label(ind: &Indicator) -> Option<String> {
    match &ind.denominator {
        indicators::Denominator::None => None,
        indicators::Denominator::LandKm2 => Some("land_km2".into()),
        indicators::Denominator::Statistic(s) => Some(s.clone()),
    }
}

/// Per level and area: code, name, country (when the level says), the CBS codes it nests in, every public indicator's
/// latest value (`<id>`), numerator (`<id>_n`), protection (`<id>_suppressed`) and period
/// (`<id>_period`, when there is more than one), and the denominators behind them (by
/// their configured name). The one set of field names for tiles, OGC API, GeoJSON and the
/// GeoPackage's level layers.
pub fn area_properties(levels: &[Level], results: &[IndicatorResult]) -> Vec<Vec<Vec<(String, Prop)>>> {
    levels
        .iter()
        .enumerate()
        .map(|(li, level)| (0..level.areas.len()).map(|a| properties_of(level, li, results, a, false)).collect())
        .collect()
}

/// The properties of area `a` of level `li`, as [`area_properties`] makes them; with
/// `include_restricted`, restricted indicators' fields too (for files written on request,
/// `export --include-restricted`; never for anything served).
pub fn properties_of(level: &Level, li: usize, results: &[IndicatorResult], a: usize, include_restricted: bool) -> Vec<(String, Prop)> {
    let area = &level.areas[a];
    let mut props = vec![("code".to_string(), Prop::Str(area.code.clone()))];
    if let Some(n) = &area.name {
        props.push(("name".to_string(), Prop::Str(n.clone())));
    }
    if let Some(c) = &area.country {
        props.push(("country".to_string(), Prop::Str(c.clone())));
    }
    // The CBS codes the area nests in (a buurt's wijkcode and gemeentecode), so a user can
    // filter or join on them in QGIS, whatever channel the layer came through.
    if let Some(kind) = level.cbs_kind {
        for (k, field) in [(CbsKind::Gemeente, "gemeentecode"), (CbsKind::Wijk, "wijkcode")] {
            if k < kind
                && let Some(c) = cbs_ancestor_code(&area.code, k)
            {
                props.push((field.to_string(), Prop::Str(c)));
            }
        }
    }
    // Restricted indicators never go into the public area layers (tiles, OGC API, GeoJSON).
    for r in results.iter().filter(|r| include_restricted || !r.restricted) {
        let v = &r.per_level[li];
        if let Some(p) = v.periods.len().checked_sub(1) {
            let k = v.index(a, p);
            if let Some(x) = v.value[k] {
                props.push((r.def.id.clone(), Prop::Num(x)));
            }
            if let Some(n) = v.numerator[k] {
                props.push((format!("{}_n", r.def.id), Prop::Num(n)));
            }
            if let Some(why) = v.suppressed[k] {
                props.push((format!("{}_suppressed", r.def.id), Prop::Str(why.key().into())));
            }
            // The indicator's hot spots (`hotspots = { … }`): cluster and p-value.
            if let Some(h) = r.hotspots.get(li).and_then(|h| h.as_ref()).and_then(|h| h.areas[a].as_ref()) {
                props.push((format!("{}_hotspot", r.def.id), Prop::Str(h.cluster.into())));
                if let Some(p) = h.p_sim {
                    props.push((format!("{}_hotspot_p", r.def.id), Prop::Num(p)));
                }
                // Gi's z-score, or local Moran's I.
                if let Some(z) = h.z.or(h.local_i) {
                    props.push((format!("{}_hotspot_z", r.def.id), Prop::Num(z)));
                }
            }
            // CBS's word for a figure computed onto other boundaries.
            if v.converted.get(k).copied().unwrap_or(false) {
                props.push((format!("{}_converted", r.def.id), Prop::Str("berekend".into())));
            }
            if v.periods.len() > 1 {
                props.push((format!("{}_period", r.def.id), Prop::Str(v.periods[p].clone())));
            }
            if let (Some(label), Some(d)) = (denominator_label(&r.def), v.denominator[k])
                && !props.iter().any(|(k, _)| *k == label)
            {
                props.push((label, Prop::Num(d)));
            }
        }
    }
    props
}

/// Bounds snapped outward to a grid of `step` degrees (0.05° is 3–6 km): the extent of an
/// aggregate-only layer must not give away its outermost records.
fn snap_outward(b: [f64; 4], step: f64) -> [f64; 4] {
    [
        ((b[0] / step).floor() * step).max(-180.0),
        ((b[1] / step).floor() * step).max(-85.0),
        ((b[2] / step).ceil() * step).min(180.0),
        ((b[3] / step).ceil() * step).min(85.0),
    ]
}

/// (min x, min y, max x, max y); infinite when nothing (finite) is in it.
type Extent = [f64; 4];
const NO_EXTENT: Extent = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];

fn grow(a: Extent, b: Extent) -> Extent {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

/// The extent of a level's exteriors, on all cores.
fn areas_extent(areas: &[MultiPolygon<f64>]) -> Extent {
    areas
        .par_iter()
        .map(|mp| mp.0.iter().flat_map(|p| p.exterior().0.iter()).fold(NO_EXTENT, |b, c| grow(b, [c.x, c.y, c.x, c.y])))
        .reduce(|| NO_EXTENT, grow)
}

/// The extent of points, on all cores.
fn points_extent(points: &[[f64; 2]]) -> Extent {
    points.par_chunks(1 << 16).map(|c| c.iter().fold(NO_EXTENT, |b, p| grow(b, [p[0], p[1], p[0], p[1]]))).reduce(|| NO_EXTENT, grow)
}

/// A tileset's bounds: the extent, or the world when it is empty.
fn bounds_of(extent: Extent) -> [f64; 4] {
    if extent[0].is_finite() { extent } else { [-180.0, -85.0, 180.0, 85.0] }
}

/// Working CRS → WGS84 for everything served. The exact transform (GDAL/PROJ, one
/// thread) is approximated on a grid over the extent of all areas and points when that
/// stays within 1e-7 degrees (about a centimetre) everywhere; then all cores transform.
struct ServingTransform {
    exact: crs::Reprojector,
    grid: Option<crs::GridTransform>,
}

/// The smallest and largest value, on all cores.
fn min_max(v: &[f64]) -> (f64, f64) {
    v.par_iter()
        .fold(|| (f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
        .reduce(|| (f64::INFINITY, f64::NEG_INFINITY), |a, c| (a.0.min(c.0), a.1.max(c.1)))
}

/// About a centimetre, in degrees.
const SERVING_TOLERANCE_DEG: f64 = 1e-7;

impl ServingTransform {
    fn new(exact: crs::Reprojector, levels: &[Level], points: &[JoinedLayer]) -> ServingTransform {
        use geo::BoundingRect;
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut add = |x0: f64, y0: f64, x1: f64, y1: f64| b = [b[0].min(x0), b[1].min(y0), b[2].max(x1), b[3].max(y1)];
        for r in levels.iter().flat_map(|l| &l.areas).filter_map(|a| a.geometry.bounding_rect()) {
            add(r.min().x, r.min().y, r.max().x, r.max().y);
        }
        for p in points.iter().filter(|p| p.layer.groups.is_none()) {
            let (x0, x1) = min_max(&p.layer.xs);
            let (y0, y1) = min_max(&p.layer.ys);
            add(x0, y0, x1, y1);
        }
        let grid = (b[0] <= b[2] && b[1] <= b[3])
            .then(|| crs::GridTransform::new(&exact, geo_types::Rect::new((b[0], b[1]), (b[2], b[3])), SERVING_TOLERANCE_DEG))
            .flatten();
        match &grid {
            Some(g) => tracing::debug!(max_error_deg = g.max_error, cells = g.cells(), "serving transform: grid approximation"),
            None => tracing::debug!("serving transform: exact (identity, or no grid within the tolerance)"),
        }
        ServingTransform { exact, grid }
    }

    fn multipolygons(&self, areas: &[crate::model::Area]) -> Vec<MultiPolygon<f64>> {
        let empty = || MultiPolygon(vec![]);
        match &self.grid {
            Some(g) => areas
                .par_iter()
                .map(|a| {
                    a.geometry
                        .try_map_coords(|c| g.apply(c.x, c.y).map(|(x, y)| geo_types::Coord { x, y }).ok_or(()))
                        .unwrap_or_else(|()| empty())
                })
                .collect(),
            None => areas.iter().map(|a| self.exact.multipolygon(&a.geometry).unwrap_or_else(empty)).collect(),
        }
    }

    fn points(&self, xs: &[f64], ys: &[f64]) -> Vec<[f64; 2]> {
        match &self.grid {
            Some(g) => xs.par_iter().zip(ys).map(|(&x, &y)| g.apply(x, y).map_or([f64::NAN, f64::NAN], |(x, y)| [x, y])).collect(),
            None => {
                let (mut xs, mut ys) = (xs.to_vec(), ys.to_vec());
                self.exact.transform(&mut xs, &mut ys);
                xs.into_iter().zip(ys).map(|(x, y)| [x, y]).collect()
            }
        }
    }
}

/// Per level, per area.
type Geometries = Vec<Vec<MultiPolygon<f64>>>;

/// Reproject areas and points to WGS84 (once, here, with GDAL) and build the tile data.
pub(super) fn prepare_serving(
    working: &SpatialRef,
    levels: &[Level],
    points: &mut [JoinedLayer],
    results: &[IndicatorResult],
) -> Result<(Geometries, TileData)> {
    let wgs = crs::spatial_ref(crs::WGS84)?;
    let to_wgs = crs::Reprojector::new(working, &wgs)?;
    let to_wgs = ServingTransform::new(to_wgs, levels, points);
    let wgs84: Geometries = levels.iter().map(|l| to_wgs.multipolygons(&l.areas)).collect();
    for p in points.iter_mut().filter(|p| p.layer.groups.is_none()) {
        p.lonlat = to_wgs.points(&p.layer.xs, &p.layer.ys);
    }
    // The extents give the tilesets' bounds and the latitudes of everything served, over
    // which Web Mercator's y is tabled.
    let level_extents: Vec<Extent> = wgs84.iter().map(|l| areas_extent(l)).collect();
    let point_extents: Vec<Extent> = points.iter().map(|p| points_extent(&p.lonlat)).collect();
    let all = level_extents.iter().chain(&point_extents).fold(NO_EXTENT, |a, &b| grow(a, b));
    let table = crs::MercatorTable::new(all[1], all[3]);
    let mercator: Geometries = wgs84.iter().map(|l| l.par_iter().map(|mp| web_mercator(mp, &table)).collect()).collect();
    let props = area_properties(levels, results);
    let mut tilesets: Vec<Tileset> =
        levels.iter().enumerate().map(|(li, l)| level_tileset(li, l, &props[li], bounds_of(level_extents[li]))).collect();
    let mut point_tiles = Vec::new();
    for (pi, p) in points.iter_mut().enumerate() {
        if p.layer.groups.is_some() {
            // Joined in the database: counts per area, no points to draw (an empty set
            // keeps the layers' numbering).
            point_tiles.push((tiles::points::PointTiles::new(&[], &table, false), tiles::PointProps::default()));
            continue;
        }
        let (tiles, tileset) = point_tileset(pi, p, &table, bounds_of(point_extents[pi]));
        point_tiles.push(tiles);
        tilesets.push(tileset);
    }
    Ok((wgs84, TileData::new(tilesets, mercator, props, point_tiles)))
}

fn web_mercator(mp: &MultiPolygon<f64>, table: &crs::MercatorTable) -> MultiPolygon<f64> {
    mp.map_coords(|c| {
        let (x, y) = table.apply(c.x, c.y);
        geo_types::Coord { x, y }
    })
}

/// A level's tileset: its fields (with their TileJSON types) and its WGS84 bounds.
fn level_tileset(li: usize, l: &Level, props: &[Vec<(String, Prop)>], bounds: [f64; 4]) -> Tileset {
    let mut fields: Vec<(String, FieldKind)> = Vec::new();
    for area_props in props {
        for (k, v) in area_props {
            if !fields.iter().any(|(f, _)| f == k) {
                fields.push((k.clone(), if matches!(v, Prop::Str(_)) { FieldKind::Text } else { FieldKind::Number }));
            }
        }
    }
    Tileset {
        restricted: false,
        id: l.id.clone(),
        title: l.title.clone(),
        source: tiles::Source::Level(li),
        bounds,
        fields,
        maxzoom: tiles::grid::MAX_ZOOM,
    }
}

/// A point layer's tiles (Morton-ordered, cell keys for a protected layer) and tileset.
/// Point attributes go only where points are served one by one (public layers), and a
/// layer that is not public shows coarse bounds.
fn point_tileset(
    pi: usize,
    p: &JoinedLayer,
    table: &crs::MercatorTable,
    bounds: [f64; 4],
) -> ((tiles::points::PointTiles, tiles::PointProps), Tileset) {
    let public = p.access == Access::Public;
    let props = if public {
        tiles::PointProps {
            categories: p.layer.categories.clone(),
            category_idx: p.layer.category_idx.clone(),
            dates: p.layer.dates.clone(),
        }
    } else {
        tiles::PointProps::default()
    };
    let mut pt = tiles::points::PointTiles::new(&p.lonlat, table, public);
    let mut maxzoom = tiles::grid::MAX_ZOOM;
    if let (Some(table), Some(keys)) = (&p.ptable, &p.record_keys) {
        // A protected layer: tiles stop where a tile is the smallest published cell.
        maxzoom = tiles::points::zoom_for_cell(p.min_cell_m, (bounds[1] + bounds[3]) / 2.0);
        pt = pt.with_cell_keys(table.clone(), keys, maxzoom);
    }
    let mut fields = vec![("count".to_string(), FieldKind::Number)];
    if public {
        fields.extend([("category".to_string(), FieldKind::Text), ("date".to_string(), FieldKind::Text)]);
    }
    let tileset = Tileset {
        restricted: p.access == Access::Restricted,
        id: p.layer.id.clone(),
        title: p.title.clone(),
        source: tiles::Source::Points(pi),
        bounds: if public { bounds } else { snap_outward(bounds, 0.05) },
        fields,
        maxzoom,
    };
    ((pt, props), tileset)
}

/// The context areas in WGS84 (few, so PROJ directly; an area that cannot be
/// reprojected is left out of the context).
pub(super) fn context_wgs84(working: &SpatialRef, areas: Vec<crate::model::Area>) -> Result<Vec<super::ContextArea>> {
    if areas.is_empty() {
        return Ok(Vec::new());
    }
    let r = crs::Reprojector::new(working, &crs::spatial_ref(crs::WGS84)?)?;
    Ok(areas.into_iter().filter_map(|a| Some((a.code, a.name, r.multipolygon(&a.geometry)?))).collect())
}
