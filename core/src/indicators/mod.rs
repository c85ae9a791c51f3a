//! Indicators: definitions (from the project file) and their evaluation at every level.
//!
//! An indicator is `numerator / denominator × scale` per area and period:
//! - numerator: a count or weighted sum of a point layer, optionally filtered by category
//!   and by date (`from`/`to`), split per year, quarter or month of the point date;
//! - denominator: a statistic of the area (`aantal_inwoners`, `woningvoorraad`, any
//!   column), its land area in km², or none.
//!
//! Rates at every level come from that level's own summed numerator and denominator,
//! never from averaging the rates of smaller areas. A missing or zero denominator gives a
//! missing value, never 0 or infinity. No I/O here: plain data in, plain data out.

pub mod ckm;
pub mod eval;
pub mod hotspots;
pub mod profile;
pub mod sdc;
pub mod stats;
pub mod trend;

use crate::config::IndicatorConfig;
pub use crate::config::{Denominator, Numerator, PeriodKind};
use crate::model::Date;

pub use eval::{LevelValues, evaluate, evaluate_statistic};

/// An indicator definition, validated.
#[derive(Debug, Clone)]
pub struct Indicator {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    /// What is counted: a point layer's points or a statistic.
    pub numerator: Numerator,
    pub denominator: Denominator,
    pub scale: f64,
    pub unit: Option<String>,
    pub period: PeriodKind,
    pub from: Option<Date>,
    pub to: Option<Date>,
    /// Disclosure control (its own rules, else its point layer's).
    pub disclosure: crate::config::Disclosure,
    /// Hot spots computed at build (`hotspots = { … }`).
    pub hotspots: Option<hotspots::Params>,
}

impl Indicator {
    /// From the project file (already validated by `config`).
    pub fn from_config(c: &IndicatorConfig, layer: Option<&crate::config::PointsConfig>) -> Indicator {
        Indicator {
            id: c.id.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            numerator: c.numerator.clone(),
            denominator: c.denominator.clone(),
            scale: c.scale,
            unit: c.unit.clone(),
            period: c.period,
            from: c.from,
            to: c.to,
            disclosure: c.disclosure(layer),
            hotspots: c.hotspots,
        }
    }

    /// A one-line definition for people, in Dutch like the rest of the interface:
    /// "aantal leegstand (wonen) / woningvoorraad × 100".
    pub fn definition(&self) -> String {
        let mut num = match &self.numerator {
            Numerator::Statistic(s) => human_name(s),
            Numerator::Points { layer, weighted: true, .. } => format!("som van de gewichten van {layer}"),
            Numerator::Points { layer, .. } => format!("aantal {layer}"),
        };
        if let Some(c) = self.numerator.categories() {
            num.push_str(&format!(" ({})", c.join(", ")));
        }
        let den = match &self.denominator {
            Denominator::None => String::new(),
            Denominator::LandKm2 => " / landoppervlakte (km²)".into(),
            Denominator::Statistic(s) => format!(" / {}", human_name(s)),
        };
        let scale = if self.scale == 1.0 { String::new() } else { format!(" × {}", dutch_number(self.scale)) };
        format!("{num}{den}{scale}")
    }
}

/// The smallest denominator a rate is shown for when the project sets no
/// `min_denominator`: a rate on a handful of people or dwellings is noise that dominates
/// the map (5 inhabitants → 1,400 per 1,000; 6 vacant units on 2 dwellings → 300 %).
/// Like CBS, which publishes no relative figures for its smallest buurten: 50 for rates
/// per inhabitant (one event moves the rate by at most 20 per 1,000), 20 for shares of
/// the dwellings or households (one dwelling moves it by at most 5 points). `None` for
/// counts and densities.
pub fn default_min_denominator(d: &Denominator) -> Option<(f64, &'static str)> {
    let Denominator::Statistic(name) = d else { return None };
    let n = name.to_lowercase();
    if ["inwoner", "bevolking", "personen", "aant_inw", "inw"].iter().any(|k| n.contains(k)) {
        Some((50.0, "inwoners"))
    } else if ["woning", "huishoud"].iter().any(|k| n.contains(k)) {
        Some((20.0, "woningen of huishoudens"))
    } else {
        None
    }
}

/// Withhold the rates of areas whose denominator is below `min`; the count stays (it is
/// not secret, only too small a base for a rate). Returns how many areas, per level.
pub fn withhold_small_denominators(per_level: &mut [LevelValues], min: f64) -> Vec<usize> {
    per_level
        .iter_mut()
        .map(|v| {
            let n_p = v.periods.len().max(1);
            let mut areas = 0;
            for a in 0..v.denominator.len() / n_p {
                let mut any = false;
                for k in a * n_p..(a + 1) * n_p {
                    if v.denominator[k].is_some_and(|d| d < min) {
                        any = true;
                        if v.value[k].is_some() {
                            v.value[k] = None;
                            v.suppressed[k] = Some(sdc::Suppression::SmallDenominator);
                        }
                    }
                }
                if any {
                    areas += 1;
                }
            }
            areas
        })
        .collect()
}

/// A statistic's column name as words: `aantal_inwoners` → "aantal inwoners",
/// `InwonersVanaf15Jaar_13` → "inwoners vanaf 15 jaar" (the OData suffix dropped).
pub fn human_name(column: &str) -> String {
    let base = match column.rsplit_once('_') {
        Some((head, tail)) if !head.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) => head,
        _ => column,
    };
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in base.chars() {
        let boundary = match prev {
            Some(p) => (c.is_uppercase() && (p.is_lowercase() || p.is_ascii_digit())) || (c.is_ascii_digit() && p.is_alphabetic()),
            None => false,
        };
        if c == '_' {
            out.push(' ');
        } else {
            if boundary {
                out.push(' ');
            }
            out.extend(c.to_lowercase());
        }
        prev = Some(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1000 → "1.000", 0.5 → "0,5": numbers as a Dutch reader writes them.
pub fn dutch_number(x: f64) -> String {
    let s = if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x}") };
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped},{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_keys_are_consecutive_and_labelled() {
        let d = |y, m| Date::new(y, m, 1).unwrap();
        assert_eq!(PeriodKind::Month.key(d(2024, 1)) - PeriodKind::Month.key(d(2023, 12)), 1);
        assert_eq!(PeriodKind::Quarter.key(d(2024, 1)) - PeriodKind::Quarter.key(d(2023, 12)), 1);
        assert_eq!(PeriodKind::Quarter.label(PeriodKind::Quarter.key(d(2023, 11))), "2023-Q4");
        assert_eq!(PeriodKind::Month.label(PeriodKind::Month.key(d(2023, 3))), "2023-03");
        assert_eq!(PeriodKind::Year.label(2023), "2023");
    }

    #[test]
    fn definitions_read_as_dutch() {
        assert_eq!(human_name("aantal_inwoners"), "aantal inwoners");
        assert_eq!(human_name("InwonersVanaf15Jaar_13"), "inwoners vanaf 15 jaar");
        assert_eq!(human_name("Bijstandsuitkering_6"), "bijstandsuitkering");
        assert_eq!(dutch_number(1000.0), "1.000");
        assert_eq!(dutch_number(100.0), "100");
        assert_eq!(dutch_number(0.5), "0,5");
        assert_eq!(dutch_number(1234567.0), "1.234.567");
    }
}
