//! The contracts of the parsers we own, as checks on one input. Shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs` include this file with `#[path]`) and by
//! `tests/fuzz_corpus.rs`, which replays the kept corpus (`fuzz/corpus/<target>/`) on
//! stable under `cargo test`. A check fails by panicking.
//!
//! Input layout:
//! - `csv_points`, `statistics`: the first byte chooses the reader settings (see
//!   [`point_source`] and [`stat_source`]), the rest is the file;
//! - `query`: the whole input is one query string.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use buurtmeter::api::ApiError;
use buurtmeter::api::query::{MAX_LIMIT, parse_bbox, parse_crs, parse_datetime, parse_limit, parse_offset};
use buurtmeter::ingest::statistics::{StatSource, parse_cell, read_bytes as read_stat_bytes};
use buurtmeter::ingest::text::parse_date;
use buurtmeter::ingest::{Coords, Encoding, PointSource, csv_points};
use buurtmeter::model::{Accounting, Date};

/// The file name every error message must mention.
pub const POINTS_FILE: &str = "fuzz-points.csv";
pub const STAT_FILE: &str = "fuzz-kerncijfers.csv";

/// The reader settings a first byte stands for:
/// - bits 0–2, the coordinates: 0 auto, 1 x/y (RD New), 2 lon/lat, 3 auto in EPSG:4326,
///   4 x/y in EPSG:4326, 5 lon/lat declared the wrong way round, 6 X/Y in EPSG:3857,
///   7 auto in EPSG:28992;
/// - bits 3–4, the date column: none, `datum`, `datum_leegstand`, `melddatum`;
/// - bits 5–6, category and weight: none, `soort`, `functie` + `oppervlakte_m2`,
///   `soort` + `gewicht`;
/// - bit 7: the encoding forced to Windows-1252 (as `--encoding cp1252`).
pub fn point_source(settings: u8) -> PointSource {
    let s = |v: &str| v.to_string();
    let coords = match settings & 7 {
        0 => Coords::Auto { crs: None },
        1 => Coords::XY { x: s("x"), y: s("y"), crs: None },
        2 => Coords::LonLat { lon: s("lon"), lat: s("lat") },
        3 => Coords::Auto { crs: Some(s("EPSG:4326")) },
        4 => Coords::XY { x: s("x"), y: s("y"), crs: Some(s("EPSG:4326")) },
        5 => Coords::LonLat { lon: s("lat"), lat: s("lon") },
        6 => Coords::XY { x: s("X"), y: s("Y"), crs: Some(s("EPSG:3857")) },
        _ => Coords::Auto { crs: Some(s("EPSG:28992")) },
    };
    let date = [None, Some("datum"), Some("datum_leegstand"), Some("melddatum")][usize::from(settings >> 3 & 3)];
    let (category, weight) =
        [(None, None), (Some("soort"), None), (Some("functie"), Some("oppervlakte_m2")), (Some("soort"), Some("gewicht"))]
            [usize::from(settings >> 5 & 3)];
    PointSource {
        path: PathBuf::from(POINTS_FILE),
        coords,
        date: date.map(String::from),
        category: category.map(String::from),
        weight: weight.map(String::from),
        encoding: (settings & 0x80 != 0).then_some(Encoding::Windows1252),
        ..Default::default()
    }
}

thread_local! {
    static RD_NEW: gdal::spatial_ref::SpatialRef =
        buurtmeter::crs::spatial_ref(buurtmeter::crs::RD_NEW).expect("EPSG:28992");
}

