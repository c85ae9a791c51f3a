//! Area profiles, on the demo and on every real example: every value equals the
//! indicator API's, the deviation bands and ranks recomputed here from the API's values,
//! protected values stay protected, and the printed PDF is a real A4 document.

mod common;

use std::path::{Path, PathBuf};

use common::Server;
use serde_json::Value;

/// The demo and every example project (with the temporary folder of each copy).
fn projects() -> Vec<(String, PathBuf, Option<tempfile::TempDir>)> {
    let mut out = vec![("demo".to_string(), common::demo_project(), None)];
    for name in ["heerlen", "rijnmond"] {
        if common::shared_data("heerlen_buurten_2023").is_none() {
            continue;
        }
        let (dir, path) = common::example_copy(name, |t| t);
        out.push((name.to_string(), path, Some(dir)));
    }
    out
}

fn get(server: &Server, path: &str) -> Value {
    let (status, body) = server.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The band of `z` with the documented edges, written out again here.
fn band(z: f64) -> &'static str {
    if z < -1.5 {
        "well_below"
    } else if z < -0.5 {
        "below"
    } else if z <= 0.5 {
        "about"
    } else if z <= 1.5 {
        "above"
    } else {
        "well_above"
    }
}

#[test]
fn profiles_equal_the_indicator_api_and_their_comparisons_recompute() {
    for (name, project, _dir) in projects() {
        let server = Server::start(&["--project", project.to_str().unwrap()]);
        let list = get(&server, "/indicators");
        // Public endpoints name source files, never the server's folders.
        let folder = project.parent().unwrap().parent().unwrap().display().to_string();
        assert!(!list.to_string().contains(&folder), "{name}: a server path in /indicators");
        let levels: Vec<String> =
            list["indicators"][0]["levels"].as_array().unwrap().iter().map(|l| l["level"].as_str().unwrap().to_string()).collect();
        let mut checked = 0;
        for level in &levels {
            // Every indicator's values at this level, as the API gives them (its latest period).
            let mut api = std::collections::BTreeMap::new();
            for ind in list["indicators"].as_array().unwrap() {
                let id = ind["id"].as_str().unwrap();
                api.insert(id.to_string(), get(&server, &format!("/indicators/{id}?level={level}")));
            }
            let first = api.values().next().unwrap()["values"].as_array().unwrap().clone();
            // The first few areas and the last of the level.
            let picks: Vec<usize> = (0..first.len()).filter(|&i| i < 4 || i + 1 == first.len()).collect();
            for i in picks {
                let code = first[i]["code"].as_str().unwrap();
                let profile = get(&server, &format!("/areas/{level}/{code}?f=json"));
                assert_eq!(profile["area"]["code"], code);
                for entry in profile["indicators"].as_array().unwrap() {
                    let id = entry["id"].as_str().unwrap();
                    let values = api[id]["values"].as_array().unwrap();
                    let row = values.iter().find(|r| r["code"] == code).unwrap();
                    assert_eq!(entry["period"], api[id]["period"], "{name} {level} {code} {id}");
                    for k in ["value", "numerator", "denominator", "suppressed"] {
                        assert_eq!(entry[k], row[k], "{name} {level} {code} {id} {k}");
                    }
                    // Parents: their own rows at their own levels.
                    for p in entry["parents"].as_array().unwrap() {
                        let pl = p["level"].as_str().unwrap();
                        let prow = get(&server, &format!("/indicators/{id}?level={pl}"))["values"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|r| r["code"] == p["code"])
                            .cloned()
                            .unwrap();
                        assert_eq!(p["value"], prow["value"], "{name} {code} {id} parent {pl}");
                    }
                    // The reference, z, band and rank from the API's published values.
                    let published: Vec<(f64, f64, &str)> = values
                        .iter()
                        .filter_map(|r| {
                            let x = r["value"].as_f64()?;
                            let w = r["denominator"].as_f64().filter(|d| *d > 0.0).unwrap_or(1.0);
                            Some((x, w, r["code"].as_str().unwrap()))
                        })
                        .collect();
                    let total: f64 = published.iter().map(|p| p.1).sum();
                    if published.is_empty() {
                        assert!(entry["level_reference"].is_null());
                        continue;
                    }
                    let mean = published.iter().map(|p| p.0 * p.1).sum::<f64>() / total;
                    let sd = (published.iter().map(|p| p.1 * (p.0 - mean).powi(2)).sum::<f64>() / total).sqrt();
                    let r = &entry["level_reference"];
                    assert!((r["value"].as_f64().unwrap() - mean).abs() <= 1e-9 * mean.abs().max(1.0), "{name} {code} {id}");
                    assert_eq!(r["areas"].as_u64(), Some(published.len() as u64));
                    match row["value"].as_f64() {
                        Some(x) if sd > 0.0 => {
                            let z = (x - mean) / sd;
                            assert!((entry["z"].as_f64().unwrap() - z).abs() < 1e-9, "{name} {code} {id}");
                            assert_eq!(entry["band"], band(z), "{name} {code} {id} z {z}");
                            let rank = 1 + published.iter().filter(|p| p.0 > x).count();
                            assert_eq!(entry["rank"]["rank"].as_u64(), Some(rank as u64), "{name} {code} {id}");
                            assert_eq!(entry["rank"]["of"].as_u64(), Some(published.len() as u64));
                        }
                        Some(_) => assert!(entry["z"].is_null()),
                        None => {
                            // Protected or missing: no comparison that could hint at it.
                            assert!(entry["z"].is_null() && entry["band"].is_null() && entry["rank"].is_null(), "{entry}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{name}: only {checked} profile entries checked");
        // The page for people.
        let code = get(&server, &format!("/indicators/{}?level={}", list["indicators"][0]["id"].as_str().unwrap(), levels[0]))["values"][0]
            ["code"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, html) = server.get(&format!("/areas/{}/{code}?f=html", levels[0]));
        assert_eq!(status, 200);
        assert!(html.contains("gebiedsprofiel") && html.contains(&code) && html.contains("<svg class=\"map\""), "{name}");
        let (status, _) = server.get(&format!("/areas/{}/NOPE", levels[0]));
        assert_eq!(status, 404);
        eprintln!("{name}: {checked} profile entries equal the indicator API");
    }
}

/// `buurtmeter report` prints a profile a council can be handed: an A4 PDF with the area's
/// name and every indicator in its text, and ink on the page (rasterised with pdftoppm).
#[test]
fn the_printed_profile_is_an_a4_pdf_with_the_area_and_its_indicators() {
    let here = Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/pdftoppm").exists();
    if !common::require_program(here, "Chromium or pdftoppm (poppler-utils)", "BUURTMETER_SKIP_BROWSER") {
        return;
    }
    let Some(_) = common::shared_data("heerlen_buurten_2023") else { return };
    let (dir, project) = common::example_copy("heerlen", |t| t);
    let pdf = dir.path().join("profiel.pdf");
    let run = common::buurtmeter(&[
        "report",
        "--project",
        project.to_str().unwrap(),
        "--level",
        "buurten",
        "--area",
        "BU09171000",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", common::stderr(&run));
    let info = String::from_utf8(std::process::Command::new("pdfinfo").arg(&pdf).output().unwrap().stdout).unwrap();
    assert!(info.contains("(A4)"), "{info}");
    let pages: usize = info.lines().find(|l| l.starts_with("Pages:")).unwrap().split_whitespace().last().unwrap().parse().unwrap();
    assert!((1..=3).contains(&pages), "{pages} pages");
    let text =
        String::from_utf8(std::process::Command::new("pdftotext").args(["-layout"]).arg(&pdf).arg("-").output().unwrap().stdout).unwrap();
    for needle in [
        "Maria Gewanden",
        "BU09171000",
        "Wijk 10 Maria Gewanden en Terschuren",
        "Bijstandsuitkeringen",
        "Onbewoonde woningen",
        "Geheimhouding",
    ] {
        assert!(text.contains(needle), "'{needle}' not in the PDF:\n{text}");
    }
    let png = dir.path().join("page");
    let ok = std::process::Command::new("pdftoppm").args(["-r", "50", "-png", "-f", "1", "-l", "1"]).arg(&pdf).arg(&png).status().unwrap();
    assert!(ok.success());
    let page =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "png")).unwrap();
    assert!(std::fs::metadata(&page).unwrap().len() > 10_000, "an almost empty page");
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("profiel-heerlen-BU09171000.pdf");
    std::fs::copy(&pdf, &kept).unwrap();
    eprintln!("profile printed: {}", kept.display());
}

/// Custom groups: a group's count is the sum of its members' counts (a public layer, so
/// exact), its denominator the sum of theirs, its rate their quotient (never an average of
/// rates); it is an OGC collection and a tileset, and a member's profile compares with it.
#[test]
fn groups_aggregate_their_members_and_are_served_like_areas() {
    let data = common::demo_project().parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::demo_project()).unwrap().replace("path = \"", &format!("path = \"{}/", data.display()));
    let groups = "\n[[groups]]\nid = \"noord\"\ntitle = \"Demodorp-Noord\"\nlevel = \"wijken\"\nmembers = [\"WK999900\", \"WK999901\", \"WK999902\"]\n";
    let project = dir.path().join("project.toml");
    std::fs::write(&project, text + groups).unwrap();
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let members = ["WK999900", "WK999901", "WK999902"];
    for period in ["2023", "2024", "2025"] {
        let g = get(&server, &format!("/indicators/leegstand_woningen_pct?level=groepen_wijken&period={period}"));
        let w = get(&server, &format!("/indicators/leegstand_woningen_pct?level=wijken&period={period}"));
        let row = &g["values"][0];
        assert_eq!(row["code"], "noord");
        let of = |k: &str| -> f64 {
            w["values"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| members.contains(&r["code"].as_str().unwrap()))
                .map(|r| r[k].as_f64().unwrap())
                .sum()
        };
        assert_eq!(row["numerator"].as_f64(), Some(of("numerator")), "{period}");
        assert_eq!(row["denominator"].as_f64(), Some(of("denominator")), "{period}");
        let rate = of("numerator") / of("denominator") * 100.0;
        assert!((row["value"].as_f64().unwrap() - rate).abs() < 1e-9, "{period}: the group's rate is Σ numerators / Σ denominators");
    }
    let (status, item) = server.get("/ogc/collections/groepen_wijken/items/noord?f=json");
    assert_eq!(status, 200, "{item}");
    assert!(item.contains("Demodorp-Noord"));
    let (status, _) = server.get("/tiles/groepen_wijken");
    assert_eq!(status, 200);
    let profile = get(&server, "/areas/wijken/WK999901?f=json");
    let entry = profile["indicators"].as_array().unwrap().iter().find(|e| e["id"] == "leegstand_woningen_pct").unwrap();
    assert_eq!(entry["groups"][0]["code"], "noord", "{entry}");
    // A group of the web map's own levels would hide the gemeenten: groups are not on the
    // zoom ladder of the styles.
    let style = get(&server, "/styles/leegstand_woningen_pct.json");
    let legend: Vec<&str> =
        style["metadata"]["buurtmeter:legend"].as_array().unwrap().iter().map(|l| l["level"].as_str().unwrap()).collect();
    assert!(!legend.contains(&"groepen_wijken") && legend.contains(&"gemeenten"), "{legend:?}");
    // Groups that share a member are an error that names both.
    std::fs::write(
        &project,
        std::fs::read_to_string(&project).unwrap() + "\n[[groups]]\nid = \"dubbel\"\nlevel = \"wijken\"\nmembers = [\"WK999902\"]\n",
    )
    .unwrap();
    let check = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
    let err = common::stderr(&check);
    assert!(!check.status.success() && err.contains("'noord' and 'dubbel' share WK999902"), "{err}");
}

/// `band_edges` in the project file sets the deviation bands.
#[test]
fn band_edges_are_configurable() {
    let data = common::demo_project().parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::demo_project()).unwrap().replace("path = \"", &format!("path = \"{}/", data.display()));
    let project = dir.path().join("project.toml");
    std::fs::write(&project, format!("band_edges = [-0.2, -0.1, 0.1, 0.2]\n{text}")).unwrap();
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    let p = get(&server, "/areas/buurten/BU99990000?f=json");
    assert_eq!(p["comparison"]["band_edges_z"], serde_json::json!([-0.2, -0.1, 0.1, 0.2]));
    let mut seen = 0;
    for e in p["indicators"].as_array().unwrap() {
        let Some(z) = e["z"].as_f64() else { continue };
        let want = if z < -0.2 {
            "well_below"
        } else if z < -0.1 {
            "below"
        } else if z <= 0.1 {
            "about"
        } else if z <= 0.2 {
            "above"
        } else {
            "well_above"
        };
        assert_eq!(e["band"], want, "{e}");
        seen += 1;
    }
    assert!(seen > 0);
    std::fs::write(&project, format!("band_edges = [0.5, -0.5, 0.5, 1.5]\n{text}")).unwrap();
    let check = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
    assert!(!check.status.success() && common::stderr(&check).contains("four increasing z-scores"), "{}", common::stderr(&check));
}
