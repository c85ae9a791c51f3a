//! Statistics tables that name their regions instead of coding them (the Kerncijfers
//! exports of 2016–2020 in `Wijk_Buurt`: `Heerlen`, `Wijk 10 Maria Gewanden en
//! Terschuren`, `Maria Gewanden`), matched to the areas' CBS codes.
//!
//! CBS lists a gemeente, then each wijk followed by its buurten. So a row's level comes
//! from its text and position: `Wijk NN …` is wijk NN of the current gemeente (code
//! `WK` + gemeente + NN); the rows after it are that wijk's buurten, matched by name
//! (case, accents and punctuation ignored) among the buurten whose code says they lie in
//! that wijk, else among all buurten of the gemeente; any other row is a gemeente,
//! matched by name. A name that matches no area, or more than one, is reported with the
//! file and row, and its figures are not used.

use crate::ingest::csv_points::normalise;
use crate::ingest::statistics::{StatTable, row_key};
use crate::model::{CbsKind, Level};

/// Replace the row keys of `table` by the codes its names match; returns the warnings.
pub(super) fn match_to_codes(table: &mut StatTable, levels: &[Level]) -> Vec<String> {
    let areas_of = |kind: CbsKind| -> Vec<(&str, String)> {
        levels
            .iter()
            .filter(|l| l.cbs_kind == Some(kind))
            .flat_map(|l| l.areas.iter().map(|a| (a.code.as_str(), normalise(a.name.as_deref().unwrap_or("")))))
            .collect()
    };
    let (gemeenten, wijken, buurten) = (areas_of(CbsKind::Gemeente), areas_of(CbsKind::Wijk), areas_of(CbsKind::Buurt));
    let mut gemeente: Option<String> = None;
    let mut wijk: Option<String> = None;
    let mut matched = std::collections::HashMap::new();
    let mut problems = Vec::new();
    for (row, name) in &table.names {
        let key = normalise(name);
        let candidates: Vec<&str> = if let Some(nn) = wijk_number(name) {
            let by_number: Vec<&str> = match &gemeente {
                Some(gm) => wijken.iter().filter(|(c, _)| c.len() == 8 && &c[2..6] == gm && &c[6..8] == nn).map(|(c, _)| *c).collect(),
                None => Vec::new(),
            };
            let found = if by_number.is_empty() { named(&wijken, &key, "WK") } else { by_number };
            wijk = found.first().map(|c| c[2..8].to_string()).or_else(|| gemeente.as_ref().map(|gm| format!("{gm}{nn}")));
            found
        } else if let Some(w) = wijk.as_deref().filter(|_| !gemeenten.iter().any(|(_, n)| *n == key)) {
            let in_wijk = named(&buurten, &key, &format!("BU{w}"));
            if in_wijk.is_empty() { named(&buurten, &key, &format!("BU{}", &w[..4])) } else { in_wijk }
        } else {
            let found = named(&gemeenten, &key, "GM");
            if let [code] = found.as_slice() {
                gemeente = Some(code[2..].to_string());
                wijk = None;
            }
            found
        };
        match candidates.as_slice() {
            [code] => {
                matched.insert(row_key(*row), code.to_string());
            }
            [] => problems.push(match (wijk_number(name), &wijk) {
                (None, Some(w)) => format!("row {row} '{name}': no buurt of wijk WK{w} or of its gemeente has this name"),
                _ => format!("row {row} '{name}': no area has this name"),
            }),
            more => problems.push(format!("row {row} '{name}': matches {} areas ({})", more.len(), more.join(", "))),
        }
    }
    let rename = |codes: &mut Vec<String>| {
        for c in codes.iter_mut() {
            if let Some(code) = matched.get(c.as_str()) {
                *c = code.clone();
            }
        }
    };
    rename(&mut table.codes);
    table.editions.iter_mut().for_each(|e| rename(&mut e.codes));
    let path = table.path.display();
    let mut out = Vec::new();
    if !problems.is_empty() {
        out.push(format!(
            "{path}: the regions are named, not coded; {} of {} names matched an area, these did not and their figures are not used: {}",
            matched.len(),
            table.names.len(),
            problems.join("; ")
        ));
    }
    out
}

/// `NN` of `Wijk NN …` (CBS's way of naming a wijk in the Kerncijfers).
fn wijk_number(name: &str) -> Option<&str> {
    let rest = name.trim().strip_prefix("Wijk ").or_else(|| name.trim().strip_prefix("wijk "))?;
    let nn = rest.get(..2)?;
    (nn.bytes().all(|b| b.is_ascii_digit()) && rest[2..].chars().next().is_none_or(|c| c == ' ')).then_some(nn)
}

/// The codes (starting with `prefix`) of the areas whose normalised name is `key`.
fn named<'a>(areas: &[(&'a str, String)], key: &str, prefix: &str) -> Vec<&'a str> {
    areas.iter().filter(|(c, n)| c.starts_with(prefix) && n == key).map(|(c, _)| *c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wijk_numbers_are_read_from_cbs_names() {
        assert_eq!(wijk_number("Wijk 10 Maria Gewanden en Terschuren"), Some("10"));
        assert_eq!(wijk_number("Wijk 03"), Some("03"));
        assert_eq!(wijk_number("Wijkerbroek"), None);
        assert_eq!(wijk_number("Wijk 1a"), None);
    }
}
