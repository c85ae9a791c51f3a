//! Evaluating one indicator at one level with polars: the points that pass the filters
//! are grouped per (area, period), joined onto the full area × period grid (so empty
//! areas get 0, not a missing row), joined with the denominator, and turned into a rate.

use polars::prelude::*;

use super::{Denominator, Indicator, PeriodKind, stats};
use crate::error::Result;
use crate::join::NONE;
use crate::model::{Level, PointLayer};

const AREA: &str = "area";
const PERIOD: &str = "period";
const WEIGHT: &str = "weight";
const NUMERATOR: &str = "numerator";
const DENOMINATOR: &str = "denominator";
const VALUE: &str = "value";

/// The values of one indicator at one level. Vectors indexed `area * periods.len() + p`
/// except `denominator`, which is per area. After disclosure control (`sdc`), a secret
/// cell has no numerator and no value, and `suppressed` says why.
#[derive(Debug, Clone)]
pub struct LevelValues {
    pub periods: Vec<String>,
    pub numerator: Vec<Option<f64>>,
    pub value: Vec<Option<f64>>,
    pub suppressed: Vec<Option<super::sdc::Suppression>>,
    pub denominator: Vec<Option<f64>>,
    /// Where the denominator came from (file and column, or "sum over ...").
    pub denominator_source: Option<String>,
}

impl LevelValues {
    pub fn index(&self, area: usize, period: usize) -> usize {
        area * self.periods.len() + period
    }

    pub fn period_index(&self, label: &str) -> Option<usize> {
        self.periods.iter().position(|p| p == label)
    }

    /// Make cell `k` secret.
    pub fn suppress(&mut self, k: usize, why: super::sdc::Suppression) {
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
pub fn evaluate(ind: &Indicator, layer: &PointLayer, assigned: &[u32], levels: &[Level], level: usize) -> Result<LevelValues> {
    let n_areas = levels[level].areas.len();
    let wanted: Option<Vec<bool>> =
        ind.categories.as_ref().map(|cats| layer.categories.iter().map(|c| cats.iter().any(|w| w == c)).collect());
    let needs_date = ind.period != PeriodKind::All || ind.from.is_some() || ind.to.is_some();

    let mut areas: Vec<u32> = Vec::new();
    let mut periods: Vec<i32> = Vec::new();
    let mut weights: Vec<f64> = Vec::new();
    for (i, &a) in assigned.iter().enumerate() {
        if a == NONE {
            continue;
        }
        if let (Some(w), Some(ci)) = (&wanted, &layer.category_idx)
            && !w[ci[i] as usize]
        {
            continue;
        }
        let key = if needs_date {
            let Some(d) = layer.dates.as_ref().and_then(|d| d[i]) else {
                continue;
            };
            if ind.from.is_some_and(|f| d < f) || ind.to.is_some_and(|t| d > t) {
                continue;
            }
            ind.period.key(d)
        } else {
            0
        };
        areas.push(a);
        periods.push(key);
        weights.push(if ind.weighted { layer.weights.as_ref().map_or(1.0, |w| w[i]) } else { 1.0 });
    }

    // The periods: every period from the first to the last (or from/to), gaps included.
    let period_keys: Vec<i32> = if ind.period == PeriodKind::All {
        vec![0]
    } else {
        let lo = ind.from.map(|d| ind.period.key(d)).or_else(|| periods.iter().copied().min());
        let hi = ind.to.map(|d| ind.period.key(d)).or_else(|| periods.iter().copied().max());
        match (lo, hi) {
            (Some(lo), Some(hi)) if hi >= lo => (lo..=hi).collect(),
            _ => vec![],
        }
    };
    let (denominator, denominator_source) = denominators(ind, levels, level);

    let n_p = period_keys.len();
    let points = df!(AREA => areas, PERIOD => periods, WEIGHT => weights)?;
    let grid = df!(
        AREA => (0..n_areas as u32).flat_map(|a| std::iter::repeat_n(a, n_p)).collect::<Vec<u32>>(),
        PERIOD => (0..n_areas).flat_map(|_| period_keys.iter().copied()).collect::<Vec<i32>>()
    )?;
    let dens = df!(AREA => (0..n_areas as u32).collect::<Vec<u32>>(), DENOMINATOR => denominator.clone())?;
    let sum_expr = if ind.weighted { col(WEIGHT).sum() } else { len().cast(DataType::Float64) };
    let table = grid
        .lazy()
        .join(
            points.lazy().group_by([col(AREA), col(PERIOD)]).agg([sum_expr.alias(NUMERATOR)]),
            [col(AREA), col(PERIOD)],
            [col(AREA), col(PERIOD)],
            JoinArgs::new(JoinType::Left),
        )
        .join(dens.lazy(), [col(AREA)], [col(AREA)], JoinArgs::new(JoinType::Left))
        .with_column(col(NUMERATOR).fill_null(lit(0.0)))
        .with_column(match ind.denominator {
            Denominator::None => (col(NUMERATOR) * lit(ind.scale)).alias(VALUE),
            _ => rate(col(NUMERATOR), col(DENOMINATOR), ind.scale).alias(VALUE),
        })
        .sort([AREA, PERIOD], SortMultipleOptions::default())
        .collect()?;

    let numerator: Vec<Option<f64>> = table.column(NUMERATOR)?.f64()?.iter().collect();
    let value: Vec<Option<f64>> = table.column(VALUE)?.f64()?.iter().collect();
    Ok(LevelValues {
        periods: period_keys.iter().map(|&k| ind.period.label(k)).collect(),
        suppressed: vec![None; numerator.len()],
        numerator,
        value,
        denominator: if ind.denominator == Denominator::None { vec![None; n_areas] } else { denominator },
        denominator_source,
    })
}

/// Evaluate an indicator whose numerator is a statistic of the areas (one period, `all`):
/// `statistic / denominator × scale`, missing where either is missing.
pub fn evaluate_statistic(ind: &Indicator, levels: &[Level], level: usize) -> Result<LevelValues> {
    let name = ind.statistic.as_deref().unwrap_or("");
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
    })
}
