//! Statistics published on other boundaries (an older edition of the wijken, say),
//! converted to the project's level of the same kind through a crosswalk
//! (`crate::crosswalk`), before they are attached like any other table: the rest of the
//! pipeline sees a table on the project's own codes, and per column which areas'
//! values were converted.

use super::{Log, timed};
use crate::config::{Project, ProjectError, StatisticsConfig};
use crate::crosswalk::{self, Method, WeightPoints};
use crate::crs::SpatialRef;
use crate::ingest::statistics::{Columns, Edition, StatTable};
use crate::ingest::text::normalise_name;
use crate::ingest::{self, PointSource, vector};
use crate::model::{CbsKind, Level};

/// Statistics on other boundaries that cannot be converted: the boundaries or weighting
/// points cannot be read, or the project asks for what they do not hold.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Read(#[from] crate::ingest::IngestError),
    #[error(transparent)]
    Project(#[from] ProjectError),
}

type Result<T, E = ConvertError> = std::result::Result<T, E>;

/// A statistics table on the project's boundaries: the converted table, the level it is
/// on, and per area of that level whether its values were converted.
pub(super) struct Converted {
    pub table: StatTable,
    pub level: usize,
    pub flags: Vec<bool>,
}

/// The crosswalks made so far, by boundaries and weighting: several statistics files on
/// the same old boundaries (one per year) read them and build their crosswalk once.
#[derive(Default)]
pub(super) struct Crosswalks(std::collections::HashMap<String, Made>);

/// A crosswalk from old boundaries (limited to the project's) to the level `level`.
struct Made {
    old: Vec<crate::model::Area>,
    level: usize,
    cw: crosswalk::Crosswalk,
    weighted: bool,
}

/// Read the old boundaries (and weighting points) of `project.statistics[index]` and build
/// the crosswalk to the project's level of the same kind.
fn make(project: &Project, index: usize, levels: &[Level], working: &SpatialRef, log: &mut Log) -> Result<Made> {
    let sc: &StatisticsConfig = &project.statistics[index];
    let b = sc.boundaries.as_ref().expect("called for statistics with boundaries");
    let src = vector::AreaSource {
        path: project.resolve(&b.path),
        layer: b.layer.clone(),
        id_field: b.id_field.clone(),
        name_field: None,
        level_hint: None,
    };
    let mut old = timed(&mut log.timings, format!("read boundaries {}", b.path.display()), || vector::read_areas(&src, Some(working)))?;
    log.warnings.extend(old.warnings.iter().cloned());
    let kind = old.areas.first().and_then(|a| CbsKind::of(&a.code));
    let li = levels.iter().position(|l| l.cbs_kind.is_some() && l.cbs_kind == kind).ok_or_else(|| {
        ProjectError::new(
            &project.file,
            format!(
                "statistics[{index}].boundaries: the areas of {} are {}, and no level of the project is of that kind",
                b.path.display(),
                kind.map_or("not CBS areas", |k| k.plural())
            ),
        )
    })?;
    let weights = sc.weights.as_ref().map(|w| read_weights(project, w, working, log)).transpose()?;
    let points = weights.as_ref().map(|l| WeightPoints { xs: &l.xs, ys: &l.ys, weights: l.weights.as_deref().unwrap_or(&[]) });
    let target = &levels[li];
    // Only the old areas that lie in the project's (a national file has many more).
    let within = crosswalk::old_areas_within(&old.areas, &target.areas);
    let mut keep = vec![false; old.areas.len()];
    within.iter().for_each(|&i| keep[i] = true);
    let mut k = keep.iter();
    old.areas.retain(|_| *k.next().unwrap_or(&false));
    let cw = timed(&mut log.timings, format!("crosswalk {} → {}", b.path.display(), target.id), || {
        crosswalk::build(&old.areas, &target.areas, points.as_ref())
    });
    let outside: Vec<String> =
        (0..old.areas.len()).filter(|&i| cw.uncovered[i] > 0.01).take(10).map(|i| old.areas[i].code.clone()).collect();
    if !outside.is_empty() {
        log.warnings.push(format!(
            "{}: {} areas lie partly outside the areas of '{}' (e.g. {}); all of their counts go to the part inside",
            b.path.display(),
            cw.uncovered.iter().filter(|u| **u > 0.01).count(),
            target.id,
            outside.join(", ")
        ));
    }
    Ok(Made { old: old.areas, level: li, cw, weighted: points.is_some() })
}

