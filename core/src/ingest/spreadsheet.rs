//! Spreadsheets as their users made them: `.xlsx`, `.xlsm`, `.xls` and `.ods`, read with
//! calamine (not GDAL, which takes the first row for the header and loses Excel's dates).
//!
//! - the sheet: the one named by `layer`, else the only sheet with data;
//! - the header: the first row that looks like one (two or more text cells, most of the
//!   table's width) under titles and empty lines, or `header_row = N`;
//! - cells as the text a person sees: Excel date serials as `yyyy-mm-dd[Thh:mm:ss]`,
//!   formulas by their cached values, numbers as written;
//! - empty rows and totals rows are no records: named, not counted.
//!
//! The sheet then goes through the same column detection and row rules as a CSV file
//! ([`super::csv_points::read_table`]); row numbers in every message are the sheet's own.

use std::path::Path;

use calamine::{Data, Reader};
use gdal::spatial_ref::SpatialRef;

use super::csv_points::{self, Table};
use super::{IngestError, PointSource, Result};
use crate::model::PointLayer;

/// True for the spreadsheet formats read here.
pub fn is_spreadsheet(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("xlsx" | "xlsm" | "xlsb" | "xls" | "ods")
    )
}

/// Read a point layer from a sheet of a workbook.
pub fn read_points(source: &PointSource, working: &SpatialRef, id: &str) -> Result<PointLayer> {
    let table = read_table(&source.path, source.layer.as_deref(), source.header_row)?;
    csv_points::read_table(table, source, working, id)
}

/// The sheet's records as text, its header found (or given as a 1-based row number).
pub fn read_table(path: &Path, sheet: Option<&str>, header_row: Option<u32>) -> Result<Table> {
    if !path.exists() {
        return Err(IngestError::input(path, "file not found"));
    }
    let mut book = calamine::open_workbook_auto(path)
        .map_err(|e| IngestError::input(path, format!("cannot open this as a spreadsheet (.xlsx, .xls, .ods): {e}")))?;
    let names = book.sheet_names();
    let listing = || format!("the sheets are: {}", if names.is_empty() { "(none)".into() } else { names.join(", ") });
    let mut ranges = Vec::new();
    let name = match sheet {
        Some(w) => names
            .iter()
            .find(|n| *n == w)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(w.trim())))
            .cloned()
            .ok_or_else(|| IngestError::input(path, format!("no sheet '{w}'; {}", listing())))?,
        None => {
            // The only sheet, or the only one with anything in it.
            for n in &names {
                let range = book.worksheet_range(n).map_err(|e| IngestError::layer(path, n, format!("cannot read the sheet: {e}")))?;
                if !range.is_empty() {
                    ranges.push((n.clone(), range));
                }
            }
            match ranges.len() {
                1 => ranges[0].0.clone(),
                0 => return Err(IngestError::input(path, format!("every sheet is empty; {}", listing()))),
                n => {
                    return Err(IngestError::input(
                        path,
                        format!("{n} sheets have data: say which one with layer = \"…\" (--points-layer); {}", listing()),
                    ));
                }
            }
        }
    };
    let range = match ranges.into_iter().find(|(n, _)| *n == name) {
        Some((_, r)) => r,
        None => book.worksheet_range(&name).map_err(|e| IngestError::layer(path, &name, format!("cannot read the sheet: {e}")))?,
    };
    let first_row = range.start().map_or(0, |(r, _)| r) as u64;
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(cell_text).collect()).collect();
    let kinds: Vec<Vec<CellKind>> = range.rows().map(|r| r.iter().map(CellKind::of).collect()).collect();
    // Sheet row numbers as Excel shows them (1-based).
    let number = |i: usize| first_row + i as u64 + 1;
    let header_at = match header_row {
        Some(n) => {
            (u64::from(n)).checked_sub(first_row + 1).map(|i| i as usize).filter(|&i| i < rows.len()).ok_or_else(|| {
                IngestError::layer(path, &name, format!("header_row = {n}: the sheet's rows are {}–{}", number(0), number(rows.len().saturating_sub(1))))
            })?
        }
        None => find_header(&kinds).ok_or_else(|| {
            IngestError::layer(
                path,
                &name,
                "no row looks like a header (two or more column names over most of the table's width): give its row number with header_row = N",
            )
        })?,
    };
    let width = rows[header_at].iter().rposition(|c| !c.trim().is_empty()).map_or(0, |i| i + 1);
    let width = width
        .max(rows.iter().skip(header_at + 1).map(|r| r.iter().rposition(|c| !c.trim().is_empty()).map_or(0, |i| i + 1)).max().unwrap_or(0));
    let header: Vec<String> = (0..width)
        .map(|c| {
            let h = rows[header_at].get(c).map(|h| h.trim().to_string()).unwrap_or_default();
            if h.is_empty() { format!("kolom {}", column_letters(c)) } else { h }
        })
        .collect();
    let mut table = Table { what: format!("sheet '{name}'"), header, ..Default::default() };
    table.notes.push(if header_at == 0 {
        format!("sheet '{name}', column names on row {}", number(header_at))
    } else {
        format!("sheet '{name}', column names on row {} (the rows above it are titles or empty)", number(header_at))
    });
    for (i, cells) in rows.iter().enumerate().skip(header_at + 1) {
        if cells.iter().all(|c| c.trim().is_empty()) {
            table.not_records.push((number(i), "empty"));
            continue;
        }
        let mut record = csv::ByteRecord::new();
        for c in 0..width {
            record.push_field(cells.get(c).map_or("", String::as_str).as_bytes());
        }
        table.records.push((number(i), record));
    }
    Ok(table)
}

