//! `/indicators` (list with metadata) and `/indicators/{id}` (values per area for one
//! level and period, or one area's time series), as JSON or CSV.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use super::views::{
    AreaRef, AreaTrend, AreaValue, CellKeyDisclosure, Definition, Disclosure, DisclosureRules, HotspotSettings, IndicatorJson,
    IndicatorList, IndicatorMeta, IndicatorSeries, IndicatorValues, LevelMeta, Link, NumeratorDef, Problem, ProtectedSource, SeriesValue,
    Source, SourceDisclosure, Trend, TrendMethod, TrendsResponse,
};
use super::{ApiError, AppState};
use crate::export::csv_out::{INDICATOR_CSV_HEADER, write_indicator_rows};
use crate::indicators::Denominator;
use crate::indicators::trend::default_back;
use crate::model::CbsKind;
use crate::snapshot::{IndicatorResult, Snapshot};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/indicators", get(list)).route("/indicators/{id}", get(values)).route("/indicators/{id}/trends", get(trends))
}

pub(crate) fn metadata(snap: &Snapshot, ind: &IndicatorResult) -> IndicatorMeta {
    let d = &ind.def;
    let layer = d.numerator.points().and_then(|id| snap.points.iter().find(|p| p.layer.id == id));
    let levels = snap
        .levels
        .iter()
        .zip(&ind.per_level)
        .map(|(l, v)| LevelMeta {
            level: l.id.clone(),
            periods: v.periods.clone(),
            numerator_source: v.numerator_source.clone(),
            denominator_source: v.denominator_source.clone(),
            denominator_periods: v.denominator_periods.clone(),
            converted_cells: v.converted.iter().filter(|c| **c).count(),
        })
        .collect();
    IndicatorMeta {
        id: d.id.clone(),
        title: d.title.clone(),
        description: d.description.clone(),
        unit: d.unit.clone(),
        definition: Definition {
            text: d.definition(),
            numerator: NumeratorDef {
                points: d.numerator.points().map(str::to_string),
                statistic: d.numerator.statistic().map(str::to_string),
                categories: d.numerator.categories().map(<[String]>::to_vec),
                weighted: d.numerator.weighted(),
                from: d.from.map(|x| x.to_string()),
                to: d.to.map(|x| x.to_string()),
            },
            denominator: match &d.denominator {
                Denominator::None => None,
                Denominator::LandKm2 => Some("land_km2".into()),
                Denominator::Statistic(s) => Some(s.clone()),
            },
            numerator_label: match (d.numerator.statistic(), layer) {
                (Some(s), _) => crate::indicators::human_name(s),
                (None, Some(l)) => l.title.clone(),
                (None, None) => String::new(),
            },
            denominator_label: match &d.denominator {
                Denominator::None => None,
                Denominator::LandKm2 => Some("landoppervlakte (km²)".into()),
                Denominator::Statistic(s) => Some(crate::indicators::human_name(s)),
            },
            scale: d.scale,
        },
        period: d.period.into(),
        hotspots: d.hotspots.map(|h| HotspotSettings {
            method: h.method.key(),
            weights: h.weights.key(),
            k: match h.weights {
                crate::weights::Spec::Knn(k) => Some(k),
                _ => None,
            },
            threshold: match h.weights {
                crate::weights::Spec::Distance(t) => Some(t),
                _ => None,
            },
            permutations: h.permutations,
            seed: h.seed,
            alpha: h.alpha,
            fdr: h.fdr,
            eb: h.eb,
        }),
        disclosure: match layer.and_then(|l| l.ptable.as_ref()) {
            Some(t) => Disclosure::CellKey(CellKeyDisclosure {
                method: "cell-key",
                variance: t.params.variance,
                smallest_published_count: u64::from(t.params.js) + 1,
                min_denominator: d.disclosure.min_denominator,
                note: "Counts are perturbed with the cell-key method: every published count differs from the true count by a small random amount, the same whenever the same records are counted. Parts need not add up to totals; do not sum published values. Rates are computed from the published counts. No published count lies between 1 and smallest_published_count − 1. Cells marked 'protected' are withheld.",
            }),
            None if ind.source_protection.is_some() => Disclosure::Source(SourceDisclosure {
                method: "source",
                sources: snap
                    .levels
                    .iter()
                    .zip(&ind.per_level)
                    .zip(ind.source_protection.iter().flatten())
                    .filter_map(|((l, v), rule)| {
                        Some(ProtectedSource { level: l.id.clone(), source: v.numerator_source.clone(), rule: rule.clone()? })
                    })
                    .collect(),
                min_denominator: d.disclosure.min_denominator,
                note: "The statistic is published as its source protected it (each source's rule is named); buurtmeter does not protect it again: no minimum count, rounding or secondary suppression. Missing values include what the source withheld.",
            }),
            None => Disclosure::Rules(DisclosureRules {
                min_count: d.disclosure.min_count,
                round_to: d.disclosure.round_to,
                min_denominator: d.disclosure.min_denominator,
            }),
        },
        periods: ind.per_level.first().map(|v| v.periods.clone()).unwrap_or_default(),
        // No file paths on a public endpoint: the layer's title says what was counted.
        source: Source {
            points: layer.map(|l| l.layer.id.clone()),
            points_title: layer.map(|l| l.title.clone()),
            attribution: snap.attribution.clone(),
        },
        levels,
        links: vec![Link { rel: "self", media_type: None, href: format!("/indicators/{}", d.id) }],
    }
}

