//! Finding a statistic by name across CBS editions and formats, and deriving it for a
//! level that does not publish it (the sum over its children).

use crate::ingest::text::normalise_name;
use crate::model::{Level, StatColumns, StatEdition};

/// Other names of the same CBS statistic, normalised (see `normalise_name`).
const ALIASES: &[(&str, &[&str])] = &[
    ("aantalinwoners", &["aantinw", "inwoners", "bevolkingaantalinwoners", "population", "aantalinwoners"]),
    ("woningvoorraad", &["woningen", "wonenwoningvoorraad", "dwellingtotal", "woningvoorraad"]),
    ("oppervlaktelandinha", &["oppland", "oppervlakteland", "oppervlaktelandha", "landoppervlakte"]),
    ("aantalhuishoudens", &["aanthh", "huishoudens", "particulierehuishoudens", "huishoudenstotaal"]),
];

/// The column in `stats` meaning `wanted`: exact name, then the same normalised name,
/// then a known alias, then a unique column whose normalised name ends with it.
pub fn find_column<'a>(stats: &'a StatColumns, wanted: &str) -> Option<(&'a str, &'a [Option<f64>])> {
    if let Some((k, v)) = stats.columns.get_key_value(wanted) {
        return Some((k.as_str(), v.as_slice()));
    }
    let w = normalise_name(wanted);
    let by_norm = |n: &str| stats.columns.iter().find(|(k, _)| normalise_name(k) == n);
    if let Some((k, v)) = by_norm(&w) {
        return Some((k.as_str(), v.as_slice()));
    }
    for (canon, aliases) in ALIASES {
        if *canon == w || aliases.contains(&w.as_str()) {
            for n in std::iter::once(*canon).chain(aliases.iter().copied()) {
                if let Some((k, v)) = by_norm(n) {
                    return Some((k.as_str(), v.as_slice()));
                }
            }
        }
    }
    let mut ends = stats.columns.iter().filter(|(k, _)| normalise_name(k).ends_with(&w));
    match (ends.next(), ends.next()) {
        (Some((k, v)), None) => Some((k.as_str(), v.as_slice())),
        _ => None,
    }
}

/// A statistic for every area of `levels[level]`: its own published value when the level
/// has the column, else the sum over its children (missing when any child is missing or
/// it has no children). Returns the values and a description of where they came from.
pub fn resolve(levels: &[Level], level: usize, wanted: &str) -> (Vec<Option<f64>>, Option<String>) {
    let l = &levels[level];
    if let Some((name, values)) = find_column(&l.stats, wanted) {
        let source = l.stats.sources.get(name).cloned().unwrap_or_else(|| name.to_string());
        return (values.to_vec(), Some(source));
    }
    // Sum over the children: levels whose parent is this one.
    for (ci, child) in levels.iter().enumerate() {
        if child.parent != Some(level) {
            continue;
        }
        let (child_values, child_source) = resolve(levels, ci, wanted);
        if child_source.is_none() {
            continue;
        }
        let sum = sum_to_parents(child, l.areas.len(), &child_values);
        return (sum, Some(format!("sum over {} of {}", child.id, child_source.unwrap_or_default())));
    }
    (vec![None; l.areas.len()], None)
}

/// Whether `levels[level]` has the statistic (its own column, else its children's, as
/// [`resolve`] finds it), and the rule its source protected it with
/// (`[[statistics]] protected`): `None` when the level has no such statistic,
/// `Some(None)` when it has it unprotected.
pub fn source_protection<'a>(levels: &'a [Level], level: usize, wanted: &str) -> Option<Option<&'a str>> {
    let l = &levels[level];
    if let Some((name, _)) = find_column(&l.stats, wanted) {
        return Some(l.stats.protected.get(name).map(String::as_str));
    }
    (0..levels.len()).filter(|&ci| levels[ci].parent == Some(level)).find_map(|ci| source_protection(levels, ci, wanted))
}

/// Every edition of a statistic for every area of `levels[level]`, oldest first: the
/// level's own series when it has the column, else the sum over its children per period
/// (a period counts only when the children publish it). Empty when the statistic has no
/// dated editions at this level.
pub fn resolve_series(levels: &[Level], level: usize, wanted: &str) -> Vec<StatEdition> {
    let l = &levels[level];
    if let Some((name, _)) = find_column(&l.stats, wanted) {
        return l.stats.series.get(name).cloned().unwrap_or_default();
    }
    for (ci, child) in levels.iter().enumerate() {
        if child.parent != Some(level) {
            continue;
        }
        let editions = resolve_series(levels, ci, wanted);
        if editions.is_empty() {
            continue;
        }
        return editions
            .into_iter()
            .map(|e| StatEdition { label: e.label, start: e.start, values: sum_to_parents(child, l.areas.len(), &e.values) })
            .collect();
    }
    Vec::new()
}

/// The sum of child values per parent area; missing when any child is missing or the
/// parent has no children.
fn sum_to_parents(child: &Level, n_parents: usize, child_values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut sum: Vec<Option<f64>> = vec![Some(0.0); n_parents];
    let mut has_child = vec![false; n_parents];
    for (a, parent) in child.parent_area.iter().enumerate() {
        if let Some(p) = parent {
            let p = *p as usize;
            has_child[p] = true;
            sum[p] = match (sum[p], child_values[a]) {
                (Some(s), Some(v)) => Some(s + v),
                _ => None,
            };
        }
    }
    for (s, h) in sum.iter_mut().zip(has_child) {
        if !h {
            *s = None;
        }
    }
    sum
}

/// Per area of `levels[level]`: was the statistic converted from other boundaries there
/// (its own flag, or for a sum over children, any child's)?
pub fn converted(levels: &[Level], level: usize, wanted: &str) -> Vec<bool> {
    let l = &levels[level];
    if let Some((name, _)) = find_column(&l.stats, wanted) {
        return l.stats.converted.get(name).cloned().unwrap_or_else(|| vec![false; l.areas.len()]);
    }
    for (ci, child) in levels.iter().enumerate() {
        if child.parent != Some(level) || resolve(levels, ci, wanted).1.is_none() {
            continue;
        }
        let mut out = vec![false; l.areas.len()];
        for (a, flag) in converted(levels, ci, wanted).into_iter().enumerate() {
            if let Some(p) = child.parent_area[a] {
                out[p as usize] |= flag;
            }
        }
        return out;
    }
    vec![false; l.areas.len()]
}

/// The CBS period of a statistic's current values at `levels[level]` (own or children's).
pub fn current_period(levels: &[Level], level: usize, wanted: &str) -> Option<String> {
    let l = &levels[level];
    if let Some((name, _)) = find_column(&l.stats, wanted) {
        return l.stats.periods.get(name).cloned();
    }
    levels.iter().enumerate().filter(|(_, c)| c.parent == Some(level)).find_map(|(ci, _)| current_period(levels, ci, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_statistics_across_editions() {
        let mut s = StatColumns::default();
        s.columns.insert("AANT_INW".into(), vec![Some(1.0)]);
        s.columns.insert("Woningvoorraad_35".into(), vec![Some(2.0)]);
        s.columns.insert("oppervlakte_land_in_ha".into(), vec![Some(3.0)]);
        assert_eq!(find_column(&s, "aantal_inwoners").unwrap().0, "AANT_INW");
        assert_eq!(find_column(&s, "woningvoorraad").unwrap().0, "Woningvoorraad_35");
        assert_eq!(find_column(&s, "oppervlakte_land_in_ha").unwrap().0, "oppervlakte_land_in_ha");
        assert!(find_column(&s, "gemiddelde_woningwaarde").is_none());
    }
}
