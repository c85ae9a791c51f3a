//! The indicators stage: every indicator at every level, disclosure control applied
//! (the cell-key method on protected layers), and the warnings about what the indicators
//! leave out or cannot compute.

use super::{IndicatorResult, JoinedLayer, Log, timed};
use crate::config::{self, Access, IndicatorConfig, Project, ProjectError};
use crate::indicators::{self, Indicator, LevelValues};
use crate::model::Level;

/// The indicators stage: a statistic the project names that no level has, or a table
/// that could not be computed, with the indicator and the level.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorsError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("indicator '{indicator}', level '{level}': the indicator table could not be computed: {source}")]
    Table {
        indicator: String,
        level: String,
        #[source]
        source: polars::error::PolarsError,
    },
}

type Result<T, E = IndicatorsError> = std::result::Result<T, E>;

pub(super) fn compute(
    project: &Project,
    levels: &[Level],
    points: &[JoinedLayer],
    contiguity: &crate::weights::Cache,
    log: &mut Log,
) -> Result<Vec<IndicatorResult>> {
    let mut warnings = Vec::new();
    let results = timed(&mut log.timings, "compute indicators", || -> Result<Vec<IndicatorResult>> {
        let mut results = Vec::new();
        for (ii, ic) in project.indicators.iter().enumerate() {
            check_statistic_names(project, ii, levels)?;
            if let Some(mut r) = compute_one(project, ic, levels, points, &mut warnings)? {
                r.hotspots = hotspots_of(&r.def, levels, &r.per_level, contiguity);
                results.push(r);
            }
        }
        Ok(results)
    })?;
    log.warnings.extend(warnings);
    log.warnings.extend(layer_filter_warnings(project, points));
    Ok(results)
}

/// What an indicator's numerator is, resolved against what was read.
#[derive(Clone, Copy)]
enum Numerator<'a> {
    Points(&'a JoinedLayer),
    Statistic(&'a str),
}

/// One indicator at every level; `None` when its (restricted) layer was left out.
fn compute_one(
    project: &Project,
    ic: &IndicatorConfig,
    levels: &[Level],
    points: &[JoinedLayer],
    warnings: &mut Vec<String>,
) -> Result<Option<IndicatorResult>> {
    let layer_config = ic.numerator.points().and_then(|id| project.points.iter().find(|p| p.id == id));
    let def = Indicator::from_config(ic, layer_config);
    // What is counted: a point layer, or a statistic of the areas (config allows exactly one).
    let source = match &def.numerator {
        config::Numerator::Points { layer: id, .. } => match points.iter().find(|p| &p.layer.id == id) {
            Some(layer) => Numerator::Points(layer),
            None => return Ok(None), // its (restricted) layer was left out
        },
        config::Numerator::Statistic(name) => Numerator::Statistic(name),
    };
    let layer = match source {
        Numerator::Points(l) => Some(l),
        Numerator::Statistic(_) => None,
    };
    if let Some(layer) = layer {
        warnings.extend(layer_warnings(&def, layer));
    }
    let source_protection = match source {
        Numerator::Statistic(name) => statistic_protection(&def, name, levels, warnings),
        Numerator::Points(_) => None,
    };
    let stat_axis = match source {
        Numerator::Statistic(name) => {
            let axis = indicators::eval::statistic_axis(&def, name, levels);
            if axis.is_empty() {
                warnings.push(format!(
                    "indicator '{}': period = '{}' but statistic '{name}' has no periods within from/to: give each statistics file its period (period = \"2018\") or use a table with a period column",
                    def.id,
                    def.period.as_str()
                ));
            }
            axis
        }
        Numerator::Points(_) => Vec::new(),
    };
    let mut per_level = Vec::new();
    for li in 0..levels.len() {
        let values = match source {
            Numerator::Points(layer) => {
                indicators::evaluate(&def, &layer.layer, &layer.assigned[li], layer.record_keys.as_deref(), levels, li)
            }
            Numerator::Statistic(name) => indicators::evaluate_statistic(&def, name, levels, li, &stat_axis),
        }
        .map_err(|source| IndicatorsError::Table { indicator: def.id.clone(), level: levels[li].id.clone(), source })?;
        if matches!(def.denominator, indicators::Denominator::Statistic(_)) && values.denominator_source.is_none() {
            warnings.push(format!(
                "indicator '{}': level '{}' has no statistic '{}'; its values are missing",
                def.id,
                levels[li].id,
                crate::snapshot::denominator_label(&def).unwrap_or_default()
            ));
        } else if let Some(w) = empty_periods_warning(&def, &levels[li], &values) {
            warnings.push(w);
        }
        per_level.push(values);
    }
    let mut exact = None;
    match layer.and_then(|l| l.ptable.as_ref()) {
        Some(table) => {
            // The exact role sees the live records, also between releases.
            exact = Some(match layer.and_then(|l| l.live.as_deref()) {
                Some(live) => (0..levels.len())
                    .map(|li| indicators::evaluate(&def, &live.layer, &live.assigned[li], None, levels, li))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|source| IndicatorsError::Table { indicator: def.id.clone(), level: String::new(), source })?,
                None => per_level.iter().map(|v| LevelValues { protection: None, ..v.clone() }).collect::<Vec<_>>(),
            });
            indicators::sdc::apply_cell_key(table, &def, &mut per_level);
            let min_cell = layer.map_or(super::points::DEFAULT_MIN_CELL_M, |l| l.min_cell_m);
            warnings.extend(withhold_fine_grids(&def, levels, &mut per_level, min_cell));
        }
        // Protected by its sources: not again; only no rate on too small a base.
        None if source_protection.is_some() => {
            if let Some(min) = def.disclosure.min_denominator {
                indicators::withhold_small_denominators(&mut per_level, min);
            }
        }
        None => indicators::sdc::apply(&def.disclosure, levels, &mut per_level),
    }
    warnings.extend(apply_rate_floor(&def, levels, &mut per_level));
    let restricted = layer_config.is_some_and(|l| l.access == Access::Restricted);
    Ok(Some(IndicatorResult { def, per_level, restricted, exact, hotspots: Vec::new(), source_protection }))
}

