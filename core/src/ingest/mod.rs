//! Ingest: the readers. GDAL reads here and in `crs` (CRSs and transforms); the only
//! other user is `export::gpkg`, which writes with it.
//!
//! - [`vector`]: areas and point layers in any format OGR opens (GeoPackage, Shapefile,
//!   GeoJSON, FlatGeobuf, ...), in any CRS GDAL knows;
//! - [`csv_points`]: municipal registers as CSV (RD New x/y, lon/lat or any EPSG);
//! - [`statistics`]: CBS tables (StatLine CSV with symbols, OData exports) and the
//!   numeric attributes of the CBS GeoPackage; with [`destatis`], German tables (the
//!   Destatis / Zensus database export and flat file, ARS codes) and grid tables (Zensus
//!   2011 and 2022, cells by id or centre).
//!
//! Everything that leaves this module is plain `geo_types` data in the working CRS
//! (EPSG:28992 RD New by default); no GDAL handle outlives a read.

pub mod addresses;
pub mod csv_points;
pub mod destatis;
pub mod spreadsheet;
pub mod statistics;
pub mod text;
pub mod validity;
pub mod vector;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use gdal::spatial_ref::SpatialRef;

use crate::crs::{CrsError, Reprojector};
use crate::model::{PointLayer, RejectReason};

pub use text::{DEFAULT_TIMEZONE, Encoding, TimeZone};

/// A file that cannot be read: which file, which layer, and what was expected. Rows that
/// cannot be used are not errors: they are accounted for (`Accounting::rejected`).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}, layer '{layer}': {message}", path.display())]
    Layer { path: PathBuf, layer: String, message: String },
    /// GDAL failed while reading a layer (a feature, a field, the layer's CRS).
    #[error("{}, layer '{layer}': GDAL: {source}", path.display())]
    Gdal {
        path: PathBuf,
        layer: String,
        #[source]
        source: gdal::errors::GdalError,
    },
    /// The CRS of a file or of its coordinate columns.
    #[error("{}: {source}", path.display())]
    Crs {
        path: PathBuf,
        #[source]
        source: CrsError,
    },
}

impl IngestError {
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IngestError::File { path: path.into(), message: message.into() }
    }

    pub fn layer(path: impl Into<PathBuf>, layer: impl Into<String>, message: impl Into<String>) -> Self {
        IngestError::Layer { path: path.into(), layer: layer.into(), message: message.into() }
    }

    /// For `map_err` on a GDAL call while reading `layer` of `path`.
    pub fn gdal(path: &Path, layer: &str) -> impl Fn(gdal::errors::GdalError) -> IngestError {
        move |source| IngestError::Gdal { path: path.to_path_buf(), layer: layer.to_string(), source }
    }

    /// For `map_err` on a CRS that `path` names or holds.
    pub fn crs(path: &Path) -> impl Fn(CrsError) -> IngestError {
        move |source| IngestError::Crs { path: path.to_path_buf(), source }
    }
}

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// Where a point layer's coordinates are.
#[derive(Debug, Clone)]
pub enum Coords {
    /// Named x/y columns in `crs` (EPSG:28992 RD New when not given).
    XY { x: String, y: String, crs: Option<String> },
    /// Named WGS84 longitude/latitude columns.
    LonLat { lon: String, lat: String },
    /// Both (CSV only): each row uses the pair that is filled in, x/y first. Exports
    /// where most rows have RD coordinates and app reports have lon/lat look like this.
    Both { x: String, y: String, crs: Option<String>, lon: String, lat: String },
    /// One column holding the whole location as text: WKT (`POINT(198081.2 321687.9)`),
    /// EWKT (`SRID=28992;POINT(…)`) or a pair (`198081,2 321687,9`, `x,y`, `x;y`). Its
    /// CRS is `crs` when given, else the EWKT's SRID, else RD New or WGS84 by range, row
    /// by row.
    Text { column: String, crs: Option<String> },
    /// The file's own geometry (GeoPackage, GeoJSON, Shapefile), or for a table (CSV,
    /// spreadsheet, a layer without geometry) the first familiar column pair (`x`/`y`,
    /// `lon`/`lat`, ...) or coordinate column (`Coördinaten`, `wkt`, ...), in `crs` when
    /// given.
    Auto { crs: Option<String> },
}

impl Coords {
    /// From the command line or the project file: the pairs (or the column) that were named.
    pub fn from_columns(
        x: &Option<String>,
        y: &Option<String>,
        lon: &Option<String>,
        lat: &Option<String>,
        geometry: &Option<String>,
        crs: &Option<String>,
    ) -> Coords {
        if let Some(column) = geometry {
            return Coords::Text { column: column.clone(), crs: crs.clone() };
        }
        match (x, y, lon, lat) {
            (Some(x), Some(y), Some(lon), Some(lat)) => {
                Coords::Both { x: x.clone(), y: y.clone(), crs: crs.clone(), lon: lon.clone(), lat: lat.clone() }
            }
            (Some(x), Some(y), _, _) => Coords::XY { x: x.clone(), y: y.clone(), crs: crs.clone() },
            (_, _, Some(lon), Some(lat)) => Coords::LonLat { lon: lon.clone(), lat: lat.clone() },
            _ => Coords::Auto { crs: crs.clone() },
        }
    }
}

