//! Evaluating one indicator at one level: the points that pass the filters are summed
//! per (area, period) onto the full area × period grid (so empty areas get 0, not a
//! missing row); polars joins that table with the denominator and turns it into a rate.

use polars::prelude::*;
use rayon::prelude::*;

use super::{Denominator, Indicator, PeriodKind, stats};
use crate::join::NONE;
use crate::model::{Level, PointLayer, category_key};
use polars::error::PolarsResult as Result;

const AREA: &str = "area";
const PERIOD: &str = "period";
const NUMERATOR: &str = "numerator";
const DENOMINATOR: &str = "denominator";
const VALUE: &str = "value";

/// Why a value is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    SmallCount,
    SmallDenominator,
    Secondary,
    /// Withheld on a protected layer (cell-key method): one public word, whichever rule
    /// (too few contributors, one dominant contributor, too small a denominator).
    Protected,
}

impl Suppression {
    /// The public word: `protected` whichever rule hid a count (a reason label would
    /// narrow the possible values); `small_denominator` only for a rate withheld on a
    /// public denominator, which gives nothing away.
    pub fn key(self) -> &'static str {
        match self {
            Suppression::SmallDenominator => "small_denominator",
            Suppression::SmallCount | Suppression::Secondary | Suppression::Protected => "protected",
        }
    }
}

/// The values of one indicator at one level. Vectors indexed `area * periods.len() + p`. After disclosure control (`sdc`), a secret
/// cell has no numerator and no value, and `suppressed` says why.
#[derive(Debug, Clone)]
pub struct LevelValues {
    pub periods: Vec<String>,
    pub numerator: Vec<Option<f64>>,
    pub value: Vec<Option<f64>>,
    pub suppressed: Vec<Option<Suppression>>,
    pub denominator: Vec<Option<f64>>,
    /// Where a statistic numerator came from (file and column, or "sum over ..."); `None`
    /// for points.
    pub numerator_source: Option<String>,
    /// Where the denominator came from (file and column, or "sum over ...").
    pub denominator_source: Option<String>,
    /// Per period: the CBS period of the denominator used (its own, or the nearest
    /// earlier edition when that period is not published), when the file says.
    pub denominator_periods: Vec<Option<String>>,
    /// Per cell: the numerator or denominator statistic was converted from other
    /// boundaries for this area (CBS: *berekend*).
    pub converted: Vec<bool>,
    /// For protected layers, per cell: the cell key (wrapping sum of the record keys), the
    /// number of records and the largest single weight. Never published.
    pub protection: Option<CellKeys>,
}

/// What the cell-key method needs of every cell (indexed like `numerator`).
#[derive(Debug, Clone, Default)]
pub struct CellKeys {
    pub key: Vec<u64>,
    pub records: Vec<u64>,
    pub largest: Vec<f64>,
}

impl LevelValues {
    pub fn index(&self, area: usize, period: usize) -> usize {
        area * self.periods.len() + period
    }

    pub fn period_index(&self, label: &str) -> Option<usize> {
        self.periods.iter().position(|p| p == label)
    }

    /// Make cell `k` secret.
    pub fn suppress(&mut self, k: usize, why: Suppression) {
        self.numerator[k] = None;
        self.value[k] = None;
        self.suppressed[k] = Some(why);
    }
}

/// The values of a level from its (numerator, value) cells and denominators.
fn level_values(
    ind: &Indicator,
    levels: &[Level],
    level: usize,
    period_keys: &[i32],
    (numerator, value): (PerCell, PerCell),
    dens: Denominators,
    protection: Option<CellKeys>,
) -> LevelValues {
    LevelValues {
        periods: period_keys.iter().map(|&k| ind.period.label(k)).collect(),
        suppressed: vec![None; numerator.len()],
        numerator,
        value,
        numerator_source: None,
        denominator: if ind.denominator == Denominator::None { vec![None; dens.per_cell.len()] } else { dens.per_cell },
        denominator_source: dens.source,
        denominator_periods: dens.periods,
        converted: converted_cells(ind, levels, level, period_keys.len()),
        protection,
    }
}

