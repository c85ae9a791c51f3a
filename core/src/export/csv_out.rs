//! CSV outputs. Numbers are written with a decimal point; missing values are empty.

use std::io::Write;

use crate::model::{Area, Level};
use crate::snapshot::{IndicatorResult, Snapshot};
use std::io::Result;

/// A missing value is an empty cell, never 0.
pub fn fmt_opt(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_default()
}

/// Shortest text that reads back to the same number.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The rows to hand back to whoever made the input: every rejected and partly used row,
/// `row,status,reason,explanation,detail` and then the row's own fields under their own
/// names, in file order. CSV (with the csv crate: quotes, separators and line breaks in the
/// fields survive), or a GeoPackage for a `.gpkg` path, with the feature's geometry where
/// the input had one.
pub fn write_hand_back(path: &std::path::Path, h: &crate::model::HandBack) -> std::io::Result<()> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gpkg")) {
        return super::gpkg::write_hand_back(path, h).map_err(std::io::Error::other);
    }
    let mut w = csv::Writer::from_path(path)?;
    let mut header = vec!["row", "status", "reason", "explanation", "detail"];
    header.extend(h.header.iter().map(String::as_str));
    w.write_record(&header)?;
    let mut rows: Vec<&crate::model::HandBackRow> = h.rows.iter().collect();
    rows.sort_by_key(|r| r.row);
    for r in rows {
        let row = r.row.to_string();
        let mut rec = vec![row.as_str(), r.issue.status(), r.issue.key(), r.issue.describe(), r.detail.as_str()];
        rec.extend((0..h.header.len()).map(|i| r.fields.get(i).map_or("", String::as_str)));
        w.write_record(&rec)?;
    }
    w.flush()
}

/// `area_id,count[,weight_sum]`, one row per area, zeros included, in the layer's order.
pub fn write_counts(out: &mut dyn Write, level: &Level, counts: &[u64], sums: Option<&[f64]>) -> Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "area_id,count{}", if sums.is_some() { ",weight_sum" } else { "" })?;
    for (i, a) in level.areas.iter().enumerate() {
        match sums {
            Some(s) => writeln!(w, "{},{},{}", csv_field(&a.code), counts[i], fmt_num(s[i]))?,
            None => writeln!(w, "{},{}", csv_field(&a.code), counts[i])?,
        }
    }
    w.flush()?;
    Ok(())
}

/// A crosswalk: one row per part of an old area that went to a new area.
pub fn write_crosswalk(out: &mut dyn Write, cw: &crate::crosswalk::Crosswalk, old: &[Area], new: &[Area]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "from_code,to_code,share,method,intersection_m2,weight")?;
    for l in &cw.links {
        let (o, n) = (&old[l.from as usize].code, &new[l.to as usize].code);
        let method = cw.method[l.from as usize].key();
        writeln!(w, "{},{},{},{method},{},{}", csv_field(o), csv_field(n), l.share, l.area, l.weight)?;
    }
    w.flush()
}

/// Counts converted to new areas: one row per new area and field.
pub fn write_converted(out: &mut dyn Write, new: &[Area], fields: &[(String, Vec<crate::crosswalk::Converted>)]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "code,field,value,converted,sources")?;
    for (field, values) in fields {
        for (a, c) in new.iter().zip(values) {
            writeln!(w, "{},{},{},{},{}", csv_field(&a.code), csv_field(field), fmt_opt(c.value), c.converted, c.sources)?;
        }
    }
    w.flush()
}

/// Secret cells have an empty numerator and value, and the reason in `suppressed`.
pub const INDICATOR_CSV_HEADER: &str =
    "indicator,level,area_code,area_name,period,numerator,denominator,denominator_period,value,unit,suppressed,converted";

/// Long format: one row per area and period; only `period` and `area` when given.
pub fn write_indicator_rows(
    w: &mut dyn Write,
    snap: &Snapshot,
    ind: &IndicatorResult,
    level: usize,
    period: Option<usize>,
    area: Option<usize>,
) -> Result<()> {
    let l = &snap.levels[level];
    let v = &ind.per_level[level];
    let unit = csv_field(ind.def.unit.as_deref().unwrap_or(""));
    for (a, area_ref) in l.areas.iter().enumerate() {
        if area.is_some_and(|x| x != a) {
            continue;
        }
        for p in 0..v.periods.len() {
            if period.is_some_and(|q| q != p) {
                continue;
            }
            let k = v.index(a, p);
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                ind.def.id,
                l.id,
                csv_field(&area_ref.code),
                csv_field(area_ref.name.as_deref().unwrap_or("")),
                v.periods[p],
                fmt_opt(v.numerator[k]),
                fmt_opt(v.denominator[k]),
                v.denominator_periods.get(p).cloned().flatten().unwrap_or_default(),
                fmt_opt(v.value[k]),
                unit,
                v.suppressed[k].map_or("", |s| s.key()),
                v.converted.get(k).copied().unwrap_or(false)
            )?;
        }
    }
    Ok(())
}

/// The same CSV the way Dutch Excel opens it by double-click: `;` between fields, a
/// decimal comma in numbers, and a UTF-8 byte order mark (so `ë` stays `ë`).
pub fn to_dutch_excel(csv_text: &[u8]) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv_text);
    let mut writer = csv::WriterBuilder::new().delimiter(b';').flexible(true).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for record in reader.records().flatten() {
        let fields: Vec<String> =
            record.iter().map(|f| if f.contains('.') && f.parse::<f64>().is_ok() { f.replace('.', ",") } else { f.to_string() }).collect();
        let _ = writer.write_record(&fields);
    }
    out.extend(writer.into_inner().unwrap_or_default());
    out
}

/// All indicators of one level, long format.
pub fn write_indicator_csv(out: &mut dyn Write, snap: &Snapshot, level: usize) -> Result<()> {
    let mut w = std::io::BufWriter::new(out);
    writeln!(w, "{INDICATOR_CSV_HEADER}")?;
    for ind in &snap.indicators {
        write_indicator_rows(&mut w, snap, ind, level, None, None)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_excel_dialect_uses_semicolons_and_decimal_commas() {
        let nl = to_dutch_excel(b"indicator,area_name,period,value\nx,\"Heer, Noord\",2023-03,12.5\nx,St. Pieter,2024,3\n");
        let text = String::from_utf8(nl).unwrap();
        assert_eq!(text, "\u{feff}indicator;area_name;period;value\r\nx;Heer, Noord;2023-03;12,5\r\nx;St. Pieter;2024;3\r\n");
    }
}
