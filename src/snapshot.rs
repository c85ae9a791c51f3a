//! The pipeline, run once: ingest → index → join → indicators, into an immutable
//! [`Snapshot`] that the CLI writes out and the server shares behind an `Arc`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use geo::{InteriorPoint, MapCoords};
use geo_types::MultiPolygon;
use rayon::prelude::*;

use crate::config::{Access, Project};
use crate::crs;
use crate::error::{Error, Result};
use crate::index::AreaIndex;
use crate::indicators::{self, Indicator, LevelValues};
use crate::ingest::{self, Coords, Encoding, PointSource, statistics, vector};
use crate::join::{self, NONE};
use crate::model::{CbsKind, Level, PointLayer, StatColumns, cbs_ancestor_code};
use crate::tiles::{self, TileData, Tileset, mvt::Prop};

/// A point layer after the join: for every level, each point's area index (or `NONE`).
pub struct JoinedLayer {
    pub layer: PointLayer,
    pub title: String,
    pub source: PathBuf,
    pub access: Access,
    /// The layer's disclosure rules (also applied to grid cells in tiles).
    pub disclosure: crate::config::Disclosure,
    pub assigned: Vec<Vec<u32>>,
    /// Protected layers (cell-key method): the perturbation table and every record's key.
    /// Never published.
    pub ptable: Option<indicators::ckm::PTable>,
    pub record_keys: Option<Vec<u64>>,
    /// Per level: how many points lie in one of its areas (the rest are outside it).
    pub joined_per_level: Vec<u64>,
    /// WGS84 lon/lat of every point (for OGC API and tiles).
    pub lonlat: Vec<[f64; 2]>,
}

/// One indicator evaluated at every level (aligned with `Snapshot::levels`).
pub struct IndicatorResult {
    pub def: Indicator,
    pub per_level: Vec<LevelValues>,
    /// Built on a restricted point layer: served only with an API key.
    pub restricted: bool,
    /// On a protected layer: the exact values, for API keys with the `exact` role only.
    pub exact: Option<Vec<LevelValues>>,
}

/// Everything the server and the exports need, built once and then read-only.
pub struct Snapshot {
    pub name: String,
    pub description: Option<String>,
    pub attribution: Option<String>,
    pub basemap: Option<crate::config::Basemap>,
    /// Areas around the region (left out by `region`), in WGS84: drawn as context only.
    pub context: Vec<(String, Option<String>, MultiPolygon<f64>)>,
    pub project_file: PathBuf,
    pub working_crs: String,
    pub levels: Vec<Level>,
    pub indexes: Vec<AreaIndex>,
    pub points: Vec<JoinedLayer>,
    pub indicators: Vec<IndicatorResult>,
    /// Per level, every area in WGS84 lon/lat (CRS84 axis order).
    pub wgs84: Vec<Vec<MultiPolygon<f64>>>,
    pub tiles: TileData,
    pub warnings: Vec<String>,
    /// Timings per stage, for the log and the benchmarks.
    pub timings: Vec<(String, f64)>,
    /// Changes whenever the inputs or the project change.
    pub version: String,
    /// A hash of every input, restricted ones included: the tile cache key.
    pub version_hash: u64,
}

impl Snapshot {
    pub fn level_index(&self, id: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.id == id)
    }

    pub fn indicator(&self, id: &str) -> Option<&IndicatorResult> {
        self.indicators.iter().find(|i| i.def.id == id)
    }
}

pub fn timed<T>(timings: &mut Vec<(String, f64)>, name: impl Into<String>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    let secs = t.elapsed().as_secs_f64();
    let name = name.into();
    tracing::info!(stage = %name, seconds = format!("{secs:.3}"), "done");
    timings.push((name, secs));
    Ok(out)
}

/// Point source settings from the project file.
pub fn point_source(project: &Project, p: &crate::config::PointsConfig) -> Result<PointSource> {
    let coords = Coords::from_columns(&p.x, &p.y, &p.lon, &p.lat, &p.crs);
    let delimiter = match p.delimiter.as_deref() {
        None => None,
        Some("tab" | "\\t" | "\t") => Some(b'\t'),
        Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
        Some(d) => {
            return Err(Error::Project {
                path: project.file.clone(),
                message: format!("point layer '{}': delimiter '{d}' is not one character", p.id),
            });
        }
    };
    let encoding = match p.encoding.as_deref() {
        None => None,
        Some(e) => Some(Encoding::parse(e).ok_or_else(|| Error::Project {
            path: project.file.clone(),
            message: format!("point layer '{}': encoding '{e}' is not utf-8 or windows-1252", p.id),
        })?),
    };
    Ok(PointSource {
        path: project.resolve(&p.path),
        layer: p.layer.clone(),
        coords,
        date: p.date.clone(),
        category: p.category.clone(),
        weight: p.weight.clone(),
        delimiter,
        encoding,
        identities: layer_protection(project, p).is_some(),
        id_column: p.id_column.clone(),
    })
}

