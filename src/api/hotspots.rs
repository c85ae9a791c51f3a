//! `/weights/{level}` (the neighbours, as JSON or GeoDa's GAL, for an analyst to check)
//! and `/indicators/{id}/hotspots` (global Moran's I, local Moran's I or Gi* per area,
//! from the published values only).

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::indicators::{find_level, mark, visible};
use super::{ApiError, AppState};
use crate::indicators::hotspots;
use crate::snapshot::Snapshot;
use crate::weights;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/weights/{level}", get(weights_of)).route("/indicators/{id}/hotspots", get(hotspots_of))
}

#[derive(Debug, Deserialize)]
struct WeightsQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    k: Option<usize>,
    threshold: Option<f64>,
    tolerance: Option<f64>,
    format: Option<String>,
}

/// The weights a request asks for.
fn spec(kind: Option<&str>, tolerance: Option<f64>, k: Option<usize>, threshold: Option<f64>) -> Result<weights::Spec, ApiError> {
    weights::Spec::parse(kind.unwrap_or("queen"), tolerance, k, threshold).map_err(ApiError::BadRequest)
}

async fn weights_of(State(state): State<AppState>, Path(level): Path<String>, Query(q): Query<WeightsQuery>) -> Result<Response, ApiError> {
    let snap = state.current();
    let li = find_level(&snap, Some(&level))?;
    let rule = spec(q.kind.as_deref(), q.tolerance, q.k, q.threshold)?;
    let w = snap.weights(li, rule);
    let areas = &snap.levels[li].areas;
    let codes = |l: &[u32]| l.iter().map(|&j| areas[j as usize].code.clone()).collect::<Vec<_>>();
    match q.format.as_deref().unwrap_or("json") {
        // GeoDa's GAL: a header, then per area its id and count, and its neighbours' ids.
        "gal" => {
            let mut gal = format!("0 {} {} code\n", areas.len(), snap.levels[li].id);
            for (a, l) in areas.iter().zip(&w.lists) {
                gal.push_str(&format!("{} {}\n{}\n", a.code, l.len(), codes(l).join(" ")));
            }
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], gal).into_response())
        }
        "json" => {
            let (comp, count) = w.components();
            let islands: Vec<&str> = w.islands().iter().map(|&i| areas[i].code.as_str()).collect();
            let sizes = (0..count).map(|c| comp.iter().filter(|x| **x == c).count()).collect::<Vec<_>>();
            Ok(Json(json!({
                "level": snap.levels[li].id,
                "type": rule.key(),
                "tolerance": q.tolerance.unwrap_or(0.0),
                "rule": rule.describe(),
                // The interior points the point-based weights use (working CRS), to check them.
                "points": matches!(rule, weights::Spec::Knn(_) | weights::Spec::Distance(_)).then(|| {
                    areas.iter().zip(weights::interior_points(areas)).map(|(a, p)| (a.code.clone(), json!(p))).collect::<serde_json::Map<_, _>>()
                }),
                "areas": areas.len(),
                "islands": islands,
                "components": count,
                "component_sizes": sizes,
                "neighbours": areas.iter().zip(&w.lists).map(|(a, l)| (a.code.clone(), json!(codes(l)))).collect::<serde_json::Map<_, _>>(),
            }))
            .into_response())
        }
        other => Err(ApiError::BadRequest(format!("format={other}: give json or gal"))),
    }
}

#[derive(Debug, Deserialize)]
struct HotspotQuery {
    level: Option<String>,
    period: Option<String>,
    method: Option<String>,
    weights: Option<String>,
    tolerance: Option<f64>,
    k: Option<usize>,
    threshold: Option<f64>,
    permutations: Option<usize>,
    /// Permutations for global Moran's I (default: `permutations`; 0 for the analytic test only).
    global_permutations: Option<usize>,
    seed: Option<u64>,
    alpha: Option<f64>,
    fdr: Option<bool>,
    /// Empirical-Bayes standardised rates (Assunção–Reis) instead of the rates.
    eb: Option<bool>,
}

#[derive(serde::Serialize)]
struct HotspotResponse<'a> {
    indicator: serde_json::Value,
    level: &'a str,
    period: &'a str,
    method: serde_json::Value,
    global_moran: serde_json::Value,
    areas: Vec<Row<'a>>,
}

/// One area of a hot-spot response (absent fields are left out; an area without a
/// published value has only its code and name, and `value: null`).
#[derive(Debug, Default, serde::Serialize)]
struct Row<'a> {
    code: &'a str,
    name: Option<&'a str>,
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_i: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quadrant: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    z: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_norm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p_sim: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    significant: Option<bool>,
    cluster: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_nl: Option<&'static str>,
}

