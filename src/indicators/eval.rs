//! Evaluating one indicator at one level: the points that pass the filters are summed
//! per (area, period) onto the full area × period grid (so empty areas get 0, not a
//! missing row); polars joins that table with the denominator and turns it into a rate.

use polars::prelude::*;
use rayon::prelude::*;

use super::{Denominator, Indicator, PeriodKind, stats};
use crate::error::Result;
use crate::join::NONE;
use crate::model::{Level, PointLayer, category_key};

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

/// The values of one indicator at one level. Vectors indexed `area * periods.len() + p`
/// except `denominator`, which is per area. After disclosure control (`sdc`), a secret
/// cell has no numerator and no value, and `suppressed` says why.
#[derive(Debug, Clone)]
pub struct LevelValues {
    pub periods: Vec<String>,
    pub numerator: Vec<Option<f64>>,
    pub value: Vec<Option<f64>>,
    pub suppressed: Vec<Option<Suppression>>,
    pub denominator: Vec<Option<f64>>,
    /// Where the denominator came from (file and column, or "sum over ...").
    pub denominator_source: Option<String>,
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

/// The rate expression: `numerator / denominator × scale`, missing when the denominator
/// is missing or not positive.
fn rate(numerator: Expr, denominator: Expr, scale: f64) -> Expr {
    when(denominator.clone().gt(lit(0.0))).then(numerator / denominator * lit(scale)).otherwise(lit(Null {}).cast(DataType::Float64))
}

/// The denominator of every area of the level.
pub fn denominators(ind: &Indicator, levels: &[Level], level: usize) -> (Vec<Option<f64>>, Option<String>) {
    let l = &levels[level];
    match &ind.denominator {
        Denominator::None => (vec![Some(1.0); l.areas.len()], None),
        Denominator::LandKm2 => {
            let (ha, source) = stats::resolve(levels, level, "oppervlakte_land_in_ha");
            match source {
                Some(s) => (ha.iter().map(|v| v.map(|h| h / 100.0)).collect(), Some(format!("{s} / 100"))),
                None => (l.areas.iter().map(|a| Some(a.geometry_km2)).collect(), Some("polygon area in the working CRS".into())),
            }
        }
        Denominator::Statistic(name) => stats::resolve(levels, level, name),
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
    let wanted: Option<Vec<bool>> = ind.categories.as_ref().map(|cats| {
        let keys: Vec<String> = cats.iter().map(|w| category_key(w)).collect();
        layer.categories.iter().map(|c| keys.contains(&category_key(c))).collect()
    });
    let needs_date = ind.period != PeriodKind::All || ind.from.is_some() || ind.to.is_some();

    // A point's period key, or None when it is filtered out, wherever it lies: the time
    // axis comes from all of the layer's points, so every level has the same periods.
    let key_any = |i: usize| -> Option<i32> {
        if let (Some(w), Some(ci)) = (&wanted, &layer.category_idx)
            && !w[ci[i] as usize]
        {
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

    let period_keys = period_axis(ind, assigned.len(), &key_any);
    let (denominator, denominator_source) = denominators(ind, levels, level);
    let weight = |i: usize| if ind.weighted { layer.weights.as_ref().map_or(1.0, |w| w[i]) } else { 1.0 };
    let cells = Cells { n_areas, first: period_keys.first().copied().unwrap_or(0), n_p: period_keys.len() };
    let (sums, protection) = histogram(&cells, assigned, record_keys, &key_of, &weight);
    let (numerator, value) = rate_table(ind, &period_keys, n_areas, sums, &denominator)?;
    Ok(LevelValues {
        periods: period_keys.iter().map(|&k| ind.period.label(k)).collect(),
        suppressed: vec![None; numerator.len()],
        numerator,
        value,
        denominator: if ind.denominator == Denominator::None { vec![None; n_areas] } else { denominator },
        denominator_source,
        protection,
    })
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
fn histogram(
    g: &Cells,
    assigned: &[u32],
    record_keys: Option<&[u64]>,
    key_of: &(dyn Fn(usize) -> Option<i32> + Sync),
    weight: &(dyn Fn(usize) -> f64 + Sync),
) -> (Vec<f64>, Option<CellKeys>) {
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
                    let w = weight(i);
                    acc[cell] += w;
                    if let (Some(c), Some(keys)) = (keyed.as_mut(), record_keys) {
                        c.key[cell] = c.key[cell].wrapping_add(keys[i]);
                        c.records[cell] += 1;
                        c.largest[cell] = c.largest[cell].max(w.abs());
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
    sums: Vec<f64>,
    denominator: &[Option<f64>],
) -> Result<(PerCell, PerCell)> {
    let n_p = period_keys.len();
    let grid = df!(
        AREA => (0..n_areas as u32).flat_map(|a| std::iter::repeat_n(a, n_p)).collect::<Vec<u32>>(),
        PERIOD => (0..n_areas).flat_map(|_| period_keys.iter().copied()).collect::<Vec<i32>>(),
        NUMERATOR => sums
    )?;
    let dens = df!(AREA => (0..n_areas as u32).collect::<Vec<u32>>(), DENOMINATOR => denominator.to_vec())?;
    let table = grid
        .lazy()
        .join(dens.lazy(), [col(AREA)], [col(AREA)], JoinArgs::new(JoinType::Left))
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

/// Evaluate an indicator whose numerator is a statistic of the areas (one period, `all`):
/// `statistic / denominator × scale`, missing where either is missing.
pub fn evaluate_statistic(ind: &Indicator, name: &str, levels: &[Level], level: usize) -> Result<LevelValues> {
    let (numerator, _) = stats::resolve(levels, level, name);
    let (denominator, denominator_source) = denominators(ind, levels, level);
    let n_areas = levels[level].areas.len();
    let table = df!(AREA => (0..n_areas as u32).collect::<Vec<u32>>(), NUMERATOR => numerator.clone(), DENOMINATOR => denominator.clone())?
        .lazy()
        .with_column(match ind.denominator {
            Denominator::None => (col(NUMERATOR) * lit(ind.scale)).alias(VALUE),
            _ => rate(col(NUMERATOR), col(DENOMINATOR), ind.scale).alias(VALUE),
        })
        .collect()?;
    let value: Vec<Option<f64>> = table.column(VALUE)?.f64()?.iter().collect();
    Ok(LevelValues {
        periods: vec![PeriodKind::All.label(0)],
        suppressed: vec![None; n_areas],
        numerator,
        value,
        denominator: if ind.denominator == Denominator::None { vec![None; n_areas] } else { denominator },
        denominator_source,
        protection: None,
    })
}
