//! `/openapi.json`: a valid OpenAPI document (openapi-spec-validator), and every response
//! of every GET path it documents, asked of the demo with real ids, levels, periods and
//! area codes, valid against the schema it gives for that status and media type
//! (openapi-schema-validator; both from tests/reference/requirements.txt, run by
//! tests/reference/validate_openapi.py).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, reference_python};
use serde_json::{Value, json};

/// A response: (status, media type, body).
fn fetch(server: &Server, path: &str) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code} %{content_type}", &format!("{}{path}", server.base)])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, meta) = text.rsplit_once('\n').unwrap_or(("", "0 "));
    let (status, content_type) = meta.split_once(' ').unwrap_or((meta, ""));
    (status.parse().unwrap_or(0), content_type.to_string(), body.to_string())
}

fn json(server: &Server, path: &str) -> Value {
    let (status, _, body) = fetch(server, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"))
}

/// What the validator found.
struct Report {
    spec_errors: Vec<String>,
    validated: usize,
    failures: Vec<Value>,
}

/// Run tests/reference/validate_openapi.py on the document and the cases
/// (path template, status, media type, body), the bodies written into `dir`.
fn validate(dir: &Path, spec: &str, cases: &[(String, u16, String, String)]) -> Report {
    let spec_file = dir.join("openapi.json");
    std::fs::write(&spec_file, spec).unwrap();
    let listed: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (path, status, content_type, body))| {
            let file = dir.join(format!("body-{i}"));
            std::fs::write(&file, body).unwrap();
            json!({"path": path, "status": status, "content_type": content_type, "body": file})
        })
        .collect();
    let cases_file = dir.join("cases.json");
    std::fs::write(&cases_file, serde_json::to_string(&listed).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/validate_openapi.py");
    let out = Command::new(reference_python()).arg(script).arg(&spec_file).arg(&cases_file).output().expect("run the reference Python");
    assert!(out.status.success(), "validate_openapi.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("validate_openapi.py printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    Report {
        spec_errors: r["spec_errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap_or("").to_string()).collect(),
        validated: r["validated"].as_u64().unwrap() as usize,
        failures: r["failures"].as_array().unwrap().clone(),
    }
}

fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn the_openapi_document_is_valid_and_linked_from_the_ogc_landing_page() {
    let server = Server::start(&[]);
    let (status, content_type, spec) = fetch(&server, "/openapi.json");
    assert_eq!(status, 200, "{spec}");
    assert_eq!(content_type, "application/vnd.oai.openapi+json;version=3.1");
    let doc: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let (_dir, dir) = temp_dir();
    let report = validate(&dir, &spec, &[]);
    assert!(report.spec_errors.is_empty(), "openapi-spec-validator: {:?}", report.spec_errors);

    // A broken document is caught: a response that refers to a schema that is not there.
    let mut broken = doc.clone();
    broken["paths"]["/indicators"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/NoSuchSchema"});
    let report = validate(&dir, &broken.to_string(), &[]);
    assert!(!report.spec_errors.is_empty(), "a dangling $ref passed openapi-spec-validator");

    // The OGC API landing page names both documents as service descriptions.
    let landing = json(&server, "/ogc?f=json");
    let descs: Vec<&Value> = landing["links"].as_array().unwrap().iter().filter(|l| l["rel"] == "service-desc").collect();
    let ours = descs.iter().find(|l| l["href"].as_str().is_some_and(|h| h.ends_with("/openapi.json"))).expect("no link to /openapi.json");
    assert_eq!(ours["type"], "application/vnd.oai.openapi+json;version=3.1");
    let href = ours["href"].as_str().unwrap();
    assert_eq!(href, format!("{}/openapi.json", server.base));
    assert!(
        descs.iter().any(|l| l["href"].as_str().is_some_and(|h| h.ends_with("/ogc/api"))),
        "the OGC API's own document is no longer linked"
    );
}

#[test]
fn every_documented_get_answers_as_the_document_says() {
    let server = Server::start(&[]);
    let (_, _, spec) = fetch(&server, "/openapi.json");
    let doc: Value = serde_json::from_str(&spec).unwrap();
    let documented: BTreeSet<String> =
        doc["paths"].as_object().unwrap().iter().filter(|(_, item)| item["get"].is_object()).map(|(p, _)| p.clone()).collect();

    // Real ids, levels, periods and area codes, from the API itself.
    let list = json(&server, "/indicators");
    let indicators = list["indicators"].as_array().unwrap();
    assert!(indicators.len() >= 3, "{list}");
    let levels: Vec<String> =
        indicators[0]["levels"].as_array().unwrap().iter().map(|l| l["level"].as_str().unwrap().to_string()).collect();
    let codes: Vec<(String, String)> = levels
        .iter()
        .map(|l| {
            let v = json(&server, &format!("/indicators/{}?level={l}", indicators[0]["id"].as_str().unwrap()));
            (l.clone(), v["values"][0]["code"].as_str().unwrap().to_string())
        })
        .collect();
    // One with four periods or more, for trends and emerging hot spots.
    let long = indicators.iter().find(|i| i["periods"].as_array().unwrap().len() >= 4).expect("an indicator with 4+ periods");
    let long = long["id"].as_str().unwrap();
    let rate = indicators.iter().find(|i| !i["definition"]["denominator"].is_null()).expect("a rate")["id"].as_str().unwrap();

    let mut asked: Vec<(&str, String)> = vec![("/indicators", "/indicators".into())];
    for ind in indicators {
        let id = ind["id"].as_str().unwrap();
        let first_period = ind["periods"][0].as_str().unwrap_or("latest");
        for (level, code) in &codes {
            asked.push(("/indicators/{id}", format!("/indicators/{id}?level={level}")));
            asked.push(("/indicators/{id}", format!("/indicators/{id}?level={level}&area={code}")));
            asked.push(("/indicators/{id}/trends", format!("/indicators/{id}/trends?level={level}")));
        }
        asked.push(("/indicators/{id}", format!("/indicators/{id}?period={first_period}&format=csv")));
    }
    let (buurten, buurt) = &codes[0];
    asked.extend([
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?level={buurten}")),
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?level={buurten}&method=gi_star&weights=rook&fdr=true")),
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?level={buurten}&eb=true")),
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?level={buurten}&method=gi&weights=knn&k=4&permutations=99")),
        ("/indicators/{id}/hotspots", format!("/indicators/{long}/hotspots?level={buurten}&method=emerging&permutations=99")),
        ("/indicators/{id}/trends", format!("/indicators/{long}/trends?level={buurten}&back=2")),
        ("/weights/{level}", format!("/weights/{buurten}?type=knn&k=4")),
        ("/weights/{level}", format!("/weights/{buurten}?type=distance&threshold=1000")),
        ("/weights/{level}", format!("/weights/{buurten}?format=gal")),
        ("/areas/{level}/{code}", format!("/areas/{buurten}/{buurt}?f=html")),
        // A period no indicator has: every indicator is an entry without a period.
        ("/areas/{level}/{code}", format!("/areas/{buurten}/{buurt}?f=json&period=1900")),
        // Errors are problem documents.
        ("/indicators/{id}", "/indicators/no_such_indicator".into()),
        ("/indicators/{id}", format!("/indicators/{rate}?level=no_such_level")),
        ("/indicators/{id}", format!("/indicators/{rate}?period=1900")),
        ("/indicators/{id}", format!("/indicators/{rate}?level={buurten}&area=XX0000")),
        ("/indicators/{id}/trends", format!("/indicators/{rate}/trends?back=0")),
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?method=no_such_method")),
        ("/indicators/{id}/hotspots", format!("/indicators/{rate}/hotspots?permutations=100000")),
        ("/weights/{level}", "/weights/no_such_level".into()),
        ("/weights/{level}", format!("/weights/{buurten}?type=knn&k=500")),
        ("/areas/{level}/{code}", format!("/areas/{buurten}/XX0000")),
        ("/areas/{level}/{code}", format!("/areas/{buurten}/{buurt}?f=pdf")),
        ("/indicators", "/indicators?api_key=not-a-key".into()),
    ]);
    for (level, code) in &codes {
        asked.push(("/weights/{level}", format!("/weights/{level}")));
        asked.push(("/areas/{level}/{code}", format!("/areas/{level}/{code}?f=json")));
        asked.push((
            "/areas/{level}/{code}",
            format!("/areas/{level}/{code}?f=json&period={}", indicators[0]["periods"][0].as_str().unwrap()),
        ));
    }

    // Every documented path is asked, and nothing else.
    let templates: BTreeSet<String> = asked.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(templates, documented, "the paths this test asks and the paths the document describes differ");

    let mut cases = Vec::new();
    let mut statuses = BTreeSet::new();
    for (template, path) in &asked {
        let (status, content_type, body) = fetch(&server, path);
        assert!(status != 0 && status < 500, "{path}: {status} {body}");
        statuses.insert(status);
        cases.push((template.to_string(), status, content_type, body));
    }
    assert!(statuses.is_superset(&BTreeSet::from([200, 400, 403, 404])), "{statuses:?}");

    let (_dir, dir) = temp_dir();
    let report = validate(&dir, &spec, &cases);
    assert!(report.spec_errors.is_empty(), "{:?}", report.spec_errors);
    let failed: Vec<String> = report
        .failures
        .iter()
        .map(|f| format!("{} ({}): {}", asked[f["case"].as_u64().unwrap() as usize].1, f["status"], f["error"]))
        .collect();
    assert!(failed.is_empty(), "responses that do not match the document:\n{}", failed.join("\n"));
    assert_eq!(report.validated, cases.len());
    assert!(report.validated > 5, "only {} responses validated", report.validated);

    // The check can fail: wrong bodies, and a status or media type the document does not give.
    let list_body = cases[0].3.clone();
    let mut wrong_type: Value = serde_json::from_str(&list_body).unwrap();
    wrong_type["indicators"][0]["id"] = json!(17);
    let mut missing: Value = serde_json::from_str(&list_body).unwrap();
    missing["indicators"][0].as_object_mut().unwrap().remove("levels");
    let mut bad_trend: Value = serde_json::from_str(&cases.iter().find(|c| c.0 == "/indicators/{id}/trends").unwrap().3).unwrap();
    bad_trend["trends"][0]["status"] = json!("maybe");
    let wrong = vec![
        ("/indicators".to_string(), 200, "application/json".to_string(), wrong_type.to_string()),
        ("/indicators".to_string(), 200, "application/json".to_string(), missing.to_string()),
        ("/indicators/{id}/trends".to_string(), 200, "application/json".to_string(), bad_trend.to_string()),
        ("/indicators".to_string(), 418, "application/json".to_string(), list_body.clone()),
        ("/indicators".to_string(), 200, "text/csv".to_string(), list_body.clone()),
        ("/indicators".to_string(), 404, "application/problem+json".to_string(), list_body),
    ];
    let report = validate(&dir, &spec, &wrong);
    assert_eq!(report.validated, 0, "a wrong body passed: {:?}", report.failures);
    assert_eq!(report.failures.len(), wrong.len(), "{:?}", report.failures);
}
