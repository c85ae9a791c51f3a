//! `/weights/{level}` (the neighbours, as JSON or GeoDa's GAL, for an analyst to check)
//! and `/indicators/{id}/hotspots` (global Moran's I, local Moran's I or Gi* per area,
//! from the published values only). Both compute on the analysis workers, within the
//! caller's limits, and cache their answers (`analysis`).

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::analysis::{self, Analysis, Body, Failure, Owned};
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

async fn weights_of(
    State(state): State<AppState>,
    Path(level): Path<String>,
    Query(q): Query<WeightsQuery>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let snap = state.current();
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let li = find_level(&snap, Some(&level))?;
    let rule = spec(q.kind.as_deref(), q.tolerance, q.k, q.threshold)?;
    let format = q.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "gal" {
        return Err(ApiError::BadRequest(format!("format={format}: give json or gal")).into());
    }
    let tolerance = q.tolerance.unwrap_or(0.0);
    let key = (analysis::public_version(&snap), format!("weights|{li}|{rule:?}|{tolerance:?}|{format}|{}", Analysis::tier(keyed)));
    let an = state.analysis.clone();
    let answer = analysis::run(&state, key, move || {
        let w = an.weights(&snap, li, rule, keyed)?;
        weights_body(&snap, li, rule, tolerance, &format, &w)
    })
    .await?;
    Ok(answer.into_response())
}

/// The weights of level `li` as JSON (with islands, components and, for point-based
/// weights, the points) or as GeoDa's GAL.
fn weights_body(
    snap: &Snapshot,
    li: usize,
    rule: weights::Spec,
    tolerance: f64,
    format: &str,
    w: &weights::Neighbours,
) -> Result<Body, ApiError> {
    let areas = &snap.levels[li].areas;
    let codes = |l: &[u32]| l.iter().map(|&j| areas[j as usize].code.as_str()).collect::<Vec<_>>();
    if format == "gal" {
        // GeoDa's GAL: a header, then per area its id and count, and its neighbours' ids.
        let mut gal = format!("0 {} {} code\n", areas.len(), snap.levels[li].id);
        for (a, l) in areas.iter().zip(&w.lists) {
            gal.push_str(&format!("{} {}\n{}\n", a.code, l.len(), codes(l).join(" ")));
        }
        return Ok(Body::text(gal));
    }
    let (comp, count) = w.components();
    let islands: Vec<&str> = w.islands().iter().map(|&i| areas[i].code.as_str()).collect();
    let mut sizes = vec![0usize; count];
    comp.iter().for_each(|&c| sizes[c] += 1);
    let body = json!({
        "level": snap.levels[li].id,
        "type": rule.key(),
        "tolerance": tolerance,
        "rule": rule.describe(),
        // The interior points the point-based weights use (working CRS), to check them.
        "points": matches!(rule, weights::Spec::Knn(_) | weights::Spec::Distance(_)).then(|| {
            areas.iter().zip(weights::interior_points(areas)).map(|(a, p)| (a.code.clone(), json!(p))).collect::<serde_json::Map<_, _>>()
        }),
        "areas": areas.len(),
        "islands": islands,
        "components": count,
        "component_sizes": sizes,
    });
    // The neighbours (up to millions of pairs) are written from the lists, not copied
    // into a JSON tree first.
    Body::json(&WeightsResponse { head: body, neighbours: ByCode { areas, lists: &w.lists } })
}

#[derive(serde::Serialize)]
struct WeightsResponse<'a> {
    #[serde(flatten)]
    head: serde_json::Value,
    neighbours: ByCode<'a>,
}

/// Every area's neighbours as `{code: [code, …]}`.
struct ByCode<'a> {
    areas: &'a [crate::model::Area],
    lists: &'a [Vec<u32>],
}