/// Per cell: whether a statistic behind the value was converted from other boundaries.
fn converted_cells(ind: &Indicator, levels: &[Level], level: usize, n_p: usize) -> Vec<bool> {
    let n_a = levels[level].areas.len();
    let mut per_area = vec![false; n_a];
    let names = ind.numerator.statistic().into_iter().chain(match &ind.denominator {
        Denominator::Statistic(s) => Some(s.as_str()),
        _ => None,
    });
    for name in names {
        per_area.iter_mut().zip(stats::converted(levels, level, name)).for_each(|(a, b)| *a |= b);
    }
    per_area.into_iter().flat_map(|f| std::iter::repeat_n(f, n_p)).collect()
}

/// The rate expression: `numerator / denominator × scale`, missing when the denominator
/// is missing or not positive.
fn rate(numerator: Expr, denominator: Expr, scale: f64) -> Expr {
    when(denominator.clone().gt(lit(0.0))).then(numerator / denominator * lit(scale)).otherwise(lit(Null {}).cast(DataType::Float64))
}

/// The denominator of every cell (area × period, area-major like the numerator), where
/// it came from, and per period the CBS period of the figure used.
pub struct Denominators {
    pub per_cell: Vec<Option<f64>>,
    pub source: Option<String>,
    pub periods: Vec<Option<String>>,
}

/// The denominators of `levels[level]` for the periods `period_keys` of `ind`. A statistic
/// published for several periods gives each period its own figure: the edition of that
/// period, else the nearest earlier one, else (before the first edition) the first one;
/// `periods` says which, so nothing silently takes the latest.
pub fn denominators(ind: &Indicator, levels: &[Level], level: usize, period_keys: &[i32]) -> Denominators {
    let l = &levels[level];
    let n_a = l.areas.len();
    let n_p = period_keys.len();
    let repeat =
        |per_area: Vec<Option<f64>>| -> Vec<Option<f64>> { per_area.into_iter().flat_map(|v| std::iter::repeat_n(v, n_p)).collect() };
    match &ind.denominator {
        Denominator::None => Denominators { per_cell: vec![Some(1.0); n_a * n_p], source: None, periods: vec![None; n_p] },
        Denominator::LandKm2 => {
            let (ha, source) = stats::resolve(levels, level, "oppervlakte_land_in_ha");
            let (per_area, source) = match source {
                // Per area: an area the column leaves out (a German Gemeinde in a level
                // with Dutch gemeenten) has its polygon's area.
                Some(s) => {
                    let planar = ha.iter().filter(|v| v.is_none()).count();
                    let per_area = ha.iter().zip(&l.areas).map(|(v, a)| Some(v.map_or(a.geometry_km2, |h| h / 100.0))).collect();
                    let also = if planar > 0 { format!(", else the polygon area ({planar} areas)") } else { String::new() };
                    (per_area, Some(format!("{s} / 100{also}")))
                }
                None => (l.areas.iter().map(|a| Some(a.geometry_km2)).collect(), Some("polygon area in the working CRS".into())),
            };
            Denominators { per_cell: repeat(per_area), source, periods: vec![None; n_p] }
        }
        Denominator::Statistic(name) => {
            let (current, source) = stats::resolve(levels, level, name);
            let series = if ind.period == PeriodKind::All { Vec::new() } else { stats::resolve_series(levels, level, name) };
            if series.is_empty() {
                let label = stats::current_period(levels, level, name);
                return Denominators { per_cell: repeat(current), source, periods: vec![label; n_p] };
            }
            // Per period and area: the period's own edition or the nearest earlier one *that
            // publishes a value for that area*, else the nearest later one. An edition that
            // leaves the statistic out (Kerncijfers 2020 has no Woningvoorraad) is skipped,
            // not used as a blank.
            let keys: Vec<i32> = series.iter().map(|e| ind.period.key(e.start)).collect();
            let pick = |k: i32, a: usize| -> Option<usize> {
                let earlier = (0..series.len()).rev().find(|&i| keys[i] <= k && series[i].values[a].is_some());
                earlier.or_else(|| (0..series.len()).find(|&i| keys[i] > k && series[i].values[a].is_some()))
            };
            let chosen: Vec<Vec<Option<usize>>> = (0..n_a).map(|a| period_keys.iter().map(|&k| pick(k, a)).collect()).collect();
            let series = &series;
            let per_cell =
                chosen.iter().enumerate().flat_map(|(a, row)| row.iter().map(move |e| e.and_then(|i| series[i].values[a]))).collect();
            // The label per period: the edition most areas use (the latest on a tie).
            let periods = (0..n_p)
                .map(|p| {
                    let mut uses = vec![0usize; series.len()];
                    chosen.iter().filter_map(|row| row[p]).for_each(|i| uses[i] += 1);
                    (0..series.len()).filter(|&i| uses[i] > 0).max_by_key(|&i| (uses[i], i)).map(|i| series[i].label.clone())
                })
                .collect();
            let labels: Vec<&str> = series.iter().map(|e| e.label.as_str()).collect();
            let source = source.map(|s| {
                format!(
                    "{s}; per period and area the edition of that period or the nearest earlier one that publishes it, else the nearest later one (editions {})",
                    labels.join(", ")
                )
            });
            Denominators { per_cell, source, periods }
        }
    }
}

