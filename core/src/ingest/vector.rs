//! Areas and point layers through GDAL/OGR: any vector format, any CRS.
//!
//! CBS Wijk- en Buurtkaart specifics handled here:
//! - id and name fields are detected per edition (`buurtcode`/`BU_CODE`/`CBS-buurtcode`,
//!   shapefile truncations like `gemeenteco`), or set explicitly;
//! - rows with `water = 'JA'` (the 2024 GeoPackage's water part of a gemeente) are
//!   skipped, so a code is the land area only; the land row carries the statistics;
//! - other duplicated ids are merged into one multipolygon (first row's attributes) and
//!   reported; invalid polygons are repaired as GDAL/GEOS `MakeValid` does and reported by
//!   their id (used as they are, even-odd rule, when GEOS cannot repair them);
//! - numeric attributes become statistics, with the CBS sentinels (-99997, -99995,
//!   -99999999, -99999998) read as missing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use gdal::spatial_ref::SpatialRef;
use gdal::vector::{FieldValue, LayerAccess, OGRFieldType};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::Area as _;
use geo_types::{Geometry, MultiPolygon};

use super::csv_points::{self, Table, check_range};
use super::text::{Encoding, TimeZone};
use super::{Coords, PointSource, Progress};
use super::{IngestError, Result};
use crate::crs::{self, Reprojector};
use crate::model::{Accounting, Area, Date, FieldIssue, HandBack, PointLayer, RejectReason, StatColumns};

/// Values CBS uses for "secret" or "missing" in its GeoPackages and shapefiles.
pub const CBS_SENTINELS: [f64; 4] = [-99997.0, -99995.0, -99_999_999.0, -99_999_998.0];

const ID_FIELDS: &[&str] = &[
    "buurtcode",
    "bu_code",
    "cbs-buurtcode",
    "wijkcode",
    "wk_code",
    "gemeentecode",
    "gemeenteco",
    "gm_code",
    "statcode",
    "regiocode",
    "code",
    "postcode",
    "pc4",
    "pc6",
    "id",
];
const NAME_FIELDS: &[&str] =
    &["buurtnaam", "bu_naam", "wijknaam", "wk_naam", "gemeentenaam", "gemeentena", "gm_naam", "statnaam", "naam", "name", "regionaam"];

/// How to read one area level.
#[derive(Debug, Clone, Default)]
pub struct AreaSource {
    pub path: PathBuf,
    pub layer: Option<String>,
    pub id_field: Option<String>,
    pub name_field: Option<String>,
    /// A hint for choosing fields and layers: `buurten`, `wijken`, `gemeenten`, ...
    pub level_hint: Option<String>,
}

/// The areas of one layer, in the working CRS, with their numeric attributes.
#[derive(Debug, Clone)]
pub struct AreaRead {
    pub layer: String,
    pub id_field: String,
    pub name_field: Option<String>,
    pub source_crs: String,
    /// The CRS the areas are in now (WKT).
    pub working_wkt: String,
    pub areas: Vec<Area>,
    pub attributes: StatColumns,
    pub warnings: Vec<String>,
}

pub fn open(path: &Path) -> Result<Dataset> {
    open_with(path, &[])
}

fn open_with(path: &Path, open_options: &[&str]) -> Result<Dataset> {
    if crate::config::is_database_path(path) {
        return crate::join::database::connect(&path.to_string_lossy()).map_err(|e| IngestError::input(path, e.message));
    }
    if !path.exists() {
        return Err(IngestError::input(path, "file not found"));
    }
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR,
        open_options: (!open_options.is_empty()).then_some(open_options),
        ..Default::default()
    };
    Dataset::open_ex(path, options).map_err(|e| {
        IngestError::input(path, format!("GDAL cannot open this as a vector file (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...): {e}"))
    })
}

/// The text encoding of a Shapefile's `.dbf`, when GDAL cannot know it: `encoding` when
/// given; else none when a `.cpg` or the DBF's language driver byte (LDID) says it; else
/// UTF-8 when every byte of the records is valid UTF-8, Windows-1252 when not (what
/// ArcGIS and Excel wrote for years). With a note when the encoding was a guess.
pub fn dbf_encoding(path: &Path, given: Option<Encoding>) -> Result<(Option<Encoding>, Option<String>)> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if !matches!(ext.as_str(), "shp" | "dbf") {
        return Ok((None, None));
    }
    if given.is_some() {
        return Ok((given, None));
    }
    let dbf = path.with_extension(if path.extension().is_some_and(|e| e.to_str().is_some_and(|e| e.chars().all(|c| c.is_uppercase()))) {
        "DBF"
    } else {
        "dbf"
    });
    let has_cpg = ["cpg", "CPG"].iter().any(|e| path.with_extension(e).exists());
    let Ok(bytes) = std::fs::read(&dbf) else { return Ok((None, None)) };
    let ldid = bytes.get(29).copied().unwrap_or(0);
    if has_cpg || ldid != 0 {
        return Ok((None, None));
    }
    let header_len = bytes.get(8..10).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let records = bytes.get(header_len..).unwrap_or(&[]);
    if records.is_ascii() {
        return Ok((None, None));
    }
    Ok(if std::str::from_utf8(records).is_ok() {
        (
            Some(Encoding::Utf8),
            Some(format!("{}: no .cpg and no code page in the .dbf; the text is valid UTF-8 and read as such", dbf.display())),
        )
    } else {
        (
            Some(Encoding::Windows1252),
            Some(format!(
                "{}: no .cpg and no code page in the .dbf, and the text is not UTF-8: read as Windows-1252 (set encoding = \"…\" if that is wrong)",
                dbf.display()
            )),
        )
    })
}