/// Convert the `convert` columns of `table` (published on `sc.boundaries`) to the level
/// of the same CBS kind. Every other column is left out: a rate or an average cannot be
/// converted, only recomputed from converted counts.
pub(super) fn to_project_boundaries(
    project: &Project,
    index: usize,
    table: StatTable,
    levels: &[Level],
    working: &SpatialRef,
    made: &mut Crosswalks,
    log: &mut Log,
) -> Result<Converted> {
    let sc: &StatisticsConfig = &project.statistics[index];
    let key = |k: &str| format!("statistics[{index}].{k}");
    let b = sc.boundaries.as_ref().expect("called for statistics with boundaries");
    // `convert` is not empty: checked when the project was loaded.
    let id = format!("{:?}|{:?}", (&b.path, &b.layer, &b.id_field), sc.weights.as_ref().map(|w| (&w.path, &w.layer, &w.field)));
    if !made.0.contains_key(&id) {
        let m = make(project, index, levels, working, log)?;
        made.0.insert(id.clone(), m);
    }
    let Made { old, level, cw, weighted } = &made.0[&id];
    let (li, target) = (*level, &levels[*level]);
    let convert_columns = |codes: &[String], columns: &Columns| -> Result<(Columns, Vec<bool>)> {
        let row_of: std::collections::HashMap<&str, usize> = codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let mut out = Vec::new();
        let mut flags = vec![false; target.areas.len()];
        for wanted in &sc.convert {
            let Some((name, values)) = columns.iter().find(|(n, _)| n == wanted || normalise_name(n) == normalise_name(wanted)) else {
                return Err(ProjectError::new(
                    &project.file,
                    format!(
                        "{}: '{wanted}' is not a column of {}; the columns are: {}",
                        key("convert"),
                        sc.path.display(),
                        columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .into());
            };
            let on_old: Vec<Option<f64>> = old.iter().map(|a| row_of.get(a.code.as_str()).and_then(|&r| values[r])).collect();
            let converted = crosswalk::convert(cw, &on_old, target.areas.len());
            flags.iter_mut().zip(&converted).for_each(|(f, c)| *f |= c.converted);
            out.push((name.clone(), converted.into_iter().map(|c| c.value).collect()));
        }
        Ok((out, flags))
    };
    let (columns, flags) = convert_columns(&table.codes, &table.columns)?;
    let editions = table
        .editions
        .iter()
        .map(|e| {
            convert_columns(&e.codes, &e.columns).map(|(columns, _)| Edition { period: e.period.clone(), codes: codes(target), columns })
        })
        .collect::<Result<Vec<_>>>()?;
    let count = |m: Method| cw.method.iter().filter(|x| **x == m).count();
    log.warnings.push(format!(
        "{}: published on {} ({} areas), converted to '{}' weighted by {}: {} areas unchanged, {} by points, {} by area; {} converted ({}), other columns left out (rates and averages cannot be converted)",
        sc.path.display(),
        b.path.display(),
        old.len(),
        target.id,
        if *weighted { "the weighting points" } else { "area" },
        count(Method::Unchanged),
        count(Method::Points),
        count(Method::Area),
        columns.len(),
        columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", "),
    ));
    let table = StatTable { codes: codes(target), columns, editions, names: Vec::new(), ..table };
    Ok(Converted { table, level: li, flags })
}

fn codes(level: &Level) -> Vec<String> {
    level.areas.iter().map(|a| a.code.clone()).collect()
}

/// The weighting points of a conversion, with the rows that are no point named.
fn read_weights(
    project: &Project,
    w: &crate::config::WeightsConfig,
    working: &SpatialRef,
    log: &mut Log,
) -> Result<crate::model::PointLayer> {
    let ps = PointSource { path: project.resolve(&w.path), layer: w.layer.clone(), weight: Some(w.field.clone()), ..Default::default() };
    let layer = timed(&mut log.timings, format!("read weights {}", w.path.display()), || ingest::read_points(&ps, working, "weights"))?;
    // Weighting rows that are no point are named, not dropped without a word.
    let a = &layer.accounting;
    if a.rejected_total() > 0 {
        let reasons: Vec<String> = a.rejected.iter().map(|(r, n)| format!("{n} {}", r.key())).collect();
        log.warnings.push(format!(
            "{}: {} of {} weighting rows are no point and weigh nothing ({})",
            w.path.display(),
            a.rejected_total(),
            a.rows,
            reasons.join(", ")
        ));
    }
    log.warnings.extend(a.warnings.iter().cloned());
    Ok(layer)
}

/// The project's `[[conversions]]`: counts of one level onto another (the grid onto
/// gemeenten, wijken onto the grid) through a crosswalk of the two levels' areas, in the
/// order given. A column the target already has is added to where both have a value
/// (the census count of a cell across the border plus the Dutch wijken's share of it);
/// the converted flags say which areas' values hold a converted part.
pub(super) fn between_levels(project: &Project, levels: &mut [Level], working: &SpatialRef, log: &mut Log) -> Result<()> {
    for (i, c) in project.conversions.iter().enumerate() {
        let key = format!("conversions[{i}]");
        let position = |id: &str| levels.iter().position(|l| l.id == id);
        let (Some(from), Some(to)) = (position(&c.from), position(&c.to)) else {
            return Err(ProjectError::new(&project.file, format!("{key}: no level '{}' or '{}'", c.from, c.to)).into());
        };
        let weights = c.weights.as_ref().map(|w| read_weights(project, w, working, log)).transpose()?;
        let points = weights.as_ref().map(|l| WeightPoints { xs: &l.xs, ys: &l.ys, weights: l.weights.as_deref().unwrap_or(&[]) });
        let cw = timed(&mut log.timings, format!("crosswalk {} → {}", c.from, c.to), || {
            crosswalk::build(&levels[from].areas, &levels[to].areas, points.as_ref())
        });
        let partly_outside = cw.uncovered.iter().filter(|u| **u > 0.01).count();
        let n_to = levels[to].areas.len();
        let mut done = Vec::new();
        for (src, dst) in &c.columns {
            let Some(values) = levels[from].stats.columns.get(src) else {
                return Err(ProjectError::new(
                    &project.file,
                    format!(
                        "{key}.columns: '{src}' is no statistic of level '{}'; it has: {}",
                        c.from,
                        levels[from].stats.columns.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    ),
                )
                .into());
            };
            // Areas of other countries than `countries` give nothing (0, not missing).
            let included: Vec<bool> = levels[from]
                .areas
                .iter()
                .map(|a| c.countries.is_empty() || a.country.as_ref().is_some_and(|k| c.countries.contains(k)))
                .collect();
            if !included.contains(&true) {
                let have: std::collections::BTreeSet<&str> = levels[from].areas.iter().filter_map(|a| a.country.as_deref()).collect();
                return Err(ProjectError::new(
                    &project.file,
                    format!(
                        "{key}.countries = {:?}: no area of level '{}' is of these countries (its areas' countries: {}); give each part of the level its country = \"NL\" / \"DE\"",
                        c.countries,
                        c.from,
                        if have.is_empty() { "none given".to_string() } else { have.into_iter().collect::<Vec<_>>().join(", ") }
                    ),
                )
                .into());
            }
            let missing = values.iter().zip(&included).filter(|(v, inc)| **inc && v.is_none()).count();
            let values: Vec<Option<f64>> = values
                .iter()
                .zip(&included)
                .map(|(v, inc)| match (inc, v) {
                    (false, _) => Some(0.0),
                    (true, None) if c.missing_as_zero => Some(0.0),
                    (true, v) => *v,
                })
                .collect();
            let converted = crosswalk::convert(&cw, &values, n_to);
            let stats = &mut levels[to].stats;
            let merged: Vec<Option<f64>> = match stats.columns.get(dst) {
                Some(own) => own
                    .iter()
                    .zip(&converted)
                    .map(|(a, b)| match (a, b.value) {
                        (Some(a), Some(_)) if c.only_missing => Some(*a),
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    })
                    .collect(),
                None => converted.iter().map(|c| c.value).collect(),
            };
            let own = stats.columns.get(dst).cloned();
            let flags = stats.converted.entry(dst.clone()).or_insert_with(|| vec![false; n_to]);
            for (i, (f, conv)) in flags.iter_mut().zip(&converted).enumerate() {
                let kept_own = c.only_missing && own.as_ref().is_some_and(|o| o[i].is_some());
                *f |= conv.converted && conv.value.is_some() && !kept_own;
            }
            let how = if points.is_some() { "weighted by points" } else { "by area" };
            let source = format!("'{src}' of level '{}', converted {how}", c.from);
            match stats.sources.get_mut(dst) {
                Some(s) if stats.columns.contains_key(dst) => s.push_str(&format!(" + {source}")),
                _ => {
                    stats.sources.insert(dst.clone(), source);
                }
            }
            stats.columns.insert(dst.clone(), merged);
            let of = included.iter().filter(|i| **i).count();
            let countries = if c.countries.is_empty() { String::new() } else { format!(" of {}", c.countries.join(", ")) };
            done.push(format!(
                "{src} → {dst} ({missing} of {of} areas{countries} without a value{})",
                if c.missing_as_zero { ", counted as 0" } else { "" }
            ));
        }
        log.warnings.push(format!(
            "{key}: '{}' converted to '{}' {}: {}; {partly_outside} areas of '{}' lie partly outside '{}' (their part outside goes nowhere)",
            c.from,
            c.to,
            if points.is_some() { "weighted by points" } else { "by area" },
            done.join(", "),
            c.from,
            c.to
        ));
    }
    Ok(())
}
