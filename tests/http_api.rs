//! The HTTP API through `app(state).oneshot(..)`, no socket, on the demo project.
//! (Multi-thread runtimes: polars may block in place while the snapshot is built.)

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use buurtmeter::api::{AppState, app};
use buurtmeter::config::Project;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn state() -> AppState {
    let project = Project::load(&common::demo_project()).unwrap();
    AppState::new(buurtmeter::snapshot::build(&project).unwrap())
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String, String) {
    let res = app(state.clone()).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_accounting() {
    let s = state();
    let (status, _, body) = get(&s, "/health").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    let mut open = 0;
    for p in v["points"].as_array().unwrap() {
        if p["protected"] == true {
            // A protected layer's true counts are never public.
            assert!(p.get("rows").is_none() && p.get("joined").is_none(), "{p}");
            continue;
        }
        let n = |k: &str| p[k].as_u64().unwrap();
        assert_eq!(n("rows"), n("joined") + n("outside") + n("rejected"));
        open += 1;
    }
    assert!(open > 0 && v["points"].as_array().unwrap().iter().any(|p| p["protected"] == true), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicator_list_has_metadata() {
    let s = state();
    let (status, _, body) = get(&s, "/indicators").await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = v["indicators"].as_array().unwrap();
    assert_eq!(list.len(), 6);
    let w = list.iter().find(|i| i["id"] == "wateroverlast_per_1000_inw").unwrap();
    assert_eq!(w["definition"]["denominator"], "aantal_inwoners");
    assert_eq!(w["definition"]["scale"], 1000.0);
    assert_eq!(w["periods"], serde_json::json!(["2023", "2024", "2025"]));
    assert!(w["unit"].as_str().unwrap().contains("1.000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_by_level_and_period_equal_the_snapshot() {
    let s = state();
    let snap = s.current();
    let ind = snap.indicator("wateroverlast_per_1000_inw").unwrap();
    let wk = snap.level_index("wijken").unwrap();
    let v = &ind.per_level[wk];
    let (status, _, body) = get(&s, "/indicators/wateroverlast_per_1000_inw?level=wijk&period=2024").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["level"], "wijken");
    let rows = json["values"].as_array().unwrap();
    assert_eq!(rows.len(), snap.levels[wk].areas.len());
    let p = v.period_index("2024").unwrap();
    for (a, row) in rows.iter().enumerate() {
        assert_eq!(row["code"], snap.levels[wk].areas[a].code);
        assert_eq!(row["numerator"].as_f64(), v.numerator[v.index(a, p)]);
        assert_eq!(row["suppressed"].as_str(), v.suppressed[v.index(a, p)].map(|s| s.key()));
        match (row["value"].as_f64(), v.value[v.index(a, p)]) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-12 * y.abs()),
            (x, y) => assert_eq!(x, y),
        }
    }

    let (status, ct, csv) = get(&s, "/indicators/wateroverlast_per_1000_inw?level=gemeente&format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "indicator,level,area_code,area_name,period,numerator,denominator,denominator_period,value,unit,suppressed,converted"
    );
    assert_eq!(lines.len(), 2, "one gemeente, latest period");
    assert!(lines[1].contains(",GM9999,") && lines[1].contains(",2025,"), "{}", lines[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_series_of_one_area() {
    let s = state();
    let (status, _, body) = get(&s, "/indicators/water_in_huis_per_maand?level=gemeenten&area=GM9999").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let series = json["series"].as_array().unwrap();
    assert_eq!(series.len(), 36, "36 months 2023-01..2025-12");
    assert_eq!(series[0]["period"], "2023-01");
    let total: f64 = series.iter().map(|p| p["numerator"].as_f64().unwrap_or(0.0)).sum();
    assert!(total > 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_documents_not_500s() {
    let s = state();
    for (uri, code) in [
        ("/indicators/nope", StatusCode::NOT_FOUND),
        ("/indicators/wateroverlast_km2?level=provincie", StatusCode::BAD_REQUEST),
        ("/indicators/wateroverlast_per_1000_inw?period=1999", StatusCode::BAD_REQUEST),
        ("/indicators/wateroverlast_km2?format=xml", StatusCode::BAD_REQUEST),
        ("/indicators/wateroverlast_km2?area=BU00000000", StatusCode::NOT_FOUND),
        ("/nothing/here", StatusCode::NOT_FOUND),
    ] {
        let (status, ct, body) = get(&s, uri).await;
        assert_eq!(status, code, "{uri}: {body}");
        assert_eq!(ct, "application/problem+json", "{uri}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(!v["detail"].as_str().unwrap().is_empty());
    }
}

#[test]
fn export_writes_a_styled_geopackage_geojson_and_the_shipped_styles() {
    let dir = tempfile::tempdir().unwrap();
    let gpkg = dir.path().join("demo.gpkg");
    let o = common::buurtmeter(&[
        "export",
        "--gpkg",
        gpkg.to_str().unwrap(),
        "--geojson",
        dir.path().join("geojson").to_str().unwrap(),
        "--csv",
        dir.path().join("csv").to_str().unwrap(),
        "--styles",
        dir.path().join("styles").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let rows = common::ogr_sql(
        &gpkg,
        "SELECT f_table_name, styleName, useAsDefault, instr(styleQML, 'graduatedSymbol') > 0 AS graduated FROM layer_styles",
    );
    assert_eq!(rows.len(), 3 * 6, "a style per level and indicator");
    assert!(rows.iter().all(|r| r.iter().any(|(k, v)| k == "graduated" && v == "1")), "{rows:?}");
    let defaults = rows.iter().filter(|r| r.iter().any(|(k, v)| k == "useAsDefault" && v == "1")).count();
    assert_eq!(defaults, 3, "one default style per level");
    let fc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("geojson/buurten.geojson")).unwrap()).unwrap();
    assert_eq!(fc["features"].as_array().unwrap().len(), 68);
    // The styles shipped in styles/ are what the demo project produces.
    for entry in std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("styles")).unwrap() {
        let p = entry.unwrap().path();
        let fresh = std::fs::read_to_string(dir.path().join("styles").join(p.file_name().unwrap())).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), fresh, "{} is stale: run `buurtmeter export --styles styles/`", p.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indicator_csv_for_dutch_excel_has_the_same_values() {
    let s = state();
    let (status, _, plain) = get(&s, "/indicators/leegstand_woningen_pct?level=buurten&format=csv").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, nl) = get(&s, "/indicators/leegstand_woningen_pct?level=buurten&format=csv-nl").await;
    assert_eq!(status, StatusCode::OK);
    let nl = nl.strip_prefix('\u{feff}').expect("a byte order mark for Excel");
    let a: Vec<&str> = plain.lines().collect();
    let b: Vec<&str> = nl.lines().collect();
    assert_eq!(a.len(), b.len());
    let mut decimals = 0;
    for (x, y) in a.iter().zip(&b).skip(1) {
        let xs: Vec<&str> = x.split(',').collect();
        let ys: Vec<&str> = y.split(';').collect();
        assert_eq!(xs.len(), ys.len(), "{x} / {y}");
        for (u, v) in xs.iter().zip(&ys) {
            if u.parse::<f64>().is_ok() && u.contains('.') {
                assert_eq!(v.replace(',', ".").parse::<f64>().unwrap(), u.parse::<f64>().unwrap());
                decimals += 1;
            } else {
                assert_eq!(u, v);
            }
        }
    }
    assert!(decimals > 0, "some values have decimals");
}

// Regressions from the code review (issue 10): each failed on the old code.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_offset_is_an_empty_page_not_an_overflow() {
    let s = state();
    let (status, _, body) = get(&s, "/ogc/collections/buurten/items?offset=18446744073709551615&limit=10").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["numberReturned"], 0);
    assert!(!v["links"].as_array().unwrap().iter().any(|l| l["rel"] == "next"), "no next page past the end: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_datetime_on_an_area_collection_is_a_400() {
    let s = state();
    assert_eq!(get(&s, "/ogc/collections/buurten/items?datetime=2024-13-45").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(&s, "/ogc/collections/buurten/items?datetime=2024-01-01/2024-12-31").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtering_on_a_property_the_first_area_lacks_works() {
    let s = state();
    let snap = s.current();
    // A property some areas have and the first does not (a protected cell's reason, say).
    let first: Vec<&String> = snap.tiles.area_props(0, 0).iter().map(|(k, _)| k).collect();
    let (key, value) = (1..snap.levels[0].areas.len())
        .flat_map(|a| snap.tiles.area_props(0, a).iter())
        .find(|(k, v)| !first.contains(&k) && matches!(v, buurtmeter::tiles::mvt::Prop::Str(_)))
        .map(|(k, v)| (k.clone(), v.to_json().as_str().unwrap().to_string()))
        .expect("the demo has a property missing on its first buurt");
    let level = &snap.levels[0].id;
    let (status, _, body) = get(&s, &format!("/ogc/collections/{level}/items?{key}={value}&f=json")).await;
    assert_eq!(status, StatusCode::OK, "{key}={value}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["numberMatched"].as_u64().unwrap() >= 1, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_in_the_query_are_percent_decoded() {
    use sha2::Digest;
    let text = std::fs::read_to_string(common::demo_project())
        .unwrap()
        .replace("path = \"", &format!("path = \"{}/", common::demo_project().parent().unwrap().display()))
        .replace("access = \"aggregate\"", "access = \"restricted\"");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let snap = buurtmeter::snapshot::build(&Project::load(&path).unwrap()).unwrap();
    let restricted = snap.indicators.iter().find(|i| i.restricted).expect("a restricted indicator").def.id.clone();
    let key = "a+b/c=d&e";
    let hash: String = sha2::Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let opts = buurtmeter::api::ServerOptions { api_key_hashes: vec![hash], ..Default::default() };
    let s = AppState::with_options(snap, opts);
    let encoded: String =
        key.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let (status, _, body) = get(&s, &format!("/indicators/{restricted}?api_key={encoded}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_ignored_unless_trusted() {
    let ask = |s: AppState| async move {
        let req = Request::get("/tiles/buurten")
            .header("host", "kaart.local:8080")
            .header("x-forwarded-host", "evil.example")
            .body(Body::empty())
            .unwrap();
        let res = app(s).oneshot(req).await.unwrap();
        let vary: Vec<String> = res.headers().get_all("vary").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (String::from_utf8(body.to_vec()).unwrap(), vary.join(", "))
    };
    let (body, vary) = ask(state()).await;
    assert!(!body.contains("evil.example") && body.contains("http://kaart.local:8080/tiles/buurten/"), "{body}");
    assert!(vary.contains("Host"), "responses that embed the Host say so: {vary}");
    let project = Project::load(&common::demo_project()).unwrap();
    let opts = buurtmeter::api::ServerOptions { trust_forwarded_headers: true, ..Default::default() };
    let trusted = AppState::with_options(buurtmeter::snapshot::build(&project).unwrap(), opts);
    let (body, vary) = ask(trusted).await;
    assert!(body.contains("http://evil.example/tiles/buurten/"), "{body}");
    assert!(vary.contains("X-Forwarded-Host"), "{vary}");
}

/// Roles: an `exact` key sees the exact counts of a protected layer, a `protected` key
/// the same protected values as the public (and both answers are private).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_and_protected_keys_see_what_their_role_allows() {
    let hash = |k: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(k.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    let project = Project::load(&common::demo_project()).unwrap();
    let snap = buurtmeter::snapshot::build(&project).unwrap();
    let layer = snap.points.iter().find(|p| p.ptable.is_some()).unwrap();
    let ind =
        snap.indicators.iter().find(|i| i.def.numerator.points() == Some(layer.layer.id.as_str()) && !i.def.numerator.weighted()).unwrap();
    let id = ind.def.id.clone();
    let period = ind.per_level[0].periods.last().unwrap().clone();
    let truth = buurtmeter::indicators::evaluate(&ind.def, &layer.layer, &layer.assigned[0], None, &snap.levels, 0).unwrap();
    let p = truth.period_index(&period).unwrap();
    let opts = buurtmeter::api::ServerOptions {
        api_key_hashes: vec![hash("partner"), hash("analist")],
        exact_keys: vec![(hash("analist"), vec![layer.layer.id.clone()])],
        ..Default::default()
    };
    let s = AppState::with_options(snap, opts);
    let level = s.current().levels[0].id.clone();
    let ask = |key: Option<&'static str>| {
        let s = s.clone();
        let uri = format!("/indicators/{id}?level={level}&period={period}");
        async move {
            let mut req = Request::get(uri);
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let res = app(s).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let private = res.headers().get("cache-control").is_some_and(|v| v.to_str().unwrap().contains("private"));
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let n: Vec<Option<f64>> = v["values"].as_array().unwrap().iter().map(|r| r["numerator"].as_f64()).collect();
            (n, private)
        }
    };
    let (public, _) = ask(None).await;
    let (partner, partner_private) = ask(Some("partner")).await;
    let (analist, analist_private) = ask(Some("analist")).await;
    let exact: Vec<Option<f64>> = (0..public.len()).map(|a| truth.numerator[truth.index(a, p)]).collect();
    assert_eq!(partner, public, "a protected key sees the public values");
    assert_eq!(analist, exact, "an exact key sees the true counts");
    assert_ne!(public, exact, "the public values are perturbed");
    assert!(partner_private && analist_private);
}
