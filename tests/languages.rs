//! The interface in Dutch, German and English (issue 22): the language of the map page and
//! the area profile is negotiated from `?lang=` and `Accept-Language` (HTTP, through
//! `app(state).oneshot(..)`), the map shows it in Chromium (`tests/browser/languages.cjs`),
//! and `buurtmeter report --lang de` prints a German profile. On the demo project.

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

/// Status, headers and body of a GET with these request headers.
async fn get(state: &AppState, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app(state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// The `lang` of `<html lang="…">`.
fn html_lang(body: &str) -> &str {
    body.split("<html lang=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_of_a_page_is_negotiated() {
    let s = state();
    let area = "/areas/buurten/BU99990000?f=html";
    for (accept, query, want) in [
        (None, "", "nl"),
        (Some("de-DE,de;q=0.9,en;q=0.8"), "", "de"),
        (Some("de-AT"), "", "de"),
        (Some("en-GB,en;q=0.9"), "", "en"),
        (Some("en;q=0.3,de;q=0.7"), "", "de"),
        (Some("fr-FR,fr;q=0.9,en;q=0.5"), "", "en"),
        (Some("de;q=0,en;q=0.1"), "", "en"),
        (Some("fr-FR,es;q=0.5"), "", "nl"),
        (Some("*"), "", "nl"),
        (Some("de-DE"), "lang=en", "en"),
        (Some("en"), "lang=nl", "nl"),
        (Some("de"), "lang=xx", "de"),
        (None, "lang=de", "de"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept-language", a)).into_iter().collect();
        let what = format!("Accept-Language {accept:?}, ?{query}");
        // The map page.
        let uri = if query.is_empty() { "/".to_string() } else { format!("/?{query}") };
        let (status, h, body) = get(&s, &uri, &headers).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(html_lang(&body), want, "{what}: the map");
        assert_eq!(h["content-language"], want, "{what}");
        assert!(h.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Accept-Language")), "{what}: {h:?}");
        assert!(!body.contains("{{"), "{what}: a placeholder is left");
        // The profile.
        let uri = if query.is_empty() { area.to_string() } else { format!("{area}&{query}") };
        let (status, h, body) = get(&s, &uri, &headers).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(html_lang(&body), want, "{what}: the profile");
        assert_eq!(h["content-language"], want, "{what}");
        assert!(body.contains(&format!("href=\"/?lang={want}#level=buurten&area=BU99990000\"")), "{what}: the link to the map");
    }
    // The words: the map's (filled in by the server) and the profile's, per language.
    for (lang, map_words, profile_words) in [
        ("nl", ["Legenda", "Kleur op", "Alle gebieden (tabel)"], ["gebiedsprofiel", "Vergelijking", "Geheimhouding"]),
        ("de", ["Legende", "Färben nach", "Alle Gebiete (Tabelle)"], ["Gebietsprofil", "Vergleich", "Geheimhaltung"]),
        ("en", ["Legend", "Colour by", "All areas (table)"], ["area profile", "Comparison", "Disclosure control"]),
    ] {
        let (_, _, page) = get(&s, &format!("/?lang={lang}"), &[]).await;
        for w in map_words {
            assert!(page.contains(w), "{lang}: '{w}' not on the map page");
        }
        let (_, _, page) = get(&s, &format!("{area}&lang={lang}"), &[]).await;
        for w in profile_words {
            assert!(page.contains(w), "{lang}: '{w}' not in the profile");
        }
    }
    // Numbers the language's way in the profile: the band edges (-1,5 or -1.5).
    let (_, _, de) = get(&s, &format!("{area}&lang=de"), &[]).await;
    let (_, _, en) = get(&s, &format!("{area}&lang=en"), &[]).await;
    assert!(de.contains("-1,5 / -0,5 / 0,5 / 1,5") && en.contains("-1.5 / -0.5 / 0.5 / 1.5"));
    // The JSON is the same in every language.
    let (_, _, json_de) = get(&s, "/areas/buurten/BU99990000?f=json", &[("accept-language", "de")]).await;
    let (_, _, json_nl) = get(&s, "/areas/buurten/BU99990000?f=json", &[("accept-language", "nl")]).await;
    assert_eq!(json_de, json_nl);
    // The dictionary is served, as a script of this server (the CSP allows no other).
    let (status, h, js) = get(&s, "/static/i18n.js", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.contains("window.buurtmeterI18n") && js.contains("\"Legende\""));
}

/// The demo project with two background maps, one per side of the border, in a temporary
/// folder.
fn basemaps_project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = common::demo_project().parent().unwrap().to_path_buf();
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(data.join("project.toml")).unwrap();
    let basemaps = r#"basemaps = [
  { id = "brt", title = "PDOK BRT-Achtergrondkaart", url = "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png", attribution = "Kadaster" },
  { id = "basemapde", title = "basemap.de", url = "https://sgx.geodatenzentrum.de/wmts_basemapde/tile/1.0.0/de_basemapde_web_raster_farbe/default/GLOBAL_WEBMERCATOR/{z}/{y}/{x}.png", attribution = "© GeoBasis-DE / BKG" },
]
"#;
    let at = text.find("[[levels]]").unwrap();
    let project = dir.path().join("project.toml");
    std::fs::write(&project, format!("{}{basemaps}\n{}", &text[..at], &text[at..])).unwrap();
    (dir, project)
}

/// Two background maps (one per side of the border) and the older single `basemap`: the
/// CSP names every origin, the styles hand the list to the map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basemaps_of_both_sides_are_allowed_and_handed_to_the_map() {
    let (_dir, project) = basemaps_project();
    let p = Project::load(&project).unwrap();
    let s = AppState::new(buurtmeter::snapshot::build(&p).unwrap());
    let (_, h, _) = get(&s, "/", &[]).await;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self' data: blob: https://service.pdok.nl https://sgx.geodatenzentrum.de;"), "{csp}");
    assert!(csp.contains("connect-src 'self' https://service.pdok.nl https://sgx.geodatenzentrum.de;") && !csp.contains('*'), "{csp}");
    let (_, _, style) = get(&s, "/styles/wateroverlast_per_1000_inw.json", &[]).await;
    let style: serde_json::Value = serde_json::from_str(&style).unwrap();
    let list = &style["metadata"]["buurtmeter:basemap"];
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!((list[0]["id"].as_str(), list[1]["title"].as_str()), (Some("brt"), Some("basemap.de")));
    // The demo has none: no basemap origin in the CSP, none in the styles.
    let d = state();
    let (_, h, _) = get(&d, "/", &[]).await;
    assert!(h["content-security-policy"].to_str().unwrap().contains("img-src 'self' data: blob:;"));
}

/// The map and the profile in Chromium, in each language: a German browser gets German,
/// `?lang=en` English, a French one Dutch; the switch keeps the view. No console errors.
#[test]
fn the_map_and_the_profile_speak_the_browsers_language_in_chromium() {
    if !common::require_browser() {
        return;
    }
    let server = common::Server::start(&[]);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages");
    std::fs::create_dir_all(&shots).unwrap();
    let out = std::process::Command::new("node")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/languages.cjs"))
        .arg(&server.base)
        .arg(&shots)
        .arg("/areas/buurten/BU99990000")
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr)));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{r:#}");
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    for (key, lang, legend_title, label, value, no_data, hint) in [
        ("de", "de", "Legende", "Sprache", "Wert", "keine Daten", "Bewegen Sie die Maus"),
        ("en", "en", "Legend", "Language", "value", "no data", "Move over the map"),
        ("switched", "en", "Legend", "Language", "value", "no data", "Move over the map"),
        ("nl", "nl", "Legenda", "Taal", "waarde", "geen gegevens", "Beweeg over de kaart"),
    ] {
        let m = &r[key];
        assert_eq!((s(&m["lang"]), s(&m["scriptLang"]), s(&m["langValue"])), (lang.into(), lang.into(), lang.into()), "{key}: {m:#}");
        assert_eq!(s(&m["legendTitle"]), legend_title, "{key}: {m:#}");
        assert_eq!(s(&m["langLabel"]), label, "{key}: {m:#}");
        assert_eq!(s(&m["modes"][0]), value, "{key}: {m:#}");
        assert!(s(&m["legend"]).contains(no_data), "{key}: the legend is not in {lang}: {m:#}");
        assert!(s(&m["info"]).contains(hint) || key == "de", "{key}: {m:#}");
        assert!(m["features"].as_u64().unwrap_or(0) > 10, "{key}: the map drew nothing: {m:#}");
        // The demo has no background map: no chooser.
        assert_eq!(m["basemapVisible"], false, "{key}: {m:#}");
    }
    // Numbers the language's way: the demo's first legend class has decimals (0,7 / 0.7).
    assert!(s(&r["de"]["legend"]).contains(','), "{:#}", r["de"]);
    assert!(s(&r["en"]["legend"]).contains('.') && !s(&r["en"]["legend"]).contains(','), "{:#}", r["en"]);
    // The details of a hovered area, in German.
    let hover = s(&r["de"]["hoverInfo"]);
    assert!(hover.contains("Zähler:") && hover.contains("Gebietsprofil"), "{hover}");
    // The switch: ?lang=en in the address, the view (hash) kept.
    assert_eq!(s(&r["switched"]["search"]), "?lang=en");
    assert_eq!(r["switched"]["hash"], r["switched"]["hashBefore"]);
    assert!(s(&r["switched"]["hash"]).contains("indicator="), "{:#}", r["switched"]);
    // The profile.
    for (key, lang, words) in [
        ("profileDe", "de", ["Gebietsprofil", "Vergleich", "Rang"]),
        ("profileEn", "en", ["area profile", "Comparison", "Rank"]),
        ("profileNl", "nl", ["gebiedsprofiel", "Vergelijking", "Rang"]),
    ] {
        let p = &r[key];
        assert_eq!(s(&p["lang"]), lang, "{key}: {p:#}");
        assert!(s(&p["title"]).ends_with(words[0]), "{key}: {p:#}");
        let heads: Vec<String> = p["heads"].as_array().unwrap().iter().map(s).collect();
        assert!(heads.contains(&words[1].to_string()) && heads.contains(&words[2].to_string()), "{key}: {heads:?}");
        assert_eq!(s(&p["mapLink"]), format!("/?lang={lang}#level=buurten&area=BU99990000"), "{key}");
        assert!(p["charts"].as_u64().unwrap_or(0) > 0, "{key}: no chart drawn: {p:#}");
    }
    // With two background maps (unreachable here: the tests run offline): the chooser
    // offers both and none, and the map works without them.
    let (_dir, project) = basemaps_project();
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);
    let out = std::process::Command::new("node")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/languages.cjs"))
        .arg(&server.base)
        .arg(&shots)
        .arg("/areas/buurten/BU99990000")
        .env("BASEMAP_HOST", "service.pdok.nl,sgx.geodatenzentrum.de")
        .env("ONLY_MAP", "1")
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("no output: {}", String::from_utf8_lossy(&out.stderr)));
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{r:#}");
    assert_eq!(r["de"]["basemapVisible"], true, "{r:#}");
    assert_eq!(r["de"]["basemapOptions"], serde_json::json!(["none", "brt", "basemapde"]), "{r:#}");
    assert!(r["de"]["features"].as_u64().unwrap_or(0) > 10, "{r:#}");
    eprintln!("screenshots: {}", shots.display());
}

