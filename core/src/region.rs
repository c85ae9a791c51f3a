//! The project's own region: which areas of a level belong to it. A municipal project
//! often takes its coarser levels from national files (all 3,340 wijken, all gemeenten);
//! `region` / `within` keep the areas of the region, so points near the border are
//! *outside* instead of counted in the neighbours, and the map shows the region only.
//!
//! Two ways to say what the region is:
//! - area codes (`["GM0917"]`): an area belongs when its code nests in one of them. CBS
//!   codes nest by their hierarchy (`WK091710` and `BU09171000` nest in `GM0917`), German
//!   ARS by prefix at the ARS levels (`053340002002` Aachen nests in `05334`, the
//!   StädteRegion Aachen); other codes match by prefix. A region across the border lists
//!   both (`["GM0917", "GM0928", "05334"]`): each code speaks for the areas of its own
//!   code system, and a CBS code never keeps a German area or the reverse;
//! - `"extent"`: an area of a coarser level belongs when it holds the interior point of
//!   at least one area of the finest level (the first `[[levels]]`).
//!
//! A level whose codes no region code can name (a city's own district numbers, `10`–`66`
//! in Aachen) says `within = "all"`: it is not limited. The region is not an extent of
//! the other levels there, on purpose: such levels are published for one city already.

use geo::{BoundingRect, Intersects};
use geo_types::Point;
use serde::Deserialize;

use crate::model::{Area, CodeKind, StatColumns};

/// What a level is limited to (`region` in the project, `within` on a level).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Region {
    /// Area codes the region consists of (CBS and ARS codes nest, other codes match by
    /// prefix).
    Codes(Vec<String>),
    /// `"extent"`: the areas that hold an area of the finest level; `"all"` (a level's
    /// `within` only): the level is not limited.
    Keyword(String),
}

impl Region {
    /// The keyword form, when valid.
    pub fn is_extent(&self) -> bool {
        matches!(self, Region::Keyword(k) if k == "extent")
    }

    /// `within = "all"`: not limited.
    pub fn is_all(&self) -> bool {
        matches!(self, Region::Keyword(k) if k == "all")
    }
}

/// Does `code` lie in the region given by `codes`?
pub fn code_in(code: &str, codes: &[String]) -> bool {
    codes.iter().any(|r| match (CodeKind::of(code), CodeKind::of(r)) {
        (Some(CodeKind::Cbs(_)), Some(CodeKind::Cbs(_))) => code[2..].starts_with(&r[2..]),
        (Some(CodeKind::Ars(_)), Some(CodeKind::Ars(_))) => CodeKind::nests(code, r),
        _ => code.starts_with(r.as_str()),
    })
}

/// Which areas of a level to keep: by code, or those holding one of `finest_points`.
pub fn keep_mask(areas: &[Area], region: &Region, finest_points: &[Point<f64>]) -> Vec<bool> {
    match region {
        Region::Codes(codes) => areas.iter().map(|a| code_in(&a.code, codes)).collect(),
        Region::Keyword(_) => areas
            .iter()
            .map(|a| {
                let Some(r) = a.geometry.bounding_rect() else { return false };
                finest_points.iter().any(|p| r.intersects(p) && a.geometry.intersects(p))
            })
            .collect(),
    }
}

/// The areas left out of the region that lie around it (their envelope meets the region's
/// envelope grown by half its size on every side): drawn on the map as context, so the
/// region does not float in an empty page. Never counted, never given values.
pub fn context_areas(areas: &[Area], keep: &[bool]) -> Vec<Area> {
    let mut b: Option<geo::Rect<f64>> = None;
    for r in areas.iter().zip(keep).filter(|(_, k)| **k).filter_map(|(a, _)| a.geometry.bounding_rect()) {
        b = Some(match b {
            None => r,
            Some(x) => {
                geo::Rect::new((x.min().x.min(r.min().x), x.min().y.min(r.min().y)), (x.max().x.max(r.max().x), x.max().y.max(r.max().y)))
            }
        });
    }
    let Some(b) = b else { return Vec::new() };
    let (dx, dy) = (b.width() / 2.0, b.height() / 2.0);
    let grown = geo::Rect::new((b.min().x - dx, b.min().y - dy), (b.max().x + dx, b.max().y + dy));
    areas
        .iter()
        .zip(keep)
        .filter(|(a, k)| !**k && a.geometry.bounding_rect().is_some_and(|r| r.intersects(&grown)))
        .map(|(a, _)| a.clone())
        .collect()
}

/// Drop the areas not in `keep`, with their attribute rows.
pub fn retain(areas: &mut Vec<Area>, stats: &mut StatColumns, keep: &[bool]) {
    let mut it = keep.iter();
    areas.retain(|_| *it.next().unwrap_or(&true));
    for values in stats.columns.values_mut() {
        let mut it = keep.iter();
        values.retain(|_| *it.next().unwrap_or(&true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbs_codes_nest_and_others_match_by_prefix() {
        let r = vec!["GM0917".to_string()];
        assert!(code_in("GM0917", &r));
        assert!(code_in("WK091710", &r));
        assert!(code_in("BU09171000", &r));
        assert!(!code_in("GM0918", &r));
        assert!(!code_in("WK091810", &r));
        let w = vec!["WK091710".to_string()];
        assert!(code_in("BU09171003", &w));
        assert!(!code_in("GM0917", &w), "the gemeente does not lie inside one of its wijken");
        assert!(code_in("3011AB", &["30".to_string()]));
    }

    #[test]
    fn ars_codes_nest_and_each_system_keeps_its_own_areas() {
        let r = vec!["GM0917".to_string(), "05334".to_string()];
        assert!(code_in("053340002002", &r), "Aachen in the StädteRegion Aachen");
        assert!(code_in("053340024024", &r));
        assert!(!code_in("053700012012", &r), "Kreis Heinsberg is not");
        assert!(code_in("BU09171000", &r));
        assert!(!code_in("GM0928", &r));
        assert!(!code_in("12", &r), "a district number is named by no code");
        assert!(code_in("053340002002", &["053340002002".to_string()]));
        assert!(!code_in("05334", &["053340002002".to_string()]), "the Kreis does not lie in one of its Gemeinden");
    }
}