impl Default for Coords {
    fn default() -> Self {
        Coords::Auto { crs: None }
    }
}

/// Everything needed to read one point layer.
#[derive(Debug, Clone, Default)]
pub struct PointSource {
    pub path: PathBuf,
    pub layer: Option<String>,
    pub coords: Coords,
    pub date: Option<String>,
    pub category: Option<String>,
    pub weight: Option<String>,
    pub delimiter: Option<u8>,
    pub encoding: Option<Encoding>,
    /// Keep a stable identity per record (for the cell-key method's record keys).
    pub identities: bool,
    /// The column that identifies a record (a report number); without it the record's
    /// identity is its row content (CSV) or feature id.
    pub id_column: Option<String>,
    /// Spreadsheets: the (1-based) row with the column names; found when not given.
    pub header_row: Option<u32>,
    /// The zone of timestamps that name none, and the zone whose dates count (the
    /// project's `timezone`; Europe/Amsterdam when not given).
    pub timezone: Option<TimeZone>,
    /// Keep every rejected and partly used row with its fields (`Accounting::handback`).
    pub hand_back: bool,
    /// A BAG address file: rows without coordinates but with an address (postcode +
    /// huisnummer) or a BAG id get the point of that address.
    pub addresses: Option<AddressSource>,
    /// A database layer (`PG:…`): a query whose rows are the points, instead of `layer`.
    pub sql: Option<String>,
}

/// A BAG address file (PDOK's GeoPackage of verblijfsobjecten) and its layer.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSource {
    pub path: PathBuf,
    #[serde(default)]
    pub layer: Option<String>,
}

impl PointSource {
    pub fn timezone(&self) -> TimeZone {
        self.timezone.unwrap_or(DEFAULT_TIMEZONE)
    }
}

/// Send GDAL's own messages (one per invalid polygon, laundered field names, ...) to the
/// log at debug level instead of stderr: buurtmeter reports what matters itself, naming
/// the file and the ids. `-vv` shows them.
pub fn route_gdal_messages_to_log() {
    gdal::config::set_error_handler(|class, code, msg| tracing::debug!(target: "gdal", ?class, code, "{msg}"));
}

/// True for files read by the CSV reader rather than GDAL.
pub fn is_csv(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(), Some("csv" | "txt" | "tsv"))
}

/// Which reader a point file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointFormat {
    /// Our own CSV reader.
    Csv,
    /// A spreadsheet, read with calamine (not GDAL: titles above the header, Excel dates).
    Spreadsheet,
    /// Anything else OGR opens.
    Vector,
}

impl PointFormat {
    pub fn of(path: &Path) -> PointFormat {
        if is_csv(path) {
            PointFormat::Csv
        } else if spreadsheet::is_spreadsheet(path) {
            PointFormat::Spreadsheet
        } else {
            PointFormat::Vector
        }
    }
}

/// Read a point layer from CSV, a spreadsheet or any OGR vector format, into the working
/// CRS. Settings that cannot apply to the file's format are an error, not ignored.
pub fn read_points(source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    let format = PointFormat::of(&source.path);
    check_settings(source, format)?;
    match format {
        PointFormat::Csv => csv_points::read(source, working, id),
        PointFormat::Spreadsheet => spreadsheet::read_points(source, working, id),
        PointFormat::Vector => vector::read_points(source, working, id),
    }
}

/// A setting of a point layer that its file's format has no use for is a mistake to say,
/// not to ignore: `delimiter` is for CSV, `header_row` for spreadsheets and CSV, `encoding`
/// for CSV and Shapefiles (a spreadsheet, GeoPackage or GeoJSON says its own).
fn check_settings(source: &PointSource, format: PointFormat) -> Result<()> {
    let path = source.path.as_path();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let shapefile = matches!(ext.as_str(), "shp" | "dbf");
    if source.delimiter.is_some() && format != PointFormat::Csv {
        return Err(IngestError::input(path, "`delimiter` is for CSV files; this file says its own columns: remove it"));
    }
    if source.encoding.is_some() && !(format == PointFormat::Csv || shapefile) {
        return Err(IngestError::input(
            path,
            "`encoding` is for CSV files and Shapefiles (.dbf); a spreadsheet, GeoPackage or GeoJSON says its own encoding: remove it",
        ));
    }
    if source.header_row.is_some() && format == PointFormat::Vector {
        return Err(IngestError::input(path, "`header_row` is for spreadsheets; this file's fields have names of their own: remove it"));
    }
    if source.layer.is_some() && format == PointFormat::Csv {
        return Err(IngestError::input(path, "a CSV file has one table: remove `layer` (--points-layer)"));
    }
    Ok(())
}