pub fn layer_names(ds: &Dataset) -> Vec<String> {
    ds.layers().map(|l| l.name()).collect()
}

/// Pick the layer: the named one, else the only one, else the one named like the hint.
fn choose_layer(ds: &Dataset, path: &Path, wanted: Option<&str>, hint: Option<&str>) -> Result<String> {
    let names = layer_names(ds);
    let listing = || format!("the layers are: {}", if names.is_empty() { "(none)".into() } else { names.join(", ") });
    if let Some(w) = wanted {
        return names
            .iter()
            .find(|n| *n == w)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(w)))
            .cloned()
            .ok_or_else(|| IngestError::input(path, format!("no layer '{w}'; {}", listing())));
    }
    if names.len() == 1 {
        return Ok(names[0].clone());
    }
    if let Some(h) = hint
        && let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(h))
    {
        return Ok(n.clone());
    }
    Err(IngestError::input(path, format!("the file has {} layers: say which one; {}", names.len(), listing())))
}

fn field_names(layer: &gdal::vector::Layer) -> Vec<(String, OGRFieldType::Type)> {
    layer.defn().fields().map(|f| (f.name(), f.field_type())).collect()
}

fn find_field(fields: &[(String, OGRFieldType::Type)], name: &str) -> Option<usize> {
    fields.iter().position(|(f, _)| f == name).or_else(|| fields.iter().position(|(f, _)| f.eq_ignore_ascii_case(name)))
}

/// The preferred field names, those matching the level hint first (`buurt` → `buurtcode`).
fn ordered<'a>(candidates: &[&'a str], hint: Option<&str>) -> Vec<&'a str> {
    let key = hint.map(|h| {
        let h = h.to_ascii_lowercase();
        if h.starts_with("buurt") || h.starts_with("bu") {
            "bu"
        } else if h.starts_with("wijk") || h.starts_with("wk") {
            "w"
        } else if h.starts_with("gemeente") || h.starts_with("gm") {
            "g"
        } else {
            ""
        }
    });
    let mut out: Vec<&str> = candidates.to_vec();
    if let Some(k) = key.filter(|k| !k.is_empty()) {
        out.sort_by_key(|c| {
            let c = c.trim_start_matches("cbs-");
            !(c.starts_with(k) || (k == "w" && c.starts_with("wk")) || (k == "g" && c.starts_with("gm")))
        });
    }
    out
}