/// The CSV point reader: never panics; an error names the file; a layer accounts for
/// every data row (rows = points + rejected) and its columns line up.
pub fn check_csv_points(data: &[u8]) {
    let Some((&settings, raw)) = data.split_first() else { return };
    let source = point_source(settings);
    let result = RD_NEW.with(|rd| csv_points::read_bytes(raw, &source, rd, "fuzz"));
    let layer = match result {
        Ok(layer) => layer,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(POINTS_FILE), "error without the file name: {msg}");
            return;
        }
    };
    let a: &Accounting = &layer.accounting;
    let n = layer.len();
    assert_eq!(a.rows, n as u64 + a.rejected_total(), "rows not accounted for: {} rows, {n} points, rejected {:?}", a.rows, a.rejected);
    assert_eq!((a.joined, a.outside), (0, 0), "nothing is joined at ingest");
    assert_eq!((layer.xs.len(), layer.ys.len(), layer.rows.len()), (n, n, n), "point columns differ in length");
    assert!(layer.xs.iter().chain(&layer.ys).all(|v| v.is_finite()), "a kept point has a non-finite coordinate");
    assert!(layer.rows.windows(2).all(|w| w[0] < w[1]), "row numbers not increasing: {:?}", layer.rows);
    // Row numbers are positions in the file: lines that are no records (blank, totals) keep theirs.
    let last_row = a.rows + a.not_records;
    assert!(layer.rows.iter().all(|&r| r >= 1 && r <= last_row), "a row number outside 1..={last_row}");
    assert_eq!(layer.dates.is_some(), source.date.is_some());
    assert_eq!(layer.category_idx.is_some(), source.category.is_some());
    assert_eq!(layer.weights.is_some(), source.weight.is_some());
    if let Some(d) = &layer.dates {
        assert_eq!(d.len(), n);
        for d in d.iter().flatten() {
            assert_eq!(Date::new(d.year, d.month, d.day), Some(*d), "an impossible date was kept: {d:?}");
        }
    }
    if let Some(c) = &layer.category_idx {
        assert_eq!(c.len(), n);
        assert!(c.iter().all(|&i| (i as usize) < layer.categories.len()), "a category index out of range");
    }
    if let Some(w) = &layer.weights {
        assert_eq!(w.len(), n);
        // NaN: no usable weight (left out of weighted indicators), and then named.
        assert!(w.iter().all(|v| !v.is_infinite()), "a kept weight is infinite");
        let unusable = w.iter().filter(|v| v.is_nan()).count() as u64;
        let named: u64 = a.field_issues.iter().filter(|(k, _)| k.key().starts_with("weight")).map(|(_, n)| n).sum();
        assert_eq!(unusable, named, "every point without a usable weight is named");
    }
    for (reason, &count) in &a.rejected {
        assert!(count > 0, "{reason:?} counted 0");
        let examples = a.examples.iter().filter(|e| e.reason == *reason).count() as u64;
        assert_eq!(examples, count.min(Accounting::EXAMPLES_PER_REASON), "{reason:?}: {count} rejected, {examples} examples");
    }
    assert!(a.examples.iter().all(|e| e.row >= 1 && e.row <= last_row), "an example names a row that does not exist");
    assert!(a.field_examples.iter().all(|e| e.0 >= 1 && e.0 <= last_row), "an example names a row that does not exist");
}

/// The settings a first byte stands for: bits 0–1 the period (latest, `2024`,
/// `2023JJ00`, `2024MM03`), bit 2 an explicit code column (`WijkenEnBuurten`), bit 3 an
/// explicit name column (`Wijk_Buurt`, for tables that name their regions).
pub fn stat_source(settings: u8) -> StatSource {
    StatSource {
        path: PathBuf::from(STAT_FILE),
        period: [None, Some("2024"), Some("2023JJ00"), Some("2024MM03")][usize::from(settings & 3)].map(String::from),
        code_column: (settings & 4 != 0).then(|| "WijkenEnBuurten".to_string()),
        name_column: (settings & 8 != 0).then(|| "Wijk_Buurt".to_string()),
    }
}

/// The sentinels the CBS GeoPackage writes for missing values.
const SENTINELS: [f64; 2] = [-99997.0, -99995.0];

/// One CBS cell: a finite number that is not a sentinel, missing, or "this is text".
pub fn check_cell(s: &str) {
    if let Ok(Some(v)) = parse_cell(s) {
        assert!(v.is_finite() && !SENTINELS.contains(&v), "parse_cell({s:?}) = {v}");
    }
}