/// The periods of a statistic indicator: every period from the first to the last edition
/// of its numerator that publishes a value at any level (the same axis at every level;
/// a first release without the figure is no period of it), within from/to.
pub fn statistic_axis(ind: &Indicator, name: &str, levels: &[Level]) -> Vec<i32> {
    if ind.period == PeriodKind::All {
        return vec![0];
    }
    let keys: Vec<i32> = (0..levels.len())
        .flat_map(|li| stats::resolve_series(levels, li, name))
        .filter(|e| e.values.iter().any(Option::is_some))
        .map(|e| ind.period.key(e.start))
        .collect();
    let lo = keys.iter().copied().min().map(|k| ind.from.map_or(k, |d| k.max(ind.period.key(d))));
    let hi = keys.iter().copied().max().map(|k| ind.to.map_or(k, |d| k.min(ind.period.key(d))));
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi >= lo => (lo..=hi).collect(),
        _ => Vec::new(),
    }
}

/// Evaluate `ind` at `levels[level]`, given each point's area at that level.
pub fn evaluate(
    ind: &Indicator,
    layer: &PointLayer,
    assigned: &[u32],
    record_keys: Option<&[u64]>,
    levels: &[Level],
    level: usize,
) -> Result<LevelValues> {
    let n_areas = levels[level].areas.len();
    let wanted: Option<Vec<bool>> = ind.numerator.categories().map(|cats| {
        let keys: Vec<String> = cats.iter().map(|w| category_key(w)).collect();
        layer.categories.iter().map(|c| keys.contains(&category_key(c))).collect()
    });
    let needs_date = ind.period != PeriodKind::All || ind.from.is_some() || ind.to.is_some();

    // A point's period key, or None when it is filtered out, wherever it lies: the time
    // axis comes from all of the layer's points, so every level has the same periods.
    // A point without a usable weight is left out of weighted indicators only (and named
    // in the layer's accounting).
    let weighted = ind.numerator.weighted().then_some(layer.weights.as_deref()).flatten();
    let key_any = |i: usize| -> Option<i32> {
        if let (Some(w), Some(ci)) = (&wanted, &layer.category_idx)
            && !w[ci[i] as usize]
        {
            return None;
        }
        if weighted.is_some_and(|w| w[i].is_nan()) {
            return None;
        }
        if !needs_date {
            return Some(0);
        }
        let d = layer.dates.as_ref().and_then(|d| d[i])?;
        if ind.from.is_some_and(|f| d < f) || ind.to.is_some_and(|t| d > t) {
            return None;
        }
        Some(ind.period.key(d))
    };
    // ... and None as well when the point lies in no area of this level.
    let key_of = |i: usize| -> Option<i32> { if assigned[i] == NONE { None } else { key_any(i) } };

    // The time axis: from/to, else the first and last date of the whole layer. Never of the
    // points a category or weight filter keeps: the first and last month of a rare
    // category would tell when its first and last record was made.
    let axis_key = |i: usize| -> Option<i32> {
        let d = layer.dates.as_ref().and_then(|d| d[i])?;
        if ind.from.is_some_and(|f| d < f) || ind.to.is_some_and(|t| d > t) {
            return None;
        }
        Some(ind.period.key(d))
    };
    let period_keys = period_axis(ind, assigned.len(), &axis_key);
    let dens = denominators(ind, levels, level, &period_keys);
    // A row of a grouped layer (joined in the database) stands for `records` records,
    // its weight for their sum: it counts, weighs and keys as those records would.
    let groups = layer.groups.as_ref();
    let records = |i: usize| groups.map_or(1, |g| g.records[i]);
    let weight = |i: usize| {
        if ind.numerator.weighted() { layer.weights.as_ref().map_or(records(i) as f64, |w| w[i]) } else { records(i) as f64 }
    };
    let largest = |i: usize| match groups {
        Some(g) if ind.numerator.weighted() && layer.weights.is_some() => g.largest[i],
        Some(_) => 1.0,
        None => weight(i).abs(),
    };
    let cells = Cells { n_areas, first: period_keys.first().copied().unwrap_or(0), n_p: period_keys.len() };
    let (sums, protection) =
        histogram(&cells, assigned, record_keys, &key_of, &PerRecord { weight: &weight, records: &records, largest: &largest });
    let (numerator, value) = rate_table(ind, &period_keys, n_areas, sums.into_iter().map(Some).collect(), &dens.per_cell)?;
    Ok(level_values(ind, levels, level, &period_keys, (numerator, value), dens, protection))
}

