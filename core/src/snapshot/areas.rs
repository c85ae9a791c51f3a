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
    /// A code in two parts of one level (`[[levels.parts]]`).
    #[error("level '{level}': the code '{code}' is in two of its parts, {first} and {second}; codes must be unique across a level's parts")]
    DuplicateCode { level: String, code: String, first: String, second: String },
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
    let mut read: Vec<Option<Level>> = Vec::new();
    let mut context = Vec::new();
    for lc in &project.levels {
        if lc.grid.is_some() {
            read.push(None);
            continue;
        }
        let finest = read.iter().flatten().next();
        let (level, around) = read_level(project, lc, working, finest, log)?;
        if let Some(around) = around {
            context = around;
        }
        read.push(Some(level));
    }
    // Grid levels after the others: without an extent, they cover the others' areas.
    let mut grids: Vec<Option<Level>> = Vec::with_capacity(read.len());
    {
        let others: Vec<&Level> = read.iter().flatten().collect();
        for lc in &project.levels {
            grids.push(match &lc.grid {
                Some(g) => Some(timed(&mut log.timings, format!("grid cells {}", lc.id), || {
                    super::grid_level::build(project, lc, g, working, &others)
                })?),
                None => None,
            });
        }
    }
    // Every level is either read or a grid, so this keeps the project's order.
    let mut levels: Vec<Level> = read.into_iter().zip(grids).filter_map(|(file, grid)| file.or(grid)).collect();
    attach_statistics(project, &mut levels, &mut context, working, log)?;
    super::convert::between_levels(project, &mut levels, working, log)?;
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
    let mut parts = Vec::new();
    for (i, part) in lc.files().into_iter().enumerate() {
        let src = vector::AreaSource {
            path: project.resolve(&part.path),
            layer: part.layer.clone(),
            id_field: part.id_field.clone(),
            name_field: part.name_field.clone(),
            level_hint: Some(lc.id.clone()),
        };
        let mut read = timed(
            &mut log.timings,
            if lc.parts.is_empty() { format!("read areas {}", lc.id) } else { format!("read areas {} part {i}", lc.id) },
            || vector::read_areas(&src, Some(working)),
        )
        .map_err(|source| AreasError::Level { level: lc.id.clone(), source: Box::new(source) })?;
        log.warnings.extend(read.warnings.iter().cloned());
        tracing::info!(level = %lc.id, path = %src.path.display(), layer = %read.layer, id_field = %read.id_field, name_field = ?read.name_field, country = ?part.country, crs = %read.source_crs, areas = read.areas.len(), "areas");
        for a in &mut read.areas {
            a.country.clone_from(&part.country);
        }
        parts.push((src.path, read));
    }
    let described: Vec<String> = parts.iter().map(|(p, _)| p.display().to_string()).collect();
    let (mut areas, mut stats, mut part_of) = merge_parts(&lc.id, parts)?;
    let mut context = None;
    let files = lc.files();
    if let Some(region) = lc.region(project).or_else(|| files.iter().find_map(|f| f.within.as_ref())) {
        let finest_points: Vec<geo_types::Point<f64>> = match finest {
            Some(l) if region.is_extent() => l.areas.iter().filter_map(|a| a.geometry.interior_point()).collect(),
            _ => Vec::new(),
        };
        // The finest level defines the extent; it is not limited by it.
        if !(region.is_extent() && finest.is_none()) {
            let mut keep = match lc.region(project) {
                Some(r) => crate::region::keep_mask(&areas, r, &finest_points),
                None => vec![true; areas.len()],
            };
            // A part's own `within` decides for its areas.
            for (p, part) in files.iter().enumerate() {
                let Some(w) = &part.within else { continue };
                let mask = if w.is_all() { vec![true; areas.len()] } else { crate::region::keep_mask(&areas, w, &finest_points) };
                keep.iter_mut().zip(&mask).zip(&part_of).filter(|(_, of)| **of == p).for_each(|((k, m), _)| *k = *m);
            }
            let before = areas.len();
            context = Some(crate::region::context_areas(&areas, &keep));
            crate::region::retain(&mut areas, &mut stats, &keep);
            let mut it = keep.iter();
            let before_per_part: Vec<usize> = (0..described.len()).map(|p| part_of.iter().filter(|&&x| x == p).count()).collect();
            part_of.retain(|_| *it.next().unwrap_or(&true));
            tracing::info!(level = %lc.id, kept = areas.len(), of = before, "areas in the region");
            for (p, file) in described.iter().enumerate() {
                if part_of.contains(&p) || before_per_part[p] == 0 {
                    continue;
                }
                let hint = if described.len() > 1 {
                    " (give the region a code of this part's own code system, such as \"05334\" for German ARS codes, or the level within = \"all\")"
                } else {
                    ""
                };
                log.warnings.push(format!(
                    "level '{}': none of the {} areas of {file} lies in the region {region:?}{hint}",
                    lc.id, before_per_part[p]
                ));
            }
        }
    }
    if areas.is_empty() {
        log.warnings.push(format!("level '{}': {} has no usable areas", lc.id, described.join(" + ")));
    }
    let kinds: Vec<Option<CbsKind>> = areas.iter().map(|a| CbsKind::of(&a.code)).collect();
    let cbs_kind = kinds.first().copied().flatten().filter(|k| kinds.iter().all(|x| *x == Some(*k)));
    let by_code = areas.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
    tracing::info!(level = %lc.id, areas = areas.len(), cbs = ?cbs_kind, "level");
    let level = Level {
        id: lc.id.clone(),
        title: lc.title.clone().unwrap_or_else(|| lc.id.clone()),
        cbs_kind,
        parent: lc.parent_index,
        parent_area: Vec::new(),
        stats,
        areas,
        by_code,
        groups: None,
        grid: None,
    };
    Ok((level, context))
}