fn value_as_string(v: Option<FieldValue>) -> Option<String> {
    match v? {
        FieldValue::StringValue(s) => Some(s.trim().to_string()),
        FieldValue::IntegerValue(i) => Some(i.to_string()),
        FieldValue::Integer64Value(i) => Some(i.to_string()),
        FieldValue::RealValue(r) if r.fract() == 0.0 && r.abs() < 1e15 => Some(format!("{}", r as i64)),
        FieldValue::RealValue(r) => Some(r.to_string()),
        FieldValue::DateValue(d) => Some(d.to_string()),
        FieldValue::DateTimeValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn value_as_f64(v: Option<FieldValue>) -> Option<f64> {
    let x = match v? {
        FieldValue::IntegerValue(i) => i as f64,
        FieldValue::Integer64Value(i) => i as f64,
        FieldValue::RealValue(r) => r,
        FieldValue::StringValue(s) => match super::text::parse_number(s.as_bytes()) {
            super::text::Num::Value(v) => v,
            _ => return None,
        },
        _ => return None,
    };
    (x.is_finite() && !CBS_SENTINELS.contains(&x)).then_some(x)
}

fn is_numeric(t: OGRFieldType::Type) -> bool {
    t == OGRFieldType::OFTInteger || t == OGRFieldType::OFTInteger64 || t == OGRFieldType::OFTReal
}

/// The layer's CRS, or the working CRS with a warning when the file declares none.
fn layer_srs(layer: &gdal::vector::Layer, working: &SpatialRef, warnings: &mut Vec<String>, what: &str) -> SpatialRef {
    match layer.spatial_ref() {
        Some(mut s) => {
            s.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
            s
        }
        None => {
            warnings.push(format!("{what}: the layer declares no CRS; assuming the working CRS {}", crs::label(working)));
            working.clone()
        }
    }
}

/// The layer being read, for messages that name the file, the layer, the feature and the
/// field, and for reading fields with that context.
struct LayerCx<'a> {
    path: &'a Path,
    layer: &'a str,
    fields: &'a [(String, u32)],
}

impl LayerCx<'_> {
    /// Field `i` of a feature; when GDAL cannot read it, an error naming all of the above.
    fn field(&self, feature: &gdal::vector::Feature, i: usize) -> Result<Option<FieldValue>> {
        feature.field(i).map_err(|e| {
            let fid = feature.fid().map_or_else(String::new, |f| format!("feature {f}, "));
            IngestError::layer(self.path, self.layer, format!("{fid}field '{}': GDAL cannot read it: {e}", self.fields[i].0))
        })
    }

    /// The index of field `name` (compared as `find_field` does), or an error that lists
    /// the layer's fields.
    fn require(&self, name: &str) -> Result<usize> {
        find_field(self.fields, name)
            .ok_or_else(|| IngestError::layer(self.path, self.layer, format!("no field '{name}'; the fields are: {}", self.listing())))
    }

    fn listing(&self) -> String {
        self.fields.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn what(&self) -> String {
        format!("{}, layer '{}'", self.path.display(), self.layer)
    }

    fn crs(&self, definition: &str) -> Result<SpatialRef> {
        crs::spatial_ref(definition).map_err(IngestError::crs(self.path))
    }

    fn reprojector(&self, source: &SpatialRef, target: &SpatialRef) -> Result<Reprojector> {
        Reprojector::new(source, target).map_err(IngestError::crs(self.path))
    }
}

/// The fields of an area layer that `read_areas` uses.
struct AreaFields<'a> {
    id: usize,
    name: Option<usize>,
    water: Option<usize>,
    numeric: &'a [usize],
}

/// Read one area level into the working CRS; with `None`, keep the layer's own CRS
/// (RD New when it declares none), which `AreaRead::working_wkt` then names.
pub fn read_areas(src: &AreaSource, working: Option<&SpatialRef>) -> Result<AreaRead> {
    let path = src.path.as_path();
    let ds = open(path)?;
    let layer_name = choose_layer(&ds, path, src.layer.as_deref(), src.level_hint.as_deref())?;
    let mut layer = ds.layer_by_name(&layer_name).map_err(IngestError::gdal(path, &layer_name))?;
    let fields = field_names(&layer);
    let cx = LayerCx { path, layer: &layer_name, fields: &fields };
    let (id_idx, name_idx) = area_fields(src, &cx)?;
    let numeric: Vec<usize> = (0..fields.len()).filter(|&i| i != id_idx && is_numeric(fields[i].1)).collect();
    let wanted = AreaFields { id: id_idx, name: name_idx, water: find_field(&fields, "water"), numeric: &numeric };

    let mut warnings = Vec::new();
    let rd = cx.crs(crs::RD_NEW)?;
    let srs = layer_srs(&layer, working.unwrap_or(&rd), &mut warnings, &cx.what());
    let working = working.unwrap_or(&srs);
    let reprojector = cx.reprojector(&srs, working)?;
    let AreaFeatures { areas, mut attrs, skips, .. } = area_features(&mut layer, &cx, &wanted, &reprojector)?;

    warnings.extend(skips.warnings(&cx.what(), &fields[id_idx].0, &reprojector.source_label));
    let mut attributes = StatColumns::default();
    for (col, &fi) in numeric.iter().enumerate() {
        let name = fields[fi].0.clone();
        // The file's name, not its path: sources are shown on public endpoints.
        let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
        attributes.sources.insert(name.clone(), format!("{file}, layer '{layer_name}', field {name}"));
        attributes.columns.insert(name, std::mem::take(&mut attrs[col]));
    }
    Ok(AreaRead {
        id_field: fields[id_idx].0.clone(),
        name_field: name_idx.map(|i| fields[i].0.clone()),
        source_crs: crs::label(&srs),
        working_wkt: working
            .to_wkt()
            .map_err(|e| crs::CrsError { crs: crs::label(working), message: format!("cannot be written as WKT: {e}") })
            .map_err(IngestError::crs(path))?,
        layer: layer_name,
        areas,
        attributes,
        warnings,
    })
}

/// The areas of a layer, their numeric attributes (per field, aligned with the areas) and
/// what was skipped.
struct AreaFeatures {
    areas: Vec<Area>,
    attrs: Vec<Vec<Option<f64>>>,
    skips: AreaSkips,
    by_code: HashMap<String, usize>,
}

/// A feature of an area layer as read, before its geometry is checked.
struct RawArea {
    code: String,
    name: Option<String>,
    attrs: Vec<Option<f64>>,
    wkb: Option<Vec<u8>>,
}

/// Features are checked on all cores in batches of this many (bounded memory for WKB).
const AREA_BATCH: usize = 2048;

