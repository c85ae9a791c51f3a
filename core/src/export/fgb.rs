//! FlatGeobuf output: one level with its indicators, the same fields and values as the
//! OGC API items, the GeoJSON and the GeoPackage's level layers (`snapshot::area_properties`:
//! code, name, country, the CBS codes it nests in, every public indicator's latest
//! published value, numerator, flags and denominator), in EPSG:4326 with longitude first
//! (x = lon, y = lat, as FlatGeobuf and GeoJSON order them), the CRS in the header, and the
//! packed Hilbert R-tree that lets GDAL and QGIS read a window of it (also by HTTP Range
//! requests).
//!
//! Protected layers' values are their published (perturbed) values, as everything the
//! server publishes. Restricted layers' indicators are left out unless the caller asks
//! (`include_restricted`, only for `export --include-restricted`; the server never does).
//!
//! The features go through the `flatgeobuf` crate's `FgbWriter`, which keeps them in a
//! temporary file (not in memory) until the index is known, and then copies them to `out`
//! in index order: memory is the index (40 bytes a feature), whatever the size of the level.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use flatgeobuf::geozero::error::Result as GeozeroResult;
use flatgeobuf::geozero::{ColumnValue, GeomProcessor, GeozeroGeometry, PropertyProcessor};
use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
use geo_types::MultiPolygon;

use super::ExportError;
use crate::model::Prop;
use crate::snapshot::Snapshot;

/// The media type of FlatGeobuf (as GDAL, QGIS and the FlatGeobuf project use it).
pub const MEDIA_TYPE: &str = "application/flatgeobuf";

/// Level `level` of `snap` as FlatGeobuf, every area, into `out`.
pub fn write_level_fgb(snap: &Snapshot, level: usize, include_restricted: bool, out: &mut impl Write) -> Result<(), ExportError> {
    let all: Vec<usize> = (0..snap.levels[level].areas.len()).collect();
    write_areas_fgb(snap, level, &all, include_restricted, out)
}

/// The areas `areas` (indices into the level, in any order) of level `level` as
/// FlatGeobuf into `out`: a complete file of those features (for a bbox or a page of the
/// OGC API). The columns are those of the whole level, so every file of a level has the
/// same schema.
pub fn write_areas_fgb(
    snap: &Snapshot,
    level: usize,
    areas: &[usize],
    include_restricted: bool,
    out: &mut impl Write,
) -> Result<(), ExportError> {
    let lv = &snap.levels[level];
    let path = || PathBuf::from(format!("{}.fgb", lv.id));
    let fail = |e: flatgeobuf::Error| ExportError::Write { path: path(), source: fgb_io_error(e) };
    let props = |a: usize| -> Cow<'_, [(String, Prop)]> {
        if include_restricted {
            Cow::Owned(crate::snapshot::properties_of(lv, level, &snap.indicators, a, true))
        } else {
            Cow::Borrowed(snap.tiles.area_props(level, a))
        }
    };
    let columns = columns(snap, level, include_restricted);
    let title = lv.title.clone();
    let description = format!("{}: {} ({} areas), data version {}", snap.name, lv.title, lv.areas.len(), snap.version);
    let metadata = serde_json::json!({
        "generator": format!("buurtmeter {}", env!("CARGO_PKG_VERSION")),
        "project": snap.name,
        "level": lv.id,
        "data_version": snap.version,
    })
    .to_string();
    let options = FgbWriterOptions {
        write_index: true,
        detect_type: false,
        promote_to_multi: true,
        crs: FgbCrs { org: Some("EPSG"), code: 4326, name: Some("WGS 84"), ..Default::default() },
        title: Some(&title),
        description: Some(&description),
        metadata: Some(&metadata),
        ..Default::default()
    };
    let mut fgb = FgbWriter::create_with_options(&lv.id, GeometryType::MultiPolygon, options).map_err(fail)?;
    for (name, text) in &columns {
        fgb.add_column(name, if *text { ColumnType::String } else { ColumnType::Double }, |_, c| c.nullable = true);
    }
    for &a in areas {
        let p = props(a);
        let mut err = None;
        fgb.add_feature_geom(Rings(&snap.wgs84[level][a]), |f| {
            for (i, (name, text)) in columns.iter().enumerate() {
                let Some((_, v)) = p.iter().find(|(k, _)| k == name) else { continue };
                let r = match (v, text) {
                    (Prop::Str(s), true) => f.property(i, name, &ColumnValue::String(s)),
                    (Prop::Num(x), false) => f.property(i, name, &ColumnValue::Double(*x)),
                    (Prop::Int(x), false) => f.property(i, name, &ColumnValue::Double(*x as f64)),
                    // A number in a column that is text elsewhere: its text.
                    (Prop::Num(x), true) => f.property(i, name, &ColumnValue::String(&super::csv_out::fmt_num(*x))),
                    (Prop::Int(x), true) => f.property(i, name, &ColumnValue::String(&x.to_string())),
                    (Prop::Str(_), false) => unreachable!("a column with any text is a text column"),
                };
                if let Err(e) = r {
                    err.get_or_insert(e);
                }
            }
        })
        .map_err(|e| ExportError::Write { path: path(), source: std::io::Error::other(format!("area {}: {e}", lv.areas[a].code)) })?;
        if let Some(e) = err {
            return Err(ExportError::Write { path: path(), source: std::io::Error::other(format!("area {}: {e}", lv.areas[a].code)) });
        }
    }
    fgb.write(out).map_err(fail)
}

/// The columns of a level: every property any of its areas has, in the order they first
/// appear (the tiles' field order), text when any area has text there.
fn columns(snap: &Snapshot, level: usize, include_restricted: bool) -> Vec<(String, bool)> {
    let lv = &snap.levels[level];
    let mut cols: Vec<(String, bool)> = Vec::new();
    let mut add = |props: &[(String, Prop)]| {
        for (k, v) in props {
            let text = matches!(v, Prop::Str(_));
            match cols.iter_mut().find(|(c, _)| c == k) {
                Some((_, t)) => *t |= text,
                None => cols.push((k.clone(), text)),
            }
        }
    };
    for a in 0..lv.areas.len() {
        if include_restricted {
            add(&crate::snapshot::properties_of(lv, level, &snap.indicators, a, true));
        } else {
            add(snap.tiles.area_props(level, a));
        }
    }
    if cols.is_empty() {
        cols.push(("code".into(), true));
    }
    cols
}

fn fgb_io_error(e: flatgeobuf::Error) -> std::io::Error {
    match e {
        flatgeobuf::Error::IO(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

/// A MultiPolygon as geozero events (what `FgbWriter` takes), without geozero's geo-types
/// feature.
struct Rings<'a>(&'a MultiPolygon<f64>);

impl GeozeroGeometry for Rings<'_> {
    fn process_geom<P: GeomProcessor>(&self, p: &mut P) -> GeozeroResult<()> {
        p.multipolygon_begin(self.0.0.len(), 0)?;
        for (pi, poly) in self.0.0.iter().enumerate() {
            p.polygon_begin(false, poly.interiors().len() + 1, pi)?;
            for (ri, ring) in std::iter::once(poly.exterior()).chain(poly.interiors()).enumerate() {
                p.linestring_begin(false, ring.0.len(), ri)?;
                for (ci, c) in ring.0.iter().enumerate() {
                    p.xy(c.x, c.y, ci)?;
                }
                p.linestring_end(false, ri)?;
            }
            p.polygon_end(false, pi)?;
        }
        p.multipolygon_end(0)
    }
}
