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
use utoipa::IntoParams;

use super::analysis::{self, Analysis, Body, Failure, Owned};
use super::indicators::{ApiKeyQuery, find_level, mark, visible};
use super::views::{
    ByCode, EmergingArea, EmergingMethod, EmergingResponse, GlobalMoran, HotspotArea, HotspotMethod, HotspotResponse, HotspotsJson,
    IndicatorRef, Problem, WeightsResponse, WeightsRule, WeightsUsed,
};
use super::{ApiError, AppState};
use crate::indicators::hotspots;
use crate::snapshot::Snapshot;
use crate::weights;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/weights/{level}", get(weights_of)).route("/indicators/{id}/hotspots", get(hotspots_of))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WeightsQuery {
    /// `queen` (default), `rook`, `knn` (with `k`) or `distance` (with `threshold`).
    #[serde(rename = "type")]
    #[param(rename = "type", pattern = "^(queen|rook|knn|distance)$")]
    kind: Option<String>,
    /// Nearest neighbours for `knn` (1 to 50; default 5).
    #[param(minimum = 1, maximum = 50)]
    k: Option<usize>,
    /// The distance band for `distance`, in metres (above 0).
    threshold: Option<f64>,
    /// Snapping tolerance of contiguity, in metres (0 to 1000; default 0).
    #[param(minimum = 0, maximum = 1000)]
    tolerance: Option<f64>,
    /// `json` (default) or `gal` (GeoDa's GAL).
    #[param(pattern = "^(json|gal)$")]
    format: Option<String>,
}

/// The weights a request asks for.
fn spec(kind: Option<&str>, tolerance: Option<f64>, k: Option<usize>, threshold: Option<f64>) -> Result<weights::Spec, ApiError> {
    weights::Spec::parse(kind.unwrap_or("queen"), tolerance, k, threshold).map_err(ApiError::BadRequest)
}

