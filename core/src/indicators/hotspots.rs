//! Hot spots: global and local Moran's I and Getis-Ord Gi*, with the definitions of PySAL's
//! esda (checked against it in `tests/hotspots.rs`), on row-standardised contiguity
//! weights (`crate::weights`).
//!
//! - **Global Moran's I** (esda `Moran`): I = n / S0 · Σᵢ zᵢ·lagᵢ / Σᵢ zᵢ², z = y − ȳ; its
//!   z-score and two-sided p under normality; a permutation p-value.
//! - **Local Moran's I** (esda `Moran_Local`): z = (y − ȳ) / sd(y) (population sd),
//!   Iᵢ = (n − 1) · zᵢ · lagᵢ / Σ z²; quadrant 1 high-high, 2 low-high, 3 low-low, 4 high-low
//!   (zᵢ > 0, lagᵢ > 0 decide); conditional permutation inference: for area i, its
//!   neighbours' values replaced `permutations` times by kᵢ values drawn without
//!   replacement from the other n − 1 areas; p = (larger + 1) / (permutations + 1), larger
//!   folded to the smaller tail, as esda does.
//! - **Getis-Ord Gi\*** (esda `G_Local(star=True)`, transform R): the area itself is one of
//!   its neighbours with weight 1 before row standardisation; Gᵢ = Σⱼ wᵢⱼ yⱼ / Σ y; the
//!   analytic z-score from esda's expectation and variance; a two-sided normal p and a
//!   conditional permutation p.
//! - **FDR**: esda's Benjamini–Hochberg cut-off (`esda.fdr`), optional.
//! - **Empirical Bayes rates** (Assunção–Reis, esda `assuncao_rate`, as `Moran_Rate` and
//!   `Moran_Local_Rate` with `adjusted=True` use them): a rate on a small denominator is
//!   unstable, so the statistics can run on (rᵢ − b) / √(a + b/nᵢ) instead of the rates,
//!   with b = Σ events / Σ base, a = Σ nᵢ (rᵢ − b)² / Σ n − b / n̄ (a negative a + b/nᵢ is
//!   replaced by b/nᵢ).
//!
//! The conditional permutations are drawn once per run, as esda's `crand` does: a table of
//! `permutations` rows of k_max distinct indices out of n − 1 (seeded), of which area i
//! takes the first kᵢ of each row, skipping itself. So a run is reproducible and
//! independent of the number of threads, and the work per area is a sum over the table.
//! The random numbers are not numpy's: p-values agree with esda's within Monte Carlo
//! error, not digit for digit.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::weights::Neighbours;

/// Global Moran's I.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalMoran {
    pub i: f64,
    pub expected: f64,
    pub z_norm: f64,
    pub p_norm: f64,
    pub p_sim: Option<f64>,
}

/// Local Moran's I per area.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalMoran {
    pub is: Vec<f64>,
    /// 1 high-high, 2 low-high, 3 low-low, 4 high-low.
    pub quadrant: Vec<u8>,
    /// `None` for islands and without permutations.
    pub p_sim: Vec<Option<f64>>,
}

/// Gi* per area.
#[derive(Debug, Clone, PartialEq)]
pub struct GiStar {
    pub g: Vec<f64>,
    pub z: Vec<f64>,
    pub p_norm: Vec<f64>,
    pub p_sim: Vec<Option<f64>>,
}

fn mean(y: &[f64]) -> f64 {
    y.iter().sum::<f64>() / y.len() as f64
}

/// The row-standardised spatial lag: the mean of the neighbours' values (0 for islands).
fn lag(w: &Neighbours, z: &[f64]) -> Vec<f64> {
    w.lists.iter().map(|l| if l.is_empty() { 0.0 } else { l.iter().map(|&j| z[j as usize]).sum::<f64>() / l.len() as f64 }).collect()
}

