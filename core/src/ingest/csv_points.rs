//! The table reader: a municipal register exported from Excel or a case system, as CSV,
//! and every other table of records (a spreadsheet's sheet, a layer without geometry):
//! one detection of the columns and one set of row rules for all of them ([`Layout`]).
//!
//! CSV: one pass over the bytes with `csv::ByteRecord` reuse (no allocation per row), then
//! one batch reprojection into the working CRS. Other tables come in as [`Table`]s of the
//! same records. Every data row ends up either as a point or as a rejection with its
//! reason; lines that are no records (all blank, a totals row) are named and not counted;
//! header-only files are fine (zero rows).

use std::collections::HashMap;
use std::path::Path;

use gdal::spatial_ref::SpatialRef;

use super::addresses::{self, Address, AddressBook, Match};
use super::text::{self, Encoding, Num, TimeZone};
use super::{Coords, PointSource, Progress};
use super::{IngestError, Result};
use crate::crs::{self, CrsRange, Reprojector};
use crate::model::{Accounting, Date, FieldIssue, HandBack, PointLayer, RejectReason};

/// Column names tried, in order, when the user did not name the coordinate columns.
/// Compared after [`normalise`]: case, accents, spaces and punctuation do not matter, so
/// `X-coördinaat`, `x_coordinaat` and `X Coordinaat` are all `xcoordinaat`.
const X_NAMES: &[&str] = &[
    "x",
    "xrd",
    "rdx",
    "xcoord",
    "xcoordinaat",
    "xcoordinate",
    "coordx",
    "coordinaatx",
    "rdxcoordinaat",
    "xcoördinaat",
    "easting",
    "oostwaarde",
];
const Y_NAMES: &[&str] = &[
    "y",
    "yrd",
    "rdy",
    "ycoord",
    "ycoordinaat",
    "ycoordinate",
    "coordy",
    "coordinaaty",
    "rdycoordinaat",
    "ycoördinaat",
    "northing",
    "noordwaarde",
];
const LON_NAMES: &[&str] =
    &["lon", "lng", "long", "longitude", "lengtegraad", "lengte", "wgs84lon", "lonwgs84", "gpslon", "gpslengtegraad"];
const LAT_NAMES: &[&str] = &["lat", "latitude", "breedtegraad", "breedte", "wgs84lat", "latwgs84", "gpslat", "gpsbreedtegraad"];
/// Names of a column that holds the whole location as text (WKT, EWKT, `x y`).
const GEOMETRY_NAMES: &[&str] = &[
    "coordinaten",
    "coordinaat",
    "coordinates",
    "geometrie",
    "geometry",
    "geom",
    "thegeom",
    "wkt",
    "wktgeom",
    "wktgeometry",
    "locatie",
    "location",
    "puntlocatie",
    "positie",
    "rdcoordinaten",
    "xy",
];

/// First cells of a row that sums the rows above it: not a record.
const TOTALS: &[&str] = &["totaal", "totalen", "total", "totals", "eindtotaal", "subtotaal", "generaal totaal", "grand total", "som"];

/// A table of records from a source that is not CSV (a spreadsheet's sheet, a layer
/// without geometry), as text: read by the same [`Layout`] as a CSV file.
#[derive(Debug, Default)]
pub struct Table {
    /// Where it came from, for messages: `sheet 'Leegstand'`, `layer 'meldingen'`.
    pub what: String,
    pub header: Vec<String>,
    /// Each record with the number the user sees for it (the sheet's row number, the
    /// feature number).
    pub records: Vec<(u64, csv::ByteRecord)>,
    /// Lines that are no records, already known as such (empty rows of a sheet).
    pub not_records: Vec<(u64, &'static str)>,
    /// What the reader decided (the header row, the sheet).
    pub notes: Vec<String>,
}

/// A column name for matching: lower case, accents dropped, only letters and digits.
pub fn normalise(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// One pair of coordinate columns and how to read it. `text`: `x` = `y` is one column
/// holding both as text (WKT, EWKT, `x y`).
struct Pair {
    x: usize,
    y: usize,
    text: bool,
    /// The pair of rows located by their address (already in the working CRS).
    address: bool,
    lonlat: bool,
    range: CrsRange,
    expect_lonlat: bool,
    /// The EPSG code of the CRS, when it has one (to match an EWKT's SRID).
    epsg: Option<u32>,
}

pub fn read(source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    let path = source.path.as_path();
    let raw = std::fs::read(path).map_err(|e| IngestError::input(path, format!("cannot read: {e}")))?;
    read_bytes(&raw, source, working, id)
}

pub fn read_bytes(raw: &[u8], source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    read_bytes_with(raw, source, working, id, PARALLEL_MIN_BYTES, rayon::current_num_threads())
}

/// [`read_bytes`], parsing in parallel pieces from `parallel_min_bytes` on.
fn read_bytes_with(
    raw: &[u8],
    source: &PointSource,
    working: &SpatialRef,
    id: &str,
    parallel_min_bytes: usize,
    threads: usize,
) -> Result<PointLayer> {
    let path = source.path.as_path();
    let bytes = text::strip_bom(raw);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(IngestError::input(path, "the file is empty: expected a header line with column names and rows of points"));
    }
    if bytes.iter().take(4096).filter(|&&b| b == 0).count() > 0 {
        return Err(IngestError::input(path, "this is a binary file, not a CSV text file"));
    }
    let encoding = source.encoding.unwrap_or_else(|| Encoding::detect(bytes));
    let delimiter = source.delimiter.unwrap_or_else(|| text::sniff_delimiter(bytes));
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(true).from_reader(bytes);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|e| IngestError::input(path, format!("cannot read the header line: {e}")))?
        .iter()
        .map(|h| encoding.decode(h).trim().trim_matches('"').trim().to_string())
        .collect();
    let (layout, reprojectors) = Layout::new(source, header, Some(delimiter), encoding, working)?;
    let progress = Progress::bytes(bytes.len() as u64, &format!("reading {}", path.display()));
    let mut out = Collector::new(id, &layout, source.hand_back);
    match parallel_chunks(bytes, parallel_min_bytes, threads) {
        Some(chunks) => {
            // No quote characters: every line break ends a record, so the file can be cut at
            // line breaks and the pieces parsed at once; merged in file order, the result
            // is the same as one pass (tested by `chunked_read_equals_one_pass`).
            use rayon::prelude::*;
            let parts: Vec<Collector> = chunks
                .par_iter()
                .enumerate()
                .map(|(k, chunk)| {
                    let mut part = Collector::part(id, &layout, source.hand_back);
                    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(false).from_reader(*chunk);
                    read_records(&mut reader, &layout, &mut part, k as u64, &progress);
                    part
                })
                .collect();
            parts.into_iter().for_each(|part| out.append(part));
        }
        None => read_records(&mut reader, &layout, &mut out, 0, &progress),
    }
    progress.finish();
    Ok(out.finish(layout, &reprojectors, path))
}

/// Read a [`Table`] (a sheet, a layer without geometry) as points, with the same column
/// detection and row rules as a CSV file. Row numbers are the table's own.
pub fn read_table(table: Table, source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    let path = source.path.as_path();
    let (layout, reprojectors) = Layout::new(source, table.header, None, Encoding::Utf8, working)?;
    let mut out = Collector::new(id, &layout, source.hand_back);
    out.acc.notes.splice(0..0, table.notes);
    out.not_records.extend(table.not_records);
    for (row, record) in &table.records {
        match layout.not_a_record(record) {
            Some(why) => out.not_records.push((*row, why)),
            None => {
                out.labels.push(*row);
                out.record(&layout, record, *row);
            }
        }
    }
    Ok(out.finish(layout, &reprojectors, path))
}