/// Every feature of an area layer as an area (parts of a repeated code merged), its
/// numeric attributes, and what was skipped and why. GDAL reads the features on this
/// thread; validity (GEOS) and the conversion to `geo` types, most of the work on
/// detailed polygons, run on all cores, a batch at a time, each geometry parsed again
/// from its WKB.
fn area_features(layer: &mut gdal::vector::Layer, cx: &LayerCx, f: &AreaFields, reprojector: &Reprojector) -> Result<AreaFeatures> {
    let mut out =
        AreaFeatures { areas: Vec::new(), attrs: vec![Vec::new(); f.numeric.len()], skips: AreaSkips::default(), by_code: HashMap::new() };
    let mut raw = Vec::with_capacity(AREA_BATCH);
    let progress = Progress::items(layer.feature_count(), &format!("reading {}", cx.what()));
    for (n, feature) in layer.features().enumerate() {
        if n % 1024 == 0 {
            progress.set(n as u64);
        }
        if let Some(w) = f.water
            && value_as_string(cx.field(&feature, w)?).is_some_and(|v| v.eq_ignore_ascii_case("JA"))
        {
            out.skips.water += 1;
            continue;
        }
        let Some(code) = value_as_string(cx.field(&feature, f.id)?).map(|c| crate::model::clean_code(&c)).filter(|c| !c.is_empty()) else {
            out.skips.no_id += 1;
            continue;
        };
        let name = f.name.and_then(|i| value_as_string(feature.field(i).ok().flatten()));
        let attrs = f.numeric.iter().map(|&fi| Ok(value_as_f64(cx.field(&feature, fi)?))).collect::<Result<Vec<_>>>()?;
        raw.push(RawArea { code, name, attrs, wkb: feature.geometry().and_then(|g| g.wkb().ok()) });
        if raw.len() == AREA_BATCH {
            out.add(std::mem::take(&mut raw), reprojector);
        }
    }
    out.add(raw, reprojector);
    progress.finish();
    Ok(out)
}

impl AreaFeatures {
    /// Check a batch on all cores, then add it in file order.
    fn add(&mut self, raw: Vec<RawArea>, reprojector: &Reprojector) {
        use rayon::prelude::*;
        let checked: Vec<(Validity, Option<MultiPolygon<f64>>)> = raw
            .par_iter()
            .map(|r| match r.wkb.as_deref() {
                // Most areas: read straight from the WKB and shown valid without GEOS.
                Some(b) if let Some(mp) = super::validity::multipolygon(b).filter(super::validity::surely_valid) => {
                    (Validity::Valid, Some(mp))
                }
                _ => checked_by_geos(r.wkb.as_deref()),
            })
            .collect();
        for (r, (validity, geometry)) in raw.into_iter().zip(checked) {
            self.add_one(r, validity, geometry, reprojector);
        }
    }

    fn add_one(&mut self, r: RawArea, validity: Validity, geometry: Option<MultiPolygon<f64>>, reprojector: &Reprojector) {
        let (code, skips) = (r.code, &mut self.skips);
        match validity {
            Validity::Valid => {}
            Validity::Repaired => skips.repaired.push(code.clone()),
            Validity::Invalid => skips.invalid.push(code.clone()),
        }
        let Some(geometry) = geometry else {
            skips.not_polygon.push(code);
            return;
        };
        if let Some(c) = geometry.0.first().and_then(|p| p.exterior().0.first())
            && !reprojector.in_valid_range(c.x, c.y)
        {
            skips.out_of_range.push(code.clone());
        }
        let Some(geometry) = reprojector.multipolygon(&geometry) else {
            skips.not_polygon.push(code);
            return;
        };
        if let Some(&existing) = self.by_code.get(&code) {
            *skips.duplicates.entry(code.clone()).or_insert(1) += 1;
            let area: &mut Area = &mut self.areas[existing];
            area.geometry.0.extend(geometry.0);
            area.geometry_km2 = area.geometry.unsigned_area() / 1e6;
            return;
        }
        self.attrs.iter_mut().zip(r.attrs).for_each(|(col, v)| col.push(v));
        self.by_code.insert(code.clone(), self.areas.len());
        let geometry_km2 = geometry.unsigned_area() / 1e6;
        self.areas.push(Area { code, name: r.name, geometry, geometry_km2, country: None });
    }
}

/// Validity as GEOS decides it (through GDAL), and the geometry as GDAL converts it; an
/// invalid one repaired where GEOS can.
fn checked_by_geos(wkb: Option<&[u8]>) -> (Validity, Option<MultiPolygon<f64>>) {
    let flat = |mut g: gdal::vector::Geometry| {
        g.flatten_to_2d();
        g
    };
    match wkb.and_then(|b| gdal::vector::Geometry::from_wkb(b).ok()).map(flat) {
        Some(g) if g.is_valid() => (Validity::Valid, g.to_geo().ok().and_then(polygons_of)),
        Some(g) => match repaired(&g) {
            Some(mp) => (Validity::Repaired, Some(mp)),
            None => (Validity::Invalid, g.to_geo().ok().and_then(polygons_of)),
        },
        None => (Validity::Valid, None),
    }
}