/// Per level, the rule the sources of a statistic numerator protected it with, when every
/// level that has the statistic has it from a protected source (`[[statistics]]
/// protected`): buurtmeter's rules are then not applied again. When only some levels do,
/// buurtmeter's rules apply everywhere (secondary suppression runs across levels), and a
/// warning says so.
fn statistic_protection(def: &Indicator, name: &str, levels: &[Level], warnings: &mut Vec<String>) -> Option<Vec<Option<String>>> {
    let found: Vec<Option<Option<&str>>> = (0..levels.len()).map(|li| indicators::stats::source_protection(levels, li, name)).collect();
    let present: Vec<Option<&str>> = found.iter().flatten().copied().collect();
    if present.iter().all(Option::is_none) {
        return None;
    }
    if present.iter().any(Option::is_none) {
        if def.disclosure.is_active() {
            warnings.push(format!(
                "indicator '{}': statistic '{name}' is protected by its source at some levels and not at others; buurtmeter's rules (min_count, round_to, min_denominator) apply at every level",
                def.id
            ));
        }
        return None;
    }
    if def.disclosure.min_count.is_some() || def.disclosure.round_to.is_some() {
        let mut rules: Vec<&str> = present.iter().flatten().copied().collect();
        rules.sort_unstable();
        rules.dedup();
        warnings.push(format!(
            "indicator '{}': min_count and round_to are not applied: statistic '{name}' is protected by its source ({})",
            def.id,
            rules.join("; ")
        ));
    }
    Some(found.into_iter().map(|f| f.flatten().map(str::to_string)).collect())
}

/// The periods of one level in which an indicator has no value in any area (a blank map),
/// named with what is missing: the denominator, when it has no value there either.
fn empty_periods_warning(def: &Indicator, level: &Level, v: &LevelValues) -> Option<String> {
    let n_p = v.periods.len();
    if level.areas.is_empty() || n_p == 0 {
        return None;
    }
    let empty: Vec<usize> = (0..n_p).filter(|&p| (0..level.areas.len()).all(|a| v.value[a * n_p + p].is_none())).collect();
    if empty.is_empty() {
        return None;
    }
    let no_denominator = empty.iter().all(|&p| (0..level.areas.len()).all(|a| v.denominator[a * n_p + p].is_none()));
    let shown: Vec<&str> = empty.iter().map(|&p| v.periods[p].as_str()).collect();
    let why = if no_denominator {
        match crate::snapshot::denominator_label(def) {
            Some(d) => format!(": no edition of '{d}' publishes a value for these periods or any other; check the statistics files"),
            None => match &def.numerator {
                config::Numerator::Statistic(n) => format!(": no statistic '{n}' for the areas of this level"),
                _ => String::new(),
            },
        }
    } else {
        String::new()
    };
    Some(format!(
        "indicator '{}': level '{}' has no value at all in {} period{} ({}){why}",
        def.id,
        level.id,
        empty.len(),
        if empty.len() > 1 { "s" } else { "" },
        if shown.len() > 8 { format!("{}, ..., {}", shown[..4].join(", "), shown[shown.len() - 2..].join(", ")) } else { shown.join(", ") }
    ))
}