async fn hotspots_of(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HotspotQuery>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let (ind, view) = visible(&state, &snap, &id, &headers, query.as_deref())?;
    let li = find_level(&snap, q.level.as_deref())?;
    // The indicator's own settings (`hotspots` in the project file) are the defaults.
    let base = ind.def.hotspots.unwrap_or_default();
    if q.method.as_deref() == Some("emerging") {
        let body = emerging(&snap, &ind, li, &q, base)?;
        return Ok(mark(Json(body).into_response(), view));
    }
    let params = query_params(&q, base, &ind.def)?;
    let v = &ind.per_level[li];
    let p = query_period(v, q.period.as_deref())?;
    let rule = params.weights;
    let full = snap.weights(li, rule);
    // Published values only: protected and missing areas are left out of the analysis.
    let value = |a: usize| v.value[v.index(a, p)];
    let (events, bases) = (|a: usize| v.numerator[v.index(a, p)], |a: usize| v.denominator[v.index(a, p)]);
    let input = if params.eb { hotspots::Input::Rates { events: &events, base: &bases } } else { hotspots::Input::Values(&value) };
    let a = hotspots::analyse(input, &full, params).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "fewer than three areas of '{}' have a published value, or the values do not vary (all the same, e.g. all 0): nothing to test for clusters",
            snap.levels[li].id
        ))
    })?;
    let areas = &snap.levels[li].areas;
    let rows: Vec<Row> = areas.iter().zip(&a.areas).map(|(area, r)| row(area, r.as_ref())).collect();
    let islands: Vec<&str> = a.islands.iter().map(|&i| areas[i].code.as_str()).collect();
    // A struct, not a `Value`: 14,500 rows serialise without a map per row.
    let body = HotspotResponse {
        indicator: json!({"id": ind.def.id, "title": ind.def.title, "unit": ind.def.unit}),
        level: &snap.levels[li].id,
        period: &v.periods[p],
        method: method_json(&params, &a, &islands),
        global_moran: json!({"I": a.global.i, "expected": a.global.expected, "z_norm": a.global.z_norm, "p_norm": a.global.p_norm, "p_sim": a.global.p_sim}),
        areas: rows,
    };
    Ok(mark(Json(body).into_response(), view))
}

/// The parameters of a hot-spot request; what it does not give, the indicator's own.
fn query_params(q: &HotspotQuery, base: hotspots::Params, def: &crate::indicators::Indicator) -> Result<hotspots::Params, ApiError> {
    let method = match q.method.as_deref() {
        None => base.method,
        Some(m) => hotspots::Method::parse(m)
            .ok_or_else(|| ApiError::BadRequest(format!("method={m}: give local_moran, gi, gi_star or emerging")))?,
    };
    let permutations = q.permutations.unwrap_or(base.permutations);
    let eb = q.eb.unwrap_or(base.eb);
    if eb && def.denominator == crate::indicators::Denominator::None {
        return Err(ApiError::BadRequest("eb=true: empirical-Bayes rates need a rate (an indicator with a denominator)".into()));
    }
    let params = hotspots::Params {
        method,
        permutations,
        global_permutations: q.global_permutations.unwrap_or(permutations),
        seed: q.seed.unwrap_or(base.seed),
        alpha: q.alpha.unwrap_or(base.alpha),
        fdr: q.fdr.unwrap_or(base.fdr),
        eb,
        weights: query_weights(q, base)?,
    };
    params.check().map_err(ApiError::BadRequest)?;
    Ok(params)
}

/// The period asked for, else the latest.
fn query_period(v: &crate::indicators::LevelValues, period: Option<&str>) -> Result<usize, ApiError> {
    match period {
        None => v.periods.len().checked_sub(1),
        Some(x) => Some(
            v.period_index(x).ok_or_else(|| ApiError::BadRequest(format!("no period '{x}'; the periods are: {}", v.periods.join(", "))))?,
        ),
    }
    .ok_or_else(|| ApiError::BadRequest("the indicator has no periods".into()))
}

fn row<'a>(area: &'a crate::model::Area, r: Option<&hotspots::AreaResult>) -> Row<'a> {
    match r {
        None => Row { code: &area.code, name: area.name.as_deref(), ..Row::default() },
        Some(r) => Row {
            code: &area.code,
            name: area.name.as_deref(),
            value: Some(r.value),
            local_i: r.local_i,
            quadrant: r.quadrant,
            g: r.g,
            z: r.z,
            p_norm: r.p_norm,
            p_sim: r.p_sim,
            significant: Some(r.significant),
            cluster: Some(r.cluster),
            cluster_nl: Some(hotspots::cluster_nl(r.cluster)),
        },
    }
}

