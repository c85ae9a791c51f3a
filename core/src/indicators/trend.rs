//! Trends over periods: the Mann-Kendall test with Sen's slope, the non-parametric pair
//! that hydrologists and monitoring agencies use for short, noisy series.
//!
//! The same definitions as `pymannkendall.original_test` (Mann 1945, Kendall 1975,
//! Gilbert 1987), checked against it in `tests/trends.rs`:
//! - S = Σ_{i<j} sign(x_j − x_i) over the values that are there (missing values skipped);
//! - Var(S) = [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18, t the sizes of groups of tied values;
//! - z = (S − 1)/√Var(S) for S > 0, (S + 1)/√Var(S) for S < 0, 0 for S = 0;
//! - p = two-sided normal p-value of z; a trend when p < α (0.05);
//! - Sen's slope = the median of (x_j − x_i)/(j − i) over all pairs of values that are
//!   there, with i and j the real positions in time (a gap stays a gap, so the slope is
//!   per period); intercept = median(x) − median(positions) × slope (Conover).
//!
//! Protected or missing values take no part: a trend is computed from published values
//! only, so it cannot reveal what disclosure control hides.

/// The smallest number of values for a trend: with fewer, no ordering is significant.
pub const MIN_VALUES: usize = 4;

/// The significance level of the trend direction.
pub const ALPHA: f64 = 0.05;

/// How many periods back a change is compared when nobody says: a year for quarters and
/// months, five years for years, the previous one otherwise.
pub fn default_back(kind: crate::indicators::PeriodKind) -> usize {
    use crate::indicators::PeriodKind;
    match kind {
        PeriodKind::Quarter => 4,
        PeriodKind::Month => 12,
        PeriodKind::Year => 5,
        PeriodKind::All => 1,
    }
}

/// Which way a series goes, at [`ALPHA`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Rising,
    Falling,
    NoTrend,
}

impl Direction {
    pub fn key(self) -> &'static str {
        match self {
            Direction::Rising => "rising",
            Direction::Falling => "falling",
            Direction::NoTrend => "no_trend",
        }
    }

    /// The words on the map and in the profile.
    pub fn dutch(self) -> &'static str {
        match self {
            Direction::Rising => "stijgend",
            Direction::Falling => "dalend",
            Direction::NoTrend => "geen trend",
        }
    }
}

/// The Mann-Kendall test and Sen's slope of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// How many values took part.
    pub n: usize,
    pub s: f64,
    pub var_s: f64,
    pub z: f64,
    pub p: f64,
    pub tau: f64,
    /// Change per period (Sen's slope).
    pub slope: f64,
    pub intercept: f64,
    pub direction: Direction,
}

/// The trend of `series` (one value per consecutive period, `None` where missing or
/// protected); `None` when fewer than [`MIN_VALUES`] values are there.
pub fn mann_kendall(series: &[Option<f64>]) -> Option<Trend> {
    let points: Vec<(usize, f64)> = series.iter().enumerate().filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x))).collect();
    let n = points.len();
    if n < MIN_VALUES {
        return None;
    }
    let mut s = 0i64;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for (a, &(i, xi)) in points.iter().enumerate() {
        for &(j, xj) in &points[a + 1..] {
            s += (xj > xi) as i64 - (xj < xi) as i64;
            slopes.push((xj - xi) / (j - i) as f64);
        }
    }
    let nf = n as f64;
    let mut sorted: Vec<f64> = points.iter().map(|p| p.1).collect();
    sorted.sort_by(f64::total_cmp);
    let ties: f64 =
        sorted.chunk_by(|a, b| a == b).map(|g| g.len() as f64).filter(|&t| t > 1.0).map(|t| t * (t - 1.0) * (2.0 * t + 5.0)).sum();
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let s = s as f64;
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let p = libm::erfc(z.abs() / std::f64::consts::SQRT_2);
    let direction = match (p < ALPHA, z > 0.0) {
        (true, true) => Direction::Rising,
        (true, false) => Direction::Falling,
        _ => Direction::NoTrend,
    };
    let slope = median(&mut slopes);
    let positions: Vec<f64> = points.iter().map(|p| p.0 as f64).collect();
    let intercept = median(&mut sorted) - median(&mut positions.clone()) * slope;
    Some(Trend { n, s, var_s, z, p, tau: s / (0.5 * nf * (nf - 1.0)), slope, intercept, direction })
}

/// The median (the mean of the middle two for an even count); NaN for none.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// The change of the last published value against the published value `back` periods
/// earlier: `(period index of the earlier value, difference)`.
pub fn change(series: &[Option<f64>], back: usize) -> Option<(usize, f64)> {
    let last = series.iter().rposition(Option::is_some)?;
    let earlier = last.checked_sub(back)?;
    Some((earlier, series[last]? - series[earlier]?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rising_series_rises_and_gaps_keep_their_place() {
        let t = mann_kendall(&[Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0), Some(6.0)]).unwrap();
        assert_eq!(t.direction, Direction::Rising);
        assert_eq!(t.s, 15.0);
        assert_eq!(t.slope, 1.0);
        // 0, 2, 4, 6 at positions 0, 2, 3, 5: the slope is 2 per period (every pair),
        // not the slope of the values packed together.
        let t = mann_kendall(&[Some(0.0), None, Some(4.0), Some(6.0), None, Some(10.0)]).unwrap();
        assert_eq!(t.slope, 2.0);
        assert_eq!(t.n, 4);
        assert!(mann_kendall(&[Some(1.0), None, Some(2.0), Some(3.0)]).is_none(), "three values: no trend");
        let flat = mann_kendall(&[Some(2.0); 6]).unwrap();
        assert_eq!((flat.s, flat.z, flat.direction), (0.0, 0.0, Direction::NoTrend));
    }

    #[test]
    fn change_against_earlier_periods() {
        let s = [Some(10.0), Some(12.0), None, Some(15.0)];
        assert_eq!(change(&s, 1), None, "the previous period is missing");
        assert_eq!(change(&s, 3), Some((0, 5.0)));
        assert_eq!(change(&s, 4), None);
    }
}
