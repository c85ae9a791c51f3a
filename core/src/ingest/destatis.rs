//! German and grid statistics tables, as Destatis and the Zensus publish them, brought to
//! the one shape the statistics reader's row rules take ([`super::statistics`]): a region
//! code, a period, named value columns, and cells that are a number, missing (`""`) or
//! withheld by the source (`"x"`, which the reader keeps apart in `StatTable::withheld`).
//!
//! Layouts, recognised by their content (no setting needed):
//! - **the Destatis / Zensus database "CSV" export** ([`Layout::DestatisExport`]): title
//!   lines (`Tabelle: 1000A-0000`, the table's subject, a line with the reference date
//!   above the value column), no header row, one row per region
//!   `ARS;Name;<variable>;<unit>;<value>;<quality flag>` (`053340002002;Aachen, Stadt;
//!   Personen;Anzahl;261178;e`), then a free-text footer (notes, a quoted multi-line
//!   field, the licence, `Stand: …`), which is not read. The region code is the first
//!   field (12-digit ARS, or shorter for Länder and Kreise, `DG` for Germany), kept as
//!   written; the column is named by the variable (`Personen`), the period is the year of
//!   the date above the value column (`15.05.2022` → `2022`); quality flags (`e`
//!   endgültig, `p` vorläufig, …) are not values;
//! - **the flat file, `ffcsv`** ([`Layout::DestatisFlat`]): a header `statistics_code;…;
//!   time;1_variable_code;…;1_variable_attribute_code;…;value;value_unit;
//!   value_variable_code;value_variable_label;value_q`, one row per region (and further
//!   dimension) and value: the region is the attribute code of the `GEO…` dimension, the
//!   column the `value_variable_label` (with the labels of any further dimensions), the
//!   period the year of `time`; the same table as the export gives the same numbers;
//! - **grid tables** ([`Layout::Grid`]): cells of the European grid (EPSG:3035) by an id
//!   column (`GITTER_ID_100m`, `Gitter_ID_1km`: INSPIRE `CRS3035RES100mN…E…`,
//!   country-prefixed `DE_…`/`NL_…`, or Destatis' 2011 `100mN26840E43337`, all read as the
//!   same cell by [`crate::grid::Cell::parse`]) or by their centres (`x_mp_1km;y_mp_1km`,
//!   `x_mp_100m;y_mp_100m`); the region code is the cell's INSPIRE code. Columns of
//!   quality flags (`…_KLAMMERN`, `werterlaeuternde_Zeichen`, `…_q`) and of coordinates are
//!   not values;
//! - **long grid tables** ([`Layout::GridLong`]): the Zensus 2011 feature tables
//!   `Merkmal;Auspraegung_Code;Auspraegung_Text;<cell>;Anzahl;Anzahl_q`, one column per
//!   category (`Auspraegung_Text`, else `Merkmal Auspraegung_Code`). A cell the file does
//!   not list is missing, not 0 (the source lists only counts of 3 and more).
//!
//! Symbols. Missing stays missing and is never 0; what the source withheld is missing too,
//! and counted apart:
//! - in Destatis tables and the Zensus 2022 grid: `–`, `-`, `.`, `x`, `/` are withheld
//!   (secret, not safe enough, blocked); empty, `...` and `…` have no value. Destatis'
//!   legend reads `-` as "nothing there", but the Zensus 2022 writes `–` for secret and
//!   exports turn one dash into the other: a dash is never read as 0 here. A number in
//!   brackets (`(12)`, limited validity) is read as the number;
//! - in the Zensus 2011 grid (cells by centre or by Destatis' 2011 ids): `-1` has no value
//!   (uninhabited, or too few to publish) and `-9` is withheld (secret, or not meaningful).

use std::collections::HashMap;
use std::path::Path;

use super::text::{self, Encoding};
use super::{IngestError, Result};
use crate::grid::{self, Cell};

/// The layout a statistics file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// A CBS table: StatLine CSV, an OData export (CSV or JSON).
    #[default]
    Cbs,
    /// The Destatis / Zensus database "CSV" export: title lines, no header, a footer.
    DestatisExport,
    /// The Destatis flat file (`ffcsv`): one row per region and value.
    DestatisFlat,
    /// A table of grid cells, one row per cell.
    Grid { size: u32, zensus2011: bool },
    /// A long table of grid cells (`Merkmal`, `Auspraegung_…`), pivoted to one column per category.
    GridLong { size: u32, zensus2011: bool },
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let conv = |z: bool| if z { "; Zensus 2011 codes: -1 no value, -9 withheld" } else { "" };
        match self {
            Layout::Cbs => f.write_str("CBS table"),
            Layout::DestatisExport => f.write_str("Destatis table export (title lines, footer)"),
            Layout::DestatisFlat => f.write_str("Destatis flat file (ffcsv)"),
            Layout::Grid { size, zensus2011 } => write!(f, "grid table ({size} m cells{})", conv(*zensus2011)),
            Layout::GridLong { size, zensus2011 } => {
                write!(f, "long grid table ({size} m cells, one column per category{})", conv(*zensus2011))
            }
        }
    }
}