/// The spatial weights of a level: every area's neighbours, with islands and components.
#[utoipa::path(
    get,
    path = "/weights/{level}",
    tag = "hot spots",
    params(("level" = String, Path, description = "`buurt`, `wijk`, `gemeente` or a level id", example = "buurten"), WeightsQuery, ApiKeyQuery),
    security((), ("bearer" = []), ("api_key_header" = [])),
    responses(
        (status = 200, description = "the weights, as JSON or as GeoDa's GAL", content(
            (WeightsResponse = "application/json"),
            (String = "text/plain"),
        )),
        (status = 400, description = "an unknown level or weights type, parameters out of range, or more neighbour pairs than the caller's limit", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "an API key was given and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "every analysis worker is busy: try again after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn weights_of(
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
    // The neighbours (up to millions of pairs) are written from the lists, not copied
    // into a JSON tree first.
    Body::json(&WeightsResponse {
        level: &snap.levels[li].id,
        kind: rule.key(),
        tolerance,
        rule: rule.describe(),
        // The interior points the point-based weights use (working CRS), to check them.
        points: matches!(rule, weights::Spec::Knn(_) | weights::Spec::Distance(_))
            .then(|| areas.iter().zip(weights::interior_points(areas)).map(|(a, p)| (a.code.as_str(), p)).collect()),
        areas: areas.len(),
        islands,
        components: count,
        component_sizes: sizes,
        neighbours: ByCode { areas, lists: &w.lists },
    })
}

/// A hot-spot request; what it does not give, the indicator's own settings (`hotspots`
/// in `/indicators`) or the defaults give.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HotspotQuery {
    /// `buurt`, `wijk`, `gemeente` or a level id (default: the first level).
    #[param(example = "buurten")]
    level: Option<String>,
    /// A period of the indicator (default: the latest); not for `emerging`.
    period: Option<String>,
    /// `local_moran` (default), `gi`, `gi_star`, or `emerging` (Gi* in every period, four
    /// periods or more).
    #[param(pattern = "^(local_moran|gi|gi_star|emerging)$")]
    method: Option<String>,
    /// `queen` (default), `rook`, `knn` (with `k`) or `distance` (with `threshold`).
    #[param(pattern = "^(queen|rook|knn|distance)$")]
    weights: Option<String>,
    /// Snapping tolerance of contiguity, in metres.
    tolerance: Option<f64>,
    /// Nearest neighbours for `knn`.
    k: Option<usize>,
    /// The distance band for `distance`, in metres.
    threshold: Option<f64>,
    /// Permutations of the local test (default 999; at most 999 without an API key).
    permutations: Option<usize>,
    /// Permutations for global Moran's I (default: `permutations`; 0 for the analytic test only).
    global_permutations: Option<usize>,
    /// The seed of the permutations.
    seed: Option<u64>,
    /// The significance level (default 0.05).
    alpha: Option<f64>,
    /// Benjamini-Hochberg false discovery rate.
    fdr: Option<bool>,
    /// Empirical-Bayes standardised rates (Assunção–Reis) instead of the rates.
    eb: Option<bool>,
}

/// Global and local Moran's I or Gi* per area in one period, or emerging hot spots over
/// every period, from the published values only.
#[utoipa::path(
    get,
    path = "/indicators/{id}/hotspots",
    tag = "hot spots",
    params(("id" = String, Path, description = "an indicator id (see /indicators)"), HotspotQuery, ApiKeyQuery),
    security((), ("bearer" = []), ("api_key_header" = [])),
    responses(
        (status = 200, description = "hot spots (or emerging hot spots) per area", body = HotspotsJson),
        (status = 400, description = "an unknown level, period, method or weights; parameters out of range or over the caller's limits; too few published values", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "an API key was given and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such indicator (or not for this caller)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "every analysis worker is busy: try again after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn hotspots_of(
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
            Body::json(&HotspotsJson::Emerging(emerging(&snap, owned.get(&snap), li, params, &full)))
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
    let rows = areas.iter().zip(&a.areas).map(|(area, r)| row(area, r.as_ref())).collect();
    let islands = a.islands.iter().map(|&i| areas[i].code.as_str()).collect();
    let g = &a.global;
    Body::json(&HotspotsJson::Hotspots(HotspotResponse {
        indicator: indicator_ref(ind),
        level: &snap.levels[li].id,
        period: &v.periods[p],
        method: method(&params, &a, islands),
        global_moran: GlobalMoran { i: g.i, expected: g.expected, z_norm: g.z_norm, p_norm: g.p_norm, p_sim: g.p_sim },
        areas: rows,
    }))
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

/// An indicator by its id, title and unit.
fn indicator_ref(ind: &crate::snapshot::IndicatorResult) -> IndicatorRef<'_> {
    IndicatorRef { id: &ind.def.id, title: &ind.def.title, unit: ind.def.unit.as_deref() }
}

fn row<'a>(area: &'a crate::model::Area, r: Option<&hotspots::AreaResult>) -> HotspotArea<'a> {
    match r {
        None => HotspotArea { code: &area.code, name: area.name.as_deref(), ..HotspotArea::default() },
        Some(r) => HotspotArea {
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
fn method<'a>(params: &hotspots::Params, a: &hotspots::Analysis, islands: Vec<&'a str>) -> HotspotMethod<'a> {
    let rule = params.weights;
    HotspotMethod {
        statistic: params.method.key(),
        weights: WeightsUsed {
            kind: rule.key(),
            rule: rule.describe(),
            row_standardised: true,
            areas: a.n,
            islands,
            components: a.components,
        },
        permutations: params.permutations,
        global_permutations: params.global_permutations,
        seed: params.seed,
        alpha: params.alpha,
        multiple_testing: if params.fdr { "Benjamini-Hochberg false discovery rate (esda.fdr)" } else { "none: each area tested at alpha" },
        cutoff: a.cutoff,
        empirical_bayes: params.eb,
        values: if params.eb {
            "empirical-Bayes standardised rates of the published numerators and denominators (esda assuncao_rate)"
        } else {
            "the published values"
        },
        significance: "p_sim (conditional permutation) below cutoff",
        note: "Computed from the published values only: protected and missing values are left out (their areas have no value and no cluster), so a hot-spot result cannot reveal what disclosure control hides. Definitions as PySAL esda (Moran, Moran_Local, G_Local with star=True, transform R).",
    }
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
fn emerging<'a>(
    snap: &'a Snapshot,
    ind: &'a crate::snapshot::IndicatorResult,
    li: usize,
    params: hotspots::Params,
    full: &weights::Neighbours,
) -> EmergingResponse<'a> {
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
    let areas = snap.levels[li]
        .areas
        .iter()
        .zip(signs.into_iter().zip(zs))
        .map(|(area, (spots, z))| {
            let category = hotspots::emerging_category(&spots, &z);
            EmergingArea { code: &area.code, name: area.name.as_deref(), category, category_nl: hotspots::emerging_nl(category), spots, z }
        })
        .collect();
    EmergingResponse {
        indicator: indicator_ref(ind),
        level: &snap.levels[li].id,
        periods: &v.periods,
        method: EmergingMethod {
            statistic: "emerging",
            per_period: "Getis-Ord Gi* (esda G_Local, star) on each period's published values; a period is a hot (+1) or cold (−1) spot where p_sim is below alpha",
            trend: "Mann-Kendall on each area's Gi* z-scores over the periods (two-sided, 0.05)",
            categories: "new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, historical (and the same for cold spots), as ArcGIS Pro's Emerging Hot Spot Analysis defines them; 'most periods' = at least 90 %",
            weights: WeightsRule { kind: rule.key(), rule: rule.describe() },
            permutations: params.permutations,
            seed: params.seed,
            alpha: params.alpha,
            note: "Computed from the published values only: protected and missing values are left out of each period's analysis.",
        },
        areas,
    }
}