/// `buurtmeter report --lang de`: the printed profile in German.
#[test]
fn the_printed_profile_is_in_the_language_asked_for() {
    let here = std::path::Path::new("/usr/bin/chromium").exists() && std::path::Path::new("/usr/bin/pdftotext").exists();
    if !common::require_program(here, "Chromium or pdftotext (poppler-utils)", "BUURTMETER_SKIP_BROWSER") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = common::demo_project();
    let text = |lang: &str| {
        let pdf = dir.path().join(format!("profil-{lang}.pdf"));
        let run = common::buurtmeter(&[
            "report",
            "--project",
            project.to_str().unwrap(),
            "--level",
            "buurten",
            "--area",
            "BU99990000",
            "--lang",
            lang,
            "--out",
            pdf.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", common::stderr(&run));
        let out = std::process::Command::new("pdftotext").args(["-layout"]).arg(&pdf).arg("-").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let de = text("de");
    for needle in ["Gebietsprofil", "Elzenhoek", "Definitionen und Quellen", "Geheimhaltung", "Leegstaande woningen"] {
        assert!(de.contains(needle), "'{needle}' not in the German PDF:\n{de}");
    }
    assert!(!de.contains("Geheimhouding"), "Dutch words in the German PDF:\n{de}");
    let en = text("en");
    assert!(en.contains("area profile") && en.contains("Disclosure control"), "{en}");
    let bad = common::buurtmeter(&[
        "report",
        "--project",
        project.to_str().unwrap(),
        "--level",
        "buurten",
        "--area",
        "BU99990000",
        "--lang",
        "fr",
        "--out",
        "x.pdf",
    ]);
    assert!(!bad.status.success() && common::stderr(&bad).contains("--lang"), "{}", common::stderr(&bad));
}