/// The periods: every period from the first to the last (or from/to), gaps included.
fn period_axis(ind: &Indicator, n: usize, key_any: &(dyn Fn(usize) -> Option<i32> + Sync)) -> Vec<i32> {
    if ind.period == PeriodKind::All {
        return vec![0];
    }
    let seen = || (0..n).into_par_iter().filter_map(key_any);
    let lo = ind.from.map(|d| ind.period.key(d)).or_else(|| seen().min());
    let hi = ind.to.map(|d| ind.period.key(d)).or_else(|| seen().max());
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi >= lo => (lo..=hi).collect(),
        _ => vec![],
    }
}

/// The area × period grid: `n_areas` areas, `n_p` periods from key `first`.
struct Cells {
    n_areas: usize,
    first: i32,
    n_p: usize,
}

/// The numerator per (area, period): area and period are dense indices, so this is a
/// histogram over the points, summed per chunk on all cores, in one pass; for protected
/// layers the cell keys, record counts and largest weights are summed next to it. Chunks
/// are added in order, so weighted sums come out the same on every run.
/// What a row adds to its cell: its weight (1 for a point of a count), the records it
/// stands for (1 for a point), the largest |weight| among them.
/// Generic (not `dyn`): the histogram's loop over every point then inlines them.
struct PerRecord<'a, W, R, L> {
    weight: &'a W,
    records: &'a R,
    largest: &'a L,
}