/// Files above this size are parsed in pieces on all cores (when they allow it).
const PARALLEL_MIN_BYTES: usize = 8 << 20;

/// The data rows of `bytes` cut into pieces at line breaks, when the file is large enough
/// and has no quote characters (a quoted field may hold a line break, so a quoted file is
/// read in one pass). `None`: read it in one pass.
fn parallel_chunks(bytes: &[u8], min_bytes: usize, threads: usize) -> Option<Vec<&[u8]>> {
    if bytes.len() < min_bytes || threads < 2 || bytes.contains(&b'"') {
        return None;
    }
    // The header is the first line that is not empty (the CSV reader skips empty lines).
    let first = bytes.iter().position(|&b| b != b'\n' && b != b'\r')?;
    let body_start = first + bytes[first..].iter().position(|&b| b == b'\n')? + 1;
    let body = &bytes[body_start..];
    // One piece per core: the first is moved into the layer, the others appended (more
    // pieces balanced no better here and copied more; BENCHMARKS.md).
    let pieces = threads;
    let target = body.len().div_ceil(pieces).max(1);
    let mut chunks = Vec::with_capacity(pieces);
    let mut rest = body;
    while !rest.is_empty() {
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest[target..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| target + i + 1)
        };
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    Some(chunks)
}

/// Read every record of `reader` into `out`, numbering rows from 1 within this reader.
/// `salt` keeps the stand-in hashes of broken rows of different pieces apart.
fn read_records<R: std::io::Read>(reader: &mut csv::Reader<R>, layout: &Layout, out: &mut Collector, salt: u64, progress: &Progress) {
    let mut record = csv::ByteRecord::new();
    let mut row: u64 = 0;
    let mut reported: u64 = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // A broken quote or invalid record: account for it and carry on.
                row += 1;
                out.seen += 1;
                out.acc.rows += 1;
                out.row_hashes.push(stand_in_hash(row, salt));
                out.acc.reject(row, RejectReason::MalformedRow, || e.to_string());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        row += 1;
        if row % 65536 == 0 {
            let at = record.position().map_or(reported, |p| p.byte());
            progress.inc(at.saturating_sub(reported));
            reported = at;
        }
        if let Some(why) = layout.not_a_record(&record) {
            out.seen += 1;
            out.row_hashes.push(stand_in_hash(row, salt));
            out.not_records.push((row, why));
            continue;
        }
        out.record(layout, &record, row);
    }
}

/// A hash no real row has, for a line that is no row of its own (keeps the row hashes
/// aligned with the row numbers).
fn stand_in_hash(row: u64, salt: u64) -> u64 {
    row ^ 0x9e37_79b9_7f4a_7c15 ^ salt.rotate_left(40)
}

/// Where everything is in the file: the header, the coordinate pairs and the other columns.
struct Layout {
    header: Vec<String>,
    pairs: Vec<Pair>,
    date: Option<usize>,
    category: Option<usize>,
    weight: Option<usize>,
    id: Option<usize>,
    identities: bool,
    encoding: Encoding,
    rd_check: CrsRange,
    timezone: TimeZone,
    address: Option<AddressLookup>,
}

/// The address columns of a table and the BAG address book they are looked up in.
struct AddressLookup {
    book: AddressBook,
    file: String,
    postcode: Option<usize>,
    huisnummer: Option<usize>,
    huisletter: Option<usize>,
    toevoeging: Option<usize>,
    bag_id: Option<usize>,
    /// The index of the address pair in `Layout::pairs`.
    pair: usize,
}

/// One row that became a point (before reprojection).
struct ParsedRow {
    pair: usize,
    x: f64,
    y: f64,
    weight: f64,
    date: Option<Date>,
    /// The coordinates were read with '.' as a thousands separator (`194.123` = 194123).
    thousands: bool,
    /// A row with coordinates and an address: the address's BAG point (working CRS), to
    /// compare after reprojection.
    address_point: Option<(f64, f64)>,
}

/// `194.123` or `1.234.567` (groups of three after each dot, nothing else) as a whole
/// number with '.' as the thousands separator, the way Dutch Excel writes metres.
fn dotted_thousands(raw: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(trim_bytes(raw)).ok()?;
    let (sign, digits) = s.strip_prefix('-').map_or((1.0, s), |d| (-1.0, d));
    let mut groups = digits.split('.');
    let head = groups.next()?;
    let rest: Vec<&str> = groups.collect();
    let ok = !rest.is_empty()
        && (1..=3).contains(&head.len())
        && head.bytes().all(|b| b.is_ascii_digit())
        && rest.iter().all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| digits.replace('.', "").parse::<f64>().ok().map(|v| sign * v)).flatten()
}

impl Layout {
    /// The layout, and one reprojector per coordinate pair (kept apart: a GDAL transform
    /// cannot be shared between the threads that parse).
    fn new(
        source: &PointSource,
        header: Vec<String>,
        delimiter: Option<u8>,
        encoding: Encoding,
        working: &SpatialRef,
    ) -> Result<(Layout, Vec<Reprojector>)> {
        let path = source.path.as_path();
        let columns = Columns::new(&header);
        let sep = match delimiter {
            Some(b'\t') => " (separator 'tab')".to_string(),
            Some(d) => format!(" (separator '{}')", d as char),
            None => String::new(),
        };
        let listing = || format!("the columns are: {}{sep}", header.join(", "));
        let need = |c: &Option<String>| c.as_deref().map(|c| columns.require(c, path, &listing)).transpose();
        let rd = crs::spatial_ref(crs::RD_NEW).map_err(IngestError::crs(path))?;
        let (mut pairs, mut reprojectors): (Vec<Pair>, Vec<Reprojector>) =
            coordinate_pairs(&source.coords, &columns, path, &listing, working)?.into_iter().unzip();
        let address = address_lookup(source, &columns, &pairs, path, &listing, working)?;
        let address = match address {
            Some((mut lookup, column)) => {
                let identity = Reprojector::new(working, working).map_err(IngestError::crs(path))?;
                lookup.pair = pairs.len();
                pairs.push(Pair {
                    x: column,
                    y: column,
                    text: false,
                    address: true,
                    lonlat: false,
                    expect_lonlat: false,
                    range: identity.range(),
                    epsg: None,
                });
                reprojectors.push(identity);
                Some(lookup)
            }
            None => None,
        };
        if pairs.is_empty() {
            return Err(IngestError::input(
                path,
                format!(
                    "no coordinate columns found: name them with x/y (RD New, or crs) and/or lon/lat, or one column with the location as text with geometry (--x/--y, --lon/--lat, --geometry); known names are X-coördinaat/Y-coördinaat, x/y, RD X/RD Y, Breedtegraad/Lengtegraad, lat/lon, Coördinaten, wkt, ...; {}",
                    listing()
                ),
            ));
        }
        let layout = Layout {
            pairs,
            date: need(&source.date)?,
            category: need(&source.category)?,
            weight: need(&source.weight)?,
            id: need(&source.id_column)?,
            identities: source.identities,
            encoding,
            rd_check: Reprojector::new(&rd, &rd).map_err(IngestError::crs(path))?.range(),
            timezone: source.timezone(),
            address,
            header,
        };
        Ok((layout, reprojectors))
    }