/// Two-sided normal p-value.
fn two_sided(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// esda's folding: the number of permuted statistics at least as large as the observed
/// one, or of those below it when that is the smaller tail.
fn folded_p(larger: usize, permutations: usize) -> f64 {
    let larger = if permutations - larger < larger { permutations - larger } else { larger };
    (larger as f64 + 1.0) / (permutations as f64 + 1.0)
}

/// A generator for stream `i` of a run seeded with `seed`.
fn rng_for(seed: u64, i: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The permutation table: `permutations` rows of `k` distinct indices out of 0..n−1 (the
/// n − 1 areas other than the one at hand; see [`other`]).
struct Draws {
    k: usize,
    rows: Vec<u32>,
}

impl Draws {
    fn new(n: usize, k: usize, permutations: usize, seed: u64) -> Draws {
        let k = k.min(n.saturating_sub(1));
        let rows = (0..permutations)
            .into_par_iter()
            .flat_map_iter(|p| {
                let mut rng = rng_for(seed, p);
                rand::seq::index::sample(&mut rng, n - 1, k).into_iter().map(|j| j as u32).collect::<Vec<_>>()
            })
            .collect();
        Draws { k, rows }
    }

    /// The first `k` draws of permutation `p` for area `i` (indices ≥ i move up by one).
    fn for_area(&self, p: usize, i: usize, k: usize) -> impl Iterator<Item = usize> + '_ {
        self.rows[p * self.k..p * self.k + k].iter().map(move |&j| other(j as usize, i))
    }
}

/// Index `j` of the n − 1 areas other than `i`, as an index of all n.
fn other(j: usize, i: usize) -> usize {
    if j >= i { j + 1 } else { j }
}

/// Conditional permutation p-values: for every area i with kᵢ neighbours, how often the
/// statistic on kᵢ values drawn from the other areas (`stat(i, k, sum of the drawn values)`)
/// is at least the observed one, folded as esda does. `None` for islands.
fn conditional_p(
    values: &[f64],
    w: &Neighbours,
    permutations: usize,
    seed: u64,
    stat: &(dyn Fn(usize, usize, f64) -> bool + Sync),
) -> Vec<Option<f64>> {
    let n = values.len();
    let draws = Draws::new(n, w.lists.iter().map(Vec::len).max().unwrap_or(0), permutations, seed);
    (0..n)
        .into_par_iter()
        .map(|i| {
            let k = w.lists[i].len();
            if permutations == 0 || k == 0 || k >= n {
                return None;
            }
            let larger = (0..permutations).filter(|&p| stat(i, k, draws.for_area(p, i, k).map(|j| values[j]).sum::<f64>())).count();
            Some(folded_p(larger, permutations))
        })
        .collect()
}

/// Global Moran's I of `y` on row-standardised `w`.
pub fn global_moran(y: &[f64], w: &Neighbours, permutations: usize, seed: u64) -> GlobalMoran {
    let n = y.len() as f64;
    let m = mean(y);
    let z: Vec<f64> = y.iter().map(|v| v - m).collect();
    let z2: f64 = z.iter().map(|v| v * v).sum();
    // Row-standardised weights: wᵢⱼ = 1/kᵢ.
    let wij = |i: usize| if w.lists[i].is_empty() { 0.0 } else { 1.0 / w.lists[i].len() as f64 };
    let s0: f64 = (0..w.lists.len()).filter(|&i| !w.lists[i].is_empty()).count() as f64;
    let calc = |z: &[f64]| -> f64 {
        let l = lag(w, z);
        n / s0 * z.iter().zip(&l).map(|(a, b)| a * b).sum::<f64>() / z2
    };
    let i_obs = calc(&z);
    // S1 = ½ Σᵢⱼ (wᵢⱼ + wⱼᵢ)², S2 = Σᵢ (wᵢ. + w.ᵢ)².
    let mut col = vec![0.0; w.lists.len()];
    let mut s1 = 0.0;
    for (i, l) in w.lists.iter().enumerate() {
        for &j in l {
            col[j as usize] += wij(i);
            let mutual = w.lists[j as usize].binary_search(&(i as u32)).is_ok();
            let term = (wij(i) + if mutual { wij(j as usize) } else { 0.0 }).powi(2);
            // Σᵢⱼ runs over both orders: a mutual pair is met from both sides, a one-way
            // pair (k nearest neighbours) only from one, so it counts twice here.
            s1 += if mutual { term } else { 2.0 * term };
        }
    }
    let s1 = s1 / 2.0;
    let s2: f64 = (0..w.lists.len()).map(|i| (if w.lists[i].is_empty() { 0.0 } else { 1.0 } + col[i]).powi(2)).sum();
    let expected = -1.0 / (n - 1.0);
    let vi = (n * n * s1 - n * s2 + 3.0 * s0 * s0) / ((n - 1.0) * (n + 1.0) * s0 * s0) - expected * expected;
    let z_norm = (i_obs - expected) / vi.sqrt();
    let p_sim = (permutations > 0).then(|| {
        let larger = (0..permutations)
            .into_par_iter()
            .filter(|&p| {
                let mut perm = z.clone();
                rand::seq::SliceRandom::shuffle(perm.as_mut_slice(), &mut rng_for(seed ^ 0x5eed, p));
                calc(&perm) >= i_obs
            })
            .count();
        folded_p(larger, permutations)
    });
    GlobalMoran { i: i_obs, expected, z_norm, p_norm: two_sided(z_norm), p_sim }
}

/// Local Moran's I of `y` on row-standardised `w`.
pub fn local_moran(y: &[f64], w: &Neighbours, permutations: usize, seed: u64) -> LocalMoran {
    let n = y.len();
    let m = mean(y);
    let sd = (y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
    let z: Vec<f64> = y.iter().map(|v| (v - m) / sd).collect();
    let den: f64 = z.iter().map(|v| v * v).sum();
    let l = lag(w, &z);
    let n1 = (n - 1) as f64;
    let is: Vec<f64> = (0..n).map(|i| n1 * z[i] * l[i] / den).collect();
    let quadrant = (0..n)
        .map(|i| match (z[i] > 0.0, l[i] > 0.0) {
            (true, true) => 1,
            (false, true) => 2,
            (false, false) => 3,
            (true, false) => 4,
        })
        .collect();
    let p_sim = conditional_p(&z, w, permutations, seed, &|i, k, sum| n1 * z[i] * (sum / k as f64) / den >= is[i]);
    LocalMoran { is, quadrant, p_sim }
}

/// Getis-Ord Gi of `y` on row-standardised `w` (the area itself left out, esda
/// `G_Local(star=False)`): Gᵢ = Σⱼ wᵢⱼ yⱼ / (Σ y − yᵢ), with esda's expectation and variance
/// over the n − 1 other areas.
pub fn gi(y: &[f64], w: &Neighbours, permutations: usize, seed: u64) -> GiStar {
    let n = y.len();
    let n1 = (n - 1) as f64;
    let total: f64 = y.iter().sum();
    let sum2: f64 = y.iter().map(|v| v * v).sum();
    let lags = lag(w, y);
    let g: Vec<f64> = (0..n).map(|i| lags[i] / (total - y[i])).collect();
    let z: Vec<f64> = (0..n)
        .map(|i| {
            let card = if w.lists[i].is_empty() { 0.0 } else { 1.0 };
            let mean = (total - y[i]) / n1;
            let var = (sum2 - y[i] * y[i]) / n1 - mean * mean;
            let expected = card / n1;
            let variance = card * (n1 - card) / (n1 - 1.0) / (n1 * n1) * (var / (mean * mean));
            (g[i] - expected) / variance.sqrt()
        })
        .collect();
    let p_norm = z.iter().map(|&z| two_sided(z)).collect();
    let p_sim = conditional_p(y, w, permutations, seed, &|i, k, sum| sum / k as f64 / (total - y[i]) >= g[i]);
    GiStar { g, z, p_norm, p_sim }
}

/// Getis-Ord Gi* of `y` on `w` (the area itself included, row-standardised).
pub fn gi_star(y: &[f64], w: &Neighbours, permutations: usize, seed: u64) -> GiStar {
    let n = y.len();
    let nf = n as f64;
    let total: f64 = y.iter().sum();
    let g: Vec<f64> = (0..n)
        .map(|i| {
            let k = w.lists[i].len() as f64 + 1.0;
            (y[i] + w.lists[i].iter().map(|&j| y[j as usize]).sum::<f64>()) / k / total
        })
        .collect();
    let emp_mean = total / nf;
    let emp_var = y.iter().map(|v| v * v).sum::<f64>() / nf - emp_mean * emp_mean;
    // Row-standardised: every row sums to 1 (esda's `cardinality`).
    let expected = 1.0 / nf;
    let variance = 1.0 * (nf - 1.0) / (nf - 1.0) / (nf * nf) * (emp_var / (emp_mean * emp_mean));
    let z: Vec<f64> = g.iter().map(|gi| (gi - expected) / variance.sqrt()).collect();
    let p_norm = z.iter().map(|&z| two_sided(z)).collect();
    let p_sim = conditional_p(y, w, permutations, seed, &|i, k, sum| (sum + y[i]) / (k as f64 + 1.0) / total >= g[i]);
    GiStar { g, z, p_norm, p_sim }
}

/// esda's Benjamini–Hochberg cut-off: the largest `rank·alpha/n` that a p-value (taken
/// from the largest down) falls below; `alpha/n` (Bonferroni) when none does.
pub fn fdr(p: &[f64], alpha: f64) -> f64 {
    let n = p.len();
    let mut sorted = p.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    for (k, &pk) in sorted.iter().enumerate() {
        let cut = (n - k) as f64 * alpha / n as f64;
        if pk < cut {
            return cut;
        }
    }
    alpha / n as f64
}

/// The local statistic (a type of the project file, so it is parsed once).
pub use crate::config::HotspotMethod as Method;

/// How to run an analysis: the project file's settings type, shared with the API.
pub use crate::config::HotspotParams as Params;

/// What an analysis runs on, per area of the level: published values, or the published
/// events and bases of a rate (for empirical-Bayes standardisation).
pub enum Input<'a> {
    Values(&'a dyn Fn(usize) -> Option<f64>),
    Rates { events: &'a dyn Fn(usize) -> Option<f64>, base: &'a dyn Fn(usize) -> Option<f64> },
}

/// esda's `assuncao_rate`: empirical-Bayes standardised rates.
pub fn assuncao_rate(e: &[f64], b: &[f64]) -> Vec<f64> {
    let n = e.len() as f64;
    let (e_sum, b_sum) = (e.iter().sum::<f64>(), b.iter().sum::<f64>());
    let ebi_b = e_sum / b_sum;
    let y: Vec<f64> = e.iter().zip(b).map(|(e, b)| e / b).collect();
    let s2 = b.iter().zip(&y).map(|(b, y)| b * (y - ebi_b).powi(2)).sum::<f64>() / b_sum;
    let ebi_a = s2 - ebi_b / (b_sum / n);
    y.iter()
        .zip(b)
        .map(|(y, b)| {
            let v = ebi_a + ebi_b / b;
            let v = if v < 0.0 { ebi_b / b } else { v };
            (y - ebi_b) / v.sqrt()
        })
        .collect()
}

/// One area's result.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaResult {
    pub value: f64,
    pub local_i: Option<f64>,
    pub quadrant: Option<u8>,
    pub g: Option<f64>,
    pub z: Option<f64>,
    pub p_norm: Option<f64>,
    pub p_sim: Option<f64>,
    pub significant: bool,
    /// `high_high`, `low_high`, `low_low`, `high_low`, `hot_spot`, `cold_spot` or
    /// `not_significant`.
    pub cluster: &'static str,
}

/// An analysis of one level: per area of the level (`None` where it has no published
/// value), the global test, the cut-off used, and the weights' islands (area indices).
#[derive(Debug, Clone)]
pub struct Analysis {
    pub params: Params,
    pub areas: Vec<Option<AreaResult>>,
    pub global: GlobalMoran,
    pub cutoff: f64,
    pub n: usize,
    pub islands: Vec<usize>,
    pub components: usize,
}

/// The Dutch words of a cluster.
pub fn cluster_nl(key: &str) -> &'static str {
    match key {
        "high_high" => "hoog, omringd door hoog",
        "low_high" => "laag, omringd door hoog",
        "low_low" => "laag, omringd door laag",
        "high_low" => "hoog, omringd door laag",
        "hot_spot" => "hotspot",
        "cold_spot" => "coldspot",
        _ => "niet significant",
    }
}

/// Analyse the values of a level (`value(a)`: the published value of area a, if any) on
/// the level's contiguity `full`: only the areas with a value take part, with the
/// weights among them. `None` with fewer than three such areas.
pub fn analyse(input: Input, full: &Neighbours, params: Params) -> Option<Analysis> {
    let n_areas = full.lists.len();
    let (keep, y): (Vec<usize>, Vec<f64>) = match input {
        Input::Values(value) => {
            let keep: Vec<usize> = (0..n_areas).filter(|&a| value(a).is_some_and(f64::is_finite)).collect();
            let y = keep.iter().map(|&a| value(a).unwrap_or(0.0)).collect();
            (keep, y)
        }
        Input::Rates { events, base } => {
            let keep: Vec<usize> = (0..n_areas)
                .filter(|&a| events(a).is_some_and(f64::is_finite) && base(a).is_some_and(|b| b > 0.0 && b.is_finite()))
                .collect();
            let e: Vec<f64> = keep.iter().map(|&a| events(a).unwrap_or(0.0)).collect();
            let b: Vec<f64> = keep.iter().map(|&a| base(a).unwrap_or(1.0)).collect();
            let y = if keep.is_empty() { Vec::new() } else { assuncao_rate(&e, &b) };
            (keep, y)
        }
    };
    // Fewer than three values, or values that do not vary (a month without reports: all
    // zeros), have no spatial pattern to test: z-scores would be 0/0.
    if keep.len() < 3 || y.iter().all(|v| *v == y[0]) {
        return None;
    }
    let w = full.subset(&keep);
    let global = global_moran(&y, &w, params.global_permutations, params.seed);
    let mut rows: Vec<AreaResult> = y
        .iter()
        .map(|&v| AreaResult {
            value: v,
            local_i: None,
            quadrant: None,
            g: None,
            z: None,
            p_norm: None,
            p_sim: None,
            significant: false,
            cluster: "not_significant",
        })
        .collect();
    match params.method {
        Method::LocalMoran => {
            let l = local_moran(&y, &w, params.permutations, params.seed);
            for (k, r) in rows.iter_mut().enumerate() {
                (r.local_i, r.quadrant, r.p_sim) = (Some(l.is[k]), Some(l.quadrant[k]), l.p_sim[k]);
            }
        }
        Method::Gi | Method::GiStar => {
            let g = if params.method == Method::Gi {
                gi(&y, &w, params.permutations, params.seed)
            } else {
                gi_star(&y, &w, params.permutations, params.seed)
            };
            for (k, r) in rows.iter_mut().enumerate() {
                (r.g, r.z, r.p_norm, r.p_sim) = (Some(g.g[k]), Some(g.z[k]), Some(g.p_norm[k]), g.p_sim[k]);
            }
        }
    }
    let known: Vec<f64> = rows.iter().filter_map(|r| r.p_sim).collect();
    let cutoff = if params.fdr && !known.is_empty() { fdr(&known, params.alpha) } else { params.alpha };
    for r in &mut rows {
        r.significant = r.p_sim.is_some_and(|p| p < cutoff);
        r.cluster = match (r.significant, params.method, r.quadrant, r.z) {
            (false, _, _, _) => "not_significant",
            (true, Method::LocalMoran, Some(1), _) => "high_high",
            (true, Method::LocalMoran, Some(2), _) => "low_high",
            (true, Method::LocalMoran, Some(3), _) => "low_low",
            (true, Method::LocalMoran, _, _) => "high_low",
            (true, Method::Gi | Method::GiStar, _, Some(z)) if z > 0.0 => "hot_spot",
            (true, Method::Gi | Method::GiStar, _, _) => "cold_spot",
        };
    }
    let mut areas = vec![None; n_areas];
    for (k, r) in rows.into_iter().enumerate() {
        areas[keep[k]] = Some(r);
    }
    let islands = w.islands().into_iter().map(|k| keep[k]).collect();
    Some(Analysis { params, areas, global, cutoff, n: keep.len(), islands, components: w.components().1 })
}

/// The categories of emerging hot-spot analysis (as ArcGIS Pro's *Emerging Hot Spot
/// Analysis* defines them), from an area's Gi* per period: whether each period is a
/// significant hot (+1) or cold (−1) spot or neither (0), and the Mann-Kendall trend of its
/// z-scores. "Most periods" is at least 90 % of them; the final period is the latest.
///
/// - *new*: a hot spot in the final period only, never before;
/// - *consecutive*: an uninterrupted run of hot periods at the end (two or more), never
///   before the run, and fewer than 90 % of the periods hot;
/// - *intensifying* / *persistent* / *diminishing*: hot in at least 90 % of the periods,
///   the final one included, with the z-scores rising significantly / without a
///   significant trend / falling significantly;
/// - *sporadic*: hot in the final period, hot on and off before (under 90 %), never cold;
/// - *oscillating*: hot in the final period, cold in some earlier one, under 90 % hot;
/// - *historical*: not hot in the final period, but hot in at least 90 % of them;
///
/// the same for cold spots (`new_cold`, …); `no_pattern` otherwise.
pub fn emerging_category(signs: &[i8], z: &[Option<f64>]) -> &'static str {
    let n = signs.len();
    if n == 0 {
        return "no_pattern";
    }
    let hot = emerging_side(signs, z, 1);
    if hot != "no_pattern" {
        return hot;
    }
    match emerging_side(signs, z, -1) {
        "new" => "new_cold",
        "consecutive" => "consecutive_cold",
        "intensifying" => "intensifying_cold",
        "persistent" => "persistent_cold",
        "diminishing" => "diminishing_cold",
        "sporadic" => "sporadic_cold",
        "oscillating" => "oscillating_cold",
        "historical" => "historical_cold",
        _ => "no_pattern",
    }
}

