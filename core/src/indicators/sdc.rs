//! Statistical disclosure control, the way CBS does it, applied to an indicator's values
//! at every level before anything is served or written.
//!
//! Per area and period:
//! 1. **primary suppression**: a numerator above 0 and below `min_count` is secret;
//! 2. **rounding**: numerators are rounded to a multiple of `round_to`, and the rate is
//!    scaled with them (a published rate × a published denominator must not give back the
//!    exact count);
//! 3. **minimum denominator**: no rate where the denominator is below `min_denominator`;
//! 4. **secondary suppression**: when exactly one area among the children of a parent
//!    (the buurten of a wijk, the wijken of a gemeente) is secret, its count would follow
//!    from the parent's total minus its siblings; so the sibling with the smallest count
//!    is made secret too. When a parent has a single child and that child is secret, the
//!    parent is secret as well (it would equal the child). Applied from the finest level
//!    up, until nothing changes.
//!
//! A secret cell has no numerator and no value, and says why (`suppressed`). Zero counts
//! stay visible (CBS publishes 0).

use super::eval::LevelValues;
use crate::config::Disclosure;
use crate::model::Level;

pub use super::eval::Suppression;

/// A weighted sum is withheld when one record makes up more than this share of it.
pub const DOMINANCE_SHARE: f64 = 0.8;
/// The noise on a weighted sum: this share of its largest contribution per unit of the
/// count table's deviation.
pub const MAGNITUDE_NOISE: f64 = 0.1;

/// The cell-key method on one indicator of a protected layer, at every level: counts are
/// perturbed through the table with the cell's key; weighted sums need a published count
/// above `js + D` and no record over [`DOMINANCE_SHARE`] of the sum, and get noise in
/// proportion to the larger of their largest and their mean contribution; rates come from the published numerator; a numerator
/// whose denominator is below `min_denominator` is withheld with its rate.
pub fn apply_cell_key(table: &super::ckm::PTable, ind: &super::Indicator, per_level: &mut [LevelValues]) {
    for v in per_level.iter_mut() {
        let Some(cells) = v.protection.take() else { continue };
        for k in 0..v.numerator.len() {
            let Some(n) = v.numerator[k] else { continue };
            let d = v.denominator[k];
            let records = cells.records[k];
            let published = if ind.numerator.weighted() {
                // Shown only where the same records' published count is so large that
                // every true count behind it is above `js` (published − D > js): whether
                // a sum is shown then says nothing about the count that the count does
                // not say, and the dominance rule below can only hide a magnitude, never
                // tell that a count is small. The noise is the count's deviation times the
                // larger of a share of the largest and the mean contribution, so it never
                // rounds away: with every weight 1 the sum publishes what the count does.
                let shown = table.perturb(records, cells.key[k]);
                let safe = u64::from(table.params.js) + u64::from(table.params.max_deviation);
                let dominated = cells.largest[k] > DOMINANCE_SHARE * n.abs();
                if records > 0 && (shown <= safe || dominated) {
                    None
                } else {
                    let dev = shown as f64 - records as f64;
                    let mean = if records > 0 { n.abs() / records as f64 } else { 0.0 };
                    Some((n + (MAGNITUDE_NOISE * cells.largest[k]).max(mean) * dev).round())
                }
            } else {
                Some(table.perturb(n.round().max(0.0) as u64, cells.key[k]) as f64)
            };
            let small_base = ind.disclosure.min_denominator.is_some_and(|m| d.is_some_and(|d| d < m));
            match published {
                Some(x) if !small_base => {
                    v.numerator[k] = Some(x);
                    v.value[k] = match ind.denominator {
                        super::Denominator::None => Some(x * ind.scale),
                        _ => d.filter(|d| *d > 0.0).map(|d| x / d * ind.scale),
                    };
                }
                _ => v.suppress(k, Suppression::Protected),
            }
        }
    }
}

/// Round to a multiple of `step`, halves away from zero (CBS rounding).
pub fn round_to(v: f64, step: f64) -> f64 {
    (v / step).round() * step
}

/// Apply the rules to every level's values (aligned with `levels`).
pub fn apply(rules: &Disclosure, levels: &[Level], per_level: &mut [LevelValues]) {
    if !rules.is_active() {
        return;
    }
    // Raw numerators, for choosing the smallest sibling.
    let raw: Vec<Vec<f64>> = per_level.iter().map(|v| v.numerator.iter().map(|n| n.unwrap_or(0.0)).collect()).collect();
    for v in per_level.iter_mut() {
        for k in 0..v.numerator.len() {
            let Some(n) = v.numerator[k] else { continue };
            if rules.min_count.is_some_and(|m| n > 0.0 && n < m) {
                v.suppress(k, Suppression::SmallCount);
                continue;
            }
            if let Some(step) = rules.round_to {
                let r = round_to(n, step);
                if r != n {
                    v.numerator[k] = Some(r);
                    v.value[k] = if n != 0.0 { v.value[k].map(|x| x * r / n) } else { v.value[k] };
                }
            }
            if let (Some(m), Some(d)) = (rules.min_denominator, v.denominator[k])
                && d < m
            {
                v.value[k] = None;
                v.suppressed[k] = Some(Suppression::SmallDenominator);
            }
        }
    }
    // Secondary suppression, finest level first, repeated until stable.
    loop {
        let mut changed = false;
        for (li, level) in levels.iter().enumerate() {
            let Some(pi) = level.parent else { continue };
            let n_parent = levels[pi].areas.len();
            let n_p = per_level[li].periods.len();
            let mut children: Vec<Vec<usize>> = vec![Vec::new(); n_parent];
            for (a, parent) in level.parent_area.iter().enumerate() {
                if let Some(p) = parent {
                    children[*p as usize].push(a);
                }
            }
            for (parent, kids) in children.iter().enumerate() {
                for p in 0..n_p {
                    let secret = |a: usize| per_level[li].numerator[a * n_p + p].is_none();
                    let hidden: Vec<usize> = kids.iter().copied().filter(|&a| secret(a)).collect();
                    let parent_k = parent * n_p + p;
                    let parent_visible = per_level[pi].numerator.get(parent_k).is_some_and(Option::is_some);
                    if hidden.len() == 1 && parent_visible {
                        if kids.len() == 1 {
                            per_level[pi].suppress(parent_k, Suppression::Secondary);
                        } else {
                            let smallest = kids
                                .iter()
                                .copied()
                                .filter(|&a| !secret(a))
                                .min_by(|&a, &b| raw[li][a * n_p + p].total_cmp(&raw[li][b * n_p + p]).then(a.cmp(&b)));
                            if let Some(s) = smallest {
                                per_level[li].suppress(s * n_p + p, Suppression::Secondary);
                            }
                        }
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbs_rounding() {
        assert_eq!(round_to(12.0, 5.0), 10.0);
        assert_eq!(round_to(12.5, 5.0), 15.0);
        assert_eq!(round_to(2.0, 5.0), 0.0);
    }
}
