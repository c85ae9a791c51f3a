//! CSV outputs. Numbers are written with a decimal point; missing values are empty.

use std::io::Write;

use crate::error::Result;
use crate::model::Level;
use crate::snapshot::{IndicatorResult, Snapshot};

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

/// Secret cells have an empty numerator and value, and the reason in `suppressed`.
pub const INDICATOR_CSV_HEADER: &str = "indicator,level,area_code,area_name,period,numerator,denominator,value,unit,suppressed";

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
                "{},{},{},{},{},{},{},{},{},{}",
                ind.def.id,
                l.id,
                csv_field(&area_ref.code),
                csv_field(area_ref.name.as_deref().unwrap_or("")),
                v.periods[p],
                fmt_opt(v.numerator[k]),
                fmt_opt(v.denominator[a]),
                fmt_opt(v.value[k]),
                unit,
                v.suppressed[k].map_or("", |s| s.key())
            )?;
        }
    }
    Ok(())
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
