//! Statistics tables: CBS (Kerncijfers wijken en buurten and friends), Destatis / Zensus
//! tables and grid tables, one reader.
//!
//! Read as published, missing stays missing (`None`), never 0:
//! - StatLine "CSV met statistische symbolen": UTF-8 with BOM, `;`, every field quoted,
//!   numbers padded with spaces, `.` = missing, `x` = secret, `-` = nil (zero, as CBS
//!   defines it), region codes padded to 10 characters;
//! - CBS OData exports (the `TypedDataSet` as CSV, or the JSON `{"value": [...]}`):
//!   `null`/empty = missing, codes space-padded, columns with numeric suffixes
//!   (`AantalInwoners_5`) matched on the name without the suffix, periods `2023JJ00`,
//!   `2023MM03`, `2023KW01`;
//! - the CBS GeoPackage's own attributes are read by [`super::vector`] (sentinels
//!   -99997/-99995 = missing);
//! - German and grid tables ([`super::destatis`]): the Destatis / Zensus database export
//!   with its title lines and footer, its flat file (`ffcsv`), Zensus grid tables by cell
//!   id or centre (2011 and 2022), and long grid tables (one column per category),
//!   recognised by their content and brought to the shape below; region codes are ARS as
//!   written or the cell's INSPIRE code.
//!
//! What the source withheld (CBS `x`, Destatis `–`, Zensus 2011 `-9`) is missing like any
//! other missing value, and also listed per column in [`StatTable::withheld`].
//!
//! The region-code column and the period column are found by their content. When a
//! table holds several periods, every period is kept as an edition (for time series) and
//! the configured one, else the latest, is the table's current values. A file without a
//! period column is one edition when the project gives its period (`period = "2018"`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use super::destatis::Layout;
use super::text::{self, Encoding, Num};
use super::vector::CBS_SENTINELS;
use super::{IngestError, Result};
use crate::model::{CbsKind, clean_code};

#[derive(Debug, Clone, Default)]
pub struct StatSource {
    pub path: PathBuf,
    /// The period to use (`2024JJ00`, `2024`); the latest when not given. For a file
    /// without a period column: the period its figures are of.
    pub period: Option<String>,
    /// The column with the region codes (CBS codes; grid cell ids); found by content
    /// when not given.
    pub code_column: Option<String>,
    /// The column with region names, for tables without codes (older Kerncijfers
    /// exports: `Wijk_Buurt`); found by name when no column holds codes.
    pub name_column: Option<String>,
}

/// One statistics table, restricted to one period: rows keyed by region code.
#[derive(Debug, Clone, Default)]
pub struct StatTable {
    pub path: PathBuf,
    pub codes: Vec<String>,
    /// (column name as published, values aligned with `codes`)
    pub columns: Vec<(String, Vec<Option<f64>>)>,
    pub period: Option<String>,
    pub periods: Vec<String>,
    /// Every period of the table, oldest first (empty when the table has no period).
    pub editions: Vec<Edition>,
    /// For a table that names its regions instead of coding them: per data row, in file
    /// order, `(row number, name)`; `codes` then hold `row:N` until the names are matched
    /// to areas (see `snapshot::areas`).
    pub names: Vec<(u64, String)>,
    /// Region names beside codes, where the table gives them (a Destatis export's
    /// `Aachen, Stadt`): areas without a name of their own take them.
    pub region_names: Vec<(String, String)>,
    pub warnings: Vec<String>,
    /// How the file was read (CBS table, Destatis export, grid table, …).
    pub layout: Layout,
    /// Per column, the rows (indices into `codes`) whose value the source withheld
    /// (secret, not safe enough): missing in `columns` like a cell without a value, kept
    /// apart here. Columns without withheld cells are not listed.
    pub withheld: BTreeMap<String, Vec<usize>>,
}

/// Named columns of values, in the table's order.
pub type Columns = Vec<(String, Vec<Option<f64>>)>;

/// The rows of one period of a table.
#[derive(Debug, Clone, Default)]
pub struct Edition {
    /// The period as CBS writes it (`2024JJ00`, `2024MM03`, `2024KW01`, `2018`).
    pub period: String,
    pub codes: Vec<String>,
    pub columns: Vec<(String, Vec<Option<f64>>)>,
}