/// How the result was made: the statistic, the weights, the test.
fn method_json(params: &hotspots::Params, a: &hotspots::Analysis, islands: &[&str]) -> serde_json::Value {
    let rule = params.weights;
    json!({
        "statistic": params.method.key(),
        "weights": {"type": rule.key(), "rule": rule.describe(), "row_standardised": true, "areas": a.n, "islands": islands, "components": a.components},
        "permutations": params.permutations,
        "global_permutations": params.global_permutations,
        "seed": params.seed,
        "alpha": params.alpha,
        "multiple_testing": if params.fdr { "Benjamini-Hochberg false discovery rate (esda.fdr)" } else { "none: each area tested at alpha" },
        "cutoff": a.cutoff,
        "empirical_bayes": params.eb,
        "values": if params.eb { "empirical-Bayes standardised rates of the published numerators and denominators (esda assuncao_rate)" } else { "the published values" },
        "significance": "p_sim (conditional permutation) below cutoff",
        "note": "Computed from the published values only: protected and missing values are left out (their areas have no value and no cluster), so a hot-spot result cannot reveal what disclosure control hides. Definitions as PySAL esda (Moran, Moran_Local, G_Local with star=True, transform R).",
    })
}

/// The weights a hot-spot request asks for, else the indicator's own.
fn query_weights(q: &HotspotQuery, base: hotspots::Params) -> Result<weights::Spec, ApiError> {
    match q.weights.as_deref() {
        Some(kind) => spec(Some(kind), q.tolerance, q.k, q.threshold),
        None => Ok(base.weights),
    }
}

/// Emerging hot spots: Gi* in every period on the same weights, each period's
/// significant hot (+1) and cold (−1) spots, the Mann-Kendall trend of every area's
/// z-scores, and the category (`hotspots::emerging_category`).
fn emerging(
    snap: &Snapshot,
    ind: &crate::snapshot::IndicatorResult,
    li: usize,
    q: &HotspotQuery,
    base: hotspots::Params,
) -> Result<serde_json::Value, ApiError> {
    let v = &ind.per_level[li];
    if v.periods.len() < 4 {
        return Err(ApiError::BadRequest(format!("method=emerging needs four periods or more; '{}' has {}", ind.def.id, v.periods.len())));
    }
    let params = hotspots::Params {
        method: hotspots::Method::GiStar,
        permutations: q.permutations.unwrap_or(base.permutations),
        global_permutations: 0,
        seed: q.seed.unwrap_or(base.seed),
        alpha: q.alpha.unwrap_or(base.alpha),
        fdr: q.fdr.unwrap_or(base.fdr),
        eb: false,
        weights: query_weights(q, base)?,
    };
    params.check().map_err(ApiError::BadRequest)?;
    let rule = params.weights;
    let full = snap.weights(li, rule);
    let n_areas = snap.levels[li].areas.len();
    let mut signs = vec![vec![0i8; v.periods.len()]; n_areas];
    let mut zs = vec![vec![None; v.periods.len()]; n_areas];
    for p in 0..v.periods.len() {
        let value = |a: usize| v.value[v.index(a, p)];
        let Some(an) = hotspots::analyse(hotspots::Input::Values(&value), &full, params) else { continue };
        for (a, r) in an.areas.iter().enumerate() {
            if let Some(r) = r {
                zs[a][p] = r.z;
                signs[a][p] = match (r.significant, r.z) {
                    (true, Some(z)) if z > 0.0 => 1,
                    (true, Some(_)) => -1,
                    _ => 0,
                };
            }
        }
    }
    let rows: Vec<serde_json::Value> = snap.levels[li]
        .areas
        .iter()
        .enumerate()
        .map(|(a, area)| {
            let cat = hotspots::emerging_category(&signs[a], &zs[a]);
            json!({"code": area.code, "name": area.name, "category": cat, "category_nl": hotspots::emerging_nl(cat), "spots": signs[a], "z": zs[a]})
        })
        .collect();
    Ok(json!({
        "indicator": {"id": ind.def.id, "title": ind.def.title, "unit": ind.def.unit},
        "level": snap.levels[li].id,
        "periods": v.periods,
        "method": {
            "statistic": "emerging",
            "per_period": "Getis-Ord Gi* (esda G_Local, star) on each period's published values; a period is a hot (+1) or cold (−1) spot where p_sim is below alpha",
            "trend": "Mann-Kendall on each area's Gi* z-scores over the periods (two-sided, 0.05)",
            "categories": "new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, historical (and the same for cold spots), as ArcGIS Pro's Emerging Hot Spot Analysis defines them; 'most periods' = at least 90 %",
            "weights": {"type": rule.key(), "rule": rule.describe()},
            "permutations": params.permutations,
            "seed": params.seed,
            "alpha": params.alpha,
            "note": "Computed from the published values only: protected and missing values are left out of each period's analysis.",
        },
        "areas": rows,
    }))
}