/// The text of a withheld cell in a [`Normalised`] table.
pub(super) const WITHHELD: &str = "x";

/// A German or grid table in the reader's shape: `header[0]` the region codes, `header[1]`
/// the periods when `has_period`, then the value columns; cells `""` (no value), `"x"`
/// (withheld) or a number as written.
#[derive(Debug)]
pub(super) struct Normalised {
    pub layout: Layout,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub has_period: bool,
    pub warnings: Vec<String>,
    /// The region's name beside its code, where the table gives one (`Aachen, Stadt`).
    pub region_names: Vec<(String, String)>,
}

/// A cell as the source writes it.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Number(String),
    Missing,
    Withheld,
    Text(String),
}

/// A Destatis / Zensus 2022 cell. See the module documentation for the symbols.
fn destatis_cell(raw: &str) -> Raw {
    let s = raw.trim().trim_matches('"').trim();
    match s {
        "" | "..." | "…" => return Raw::Missing,
        "–" | "-" | "—" | "." | "x" | "X" | "/" => return Raw::Withheld,
        _ => {}
    }
    let inner = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')).map_or(s, str::trim);
    match text::parse_number(inner.as_bytes()) {
        text::Num::Value(v) if v.is_finite() => Raw::Number(inner.to_string()),
        _ => Raw::Text(s.to_string()),
    }
}

/// A Zensus 2011 grid cell: `-1` no value, `-9` withheld, else as Destatis.
fn zensus2011_cell(raw: &str) -> Raw {
    match destatis_cell(raw) {
        Raw::Number(n) => match text::parse_number(n.as_bytes()) {
            text::Num::Value(-1.0) => Raw::Missing,
            text::Num::Value(-9.0) => Raw::Withheld,
            _ => Raw::Number(n),
        },
        other => other,
    }
}

