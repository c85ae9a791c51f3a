//! The hierarchy stage: each level's parent level (from the project, else from the CBS
//! code kinds; grid levels nest by cell size), each area's parent area (by CBS or ARS
//! code or cell arithmetic, else by polygon), and the assignment of
//! every point to an area at every level.

use geo::InteriorPoint;

use super::Log;
use crate::config::Project;
use crate::index::AreaIndex;
use crate::model::{ArsKind, CbsKind, CodeKind, Level, ars_ancestor_code, cbs_ancestor_code};

/// A hierarchy that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HierarchyError {
    /// The project's parents together with those found from the CBS codes form a cycle.
    #[error("project file {}: with the parents found from the CBS codes, the levels' parents form a cycle: {} (give each level's parent = \"...\")", project.display(), crate::model::cycle_text(&levels.iter().map(String::as_str).collect::<Vec<_>>()))]
    Cycle { project: std::path::PathBuf, levels: Vec<String> },
}

/// Link every level to its parent level and every area to its parent area. Returns the
/// levels in child-first order (for the join).
pub(super) fn link(project: &Project, levels: &mut [Level], indexes: &[AreaIndex], log: &mut Log) -> Result<Vec<usize>, HierarchyError> {
    for li in 0..levels.len() {
        if levels[li].parent.is_none()
            && let Some(kind) = levels[li].cbs_kind
        {
            let up: &[CbsKind] = match kind {
                CbsKind::Buurt => &[CbsKind::Wijk, CbsKind::Gemeente],
                CbsKind::Wijk => &[CbsKind::Gemeente],
                CbsKind::Gemeente => &[],
            };
            levels[li].parent = up.iter().find_map(|k| levels.iter().position(|l| l.cbs_kind == Some(*k) && l.groups.is_none()));
        }
    }
    // Grid levels nest: a grid level's parent is the next larger grid whose size is a
    // multiple of its own (100 m in 1 km in 10 km).
    for li in 0..levels.len() {
        if levels[li].parent.is_none()
            && let Some(size) = levels[li].grid
        {
            levels[li].parent =
                (0..levels.len()).filter(|&p| levels[p].grid.is_some_and(|s| s > size && s % size == 0)).min_by_key(|&p| levels[p].grid);
        }
    }
    let order = child_first_order(levels).ok_or_else(|| HierarchyError::Cycle {
        project: project.file.clone(),
        levels: crate::model::parent_cycle(&levels.iter().map(|l| l.parent).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|i| levels[i].id.clone())
            .collect(),
    })?;
    for li in 0..levels.len() {
        levels[li].parent_area = match levels[li].parent {
            Some(pi) => parent_areas(levels, li, pi, &indexes[pi], log),
            None => vec![None; levels[li].areas.len()],
        };
    }
    Ok(order)
}

/// The code kinds of a level whose every code is a CBS code or an ARS: the one CBS kind
/// of its CBS codes and the one ARS kind of its ARS codes (NL gemeenten and German
/// Gemeinden in one level: `Gemeente` and `Gemeinde`); `None` when a code is of neither
/// system (then a number that looks like an ARS is not taken for one).
fn code_kinds(level: &Level) -> Option<(Option<CbsKind>, Option<ArsKind>)> {
    let (mut cbs, mut ars) = (Vec::new(), Vec::new());
    for a in &level.areas {
        match CodeKind::of(&a.code)? {
            CodeKind::Cbs(k) => cbs.push(k),
            CodeKind::Ars(k) => ars.push(k),
        }
    }
    Some((only(&cbs), only(&ars)))
}

/// The one value all of `v` share, if any.
fn only<T: Copy + PartialEq>(v: &[T]) -> Option<T> {
    v.first().copied().filter(|k| v.iter().all(|x| x == k))
}

/// The parent area of every area of level `li` in level `pi`: by code where both are of
/// one code system and nest (CBS, ARS), else the parent polygon holding the area's
/// interior point; orphans are named in a warning.
fn parent_areas(levels: &[Level], li: usize, pi: usize, parent_index: &AreaIndex, log: &mut Log) -> Vec<Option<u32>> {
    let parent = &levels[pi];
    let (parent_cbs, parent_ars) = code_kinds(parent).unwrap_or((None, None));
    let (mut by_code, mut by_polygon, mut orphans) = (0usize, 0usize, Vec::new());
    let parent_area: Vec<Option<u32>> = levels[li]
        .areas
        .iter()
        .map(|a| {
            if let (Some(size), Some(_)) = (parent.grid, levels[li].grid) {
                // Grid cells nest by arithmetic; a cell outside the parent grid's extent
                // has no parent.
                let p = crate::grid::Cell::parse(&a.code).and_then(|c| c.parent(size)).and_then(|c| parent.by_code.get(&c.code()));
                match p {
                    Some(_) => by_code += 1,
                    None => orphans.push(a.code.clone()),
                }
                return p.map(|&p| p as u32);
            }
            let up = match CodeKind::of(&a.code) {
                Some(CodeKind::Cbs(_)) => parent_cbs.and_then(|k| cbs_ancestor_code(&a.code, k)),
                Some(CodeKind::Ars(_)) => parent_ars.and_then(|k| ars_ancestor_code(&a.code, k)),
                None => None,
            };
            if let Some(&p) = up.and_then(|c| parent.by_code.get(&c)) {
                by_code += 1;
                return Some(p as u32);
            }
            let found = a.geometry.interior_point().and_then(|pt| parent_index.locate(pt.x(), pt.y()));
            match found {
                Some(_) => by_polygon += 1,
                None => orphans.push(a.code.clone()),
            }
            found
        })
        .collect();
    if !orphans.is_empty() {
        let shown: Vec<&str> = orphans.iter().take(20).map(String::as_str).collect();
        log.warnings.push(format!(
            "level '{}': {} areas lie in no area of '{}': {}",
            levels[li].id,
            orphans.len(),
            parent.id,
            shown.join(", ")
        ));
    }
    tracing::debug!(level = %levels[li].id, by_code, by_polygon, "parents");
    parent_area
}

/// Level indices ordered so that every level comes after all levels whose parent it is.
fn child_first_order(levels: &[Level]) -> Option<Vec<usize>> {
    let mut done = vec![false; levels.len()];
    let mut order = Vec::new();
    while order.len() < levels.len() {
        let next =
            (0..levels.len()).find(|&i| !done[i] && levels.iter().enumerate().all(|(c, l)| done[c] || c == i || l.parent != Some(i)))?;
        done[next] = true;
        order.push(next);
    }
    Some(order)
}