/// The first day of a CBS period: `2024`/`2024JJ00` → 2024-01-01, `2024KW02` →
/// 2024-04-01, `2024MM03` → 2024-03-01. `None` when it is not a period.
pub fn period_start(label: &str) -> Option<crate::model::Date> {
    let s = label.trim();
    if !is_period(s) {
        return None;
    }
    let year: i32 = s[..4].parse().ok()?;
    let month = match s.get(4..6) {
        Some("MM") => s[6..8].parse::<u8>().ok().filter(|m| (1..=12).contains(m))?,
        Some("KW") => s[6..8].parse::<u8>().ok().filter(|q| (1..=4).contains(q)).map(|q| q * 3 - 2)?,
        _ => 1,
    };
    crate::model::Date::new(year, month, 1)
}

pub fn read(src: &StatSource) -> Result<StatTable> {
    let path = src.path.as_path();
    let raw = std::fs::read(path).map_err(|e| IngestError::input(path, format!("cannot read: {e}")))?;
    read_bytes(&raw, src)
}

/// [`read`] on bytes already in memory; messages name `src.path`.
pub fn read_bytes(raw: &[u8], src: &StatSource) -> Result<StatTable> {
    let path = src.path.as_path();
    let bytes = text::strip_bom(raw);
    let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !json && let Some(german) = super::destatis::read(path, bytes, src.code_column.as_deref())? {
        let period_col = german.has_period.then_some(1);
        let mut table = build_table(src, german.header, german.rows, 0, period_col)?;
        table.layout = german.layout;
        table.region_names = german.region_names;
        table.warnings.splice(0..0, german.warnings);
        return Ok(table);
    }
    let (header, rows) = if json { read_odata_json(path, bytes)? } else { read_csv(path, bytes)? };
    table_from_rows(src, header, rows)
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(IngestError::input(path, "the file is empty: expected a CBS table with a header line"));
    }
    let encoding = Encoding::detect(bytes);
    let mut reader = csv::ReaderBuilder::new().delimiter(text::sniff_delimiter(bytes)).flexible(true).from_reader(bytes);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|e| IngestError::input(path, format!("cannot read the header line: {e}")))?
        .iter()
        .map(|h| encoding.decode(h).trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in reader.byte_records().enumerate() {
        let rec = rec.map_err(|e| IngestError::input(path, format!("row {}: not valid CSV: {e}", i + 1)))?;
        rows.push(rec.iter().map(|f| encoding.decode(f).into_owned()).collect());
    }
    Ok((header, rows))
}

fn read_odata_json(path: &Path, bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| IngestError::input(path, format!("not valid JSON: {e}")))?;
    let rows = doc
        .get("value")
        .or_else(|| doc.pointer("/d/results"))
        .and_then(|v| v.as_array())
        .ok_or_else(|| IngestError::input(path, "expected a CBS OData export: a JSON object with a \"value\" array of rows"))?;
    let mut header: Vec<String> = Vec::new();
    for row in rows {
        if let Some(obj) = row.as_object() {
            for k in obj.keys() {
                if !header.contains(k) {
                    header.push(k.clone());
                }
            }
        }
    }
    let out = rows
        .iter()
        .map(|row| {
            header
                .iter()
                .map(|k| match row.get(k) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                })
                .collect()
        })
        .collect();
    Ok((header, out))
}

/// A CBS cell: a number, missing (`.`, `x`, `?`, empty, a sentinel), or nil (`-` = 0).
/// `Err` when the cell is text, not a number.
#[expect(clippy::result_unit_err, reason = "the only failure is 'this is text'")]
pub fn parse_cell(raw: &str) -> Result<Option<f64>, ()> {
    let s = raw.trim();
    match s {
        "" | "." | "x" | "X" | "?" | "null" | "NULL" | "NA" => return Ok(None),
        "-" => return Ok(Some(0.0)),
        _ => {}
    }
    match text::parse_number(s.as_bytes()) {
        Num::Value(v) if v.is_finite() && !CBS_SENTINELS.contains(&v) => Ok(Some(v)),
        Num::Value(_) | Num::Empty => Ok(None),
        Num::NotANumber => Err(()),
    }
}

fn cell(r: &[String], i: usize) -> &str {
    r.get(i).map(String::as_str).unwrap_or("")
}