fn histogram<K, W, R, L>(
    g: &Cells,
    assigned: &[u32],
    record_keys: Option<&[u64]>,
    key_of: &K,
    per: &PerRecord<W, R, L>,
) -> (Vec<f64>, Option<CellKeys>)
where
    K: Fn(usize) -> Option<i32> + Sync,
    W: Fn(usize) -> f64 + Sync,
    R: Fn(usize) -> u64 + Sync,
    L: Fn(usize) -> f64 + Sync,
{
    let cells = g.n_areas * g.n_p;
    let empty_keys = || CellKeys { key: vec![0; cells], records: vec![0; cells], largest: vec![0.0; cells] };
    let chunk = assigned.len().div_ceil(2 * rayon::current_num_threads()).max(1 << 16);
    let partial: Vec<(Vec<f64>, Option<CellKeys>)> = (0..assigned.len())
        .into_par_iter()
        .step_by(chunk)
        .map(|start| {
            let mut acc = vec![0.0; cells];
            let mut keyed = record_keys.map(|_| empty_keys());
            for i in start..(start + chunk).min(assigned.len()) {
                let Some(k) = key_of(i) else { continue };
                let p = (k - g.first) as usize;
                if k >= g.first && p < g.n_p {
                    let cell = assigned[i] as usize * g.n_p + p;
                    acc[cell] += (per.weight)(i);
                    if let (Some(c), Some(keys)) = (keyed.as_mut(), record_keys) {
                        c.key[cell] = c.key[cell].wrapping_add(keys[i]);
                        c.records[cell] += (per.records)(i);
                        c.largest[cell] = c.largest[cell].max((per.largest)(i));
                    }
                }
            }
            (acc, keyed)
        })
        .collect();
    let mut sums = vec![0.0; cells];
    let mut protection = record_keys.map(|_| empty_keys());
    for (acc, keyed) in partial {
        sums.iter_mut().zip(acc).for_each(|(x, y)| *x += y);
        if let (Some(all), Some(c)) = (protection.as_mut(), keyed) {
            for k in 0..cells {
                all.key[k] = all.key[k].wrapping_add(c.key[k]);
                all.records[k] += c.records[k];
                all.largest[k] = all.largest[k].max(c.largest[k]);
            }
        }
    }
    (sums, protection)
}

/// Values per cell, `None` for missing.
type PerCell = Vec<Option<f64>>;

/// polars on the small area × period table: the numerator joined with the denominator and
/// turned into the value. Returns (numerator, value) in area-major order.
fn rate_table(
    ind: &Indicator,
    period_keys: &[i32],
    n_areas: usize,
    sums: Vec<Option<f64>>,
    // per cell, like the numerator
    denominator: &[Option<f64>],
) -> Result<(PerCell, PerCell)> {
    let n_p = period_keys.len();
    let table = df!(
        AREA => (0..n_areas as u32).flat_map(|a| std::iter::repeat_n(a, n_p)).collect::<Vec<u32>>(),
        PERIOD => (0..n_areas).flat_map(|_| period_keys.iter().copied()).collect::<Vec<i32>>(),
        NUMERATOR => sums,
        DENOMINATOR => denominator.to_vec()
    )?
    .lazy()
    .with_column(match ind.denominator {
        Denominator::None => (col(NUMERATOR) * lit(ind.scale)).alias(VALUE),
        _ => rate(col(NUMERATOR), col(DENOMINATOR), ind.scale).alias(VALUE),
    })
    .sort([AREA, PERIOD], SortMultipleOptions::default())
    .collect()?;
    let numerator: Vec<Option<f64>> = table.column(NUMERATOR)?.f64()?.iter().collect();
    let value: Vec<Option<f64>> = table.column(VALUE)?.f64()?.iter().collect();
    Ok((numerator, value))
}

/// Evaluate an indicator whose numerator is a statistic of the areas on the periods
/// `period_keys` (from [`statistic_axis`]): `statistic / denominator × scale`, missing
/// where either is missing. With periods, each period's numerator is the edition of that
/// period (never carried over from another), its denominator as in [`denominators`].
pub fn evaluate_statistic(ind: &Indicator, name: &str, levels: &[Level], level: usize, period_keys: &[i32]) -> Result<LevelValues> {
    let n_areas = levels[level].areas.len();
    let (current, numerator_source) = stats::resolve(levels, level, name);
    let numerator: Vec<Option<f64>> = if ind.period == PeriodKind::All {
        current
    } else {
        let series = stats::resolve_series(levels, level, name);
        // The latest edition within each period (a month of a quarter, a quarter of a year).
        let of: Vec<Option<&crate::model::StatEdition>> =
            period_keys.iter().map(|&k| series.iter().rev().find(|e| ind.period.key(e.start) == k)).collect();
        (0..n_areas).flat_map(|a| of.iter().map(move |e| e.and_then(|e| e.values[a]))).collect()
    };
    let dens = denominators(ind, levels, level, period_keys);
    let cells = rate_table(ind, period_keys, n_areas, numerator, &dens.per_cell)?;
    Ok(LevelValues { numerator_source, ..level_values(ind, levels, level, period_keys, cells, dens, None) })
}