    /// The row as a point, or `None` after accounting for why it is not one.
    fn parse(&self, record: &csv::ByteRecord, row: u64, acc: &mut Accounting) -> Option<ParsedRow> {
        let header = &self.header;
        let field = |i: usize| record.get(i).unwrap_or(b"");
        let filled = |i: usize| !trim_bytes(field(i)).is_empty();
        let Some(pi) = self.pairs.iter().position(|p| !p.address && filled(p.x) && filled(p.y)) else {
            if let Some(a) = &self.address {
                let (x, y) = self.address_point(a, record, row, acc)?;
                return Some(self.fields(record, row, acc, a.pair, x, y, false));
            }
            acc.reject(row, RejectReason::MissingCoordinate, || {
                let shown: Vec<String> = self.pairs.iter().map(|p| coord_detail(header, p.x, p.y, record)).collect();
                format!("row {row}: {}", shown.join("; "))
            });
            return None;
        };
        let (pi, x, y) = if self.pairs[pi].text {
            let raw = self.encoding.decode(field(self.pairs[pi].x));
            match self.text_point(&raw, pi) {
                Ok(v) => v,
                Err(why) => {
                    acc.reject(row, RejectReason::GeometryText, || {
                        format!("row {row}: {} = '{}'{why}", header[self.pairs[pi].x], raw.trim())
                    });
                    return None;
                }
            }
        } else {
            let pair = &self.pairs[pi];
            match (text::parse_number(field(pair.x)), text::parse_number(field(pair.y))) {
                (Num::Value(x), Num::Value(y)) => (pi, x, y),
                (Num::Empty, _) | (_, Num::Empty) => {
                    acc.reject(row, RejectReason::MissingCoordinate, || {
                        format!("row {row}: {}", coord_detail(header, pair.x, pair.y, record))
                    });
                    return None;
                }
                _ => {
                    acc.reject(row, RejectReason::NotANumber, || format!("row {row}: {}", coord_detail(header, pair.x, pair.y, record)));
                    return None;
                }
            }
        };
        let pair = &self.pairs[pi];
        if !x.is_finite() || !y.is_finite() {
            acc.reject(row, RejectReason::NotFinite, || format!("row {row}: ({x}, {y})"));
            return None;
        }
        let (mut x, mut y, mut thousands) = (x, y, false);
        if let Some(reason) = check_range(&pair.range, &self.rd_check, pair.expect_lonlat, x, y) {
            // `194.123;320.456` in metres is ambiguous: a decimal point, or Dutch thousands
            // separators? When only the second reading is a real location, take it.
            let alt = (dotted_thousands(field(pair.x)).unwrap_or(x), dotted_thousands(field(pair.y)).unwrap_or(y));
            if pair.expect_lonlat || pair.text || alt == (x, y) || check_range(&pair.range, &self.rd_check, false, alt.0, alt.1).is_some() {
                acc.reject(row, reason, || format!("row {row}: ({x}, {y}) in {}", pair.range.source_label));
                return None;
            }
            (x, y, thousands) = (alt.0, alt.1, true);
        }
        Some(self.fields(record, row, acc, pi, x, y, thousands))
    }

    /// A row with a location as a point: its weight and date read by the one rule for
    /// every format.
    #[allow(clippy::too_many_arguments)]
    fn fields(&self, record: &csv::ByteRecord, row: u64, acc: &mut Accounting, pi: usize, x: f64, y: f64, thousands: bool) -> ParsedRow {
        let header = &self.header;
        let field = |i: usize| record.get(i).unwrap_or(b"");
        // One rule per field, the same in every format: an empty or unreadable weight leaves
        // the point out of weighted indicators only, an unreadable date out of per-period
        // indicators only; both are named.
        let weight = match self.weight.map(|i| (i, text::parse_number(field(i)))) {
            None => 1.0,
            Some((_, Num::Value(w))) if w.is_finite() => w,
            Some((i, Num::Empty)) => {
                acc.partial(row, FieldIssue::WeightEmpty, || format!("row {row}: {} is empty", header[i]));
                f64::NAN
            }
            Some((i, _)) => {
                let shown = self.encoding.decode(field(i));
                acc.partial(row, FieldIssue::WeightNotANumber, || format!("row {row}: {} = '{}'", header[i], shown.trim()));
                f64::NAN
            }
        };
        let date = match self.date {
            None => None,
            Some(i) => {
                let s = self.encoding.decode(field(i));
                if s.trim().is_empty() {
                    None
                } else if let Some(d) = text::parse_date_in(&s, self.timezone) {
                    Some(d)
                } else {
                    acc.partial(row, FieldIssue::DateNotReadable, || format!("row {row}: {} = '{}'", header[i], s.trim()));
                    None
                }
            }
        };
        // A row with both coordinates and an address: where the BAG puts the address, to
        // say when the two disagree.
        let address_point = match &self.address {
            Some(a) if !self.pairs[pi].address => self.quiet_address_point(a, record),
            _ => None,
        };
        ParsedRow { pair: pi, x, y, weight, date, thousands, address_point }
    }

    /// The BAG point of a row's address, when it has one the BAG knows, without a word.
    fn quiet_address_point(&self, a: &AddressLookup, record: &csv::ByteRecord) -> Option<(f64, f64)> {
        let text = |i: Option<usize>| -> Option<String> {
            let t = self.encoding.decode(trim_bytes(record.get(i?).unwrap_or(b""))).into_owned();
            (!t.is_empty()).then_some(t)
        };
        let found = match text(a.bag_id) {
            Some(id) => a.book.find_id(&id),
            None => {
                let address =
                    Address::parse(&text(a.postcode)?, &text(a.huisnummer)?, text(a.huisletter).as_deref(), text(a.toevoeging).as_deref())?;
                a.book.find(&address)
            }
        };
        match found {
            Match::Found { x, y, .. } => Some((x, y)),
            _ => None,
        }
    }

    /// The BAG point of a row's address (or BAG id), or `None` after rejecting the row:
    /// no address, an address the BAG does not have, or one it has several of.
    fn address_point(&self, a: &AddressLookup, record: &csv::ByteRecord, row: u64, acc: &mut Accounting) -> Option<(f64, f64)> {
        let text = |i: Option<usize>| -> Option<String> {
            let t = self.encoding.decode(trim_bytes(record.get(i?).unwrap_or(b""))).into_owned();
            (!t.is_empty()).then_some(t)
        };
        let by_id = text(a.bag_id).map(|id| (a.book.find_id(&id), id));
        if let Some((Match::Found { x, y, .. }, _)) = by_id {
            return Some((x, y));
        }
        let (postcode, number) = (text(a.postcode), text(a.huisnummer));
        let (Some(postcode), Some(number)) = (postcode, number) else {
            match by_id {
                Some((_, id)) => {
                    acc.reject(row, RejectReason::AddressNotFound, || format!("row {row}: BAG id '{id}' is not in {}", a.file))
                }
                None => acc.reject(row, RejectReason::MissingCoordinate, || {
                    format!("row {row}: no coordinates, and no postcode and huisnummer (or BAG id) to find them with")
                }),
            }
            return None;
        };
        let (letter, toevoeging) = (text(a.huisletter), text(a.toevoeging));
        let Some(address) = Address::parse(&postcode, &number, letter.as_deref(), toevoeging.as_deref()) else {
            acc.reject(row, RejectReason::AddressNotFound, || {
                format!("row {row}: postcode '{postcode}', huisnummer '{number}' cannot be read as a Dutch address")
            });
            return None;
        };
        match a.book.find(&address) {
            Match::Found { x, y, .. } => Some((x, y)),
            Match::NotFound => {
                acc.reject(row, RejectReason::AddressNotFound, || format!("row {row}: {address} is not in {}", a.file));
                None
            }
            Match::Ambiguous(candidates) => {
                acc.reject(row, RejectReason::AddressAmbiguous, || {
                    let shown = candidates.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
                    format!("row {row}: {address} could be {shown}{}", if candidates.len() > 8 { ", ..." } else { "" })
                });
                None
            }
        }
    }