fn list_ids(ids: &[String]) -> String {
    const SHOWN: usize = 20;
    if ids.len() <= SHOWN { ids.join(", ") } else { format!("{}, ... ({} more)", ids[..SHOWN].join(", "), ids.len() - SHOWN) }
}

/// A feature that became a point: x, y, weight, date.
type FeaturePoint = (f64, f64, f64, Option<Date>);

/// What a point must pass to be a real location in its CRS.
struct RangeCheck<'a> {
    reprojector: &'a Reprojector,
    rd: &'a Reprojector,
    expect_lonlat: bool,
}

/// One feature as (x, y, weight, date), or `None` after accounting for why it is not a
/// point: no or the wrong geometry, coordinates out of range. An empty or unreadable
/// weight (NaN) or date (`None`) is named and the feature kept, as in every format.
#[allow(clippy::too_many_arguments)]
fn read_feature(
    feature: &gdal::vector::Feature,
    row: u64,
    xy_i: Option<(usize, usize)>,
    check: &RangeCheck,
    weight_i: Option<usize>,
    date_i: Option<usize>,
    timezone: TimeZone,
    cx: &LayerCx,
    acc: &mut Accounting,
) -> Result<Option<FeaturePoint>> {
    let fields = cx.fields;
    let xy = match xy_i {
        Some((xi, yi)) => match (value_as_f64(cx.field(feature, xi)?), value_as_f64(cx.field(feature, yi)?)) {
            (Some(x), Some(y)) => Ok((x, y)),
            _ => Err(RejectReason::MissingCoordinate),
        },
        None => match feature.geometry().map(to_geo_2d) {
            None => Err(RejectReason::NoGeometry),
            Some(Ok(Geometry::Point(p))) => Ok((p.x(), p.y())),
            Some(Ok(Geometry::MultiPoint(mp))) if mp.0.len() == 1 => Ok((mp.0[0].x(), mp.0[0].y())),
            Some(Ok(_)) => Err(RejectReason::NotAPoint),
            Some(Err(_)) => Err(RejectReason::NoGeometry),
        },
    };
    let (x, y) = match xy {
        Ok(v) => v,
        Err(reason) => {
            acc.reject(row, reason, || match feature.fid() {
                Some(fid) if fid != row => format!("feature {row} (fid {fid})"),
                _ => format!("feature {row}"),
            });
            return Ok(None);
        }
    };
    if !x.is_finite() || !y.is_finite() {
        acc.reject(row, RejectReason::NotFinite, || format!("feature {row}: ({x}, {y})"));
        return Ok(None);
    }
    if let Some(reason) = check_range(check.reprojector, check.rd, check.expect_lonlat, x, y) {
        acc.reject(row, reason, || format!("feature {row}: ({x}, {y}) in {}", check.reprojector.source_label));
        return Ok(None);
    }
    let weight = match weight_i {
        None => 1.0,
        Some(i) => match cx.field(feature, i)? {
            None => {
                acc.partial(row, FieldIssue::WeightEmpty, || format!("feature {row}: {} is empty", fields[i].0));
                f64::NAN
            }
            Some(FieldValue::StringValue(t)) if t.trim().is_empty() => {
                acc.partial(row, FieldIssue::WeightEmpty, || format!("feature {row}: {} is empty", fields[i].0));
                f64::NAN
            }
            v => {
                let shown = value_as_string(v.clone()).unwrap_or_default();
                match value_as_f64(v) {
                    Some(w) => w,
                    None => {
                        acc.partial(row, FieldIssue::WeightNotANumber, || format!("feature {row}: {} = '{shown}'", fields[i].0));
                        f64::NAN
                    }
                }
            }
        },
    };
    let date = match date_i {
        None => None,
        // GDAL's own text of a date-time keeps its zone (`…+00`, `…+01`), or none when the
        // file gives none (then it is local).
        Some(i) => match feature.field_as_string(i).ok().flatten() {
            None => None,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => match super::text::parse_date_in(&s, timezone) {
                Some(d) => Some(d),
                None => {
                    acc.partial(row, FieldIssue::DateNotReadable, || format!("feature {row}: {} = '{}'", fields[i].0, s.trim()));
                    None
                }
            },
        },
    };
    Ok(Some((x, y, weight, date)))
}

