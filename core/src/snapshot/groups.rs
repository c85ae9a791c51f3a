//! Custom groups of areas (`[[groups]]`: `Heerlen-Noord` = a list of wijken, `Parkstad` =
//! a list of gemeenten) become levels of their own, one per member level, after the
//! project's levels: `groepen_wijken`, `groepen_gemeenten`. So a group is wherever an area
//! is (the indicator API, an OGC collection, a tileset, profiles), and:
//!
//! - its points are joined to its polygon (the union of its members), so its numerator is
//!   its own count, and on a protected layer it gets its own cell-key perturbation as an
//!   aggregate (its records' keys summed), not a sum of its members' perturbed counts;
//! - its statistics are the sums of its members' (missing when any member's is); columns
//!   named as percentages, averages or densities are left out, since a sum of those
//!   means nothing, so a group's rate is always Σ numerators / Σ denominators;
//! - the groups of one level must not share members (a point belongs to one group).
//!
//! Group levels are not on the map's zoom ladder (they would cover the gemeenten): they are
//! served as their own collections and tilesets.

use std::collections::{BTreeMap, HashMap};

use geo::{Area as _, BooleanOps};
use geo_types::MultiPolygon;

use super::Log;
use crate::config::{Project, ProjectError};
use crate::ingest::text::normalise_name;
use crate::model::{Area, GroupInfo, Level, StatColumns, StatEdition};

type Result<T, E = ProjectError> = std::result::Result<T, E>;

/// Words that make a statistic a ratio, not something to sum.
const NOT_SUMMABLE: &[&str] = &["percentage", "procent", "pct", "gemiddeld", "dichtheid", "aandeel", "mediaan", "ratio"];

/// The group levels of the project, in the order their member levels come.
pub(super) fn levels(project: &Project, levels: &[Level], log: &mut Log) -> Result<Vec<Level>> {
    let mut out = Vec::new();
    for member_level in levels.iter().filter(|l| project.groups.iter().any(|g| g.level == l.id)) {
        out.push(group_level(project, member_level, log)?);
    }
    Ok(out)
}

fn group_level(project: &Project, members_of: &Level, log: &mut Log) -> Result<Level> {
    let err = |message: String| ProjectError::new(&project.file, message);
    let mut areas = Vec::new();
    let mut members = Vec::new();
    let mut owner: HashMap<usize, &str> = HashMap::new();
    for g in project.groups.iter().filter(|g| g.level == members_of.id) {
        let mut idx = Vec::new();
        let mut unknown = Vec::new();
        for code in &g.members {
            match members_of.by_code.get(code.trim()) {
                Some(&i) => idx.push(i),
                None => unknown.push(code.as_str()),
            }
        }
        if !unknown.is_empty() {
            return Err(err(format!(
                "groups '{}': {} not in level '{}' (of the project's region)",
                g.id,
                unknown.join(", "),
                members_of.id
            )));
        }
        for &i in &idx {
            if let Some(other) = owner.insert(i, &g.id) {
                return Err(err(format!(
                    "groups '{other}' and '{}' share {}: the groups of one level must not overlap (a point belongs to one group)",
                    g.id, members_of.areas[i].code
                )));
            }
        }
        let geometry = idx.iter().fold(MultiPolygon::<f64>(Vec::new()), |acc, &i| acc.union(&members_of.areas[i].geometry));
        let km2 = geometry.unsigned_area() / 1e6;
        areas.push(Area {
            code: g.id.clone(),
            name: Some(g.title.clone().unwrap_or_else(|| g.id.clone())),
            geometry,
            geometry_km2: km2,
            country: None,
        });
        members.push(idx);
    }
    let stats = summed_statistics(&members_of.stats, &members);
    log.warnings.push(format!(
        "groups of '{}': {} ({} statistics summed over their members)",
        members_of.id,
        areas
            .iter()
            .map(|a| format!("{} ({} members)", a.code, members[areas.iter().position(|x| x.code == a.code).unwrap_or(0)].len()))
            .collect::<Vec<_>>()
            .join(", "),
        stats.columns.len()
    ));
    let by_code = areas.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
    Ok(Level {
        id: format!("groepen_{}", members_of.id),
        title: format!("Groepen van {}", members_of.title),
        cbs_kind: None,
        areas,
        by_code,
        parent: None,
        parent_area: Vec::new(),
        stats,
        groups: Some(GroupInfo { member_level: members_of.id.clone(), members }),
        grid: None,
    })
}

fn summable(name: &str) -> bool {
    let n = normalise_name(name);
    !NOT_SUMMABLE.iter().any(|w| n.contains(w))
}

/// Per group, the sum of its members' values (missing when any member's is missing).
fn sum(values: &[Option<f64>], members: &[Vec<usize>]) -> Vec<Option<f64>> {
    members.iter().map(|m| m.iter().try_fold(0.0, |s, &i| values[i].map(|v| s + v))).collect()
}

fn summed_statistics(stats: &StatColumns, members: &[Vec<usize>]) -> StatColumns {
    let mut out = StatColumns::default();
    for (name, values) in stats.columns.iter().filter(|(n, _)| summable(n)) {
        out.columns.insert(name.clone(), sum(values, members));
        if let Some(s) = stats.sources.get(name) {
            out.sources.insert(name.clone(), format!("sum over the group's members of {s}"));
        }
        if let Some(p) = stats.periods.get(name) {
            out.periods.insert(name.clone(), p.clone());
        }
        if let Some(c) = stats.converted.get(name) {
            out.converted.insert(name.clone(), members.iter().map(|m| m.iter().any(|&i| c[i])).collect());
        }
        if let Some(rule) = stats.protected.get(name) {
            out.protected.insert(name.clone(), rule.clone());
        }
    }
    let series: BTreeMap<String, Vec<StatEdition>> = stats
        .series
        .iter()
        .filter(|(n, _)| summable(n))
        .map(|(n, eds)| {
            let eds = eds.iter().map(|e| StatEdition { label: e.label.clone(), start: e.start, values: sum(&e.values, members) }).collect();
            (n.clone(), eds)
        })
        .collect();
    out.series = series;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_missing_when_a_member_is_and_ratios_are_not_summed() {
        assert_eq!(sum(&[Some(1.0), Some(2.0), None], &[vec![0, 1], vec![1, 2]]), vec![Some(3.0), None]);
        assert!(summable("aantal_inwoners") && summable("InwonersVanaf15Jaar_13") && summable("Bijstandsuitkering_6"));
        assert!(!summable("percentage_koopwoningen") && !summable("gemiddelde_woningwaarde") && !summable("Bevolking_Bevolkingsdichtheid"));
    }
}