    /// Why a line of the table is no record, if it is none: every field blank, or a row
    /// without coordinates whose first filled field says it sums the rows above
    /// (`Totaal`, `Total:`).
    fn not_a_record(&self, record: &csv::ByteRecord) -> Option<&'static str> {
        // Nearly every row has coordinates: that settles it at once.
        if self.pairs.iter().any(|p| record.get(p.x).is_some_and(|f| !trim_bytes(f).is_empty())) {
            return None;
        }
        let mut filled = record.iter().map(trim_bytes).filter(|f| !f.is_empty());
        let Some(first) = filled.next() else { return Some("empty") };
        let first = self.encoding.decode(first).trim().trim_end_matches(':').trim().to_lowercase();
        TOTALS.iter().any(|t| first == *t || first.strip_prefix(t).is_some_and(|rest| rest.starts_with(' '))).then_some("totals")
    }

    /// A location written as text in one column, as (pair, x, y): the pair whose CRS the
    /// EWKT's SRID names, else the one whose range the values fit (WGS84 for values that
    /// are degrees, RD New otherwise) when the CRS was not given.
    fn text_point(&self, raw: &str, first: usize) -> std::result::Result<(usize, f64, f64), String> {
        let (srid, x, y) = parse_point_text(raw).ok_or_else(String::new)?;
        let column = self.pairs[first].x;
        let candidates: Vec<usize> = (0..self.pairs.len()).filter(|&i| self.pairs[i].text && self.pairs[i].x == column).collect();
        let pi = match srid {
            Some(code) => *candidates.iter().find(|&&i| self.pairs[i].epsg == Some(code)).ok_or_else(|| {
                let known: Vec<String> = candidates.iter().filter_map(|&i| self.pairs[i].epsg).map(|e| format!("EPSG:{e}")).collect();
                format!(" (SRID {code} is not the column's CRS, {}: name it with crs = \"EPSG:{code}\")", known.join(" or "))
            })?,
            None if candidates.len() == 1 => candidates[0],
            None => {
                let degrees = x.abs() <= 180.0 && y.abs() <= 90.0;
                *candidates.iter().find(|&&i| self.pairs[i].expect_lonlat == degrees).unwrap_or(&candidates[0])
            }
        };
        Ok((pi, x, y))
    }
}

/// A point written as text: WKT `POINT (x y)` (also `POINT Z`), EWKT `SRID=n;POINT(x y)`,
/// or a pair `x y`, `x;y`, `x,y`, `(x, y)` with decimal points or commas. (SRID, x, y).
pub fn parse_point_text(raw: &str) -> Option<(Option<u32>, f64, f64)> {
    let s = raw.trim().trim_matches('"').trim();
    let (srid, body) = match s.get(..5).filter(|p| p.eq_ignore_ascii_case("srid=")) {
        Some(_) => {
            let (code, rest) = s[5..].split_once(';')?;
            (Some(code.trim().parse::<u32>().ok()?), rest.trim())
        }
        None => (None, s),
    };
    let num = |t: &str| match text::parse_number(t.trim().as_bytes()) {
        Num::Value(v) => Some(v),
        _ => None,
    };
    if body.len() >= 5 && body[..5].eq_ignore_ascii_case("point") {
        let rest = body[5..].trim_start();
        let rest = rest.trim_start_matches(|c: char| c.eq_ignore_ascii_case(&'z') || c.eq_ignore_ascii_case(&'m')).trim();
        let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
        let mut it = inner.split_whitespace();
        let (x, y) = (num(it.next()?)?, num(it.next()?)?);
        return Some((srid, x, y));
    }
    if srid.is_some() {
        return None;
    }
    let pair = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')).unwrap_or(body).trim();
    let parts: Vec<&str> = if pair.contains(char::is_whitespace) {
        pair.split_whitespace().map(|p| p.trim_end_matches([',', ';'])).filter(|p| !p.is_empty()).collect()
    } else if pair.contains(';') {
        pair.split(';').collect()
    } else if pair.matches(',').count() == 1 {
        pair.split(',').collect()
    } else {
        return None;
    };
    match parts.as_slice() {
        [x, y] => Some((None, num(x)?, num(y)?)),
        _ => None,
    }
}

/// The points as they are read, column by column, and the accounting.
struct Collector {
    layer: PointLayer,
    acc: Accounting,
    pair_of: Vec<u8>,
    used: Vec<u64>,
    dates: Vec<Option<Date>>,
    cats: Vec<u32>,
    cat_lookup: crate::model::CategoryIndex,
    weights: Vec<f64>,
    identity: Vec<u64>,
    /// One hash per data row, to find rows that are exact copies of an earlier one.
    row_hashes: Vec<u64>,
    /// Rows whose coordinates had '.' as a thousands separator.
    thousands: Vec<u64>,
    /// Lines read so far, records or not (CSV pieces are renumbered by this).
    seen: u64,
    /// The row number of each record, for tables whose rows are numbered by the source
    /// (a sheet's row numbers); empty for CSV, where a record's number is its position.
    labels: Vec<u64>,
    /// Lines that are no records, and why.
    not_records: Vec<(u64, &'static str)>,
    /// (row, id text) of every record with an `id_column` value, to name repeated ids.
    ids: Vec<(u64, String)>,
    /// (row, BAG point) of rows located by their coordinates that also have an address.
    address_points: Vec<(u64, f64, f64)>,
}

impl Collector {
    /// The collector of a whole file: an empty one, with the notes on how it is read.
    fn new(id: &str, layout: &Layout, hand_back: bool) -> Collector {
        let mut c = Collector::part(id, layout, hand_back);
        c.acc.notes.extend(layout.pairs.iter().map(|p| {
            if p.address {
                let a = layout.address.as_ref().expect("an address pair has its lookup");
                let named: Vec<String> = [a.postcode, a.huisnummer, a.huisletter, a.toevoeging, a.bag_id]
                    .iter()
                    .flatten()
                    .map(|&i| format!("'{}'", layout.header[i]))
                    .collect();
                format!(
                    "addresses: {} looked up in {} ({} BAG addresses) for rows without coordinates",
                    named.join(", "),
                    a.file,
                    a.book.len()
                )
            } else if p.text {
                format!("coordinates: the text of '{}' (WKT, EWKT or 'x y') as {}", layout.header[p.x], p.range.source_label)
            } else {
                format!(
                    "coordinates: '{}' and '{}' as {} ({})",
                    layout.header[p.x],
                    layout.header[p.y],
                    if p.lonlat { "longitude/latitude" } else { "x/y" },
                    p.range.source_label
                )
            }
        }));
        if layout.pairs.len() > 1 {
            c.acc.notes.push("each row uses the first of these pairs that is filled in".into());
        }
        if let Some(a) = &layout.address {
            c.acc.warnings.extend(a.book.warnings().iter().cloned());
        }
        c
    }

    /// An empty collector for one piece of a file read in parallel.
    fn part(id: &str, layout: &Layout, hand_back: bool) -> Collector {
        Collector {
            layer: PointLayer { id: id.to_string(), ..Default::default() },
            acc: Accounting {
                handback: hand_back.then(|| HandBack { header: layout.header.clone(), ..Default::default() }),
                ..Default::default()
            },
            pair_of: Vec::new(),
            used: vec![0; layout.pairs.len()],
            dates: Vec::new(),
            cats: Vec::new(),
            cat_lookup: Default::default(),
            weights: Vec::new(),
            identity: Vec::new(),
            row_hashes: Vec::new(),
            thousands: Vec::new(),
            seen: 0,
            labels: Vec::new(),
            not_records: Vec::new(),
            ids: Vec::new(),
            address_points: Vec::new(),
        }
    }