/// Which fields hold the area id and name: the ones named, else the first familiar one.
fn area_fields(src: &AreaSource, cx: &LayerCx) -> Result<(usize, Option<usize>)> {
    let hint = src.level_hint.as_deref().or(Some(cx.layer));
    let id_idx = match &src.id_field {
        Some(f) => cx.require(f)?,
        None => ordered(ID_FIELDS, hint).iter().find_map(|c| find_field(cx.fields, c)).ok_or_else(|| {
            let m = format!("cannot tell which field holds the area id: set id_field (--id-field); the fields are: {}", cx.listing());
            IngestError::layer(cx.path, cx.layer, m)
        })?,
    };
    let name_idx = match &src.name_field {
        Some(f) => Some(cx.require(f)?),
        None => ordered(NAME_FIELDS, hint).iter().find_map(|c| find_field(cx.fields, c)),
    };
    Ok((id_idx, name_idx))
}

/// The polygons of a geometry (a polygon, a multipolygon, the polygons of a collection).
/// What the validity check found: valid, repaired, or invalid and used as it is.
#[derive(Debug, Clone, Copy)]
enum Validity {
    Valid,
    Repaired,
    Invalid,
}

/// An invalid polygon repaired as GDAL's `OGR_G_MakeValid` (GEOS `MakeValid`, the
/// linework method, GDAL's default) does: the rings noded where they cross, every face
/// they enclose kept, nothing added, so a bow tie becomes its two triangles (which the
/// even-odd rule counts the same, but whose shoelace areas no longer cancel). Its
/// polygons only (collapsed lines and points are dropped); `None` when GEOS cannot repair
/// it or nothing polygonal is left (the polygon is then used as it is).
fn repaired(g: &gdal::vector::Geometry) -> Option<MultiPolygon<f64>> {
    let fixed = g.make_valid(&gdal::cpl::CslStringList::new()).ok()?;
    polygons_of(fixed.to_geo().ok()?).filter(|mp| !mp.0.is_empty())
}

/// A GDAL geometry as `geo` types, its Z and M dropped (GDAL's conversion refuses 3D and
/// measured geometries: a PointZ or PolygonZ file would lose every feature).
pub(crate) fn to_geo_2d(g: &gdal::vector::Geometry) -> gdal::errors::Result<Geometry<f64>> {
    use gdal::vector::{geometry_type_has_m, geometry_type_has_z};
    let t = g.geometry_type();
    if geometry_type_has_z(t) || geometry_type_has_m(t) {
        let mut flat = g.clone();
        flat.flatten_to_2d();
        return flat.to_geo();
    }
    g.to_geo()
}

fn polygons_of(g: Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(mp) => Some(mp),
        Geometry::GeometryCollection(gc) => Some(MultiPolygon(
            gc.0.into_iter()
                .flat_map(|g| match g {
                    Geometry::Polygon(p) => vec![p],
                    Geometry::MultiPolygon(mp) => mp.0,
                    _ => vec![],
                })
                .collect(),
        )),
        _ => None,
    }
}

/// What reading an area layer left out or found wrong, for the warnings.
#[derive(Default)]
struct AreaSkips {
    water: usize,
    no_id: usize,
    not_polygon: Vec<String>,
    /// Invalid and repaired (`repaired`).
    repaired: Vec<String>,
    /// Invalid, not repairable: used as they are.
    invalid: Vec<String>,
    out_of_range: Vec<String>,
    duplicates: BTreeMap<String, usize>,
}

impl AreaSkips {
    fn warnings(mut self, what: &str, id_field: &str, crs_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.water > 0 {
            out.push(format!("{what}: skipped {} water rows (water = 'JA'); each code keeps its land part", self.water));
        }
        if self.no_id > 0 {
            out.push(format!("{what}: skipped {} features with an empty '{id_field}'", self.no_id));
        }
        if !self.not_polygon.is_empty() {
            out.push(format!(
                "{what}: skipped {} features without a usable polygon geometry: {}",
                self.not_polygon.len(),
                list_ids(&self.not_polygon)
            ));
        }
        if !self.out_of_range.is_empty() {
            out.push(format!(
                "{what}: {} areas lie outside the valid area of the layer's CRS ({crs_label}): is the CRS right? (GeoJSON without a crs member is WGS84) {}",
                self.out_of_range.len(),
                list_ids(&self.out_of_range)
            ));
        }
        if !self.duplicates.is_empty() {
            let ids: Vec<String> = self.duplicates.iter().map(|(c, n)| format!("{c} (×{n})")).collect();
            out.push(format!(
                "{what}: {} duplicated ids, their polygons merged into one area with the first row's attributes: {}",
                self.duplicates.len(),
                list_ids(&ids)
            ));
        }
        self.repaired.sort();
        self.repaired.dedup();
        if !self.repaired.is_empty() {
            out.push(format!(
                "{what}: {} invalid polygons (self-intersections, ...) repaired as GDAL/GEOS MakeValid does (every enclosed face kept, nothing added), {id_field}: {}",
                self.repaired.len(),
                list_ids(&self.repaired)
            ));
        }
        self.invalid.sort();
        self.invalid.dedup();
        if !self.invalid.is_empty() {
            out.push(format!(
                "{what}: {} invalid polygons (self-intersections, too few points, ...) GEOS cannot repair, used as they are with the even-odd rule, {id_field}: {}",
                self.invalid.len(),
                list_ids(&self.invalid)
            ));
        }
        out
    }
}