/// The indicator's hot spots per level (not for custom groups), latest period, published
/// values only.
fn hotspots_of(
    def: &Indicator,
    levels: &[Level],
    per_level: &[LevelValues],
    contiguity: &crate::weights::Cache,
) -> Vec<Option<crate::indicators::hotspots::Analysis>> {
    let Some(params) = def.hotspots else { return vec![None; levels.len()] };
    let rule = params.weights;
    levels
        .iter()
        .zip(per_level)
        .enumerate()
        .map(|(li, (l, v))| {
            let p = v.periods.len().checked_sub(1)?;
            if l.groups.is_some() {
                return None;
            }
            let w = contiguity.weights(li, &l.areas, rule);
            use crate::indicators::hotspots::{Input, analyse};
            let (value, events, base) = (|a| v.value[v.index(a, p)], |a| v.numerator[v.index(a, p)], |a| v.denominator[v.index(a, p)]);
            let input = if params.eb { Input::Rates { events: &events, base: &base } } else { Input::Values(&value) };
            analyse(input, &w, params)
        })
        .collect()
}

/// Category filter values that match nothing in the layer, and weights that are missing.
fn layer_warnings(def: &Indicator, layer: &JoinedLayer) -> Vec<String> {
    let mut out = Vec::new();
    for c in def.numerator.categories().into_iter().flatten() {
        let key = crate::model::category_key(c);
        if !layer.layer.categories.iter().any(|x| crate::model::category_key(x) == key) {
            out.push(format!(
                "indicator '{}': category '{c}' does not occur in '{}' (compared without case and extra spaces); its categories are: {}",
                def.id,
                layer.layer.id,
                layer.layer.categories.join(", ")
            ));
        }
    }
    if def.numerator.weighted() && layer.layer.weights.is_none() {
        out.push(format!("indicator '{}': weighted, but point layer '{}' has no weight column; counting points", def.id, layer.layer.id));
    }
    out
}

/// A statistic named in an indicator (denominator or numerator) must exist at some level;
/// otherwise the project has a typo, and the error says where and what was probably meant:
/// `indicators[3].denominator: 'woningvoorad' is not a statistic of any level; did you
/// mean 'woningvoorraad'?`
fn check_statistic_names(project: &Project, ii: usize, levels: &[Level]) -> Result<()> {
    let ic = &project.indicators[ii];
    let named = [
        (
            "denominator",
            match &ic.denominator {
                indicators::Denominator::Statistic(s) => Some(s.as_str()),
                _ => None,
            },
        ),
        ("numerator.statistic", ic.numerator.statistic()),
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
        return Err(ProjectError::new(
            &project.file,
            format!("indicators[{ii}].{key} (indicator '{}'): '{name}' is not a statistic of any level{hint}", ic.id),
        )
        .into());
    }
    Ok(())
}

/// Honest rates: applies the default minimum denominator (when the project sets none,
/// withholding those rates in `per_level`) and returns the warnings about it and about
/// what looks wrong in the values that remain (a share above 100 %).
fn apply_rate_floor(def: &Indicator, levels: &[Level], per_level: &mut [LevelValues]) -> Vec<String> {
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
            project.indicators.iter().filter(|i| i.numerator.points() == Some(l.id.as_str())).collect();
        let filters: Vec<String> =
            on_layer.iter().flat_map(|i| i.numerator.categories().into_iter().flatten()).map(|c| category_key(c)).collect();
        let unfiltered = on_layer.iter().any(|i| i.numerator.categories().is_none());
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
            .filter(|i| i.period != indicators::PeriodKind::All || i.from.is_some() || i.to.is_some())
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

/// A protected layer is not published on grid cells smaller than its `min_cell_m`
/// (500 m by default, as its tiles): a 100 m cell places a record to a block, whatever
/// the noise on its count. Every cell of such a level is withheld (`protected`); the
/// exact role still sees them.
fn withhold_fine_grids(def: &Indicator, levels: &[Level], per_level: &mut [LevelValues], min_cell_m: f64) -> Vec<String> {
    let mut warnings = Vec::new();
    for (level, v) in levels.iter().zip(per_level.iter_mut()) {
        let Some(size) = level.grid.filter(|s| f64::from(*s) < min_cell_m) else { continue };
        for k in 0..v.value.len() {
            v.value[k] = None;
            v.numerator[k] = None;
            v.suppressed[k] = Some(indicators::sdc::Suppression::Protected);
        }
        warnings.push(format!(
            "indicator '{}': level '{}' ({size} m cells) is finer than the protected layer's min_cell_m = {min_cell_m} m: every cell withheld (protected)",
            def.id, level.id
        ));
    }
    warnings
}