    /// One record: counted, hashed for the duplicate check, parsed; a point or a rejection
    /// (and, for the hand-back, the record's fields with whatever was wrong with it).
    fn record(&mut self, layout: &Layout, record: &csv::ByteRecord, row: u64) {
        self.seen += 1;
        self.acc.rows += 1;
        self.row_hashes.push(record_hash(record));
        if let Some(i) = layout.id {
            let id = layout.encoding.decode(trim_bytes(record.get(i).unwrap_or(b"")));
            if !id.is_empty() {
                self.ids.push((row, id.into_owned()));
            }
        }
        if let Some(point) = layout.parse(record, row, &mut self.acc) {
            self.push(layout, record, row, point);
        }
        self.acc.attach_fields(row, || record.iter().map(|f| layout.encoding.decode(f).into_owned()).collect());
    }

    /// Add the next piece of the file: its rows are numbered after the rows so far, its
    /// categories are matched to the ones seen so far (in order of first appearance, as
    /// one pass would number them).
    fn append(&mut self, part: Collector) {
        let offset = self.seen;
        let renumber = |row: u64| row + offset;
        // Details start with "row N:" in this reader's own words (see `Layout::parse`).
        let redetail = |row: u64, detail: String| match detail.strip_prefix(&format!("row {row}:")) {
            Some(rest) => format!("row {}:{rest}", renumber(row)),
            None => detail,
        };
        let acc = part.acc;
        self.seen += part.seen;
        self.acc.rows += acc.rows;
        self.not_records.extend(part.not_records.into_iter().map(|(r, why)| (renumber(r), why)));
        for (row, issue, detail) in acc.field_examples {
            if self.acc.field_examples.iter().filter(|e| e.1 == issue).count() < Accounting::EXAMPLES_PER_REASON as usize {
                self.acc.field_examples.push((renumber(row), issue, redetail(row, detail)));
            }
        }
        for (issue, n) in acc.field_issues {
            *self.acc.field_issues.entry(issue).or_insert(0) += n;
        }
        if let (Some(all), Some(h)) = (self.acc.handback.as_mut(), acc.handback) {
            all.rows.extend(h.rows.into_iter().map(|mut r| {
                r.detail = redetail(r.row, std::mem::take(&mut r.detail));
                r.row = renumber(r.row);
                r
            }));
        }
        let mut room: HashMap<RejectReason, u64> = HashMap::new();
        for mut e in acc.examples {
            let shown = self.acc.rejected.get(&e.reason).copied().unwrap_or(0);
            let left = room.entry(e.reason).or_insert(Accounting::EXAMPLES_PER_REASON.saturating_sub(shown));
            if *left == 0 {
                continue;
            }
            *left -= 1;
            e.detail = redetail(e.row, std::mem::take(&mut e.detail));
            e.row = renumber(e.row);
            self.acc.examples.push(e);
        }
        for (reason, n) in acc.rejected {
            *self.acc.rejected.entry(reason).or_insert(0) += n;
        }
        self.acc.warnings.extend(acc.warnings);
        let layer = part.layer;
        let map: Vec<u32> = layer.categories.iter().map(|c| self.cat_lookup.index(c, &mut self.layer.categories)).collect();
        self.cats.extend(part.cats.iter().map(|&c| map[c as usize]));
        take_or_extend(&mut self.layer.xs, layer.xs);
        take_or_extend(&mut self.layer.ys, layer.ys);
        if offset == 0 {
            take_or_extend(&mut self.layer.rows, layer.rows);
        } else {
            self.layer.rows.extend(layer.rows.into_iter().map(renumber));
        }
        take_or_extend(&mut self.pair_of, part.pair_of);
        for (i, n) in part.used.into_iter().enumerate() {
            self.used[i] += n;
        }
        take_or_extend(&mut self.dates, part.dates);
        take_or_extend(&mut self.weights, part.weights);
        take_or_extend(&mut self.identity, part.identity);
        take_or_extend(&mut self.row_hashes, part.row_hashes);
        self.ids.extend(part.ids.into_iter().map(|(r, id)| (renumber(r), id)));
        self.address_points.extend(part.address_points.into_iter().map(|(r, x, y)| (renumber(r), x, y)));
        self.thousands.extend(part.thousands.into_iter().map(renumber));
    }

    fn push(&mut self, layout: &Layout, record: &csv::ByteRecord, row: u64, p: ParsedRow) {
        let field = |i: usize| record.get(i).unwrap_or(b"");
        if let Some(i) = layout.category {
            // Keyed by the decoded text: the same word in UTF-8 and Windows-1252 is one category.
            let text = layout.encoding.decode(trim_bytes(field(i)));
            self.cats.push(self.cat_lookup.index(&text, &mut self.layer.categories));
        }
        if layout.date.is_some() {
            self.dates.push(p.date);
        }
        if layout.weight.is_some() {
            self.weights.push(p.weight);
        }
        if layout.identities {
            self.identity.push(match layout.id {
                // The text as UTF-8, as a database holds it: the same identity either way.
                Some(i) => crate::indicators::ckm::identity_of_id(layout.encoding.decode(field(i)).as_bytes()),
                None => self.row_hashes.last().copied().unwrap_or(row),
            });
        }
        if p.thousands {
            self.thousands.push(row);
        }
        if let Some((ax, ay)) = p.address_point {
            self.address_points.push((row, ax, ay));
        }
        self.layer.xs.push(p.x);
        self.layer.ys.push(p.y);
        self.layer.rows.push(row);
        self.pair_of.push(p.pair as u8);
        self.used[p.pair] += 1;
    }