/// One side of [`emerging_category`]: `side` +1 for hot spots, −1 for cold spots.
fn emerging_side(signs: &[i8], z: &[Option<f64>], side: i8) -> &'static str {
    let n = signs.len();
    let this = |i: usize| signs[i] == side;
    let other = |i: usize| signs[i] == -side;
    let count = (0..n).filter(|&i| this(i)).count();
    let most = count as f64 >= 0.9 * n as f64;
    let last = this(n - 1);
    // The trend of the z-scores, turned so that "intensifying" means more extreme.
    let trend = super::trend::mann_kendall(&z.iter().map(|v| v.map(|x| x * f64::from(side))).collect::<Vec<_>>()).map(|t| t.direction);
    use super::trend::Direction;
    if last && most {
        return match trend {
            Some(Direction::Rising) => "intensifying",
            Some(Direction::Falling) => "diminishing",
            _ => "persistent",
        };
    }
    if !last {
        return if most { "historical" } else { "no_pattern" };
    }
    if count == 1 {
        return "new";
    }
    let run = (0..n).rev().take_while(|&i| this(i)).count();
    if run == count && run >= 2 {
        return "consecutive";
    }
    if (0..n - 1).any(other) { "oscillating" } else { "sporadic" }
}

/// The Dutch words of an emerging category.
pub fn emerging_nl(key: &str) -> &'static str {
    match key {
        "new" => "nieuwe hotspot",
        "consecutive" => "aaneengesloten hotspot",
        "intensifying" => "sterker wordende hotspot",
        "persistent" => "blijvende hotspot",
        "diminishing" => "afnemende hotspot",
        "sporadic" => "sporadische hotspot",
        "oscillating" => "wisselende hotspot",
        "historical" => "voormalige hotspot",
        "new_cold" => "nieuwe coldspot",
        "consecutive_cold" => "aaneengesloten coldspot",
        "intensifying_cold" => "sterker wordende coldspot",
        "persistent_cold" => "blijvende coldspot",
        "diminishing_cold" => "afnemende coldspot",
        "sporadic_cold" => "sporadische coldspot",
        "oscillating_cold" => "wisselende coldspot",
        "historical_cold" => "voormalige coldspot",
        _ => "geen patroon",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> Neighbours {
        Neighbours {
            lists: (0..n)
                .map(|i| {
                    let mut l = Vec::new();
                    if i > 0 {
                        l.push(i as u32 - 1);
                    }
                    if i + 1 < n {
                        l.push(i as u32 + 1);
                    }
                    l
                })
                .collect(),
        }
    }

    #[test]
    fn a_smooth_gradient_is_positively_autocorrelated_and_reproducible() {
        let y: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let w = line(30);
        let g = global_moran(&y, &w, 199, 1);
        assert!(g.i > 0.8 && g.p_norm < 0.001, "{g:?}");
        assert_eq!(g.p_sim, Some(1.0 / 200.0));
        let l = local_moran(&y, &w, 199, 1);
        assert_eq!(l.quadrant[0], 3, "low values next to low values");
        assert_eq!(l.quadrant[29], 1);
        assert_eq!(l, local_moran(&y, &w, 199, 1), "seeded: the same run twice");
        let gs = gi_star(&y, &w, 99, 1);
        assert!(gs.z[29] > 0.0 && gs.z[0] < 0.0);
        assert_eq!(fdr(&[0.001, 0.2, 0.5], 0.05), 0.05 / 3.0);
        assert_eq!(fdr(&[0.9, 0.95], 0.05), 0.025);
    }

    #[test]
    fn values_without_variation_are_not_analysed() {
        let w = line(5);
        let zeros = |_: usize| Some(0.0);
        assert!(analyse(Input::Values(&zeros), &w, Params::default()).is_none(), "all zeros: nothing is a cluster");
        let some = |a: usize| Some(a as f64);
        let a = analyse(Input::Values(&some), &w, Params::default()).unwrap();
        assert!(a.areas.iter().flatten().all(|r| r.p_sim.is_some_and(|p| p > 0.0)));
    }

    #[test]
    fn emerging_categories_follow_their_definitions() {
        let z = |v: &[f64]| v.iter().map(|x| Some(*x)).collect::<Vec<_>>();
        let flat = z(&[2.0; 10]);
        assert_eq!(emerging_category(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1], &flat), "new");
        assert_eq!(emerging_category(&[0, 0, 0, 0, 0, 0, 0, 1, 1, 1], &flat), "consecutive");
        assert_eq!(emerging_category(&[1; 10], &z(&[2.0, 2.1, 2.2, 2.4, 2.5, 2.7, 2.9, 3.0, 3.2, 3.5])), "intensifying");
        assert_eq!(emerging_category(&[1; 10], &z(&[3.5, 3.2, 3.0, 2.9, 2.7, 2.5, 2.4, 2.2, 2.1, 2.0])), "diminishing");
        assert_eq!(emerging_category(&[1; 10], &z(&[2.0, 2.5, 2.1, 2.4, 2.2, 2.3, 2.2, 2.4, 2.1, 2.3])), "persistent");
        assert_eq!(emerging_category(&[1, 0, 1, 0, 0, 1, 0, 0, 1, 1], &flat), "sporadic");
        assert_eq!(emerging_category(&[1, -1, 0, 0, 0, 1, 0, 0, 0, 1], &flat), "oscillating");
        assert_eq!(emerging_category(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 0], &flat), "historical");
        assert_eq!(emerging_category(&[0, 0, 0, 0, 0, 0, 0, 0, 0, -1], &flat), "new_cold");
        assert_eq!(emerging_category(&[0; 10], &flat), "no_pattern");
    }
}