/// What a cell holds, for finding the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellKind {
    Empty,
    /// Text that is not a number or a date: a column name could be this.
    Text,
    /// A number, a date, a boolean, an error, or text that reads as a number.
    Value,
}

impl CellKind {
    fn of(d: &Data) -> CellKind {
        match d {
            Data::Empty => CellKind::Empty,
            Data::String(s) if s.trim().is_empty() => CellKind::Empty,
            Data::String(s) => match super::text::parse_number(s.as_bytes()) {
                super::text::Num::Value(_) => CellKind::Value,
                _ => CellKind::Text,
            },
            _ => CellKind::Value,
        }
    }
}

/// The first row of only text cells, two or more of them, covering at least 60% of the
/// widest row in the first 50: titles above the table (one cell, or a few) are skipped.
fn find_header(kinds: &[Vec<CellKind>]) -> Option<usize> {
    let filled = |r: &[CellKind]| r.iter().filter(|k| **k != CellKind::Empty).count();
    let head = &kinds[..kinds.len().min(50)];
    let widest = head.iter().map(|r| filled(r)).max()?;
    head.iter().position(|r| {
        let n = filled(r);
        n >= 2 && r.iter().all(|k| *k != CellKind::Value) && n * 10 >= widest * 6
    })
}

/// A cell as the text a person sees: numbers without a trailing `.0`, dates as
/// `yyyy-mm-dd` (with `Thh:mm:ss` when there is a time), formulas by their cached value.
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, da, h, mi, s, _) = dt.to_ymd_hms_milli();
            if dt.as_f64().fract() == 0.0 {
                format!("{y:04}-{mo:02}-{da:02}")
            } else {
                format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => dt.as_f64().to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => e.to_string(),
    }
}

/// `A`, `B`, …, `Z`, `AA`: a column as Excel names it.
fn column_letters(mut c: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_found_under_titles() {
        use CellKind::*;
        let t = vec![
            vec![Text, Empty, Empty, Empty],
            vec![Empty, Empty, Empty, Empty],
            vec![Text, Text, Text, Text],
            vec![Value, Value, Text, Value],
        ];
        assert_eq!(find_header(&t), Some(2));
        // A subtitle of two cells over a table of five columns is no header either.
        let t = vec![vec![Text, Text, Empty, Empty, Empty], vec![Text, Text, Text, Text, Text], vec![Value; 5]];
        assert_eq!(find_header(&t), Some(1));
        // Numbers in a row: data, not names.
        assert_eq!(find_header(&[vec![Value, Value], vec![Value, Value]]), None);
    }

    #[test]
    fn cells_read_as_people_see_them() {
        use calamine::{ExcelDateTime, ExcelDateTimeType};
        assert_eq!(cell_text(&Data::Float(198081.0)), "198081");
        assert_eq!(cell_text(&Data::Float(198081.25)), "198081.25");
        // 45292 is 2024-01-01 in Excel's 1900 date system.
        assert_eq!(cell_text(&Data::DateTime(ExcelDateTime::new(45292.0, ExcelDateTimeType::DateTime, false))), "2024-01-01");
        assert_eq!(cell_text(&Data::DateTime(ExcelDateTime::new(45292.5, ExcelDateTimeType::DateTime, false))), "2024-01-01T12:00:00");
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(26), "AA");
    }
}
