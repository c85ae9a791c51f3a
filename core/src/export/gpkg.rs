//! GeoPackage output: one polygon layer per level with the area code and name, the CBS
//! figures behind the indicators and every indicator's latest-period value; plus a
//! table `indicator_values` in long format (every period) for joins in QGIS.

use std::path::Path;

use gdal::DriverManager;
use gdal::errors::GdalError;
use gdal::vector::{Feature, FieldDefn, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal};

use super::ExportError;
use crate::model::Prop;
use crate::snapshot::Snapshot;
use crate::tiles::FieldKind;

/// A field value for [`write_layer`].
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Real(Option<f64>),
    Int(i64),
}

/// Write one layer; `ty` = `wkbNone` (and no geometries) for attribute-only tables.
pub fn write_layer(
    ds: &mut gdal::Dataset,
    name: &str,
    srs: Option<&crate::crs::SpatialRef>,
    ty: OGRwkbGeometryType::Type,
    fields: &[(String, OGRFieldType::Type)],
    rows: impl Iterator<Item = (Option<geo_types::Geometry<f64>>, Vec<Value>)>,
) -> Result<(), GdalError> {
    let mut txn = ds.start_transaction()?;
    let layer = txn.create_layer(LayerOptions { name, srs, ty, options: None })?;
    for (f, t) in fields {
        FieldDefn::new(f, *t)?.add_to_layer(&layer)?;
    }
    let defn = layer.defn();
    for (geom, values) in rows {
        let mut feature = Feature::new(defn)?;
        for (i, v) in values.iter().enumerate() {
            match v {
                Value::Text(s) => feature.set_field_string(i, s)?,
                Value::Real(Some(x)) => feature.set_field_double(i, *x)?,
                Value::Real(None) => feature.set_field_null(i)?,
                Value::Int(x) => feature.set_field_integer64(i, *x)?,
            }
        }
        if let Some(g) = geom {
            feature.set_geometry(g.to_gdal()?)?;
        }
        feature.create(&layer)?;
    }
    txn.commit()?;
    Ok(())
}

pub fn create(path: &Path) -> Result<gdal::Dataset, ExportError> {
    if path.exists() {
        std::fs::remove_file(path).map_err(ExportError::write(path))?;
    }
    let create = || DriverManager::get_driver_by_name("GPKG")?.create_vector_only(path);
    create().map_err(|source| ExportError::Create { path: path.to_path_buf(), source })
}

/// The hand-back rows (`export::write_hand_back`) as a GeoPackage layer `rejected`: the
/// row's fields as text, and its geometry (in the input's CRS) where the input had one.
pub fn write_hand_back(path: &Path, h: &crate::model::HandBack) -> Result<(), ExportError> {
    let mut ds = create(path)?;
    let err = |source| ExportError::Layer { path: path.to_path_buf(), layer: "rejected".into(), source };
    let srs = match &h.geometry_crs {
        Some(wkt) => Some(crate::crs::spatial_ref(wkt).map_err(|source| ExportError::Crs { path: path.to_path_buf(), source })?),
        None => None,
    };
    // The last field holds the geometry as WKT when the input had geometries.
    let n_fields = if srs.is_some() { h.header.len().saturating_sub(1) } else { h.header.len() };
    let mut fields: Vec<(String, OGRFieldType::Type)> = vec![("row".into(), OGRFieldType::OFTInteger64)];
    fields.extend(["status", "reason", "explanation", "detail"].iter().map(|f| (f.to_string(), OGRFieldType::OFTString)));
    fields.extend(h.header[..n_fields].iter().map(|f| (f.clone(), OGRFieldType::OFTString)));
    let mut rows: Vec<&crate::model::HandBackRow> = h.rows.iter().collect();
    rows.sort_by_key(|r| r.row);
    let features = rows.into_iter().map(|r| {
        let geometry = srs
            .as_ref()
            .and_then(|_| r.fields.get(n_fields))
            .filter(|w| !w.is_empty())
            .and_then(|w| gdal::vector::Geometry::from_wkt(w).ok())
            .and_then(|g| crate::ingest::vector::to_geo_2d(&g).ok());
        let mut values = vec![
            Value::Int(r.row as i64),
            Value::Text(r.issue.status().into()),
            Value::Text(r.issue.key().into()),
            Value::Text(r.issue.describe().into()),
            Value::Text(r.detail.clone()),
        ];
        values.extend((0..n_fields).map(|i| Value::Text(r.fields.get(i).cloned().unwrap_or_default())));
        (geometry, values)
    });
    let ty = if srs.is_some() { OGRwkbGeometryType::wkbUnknown } else { OGRwkbGeometryType::wkbNone };
    write_layer(&mut ds, "rejected", srs.as_ref(), ty, &fields, features).map_err(err)
}

/// Every level as a layer with its indicators, the long table, and QGIS's styles.
pub fn write_snapshot(path: &Path, snap: &Snapshot) -> Result<(), ExportError> {
    let mut ds = create(path)?;
    let layer = |name: &str| {
        let (path, layer) = (path.to_path_buf(), name.to_string());
        move |source| ExportError::Layer { path, layer, source }
    };
    // The working CRS as the snapshot was built in (its WKT: not every CRS has a code).
    let srs = crate::crs::spatial_ref(&snap.working_wkt).map_err(|source| ExportError::Crs { path: path.to_path_buf(), source })?;
    for li in 0..snap.levels.len() {
        write_level(&mut ds, snap, li, &srs).map_err(layer(&snap.levels[li].id))?;
    }
    write_long_table(&mut ds, snap).map_err(layer("indicator_values"))?;
    write_layer_styles(&mut ds, snap).map_err(layer("layer_styles"))
}