/// The cell-key parameters of a point layer, when anything published about it is to be
/// protected: its own `min_count`/`round_to`, or those of any indicator on it (all
/// indicators on one layer are linked tables of the same records, so they are protected
/// as one, with the strictest `min_count`).
pub fn layer_protection(project: &Project, p: &crate::config::PointsConfig) -> Option<indicators::ckm::CkmParams> {
    let on_layer = project.indicators.iter().filter(|i| i.numerator.points.as_deref() == Some(p.id.as_str()));
    let mut min_count = p.min_count;
    let mut any = p.min_count.is_some() || p.round_to.is_some();
    for i in on_layer {
        any |= i.min_count.is_some() || i.round_to.is_some();
        if let Some(m) = i.min_count {
            min_count = Some(min_count.map_or(m, |x: f64| x.max(m)));
        }
    }
    any.then(|| indicators::ckm::CkmParams::for_min_count(min_count))
}

/// Run the whole pipeline for a project.
pub fn build(project: &Project) -> Result<Snapshot> {
    // The data version reads every input once more: on its own thread, alongside the rest.
    let version = {
        let project = project.clone();
        std::thread::spawn(move || data_version(&project))
    };
    let mut timings = Vec::new();
    let mut warnings = Vec::new();
    let working = crs::spatial_ref(&project.crs)?;
    if !working.is_projected() {
        return Err(Error::Project {
            path: project.file.clone(),
            message: format!("crs '{}' is not a projected CRS in metres; areas per km² need one (e.g. EPSG:28992)", project.crs),
        });
    }

    // ingest: areas
    let mut levels: Vec<Level> = Vec::new();
    let mut context: Vec<crate::model::Area> = Vec::new();
    for lc in &project.levels {
        let src = vector::AreaSource {
            path: project.resolve(&lc.path),
            layer: lc.layer.clone(),
            id_field: lc.id_field.clone(),
            name_field: lc.name_field.clone(),
            level_hint: Some(lc.id.clone()),
        };
        let mut read = timed(&mut timings, format!("read areas {}", lc.id), || vector::read_areas(&src, Some(&working)))?;
        warnings.extend(read.warnings.iter().cloned());
        if let Some(region) = lc.region(project) {
            let finest: Vec<geo_types::Point<f64>> = match levels.first() {
                Some(l) if region.is_extent() => l.areas.iter().filter_map(|a| a.geometry.interior_point()).collect(),
                _ => Vec::new(),
            };
            // The finest level defines the extent; it is not limited by it.
            if !(region.is_extent() && levels.is_empty()) {
                let keep = crate::region::keep_mask(&read.areas, region, &finest);
                let before = read.areas.len();
                // The coarsest limited level's neighbours become the map's context.
                context = crate::region::context_areas(&read.areas, &keep);
                crate::region::retain(&mut read.areas, &mut read.attributes, &keep);
                tracing::info!(level = %lc.id, kept = read.areas.len(), of = before, "areas in the region");
                if read.areas.is_empty() {
                    warnings.push(format!(
                        "level '{}': none of the {before} areas of {} lies in the region {region:?}",
                        lc.id,
                        src.path.display()
                    ));
                }
            }
        }
        if read.areas.is_empty() {
            warnings.push(format!("level '{}': {} has no usable areas", lc.id, src.path.display()));
        }
        let kinds: Vec<Option<CbsKind>> = read.areas.iter().map(|a| CbsKind::of(&a.code)).collect();
        let cbs_kind = kinds.first().copied().flatten().filter(|k| kinds.iter().all(|x| *x == Some(*k)));
        let by_code = read.areas.iter().enumerate().map(|(i, a)| (a.code.clone(), i)).collect();
        tracing::info!(level = %lc.id, layer = %read.layer, id_field = %read.id_field, name_field = ?read.name_field, cbs = ?cbs_kind, crs = %read.source_crs, "areas");
        levels.push(Level {
            id: lc.id.clone(),
            title: lc.title.clone().unwrap_or_else(|| lc.id.clone()),
            cbs_kind,
            parent: lc.parent.clone(),
            parent_idx: Vec::new(),
            stats: StatColumns::default(),
            areas: read.areas,
            by_code,
        });
        let attrs = read.attributes;
        let l = levels.last_mut().expect("just pushed");
        l.stats = attrs;
    }

    // ingest: statistics files, matched to levels by region code
    let mut file_stats: Vec<StatColumns> = vec![StatColumns::default(); levels.len()];
    for sc in &project.statistics {
        let src =
            statistics::StatSource { path: project.resolve(&sc.path), period: sc.period.clone(), code_column: sc.code_column.clone() };
        let table = timed(&mut timings, format!("read statistics {}", sc.path.display()), || statistics::read(&src))?;
        warnings.extend(table.warnings.iter().cloned());
        let mut matched = 0usize;
        let row_of: HashMap<&str, usize> = table.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        for (li, level) in levels.iter().enumerate() {
            let rows: Vec<Option<usize>> = level.areas.iter().map(|a| row_of.get(a.code.as_str()).copied()).collect();
            let hits = rows.iter().filter(|r| r.is_some()).count();
            if hits == 0 {
                continue;
            }
            matched += hits;
            for (name, values) in &table.columns {
                let key = if file_stats[li].columns.contains_key(name) { format!("{name} [{}]", sc.path.display()) } else { name.clone() };
                file_stats[li].columns.insert(key.clone(), rows.iter().map(|r| r.and_then(|i| values[i])).collect());
                let period = table.period.as_deref().map(|p| format!(", period {p}")).unwrap_or_default();
                file_stats[li].sources.insert(key, format!("{}, column '{name}'{period}", src.path.display()));
            }
        }
        if matched == 0 {
            warnings.push(format!("{}: none of its {} region codes matches an area of any level", src.path.display(), table.codes.len()));
        }
    }
    // Statistics files come first; the areas' own attributes fill in names not taken.
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

    // index
    let indexes: Vec<AreaIndex> =
        timed(&mut timings, "index areas", || Ok(levels.iter().map(|l| AreaIndex::build(l.areas.iter().map(|a| &a.geometry))).collect()))?;

    // hierarchy: parent per level (config, else CBS kinds), parent area per area
    let ids: Vec<String> = levels.iter().map(|l| l.id.clone()).collect();
    for li in 0..levels.len() {
        if levels[li].parent.is_none()
            && let Some(kind) = levels[li].cbs_kind
        {
            let up: &[CbsKind] = match kind {
                CbsKind::Buurt => &[CbsKind::Wijk, CbsKind::Gemeente],
                CbsKind::Wijk => &[CbsKind::Gemeente],
                CbsKind::Gemeente => &[],
            };
            levels[li].parent = up.iter().find_map(|k| levels.iter().find(|l| l.cbs_kind == Some(*k)).map(|l| l.id.clone()));
        }
        if let Some(p) = &levels[li].parent
            && !ids.contains(p)
        {
            return Err(Error::Project {
                path: project.file.clone(),
                message: format!("level '{}': parent '{p}' is not a level", levels[li].id),
            });
        }
    }
    let order = child_first_order(&levels)
        .ok_or_else(|| Error::Project { path: project.file.clone(), message: "the levels' parents form a cycle".into() })?;
    for li in 0..levels.len() {
        let Some(pi) = levels[li].parent.as_ref().and_then(|p| ids.iter().position(|i| i == p)) else {
            levels[li].parent_idx = vec![None; levels[li].areas.len()];
            continue;
        };
        let parent = &levels[pi];
        let (mut by_code, mut by_polygon, mut orphans) = (0usize, 0usize, Vec::new());
        let parent_idx: Vec<Option<u32>> = levels[li]
            .areas
            .iter()
            .map(|a| {
                if let (Some(k), Some(_)) = (parent.cbs_kind, levels[li].cbs_kind)
                    && let Some(&p) = cbs_ancestor_code(&a.code, k).and_then(|c| parent.by_code.get(&c))
                {
                    by_code += 1;
                    return Some(p as u32);
                }
                let found = a.geometry.interior_point().and_then(|pt| indexes[pi].locate(pt.x(), pt.y()));
                match found {
                    Some(_) => by_polygon += 1,
                    None => orphans.push(a.code.clone()),
                }
                found
            })
            .collect();
        if !orphans.is_empty() {
            let shown: Vec<&str> = orphans.iter().take(20).map(String::as_str).collect();
            warnings.push(format!(
                "level '{}': {} areas lie in no area of '{}': {}",
                levels[li].id,
                orphans.len(),
                parent.id,
                shown.join(", ")
            ));
        }
        tracing::debug!(level = %levels[li].id, by_code, by_polygon, "parents");
        levels[li].parent_idx = parent_idx;
    }

    // ingest + join: points
    let mut points = Vec::new();
    let mut sdc_secret: Option<[u8; 16]> = None;
    for pc in &project.points {
        let source = point_source(project, pc)?;
        let read = timed(&mut timings, format!("read points {}", pc.id), || ingest::read_points(&source, &working, &pc.id));
        let mut layer = match read {
            Ok(l) => l,
            // A restricted layer that cannot be read is left out (the operator sees why, in
            // the log and on the admin /health); the public data is served as always.
            Err(e) if pc.access == Access::Restricted => {
                tracing::error!(layer = %pc.id, error = %e, "restricted point layer left out");
                warnings.push(format!("restricted point layer '{}' left out: {e}", pc.id));
                continue;
            }
            Err(e) => return Err(e),
        };
        let (assigned, overlaps) =
            timed(&mut timings, format!("join points {}", pc.id), || Ok(join_hierarchy(&levels, &indexes, &order, &layer)))?;
        for (li, o) in overlaps {
            let what = PathBuf::from(format!("points '{}' in level '{}'", pc.id, levels[li].id));
            if let Some(w) = join::overlap_warning(&o, &levels[li].areas, &what) {
                layer.accounting.warnings.push(w);
            }
        }
        // Accounting against the finest level that holds the point: joined = in some area.
        let joined = (0..layer.len()).filter(|&i| assigned.iter().any(|a| a[i] != NONE)).count() as u64;
        layer.accounting.joined = joined;
        layer.accounting.outside = layer.len() as u64 - joined;
        debug_assert!(layer.accounting.balances());
        let joined_per_level: Vec<u64> = assigned.iter().map(|a| a.par_iter().filter(|&&x| x != NONE).count() as u64).collect();
        let protection = layer_protection(project, pc);
        let record_keys = match (protection, layer.identity.take()) {
            (Some(_), Some(ids)) => {
                let secret = match sdc_secret {
                    Some(s) => s,
                    None => {
                        let (s, from) = indicators::ckm::secret(project.is_builtin_demo || crate::demo::is_demo(project)).map_err(|e| {
                            Error::Usage(format!("cannot read or create the cell-key secret: {e}; set BUURTMETER_SDC_SECRET"))
                        })?;
                        tracing::info!("cell-key record keys under {from}");
                        sdc_secret = Some(s);
                        s
                    }
                };
                Some(ids.par_iter().map(|&id| indicators::ckm::record_key(&secret, &pc.id, id)).collect::<Vec<u64>>())
            }
            _ => None,
        };
        warnings.extend(layer.accounting.warnings.iter().cloned());
        points.push(JoinedLayer {
            title: pc.title.clone().unwrap_or_else(|| pc.id.clone()),
            source: source.path.clone(),
            access: pc.access,
            disclosure: pc.disclosure(),
            ptable: protection.map(indicators::ckm::PTable::new),
            record_keys,
            layer,
            assigned,
            joined_per_level,
            lonlat: Vec::new(),
        });
    }

    // indicators
    let mut results = Vec::new();
    timed(&mut timings, "compute indicators", || {
        for (ii, ic) in project.indicators.iter().enumerate() {
            check_statistic_names(project, ii, &levels)?;
            let layer_config = ic.numerator.points.as_ref().and_then(|id| project.points.iter().find(|p| &p.id == id));
            let def = Indicator::from_config(ic, layer_config);
            let layer = def.points.as_ref().and_then(|id| points.iter().find(|p| &p.layer.id == id));
            if def.points.is_some() && layer.is_none() {
                continue; // its (restricted) layer was left out above
            }
            if let Some(layer) = layer {
                for c in def.categories.iter().flatten() {
                    let key = crate::model::category_key(c);
                    if !layer.layer.categories.iter().any(|x| crate::model::category_key(x) == key) {
                        warnings.push(format!(
                            "indicator '{}': category '{c}' does not occur in '{}' (compared without case and extra spaces); its categories are: {}",
                            def.id,
                            layer.layer.id,
                            layer.layer.categories.join(", ")
                        ));
                    }
                }
                if def.weighted && layer.layer.weights.is_none() {
                    warnings.push(format!(
                        "indicator '{}': weighted, but point layer '{}' has no weight column; counting points",
                        def.id, layer.layer.id
                    ));
                }
            }
            let mut per_level = Vec::new();
            for li in 0..levels.len() {
                let values = match layer {
                    Some(layer) => {
                        indicators::evaluate(&def, &layer.layer, &layer.assigned[li], layer.record_keys.as_deref(), &levels, li)?
                    }
                    None => indicators::evaluate_statistic(&def, &levels, li)?,
                };
                if matches!(def.denominator, indicators::Denominator::Statistic(_)) && values.denominator_source.is_none() {
                    warnings.push(format!(
                        "indicator '{}': level '{}' has no statistic '{}'; its values are missing",
                        def.id,
                        levels[li].id,
                        ic.denominator.as_deref().unwrap_or("")
                    ));
                }
                per_level.push(values);
            }
            let mut exact = None;
            match layer.and_then(|l| l.ptable.as_ref()) {
                Some(table) => {
                    exact = Some(per_level.iter().map(|v| LevelValues { protection: None, ..v.clone() }).collect::<Vec<_>>());
                    indicators::sdc::apply_cell_key(table, &def, &mut per_level)
                }
                None => indicators::sdc::apply(&def.disclosure, &levels, &mut per_level),
            }
            warnings.extend(rate_warnings(&def, &levels, &mut per_level));
            let restricted = layer_config.is_some_and(|l| l.access == Access::Restricted);
            results.push(IndicatorResult { def, per_level, restricted, exact });
        }
        Ok(())
    })?;

    warnings.extend(layer_filter_warnings(project, &points));

    // serve: geometry in WGS84 and Web Mercator, tile properties
    let (wgs84, tiles) = timed(&mut timings, "prepare tiles", || prepare_serving(&working, &levels, &mut points, &results))?;

    let (version, version_hash) = version.join().unwrap_or_else(|_| ("unknown".into(), 0));
    Ok(Snapshot {
        name: project.name.clone(),
        description: project.description.clone(),
        attribution: project.attribution.clone(),
        basemap: project.basemap.clone(),
        context: context_wgs84(&working, context)?,
        project_file: project.file.clone(),
        working_crs: crs::label(&working),
        levels,
        indexes,
        points,
        indicators: results,
        wgs84,
        tiles,
        warnings,
        timings,
        version,
        version_hash,
    })
}