/// The parts of a level as one: areas in part order, the attributes of every part
/// (missing where a part has no such field), and each area's part. A code in two parts
/// is an error naming both files.
fn merge_parts(level: &str, parts: Vec<(std::path::PathBuf, vector::AreaRead)>) -> Result<(Vec<Area>, StatColumns, Vec<usize>)> {
    if parts.len() == 1 {
        let (_, read) = parts.into_iter().next().expect("one part");
        let n = read.areas.len();
        return Ok((read.areas, read.attributes, vec![0; n]));
    }
    let mut areas: Vec<Area> = Vec::new();
    let mut stats = StatColumns::default();
    let mut part_of = Vec::new();
    let mut first: HashMap<String, usize> = HashMap::new();
    let whats: Vec<String> = parts.iter().map(|(p, r)| format!("{}, layer '{}'", p.display(), r.layer)).collect();
    for (pi, (_, read)) in parts.into_iter().enumerate() {
        let before = areas.len();
        for a in &read.areas {
            if let Some(&other) = first.get(&a.code) {
                return Err(AreasError::DuplicateCode {
                    level: level.to_string(),
                    code: a.code.clone(),
                    first: whats[other].clone(),
                    second: whats[pi].clone(),
                });
            }
            first.insert(a.code.clone(), pi);
        }
        let n = read.areas.len();
        areas.extend(read.areas);
        part_of.extend(std::iter::repeat_n(pi, n));
        // Columns already there and not in this part: missing here; new columns: missing before.
        for (name, col) in stats.columns.iter_mut() {
            if !read.attributes.columns.contains_key(name) {
                col.resize(before + n, None);
            }
        }
        for (name, values) in read.attributes.columns {
            let col = stats.columns.entry(name.clone()).or_insert_with(|| vec![None; before]);
            col.extend(values);
            if let Some(src) = read.attributes.sources.get(&name) {
                let s = stats.sources.entry(name).or_default();
                if !s.is_empty() {
                    s.push_str("; ");
                }
                s.push_str(src);
            }
        }
    }
    Ok((areas, stats, part_of))
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
    seen: &mut [bool],
) -> usize {
    let align = |codes: &[String]| -> Vec<Option<usize>> {
        // Grid cells in any spelling (`NL_CRS3035…`, `1kmN3112E4036`) are one cell.
        fn key(grid: bool, c: &str) -> std::borrow::Cow<'_, str> {
            match grid.then(|| crate::grid::canonical_code(c)).flatten() {
                Some(k) => k.into(),
                None => c.into(),
            }
        }
        let row_of: HashMap<std::borrow::Cow<'_, str>, usize> =
            codes.iter().enumerate().map(|(i, c)| (key(level.grid.is_some(), c), i)).collect();
        level.areas.iter().map(|a| row_of.get(a.code.as_str()).copied()).collect()
    };
    let rows = align(&table.codes);
    let hits = rows.iter().filter(|r| r.is_some()).count();
    seen.iter_mut().zip(&rows).filter(|(_, r)| r.is_some()).for_each(|(s, _)| *s = true);
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
fn attach_statistics(project: &Project, levels: &mut [Level], context: &mut [Area], working: &SpatialRef, log: &mut Log) -> Result<()> {
    let mut file_stats: Vec<StatColumns> = vec![StatColumns::default(); levels.len()];
    // Per level, the areas some statistics file has a row for.
    let mut seen: Vec<Vec<bool>> = levels.iter().map(|l| vec![false; l.areas.len()]).collect();
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
        rename_columns(project, index, &mut table)?;
        if !table.region_names.is_empty() {
            let names: HashMap<&str, &str> = table.region_names.iter().map(|(c, n)| (c.as_str(), n.as_str())).collect();
            for a in levels.iter_mut().flat_map(|l| l.areas.iter_mut()).chain(context.iter_mut()).filter(|a| a.name.is_none()) {
                a.name = names.get(a.code.as_str()).map(|n| n.to_string());
            }
        }
        if !table.names.is_empty() {
            log.warnings.extend(super::names::match_to_codes(&mut table, levels));
        }
        let mut matched = 0usize;
        if sc.boundaries.is_some() {
            let conv = super::convert::to_project_boundaries(project, index, table, levels, working, &mut crosswalks, log)?;
            let li = conv.level;
            attach_table(&conv.table, &levels[li], &mut file_stats[li], &sc.path, sc.protected.as_deref(), &mut seen[li]);
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
            matched += attach_table(&table, level, &mut file_stats[li], &sc.path, sc.protected.as_deref(), &mut seen[li]);
        }
        if matched == 0 {
            log.warnings.push(format!(
                "{}: none of its {} region codes matches an area of any level",
                src.path.display(),
                table.codes.len()
            ));
        }
    }
    for ((level, mut fs), seen) in levels.iter_mut().zip(file_stats).zip(seen) {
        for (k, v) in std::mem::take(&mut level.stats.columns) {
            // A file's column covers only the areas it has a row for: the areas' own
            // attribute of that name stays for the others (a Zensus table on the German
            // part of a level whose Dutch part has the CBS figure).
            if let Some(file) = fs.columns.get_mut(&k) {
                let mut filled = 0;
                for ((f, own), in_file) in file.iter_mut().zip(&v).zip(&seen) {
                    if !in_file && own.is_some() {
                        *f = *own;
                        filled += 1;
                    }
                }
                if filled > 0
                    && let (Some(src), Some(own)) = (fs.sources.get(&k).cloned(), level.stats.sources.get(&k))
                {
                    fs.sources.insert(k.clone(), format!("{src}; {filled} areas: {own}"));
                }
                continue;
            }
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

/// `rename = { Einwohner = "aantal_inwoners" }` of `project.statistics[index]`, in the
/// table's current values and every edition; a name the table does not have is an error
/// that lists the names it has.
fn rename_columns(project: &Project, index: usize, table: &mut statistics::StatTable) -> Result<()> {
    let sc = &project.statistics[index];
    for (from, to) in &sc.rename {
        let is = |n: &str| n == from || crate::ingest::text::normalise_name(n) == crate::ingest::text::normalise_name(from);
        if !table.columns.iter().any(|(n, _)| is(n)) {
            return Err(AreasError::Project(ProjectError::new(
                &project.file,
                format!(
                    "statistics[{index}].rename: '{from}' is not a column of {}; the columns are: {}",
                    sc.path.display(),
                    table.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )));
        }
        let columns = table.columns.iter_mut().chain(table.editions.iter_mut().flat_map(|e| e.columns.iter_mut()));
        columns.filter(|(n, _)| is(n)).for_each(|(n, _)| *n = to.clone());
    }
    Ok(())
}
