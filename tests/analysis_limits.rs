//! Analysis requests (weights, hot spots, emerging hot spots, trends) within bounds: limits
//! by caller (a 400 that names the allowed range, more with an API key), answers cached
//! per data version and parameters, 503 with Retry-After when no analysis worker is free,
//! and tiles and /health that keep answering while a dozen worst-case analyses run.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use buurtmeter::api::{AnalysisOptions, AppState, Limits, ServerOptions, app};
use buurtmeter::config::Project;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const KEY: &str = "analist-sleutel";

fn hash(k: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(k.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The demo project, with one API key.
fn state() -> AppState {
    let project = Project::load(&common::demo_project()).unwrap();
    let options = ServerOptions { api_key_hashes: vec![hash(KEY)], ..Default::default() };
    AppState::with_options(buurtmeter::snapshot::build(&project).unwrap(), options)
}

async fn ask(state: &AppState, uri: &str, key: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let res = app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// A 400 problem document; its detail.
fn problem(status: StatusCode, headers: &HeaderMap, body: &str, uri: &str) -> String {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    assert_eq!(headers["content-type"], "application/problem+json", "{uri}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["status"], 400);
    v["detail"].as_str().unwrap().to_string()
}

/// The number after "at most " and before " m" in a detail.
fn at_most_metres(detail: &str) -> f64 {
    let rest = &detail[detail.find("at most ").unwrap_or_else(|| panic!("no 'at most' in {detail}")) + 8..];
    rest[..rest.find(" m").unwrap()].parse().unwrap_or_else(|e| panic!("{e}: {detail}"))
}

const HOTSPOTS: &str = "/indicators/wateroverlast_per_1000_inw/hotspots?level=buurten&method=gi_star";
const EMERGING: &str = "/indicators/water_in_huis_per_maand/hotspots?level=buurten&method=emerging";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_limit_parameters_are_400_naming_the_allowed_range() {
    let s = state();
    let bad = |uri: String| {
        let s = s.clone();
        async move {
            let (status, headers, body) = ask(&s, &uri, None).await;
            problem(status, &headers, &body, &uri)
        }
    };
    // Permutations: 999 without a key.
    let d = bad(format!("{HOTSPOTS}&permutations=1000")).await;
    assert!(d.contains("permutations=1000: give 0 to 999 without an API key (0 to 9999 with one)"), "{d}");
    let d = bad(format!("{HOTSPOTS}&permutations=99&global_permutations=5000")).await;
    assert!(d.contains("global_permutations=5000: give 0 to 999"), "{d}");
    let d = bad(format!("{EMERGING}&permutations=1000")).await;
    assert!(d.contains("give 0 to 999"), "{d}");
    assert_eq!(ask(&s, &format!("{HOTSPOTS}&permutations=999"), None).await.0, StatusCode::OK);
    // k nearest neighbours: 1 to 50.
    let d = bad("/weights/buurten?type=knn&k=51".into()).await;
    assert!(d.contains("give 1 to 50"), "{d}");
    let d = bad(format!("{HOTSPOTS}&weights=knn&k=0")).await;
    assert!(d.contains("give 1 to 50"), "{d}");
    // A distance band: up to where half the buurten have 50 others; that distance itself is allowed.
    let d = bad("/weights/buurten?type=distance&threshold=1000000".into()).await;
    assert!(d.contains("give a distance above 0 and at most") && d.contains("half its areas have 50 other areas"), "{d}");
    let most = at_most_metres(&d);
    assert!(most > 0.0, "{d}");
    let (status, _, body) = ask(&s, &format!("/weights/buurten?type=distance&threshold={most}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = bad(format!("{HOTSPOTS}&weights=distance&threshold={}", most + 0.2)).await;
    assert_eq!(at_most_metres(&d), most, "hot spots and /weights share the limit: {d}");
    let d = bad("/weights/buurten?type=distance&threshold=0".into()).await;
    assert!(d.contains("threshold"), "{d}");

    // Smaller limits (as an operator may set them): the size of a response and the draws
    // of an analysis are refused the same way, with the range.
    let tight = Limits { pairs: 10, ..Limits::ANONYMOUS };
    let s = state().with_analysis(AnalysisOptions { anonymous: tight, ..Default::default() });
    let (status, headers, body) = ask(&s, "/weights/buurten?type=queen", None).await;
    let d = problem(status, &headers, &body, "queen");
    assert!(d.contains("neighbour pairs: at most 10 without an API key (10,000,000 with one)"), "{d}");
    let (status, _, body) = ask(&s, "/weights/buurten?type=queen", Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "with the key, the key holders' limits: {body}");
    let tight = Limits { draws: 100_000, ..Limits::ANONYMOUS };
    let s = state().with_analysis(AnalysisOptions { anonymous: tight, ..Default::default() });
    let (status, headers, body) = ask(&s, &format!("{HOTSPOTS}&weights=knn&k=2&permutations=999"), None).await;
    let d = problem(status, &headers, &body, "draws");
    assert!(d.contains("at most 100,000 without an API key") && d.contains("1998 permutations × 1 period × 136 neighbour pairs"), "{d}");
    let (status, headers, body) = ask(&s, &format!("{EMERGING}&weights=knn&k=1&permutations=99"), None).await;
    let d = problem(status, &headers, &body, "emerging draws");
    assert!(d.contains("99 permutations × ") && d.contains("periods × 68 neighbour pairs") && d.contains("at most 100,000"), "{d}");
    let (status, _, body) = ask(&s, &format!("{EMERGING}&weights=knn&k=1&permutations=99"), Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_holders_may_use_more() {
    let s = state();
    let uri = format!("{HOTSPOTS}&permutations=5000&seed=3");
    let (status, _, _) = ask(&s, &uri, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, headers, body) = ask(&s, &uri, Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers["cache-control"].to_str().unwrap().contains("private"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["method"]["permutations"], 5000);
    // Beyond 9,999 for nobody.
    let (status, _, body) = ask(&s, &format!("{HOTSPOTS}&permutations=10000"), Some(KEY)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("0 to 9999 with an API key"), "{body}");
    // A wider distance band: where half the buurten have 500 others (here: all 67).
    let (status, headers, body) = ask(&s, "/weights/buurten?type=distance&threshold=1000000", None).await;
    let anonymous = at_most_metres(&problem(status, &headers, &body, "anonymous band"));
    let (status, headers, body) = ask(&s, "/weights/buurten?type=distance&threshold=1000000", Some(KEY)).await;
    let d = problem(status, &headers, &body, "keyed band");
    assert!(d.contains("with an API key") && d.contains("half its areas have 67 other areas"), "{d}");
    let keyed = at_most_metres(&d);
    assert!(keyed > anonymous, "{keyed} > {anonymous}");
    let between = format!("/weights/buurten?type=distance&threshold={}", (anonymous + keyed) / 2.0);
    assert_eq!(ask(&s, &between, None).await.0, StatusCode::BAD_REQUEST);
    let (status, _, body) = ask(&s, &between, Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A wrong key is refused, not treated as none.
    assert_eq!(ask(&s, &between, Some("geraden")).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_is_answered_from_the_cache() {
    let s = state();
    let cache = |h: &HeaderMap| h.get("x-buurtmeter-cache").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    for uri in [
        format!("{HOTSPOTS}&permutations=199&seed=11"),
        format!("{EMERGING}&permutations=99&seed=11"),
        "/weights/buurten?type=knn&k=6".to_string(),
        "/weights/buurten?type=rook&format=gal".to_string(),
        "/indicators/water_in_huis_per_maand/trends?level=buurten".to_string(),
    ] {
        let (status, first_h, first) = ask(&s, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {first}");
        assert_eq!(cache(&first_h), "miss", "{uri}");
        let (status, again_h, again) = ask(&s, &uri, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cache(&again_h), "hit", "{uri}");
        assert_eq!(again, first, "{uri}");
        assert_eq!(again_h["content-type"], first_h["content-type"], "{uri}");
    }
    // Other parameters are another result.
    let (_, h, _) = ask(&s, &format!("{HOTSPOTS}&permutations=199&seed=12"), None).await;
    assert_eq!(cache(&h), "miss");
    // A key holder's answer is checked against other limits: cached apart.
    let (_, h, _) = ask(&s, &format!("{HOTSPOTS}&permutations=199&seed=11"), Some(KEY)).await;
    assert_eq!(cache(&h), "miss");
    // Identical requests at the same time: computed once, all answered the same.
    let uri = format!("{HOTSPOTS}&permutations=999&seed=99");
    let all = futures_join(&s, &uri, 6).await;
    assert!(all.iter().all(|(st, _, b)| *st == StatusCode::OK && *b == all[0].2));
    assert_eq!(all.iter().filter(|(_, h, _)| cache(h) == "miss").count(), 1, "one computation for six identical requests");
}

/// `n` identical requests at once.
async fn futures_join(s: &AppState, uri: &str, n: usize) -> Vec<(StatusCode, HeaderMap, String)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (s, uri) = (s.clone(), uri.to_string());
            tokio::spawn(async move { ask(&s, &uri, None).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_free_worker_is_503_with_retry_after() {
    let s = state().with_analysis(AnalysisOptions { workers: 0, wait: Duration::from_millis(20), ..Default::default() });
    for uri in [format!("{HOTSPOTS}&permutations=99"), "/weights/buurten".into(), "/indicators/water_in_huis_per_maand/trends".into()] {
        let (status, headers, body) = ask(&s, &uri, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert_eq!(headers["retry-after"], "5");
        assert_eq!(headers["content-type"], "application/problem+json");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], 503);
        assert!(v["detail"].as_str().unwrap().contains("busy"), "{body}");
    }
    // What is refused by its parameters is a 400 without a worker; the rest of the API answers.
    assert_eq!(ask(&s, &format!("{HOTSPOTS}&permutations=5000"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(ask(&s, "/health", None).await.0, StatusCode::OK);
    assert_eq!(ask(&s, "/indicators/wateroverlast_per_1000_inw?level=buurten", None).await.0, StatusCode::OK);
}

/// The first coordinate pair of a GeoJSON geometry.
fn first_position(v: &Value) -> Option<(f64, f64)> {
    let a = v.as_array()?;
    match (a.first()?.as_f64(), a.get(1).and_then(Value::as_f64)) {
        (Some(x), Some(y)) => Some((x, y)),
        _ => first_position(&a[0]),
    }
}

/// All 3,340 Dutch wijken of 2022 with a monthly count over five years (synthetic points,
/// 60 periods): a dozen of the heaviest analyses an anonymous caller may ask for run at
/// once, and meanwhile tiles that were never rendered before and /health are fetched. They
/// all answer 200; the analyses answer 200 or, when no worker is free, 503. Latencies are
/// printed, not asserted (benchmarks measure; tests check behaviour).
#[test]
fn tiles_and_health_answer_while_a_dozen_worst_case_analyses_run() {
    let Some(wijken) = common::shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,x,y,datum\n");
    let mut seed: u64 = 20;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..40_000 {
        let (x, y) = (13_000.0 + 265_000.0 * next(), 306_000.0 + 313_000.0 * next());
        let (year, month) = (2019 + (next() * 5.0) as u32, 1 + (next() * 12.0) as u32);
        csv.push_str(&format!("{i},{x:.1},{y:.1},{year}-{month:02}-15\n"));
    }
    std::fs::write(dir.path().join("punten.csv"), csv).unwrap();
    let project = dir.path().join("wijken.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "wijken 2022 onder last"
[[levels]]
id = "wijken"
path = "{}"
layer = "wijken"
id_field = "code"

[[points]]
id = "meldingen"
title = "Meldingen"
path = "punten.csv"
x = "x"
y = "y"
crs = "EPSG:28992"
date = "datum"

[[indicators]]
id = "per_maand"
title = "Meldingen per maand"
numerator = {{ points = "meldingen" }}
unit = "meldingen"
period = "month"

[[indicators]]
id = "per_km2"
title = "Meldingen per km2"
numerator = {{ points = "meldingen" }}
denominator = "land_km2"
unit = "per km2"
period = "year"
"#,
            wijken.display()
        ),
    )
    .unwrap();
    let server = common::Server::start(&["--project", project.to_str().unwrap(), "--watch-seconds", "0"]);
    let base = server.base.clone();
    let get = |path: &str| common::http_get(&base, path).unwrap_or_else(|e| panic!("{path}: {e}"));

    // The widest band an anonymous caller may ask for (the probe computes it once).
    let (status, body) = get("/weights/wijken?type=distance&threshold=10000000");
    assert_eq!(status, 400);
    let band = at_most_metres(serde_json::from_slice::<Value>(&body).unwrap()["detail"].as_str().unwrap());
    // Tiles to fetch: at a vertex of some wijken, zoom 9 to 12 (rendered on the blocking
    // pool), none of them rendered yet.
    let tj: Value = serde_json::from_slice(&get("/tiles/wijken").1).unwrap();
    let (minz, maxz) = (tj["minzoom"].as_u64().unwrap_or(0) as u8, tj["maxzoom"].as_u64().unwrap_or(14) as u8);
    let mut tiles = std::collections::BTreeSet::new();
    for offset in [0, 1500, 3000] {
        let items: Value =
            serde_json::from_slice(&get(&format!("/ogc/collections/wijken/items?limit=12&offset={offset}&f=json")).1).unwrap();
        for (i, f) in items["features"].as_array().unwrap().iter().enumerate() {
            let (lon, lat) = first_position(&f["geometry"]["coordinates"]).unwrap();
            let z = (9 + (i % 4) as u8).clamp(minz, maxz);
            let (x, y) = common::lonlat_to_tile(lon, lat, z);
            tiles.insert(format!("/tiles/wijken/{z}/{x}/{y}.mvt"));
        }
    }

    let heavy: Vec<String> = (0..4)
        .map(|i| format!("/indicators/per_km2/hotspots?level=wijken&weights=knn&k=50&permutations=999&seed={i}"))
        .chain((0..3).map(|i| format!("/indicators/per_km2/hotspots?level=wijken&weights=distance&threshold={band}&seed={i}")))
        .chain((0..3).map(|i| format!("/indicators/per_maand/hotspots?level=wijken&method=emerging&permutations={}", 800 + i)))
        .chain([format!("/weights/wijken?type=distance&threshold={band}"), "/weights/wijken?type=knn&k=50".to_string()])
        .collect();
    assert_eq!(heavy.len(), 12);
    let start = Instant::now();
    let running: Vec<_> = heavy
        .iter()
        .map(|path| {
            let (base, path) = (base.clone(), path.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let (status, body) = common::http_get(&base, &path).unwrap();
                (path, status, t.elapsed(), body)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fetched = Vec::new();
    let mut pending: Vec<&String> = tiles.iter().collect();
    loop {
        let in_flight = running.iter().filter(|h| !h.is_finished()).count();
        if in_flight == 0 && pending.is_empty() {
            break;
        }
        let path = pending.pop().map_or("/health".to_string(), String::clone);
        for p in [path, "/health".to_string()] {
            let t = Instant::now();
            let (status, _) = get(&p);
            fetched.push((p, status, t.elapsed(), in_flight));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let analyses: Vec<_> = running.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = start.elapsed();

    for (path, status, took, body) in &analyses {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        assert!(*status == 200 || *status == 503, "{path}: {status} {text}");
        if *status == 503 {
            assert!(text.contains("\"status\":503"), "{path}: {text}");
        }
        eprintln!("analysis {status} in {:>7.1} ms  {path}", took.as_secs_f64() * 1e3);
    }
    for (path, status, _, _) in &fetched {
        assert_eq!(*status, 200, "{path} while analyses ran");
    }
    let report = |what: &str| {
        let mut ms: Vec<f64> = fetched.iter().filter(|f| f.0.starts_with(what) && f.3 > 0).map(|f| f.2.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (ms.first(), ms.last()) {
            eprintln!(
                "{what}: {} fetched while analyses ran; latency min {first:.1} ms, median {:.1} ms, max {last:.1} ms",
                ms.len(),
                ms[ms.len() / 2]
            );
        }
    };
    report("/tiles/");
    report("/health");
    let ok = analyses.iter().filter(|a| a.1 == 200).count();
    eprintln!(
        "{ok} analyses answered, {} busy (503), in {:.1} s; {} tiles, all 200",
        analyses.len() - ok,
        elapsed.as_secs_f64(),
        tiles.len()
    );
}
