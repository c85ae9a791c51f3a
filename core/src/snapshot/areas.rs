//! The areas stage: every level read (in the working CRS), limited to the project's
//! region, with its statistics from the project's statistics files and its own attributes.

use std::collections::HashMap;

use geo::InteriorPoint;

use super::{Log, timed};
use crate::config::{LevelConfig, Project, ProjectError};
use crate::crs::SpatialRef;
use crate::ingest::{IngestError, statistics, vector};
use crate::model::{Area, CbsKind, Level, StatColumns, StatEdition};

/// The areas stage: a level, a statistics file or a boundaries file that cannot be read,
/// or a project that asks what the data cannot give (a group member that is no area, a
/// conversion to a kind of area the project has no level of).
#[derive(Debug, thiserror::Error)]
pub enum AreasError {
    /// The file of a level (`[[levels]]` with this id).
    #[error("level '{level}': {source}")]
    Level {
        level: String,
        #[source]
        source: Box<IngestError>,
    },
    /// A statistics file (`[[statistics]]` number `index`, from 0).
    #[error("statistics[{index}]: {source}")]
    Statistics {
        index: usize,
        #[source]
        source: Box<IngestError>,
    },
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Convert(Box<super::convert::ConvertError>),
}

impl From<super::convert::ConvertError> for AreasError {
    fn from(e: super::convert::ConvertError) -> AreasError {
        AreasError::Convert(Box::new(e))
    }
}

pub(super) type Result<T, E = AreasError> = std::result::Result<T, E>;

/// Read every level, finest first. Returns the levels and the context areas around the
/// region (the coarsest limited level's neighbours).
pub(super) fn read_levels(project: &Project, working: &SpatialRef, log: &mut Log) -> Result<(Vec<Level>, Vec<Area>)> {
    let mut levels: Vec<Level> = Vec::new();
    let mut context = Vec::new();
    for lc in &project.levels {
        let (level, around) = read_level(project, lc, working, levels.first(), log)?;
        if let Some(around) = around {
            context = around;
        }
        levels.push(level);
    }
    attach_statistics(project, &mut levels, working, log)?;
    let groups = super::groups::levels(project, &levels, log)?;
    levels.extend(groups);
    Ok((levels, context))
}

fn read_level(
    project: &Project,
    lc: &LevelConfig,
    working: &SpatialRef,
    finest: Option<&Level>,
    log: &mut Log,
) -> Result<(Level, Option<Vec<Area>>)> {
    let src = vector::AreaSource {
        path: project.resolve(&lc.path),
        layer: lc.layer.clone(),
        id_field: lc.id_field.clone(),
        name_field: lc.name_field.clone(),
        level_hint: Some(lc.id.clone()),
    };
    let mut read = timed(&mut log.timings, format!("read areas {}", lc.id), || vector::read_areas(&src, Some(working)))
        .map_err(|source| AreasError::Level { level: lc.id.clone(), source: Box::new(source) })?;
    log.warnings.extend(read.warnings.iter().cloned());
    let mut context = None;
    if let Some(region) = lc.region(project) {
        let finest_points: Vec<geo_types::Point<f64>> = match finest {
            Some(l) if region.is_extent() => l.areas.iter().filter_map(|a| a.geometry.interior_point()).collect(),
            _ => Vec::new(),
        };
        // The finest level defines the extent; it is not limited by it.
        if !(region.is_extent() && finest.is_none()) {
            let keep = crate::region::keep_mask(&read.areas, region, &finest_points);
            let before = read.areas.len();
            context = Some(crate::region::context_areas(&read.areas, &keep));
            crate::region::retain(&mut read.areas, &mut read.attributes, &keep);
            tracing::info!(level = %lc.id, kept = read.areas.len(), of = before, "areas in the region");
            if read.areas.is_empty() {
                log.warnings.push(format!(
                    "level '{}': none of the {before} areas of {} lies in the region {region:?}",
                    lc.id,
                    src.path.display()
                ));
            }
        }
    }
    if read.areas.is_empty() {
        log.warnings.push(format!("level '{}': {} has no usable areas", lc.id, src.path.display()));
    }
    let kinds: Vec<Option<CbsKind>> = read.areas.iter().map(|a| CbsKind::of(&a.code)).collect();
    let cbs_kind = kinds.first().copied().flatten().filter(|k| kinds.iter().all(|x| *x == Some(*k)));
    let by_code = read.areas.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
    tracing::info!(level = %lc.id, layer = %read.layer, id_field = %read.id_field, name_field = ?read.name_field, cbs = ?cbs_kind, crs = %read.source_crs, "areas");
    let level = Level {
        id: lc.id.clone(),
        title: lc.title.clone().unwrap_or_else(|| lc.id.clone()),
        cbs_kind,
        parent: lc.parent_index,
        parent_area: Vec::new(),
        stats: read.attributes,
        areas: read.areas,
        by_code,
        groups: None,
    };
    Ok((level, context))
}

