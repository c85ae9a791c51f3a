//! Analysis requests (spatial weights, hot spots, emerging hot spots, trends over every
//! area) are CPU work that anyone may ask for, and a handful of them must not starve the
//! tiles. So they run here, never on the async workers:
//!
//! - on tokio's blocking pool, at most [`AnalysisOptions::workers`] at a time (a semaphore
//!   in the app state; by default half the cores, at least one), so the async workers and
//!   the other cores stay free for tiles, features and `/health`;
//! - a request that finds no free worker within [`AnalysisOptions::wait`] is answered 503
//!   with `Retry-After` (a problem document), instead of queueing without end;
//! - every result, and every 400 that says why there is none, is cached per data version
//!   and parameters (a bounded cache weighed by bytes): a repeated request costs nothing,
//!   identical requests in flight wait for one computation, and a computation that
//!   outlives its client (or the 30 s timeout) still lands in the cache;
//! - [`Limits`] bound what one request may ask for, lower without an API key than with
//!   one. Parameters out of range are a 400 that names the allowed range, never clamped.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::Semaphore;

use super::indicators::{Seen, View};
use super::{ApiError, AppState};
use crate::snapshot::{IndicatorResult, Snapshot};
use crate::weights::{Neighbours, Spec};

/// What one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Permutations of a test (local and global), at most.
    pub permutations: usize,
    /// Neighbour pairs of the weights (every area's list counted in full), at most: the
    /// size of a `/weights` response, and the work of one permutation.
    pub pairs: usize,
    /// Neighbour values drawn by the permutations, at most: (local + global
    /// permutations) × periods × neighbour pairs. A billion takes about a second on one
    /// core (release build; all 3,340 Dutch wijken, 60 months, Gi* at 871 permutations).
    pub draws: u64,
    /// A distance band reaches at most as far as the distance within which half the areas
    /// of the level have this many other areas (their interior points).
    pub neighbours: usize,
}

impl Limits {
    /// Without an API key: PySAL's default of 999 permutations, the neighbours of all
    /// Dutch buurten by k = 50 nearest (725,000 pairs) with room to spare, and a band no
    /// wider than where the typical area has 50 neighbours.
    pub const ANONYMOUS: Limits = Limits { permutations: 999, pairs: 1_000_000, draws: 1_000_000_000, neighbours: 50 };
    /// With an API key: ten times as much (and the 9,999 permutations every analysis allows).
    pub const KEYED: Limits = Limits { permutations: 9_999, pairs: 10_000_000, draws: 10_000_000_000, neighbours: 500 };
}

/// How analysis requests are run and bounded.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Analyses running at the same time, at most (0 refuses every analysis not cached).
    pub workers: usize,
    /// How long a request waits for a free worker before it is answered 503.
    pub wait: Duration,
    /// The `Retry-After` of that 503, in seconds.
    pub retry_after_seconds: u64,
    /// Upper bound of the result cache, in bytes.
    pub cache_bytes: u64,
    pub anonymous: Limits,
    pub keyed: Limits,
}

impl Default for AnalysisOptions {
    fn default() -> AnalysisOptions {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AnalysisOptions {
            workers: (cores / 2).max(1),
            wait: Duration::from_secs(2),
            retry_after_seconds: 5,
            cache_bytes: 64 << 20,
            anonymous: Limits::ANONYMOUS,
            keyed: Limits::KEYED,
        }
    }
}

impl AppState {
    /// Run analyses with these options instead of the defaults.
    pub fn with_analysis(mut self, options: AnalysisOptions) -> AppState {
        self.analysis = Arc::new(Analysis::new(options));
        self
    }
}

/// Cache key: (data version, what was asked, canonically written).
pub(crate) type Key = (u64, String);

/// A computed response body.
#[derive(Clone)]
pub(crate) struct Body {
    bytes: Bytes,
    content_type: &'static str,
}

impl Body {
    pub(crate) fn json(value: &impl serde::Serialize) -> Result<Body, ApiError> {
        let bytes = serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("serialise: {e}")))?;
        Ok(Body { bytes: bytes.into(), content_type: "application/json" })
    }

    pub(crate) fn text(text: String) -> Body {
        Body { bytes: text.into(), content_type: "text/plain; charset=utf-8" }
    }
}