/// Every indicator: what it counts, its periods per level, disclosure control, source.
#[utoipa::path(
    get,
    path = "/indicators",
    tag = "indicators",
    params(ApiKeyQuery),
    security((), ("bearer" = []), ("api_key_header" = [])),
    responses(
        (status = 200, description = "every indicator this caller may see (restricted ones need an API key)", body = IndicatorList),
        (status = 403, description = "an API key was given and is not valid", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let snap = state.current();
    let keyed = super::has_valid_key(&state, &headers, query.as_deref())?;
    let indicators = snap.indicators.iter().filter(|i| keyed || !i.restricted).map(|i| metadata(&snap, i)).collect();
    let body = Json(IndicatorList { project: snap.name.clone(), data_version: snap.version.clone(), indicators });
    Ok(if keyed { ([(header::CACHE_CONTROL, "private")], body).into_response() } else { body.into_response() })
}

/// The API key as a query parameter (`Authorization: Bearer` or `X-API-Key` do the same),
/// for the OpenAPI document only: `auth::request_key` reads it from the raw query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ApiKeyQuery {
    /// An API key: opens restricted indicators (and, with the `exact` role, exact values).
    api_key: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ValuesQuery {
    /// `buurt`, `wijk`, `gemeente` or a level id (default: the first level).
    #[param(example = "buurten")]
    level: Option<String>,
    /// A period of the indicator, or `latest` (the default).
    #[param(example = "latest")]
    period: Option<String>,
    /// `json` (default), `csv`, or `csv-nl` (Dutch Excel: `;` and decimal comma).
    #[param(pattern = "^(json|csv|csv-nl)$")]
    format: Option<String>,
    /// The same as `format`.
    #[param(pattern = "^(json|csv|csv-nl)$")]
    f: Option<String>,
    /// An area code of the level: that area's values over all periods, with its trend.
    area: Option<String>,
}

/// `buurt`, `buurten`, `wijk`, `gemeente`, or any level id.
pub(crate) fn find_level(snap: &Snapshot, wanted: Option<&str>) -> Result<usize, ApiError> {
    let Some(w) = wanted else { return Ok(0) };
    if let Some(i) = snap.level_index(w) {
        return Ok(i);
    }
    let kind = match w.to_ascii_lowercase().as_str() {
        "buurt" | "buurten" => Some(CbsKind::Buurt),
        "wijk" | "wijken" => Some(CbsKind::Wijk),
        "gemeente" | "gemeenten" => Some(CbsKind::Gemeente),
        _ => None,
    };
    kind.and_then(|k| snap.levels.iter().position(|l| l.cbs_kind == Some(k))).ok_or_else(|| {
        let ids: Vec<&str> = snap.levels.iter().map(|l| l.id.as_str()).collect();
        ApiError::BadRequest(format!("unknown level '{w}'; the levels are: {}", ids.join(", ")))
    })
}

/// Who sees what of an indicator: the public values, the public values on a private
/// (keyed) response, or the exact values of a protected layer.
pub(crate) enum View {
    Public,
    Private,
    Exact,
}

/// The indicator `id` as this request may see it. Without a valid key a restricted
/// indicator does not exist: the same 404 as an unknown id. Internal analysts with an
/// `exact` key see the exact values of a protected layer.
pub(crate) fn visible<'a>(
    state: &AppState,
    snap: &'a Snapshot,
    id: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Seen<'a>, View), ApiError> {
    let keyed = super::has_valid_key(state, headers, query)?;
    let ind = snap.indicator(id).filter(|i| keyed || !i.restricted).ok_or_else(|| {
        let ids: Vec<&str> = snap.indicators.iter().filter(|i| !i.restricted).map(|i| i.def.id.as_str()).collect();
        ApiError::NotFound(format!("no indicator '{id}'; the indicators are: {}", ids.join(", ")))
    })?;
    let layer_id = ind.def.numerator.points().unwrap_or("");
    if let Some(exact) = ind.exact.as_ref().filter(|_| super::sees_exact(state, headers, query, layer_id)) {
        let exact = IndicatorResult {
            def: ind.def.clone(),
            per_level: exact.clone(),
            restricted: ind.restricted,
            exact: None,
            hotspots: ind.hotspots.clone(),
            source_protection: ind.source_protection.clone(),
        };
        return Ok((Seen::Exact(Box::new(exact)), View::Exact));
    }
    let view = if ind.restricted || keyed { View::Private } else { View::Public };
    Ok((Seen::Published(ind), view))
}