/// Reproject the points in place; those that fail are moved to the rejected rows.
pub(crate) fn reproject_points(layer: &mut PointLayer, r: &Reprojector) {
    if r.is_identity() {
        return;
    }
    let ok = r.transform(&mut layer.xs, &mut layer.ys);
    drop_failed(layer, &ok, &r.source_label);
}

/// Reproject points whose coordinates came from different column pairs (RD x/y for some
/// rows, lon/lat for others): `pair_of[i]` is the reprojector of point `i`.
pub(crate) fn reproject_by_pair(layer: &mut PointLayer, pair_of: &[u8], rs: &[Reprojector]) {
    if rs.len() == 1 {
        return reproject_points(layer, &rs[0]);
    }
    let mut ok = vec![true; layer.len()];
    for (p, r) in rs.iter().enumerate() {
        if r.is_identity() {
            continue;
        }
        let idx: Vec<usize> = (0..layer.len()).filter(|&i| pair_of[i] as usize == p).collect();
        let mut xs: Vec<f64> = idx.iter().map(|&i| layer.xs[i]).collect();
        let mut ys: Vec<f64> = idx.iter().map(|&i| layer.ys[i]).collect();
        let good = r.transform(&mut xs, &mut ys);
        for (k, &i) in idx.iter().enumerate() {
            layer.xs[i] = xs[k];
            layer.ys[i] = ys[k];
            ok[i] = good[k];
        }
    }
    let label: Vec<&str> = rs.iter().map(|r| r.source_label.as_str()).collect();
    drop_failed(layer, &ok, &label.join(" or "));
}

fn drop_failed(layer: &mut PointLayer, ok: &[bool], from: &str) {
    if ok.iter().all(|&b| b) {
        return;
    }
    let keep: Vec<usize> = (0..ok.len()).filter(|&i| ok[i]).collect();
    for i in (0..ok.len()).filter(|&i| !ok[i]) {
        let row = layer.rows[i];
        layer.accounting.reject(row, RejectReason::NotReprojectable, || format!("row {row} from {from}"));
    }
    fn pick<T: Copy>(v: &[T], keep: &[usize]) -> Vec<T> {
        keep.iter().map(|&i| v[i]).collect()
    }
    layer.xs = pick(&layer.xs, &keep);
    layer.ys = pick(&layer.ys, &keep);
    layer.rows = pick(&layer.rows, &keep);
    layer.dates = layer.dates.as_ref().map(|d| pick(d, &keep));
    layer.category_idx = layer.category_idx.as_ref().map(|c| pick(c, &keep));
    layer.weights = layer.weights.as_ref().map(|w| pick(w, &keep));
    layer.identity = layer.identity.as_ref().map(|w| pick(w, &keep));
}

/// When most rows of a file were rejected for the same coordinate mix-up, say so once
/// for the whole file: the fix is in the command, not in the rows.
pub(crate) fn warn_if_mostly_swapped(acc: &mut crate::model::Accounting, path: &Path) {
    const WHOLE_FILE: [(RejectReason, &str); 5] = [
        (
            RejectReason::LooksSwapped,
            "have latitude and longitude swapped: the whole file looks swapped; exchange the --lon and --lat columns",
        ),
        (RejectReason::LooksLikeRdNotLonLat, "hold RD New metres in columns declared lon/lat: use --x/--y instead of --lon/--lat"),
        (RejectReason::XySwapped, "have x and y swapped: the whole file looks swapped; exchange the --x and --y columns"),
        (RejectReason::OutsideCrsRange, "lie outside the valid area of their CRS: check the CRS (--crs) and which columns hold x and y"),
        (
            RejectReason::MissingCoordinate,
            "have no coordinates: is the location in another column? name it with x/y, lon/lat or geometry (--x/--y, --lon/--lat, --geometry)",
        ),
    ];
    for (reason, what) in WHOLE_FILE {
        let n = acc.rejected.get(&reason).copied().unwrap_or(0);
        if acc.rows > 0 && n > acc.rows / 2 {
            acc.warnings.push(format!("{}: {n} of {} rows {what}", path.display(), acc.rows));
        }
    }
}

/// A progress bar on stderr, shown only when stderr is a terminal (never in logs or CI).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(len: u64, message: &str, template: &str) -> Progress {
        if !std::io::stderr().is_terminal() || len == 0 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        Progress(Some(bar))
    }

    pub fn bytes(len: u64, message: &str) -> Progress {
        Self::new(len, message, "{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
    }

    pub fn items(len: u64, message: &str) -> Progress {
        Self::new(len, message, "{msg} [{bar:30}] {pos}/{len} ({eta})")
    }

    pub fn set(&self, pos: u64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
        }
    }

    pub fn inc(&self, delta: u64) {
        if let Some(b) = &self.0 {
            b.inc(delta);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