    /// The layer in the working CRS, with its columns, notes and warnings.
    fn finish(mut self, layout: Layout, reprojectors: &[Reprojector], path: &Path) -> PointLayer {
        if self.acc.rows == 0 {
            self.acc.warnings.push(format!("{}: the file has a header but no data rows", path.display()));
        }
        let mut layer = self.layer;
        layer.dates = layout.date.map(|_| self.dates);
        layer.category_idx = layout.category.map(|_| self.cats);
        layer.weights = layout.weight.map(|_| self.weights);
        layer.identity = layout.identities.then_some(self.identity);
        let labels = std::mem::take(&mut self.labels);
        let row_of = |i: usize| labels.get(i).copied().unwrap_or(i as u64 + 1);
        duplicate_rows(&self.row_hashes, &row_of, &mut self.acc, path);
        if let Some(i) = layout.id {
            repeated_ids(&self.ids, &layout.header[i], &mut self.acc, path);
        }
        if !self.not_records.is_empty() {
            self.acc.not_records = self.not_records.len() as u64;
            let mut by_why: Vec<(&str, Vec<u64>)> = Vec::new();
            for (row, why) in &self.not_records {
                match by_why.iter_mut().find(|(w, _)| w == why) {
                    Some((_, rows)) => rows.push(*row),
                    None => by_why.push((why, vec![*row])),
                }
            }
            let parts: Vec<String> = by_why
                .iter()
                .map(|(why, rows)| {
                    let shown: Vec<String> = rows.iter().take(10).map(u64::to_string).collect();
                    let more = if rows.len() > 10 { ", ..." } else { "" };
                    let what = if *why == "empty" { "empty" } else { "totals (Totaal, Total, ...) without coordinates" };
                    format!("{} {what} (row{} {}{more})", rows.len(), if rows.len() > 1 { "s" } else { "" }, shown.join(", "))
                })
                .collect();
            self.acc.notes.push(format!("not records, not counted: {}", parts.join("; ")));
        }
        if !self.thousands.is_empty() {
            let shown: Vec<String> = self.thousands.iter().take(10).map(u64::to_string).collect();
            self.acc.notes.push(format!(
                "{} rows have coordinates with '.' as a thousands separator (194.123 read as 194123 m, the only reading that lies in the CRS's area): rows {}{}",
                self.thousands.len(),
                shown.join(", "),
                if self.thousands.len() > 10 { ", ..." } else { "" }
            ));
        }
        if layout.pairs.len() > 1 {
            let per: Vec<String> = layout
                .pairs
                .iter()
                .zip(&self.used)
                .map(|(p, n)| {
                    if p.address {
                        format!("{n} rows from their address")
                    } else if p.text {
                        format!("{n} rows from '{}'", layout.header[p.x])
                    } else {
                        format!("{n} rows from '{}'/'{}'", layout.header[p.x], layout.header[p.y])
                    }
                })
                .collect();
            self.acc.notes.push(per.join(", "));
        }
        layer.accounting = self.acc;
        super::reproject_by_pair(&mut layer, &self.pair_of, reprojectors);
        super::warn_if_mostly_swapped(&mut layer.accounting, path);
        disagreeing_addresses(&mut layer, &self.address_points, path);
        layer
    }
}

/// `src` appended to `dst`; moved when `dst` is empty (the first piece of a file read in
/// parallel: no copy, and the pages it touched are not touched again).
fn take_or_extend<T>(dst: &mut Vec<T>, src: Vec<T>) {
    if dst.is_empty() {
        *dst = src;
    } else {
        dst.extend(src);
    }
}

/// A row's content as one number: its fields' bytes in one pass, with where each field
/// ends (so `ab|c` and `a|bc` differ).
fn record_hash(record: &csv::ByteRecord) -> u64 {
    let ends = (0..record.len()).filter_map(|i| record.range(i)).fold(record.len() as u64, |a, r| a.rotate_left(7) ^ r.end as u64);
    xxhash_rust::xxh3::xxh3_64_with_seed(record.as_slice(), ends)
}

/// Count the rows that are exact copies of an earlier row (all fields equal, ignoring
/// blanks around them) and warn with examples: double entries are counted twice.
pub(super) fn duplicate_rows(hashes: &[u64], row_of: &dyn Fn(usize) -> u64, acc: &mut Accounting, path: &Path) {
    use rayon::prelude::*;
    // Bucket by the top 16 bits (one counting pass), then sort the small buckets in
    // cache: several times faster than sorting all hashes at once. Each thread takes a
    // range of buckets (by the top bits: no division per hash), so the parts need no
    // merging but of what repeats.
    const BITS: u32 = 16;
    let bucket = |h: u64| (h >> (64 - BITS)) as usize;
    let parts = rayon::current_num_threads().max(1);
    let part_of = |b: usize| (b * parts) >> BITS;
    let repeated: std::collections::HashSet<u64> = (0..parts)
        .into_par_iter()
        .map(|part| {
            let mine = |h: &&u64| part_of(bucket(**h)) == part;
            let mut start = vec![0usize; (1 << BITS) + 1];
            hashes.iter().filter(mine).for_each(|&h| start[bucket(h) + 1] += 1);
            for i in 1..start.len() {
                start[i] += start[i - 1];
            }
            let mut next = start.clone();
            let mut sorted = vec![0u64; start[1 << BITS]];
            for &h in hashes.iter().filter(mine) {
                let b = bucket(h);
                sorted[next[b]] = h;
                next[b] += 1;
            }
            let mut repeated = std::collections::HashSet::new();
            for b in (0..(1usize << BITS)).filter(|&b| part_of(b) == part) {
                let part = &mut sorted[start[b]..start[b + 1]];
                if part.len() > 1 {
                    part.sort_unstable();
                    repeated.extend(part.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]));
                }
            }
            repeated
        })
        .reduce(std::collections::HashSet::new, |mut a, b| {
            a.extend(b);
            a
        });
    if repeated.is_empty() {
        return;
    }
    let mut first: HashMap<u64, u64> = HashMap::new();
    let mut examples = Vec::new();
    // A small bit filter in front of the set: nearly every row is rejected by one cached
    // memory read instead of a hash-set lookup.
    let mut filter = vec![0u64; 1 << 14];
    let slot = |h: u64| ((h & 0xf_ffff) >> 6) as usize;
    repeated.iter().for_each(|&h| filter[slot(h)] |= 1 << (h & 63));
    for (i, h) in hashes.iter().enumerate().filter(|(_, h)| filter[slot(**h)] >> (**h & 63) & 1 == 1 && repeated.contains(h)) {
        let row = row_of(i);
        match first.get(h) {
            Some(&f) => {
                acc.duplicate_rows += 1;
                if examples.len() < 10 {
                    examples.push(format!("row {row} = row {f}"));
                }
            }
            None => {
                first.insert(*h, row);
            }
        }
    }
    acc.warnings.push(format!(
        "{}: {} rows are exact copies of an earlier row ({}{}); each copy is counted as a point of its own: remove double entries if they are not separate reports",
        path.display(),
        acc.duplicate_rows,
        examples.join(", "),
        if acc.duplicate_rows as usize > examples.len() { ", ..." } else { "" }
    ));
}

/// Rows farther than this from the BAG point of their own address are named.
const ADDRESS_DISAGREES_M: f64 = 100.0;

/// Warn about rows whose coordinates lie more than 100 m from the BAG point of their own
/// address (a typo in one of the two, or coordinates of another building).
fn disagreeing_addresses(layer: &mut PointLayer, address_points: &[(u64, f64, f64)], path: &Path) {
    let far: Vec<String> = address_points
        .iter()
        .filter_map(|&(row, ax, ay)| {
            let i = layer.rows.binary_search(&row).ok()?;
            let d = (layer.xs[i] - ax).hypot(layer.ys[i] - ay);
            (d > ADDRESS_DISAGREES_M).then(|| format!("row {row}: {d:.0} m"))
        })
        .collect();
    if !far.is_empty() {
        layer.accounting.warnings.push(format!(
            "{}: {} rows have coordinates more than {ADDRESS_DISAGREES_M} m from the BAG point of their own address ({}{}); the coordinates are used: check which of the two is right",
            path.display(),
            far.len(),
            far.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
            if far.len() > 10 { ", ..." } else { "" }
        ));
    }
}

/// Name the rows whose `id_column` value repeats an earlier row's: a record counted
/// twice, or two records under one number (the cell-key method takes them as one).
pub(super) fn repeated_ids(ids: &[(u64, String)], column: &str, acc: &mut Accounting, path: &Path) {
    let mut first: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
    let mut repeats = Vec::new();
    for (row, id) in ids {
        match first.get(id.as_str()) {
            Some(&f) => repeats.push(format!("row {row} = row {f} ('{id}')")),
            None => {
                first.insert(id, *row);
            }
        }
    }
    if !repeats.is_empty() {
        acc.warnings.push(format!(
            "{}: {} rows repeat the {column} of an earlier row ({}{}): one record entered twice, or two records under one number?",
            path.display(),
            repeats.len(),
            repeats.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
            if repeats.len() > 10 { ", ..." } else { "" }
        ));
    }
}

