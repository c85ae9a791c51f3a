//! Releases (`release = "month"`): the reload attack. A watcher who keeps every public
//! response and compares them after the register changed learns where and when a new
//! record was made, unless the public values change only at release points. Between
//! releases, records added to the file (one in the open month, one backdated into a
//! released month) change no public byte; at the next release the open month's record
//! shows and the backdated one never does. Without `release`, the same edit changes the
//! public responses: the comparison can see it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

const SECRET: (&str, &str) = ("BUURTMETER_SDC_SECRET", "release-test-secret");

/// The demo in `dir`, its flood reports published at release points (or live).
fn project(dir: &Path, release: bool) -> PathBuf {
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["demodorp.gpkg", "kerncijfers_demodorp.csv", "wateroverlast_demodorp.csv", "leegstand_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(demo_project()).unwrap();
    let marker = "access = \"aggregate\"\nmin_count = 3\n";
    assert!(text.contains(marker), "the demo's flood layer is protected");
    // Releases are the default for an aggregate layer with min_count: "live" opts out.
    let text = if release { text } else { text.replacen(marker, &format!("{marker}release = \"live\"\n"), 1) };
    let p = dir.join("project.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn add_reports(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("wateroverlast_demodorp.csv")).unwrap();
    // One in the month still open at the first release, one backdated into a released month.
    writeln!(f, "WO-90001,2026-01-10T09:00:00,water in kelder,50.8602149,5.7867504").unwrap();
    writeln!(f, "WO-90002,2025-11-10T09:00:00,water in kelder,50.8602149,5.7867504").unwrap();
}

/// Every public response about the project: what a watcher keeps.
fn public_responses(project: &Path, today: &str) -> BTreeMap<String, Vec<u8>> {
    let server = Server::start_with_env(
        &["--project", project.to_str().unwrap(), "--watch-seconds", "0"],
        &[SECRET, ("BUURTMETER_RELEASE_DATE", today)],
    );
    let get = |path: &str| -> (u16, Vec<u8>) { http_get(&server.base, path).unwrap() };
    let mut out = BTreeMap::new();
    let mut keep = |path: String| {
        let (status, body) = get(&path);
        // Each server has its own port: links name it.
        let body = match String::from_utf8(body) {
            Ok(text) => text.replace(&server.base, "http://server").into_bytes(),
            Err(e) => e.into_bytes(),
        };
        let mut v = status.to_string().into_bytes();
        v.push(b'\n');
        v.extend(body);
        out.insert(path, v);
    };
    for path in ["/health", "/indicators", "/tiles/wateroverlast", "/ogc/collections", "/areas/buurten"] {
        keep(path.to_string());
    }
    let (_, list) = get("/indicators");
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    for ind in list["indicators"].as_array().unwrap() {
        let id = ind["id"].as_str().unwrap();
        let periods: Vec<String> = ind["periods"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
        for level in ["buurten", "wijken", "gemeenten"] {
            keep(format!("/indicators/{id}?level={level}"));
            for p in &periods {
                keep(format!("/indicators/{id}?level={level}&period={p}&format=csv"));
            }
        }
    }
    let (_, tj) = get("/tiles/wateroverlast");
    let tj: serde_json::Value = serde_json::from_slice(&tj).unwrap();
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let maxzoom = tj["maxzoom"].as_u64().unwrap() as u8;
    for z in maxzoom.saturating_sub(3)..=maxzoom {
        let (x0, y0) = lonlat_to_tile(b[0], b[3], z);
        let (x1, y1) = lonlat_to_tile(b[2], b[1], z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                keep(format!("/tiles/wateroverlast/{z}/{x}/{y}.mvt"));
            }
        }
    }
    out
}

fn differing(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

#[test]
fn a_record_added_between_releases_changes_no_public_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), true);
    let before = public_responses(&p, "2026-01-15");
    assert!(before.len() > 100, "{} responses kept", before.len());
    assert!(dir.path().join(".buurtmeter/releases/wateroverlast.tsv").exists(), "the release is kept next to the project");
    add_reports(dir.path());
    // A reload later in the same month: the file has two more reports; nothing public moves.
    let after = public_responses(&p, "2026-01-28");
    let changed = differing(&before, &after);
    assert!(changed.is_empty(), "public responses changed between releases: {changed:?}");

    // The next month's release: January is closed and its report shows; the report
    // backdated into the released November never does.
    let next = public_responses(&p, "2026-02-03");
    let changed = differing(&before, &next);
    assert!(!changed.is_empty(), "the new release shows the closed month");
    let year = |p: &str| format!("/indicators/wateroverlast_per_1000_inw?level=buurten&period={p}&format=csv");
    assert_eq!(before[&year("2025")], next[&year("2025")], "a released year is frozen");
    assert!(!before.contains_key(&year("2026")) && next.contains_key(&year("2026")), "January 2026 is published at February's release");
}

#[test]
fn without_releases_the_same_edit_shows_in_public_responses() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), false);
    let before = public_responses(&p, "2026-01-15");
    add_reports(dir.path());
    let after = public_responses(&p, "2026-01-28");
    let changed = differing(&before, &after);
    assert!(!changed.is_empty(), "a live layer's responses change when a record is added");
    eprintln!("live: {} of {} public responses changed after two reports were added", changed.len(), before.len());
}

#[test]
fn release_needs_a_protected_layer() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(dir.path(), false);
    let text = std::fs::read_to_string(&p).unwrap().replacen("id = \"leegstand\"\n", "id = \"leegstand\"\nrelease = \"month\"\n", 1);
    std::fs::write(&p, text).unwrap();
    let out = buurtmeter(&["check", "--project", p.to_str().unwrap()]);
    let e = stderr(&out);
    assert!(!out.status.success() && e.contains("point layer 'leegstand': release is for protected layers"), "{e}");
}