/// What a computation came to: a body, or the reason (a 400) there is none.
#[derive(Clone)]
enum Outcome {
    Done(Body),
    Refused(Arc<str>),
}

impl Outcome {
    fn answer(self, cached: bool) -> Result<Answer, Failure> {
        match self {
            Outcome::Done(body) => Ok(Answer { body, cached }),
            Outcome::Refused(d) => Err(Failure::Api(ApiError::BadRequest(d.to_string()))),
        }
    }
}

#[derive(Clone)]
struct OutcomeWeighter;

impl quick_cache::Weighter<Key, Outcome> for OutcomeWeighter {
    fn weight(&self, key: &Key, val: &Outcome) -> u64 {
        let len = match val {
            Outcome::Done(b) => b.bytes.len(),
            Outcome::Refused(d) => d.len(),
        };
        (64 + key.1.len() + len) as u64
    }
}

type ResultCache = quick_cache::sync::Cache<Key, Outcome, OutcomeWeighter>;

/// The analysis workers, their results and the limits: one per server (in [`AppState`]).
pub(crate) struct Analysis {
    permits: Arc<Semaphore>,
    options: AnalysisOptions,
    cache: ResultCache,
    /// Per (public data version, level, neighbours): the widest distance band allowed.
    reach: quick_cache::sync::Cache<(u64, usize, usize), Option<(f64, usize)>>,
}

impl Analysis {
    pub(crate) fn new(options: AnalysisOptions) -> Analysis {
        let cache_options = quick_cache::OptionsBuilder::new()
            // One shard: a response of several MB must fit in it, and analyses are few.
            .shards(1)
            .estimated_items_capacity(256)
            .weight_capacity(options.cache_bytes.max(1))
            .build()
            .expect("cache options");
        let cache = ResultCache::with_options(cache_options, OutcomeWeighter, Default::default(), Default::default());
        Analysis { permits: Arc::new(Semaphore::new(options.workers)), cache, reach: quick_cache::sync::Cache::new(64), options }
    }

    pub(crate) fn limits(&self, keyed: bool) -> &Limits {
        if keyed { &self.options.keyed } else { &self.options.anonymous }
    }