/// The address columns and the BAG address book, when the layer has an address file
/// (`addresses = { … }`, `--addresses`), with the column that stands for the address pair
/// in messages. A table with address columns but neither coordinates nor an address
/// file is an error that says what to add.
fn address_lookup(
    source: &PointSource,
    columns: &Columns,
    pairs: &[Pair],
    path: &Path,
    listing: &dyn Fn() -> String,
    working: &SpatialRef,
) -> Result<Option<(AddressLookup, usize)>> {
    let postcode = columns.find_any(addresses::POSTCODE_NAMES);
    let huisnummer = columns.find_any(addresses::HUISNUMMER_NAMES);
    let bag_id = columns.find_any(addresses::BAG_ID_NAMES);
    let has_address = (postcode.is_some() && huisnummer.is_some()) || bag_id.is_some();
    let Some(src) = &source.addresses else {
        if pairs.is_empty() && has_address {
            return Err(IngestError::input(
                path,
                format!(
                    "the rows have addresses (postcode and huisnummer, or a BAG id) but no coordinates: give a BAG address file (PDOK's BAG GeoPackage) with addresses = {{ path = \"…\" }} (--addresses FILE); {}",
                    listing()
                ),
            ));
        }
        return Ok(None);
    };
    if !has_address {
        return Err(IngestError::input(
            path,
            format!(
                "an address file is given, but no address columns were found: expected postcode and huisnummer (Postcode, Huisnummer, Huisnr, ...) or a BAG id (nummeraanduiding_id, ...); {}",
                listing()
            ),
        ));
    }
    let book = AddressBook::read(&src.path, src.layer.as_deref(), working)?;
    let file = src.path.file_name().map_or_else(|| src.path.display().to_string(), |f| f.to_string_lossy().into_owned());
    let lookup = AddressLookup {
        book,
        file,
        postcode,
        huisnummer,
        huisletter: columns.find_any(addresses::HUISLETTER_NAMES),
        toevoeging: columns.find_any(addresses::TOEVOEGING_NAMES),
        bag_id,
        pair: 0,
    };
    let column = postcode.or(bag_id).unwrap_or(0);
    Ok(Some((lookup, column)))
}

/// Why (x, y) in the source CRS cannot be a real location, if it cannot.
pub(super) fn check_range(r: &CrsRange, rd: &CrsRange, expect_lonlat: bool, x: f64, y: f64) -> Option<RejectReason> {
    if r.in_valid_range(x, y) {
        if expect_lonlat {
            return r.looks_swapped(x, y).then_some(RejectReason::LooksSwapped);
        }
        return r.looks_xy_swapped(x, y).then_some(RejectReason::XySwapped);
    }
    if expect_lonlat {
        if rd.in_valid_range(x, y) {
            return Some(RejectReason::LooksLikeRdNotLonLat);
        }
        if r.in_valid_range(y, x) {
            return Some(RejectReason::LooksSwapped);
        }
    } else if r.in_valid_range(y, x) {
        return Some(RejectReason::XySwapped);
    }
    Some(RejectReason::OutsideCrsRange)
}

/// The coordinate column pairs of a CSV: the ones named, or those found by name. When a
/// file has both an x/y and a lon/lat pair, both are used, row by row.
fn coordinate_pairs(
    coords: &Coords,
    columns: &Columns,
    path: &Path,
    listing: &dyn Fn() -> String,
    working: &SpatialRef,
) -> Result<Vec<(Pair, Reprojector)>> {
    let make = |x: usize, y: usize, lonlat: bool, crs_name: &str| -> Result<(Pair, Reprojector)> {
        let srs = crs::spatial_ref(crs_name).map_err(IngestError::crs(path))?;
        let reprojector = Reprojector::new(&srs, working).map_err(IngestError::crs(path))?;
        let epsg = srs.auth_code().ok().and_then(|c| u32::try_from(c).ok());
        let expect_lonlat = lonlat || srs.is_geographic();
        Ok((Pair { x, y, text: false, address: false, lonlat, expect_lonlat, range: reprojector.range(), epsg }, reprojector))
    };
    // One text column: in the CRS given, else RD New or WGS84 row by row (by range or SRID).
    let text = |column: usize, crs: &Option<String>| -> Result<Vec<(Pair, Reprojector)>> {
        let crss: Vec<&str> = match crs {
            Some(c) => vec![c.as_str()],
            None => vec![crs::RD_NEW, crs::WGS84],
        };
        crss.into_iter()
            .map(|c| {
                make(column, column, false, c).map(|(mut p, r)| {
                    p.text = true;
                    (p, r)
                })
            })
            .collect()
    };
    let rd_or = |c: &Option<String>| c.clone().unwrap_or_else(|| crs::RD_NEW.into());
    let pairs = match coords {
        Coords::XY { x, y, crs } => vec![make(columns.require(x, path, listing)?, columns.require(y, path, listing)?, false, &rd_or(crs))?],
        Coords::LonLat { lon, lat } => {
            vec![make(columns.require(lon, path, listing)?, columns.require(lat, path, listing)?, true, crs::WGS84)?]
        }
        Coords::Both { x, y, crs, lon, lat } => vec![
            make(columns.require(x, path, listing)?, columns.require(y, path, listing)?, false, &rd_or(crs))?,
            make(columns.require(lon, path, listing)?, columns.require(lat, path, listing)?, true, crs::WGS84)?,
        ],
        Coords::Text { column, crs } => text(columns.require(column, path, listing)?, crs)?,
        Coords::Auto { crs } => {
            let xy = columns.find_any(X_NAMES).zip(columns.find_any(Y_NAMES));
            let ll = columns.find_any(LON_NAMES).zip(columns.find_any(LAT_NAMES));
            let mut pairs = match (xy, ll) {
                (Some((x, y)), Some((lon, lat))) => vec![make(x, y, false, &rd_or(crs))?, make(lon, lat, true, crs::WGS84)?],
                (Some((x, y)), None) => vec![make(x, y, false, &rd_or(crs))?],
                (None, Some((lon, lat))) => vec![make(lon, lat, true, crs.as_deref().unwrap_or(crs::WGS84))?],
                (None, None) => Vec::new(),
            };
            // A coordinate column is used for the rows whose x/y and lon/lat are empty.
            if let Some(g) = columns.find_any(GEOMETRY_NAMES) {
                pairs.extend(text(g, crs)?);
            }
            pairs
        }
    };
    Ok(pairs)
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end]
}

fn coord_detail(header: &[String], xi: usize, yi: usize, record: &csv::ByteRecord) -> String {
    let show = |i: usize| String::from_utf8_lossy(record.get(i).unwrap_or(b"")).into_owned();
    format!("{} = '{}', {} = '{}'", header[xi], show(xi), header[yi], show(yi))
}

struct Columns<'a> {
    header: &'a [String],
}

impl<'a> Columns<'a> {
    fn new(header: &'a [String]) -> Self {
        Columns { header }
    }

    /// Exactly, then ignoring case, then ignoring accents, spaces and punctuation.
    fn find(&self, name: &str) -> Option<usize> {
        let n = normalise(name);
        self.header
            .iter()
            .position(|h| h == name)
            .or_else(|| self.header.iter().position(|h| h.eq_ignore_ascii_case(name)))
            .or_else(|| self.header.iter().position(|h| !n.is_empty() && normalise(h) == n))
    }