impl serde::Serialize for ByCode<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code = |j: &u32| self.areas[*j as usize].code.as_str();
        s.collect_map(self.areas.iter().zip(self.lists).map(|(a, l)| (a.code.as_str(), l.iter().map(code).collect::<Vec<_>>())))
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
) -> Result<Response, Failure> {
    let snap = state.current();
    let (ind, view) = visible(&state, &snap, &id, &headers, query.as_deref())?;
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let li = find_level(&snap, q.level.as_deref())?;
    let an = state.analysis.clone();
    // The indicator's own settings (`hotspots` in the project file) are the defaults.
    let base = ind.def.hotspots.unwrap_or_default();
    let version = analysis::version(&snap, &ind, &view);
    let values = if matches!(view, super::indicators::View::Exact) { "exact" } else { "published" };
    let tier = Analysis::tier(keyed);
    let emerging_asked = q.method.as_deref() == Some("emerging");
    let permutations = q.permutations.unwrap_or(base.permutations);
    an.check_permutations(keyed, "permutations", permutations, q.permutations.is_none())?;
    if !emerging_asked {
        let global = q.global_permutations.unwrap_or(permutations);
        an.check_permutations(keyed, "global_permutations", global, q.global_permutations.is_none() && q.permutations.is_none())?;
    }
    if emerging_asked {
        let periods = ind.per_level[li].periods.len();
        if periods < 4 {
            return Err(ApiError::BadRequest(format!("method=emerging needs four periods or more; '{}' has {periods}", ind.def.id)).into());
        }
        let params = emerging_params(&q, base)?;
        let key = (version, format!("emerging|{}|{values}|{li}|{params:?}|{tier}", ind.def.id));
        let owned = Owned::new(&snap, ind);
        let answer = analysis::run(&state, key, move || {
            let full = an.weights(&snap, li, params.weights, keyed)?;
            an.check_draws(keyed, params.permutations, periods, &full)?;
            Body::json(&emerging(&snap, owned.get(&snap), li, params, &full))
        })
        .await?;
        return Ok(mark(answer.into_response(), view));
    }
    let params = query_params(&q, base, &ind.def)?;
    let p = query_period(&ind.per_level[li], q.period.as_deref())?;
    let key = (version, format!("hotspots|{}|{values}|{li}|{p}|{params:?}|{tier}", ind.def.id));
    let owned = Owned::new(&snap, ind);
    let answer = analysis::run(&state, key, move || {
        let full = an.weights(&snap, li, params.weights, keyed)?;
        // Local and global permutations each draw about one value per neighbour pair.
        an.check_draws(keyed, params.permutations + params.global_permutations, 1, &full)?;
        hotspots_body(&snap, owned.get(&snap), li, p, params, &full)
    })
    .await?;
    Ok(mark(answer.into_response(), view))
}

/// One period's hot spots on the weights `full`.
fn hotspots_body(
    snap: &Snapshot,
    ind: &crate::snapshot::IndicatorResult,
    li: usize,
    p: usize,
    params: hotspots::Params,
    full: &weights::Neighbours,
) -> Result<Body, ApiError> {
    let v = &ind.per_level[li];
    // Published values only: protected and missing areas are left out of the analysis.
    let value = |a: usize| v.value[v.index(a, p)];
    let (events, bases) = (|a: usize| v.numerator[v.index(a, p)], |a: usize| v.denominator[v.index(a, p)]);
    let input = if params.eb { hotspots::Input::Rates { events: &events, base: &bases } } else { hotspots::Input::Values(&value) };
    let a = hotspots::analyse(input, full, params).ok_or_else(|| {
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
    Body::json(&body)
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

/// The parameters of emerging hot spots: Gi* with the request's (else the indicator's)
/// permutations, seed, alpha, fdr and weights; no global test.
fn emerging_params(q: &HotspotQuery, base: hotspots::Params) -> Result<hotspots::Params, ApiError> {
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
    Ok(params)
}

/// Emerging hot spots: Gi* in every period on the same weights `full`, each period's
/// significant hot (+1) and cold (−1) spots, the Mann-Kendall trend of every area's
/// z-scores, and the category (`hotspots::emerging_category`).
fn emerging(
    snap: &Snapshot,
    ind: &crate::snapshot::IndicatorResult,
    li: usize,
    params: hotspots::Params,
    full: &weights::Neighbours,
) -> serde_json::Value {
    let v = &ind.per_level[li];
    let rule = params.weights;
    let n_areas = snap.levels[li].areas.len();
    let mut signs = vec![vec![0i8; v.periods.len()]; n_areas];
    let mut zs = vec![vec![None; v.periods.len()]; n_areas];
    for p in 0..v.periods.len() {
        let value = |a: usize| v.value[v.index(a, p)];
        let Some(an) = hotspots::analyse(hotspots::Input::Values(&value), full, params) else { continue };
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
    json!({
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
    })
}