/// On bytes: a cell like `202é` must not be sliced inside a character.
fn is_period(s: &str) -> bool {
    let s = s.trim().as_bytes();
    s.len() >= 4
        && s[..4].iter().all(u8::is_ascii_digit)
        && (s.len() == 4 || (s.len() == 8 && matches!(&s[4..6], b"JJ" | b"MM" | b"KW" | b"X0")))
}

/// Normalised names of columns that hold region names in CBS exports without codes.
const NAME_COLUMNS: &[&str] = &["wijkbuurt", "wijkenbuurten", "wijkenenbuurten", "regionaam", "regio", "gwbnaam", "naam"];

/// The key that stands for data row `row` of a table by name until its name is matched.
pub fn row_key(row: u64) -> String {
    format!("row:{row}")
}

fn table_from_rows(src: &StatSource, mut header: Vec<String>, mut rows: Vec<Vec<String>>) -> Result<StatTable> {
    let path = src.path.as_path();
    let name_col = by_name_column(src, &header, &rows)?;
    let mut names = Vec::new();
    let mut footer = Vec::new();
    if let Some(nc) = name_col {
        // Each row gets a key of its own (names repeat); a source line is not a region.
        let mut kept = Vec::with_capacity(rows.len());
        for (i, mut r) in rows.into_iter().enumerate() {
            let row = i as u64 + 1;
            let name = cell(&r, nc).trim().to_string();
            if name.is_empty() || name.to_ascii_lowercase().starts_with("bron:") {
                footer.push(row);
                continue;
            }
            names.push((row, name));
            r.resize(header.len(), String::new());
            r.push(row_key(row));
            kept.push(r);
        }
        rows = kept;
        header.push("(row)".into());
    }
    let mut table = table_from_coded_rows(src, header, rows, name_col.is_some())?;
    if !footer.is_empty() {
        table.warnings.push(format!(
            "{}: {} {} {} no region (a source line or an empty name) and {} skipped",
            path.display(),
            if footer.len() == 1 { "row" } else { "rows" },
            footer.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            if footer.len() == 1 { "names" } else { "name" },
            if footer.len() == 1 { "was" } else { "were" },
        ));
    }
    table.names = names;
    Ok(table)
}

/// The region-name column of a table without region codes, if it is one.
fn by_name_column(src: &StatSource, header: &[String], rows: &[Vec<String>]) -> Result<Option<usize>> {
    let find = |wanted: &str| header.iter().position(|h| h == wanted || text::normalise_name(h) == text::normalise_name(wanted));
    if let Some(c) = &src.name_column {
        return find(c).map(Some).ok_or_else(|| {
            IngestError::input(&src.path, format!("no column '{c}' (name_column); the columns are: {}", header.join(", ")))
        });
    }
    if src.code_column.is_some() {
        return Ok(None);
    }
    let has_codes =
        (0..header.len()).any(|i| rows.iter().filter(|r| CbsKind::of(&clean_code(cell(r, i))).is_some()).count() * 2 > rows.len());
    if has_codes || rows.is_empty() {
        return Ok(None);
    }
    Ok(NAME_COLUMNS.iter().find_map(|n| header.iter().position(|h| text::normalise_name(h) == *n)))
}

fn table_from_coded_rows(src: &StatSource, header: Vec<String>, rows: Vec<Vec<String>>, by_name: bool) -> Result<StatTable> {
    let path = src.path.as_path();
    let listing = || header.join(", ");
    let code_col = match &src.code_column {
        _ if by_name => header.len() - 1,
        Some(c) => header
            .iter()
            .position(|h| h == c || text::normalise_name(h) == text::normalise_name(c))
            .ok_or_else(|| IngestError::input(path, format!("no column '{c}'; the columns are: {}", listing())))?,
        None => {
            let score = |i: usize| rows.iter().filter(|r| CbsKind::of(&clean_code(cell(r, i))).is_some()).count();
            let best = (0..header.len()).max_by_key(|&i| (score(i), std::cmp::Reverse(i)));
            match best {
                Some(i) if score(i) * 2 > rows.len() && !rows.is_empty() => i,
                _ => {
                    return Err(IngestError::input(
                        path,
                        format!(
                            "no column holds CBS region codes (GM0917, WK091710, BU09171000); set code_column; the columns are: {}",
                            listing()
                        ),
                    ));
                }
            }
        }
    };
    let period_col = (0..header.len()).find(|&i| i != code_col && !rows.is_empty() && rows.iter().all(|r| is_period(cell(r, i))));
    build_table(src, header, rows, code_col, period_col)
}