/// The context areas in WGS84 (few: PROJ directly).
fn context_wgs84(
    working: &gdal::spatial_ref::SpatialRef,
    areas: Vec<crate::model::Area>,
) -> Result<Vec<(String, Option<String>, MultiPolygon<f64>)>> {
    if areas.is_empty() {
        return Ok(Vec::new());
    }
    let wgs = crs::spatial_ref(crs::WGS84)?;
    let r = crs::Reprojector::new(working, &wgs)?;
    Ok(areas
        .into_iter()
        .map(|a| {
            let g = a.geometry.map_coords(|c| {
                let (mut x, mut y) = (vec![c.x], vec![c.y]);
                r.transform(&mut x, &mut y);
                geo_types::Coord { x: x[0], y: y[0] }
            });
            (a.code, a.name, g)
        })
        .collect())
}

/// A statistic named in an indicator (denominator or numerator) must exist at some level;
/// otherwise the project has a typo, and the error says where and what was probably meant:
/// `indicators[3].denominator: 'woningvoorad' is not a statistic of any level; did you
/// mean 'woningvoorraad'?`
fn check_statistic_names(project: &Project, ii: usize, levels: &[Level]) -> Result<()> {
    let ic = &project.indicators[ii];
    let named = [
        ("denominator", ic.denominator.as_deref().filter(|d| !matches!(d.trim(), "" | "none" | "land_km2" | "land" | "km2"))),
        ("numerator.statistic", ic.numerator.statistic.as_deref()),
    ];
    for (key, name) in named {
        let Some(name) = name else { continue };
        if levels.iter().any(|l| indicators::stats::find_column(&l.stats, name).is_some()) {
            continue;
        }
        let mut known: Vec<&str> = levels.iter().flat_map(|l| l.stats.columns.keys().map(String::as_str)).collect();
        known.sort_unstable();
        known.dedup();
        let best = known
            .iter()
            .map(|k| (strsim::jaro_winkler(&name.to_lowercase(), &k.to_lowercase()), *k))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(score, _)| *score > 0.8);
        let hint = match best {
            Some((_, k)) => format!("; did you mean '{k}'?"),
            None => format!("; the statistics are: {}", known.iter().take(30).copied().collect::<Vec<_>>().join(", ")),
        };
        return Err(Error::Project {
            path: project.file.clone(),
            message: format!("indicators[{ii}].{key} (indicator '{}'): '{name}' is not a statistic of any level{hint}", ic.id),
        });
    }
    Ok(())
}