/// The published values (borrowed from the snapshot) or a copy with the exact values.
pub(crate) enum Seen<'a> {
    Published(&'a IndicatorResult),
    Exact(Box<IndicatorResult>),
}

impl std::ops::Deref for Seen<'_> {
    type Target = IndicatorResult;
    fn deref(&self) -> &IndicatorResult {
        match self {
            Seen::Published(r) => r,
            Seen::Exact(r) => r,
        }
    }
}

/// The response headers that go with a view.
pub(crate) fn mark(mut res: Response, view: View) -> Response {
    if !matches!(view, View::Public) {
        res.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private"));
    }
    if matches!(view, View::Exact) {
        res.headers_mut().insert("x-buurtmeter-values", axum::http::HeaderValue::from_static("exact"));
    }
    res
}

/// Values per area in one period, or one area's series (`area=`), as JSON or CSV.
#[utoipa::path(
    get,
    path = "/indicators/{id}",
    tag = "indicators",
    params(("id" = String, Path, description = "an indicator id (see /indicators)"), ValuesQuery, ApiKeyQuery),
    security((), ("bearer" = []), ("api_key_header" = [])),
    responses(
        (status = 200, description = "every area's values in one period, or one area's series", content(
            (IndicatorJson = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "an unknown level or period, or a format that is not json, csv or csv-nl", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "an API key was given and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such indicator (or not for this caller), or no such area in the level", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn values(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ValuesQuery>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let (ind, view) = visible(&state, &snap, &id, &headers, query.as_deref())?;
    Ok(mark(values_of(&snap, &ind, &q).await?, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TrendsQuery {
    /// `buurt`, `wijk`, `gemeente` or a level id (default: the first level).
    #[param(example = "buurten")]
    level: Option<String>,
    /// Compare the last value with the one this many periods earlier (default: a year for
    /// quarters and months, five years for years).
    #[param(minimum = 1)]
    back: Option<usize>,
}

/// Every area's trend: Mann-Kendall and Sen's slope over the periods, and the change against
/// the previous period and `back` periods earlier.
// Quadratic in the periods for every area: on the analysis workers, cached (`analysis`).
#[utoipa::path(
    get,
    path = "/indicators/{id}/trends",
    tag = "indicators",
    params(("id" = String, Path, description = "an indicator id (see /indicators)"), TrendsQuery, ApiKeyQuery),
    security((), ("bearer" = []), ("api_key_header" = [])),
    responses(
        (status = 200, description = "every area's trend", body = TrendsResponse),
        (status = 400, description = "an unknown level, or back=0", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "an API key was given and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such indicator (or not for this caller)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "every analysis worker is busy: try again after Retry-After seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn trends(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TrendsQuery>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, super::analysis::Failure> {
    use super::analysis::{self, Body, Owned};
    let snap = state.current();
    let (ind, view) = visible(&state, &snap, &id, &headers, query.as_deref())?;
    let li = find_level(&snap, q.level.as_deref())?;
    let back = q.back.unwrap_or_else(|| default_back(ind.def.period));
    if back == 0 {
        return Err(ApiError::BadRequest("back must be 1 or more periods".into()).into());
    }
    let values = if matches!(view, View::Exact) { "exact" } else { "published" };
    let key = (analysis::version(&snap, &ind, &view), format!("trends|{}|{values}|{li}|{back}", ind.def.id));
    let owned = Owned::new(&snap, ind);
    let answer = analysis::run(&state, key, move || {
        let ind = owned.get(&snap);
        let level = &snap.levels[li];
        let v = &ind.per_level[li];
        let trends = level
            .areas
            .iter()
            .enumerate()
            .map(|(a, area)| AreaTrend { code: area.code.clone(), name: area.name.clone(), trend: Trend::of(v, a, back) })
            .collect();
        Body::json(&TrendsResponse {
            indicator: metadata(&snap, ind),
            level: level.id.clone(),
            periods: v.periods.clone(),
            method: TrendMethod::new(back),
            trends,
        })
    })
    .await?;
    Ok(mark(answer.into_response(), view))
}

async fn values_of(snap: &Snapshot, ind: &IndicatorResult, q: &ValuesQuery) -> Result<Response, ApiError> {
    let id = &ind.def.id;
    let li = find_level(snap, q.level.as_deref())?;
    let level = &snap.levels[li];
    let v = &ind.per_level[li];
    let format = q.format.as_deref().or(q.f.as_deref()).unwrap_or("json");
    if !matches!(format, "json" | "csv" | "csv-nl") {
        return Err(ApiError::BadRequest(format!("format '{format}' is not json, csv or csv-nl (Dutch Excel: ';' and decimal comma)")));
    }

    // Time series of one area.
    if let Some(code) = q.area.as_deref() {
        let a = *level.by_code.get(code).ok_or_else(|| ApiError::NotFound(format!("no area '{code}' in level '{}'", level.id)))?;
        if format != "json" {
            return csv_response(snap, ind, li, None, Some(a), format == "csv-nl");
        }
        let series = (0..v.periods.len())
            .map(|p| {
                let k = v.index(a, p);
                SeriesValue {
                    period: v.periods[p].clone(),
                    numerator: v.numerator[k],
                    denominator: v.denominator[k],
                    denominator_period: v.denominator_periods.get(p).cloned().flatten(),
                    value: v.value[k],
                    suppressed: v.suppressed[k].map(|s| s.key()),
                    converted: v.converted.get(k).copied().unwrap_or(false),
                }
            })
            .collect();
        let area = &level.areas[a];
        let back = default_back(ind.def.period);
        return Ok(Json(IndicatorJson::Series(Box::new(IndicatorSeries {
            indicator: metadata(snap, ind),
            level: level.id.clone(),
            area: AreaRef { code: area.code.clone(), name: area.name.clone() },
            series,
            trend: Trend::of(v, a, back),
            trend_method: TrendMethod::new(back),
        })))
        .into_response());
    }

    let period = match q.period.as_deref() {
        None | Some("latest") => v.periods.len().checked_sub(1),
        Some(p) => Some(v.period_index(p).ok_or_else(|| {
            ApiError::BadRequest(format!("no period '{p}' for indicator '{id}'; the periods are: {}", v.periods.join(", ")))
        })?),
    };
    if format != "json" {
        return csv_response(snap, ind, li, period, None, format == "csv-nl");
    }
    let values = match period {
        None => Vec::new(),
        Some(p) => level
            .areas
            .iter()
            .enumerate()
            .map(|(a, area)| {
                let k = v.index(a, p);
                AreaValue {
                    code: area.code.clone(),
                    name: area.name.clone(),
                    numerator: v.numerator[k],
                    denominator: v.denominator[k],
                    value: v.value[k],
                    suppressed: v.suppressed[k].map(|s| s.key()),
                    converted: v.converted.get(k).copied().unwrap_or(false),
                }
            })
            .collect(),
    };
    Ok(Json(IndicatorJson::Values(Box::new(IndicatorValues {
        indicator: metadata(snap, ind),
        level: level.id.clone(),
        period: period.map(|p| v.periods[p].clone()),
        denominator_period: period.and_then(|p| v.denominator_periods.get(p).cloned().flatten()),
        values,
    })))
    .into_response())
}

fn csv_response(
    snap: &Snapshot,
    ind: &IndicatorResult,
    level: usize,
    period: Option<usize>,
    area: Option<usize>,
    dutch: bool,
) -> Result<Response, ApiError> {
    let mut buf = Vec::new();
    buf.extend_from_slice(INDICATOR_CSV_HEADER.as_bytes());
    buf.push(b'\n');
    write_indicator_rows(&mut buf, snap, ind, level, period, area).map_err(|e| ApiError::Internal(e.to_string()))?;
    if dutch {
        buf = crate::export::csv_out::to_dutch_excel(&buf);
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], buf).into_response())
}