/// A level as a layer: the same fields as the tiles and the OGC API.
fn write_level(ds: &mut gdal::Dataset, snap: &Snapshot, li: usize, srs: &crate::crs::SpatialRef) -> Result<(), GdalError> {
    let level = &snap.levels[li];
    // The level's tileset already names every property and what it holds.
    let tileset = snap.tiles.tilesets.iter().find(|t| matches!(t.source, crate::tiles::Source::Level(l) if l == li));
    let fields: Vec<(String, OGRFieldType::Type)> = tileset
        .map(|t| &t.fields)
        .into_iter()
        .flatten()
        .map(|(k, kind)| (k.clone(), if *kind == FieldKind::Text { OGRFieldType::OFTString } else { OGRFieldType::OFTReal }))
        .collect();
    let rows = level.areas.iter().enumerate().map(|(a, area)| {
        let props = snap.tiles.area_props(li, a);
        let values = fields
            .iter()
            .map(|(f, t)| match props.iter().find(|(k, _)| k == f).map(|(_, v)| v) {
                Some(Prop::Str(s)) => Value::Text(s.clone()),
                Some(Prop::Num(x)) => Value::Real(Some(*x)),
                Some(Prop::Int(x)) => Value::Real(Some(*x as f64)),
                None if *t == OGRFieldType::OFTString => Value::Text(String::new()),
                None => Value::Real(None),
            })
            .collect();
        (Some(geo_types::Geometry::MultiPolygon(area.geometry.clone())), values)
    });
    write_layer(ds, &level.id, Some(srs), OGRwkbGeometryType::wkbMultiPolygon, &fields, rows)
}

/// `indicator_values`: every indicator, level, area and period, in long format.
fn write_long_table(ds: &mut gdal::Dataset, snap: &Snapshot) -> Result<(), GdalError> {
    let fields: Vec<(String, OGRFieldType::Type)> = crate::export::csv_out::INDICATOR_CSV_HEADER
        .split(',')
        .map(|f| {
            (
                f.to_string(),
                if matches!(f, "numerator" | "denominator" | "value") { OGRFieldType::OFTReal } else { OGRFieldType::OFTString },
            )
        })
        .collect();
    let mut rows = Vec::new();
    for ind in &snap.indicators {
        for (li, level) in snap.levels.iter().enumerate() {
            let v = &ind.per_level[li];
            for (a, area) in level.areas.iter().enumerate() {
                for (p, period) in v.periods.iter().enumerate() {
                    let k = v.index(a, p);
                    rows.push((
                        None,
                        vec![
                            Value::Text(ind.def.id.clone()),
                            Value::Text(level.id.clone()),
                            Value::Text(area.code.clone()),
                            Value::Text(area.name.clone().unwrap_or_default()),
                            Value::Text(period.clone()),
                            Value::Real(v.numerator[k]),
                            Value::Real(v.denominator[k]),
                            Value::Text(v.denominator_periods.get(p).cloned().flatten().unwrap_or_default()),
                            Value::Real(v.value[k]),
                            Value::Text(ind.def.unit.clone().unwrap_or_default()),
                            Value::Text(v.suppressed[k].map_or("", |s| s.key()).to_string()),
                            Value::Text(v.converted.get(k).copied().unwrap_or(false).to_string()),
                        ],
                    ));
                }
            }
        }
    }
    write_layer(ds, "indicator_values", None, OGRwkbGeometryType::wkbNone, &fields, rows.into_iter())
}

/// QGIS's `layer_styles` table: a graduated style per level and indicator, the first
/// indicator as each level's default, so QGIS opens the layers styled.
fn write_layer_styles(ds: &mut gdal::Dataset, snap: &Snapshot) -> Result<(), GdalError> {
    let text = |n: &str| (n.to_string(), OGRFieldType::OFTString);
    let fields = vec![
        text("f_table_catalog"),
        text("f_table_schema"),
        text("f_table_name"),
        text("f_geometry_column"),
        text("styleName"),
        text("styleQML"),
        text("styleSLD"),
        ("useAsDefault".to_string(), OGRFieldType::OFTInteger64),
        text("description"),
        text("owner"),
        text("ui"),
        text("update_time"),
    ];
    // One row of layer_styles: a style of `table`, QGIS's default for it when `default`.
    let row = |table: &str, name: String, qml: String, default: bool, description: String| {
        (
            None,
            vec![
                Value::Text(String::new()),
                Value::Text(String::new()),
                Value::Text(table.to_string()),
                Value::Text("geom".into()),
                Value::Text(name),
                Value::Text(qml),
                Value::Text(String::new()),
                Value::Int(i64::from(default)),
                Value::Text(description),
                Value::Text("buurtmeter".into()),
                Value::Text(String::new()),
                Value::Text(String::new()),
            ],
        )
    };
    let mut rows = Vec::new();
    for (li, level) in snap.levels.iter().enumerate() {
        for (ii, ind) in snap.indicators.iter().enumerate() {
            rows.push(row(&level.id, ind.def.title.clone(), crate::export::styles::qml_style(ind, li), ii == 0, ind.def.definition()));
            // The indicator's clusters (hotspots = { … }), categorised in the usual colours.
            if ind.hotspots.get(li).is_some_and(Option::is_some) {
                rows.push(row(
                    &level.id,
                    format!("{} — clusters", ind.def.title),
                    crate::export::styles::qml_hotspot_style(&ind.def.id),
                    false,
                    format!("clusters of {} (PySAL esda definitions)", ind.def.id),
                ));
            }
        }
    }
    write_layer(ds, "layer_styles", None, OGRwkbGeometryType::wkbNone, &fields, rows.into_iter())
}