/// Honest rates: the default minimum denominator (when the project sets none) and what
/// looks wrong in the values that remain (a share above 100 %).
fn rate_warnings(def: &Indicator, levels: &[Level], per_level: &mut [LevelValues]) -> Vec<String> {
    let mut out = Vec::new();
    if def.disclosure.min_denominator.is_none()
        && let Some((min, what)) = indicators::default_min_denominator(&def.denominator)
    {
        let withheld = indicators::withhold_small_denominators(per_level, min);
        let parts: Vec<String> = levels.iter().zip(&withheld).filter(|(_, n)| **n > 0).map(|(l, n)| format!("{n} {}", l.id)).collect();
        if !parts.is_empty() {
            out.push(format!(
                "indicator '{}': no value where the denominator is below {min} {what} ({}); set min_denominator on the indicator to change this",
                def.id,
                parts.join(", ")
            ));
        }
    }
    let share = def.scale == 100.0 || def.unit.as_deref().is_some_and(|u| u.trim().starts_with('%'));
    if share {
        for (l, v) in levels.iter().zip(per_level.iter()) {
            let over: Vec<&str> = (0..l.areas.len())
                .filter(|&a| (0..v.periods.len()).any(|p| v.value[v.index(a, p)].is_some_and(|x| x > 100.0)))
                .map(|a| l.areas[a].code.as_str())
                .collect();
            if !over.is_empty() {
                let shown: Vec<&str> = over.iter().take(10).copied().collect();
                out.push(format!(
                    "indicator '{}': {} areas of '{}' have a percentage above 100 % (numerator larger than denominator: different sources or years?): {}{}",
                    def.id,
                    over.len(),
                    l.id,
                    shown.join(", "),
                    if over.len() > 10 { ", ..." } else { "" }
                ));
            }
        }
    }
    out
}