    /// Part of a cache key: results checked against different limits are kept apart.
    pub(crate) fn tier(keyed: bool) -> &'static str {
        if keyed { "keyed" } else { "anonymous" }
    }

    /// "0 to 999 without an API key (0 to 9999 with one)", or "… with an API key".
    fn allowed(&self, keyed: bool, range: impl Fn(&Limits) -> String) -> String {
        if keyed {
            format!("{} with an API key", range(&self.options.keyed))
        } else {
            format!("{} without an API key ({} with one)", range(&self.options.anonymous), range(&self.options.keyed))
        }
    }

    /// `permutations` (or `global_permutations`) within the caller's limit.
    pub(crate) fn check_permutations(&self, keyed: bool, name: &str, value: usize, default: bool) -> Result<(), ApiError> {
        if value <= self.limits(keyed).permutations {
            return Ok(());
        }
        let source = if default { " (the indicator's setting)" } else { "" };
        Err(ApiError::BadRequest(format!("{name}={value}{source}: give {}", self.allowed(keyed, |l| format!("0 to {}", l.permutations)))))
    }

    /// The weights `spec` of level `li`, within the caller's limits: a distance band no
    /// wider than the level's reach, and no more neighbour pairs than allowed. Call it on
    /// the blocking pool (it builds the weights).
    pub(crate) fn weights<'a>(&self, snap: &'a Snapshot, li: usize, spec: Spec, keyed: bool) -> Result<Cow<'a, Neighbours>, ApiError> {
        let limits = *self.limits(keyed);
        let level = &snap.levels[li];
        if let Spec::Distance(d) = spec
            && let Some((reach, k)) = self.reach(snap, li, limits.neighbours)
            && d > reach
        {
            let most = (reach * 10.0).floor() / 10.0;
            let more = if keyed {
                String::new()
            } else {
                format!("; an API key allows a band as wide as where half have {}", self.options.keyed.neighbours)
            };
            return Err(ApiError::BadRequest(format!(
                "threshold={d}: give a distance above 0 and at most {most} m on level '{}' {}: within {most} m half its areas have {} other areas or more (by their interior points){more}",
                level.id,
                if keyed { "with an API key" } else { "without an API key" },
                k,
            )));
        }
        let w = snap.weights(li, spec);
        let pairs = pairs(&w);
        if pairs > limits.pairs {
            return Err(ApiError::BadRequest(format!(
                "{} on level '{}' give {} neighbour pairs: at most {}; give a smaller threshold, k or tolerance",
                spec.describe(),
                level.id,
                thousands(pairs as u64),
                self.allowed(keyed, |l| thousands(l.pairs as u64))
            )));
        }
        Ok(w)
    }

    /// The permutations an analysis draws within the caller's limit: (`permutations` +
    /// `global_permutations`) × `periods` × the weights' neighbour pairs.
    pub(crate) fn check_draws(&self, keyed: bool, permutations: usize, periods: usize, w: &Neighbours) -> Result<(), ApiError> {
        let pairs = pairs(w) as u64;
        let draws = permutations as u64 * periods as u64 * pairs;
        let limit = self.limits(keyed).draws;
        if draws <= limit {
            return Ok(());
        }
        let most = limit / (periods as u64 * pairs).max(1);
        Err(ApiError::BadRequest(format!(
            "these permutations draw {} neighbour values ({permutations} permutations × {periods} period{} × {} neighbour pairs): at most {}; give fewer permutations (at most {most} in all here), fewer neighbours or, for method=emerging, an indicator with fewer periods",
            thousands(draws),
            if periods == 1 { "" } else { "s" },
            thousands(pairs),
            self.allowed(keyed, |l| thousands(l.draws))
        )))
    }

    /// The widest distance band of level `li` for `neighbours`: the distance within which
    /// half the areas have at least that many other areas (or all others, in a level with
    /// fewer), by their interior points, and that number. `None` when no two areas have a point.
    fn reach(&self, snap: &Snapshot, li: usize, neighbours: usize) -> Option<(f64, usize)> {
        let key = (public_version(snap), li, neighbours);
        self.reach.get_or_insert_with(&key, || Ok::<_, std::convert::Infallible>(reach(&snap.levels[li].areas, neighbours))).unwrap_or(None)
    }
}

/// 1234567 as 1,234,567.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every area's neighbours counted in full.
fn pairs(w: &Neighbours) -> usize {
    w.lists.iter().map(Vec::len).sum()
}

/// The lower median over the areas of the distance to their `neighbours`-th nearest other
/// area (the farthest, in a level with fewer), and the number of neighbours it is for.
fn reach(areas: &[crate::model::Area], neighbours: usize) -> Option<(f64, usize)> {
    let points = crate::weights::interior_points(areas);
    let m = points.iter().flatten().count();
    if m < 2 {
        return None;
    }
    let k = neighbours.clamp(1, m - 1);
    let near = crate::weights::knn(&points, k);
    let mut d: Vec<f64> = points
        .iter()
        .zip(&near.lists)
        .filter_map(|(p, list)| {
            let p = (*p)?;
            list.iter().filter_map(|&j| points[j as usize]).map(|q| (q[0] - p[0]).hypot(q[1] - p[1])).max_by(f64::total_cmp)
        })
        .collect();
    d.sort_by(f64::total_cmp);
    d.get(d.len().checked_sub(1)? / 2).map(|&r| (r, k))
}

/// The version a result is cached under. Results from public inputs only are keyed on the
/// public data version, so that a change in a restricted file does not empty them (which
/// anyone could see); restricted indicators and exact values on every input.
pub(crate) fn version(snap: &Snapshot, ind: &IndicatorResult, view: &View) -> u64 {
    if ind.restricted || matches!(view, View::Exact) { snap.version_hash } else { public_version(snap) }
}

/// The public data version (what `/health` shows) as a cache key.
pub(crate) fn public_version(snap: &Snapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ("analysis", &snap.version).hash(&mut h);
    h.finish()
}

/// An indicator as a request sees it, owned, to take to the blocking pool with its snapshot.
pub(crate) enum Owned {
    Published(usize),
    Exact(Box<IndicatorResult>),
}