/// Whether `s` is a German region code as Destatis writes it: `DG` (Germany) or 2 to 12
/// digits (Land, Regierungsbezirk, Kreis, Gemeindeverband, Gemeinde; ARS or AGS).
fn is_region_code(s: &str) -> bool {
    let s = s.trim();
    s == "DG" || (2..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Read `bytes` (without BOM) as one of the layouts of this module; `None` when it is none
/// of them (a CBS table: the caller reads it as before).
pub(super) fn read(path: &Path, bytes: &[u8], code_column: Option<&str>) -> Result<Option<Normalised>> {
    let decoded = Encoding::detect(bytes).decode(bytes);
    let text: &str = &decoded;
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let first_field = first_line.split([';', ',', '\t']).next().unwrap_or("");
    if first_field.contains("Tabelle:") {
        return destatis_export(path, text).map(Some);
    }
    let delimiter = text::sniff_delimiter(text.as_bytes());
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(false).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(|f| f.trim().to_string()).collect(),
        _ => return Ok(None),
    };
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let has = |name: &str| lower.iter().any(|h| h == name);
    let is_flat = has("value") && lower.iter().any(|h| dimension_of(h, "_variable_attribute_code").is_some());
    let is_long = has("merkmal") && (has("auspraegung_text") || has("auspraegung_code"));
    let centres = centre_columns(&lower);
    let named_id = lower.iter().any(|h| h.starts_with("gitter_id"));
    if !(is_flat || is_long || centres.is_some() || named_id) {
        // Content: a column of grid cell codes (not CBS codes, which never parse as cells).
        let sample: Vec<(u64, Vec<String>)> =
            records.by_ref().take(200).filter_map(std::result::Result::ok).map(|r| (0, r.iter().map(str::to_string).collect())).collect();
        if id_column(&header, &sample, code_column).is_none() {
            return Ok(None);
        }
    }
    let rows = read_records(path, text, delimiter)?;
    if rows.is_empty() {
        let what = if is_flat { "a Destatis flat file" } else { "a grid table" };
        return Err(IngestError::input(path, format!("{what} with a header and no rows")));
    }
    if is_flat {
        return flat_file(path, &header, &rows).map(Some);
    }
    grid_table(path, &header, &rows, code_column, is_long).map(Some)
}

/// Every record after the header, with its 1-based data row number.
fn read_records(path: &Path, text: &str, delimiter: u8) -> Result<Vec<(u64, Vec<String>)>> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let row = i as u64 + 1;
        let rec = rec.map_err(|e| IngestError::input(path, format!("row {row}: not valid CSV: {e}")))?;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        rows.push((row, rec.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

/// `2_variable_attribute_code` → Some(2) for suffix `_variable_attribute_code`.
fn dimension_of(header: &str, suffix: &str) -> Option<u32> {
    header.strip_suffix(suffix).and_then(|n| n.parse().ok())
}

/// The centre columns (`x_mp_1km`, `y_mp_1km`) and their cell size.
fn centre_columns(lower: &[String]) -> Option<(usize, usize, u32)> {
    for (xi, h) in lower.iter().enumerate() {
        let Some(unit) = h.strip_prefix("x_mp_") else { continue };
        let Some(yi) = lower.iter().position(|y| y.strip_prefix("y_mp_") == Some(unit)) else { continue };
        let size = if let Some(km) = unit.strip_suffix("km") {
            km.parse::<u32>().ok().and_then(|k| k.checked_mul(1000))
        } else {
            unit.strip_suffix('m').and_then(|m| m.parse::<u32>().ok())
        };
        if let Some(size) = size.filter(|s| *s > 0) {
            return Some((xi, yi, size));
        }
    }
    None
}

/// The column of grid cell ids: `code_column` when given, else the column where most
/// rows (more than half) hold a cell code.
fn id_column(header: &[String], rows: &[(u64, Vec<String>)], code_column: Option<&str>) -> Option<usize> {
    if rows.is_empty() {
        return None;
    }
    let named = |i: &usize| code_column.is_none_or(|c| header[*i] == c || text::normalise_name(&header[*i]) == text::normalise_name(c));
    let score = |i: usize| rows.iter().filter(|(_, r)| r.get(i).and_then(|s| Cell::parse(s)).is_some()).count();
    let best = (0..header.len()).filter(named).max_by_key(|&i| (score(i), std::cmp::Reverse(i)))?;
    (score(best) * 2 > rows.len()).then_some(best)
}

/// Values keyed by (region, period) and column, in the order first seen.
struct Pivot {
    columns: Vec<String>,
    column_index: HashMap<String, usize>,
    rows: Vec<(String, String, Vec<String>)>,
    row_index: HashMap<(String, String), usize>,
    /// Per column: (withheld, no value, text, cells) as the source writes them.
    counts: Vec<(usize, usize, usize, usize)>,
    duplicates: Vec<String>,
    text: HashMap<usize, Vec<String>>,
}

impl Pivot {
    fn new() -> Pivot {
        Pivot {
            columns: Vec::new(),
            column_index: HashMap::new(),
            rows: Vec::new(),
            row_index: HashMap::new(),
            counts: Vec::new(),
            duplicates: Vec::new(),
            text: HashMap::new(),
        }
    }

    fn column(&mut self, name: &str) -> usize {
        if let Some(&c) = self.column_index.get(name) {
            return c;
        }
        self.columns.push(name.to_string());
        self.counts.push((0, 0, 0, 0));
        for (_, _, values) in &mut self.rows {
            values.push(String::new());
        }
        self.column_index.insert(name.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Set one value; `at` says where it is for messages (`row 12`, `line 40`).
    fn set(&mut self, code: &str, period: &str, column: &str, cell: Raw, at: &dyn Fn() -> String) {
        let c = self.column(column);
        let key = (code.to_string(), period.to_string());
        let r = match self.row_index.get(&key) {
            Some(&r) => r,
            None => {
                self.rows.push((key.0.clone(), key.1.clone(), vec![String::new(); self.columns.len()]));
                self.row_index.insert(key, self.rows.len() - 1);
                self.rows.len() - 1
            }
        };
        let slot = &mut self.rows[r].2[c];
        if !slot.is_empty() {
            if self.duplicates.len() < 5 {
                self.duplicates.push(format!("{} ({code}, '{column}')", at()));
            }
            return;
        }
        self.counts[c].3 += 1;
        *slot = match cell {
            Raw::Number(n) => n,
            Raw::Withheld => {
                self.counts[c].0 += 1;
                WITHHELD.to_string()
            }
            Raw::Missing => {
                self.counts[c].1 += 1;
                String::new()
            }
            Raw::Text(t) => {
                self.counts[c].2 += 1;
                let seen = self.text.entry(c).or_default();
                if seen.len() < 3 {
                    seen.push(format!("{}: '{t}'", at()));
                }
                t
            }
        };
    }

    fn finish(self, path: &Path, layout: Layout, code_name: &str, mut warnings: Vec<String>) -> Normalised {
        let file = path.display();
        let has_period = self.rows.iter().any(|(_, p, _)| !p.is_empty());
        if !self.duplicates.is_empty() {
            warnings.push(format!(
                "{file}: a region and column given more than once ({}{}); the first value is used",
                self.duplicates.join(", "),
                if self.duplicates.len() == 5 { ", …" } else { "" }
            ));
        }
        // A column of mostly text (names, labels) is no statistic; a few text cells in a
        // column of numbers are missing, and named.
        let keep: Vec<usize> = (0..self.columns.len()).filter(|&c| self.counts[c].2 * 2 <= self.counts[c].3).collect();
        for &c in &keep {
            let (text, examples) = (self.counts[c].2, self.text.get(&c));
            if let Some(examples) = examples.filter(|_| text > 0) {
                warnings.push(format!(
                    "{file}: column '{}': {text} cells are text where a number was expected and were read as missing ({}{})",
                    self.columns[c],
                    examples.join(", "),
                    if text > examples.len() { ", …" } else { "" }
                ));
            }
        }
        let symbols: Vec<String> = keep
            .iter()
            .map(|&c| (&self.columns[c], self.counts[c]))
            .filter(|(_, (w, m, _, _))| w + m > 0)
            .map(|(name, (w, m, _, _))| format!("'{name}' {w} withheld, {m} without a value"))
            .collect();
        if !symbols.is_empty() {
            warnings.push(format!(
                "{file}: read as {layout}; cells the source withheld or gave no value are missing (never 0): {}",
                symbols.join("; ")
            ));
        }
        let mut header = vec![code_name.to_string()];
        if has_period {
            header.push("period".into());
        }
        header.extend(keep.iter().map(|&c| self.columns[c].clone()));
        let rows = self
            .rows
            .into_iter()
            .map(|(code, period, mut values)| {
                let mut row = vec![code];
                if has_period {
                    row.push(period);
                }
                for &c in &keep {
                    let v = values.get_mut(c).map(std::mem::take).unwrap_or_default();
                    row.push(if matches!(destatis_cell(&v), Raw::Text(_)) { String::new() } else { v });
                }
                row
            })
            .collect();
        Normalised { layout, header, rows, has_period, warnings, region_names: Vec::new() }
    }
}

/// The period labels of reference dates: the year (`2022`) when every date is in a year of
/// its own, else the month (`2022MM05`).
fn period_labels(dates: &[crate::model::Date]) -> HashMap<crate::model::Date, String> {
    let mut years: Vec<i32> = dates.iter().map(|d| d.year).collect();
    let mut distinct = dates.to_vec();
    distinct.sort();
    distinct.dedup();
    years.sort_unstable();
    years.dedup();
    let by_year = years.len() == distinct.len();
    distinct.into_iter().map(|d| (d, if by_year { format!("{:04}", d.year) } else { format!("{:04}MM{:02}", d.year, d.month) })).collect()
}

/// A reference date: `15.05.2022`, `2022-05-15`, or a year (`2022`, its first day).
fn reference_date(s: &str) -> Option<crate::model::Date> {
    let s = s.trim();
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        return crate::model::Date::new(s.parse().ok()?, 1, 1);
    }
    // A date, not an 8-digit code.
    if !s.contains(['.', '-', '/']) {
        return None;
    }
    text::parse_date(s)
}

/// The Destatis database "CSV" export: title lines, rows from the first region code to
/// the first line that is no row, the footer left unread.
fn destatis_export(path: &Path, text: &str) -> Result<Normalised> {
    let file = path.display();
    let delimiter = [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| text.lines().take(20).map(|l| l.bytes().filter(|b| b == d).count()).sum::<usize>())
        .unwrap_or(b';');
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(false).from_reader(text.as_bytes());
    let mut titles: Vec<Vec<String>> = Vec::new();
    let mut data: Vec<(u64, Vec<String>)> = Vec::new();
    let mut footer_at = None;
    let mut record = csv::StringRecord::new();
    loop {
        let before = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // The footer is free text: whatever it holds after the rows is not read.
            Err(_) if !data.is_empty() => {
                footer_at = Some(before);
                break;
            }
            Err(e) => return Err(IngestError::input(path, format!("line {before}: not valid CSV: {e}"))),
        }
        let line = record.position().map_or(before, csv::Position::line);
        let fields: Vec<String> = record.iter().map(|f| f.trim().to_string()).collect();
        // The first row holds a value; a later one may have none (`...`).
        let is_row = fields.len() >= 3
            && is_region_code(&fields[0])
            && (!data.is_empty() || fields[2..].iter().any(|f| matches!(destatis_cell(f), Raw::Number(_) | Raw::Withheld)));
        if is_row {
            data.push((line, fields));
        } else if data.is_empty() {
            titles.push(fields);
        } else {
            footer_at = Some(line);
            break;
        }
    }
    if data.is_empty() {
        return Err(IngestError::input(
            path,
            "a Destatis table export (it starts with 'Tabelle:') without rows: expected rows that start with a region code (ARS, or DG for Germany) and hold a value",
        ));
    }
    // Value columns: where most rows hold a number or a symbol; the flag column after one
    // (`e`, `p`, …) and text columns (name, variable, unit) are no values.
    let width = data.iter().map(|(_, f)| f.len()).max().unwrap_or(0);
    let value_cols: Vec<usize> = (2..width)
        .filter(|&j| {
            let valued =
                data.iter().filter(|(_, f)| matches!(f.get(j).map(|c| destatis_cell(c)), Some(Raw::Number(_) | Raw::Withheld))).count();
            valued * 2 > data.len()
        })
        .collect();
    let Some(&first_value) = value_cols.first() else {
        return Err(IngestError::input(path, format!("line {}: no column of values in the rows of this Destatis table", data[0].0)));
    };
    // What the title lines say above each value column: its reference date, or words.
    let mut dates = Vec::new();
    let mut above: HashMap<usize, (Option<crate::model::Date>, Vec<String>)> = HashMap::new();
    for &j in &value_cols {
        let entry = above.entry(j).or_default();
        for t in &titles {
            let Some(cell) = t.get(j).filter(|c| !c.is_empty()) else { continue };
            match reference_date(cell) {
                Some(d) if entry.0.is_none() => {
                    entry.0 = Some(d);
                    dates.push(d);
                }
                _ => entry.1.push(cell.clone()),
            }
        }
    }
    let labels = period_labels(&dates);
    let mut pivot = Pivot::new();
    for (line, fields) in &data {
        // The variable (`Personen`) is the first text after the name; the unit follows.
        let variable = fields[2..first_value].iter().find(|f| !f.is_empty() && matches!(destatis_cell(f), Raw::Text(_)));
        for &j in &value_cols {
            let (date, words) = &above[&j];
            let name = match (variable, words.is_empty()) {
                (Some(v), true) => v.clone(),
                (Some(v), false) => format!("{v} {}", words.join(" ")),
                (None, false) => words.join(" "),
                (None, true) => "Wert".to_string(),
            };
            let period = date.and_then(|d| labels.get(&d).cloned()).unwrap_or_default();
            let cell = fields.get(j).map_or(Raw::Missing, |c| destatis_cell(c));
            pivot.set(&fields[0], &period, &name, cell, &|| format!("line {line}"));
        }
    }
    if let Some(line) = footer_at {
        tracing::debug!(file = %file, line, "Destatis export: the footer from this line on is not read");
    }
    let mut table = pivot.finish(path, Layout::DestatisExport, "ARS", Vec::new());
    table.region_names = data.iter().filter_map(|(_, f)| Some((f.first()?.clone(), f.get(1).filter(|n| !n.is_empty())?.clone()))).collect();
    Ok(table)
}

/// The Destatis flat file (`ffcsv`), pivoted: one row per region and period.
fn flat_file(path: &Path, header: &[String], rows: &[(u64, Vec<String>)]) -> Result<Normalised> {
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let col = |name: &str| lower.iter().position(|h| h == name);
    let value = col("value").ok_or_else(|| IngestError::input(path, "a Destatis flat file without a 'value' column"))?;
    fn cell(r: &[String], i: usize) -> &str {
        r.get(i).map_or("", |s| s.trim())
    }
    // Dimensions: N_variable_code / N_variable_attribute_code / N_variable_attribute_label.
    let mut dims: Vec<(u32, Option<usize>, usize, Option<usize>)> = lower
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let n = dimension_of(h, "_variable_attribute_code")?;
            Some((n, col(&format!("{n}_variable_code")), i, col(&format!("{n}_variable_attribute_label"))))
        })
        .collect();
    dims.sort_by_key(|d| d.0);
    let geo = |d: &(u32, Option<usize>, usize, Option<usize>)| {
        d.1.map_or(0, |vc| rows.iter().filter(|(_, r)| cell(r, vc).to_ascii_uppercase().starts_with("GEO")).count())
    };
    let codes = |d: &(u32, Option<usize>, usize, Option<usize>)| rows.iter().filter(|(_, r)| is_region_code(cell(r, d.2))).count();
    let region = dims
        .iter()
        .copied()
        .max_by_key(|d| (geo(d), codes(d)))
        .filter(|d| (geo(d).max(codes(d))) * 2 > rows.len())
        .ok_or_else(|| {
            IngestError::input(
                path,
                "a Destatis flat file without a region dimension: no N_variable_code starts with GEO and no N_variable_attribute_code holds region codes (ARS)",
            )
        })?;
    let label = col("value_variable_label").or_else(|| col("value_variable_code"));
    let time = col("time");
    let dates: Vec<crate::model::Date> =
        time.map(|t| rows.iter().filter_map(|(_, r)| reference_date(cell(r, t))).collect()).unwrap_or_default();
    let labels = period_labels(&dates);
    let mut pivot = Pivot::new();
    let mut no_region = Vec::new();
    for (row, r) in rows {
        let code = cell(r, region.2);
        if code.is_empty() {
            no_region.push(*row);
            continue;
        }
        let mut name = label.map(|l| cell(r, l)).filter(|s| !s.is_empty()).unwrap_or("value").to_string();
        for d in dims.iter().filter(|d| d.0 != region.0) {
            let part = d.3.map(|l| cell(r, l)).filter(|s| !s.is_empty()).unwrap_or_else(|| cell(r, d.2));
            if !part.is_empty() {
                name.push_str(", ");
                name.push_str(part);
            }
        }
        let period = time.and_then(|t| reference_date(cell(r, t))).and_then(|d| labels.get(&d).cloned()).unwrap_or_default();
        pivot.set(code, &period, &name, destatis_cell(cell(r, value)), &|| format!("row {row}"));
    }
    let mut warnings = Vec::new();
    if !no_region.is_empty() {
        warnings.push(format!(
            "{}: {} rows without a region code in '{}' skipped (rows {})",
            path.display(),
            no_region.len(),
            header[region.2],
            no_region.iter().take(5).map(u64::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(pivot.finish(path, Layout::DestatisFlat, &header[region.2], warnings))
}

/// A grid table, wide (one row per cell) or long (`Merkmal`, `Auspraegung_…`).
fn grid_table(path: &Path, header: &[String], rows: &[(u64, Vec<String>)], code_column: Option<&str>, long: bool) -> Result<Normalised> {
    let file = path.display();
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    let id = id_column(header, rows, code_column);
    if let (Some(c), None) = (code_column, id) {
        return Err(IngestError::input(
            path,
            format!("code_column = '{c}': no column of grid cell codes by that name; the columns are: {}", header.join(", ")),
        ));
    }
    let centres = centre_columns(&lower);
    if id.is_none() && centres.is_none() {
        return Err(IngestError::input(
            path,
            format!(
                "a grid table without cell ids or centres: expected a column of cell codes (GITTER_ID_100m: CRS3035RES100mN…E…) or the centre columns x_mp_100m/y_mp_100m (or x_mp_1km/y_mp_1km); the columns are: {}",
                header.join(", ")
            ),
        ));
    }
    let cell = |r: &[String], i: usize| r.get(i).map_or("", |s| s.trim()).to_string();
    // Zensus 2011 conventions (-1, -9) unless the ids are INSPIRE's (the Zensus 2022 spelling).
    let inspire = id.is_some_and(|i| {
        rows.iter()
            .filter_map(|(_, r)| r.get(i))
            .find(|s| Cell::parse(s).is_some())
            .is_some_and(|s| s.to_ascii_uppercase().contains("CRS3035"))
    });
    let zensus2011 = !inspire;
    let read_cell = |raw: &str| if zensus2011 { zensus2011_cell(raw) } else { destatis_cell(raw) };
    let size = id
        .and_then(|i| rows.iter().find_map(|(_, r)| r.get(i).and_then(|s| Cell::parse(s))).map(|c| c.size))
        .or(centres.map(|c| c.2))
        .unwrap_or(0);
    let not_value = |i: usize| {
        let h = &lower[i];
        Some(i) == id
            || centres.is_some_and(|(x, y, _)| i == x || i == y)
            || h.starts_with("x_mp_")
            || h.starts_with("y_mp_")
            || h.starts_with("gitter_id")
            || h.ends_with("_klammern")
            || h.ends_with("_q")
            || h == "werterlaeuternde_zeichen"
            || h == "klammern"
    };
    let mut unplaced = Vec::new();
    let code_of = |r: &[String]| -> Option<String> {
        if let Some(c) = id.and_then(|i| r.get(i)).and_then(|s| grid::canonical_code(s)) {
            return Some(c);
        }
        let (xi, yi, s) = centres?;
        let num = |i: usize| match text::parse_number(cell(r, i).as_bytes()) {
            text::Num::Value(v) => Some(v),
            _ => None,
        };
        Cell::from_centre(s, num(xi)?, num(yi)?).map(|c| c.code())
    };
    let mut pivot = Pivot::new();
    let layout = if long {
        let col = |name: &str| lower.iter().position(|h| h == name);
        let merkmal = col("merkmal");
        let text_col = col("auspraegung_text");
        let code_col = col("auspraegung_code");
        let value = ["anzahl", "wert", "value", "einwohner"]
            .iter()
            .find_map(|n| col(n))
            .or_else(|| {
                (0..header.len())
                    .filter(|&i| !not_value(i) && Some(i) != merkmal && Some(i) != text_col && Some(i) != code_col)
                    .find(|&i| rows.iter().all(|(_, r)| !matches!(read_cell(&cell(r, i)), Raw::Text(_))))
            })
            .ok_or_else(|| {
                IngestError::input(
                    path,
                    format!(
                        "a long grid table (Merkmal, Auspraegung_…) without a value column (Anzahl); the columns are: {}",
                        header.join(", ")
                    ),
                )
            })?;
        let mut merkmale: Vec<String> = merkmal.map(|m| rows.iter().map(|(_, r)| cell(r, m)).collect()).unwrap_or_default();
        merkmale.sort();
        merkmale.dedup();
        let several = merkmale.len() > 1;
        for (row, r) in rows {
            let Some(code) = code_of(r) else {
                unplaced.push(*row);
                continue;
            };
            let m = merkmal.map(|m| cell(r, m)).unwrap_or_default();
            let category = match (text_col.map(|t| cell(r, t)).filter(|t| !t.is_empty()), code_col.map(|c| cell(r, c))) {
                (Some(t), _) => t,
                (None, Some(c)) => format!("{m} {c}").trim().to_string(),
                (None, None) => m.clone(),
            };
            let name = if several && !m.is_empty() && !category.starts_with(&m) { format!("{m}: {category}") } else { category };
            pivot.set(&code, "", &name, read_cell(&cell(r, value)), &|| format!("row {row}"));
        }
        Layout::GridLong { size, zensus2011 }
    } else {
        let values: Vec<usize> = (0..header.len()).filter(|&i| !not_value(i)).collect();
        for (row, r) in rows {
            let Some(code) = code_of(r) else {
                unplaced.push(*row);
                continue;
            };
            for &i in &values {
                pivot.set(&code, "", &header[i], read_cell(&cell(r, i)), &|| format!("row {row}"));
            }
        }
        Layout::Grid { size, zensus2011 }
    };
    let mut warnings = Vec::new();
    if !unplaced.is_empty() {
        let which = match (id, centres) {
            (Some(i), Some((x, y, s))) => {
                format!("neither '{}' names a grid cell nor are '{}'/'{}' the centre of a {s} m cell", header[i], header[x], header[y])
            }
            (Some(i), None) => format!("'{}' names no grid cell", header[i]),
            (None, Some((x, y, s))) => format!("'{}'/'{}' are not the centre of a {s} m cell", header[x], header[y]),
            (None, None) => String::new(),
        };
        warnings.push(format!(
            "{file}: {} {} skipped: {which} (rows {}{})",
            unplaced.len(),
            if unplaced.len() == 1 { "row" } else { "rows" },
            unplaced.iter().take(5).map(u64::to_string).collect::<Vec<_>>().join(", "),
            if unplaced.len() > 5 { ", …" } else { "" }
        ));
    }
    let code_name = id.map_or_else(|| format!("CRS3035RES{size}m"), |i| header[i].clone());
    Ok(pivot.finish(path, layout, &code_name, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(content: &str) -> Normalised {
        read(Path::new("t.csv"), content.as_bytes(), None).unwrap().expect("a German or grid layout")
    }

    fn column<'a>(n: &'a Normalised, name: &str) -> Vec<&'a str> {
        let c = n.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {:?}", n.header));
        n.rows.iter().map(|r| r[c].as_str()).collect()
    }

    #[test]
    fn symbols() {
        assert_eq!(destatis_cell(" 261178 "), Raw::Number("261178".into()));
        assert_eq!(destatis_cell("45,83"), Raw::Number("45,83".into()));
        assert_eq!(destatis_cell("(12)"), Raw::Number("12".into()));
        for w in ["–", "-", ".", "x", "/"] {
            assert_eq!(destatis_cell(w), Raw::Withheld, "{w}");
        }
        for m in ["", "...", "…"] {
            assert_eq!(destatis_cell(m), Raw::Missing, "{m:?}");
        }
        assert_eq!(destatis_cell("e"), Raw::Text("e".into()));
        assert_eq!(zensus2011_cell("-1"), Raw::Missing);
        assert_eq!(zensus2011_cell("-9"), Raw::Withheld);
        assert_eq!(zensus2011_cell("-2"), Raw::Number("-2".into()));
        assert!(is_region_code("053340002002") && is_region_code("DG") && is_region_code("05") && !is_region_code("GM0917"));
    }

    #[test]
    fn destatis_export_with_title_and_footer() {
        let n = norm(
            "Tabelle: 1000A-0000\nPersonen: Bevölkerungszahl;;;;\nBevölkerung kompakt (Gebietsstand 15.05.2022);;;;;\n;;;;15.05.2022;\n\
             DG;Deutschland;Personen;Anzahl;82719540;e\n053340002002;Aachen, Stadt;Personen;Anzahl;261178;e\n053340004004;Geheim;Personen;Anzahl;–;e\n\
             __________\n\"Nachrichtlich:\nmehrere Zeilen; mit \"\"Anführung\"\" \"\nStand: 12.07.2024 / 21:23:34\n",
        );
        assert_eq!(n.layout, Layout::DestatisExport);
        assert_eq!(n.header, vec!["ARS", "period", "Personen"]);
        assert_eq!(column(&n, "ARS"), vec!["DG", "053340002002", "053340004004"]);
        assert_eq!(column(&n, "period"), vec!["2022"; 3]);
        assert_eq!(column(&n, "Personen"), vec!["82719540", "261178", WITHHELD]);
        assert!(n.warnings.iter().any(|w| w.contains("'Personen' 1 withheld, 0 without a value")), "{:?}", n.warnings);
    }

    #[test]
    fn flat_file_pivots_region_and_variable() {
        let n = norm(
            "statistics_code;statistics_label;time_code;time_label;time;1_variable_code;1_variable_label;1_variable_attribute_code;1_variable_attribute_label;value;value_unit;value_variable_code;value_variable_label;value_q\n\
             1000A;B;STAG;Stichtag;2022-05-15;GEOGM4;Gemeinden;053340002002;Aachen, Stadt;261178;Anzahl;PRS018;Personen;e\n\
             1000A;B;STAG;Stichtag;2022-05-15;GEODL1;Deutschland;DG;Deutschland;82719540;Anzahl;PRS001;Personen;e\n",
        );
        assert_eq!(n.layout, Layout::DestatisFlat);
        assert_eq!(n.header, vec!["1_variable_attribute_code", "period", "Personen"]);
        assert_eq!(column(&n, "Personen"), vec!["261178", "82719540"]);
        assert_eq!(column(&n, "period"), vec!["2022", "2022"]);
    }

    #[test]
    fn zensus_2022_grid_with_decimal_commas_dashes_and_brackets() {
        let n = norm(
            "GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner;Durchschnittsalter;Durchschnittsalter_KLAMMERN\n\
             CRS3035RES100mN3112000E4036000;4036050;3112050;12;41,5;\n\
             DE_CRS3035RES100mN3112100E4036000;4036050;3112150;–;–;KLAMMERN\n\
             CRS3035RES100mN3112200E4036000;4036050;3112250;-1;(38,2);KLAMMERN\n",
        );
        assert_eq!(n.layout, Layout::Grid { size: 100, zensus2011: false });
        assert_eq!(n.header, vec!["GITTER_ID_100m", "Einwohner", "Durchschnittsalter"]);
        assert_eq!(column(&n, "GITTER_ID_100m")[1], "CRS3035RES100mN3112100E4036000", "the prefix is the same cell");
        assert_eq!(column(&n, "Einwohner"), vec!["12", WITHHELD, "-1"], "-1 is a number in 2022 files");
        assert_eq!(column(&n, "Durchschnittsalter"), vec!["41,5", WITHHELD, "38,2"]);
    }

    #[test]
    fn zensus_2011_centres_and_sentinels() {
        let n = norm(
            "x_mp_1km;y_mp_1km;Einwohner;Wohnfl_Bew_D\n4049500;3066500;-1;-1\n4062500;3106500;-1;-9\n4050500;3066500;72;54\n4050000;3066500;5;5\n",
        );
        assert_eq!(n.layout, Layout::Grid { size: 1000, zensus2011: true });
        assert_eq!(
            column(&n, "CRS3035RES1000m"),
            vec!["CRS3035RES1000mN3066000E4049000", "CRS3035RES1000mN3106000E4062000", "CRS3035RES1000mN3066000E4050000"]
        );
        assert_eq!(column(&n, "Einwohner"), vec!["", "", "72"]);
        assert_eq!(column(&n, "Wohnfl_Bew_D"), vec!["", WITHHELD, "54"]);
        assert!(n.warnings.iter().any(|w| w.contains("1 row skipped") && w.contains("rows 4")), "{:?}", n.warnings);
    }

    #[test]
    fn destatis_2011_ids_and_long_tables() {
        let n = norm("Gitter_ID_1km;Einwohner\n1kmN3112E4036;-9\n1kmN3113E4036;7\n");
        assert_eq!(n.layout, Layout::Grid { size: 1000, zensus2011: true });
        assert_eq!(column(&n, "Gitter_ID_1km"), vec!["CRS3035RES1000mN3112000E4036000", "CRS3035RES1000mN3113000E4036000"]);
        assert_eq!(column(&n, "Einwohner"), vec![WITHHELD, "7"]);
        let n = norm(
            "Merkmal;Auspraegung_Code;Auspraegung_Text;x_mp_100m;y_mp_100m;Anzahl;Anzahl_q\n\
             NUTZUNG_DETAIL_HHGEN;4;Leer stehend;4051450;3066150;5;0\nNUTZUNG_DETAIL_HHGEN;3;Ferien- und Freizeitwohnung;4051450;3066150;3;0\n\
             NUTZUNG_DETAIL_HHGEN;4;Leer stehend;4051550;3066150;4;0\n",
        );
        assert_eq!(n.layout, Layout::GridLong { size: 100, zensus2011: true });
        assert_eq!(n.header, vec!["CRS3035RES100m", "Leer stehend", "Ferien- und Freizeitwohnung"]);
        assert_eq!(column(&n, "Leer stehend"), vec!["5", "4"]);
        assert_eq!(column(&n, "Ferien- und Freizeitwohnung"), vec!["3", ""], "a cell not listed is missing, not 0");
    }

    #[test]
    fn text_columns_are_dropped_and_stray_text_is_missing_with_its_row() {
        let n = norm("Gitter_ID_1km;Name;Einwohner\n1kmN3112E4036;Aachen;7\n1kmN3113E4036;Aachen;k.A.\n1kmN3114E4036;Würselen;9\n");
        assert_eq!(n.header, vec!["Gitter_ID_1km", "Einwohner"]);
        assert_eq!(column(&n, "Einwohner"), vec!["7", "", "9"]);
        assert!(n.warnings.iter().any(|w| w.contains("'Einwohner': 1 cells are text") && w.contains("row 2: 'k.A.'")), "{:?}", n.warnings);
        let n = norm("Tabelle: 1\n;;2022\n01;A;5;e\n02;B;...;\n03;C;6;e\nStand: heute\n");
        assert_eq!(column(&n, "ARS"), vec!["01", "02", "03"], "a row without a value is a row");
        assert_eq!(column(&n, "Wert"), vec!["5", "", "6"]);
    }

    #[test]
    fn cbs_tables_are_not_taken() {
        for t in [
            "\"Perioden\";\"Regiocode\";\"Aantal inwoners\"\n\"2024\";\"GM0917\";\"87461\"\n",
            "WijkenEnBuurten,Perioden,AantalInwoners_5\nGM0917,2024JJ00,87461\n",
            "x;y;n\n1;2;3\n",
        ] {
            assert!(read(Path::new("t.csv"), t.as_bytes(), None).unwrap().is_none(), "{t}");
        }
        // Not even when the project names the code column.
        let t = "WijkenEnBuurten,Perioden,AantalInwoners_5\nGM0917,2024JJ00,87461\n";
        assert!(read(Path::new("t.csv"), t.as_bytes(), Some("WijkenEnBuurten")).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_file_and_what_is_wrong() {
        let e = read(Path::new("t.csv"), b"Tabelle: 1\nnur Text\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("without rows"), "{e}");
        let e = read(Path::new("t.csv"), b"GITTER_ID_100m;Einwohner\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("no rows"), "{e}");
        let e = read(Path::new("t.csv"), b"Merkmal;Auspraegung_Text;Anzahl\nA;B;1\n", None).unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("without cell ids or centres"), "{e}");
    }
}