/// What the indicators of a point layer leave out without a word otherwise: categories in
/// the file that no category filter takes (when the layer's indicators filter at all),
/// and undated points, which per-period and from/to indicators cannot place.
fn layer_filter_warnings(project: &Project, points: &[JoinedLayer]) -> Vec<String> {
    use crate::model::category_key;
    let mut out = Vec::new();
    for jl in points {
        let l = &jl.layer;
        let on_layer: Vec<&crate::config::IndicatorConfig> =
            project.indicators.iter().filter(|i| i.numerator.points.as_deref() == Some(l.id.as_str())).collect();
        let filters: Vec<String> = on_layer.iter().flat_map(|i| i.numerator.categories.iter().flatten()).map(|c| category_key(c)).collect();
        let unfiltered = on_layer.iter().any(|i| i.numerator.categories.is_none());
        if let Some(idx) = &l.category_idx
            && !filters.is_empty()
            && !unfiltered
        {
            let mut counts = vec![0u64; l.categories.len()];
            idx.iter().for_each(|&c| counts[c as usize] += 1);
            let missed: Vec<String> = l
                .categories
                .iter()
                .zip(&counts)
                .filter(|(c, n)| **n > 0 && !filters.contains(&category_key(c)))
                .map(|(c, n)| format!("'{c}' ({n})"))
                .collect();
            if !missed.is_empty() {
                let total: u64 =
                    l.categories.iter().zip(&counts).filter(|(c, _)| !filters.contains(&category_key(c))).map(|(_, n)| n).sum();
                out.push(format!(
                    "points '{}': {total} points have a category that no indicator's filter takes, so they are in no indicator: {}",
                    l.id,
                    missed.join(", ")
                ));
            }
        }
        let dated: Vec<&str> = on_layer
            .iter()
            .filter(|i| i.period.as_deref().is_some_and(|p| !matches!(p.trim(), "" | "all" | "none")) || i.from.is_some() || i.to.is_some())
            .map(|i| i.id.as_str())
            .collect();
        if let Some(dates) = &l.dates
            && !dated.is_empty()
        {
            let undated: Vec<u64> = dates.iter().zip(&l.rows).filter(|(d, _)| d.is_none()).map(|(_, r)| *r).collect();
            if !undated.is_empty() {
                let shown: Vec<String> = undated.iter().take(10).map(u64::to_string).collect();
                out.push(format!(
                    "points '{}': {} points have no date (rows {}{}); they count in indicators over the whole period, but not in {}",
                    l.id,
                    undated.len(),
                    shown.join(", "),
                    if undated.len() > 10 { ", ..." } else { "" },
                    dated.join(", ")
                ));
            }
        }
    }
    out
}