/// The columns of a point layer that `read_points` uses.
struct PointFields {
    xy: Option<(usize, usize)>,
    lonlat: bool,
    date: Option<usize>,
    category: Option<usize>,
    weight: Option<usize>,
    id: Option<usize>,
}

impl PointFields {
    fn find(source: &PointSource, cx: &LayerCx) -> Result<PointFields> {
        let need = |name: Option<&str>| -> Result<Option<usize>> { name.map(|n| cx.require(n)).transpose() };
        let pair = |a: &str, b: &str| -> Result<Option<(usize, usize)>> { Ok(need(Some(a))?.zip(need(Some(b))?)) };
        let (xy, lonlat) = match &source.coords {
            Coords::XY { x, y, .. } => (pair(x, y)?, false),
            Coords::LonLat { lon, lat } => (pair(lon, lat)?, true),
            Coords::Auto { .. } => (None, false),
            Coords::Both { .. } | Coords::Text { .. } => {
                return Err(IngestError::input(
                    cx.path,
                    "x/y and lon/lat together are for CSV files; a GeoPackage, GeoJSON or Shapefile has its own geometry, or name one pair",
                ));
            }
        };
        Ok(PointFields {
            xy,
            lonlat,
            date: need(source.date.as_deref())?,
            category: need(source.category.as_deref())?,
            weight: need(source.weight.as_deref())?,
            id: need(source.id_column.as_deref())?,
        })
    }
}

/// Read a point layer: with its own geometry (GeoPackage, GeoJSON, Shapefile, ...), or,
/// for a layer without geometry (a lone `.dbf`, a GeoPackage attribute table) or with the
/// location in a text column, as a table through the same detection as a CSV file.
pub fn read_points(source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    let path = source.path.as_path();
    let (encoding, encoding_note) = dbf_encoding(path, source.encoding)?;
    let open_option = encoding.map(|e| match e {
        Encoding::Utf8 => "ENCODING=UTF-8",
        Encoding::Windows1252 => "ENCODING=CP1252",
    });
    let ds = open_with(path, open_option.as_slice())?;
    // A database layer may be a query (`sql`): its result set is read as any layer.
    let mut result_set;
    let mut named;
    let (layer_name, layer): (String, &mut gdal::vector::Layer) = match &source.sql {
        Some(sql) => {
            result_set = ds
                .execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
                .map_err(|e| IngestError::layer(path, "sql", crate::join::database::explain(&e.to_string())))?
                .ok_or_else(|| IngestError::layer(path, "sql", "the query returns no rows"))?;
            ("sql".to_string(), &mut result_set)
        }
        None => {
            // A database's tables go by `schema.table` (GDAL lists those of `public`
            // without the schema): asked for by name.
            let database = crate::config::is_database_path(path);
            let layer_name = match (database, source.layer.as_deref()) {
                (true, Some(t)) => t.to_string(),
                _ => choose_layer(&ds, path, source.layer.as_deref(), None)?,
            };
            named = ds.layer_by_name(&layer_name).map_err(|e| match database {
                true => IngestError::layer(
                    path,
                    &layer_name,
                    crate::join::database::explain(&format!("relation {layer_name} does not exist ({e})")),
                ),
                false => IngestError::gdal(path, &layer_name)(e),
            })?;
            (layer_name, &mut named)
        }
    };
    let fields = field_names(layer);
    let cx = LayerCx { path, layer: &layer_name, fields: &fields };
    let no_geometry = layer.defn().geom_fields().count() == 0;
    if no_geometry || matches!(source.coords, Coords::Text { .. } | Coords::Both { .. }) {
        let mut table = attribute_table(layer, &cx)?;
        table.notes.extend(encoding_note);
        return csv_points::read_table(table, source, working, id);
    }
    let f = PointFields::find(source, &cx)?;
    let mut out = PointLayer { id: id.to_string(), ..Default::default() };
    out.accounting.notes.extend(encoding_note);
    if source.hand_back {
        let mut header: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
        header.push("geometrie (WKT)".into());
        out.accounting.handback = Some(HandBack { header, ..Default::default() });
    }
    let srs = match &source.coords {
        Coords::XY { crs: Some(c), .. } | Coords::Both { crs: Some(c), .. } | Coords::Auto { crs: Some(c) } => cx.crs(c)?,
        Coords::XY { crs: None, .. } | Coords::Both { crs: None, .. } => cx.crs(crs::RD_NEW)?,
        Coords::LonLat { .. } => cx.crs(crs::WGS84)?,
        Coords::Text { .. } => unreachable!("read as a table above"),
        Coords::Auto { crs: None } => layer_srs(layer, working, &mut out.accounting.warnings, &cx.what()),
    };
    let reprojector = cx.reprojector(&srs, working)?;
    if let (Some(h), Some(layer_srs)) = (out.accounting.handback.as_mut(), layer.spatial_ref()) {
        h.geometry_crs = layer_srs.to_wkt().ok();
    }
    let rd = cx.crs(crs::RD_NEW)?;
    let rd_check = cx.reprojector(&rd, &rd)?;
    let check = RangeCheck { reprojector: &reprojector, rd: &rd_check, expect_lonlat: f.lonlat || srs.is_geographic() };
    point_features(layer, &cx, &f, &check, source, &mut out)?;
    super::reproject_points(&mut out, &reprojector);
    super::warn_if_mostly_swapped(&mut out.accounting, path);
    Ok(out)
}