/// One statistics table on one level: its current values under each column's name (a
/// second file with the same column gets `name [file]`, unless both are editions of one
/// statistic: then the later period is current), and every edition into the column's
/// series; `protected`: the source's own protection rule, when the project names one.
/// Returns how many areas the table's codes matched.
fn attach_table(
    table: &statistics::StatTable,
    level: &Level,
    out: &mut StatColumns,
    file: &std::path::Path,
    protected: Option<&str>,
) -> usize {
    let align = |codes: &[String]| -> Vec<Option<usize>> {
        let row_of: HashMap<&str, usize> = codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        level.areas.iter().map(|a| row_of.get(a.code.as_str()).copied()).collect()
    };
    let rows = align(&table.codes);
    let hits = rows.iter().filter(|r| r.is_some()).count();
    let rows_matched: std::collections::HashSet<usize> = rows.iter().flatten().copied().collect();
    if hits == 0 {
        return 0;
    }
    let start = |p: &Option<String>| p.as_deref().and_then(statistics::period_start);
    for (name, values) in &table.columns {
        let aligned: Vec<Option<f64>> = rows.iter().map(|r| r.and_then(|i| values[i])).collect();
        let this = start(&table.period);
        let key = match (out.columns.contains_key(name), this, out.periods.get(name).and_then(|p| statistics::period_start(p))) {
            (false, _, _) => name.clone(),
            // Two editions of one statistic: the later one is current, unless it publishes
            // nothing here (a first release without the figure).
            (true, Some(new), Some(old)) if new != old => {
                if new < old && out.columns[name].iter().any(Option::is_some) || aligned.iter().all(Option::is_none) {
                    continue;
                }
                name.clone()
            }
            (true, _, _) => format!("{name} [{}]", file.display()),
        };
        out.columns.insert(key.clone(), aligned);
        let period = table.period.as_deref().map(|p| format!(", period {p}")).unwrap_or_default();
        // The file's name, not its path: sources are shown on public endpoints.
        let file = table.path.file_name().map_or_else(|| table.path.display().to_string(), |f| f.to_string_lossy().into_owned());
        // What the source withheld (secret) is missing like a cell without a value: say how many here.
        let withheld = table.withheld.get(name).map_or(0, |rows| rows.iter().filter(|&&r| rows_matched.contains(&r)).count());
        let withheld = if withheld > 0 { format!(", {withheld} withheld by the source") } else { String::new() };
        out.sources.insert(key.clone(), format!("{file}, column '{name}'{period}{withheld}"));
        match protected {
            Some(rule) => out.protected.insert(key.clone(), rule.to_string()),
            None => out.protected.remove(&key),
        };
        if let Some(p) = &table.period {
            out.periods.insert(key, p.clone());
        }
    }
    for e in &table.editions {
        let Some(start) = statistics::period_start(&e.period) else { continue };
        let rows = align(&e.codes);
        for (name, values) in &e.columns {
            let series = out.series.entry(name.clone()).or_default();
            series.retain(|x| x.label != e.period);
            series.push(StatEdition { label: e.period.clone(), start, values: rows.iter().map(|r| r.and_then(|i| values[i])).collect() });
            series.sort_by_key(|x| x.start);
        }
    }
    hits
}

/// The statistics files, matched to levels by region code. They come first; the areas'
/// own attributes fill in the names not taken.
fn attach_statistics(project: &Project, levels: &mut [Level], working: &SpatialRef, log: &mut Log) -> Result<()> {
    let mut file_stats: Vec<StatColumns> = vec![StatColumns::default(); levels.len()];
    let mut crosswalks = super::convert::Crosswalks::default();
    for (index, sc) in project.statistics.iter().enumerate() {
        let src = statistics::StatSource {
            path: project.resolve(&sc.path),
            period: sc.period.clone(),
            code_column: sc.code_column.clone(),
            name_column: sc.name_column.clone(),
        };
        let mut table = timed(&mut log.timings, format!("read statistics {}", sc.path.display()), || statistics::read(&src))
            .map_err(|source| AreasError::Statistics { index, source: Box::new(source) })?;
        log.warnings.extend(table.warnings.iter().cloned());
        if !table.names.is_empty() {
            log.warnings.extend(super::names::match_to_codes(&mut table, levels));
        }
        let mut matched = 0usize;
        if sc.boundaries.is_some() {
            let conv = super::convert::to_project_boundaries(project, index, table, levels, working, &mut crosswalks, log)?;
            let li = conv.level;
            attach_table(&conv.table, &levels[li], &mut file_stats[li], &sc.path, sc.protected.as_deref());
            let from =
                sc.boundaries.as_ref().and_then(|b| b.path.file_name()).map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            for (name, _) in &conv.table.columns {
                file_stats[li].converted.insert(name.clone(), conv.flags.clone());
                if let Some(s) = file_stats[li].sources.get_mut(name) {
                    s.push_str(&format!(", converted from the areas of {from}"));
                }
            }
            continue;
        }
        for (li, level) in levels.iter().enumerate() {
            matched += attach_table(&table, level, &mut file_stats[li], &sc.path, sc.protected.as_deref());
        }
        if matched == 0 {
            log.warnings.push(format!(
                "{}: none of its {} region codes matches an area of any level",
                src.path.display(),
                table.codes.len()
            ));
        }
    }
    for (level, mut fs) in levels.iter_mut().zip(file_stats) {
        for (k, v) in std::mem::take(&mut level.stats.columns) {
            if !fs.columns.contains_key(&k) {
                if let Some(s) = level.stats.sources.get(&k) {
                    fs.sources.insert(k.clone(), s.clone());
                }
                fs.columns.insert(k, v);
            }
        }
        level.stats = fs;
    }
    Ok(())
}