/// Level indices ordered so that every level comes after all levels whose parent it is.
/// The statistic names shown next to the indicators (the CBS figures behind them).
pub fn denominator_label(ind: &Indicator) -> Option<String> {
    match &ind.denominator {
        indicators::Denominator::None => None,
        indicators::Denominator::LandKm2 => Some("land_km2".into()),
        indicators::Denominator::Statistic(s) => Some(s.clone()),
    }
}

/// Per level and area: code, name, the CBS codes it nests in, every public indicator's
/// latest value (`<id>`), numerator (`<id>_n`), protection (`<id>_suppressed`) and period
/// (`<id>_period`, when there is more than one), and the denominators behind them (by
/// their configured name). The one set of field names for tiles, OGC API, GeoJSON and the
/// GeoPackage's level layers.
pub fn area_properties(levels: &[Level], results: &[IndicatorResult]) -> Vec<Vec<Vec<(String, Prop)>>> {
    levels.iter().enumerate().map(|(li, level)| (0..level.areas.len()).map(|a| properties_of(level, li, results, a)).collect()).collect()
}

fn properties_of(level: &Level, li: usize, results: &[IndicatorResult], a: usize) -> Vec<(String, Prop)> {
    let area = &level.areas[a];
    let mut props = vec![("code".to_string(), Prop::Str(area.code.clone()))];
    if let Some(n) = &area.name {
        props.push(("name".to_string(), Prop::Str(n.clone())));
    }
    // The CBS codes the area nests in (a buurt's wijkcode and gemeentecode), so a user can
    // filter or join on them in QGIS, whatever channel the layer came through.
    if let Some(kind) = level.cbs_kind {
        for (k, field) in [(CbsKind::Gemeente, "gemeentecode"), (CbsKind::Wijk, "wijkcode")] {
            if k < kind
                && let Some(c) = cbs_ancestor_code(&area.code, k)
            {
                props.push((field.to_string(), Prop::Str(c)));
            }
        }
    }
    // Restricted indicators never go into the public area layers (tiles, OGC API, GeoJSON).
    for r in results.iter().filter(|r| !r.restricted) {
        let v = &r.per_level[li];
        if let Some(p) = v.periods.len().checked_sub(1) {
            let k = v.index(a, p);
            if let Some(x) = v.value[k] {
                props.push((r.def.id.clone(), Prop::Num(x)));
            }
            if let Some(n) = v.numerator[k] {
                props.push((format!("{}_n", r.def.id), Prop::Num(n)));
            }
            if let Some(why) = v.suppressed[k] {
                props.push((format!("{}_suppressed", r.def.id), Prop::Str(why.key().into())));
            }
            if v.periods.len() > 1 {
                props.push((format!("{}_period", r.def.id), Prop::Str(v.periods[p].clone())));
            }
        }
        if let (Some(label), Some(d)) = (denominator_label(&r.def), v.denominator[a])
            && !props.iter().any(|(k, _)| *k == label)
        {
            props.push((label, Prop::Num(d)));
        }
    }
    props
}

/// Bounds snapped outward to a grid of `step` degrees (0.05° is 3–6 km): the extent of an
/// aggregate-only layer must not give away its outermost records.
fn snap_outward(b: [f64; 4], step: f64) -> [f64; 4] {
    [
        ((b[0] / step).floor() * step).max(-180.0),
        ((b[1] / step).floor() * step).max(-85.0),
        ((b[2] / step).ceil() * step).min(180.0),
        ((b[3] / step).ceil() * step).min(85.0),
    ]
}

fn bounds_of(points: impl Iterator<Item = [f64; 2]>) -> [f64; 4] {
    let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for p in points {
        b = [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])];
    }
    if b[0].is_finite() { b } else { [-180.0, -85.0, 180.0, 85.0] }
}

/// Working CRS → WGS84 for everything served. The exact transform (GDAL/PROJ, one
/// thread) is approximated on a grid over the extent of all areas and points when that
/// stays within 1e-7 degrees (about a centimetre) everywhere; then all cores transform.
struct ServingTransform {
    exact: crs::Reprojector,
    grid: Option<crs::GridTransform>,
}

/// About a centimetre, in degrees.
const SERVING_TOLERANCE_DEG: f64 = 1e-7;