/// A layer's attributes as a table of text (GDAL's own text of each field), numbered by
/// feature.
fn attribute_table(layer: &mut gdal::vector::Layer, cx: &LayerCx) -> Result<Table> {
    let mut table =
        Table { what: format!("layer '{}'", cx.layer), header: cx.fields.iter().map(|(n, _)| n.clone()).collect(), ..Default::default() };
    for (n, feature) in layer.features().enumerate() {
        let mut record = csv::ByteRecord::new();
        for i in 0..cx.fields.len() {
            let text = feature.field_as_string(i).map_err(|e| {
                IngestError::layer(cx.path, cx.layer, format!("feature {}, field '{}': GDAL cannot read it: {e}", n + 1, cx.fields[i].0))
            })?;
            record.push_field(text.unwrap_or_default().as_bytes());
        }
        table.records.push((n as u64 + 1, record));
    }
    Ok(table)
}

/// A feature's fields as text, and its geometry as WKT: for the hand-back file and the
/// duplicate check.
fn feature_texts(feature: &gdal::vector::Feature, n_fields: usize) -> Vec<String> {
    let mut out: Vec<String> = (0..n_fields).map(|i| feature.field_as_string(i).ok().flatten().unwrap_or_default()).collect();
    out.push(feature.geometry().and_then(|g| g.wkt().ok()).unwrap_or_default());
    out
}

/// Every feature of a point layer into `out`: a point, or a rejected row with its reason.
fn point_features(
    layer: &mut gdal::vector::Layer,
    cx: &LayerCx,
    f: &PointFields,
    check: &RangeCheck,
    source: &PointSource,
    out: &mut PointLayer,
) -> Result<()> {
    let identities = source.identities;
    let mut row_hashes: Vec<u64> = Vec::new();
    let mut ids: Vec<(u64, String)> = Vec::new();
    let mut dates: Vec<Option<Date>> = Vec::new();
    let mut cats: Vec<u32> = Vec::new();
    let mut cat_lookup = crate::model::CategoryIndex::default();
    let mut weights: Vec<f64> = Vec::new();
    let mut identity: Vec<u64> = Vec::new();
    let progress = Progress::items(layer.feature_count(), &format!("reading {}", cx.what()));
    for (n, feature) in layer.features().enumerate() {
        let row = n as u64 + 1;
        out.accounting.rows += 1;
        if n % 4096 == 0 {
            progress.set(n as u64);
        }
        let read = read_feature(&feature, row, f.xy, check, f.weight, f.date, source.timezone(), cx, &mut out.accounting)?;
        // Every feature's content, for exact copies (and the hand-back file).
        let texts = feature_texts(&feature, cx.fields.len());
        row_hashes.push(xxhash_rust::xxh3::xxh3_64(texts.join("\u{1f}").as_bytes()));
        if let Some(i) = f.id
            && !texts[i].trim().is_empty()
        {
            ids.push((row, texts[i].trim().to_string()));
        }
        out.accounting.attach_fields(row, || texts);
        let Some((x, y, weight, date)) = read else { continue };
        if let Some(i) = f.category {
            let c = value_as_string(cx.field(&feature, i)?).unwrap_or_default();
            cats.push(cat_lookup.index(&c, &mut out.categories));
        }
        if f.date.is_some() {
            dates.push(date);
        }
        if f.weight.is_some() {
            weights.push(weight);
        }
        if identities {
            let id = match f.id {
                Some(i) => crate::indicators::ckm::identity_of_id(value_as_string(cx.field(&feature, i)?).unwrap_or_default().as_bytes()),
                None => feature.fid().unwrap_or(row),
            };
            identity.push(id);
        }
        out.xs.push(x);
        out.ys.push(y);
        out.rows.push(row);
    }
    progress.finish();
    csv_points::duplicate_rows(&row_hashes, &|i| i as u64 + 1, &mut out.accounting, cx.path);
    if let Some(i) = f.id {
        csv_points::repeated_ids(&ids, &cx.fields[i].0, &mut out.accounting, cx.path);
    }
    out.identity = identities.then_some(identity);
    out.dates = f.date.map(|_| dates);
    out.category_idx = f.category.map(|_| cats);
    out.weights = f.weight.map(|_| weights);
    Ok(())
}