/// The CBS statistics reader: never panics; an error names the file; a table has one
/// unique, trimmed code per row, every column as long as the codes, only finite values
/// that are not sentinels, and the period it picked is one of its periods.
pub fn check_statistics(data: &[u8]) {
    let Some((&settings, raw)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(raw);
    check_cell(&text);
    for cell in text.lines().take(64).flat_map(|l| l.split([';', ',', '\t'])).take(1024) {
        check_cell(cell);
        check_cell(cell.trim_matches('"'));
    }
    let src = stat_source(settings);
    let t = match read_stat_bytes(raw, &src) {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(STAT_FILE), "error without the file name: {msg}");
            return;
        }
    };
    let mut seen = std::collections::HashSet::new();
    for c in &t.codes {
        assert!(!c.is_empty() && c.trim() == c && !c.starts_with('"'), "code not cleaned: {c:?}");
        assert!(seen.insert(c), "code {c} twice");
    }
    for (name, values) in &t.columns {
        assert_eq!(values.len(), t.codes.len(), "column {name} is not as long as the codes");
        for v in values.iter().flatten() {
            assert!(v.is_finite() && !SENTINELS.contains(v), "column {name}: {v}");
        }
    }
    assert!(t.periods.windows(2).all(|w| w[0] < w[1]), "periods not sorted and unique: {:?}", t.periods);
    if let Some(p) = &t.period {
        assert!(t.periods.contains(p), "period {p} not among {:?}", t.periods);
    }
    if t.periods.is_empty() {
        assert!(t.period.is_none());
    }
}

fn bad_request<T: std::fmt::Debug>(what: &str, r: &Result<T, ApiError>) {
    if let Err(e) = r {
        assert!(matches!(e, ApiError::BadRequest(d) if !d.is_empty()), "{what}: not a 400 with a message: {e:?}");
    }
}

/// One query parameter's value through its parser.
pub fn check_param(name: &str, v: &str) {
    match name {
        "bbox" => {
            let r = parse_bbox(v);
            bad_request("bbox", &r);
            if let Ok(b) = r {
                assert!(b.iter().all(|x| x.is_finite()), "bbox {v:?} -> {b:?}");
            }
        }
        "datetime" => {
            let r = parse_datetime(v);
            bad_request("datetime", &r);
            if let Ok((from, to)) = r {
                for d in [from, to].into_iter().flatten() {
                    assert_eq!(Date::new(d.year, d.month, d.day), Some(d), "datetime {v:?}: impossible date {d:?}");
                    assert_eq!(parse_date(&d.to_string()), Some(d), "a date does not read back");
                }
                if !v.contains('/') {
                    assert!(from.is_some() && from == to, "datetime {v:?}: one day is the interval [d, d]");
                }
            }
        }
        "crs" | "bbox-crs" => {
            for working in ["EPSG:28992", "EPSG:3035"] {
                bad_request("crs", &parse_crs(working, v));
            }
        }
        "limit" => {
            let r = parse_limit(v);
            bad_request("limit", &r);
            if let Ok(l) = r {
                assert!((1..=MAX_LIMIT).contains(&l), "limit {v:?} -> {l}");
            }
        }
        "offset" => {
            let r = parse_offset(v);
            bad_request("offset", &r);
            if let Ok(o) = r {
                assert_eq!(v.parse::<usize>().ok(), Some(o));
            }
        }
        _ => {}
    }
}

const PARAMS: [&str; 6] = ["bbox", "datetime", "crs", "bbox-crs", "limit", "offset"];

/// A query string: every parser on the raw text, then the string decoded the way axum's
/// `Query` extractor decodes it for the items endpoint, each parameter through its
/// parser. Never a panic; errors are 400s with a message; accepted values are in range.
pub fn check_query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for p in PARAMS {
        check_param(p, &text);
    }
    let Ok(uri) = format!("/ogc/collections/buurten/items?{text}").parse::<axum::http::Uri>() else { return };
    let Ok(axum::extract::Query(q)) = axum::extract::Query::<BTreeMap<String, String>>::try_from_uri(&uri) else { return };
    for (k, v) in &q {
        check_param(k, v);
    }
}