    fn find_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.header.iter().position(|h| normalise(h) == normalise(n)))
    }

    fn require(&self, name: &str, path: &Path, listing: &dyn Fn() -> String) -> Result<usize> {
        self.find(name).ok_or_else(|| IngestError::input(path, format!("no column '{name}'; {}", listing())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn source(coords: Coords) -> PointSource {
        PointSource { path: PathBuf::from("test.csv"), coords, ..Default::default() }
    }

    fn rd() -> SpatialRef {
        crs::spatial_ref(crs::RD_NEW).unwrap()
    }

    /// Reading in parallel pieces gives exactly what one pass gives: rows, accounting with
    /// its examples and their row numbers, categories in order of first appearance,
    /// duplicates across pieces, notes and warnings.
    #[test]
    fn chunked_read_equals_one_pass() {
        let mut csv = String::from("\r\nx;y;lat;lon;datum;soort;gewicht\r\n");
        let kinds = ["Woning", "woning ", "WINKEL", "kantoor", "Kantoor"];
        for i in 0..3000u32 {
            let line = match i % 11 {
                0 => format!(";;50.88;5.98;2023-01-{:02};{};1", i % 28 + 1, kinds[(i / 7) as usize % 5]),
                1 => "abc;320000;;;;woning;1".to_string(),
                2 => format!("194.{:03};320.456;;;;winkel;1", i % 1000),
                3 => "194000;320000;;;2023-13-01;woning;1".to_string(),
                4 => "194000;320000;;;;woning;x".to_string(),
                5 => String::new(),
                6 => "194000;320000;;;2022-02-02;woning;2".to_string(),
                _ => format!("{};{};;;2024-03-{:02};{};1", 190000 + i, 320000 + i % 97, i % 28 + 1, kinds[(i / 13) as usize % 5]),
            };
            csv.push_str(&line);
            csv.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
        }
        let mut s = source(Coords::Auto { crs: None });
        s.date = Some("datum".into());
        s.category = Some("soort".into());
        s.weight = Some("gewicht".into());
        s.identities = true;
        s.hand_back = true;
        // One piece per core: four, as on a machine with four cores.
        let chunks = parallel_chunks(csv.as_bytes(), 0, 4).expect("no quotes: may be read in pieces");
        assert!(chunks.len() > 2, "{} pieces", chunks.len());
        let one = read_bytes_with(csv.as_bytes(), &s, &rd(), "t", usize::MAX, 4).unwrap();
        let many = read_bytes_with(csv.as_bytes(), &s, &rd(), "t", 0, 4).unwrap();
        let partly: u64 = one.accounting.field_issues.values().sum();
        assert!(one.accounting.duplicate_rows > 100 && one.accounting.rejected_total() > 250 && partly > 500, "{:?}", one.accounting);
        assert_eq!(format!("{:?}", one.accounting), format!("{:?}", many.accounting));
        assert_eq!((&one.xs, &one.ys, &one.rows), (&many.xs, &many.ys, &many.rows));
        assert_eq!((&one.categories, &one.category_idx), (&many.categories, &many.category_idx));
        let bits = |w: &Option<Vec<f64>>| w.as_ref().map(|w| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        assert_eq!((&one.dates, bits(&one.weights), &one.identity), (&many.dates, bits(&many.weights), &many.identity));
        // Every rejected and partly used row is kept for the hand-back, renumbered alike.
        let h = one.accounting.handback.as_ref().unwrap();
        assert_eq!(h.rows.len() as u64, one.accounting.rejected_total() + partly);
        assert!(h.rows.iter().all(|r| r.fields.len() == 7), "every row keeps its 7 fields");
        // A quoted file is read in one pass.
        assert!(parallel_chunks(b"x;y\n\"1\";2\n", 0, 2).is_none());
    }

    #[test]
    fn semicolon_csv_with_decimal_comma_and_every_bad_row_accounted() {
        let csv = "x;y;datum;soort\n194000,5;320000;17-05-2023;woning\n;320000;01-01-2023;winkel\nabc;1;;\nNaN;1;;\n1e9;1e9;;\n194100;320100;2023-13-01;woning\n194200;320200;;kantoor\n";
        let mut s = source(Coords::Auto { crs: None });
        s.date = Some("datum".into());
        s.category = Some("soort".into());
        let layer = read_bytes(csv.as_bytes(), &s, &rd(), "t").unwrap();
        assert_eq!(layer.accounting.rows, 7);
        assert_eq!(layer.len(), 3);
        assert_eq!(layer.xs[0], 194000.5);
        let rej = &layer.accounting.rejected;
        assert_eq!(rej[&RejectReason::MissingCoordinate], 1);
        assert_eq!(rej[&RejectReason::NotANumber], 1);
        assert_eq!(rej[&RejectReason::NotFinite], 1);
        assert_eq!(rej[&RejectReason::OutsideCrsRange], 1);
        // An unreadable date leaves the row in as a point without a date, named.
        assert_eq!(layer.accounting.field_issues[&FieldIssue::DateNotReadable], 1);
        assert_eq!(layer.dates.as_ref().unwrap()[1], None);
        assert_eq!(layer.categories, vec!["woning", "kantoor"]);
        assert_eq!(layer.rows, vec![1, 6, 7]);
    }

    #[test]
    fn lon_lat_is_reprojected_and_swaps_and_rd_values_are_caught() {
        let csv = "lat,lon\n50.8684838,5.9411914\n5.9411914,50.8684838\n320000,194000\n";
        let layer = read_bytes(csv.as_bytes(), &source(Coords::Auto { crs: None }), &rd(), "t").unwrap();
        assert_eq!(layer.len(), 1);
        assert!((layer.xs[0] - 194000.0).abs() < 1.0, "x {}", layer.xs[0]);
        assert!((layer.ys[0] - 320000.0).abs() < 1.0, "y {}", layer.ys[0]);
        assert_eq!(layer.accounting.rejected[&RejectReason::LooksSwapped], 1);
        assert_eq!(layer.accounting.rejected[&RejectReason::LooksLikeRdNotLonLat], 1);
    }

    #[test]
    fn dutch_thousands_separators_in_metres_are_read_when_nothing_else_is_a_location() {
        assert_eq!(dotted_thousands(b"194.123"), Some(194123.0));
        assert_eq!(dotted_thousands(b" 1.234.567 "), Some(1234567.0));
        assert_eq!(dotted_thousands(b"194.12"), None);
        assert_eq!(dotted_thousands(b"194123"), None);
        assert_eq!(dotted_thousands(b"19.41.23"), None);
        let csv = "x;y\n194.123;320.456\n194123,5;320456\n50.123;5.456\n";
        let layer = read_bytes(csv.as_bytes(), &source(Coords::Auto { crs: None }), &rd(), "t").unwrap();
        assert_eq!(layer.len(), 2, "{:?}", layer.accounting);
        assert_eq!((layer.xs[0], layer.ys[0]), (194123.0, 320456.0));
        assert_eq!(layer.accounting.rejected_total(), 1, "50.123;5.456 is no RD location either way");
        assert!(layer.accounting.notes.iter().any(|n| n.contains("thousands separator")), "{:?}", layer.accounting.notes);
    }

    #[test]
    fn missing_column_lists_what_exists() {
        let s = source(Coords::XY { x: "xx".into(), y: "y".into(), crs: None });
        let err = read_bytes(b"x;y\n1;2\n", &s, &rd(), "t").unwrap_err().to_string();
        assert!(err.contains("no column 'xx'") && err.contains("x, y"), "{err}");
    }

    #[test]
    fn empty_and_binary_files_are_clear_errors() {
        let s = source(Coords::Auto { crs: None });
        assert!(read_bytes(b"", &s, &rd(), "t").unwrap_err().to_string().contains("empty"));
        assert!(read_bytes(b"\x00\x01\x02\xff", &s, &rd(), "t").unwrap_err().to_string().contains("binary"));
    }

    #[test]
    fn windows_1252_categories_decode() {
        let mut s = source(Coords::Auto { crs: None });
        s.category = Some("soort".into());
        let layer = read_bytes(b"x;y;soort\n194000;320000;caf\xe9\n", &s, &rd(), "t").unwrap();
        assert_eq!(layer.categories, vec!["café"]);
    }
}