/// The table from rows whose region code and period columns are known.
fn build_table(
    src: &StatSource,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    code_col: usize,
    period_col: Option<usize>,
) -> Result<StatTable> {
    let path = src.path.as_path();
    let mut periods: Vec<String> = period_col.map(|i| rows.iter().map(|r| cell(r, i).trim().to_string()).collect()).unwrap_or_default();
    periods.sort();
    periods.dedup();
    let period = match (&src.period, period_col) {
        (Some(p), Some(_)) => {
            let p = p.trim();
            let found = periods.iter().find(|q| *q == p || q.starts_with(p) && q.ends_with("JJ00")).cloned();
            Some(found.ok_or_else(|| {
                IngestError::input(path, format!("no period '{p}' in the table; the periods are: {}", periods.join(", ")))
            })?)
        }
        (None, Some(_)) => periods.iter().max_by_key(|p| period_sort_key(p)).cloned(),
        // A file of one period, named in the project.
        (Some(p), None) => {
            let p = p.trim().to_string();
            if period_start(&p).is_none() {
                return Err(IngestError::input(
                    path,
                    format!("period '{p}' is not a CBS period: write the year (2018) or a StatLine period (2018JJ00, 2018KW01, 2018MM03)"),
                ));
            }
            Some(p)
        }
        (None, None) => None,
    };
    let mut warnings = Vec::new();
    let skip = |ci: usize| ci == code_col || Some(ci) == period_col || text::normalise_name(&header[ci]) == "id";
    let in_period = |r: &&Vec<String>, p: &str| period_col.is_none_or(|i| cell(r, i).trim() == p);
    let mut withheld = BTreeMap::new();
    let current = match &period {
        Some(p) => slice(path, &header, code_col, &skip, rows.iter().filter(|r| in_period(r, p)).collect(), &mut warnings, &mut withheld),
        None => slice(path, &header, code_col, &skip, rows.iter().collect(), &mut warnings, &mut withheld),
    };
    let mut editions = match (period_col, &period) {
        (Some(_), _) => periods
            .iter()
            .map(|p| {
                let selected = rows.iter().filter(|r| in_period(r, p)).collect();
                let (codes, columns) = slice(path, &header, code_col, &skip, selected, &mut Vec::new(), &mut BTreeMap::new());
                Edition { period: p.clone(), codes, columns }
            })
            .collect(),
        (None, Some(p)) => vec![Edition { period: p.clone(), codes: current.0.clone(), columns: current.1.clone() }],
        (None, None) => Vec::new(),
    };
    editions.sort_by_key(|e| period_sort_key(&e.period));
    if period_col.is_none() && period.is_some() {
        periods = period.iter().cloned().collect();
    }
    let (codes, columns) = current;
    Ok(StatTable {
        path: path.to_path_buf(),
        codes,
        columns,
        period,
        periods,
        editions,
        names: Vec::new(),
        region_names: Vec::new(),
        warnings,
        layout: Layout::Cbs,
        withheld,
    })
}

