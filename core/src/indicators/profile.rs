//! The comparisons of an area profile: how an area's value stands among the areas of its
//! level (a deviation band on z-scores, as ABF Research's Swing profiles show it) and its
//! rank among all areas and among its siblings.
//!
//! - The reference of a level is the mean of the published values of its areas weighted by
//!   their denominators (weight 1 without a denominator): for a rate that is exactly the
//!   rate of all areas together, Σ numerators / Σ denominators × scale.
//! - z = (value − mean) / sd, sd the weighted standard deviation around that mean.
//! - The band: z below −1.5 *ver onder*, below −0.5 *onder*, up to 0.5 *gemiddeld*, up to
//!   1.5 *boven*, above *ver boven* (edges configurable).
//! - Ranks: 1 is the highest value; ties share the best rank.
//!
//! Only published values take part: a protected or missing value has no z, no band and
//! no rank, and is no part of anyone else's. So the comparisons reveal nothing that
//! disclosure control withholds.

use super::LevelValues;

/// The default band edges on z.
pub const BAND_EDGES: [f64; 4] = [-1.5, -0.5, 0.5, 1.5];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    WellBelow,
    Below,
    About,
    Above,
    WellAbove,
}

impl Band {
    pub fn of(z: f64, edges: &[f64; 4]) -> Band {
        match z {
            z if z < edges[0] => Band::WellBelow,
            z if z < edges[1] => Band::Below,
            z if z <= edges[2] => Band::About,
            z if z <= edges[3] => Band::Above,
            _ => Band::WellAbove,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Band::WellBelow => "well_below",
            Band::Below => "below",
            Band::About => "about",
            Band::Above => "above",
            Band::WellAbove => "well_above",
        }
    }

    pub fn dutch(self) -> &'static str {
        match self {
            Band::WellBelow => "ver onder gemiddeld",
            Band::Below => "onder gemiddeld",
            Band::About => "rond het gemiddelde",
            Band::Above => "boven gemiddeld",
            Band::WellAbove => "ver boven gemiddeld",
        }
    }
}

/// The weighted mean and standard deviation of a level's published values in one period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    pub mean: f64,
    pub sd: f64,
    /// How many areas took part.
    pub n: usize,
}

/// (area, value, weight) of every area of the level with a published value in period `p`.
pub fn published(v: &LevelValues, p: usize) -> Vec<(usize, f64, f64)> {
    let n_a = if v.periods.is_empty() { 0 } else { v.value.len() / v.periods.len() };
    (0..n_a)
        .filter_map(|a| {
            let k = v.index(a, p);
            let x = v.value[k].filter(|x| x.is_finite())?;
            let w = v.denominator.get(k).copied().flatten().filter(|d| *d > 0.0).unwrap_or(1.0);
            Some((a, x, w))
        })
        .collect()
}

/// The level's reference from its [`published`] values; `None` without any.
pub fn reference(xs: &[(usize, f64, f64)]) -> Option<Reference> {
    let total: f64 = xs.iter().map(|x| x.2).sum();
    if xs.is_empty() || total <= 0.0 {
        return None;
    }
    let mean = xs.iter().map(|(_, x, w)| x * w).sum::<f64>() / total;
    let var = xs.iter().map(|(_, x, w)| w * (x - mean).powi(2)).sum::<f64>() / total;
    Some(Reference { mean, sd: var.sqrt(), n: xs.len() })
}

/// z of `value` against `r`; `None` when the level's values do not vary.
pub fn z_score(value: f64, r: &Reference) -> Option<f64> {
    (r.sd > 0.0).then(|| (value - r.mean) / r.sd)
}

/// The rank of area `a` (1 = highest) among `candidates` (areas with published values),
/// and how many there are; `None` when `a` has no published value among them.
pub fn rank(candidates: &[(usize, f64, f64)], a: usize) -> Option<(usize, usize)> {
    let x = candidates.iter().find(|c| c.0 == a)?.1;
    Some((1 + candidates.iter().filter(|c| c.1 > x).count(), candidates.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &[Option<f64>], d: &[Option<f64>]) -> LevelValues {
        LevelValues {
            periods: vec!["all".into()],
            numerator: v.to_vec(),
            value: v.to_vec(),
            suppressed: vec![None; v.len()],
            denominator: d.to_vec(),
            numerator_source: None,
            denominator_source: None,
            denominator_periods: vec![None],
            converted: vec![false; v.len()],
            protection: None,
        }
    }

    #[test]
    fn the_reference_of_rates_is_the_rate_of_the_whole() {
        // 10 of 100 and 30 of 300: 10 % and 10 %... and 5 of 100: 5 %. Whole: 45 / 500 = 9 %.
        let v = values(&[Some(10.0), Some(10.0), Some(5.0), None], &[Some(100.0), Some(300.0), Some(100.0), Some(50.0)]);
        let r = reference(&published(&v, 0)).unwrap();
        assert!((r.mean - 9.0).abs() < 1e-12);
        assert_eq!(r.n, 3, "a missing value takes no part");
        let z = z_score(5.0, &r).unwrap();
        assert!(z < -1.5, "{z}");
        assert_eq!(Band::of(z, &BAND_EDGES), Band::WellBelow);
        assert_eq!(rank(&published(&v, 0), 1), Some((1, 3)), "ties share the best rank");
        assert_eq!(rank(&published(&v, 0), 2), Some((3, 3)));
        assert_eq!(rank(&published(&v, 0), 3), None);
    }
}