impl ServingTransform {
    fn new(exact: crs::Reprojector, levels: &[Level], points: &[JoinedLayer]) -> ServingTransform {
        use geo::BoundingRect;
        let mut b = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut add = |x0: f64, y0: f64, x1: f64, y1: f64| b = [b[0].min(x0), b[1].min(y0), b[2].max(x1), b[3].max(y1)];
        for r in levels.iter().flat_map(|l| &l.areas).filter_map(|a| a.geometry.bounding_rect()) {
            add(r.min().x, r.min().y, r.max().x, r.max().y);
        }
        for p in points {
            let (x0, x1) = p
                .layer
                .xs
                .par_iter()
                .fold(|| (f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
                .reduce(|| (f64::INFINITY, f64::NEG_INFINITY), |a, c| (a.0.min(c.0), a.1.max(c.1)));
            let (y0, y1) = p
                .layer
                .ys
                .par_iter()
                .fold(|| (f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| (lo.min(y), hi.max(y)))
                .reduce(|| (f64::INFINITY, f64::NEG_INFINITY), |a, c| (a.0.min(c.0), a.1.max(c.1)));
            add(x0, y0, x1, y1);
        }
        let grid = (b[0] <= b[2] && b[1] <= b[3])
            .then(|| crs::GridTransform::new(&exact, geo_types::Rect::new((b[0], b[1]), (b[2], b[3])), SERVING_TOLERANCE_DEG))
            .flatten();
        match &grid {
            Some(g) => tracing::debug!(max_error_deg = g.max_error, "serving transform: grid approximation"),
            None => tracing::debug!("serving transform: exact (identity, or no grid within the tolerance)"),
        }
        ServingTransform { exact, grid }
    }

    fn multipolygons(&self, areas: &[crate::model::Area]) -> Vec<MultiPolygon<f64>> {
        let empty = || MultiPolygon(vec![]);
        match &self.grid {
            Some(g) => areas
                .par_iter()
                .map(|a| {
                    a.geometry
                        .try_map_coords(|c| g.apply(c.x, c.y).map(|(x, y)| geo_types::Coord { x, y }).ok_or(()))
                        .unwrap_or_else(|()| empty())
                })
                .collect(),
            None => areas.iter().map(|a| self.exact.multipolygon(&a.geometry).unwrap_or_else(empty)).collect(),
        }
    }

    fn points(&self, xs: &[f64], ys: &[f64]) -> Vec<[f64; 2]> {
        match &self.grid {
            Some(g) => xs.par_iter().zip(ys).map(|(&x, &y)| g.apply(x, y).map_or([f64::NAN, f64::NAN], |(x, y)| [x, y])).collect(),
            None => {
                let (mut xs, mut ys) = (xs.to_vec(), ys.to_vec());
                self.exact.transform(&mut xs, &mut ys);
                xs.into_iter().zip(ys).map(|(x, y)| [x, y]).collect()
            }
        }
    }
}

/// Reproject areas and points to WGS84 (once, here, with GDAL) and build the tile data.
fn prepare_serving(
    working: &gdal::spatial_ref::SpatialRef,
    levels: &[Level],
    points: &mut [JoinedLayer],
    results: &[IndicatorResult],
) -> Result<(Vec<Vec<MultiPolygon<f64>>>, TileData)> {
    let wgs = crs::spatial_ref(crs::WGS84)?;
    let to_wgs = crs::Reprojector::new(working, &wgs)?;
    let to_wgs = ServingTransform::new(to_wgs, levels, points);
    /// Per level, per area.
    type Geometries = Vec<Vec<MultiPolygon<f64>>>;
    let (wgs84, mercator): (Geometries, Geometries) = levels
        .iter()
        .map(|l| {
            let wgs84: Vec<MultiPolygon<f64>> = to_wgs.multipolygons(&l.areas);
            let mercator = wgs84
                .par_iter()
                .map(|mp| {
                    mp.map_coords(|c| {
                        let (x, y) = crs::lonlat_to_web_mercator(c.x, c.y);
                        geo_types::Coord { x, y }
                    })
                })
                .collect();
            (wgs84, mercator)
        })
        .unzip();
    let props = area_properties(levels, results);
    let mut tilesets = Vec::new();
    for (li, l) in levels.iter().enumerate() {
        let mut fields: Vec<(String, &'static str)> = Vec::new();
        for area_props in &props[li] {
            for (k, v) in area_props {
                if !fields.iter().any(|(f, _)| f == k) {
                    fields.push((k.clone(), if matches!(v, Prop::Str(_)) { "String" } else { "Number" }));
                }
            }
        }
        let bounds = bounds_of(wgs84[li].iter().flat_map(|mp| mp.0.iter().flat_map(|p| p.exterior().0.iter().map(|c| [c.x, c.y]))));
        tilesets.push(Tileset {
            restricted: false,
            id: l.id.clone(),
            title: l.title.clone(),
            source: tiles::Source::Level(li),
            bounds,
            fields,
        });
    }
    let mut point_tiles = Vec::new();
    for (pi, p) in points.iter_mut().enumerate() {
        p.lonlat = to_wgs.points(&p.layer.xs, &p.layer.ys);
        let merc: Vec<[f64; 2]> = p.lonlat.par_iter().map(|c| crs::lonlat_to_web_mercator(c[0], c[1])).map(|(x, y)| [x, y]).collect();
        let public = p.access == Access::Public;
        // Point attributes only where points are served one by one (public layers).
        let props = if public {
            tiles::PointProps {
                categories: p.layer.categories.clone(),
                category_idx: p.layer.category_idx.clone(),
                dates: p.layer.dates.clone(),
            }
        } else {
            tiles::PointProps::default()
        };
        let mut pt = tiles::points::PointTiles::new(&merc, public);
        pt.min_count = p.disclosure.min_count;
        pt.round_to = p.disclosure.round_to;
        if let (Some(table), Some(keys)) = (&p.ptable, &p.record_keys) {
            pt = pt.with_cell_keys(table.clone(), keys);
        }
        point_tiles.push((pt, props));
        let mut fields = vec![("count".to_string(), "Number"), ("suppressed".to_string(), "String")];
        if public {
            fields.extend([("category".to_string(), "String"), ("date".to_string(), "String")]);
        }
        tilesets.push(Tileset {
            restricted: p.access == Access::Restricted,
            id: p.layer.id.clone(),
            title: p.title.clone(),
            source: tiles::Source::Points(pi),
            bounds: if public { bounds_of(p.lonlat.iter().copied()) } else { snap_outward(bounds_of(p.lonlat.iter().copied()), 0.05) },
            fields,
        });
    }
    Ok((wgs84, TileData::new(tilesets, mercator, props, point_tiles)))
}

fn child_first_order(levels: &[Level]) -> Option<Vec<usize>> {
    let mut done = vec![false; levels.len()];
    let mut order = Vec::new();
    while order.len() < levels.len() {
        let next = (0..levels.len()).find(|&i| {
            !done[i] && levels.iter().enumerate().all(|(c, l)| done[c] || c == i || l.parent.as_deref() != Some(levels[i].id.as_str()))
        })?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}

/// Assign every point to an area at every level. A level with a child level inherits the
/// child's answer through the hierarchy (code prefix or polygon containment); the points
/// that gives no answer for are looked up in the level's own polygons, so a gemeente
/// without loaded buurten still gets its points.
pub fn join_hierarchy(
    levels: &[Level],
    indexes: &[AreaIndex],
    order: &[usize],
    layer: &PointLayer,
) -> (Vec<Vec<u32>>, Vec<(usize, join::Overlaps)>) {
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    let mut overlaps = Vec::new();
    for &li in order {
        let child = (0..levels.len()).find(|&c| levels[c].parent.as_deref() == Some(levels[li].id.as_str()) && !assigned[c].is_empty());
        let Some(c) = child else {
            // A finest level: every point is looked up, and overlaps are reported.
            let (mine, o) = join::locate_all_checked(&indexes[li], &layer.xs, &layer.ys);
            if !o.is_empty() {
                overlaps.push((li, o));
            }
            assigned[li] = mine;
            continue;
        };
        let mut mine: Vec<u32> =
            assigned[c].iter().map(|&a| if a == NONE { NONE } else { levels[c].parent_idx[a as usize].unwrap_or(NONE) }).collect();
        join::fill_unassigned(&indexes[li], &layer.xs, &layer.ys, &mut mine);
        assigned[li] = mine;
    }
    (assigned, overlaps)
}

/// The project's data version: a hash of the project file's text and of the bytes of
/// every input file, with paths as the project names them. It depends on content only, so
/// a fresh checkout, a fresh demo extraction and a replica on another machine get the same
/// version (and the same tile URLs) from the same files.
pub fn data_version(project: &Project) -> (String, u64) {
    use xxhash_rust::xxh3::Xxh3;
    // `public` is the version everyone sees (tile URLs, /health); it leaves out the files
    // of restricted layers, so it reads the same whether such a file exists, changed or
    // is broken. `all` covers every input and keys the tile cache.
    let (mut public, mut all) = (Xxh3::new(), Xxh3::new());
    let feed = |hs: &mut [&mut Xxh3], label: &str, path: &std::path::Path| {
        for h in hs.iter_mut() {
            h.update(label.as_bytes());
            h.update(&[0]);
        }
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    match std::io::Read::read(&mut f, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => hs.iter_mut().for_each(|h| h.update(&buf[..n])),
                        Err(_) => {
                            hs.iter_mut().for_each(|h| h.update(b"unreadable"));
                            break;
                        }
                    }
                }
            }
            Err(_) => hs.iter_mut().for_each(|h| h.update(b"missing")),
        }
    };
    feed(&mut [&mut public, &mut all], "project", &project.file);
    let restricted: std::collections::HashSet<&PathBuf> =
        project.points.iter().filter(|p| p.access == Access::Restricted).map(|p| &p.path).collect();
    let inputs = project.input_paths();
    let mut seen = std::collections::HashSet::new();
    for rel in inputs {
        if seen.insert(rel.clone()) {
            let path = project.resolve(rel);
            if restricted.contains(rel) {
                feed(&mut [&mut all], &rel.to_string_lossy(), &path);
            } else {
                feed(&mut [&mut public, &mut all], &rel.to_string_lossy(), &path);
            }
        }
    }
    let hash = public.digest() & 0xffff_ffff_ffff;
    (format!("{hash:012x}"), all.digest())
}

/// A cheap fingerprint of the inputs (sizes and modification times) for the file watcher:
/// when it changes and settles, the server rebuilds and the content decides the version.
pub fn inputs_fingerprint(project: &Project) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut paths: Vec<PathBuf> = vec![project.file.clone()];
    paths.extend(project.input_paths().map(|p| project.resolve(p)));
    for p in paths {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(&p) {
            m.len().hash(&mut h);
            if let Ok(t) = m.modified().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).map_err(std::io::Error::other)) {
                t.as_nanos().hash(&mut h);
            }
        }
    }
    h.finish()
}