/// The region codes and numeric columns of `selected` rows (one period); the cells the
/// source withheld (`x`) into `withheld`.
fn slice(
    path: &Path,
    header: &[String],
    code_col: usize,
    skip: &dyn Fn(usize) -> bool,
    selected: Vec<&Vec<String>>,
    warnings: &mut Vec<String>,
    withheld: &mut BTreeMap<String, Vec<usize>>,
) -> (Vec<String>, Columns) {
    let mut codes = Vec::with_capacity(selected.len());
    let mut keep = Vec::with_capacity(selected.len());
    let mut seen = std::collections::HashSet::new();
    for (i, r) in selected.iter().enumerate() {
        let code = clean_code(cell(r, code_col));
        if code.is_empty() {
            continue;
        }
        if !seen.insert(code.clone()) {
            warnings.push(format!("{}: region {code} appears more than once for one period; the first row is used", path.display()));
            continue;
        }
        codes.push(code);
        keep.push(i);
    }
    let mut columns = Vec::new();
    for (ci, name) in header.iter().enumerate() {
        if skip(ci) {
            continue;
        }
        let mut values = Vec::with_capacity(keep.len());
        let mut bad = 0usize;
        let mut secret = Vec::new();
        for (row, &i) in keep.iter().enumerate() {
            let raw = cell(selected[i], ci);
            if matches!(raw.trim(), "x" | "X") {
                secret.push(row);
            }
            match parse_cell(raw) {
                Ok(v) => values.push(v),
                Err(()) => {
                    bad += 1;
                    values.push(None);
                }
            }
        }
        // A text column (names, labels): not a statistic.
        if bad * 2 > keep.len() || values.iter().all(Option::is_none) && bad > 0 {
            continue;
        }
        if bad > 0 {
            warnings.push(format!("{}: column '{name}': {bad} cells are not numbers and were read as missing", path.display()));
        }
        if !secret.is_empty() {
            withheld.insert(name.clone(), secret);
        }
        columns.push((name.clone(), values));
    }
    (codes, columns)
}

/// Years sort before their months and quarters; `2024MM03` after `2023JJ00`.
fn period_sort_key(p: &str) -> (u32, u32) {
    let year = p.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    let sub = p.get(6..8).and_then(|m| m.parse().ok()).unwrap_or(0);
    let kind = match p.get(4..6) {
        Some("MM") => sub,
        Some("KW") => sub * 3,
        _ => 13,
    };
    (year, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(content: &str, period: Option<&str>) -> StatTable {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, content).unwrap();
        read(&StatSource { path, period: period.map(String::from), ..Default::default() }).unwrap()
    }

    #[test]
    fn statline_csv_with_symbols_keeps_missing_missing() {
        let t = table(
            "\u{feff}\"Perioden\";\"Wijken en buurten\";\"Regiocode (gemeente, wijk, buurt) (code)\";\"Aantal inwoners (aantal)\";\"Woningvoorraad (aantal)\"\n\"2024\";\"Demodorp\";\"GM9999    \";\"   12345\";\"    5000\"\n\"2024\";\"Kern\";\"BU99990000\";\"       .\";\"       -\"\n",
            None,
        );
        assert_eq!(t.codes, vec!["GM9999", "BU99990000"]);
        let inw = &t.columns.iter().find(|(n, _)| n.starts_with("Aantal inwoners")).unwrap().1;
        assert_eq!(inw, &vec![Some(12345.0), None]);
        let won = &t.columns.iter().find(|(n, _)| n.starts_with("Woningvoorraad")).unwrap().1;
        assert_eq!(won, &vec![Some(5000.0), Some(0.0)]);
        assert!(t.columns.iter().all(|(n, _)| n != "Wijken en buurten"), "names are not statistics");
    }

    #[test]
    fn odata_picks_latest_period_and_trims_codes() {
        let t = table(
            "ID,WijkenEnBuurten,Perioden,AantalInwoners_5\n1,GM0917    ,2023JJ00,87000\n2,GM0917    ,2024JJ00,87461\n3,WK091710  ,2024JJ00,\n",
            None,
        );
        assert_eq!(t.period.as_deref(), Some("2024JJ00"));
        assert_eq!(t.codes, vec!["GM0917", "WK091710"]);
        assert_eq!(t.columns[0].0, "AantalInwoners_5");
        assert_eq!(t.columns[0].1, vec![Some(87461.0), None]);
        let t = table("WijkenEnBuurten,Perioden,A_1\nGM0917,2023JJ00,1\nGM0917,2024JJ00,2\n", Some("2023"));
        assert_eq!(t.columns[0].1, vec![Some(1.0)]);
    }

    #[test]
    fn a_non_ascii_cell_is_not_a_period_and_no_panic() {
        // Found by cargo fuzz (fuzz/corpus/statistics/crash-is-period-char-boundary*).
        assert!(!is_period("202é") && !is_period("Café") && !is_period("2024aéb"));
        assert!(is_period(" 2024 ") && is_period("2024MM03") && !is_period("2024XX03"));
    }

    #[test]
    fn months_sort_after_their_year_start() {
        assert!(period_sort_key("2024MM03") > period_sort_key("2023JJ00"));
        assert!(period_sort_key("2024MM03") > period_sort_key("2024MM02"));
    }
}
