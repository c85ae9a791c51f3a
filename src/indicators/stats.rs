//! Finding a statistic by name across CBS editions and formats, and deriving it for a
//! level that does not publish it (the sum over its children).

use crate::ingest::text::normalise_name;
use crate::model::{Level, StatColumns};

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
        if child.parent.as_deref() != Some(&l.id) || ci == level {
            continue;
        }
        let (child_values, child_source) = resolve(levels, ci, wanted);
        if child_source.is_none() {
            continue;
        }
        let mut sum: Vec<Option<f64>> = vec![Some(0.0); l.areas.len()];
        let mut has_child = vec![false; l.areas.len()];
        for (a, parent) in child.parent_idx.iter().enumerate() {
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
        return (sum, Some(format!("sum over {} of {}", child.id, child_source.unwrap_or_default())));
    }
    (vec![None; l.areas.len()], None)
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