impl Owned {
    pub(crate) fn new(snap: &Snapshot, seen: Seen) -> Owned {
        match seen {
            Seen::Published(r) => Owned::Published(snap.indicators.iter().position(|i| std::ptr::eq(i, r)).unwrap_or(usize::MAX)),
            Seen::Exact(r) => Owned::Exact(r),
        }
    }

    pub(crate) fn get<'a>(&'a self, snap: &'a Snapshot) -> &'a IndicatorResult {
        match self {
            Owned::Published(i) => &snap.indicators[*i],
            Owned::Exact(r) => r,
        }
    }
}

/// A response computed now or taken from the cache.
pub(crate) struct Answer {
    body: Body,
    cached: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut res = ([(header::CONTENT_TYPE, self.body.content_type)], self.body.bytes).into_response();
        res.headers_mut().insert("x-buurtmeter-cache", HeaderValue::from_static(if self.cached { "hit" } else { "miss" }));
        res
    }
}

/// Why an analysis request has no answer: an API error, or no free worker.
pub(crate) enum Failure {
    Api(ApiError),
    Busy { workers: usize, retry_after: u64 },
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Api(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Api(e) => e.into_response(),
            Failure::Busy { workers, retry_after } => super::problem_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "every analysis worker is busy (weights, hot spots and trends run at most {workers} at a time): try again in {retry_after} s; a result once computed is answered from the cache"
                ),
                [(header::RETRY_AFTER, retry_after.to_string())],
            ),
        }
    }
}

/// The answer to `key`: from the cache, or `job` run on the blocking pool under a worker
/// permit (waiting for one at most `wait`) and then cached. A 400 of the job is cached
/// like a result. The computation is a task of its own: it finishes and fills the cache
/// even when the request is dropped (client gone, timeout).
pub(crate) async fn run<F>(state: &AppState, key: Key, job: F) -> Result<Answer, Failure>
where
    F: FnOnce() -> Result<Body, ApiError> + Send + 'static,
{
    let an = state.analysis.clone();
    if let Some(v) = an.cache.get(&key) {
        return v.answer(true);
    }
    let task = tokio::spawn(async move {
        // Identical requests in flight wait here for the first one's result.
        let guard = match an.cache.get_value_or_guard_async(&key).await {
            Ok(v) => return v.answer(true),
            Err(guard) => guard,
        };
        let permit = match tokio::time::timeout(an.options.wait, an.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return Err(Failure::Busy { workers: an.options.workers, retry_after: an.options.retry_after_seconds }),
        };
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("analysis task: {e}")))?;
        let outcome = match out {
            Ok(body) => Outcome::Done(body),
            Err(ApiError::BadRequest(d)) => Outcome::Refused(d.into()),
            Err(e) => return Err(e.into()),
        };
        let _ = guard.insert(outcome.clone());
        outcome.answer(false)
    });
    task.await.map_err(|e| ApiError::Internal(format!("analysis task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Area as _;
    use geo_types::{MultiPolygon, polygon};

    fn square(x: f64, y: f64) -> crate::model::Area {
        let g = MultiPolygon(vec![polygon![(x: x, y: y), (x: x + 1.0, y: y), (x: x + 1.0, y: y + 1.0), (x: x, y: y + 1.0), (x: x, y: y)]]);
        crate::model::Area { code: format!("{x}_{y}"), name: None, geometry_km2: g.unsigned_area() / 1e6, geometry: g, country: None }
    }

    #[test]
    fn reach_is_the_median_distance_to_the_kth_neighbour() {
        // A row of nine unit squares: an inner square has its 2nd nearest at 1 (one on each
        // side), an end square at 2; the median is an inner square's.
        let areas: Vec<_> = (0..9).map(|i| square(i as f64, 0.0)).collect();
        assert_eq!(reach(&areas, 2), Some((1.0, 2)));
        assert_eq!(reach(&areas, 3), Some((2.0, 3)));
        // More neighbours than there are other areas: the farthest other area.
        assert_eq!(reach(&areas, 50), Some((6.0, 8)));
        assert_eq!(reach(&areas[..1], 50), None);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_145_813_040), "1,145,813,040");
    }
}
