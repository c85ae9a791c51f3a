//! Hot reload under load: an input file changes while clients hammer tiles, items and
//! indicators; the new data version appears, and not one request fails. Then a broken
//! file: the server keeps serving the old snapshot and says why on /health.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// /health as the operator sees it (with the admin token: reload status and errors).
fn health(server: &Server) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "-H", "Authorization: Bearer ops-token", &format!("{}/health", server.base)])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn reload_under_load_loses_no_request_and_a_broken_file_never_takes_the_server_down() {
    // A private copy of the demo project to change.
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["project.toml", "demodorp.gpkg", "kerncijfers_demodorp.csv", "leegstand_demodorp.csv", "wateroverlast_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let project = dir.path().join("project.toml");
    let server = Server::start_with_env(
        &["--project", project.to_str().unwrap(), "--watch-seconds", "0.3"],
        &[("BUURTMETER_ADMIN_TOKEN", "ops-token")],
    );
    let h0 = health(&server);
    let v0 = h0["data_version"].as_str().unwrap().to_string();
    let lee0 = h0["points"].as_array().unwrap().iter().find(|p| p["id"] == "leegstand").unwrap()["rows"].as_u64().unwrap();

    // Load: 4 clients for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let paths = [
        "/tiles/buurten/12/2114/1373.mvt",
        "/tiles/wijken/11/1057/686.mvt",
        "/ogc/collections/buurten/items?limit=20",
        "/indicators/wateroverlast_per_1000_inw?level=wijk",
        "/indicators",
    ];
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, ok, failed, base) = (stop.clone(), ok.clone(), failed.clone(), server.base.clone());
            std::thread::spawn(move || {
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    match http_get(&base, paths[i % paths.len()]) {
                        Ok((200 | 204, _)) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok((code, body)) => {
                            eprintln!("{} -> {code}: {}", paths[i % paths.len()], String::from_utf8_lossy(&body));
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            eprintln!("{} -> {e}", paths[i % paths.len()]);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // 1. New vacancy rows: the data version moves on and the rows are there.
    let csv = dir.path().join("leegstand_demodorp.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    for i in 0..50 {
        text.push_str(&format!("LS-8{i:04};186000,0;320000,0;wonen;01-03-2025;90\n"));
    }
    std::fs::write(&csv, text).unwrap();
    wait_for("the reload", Duration::from_secs(60), || health(&server)["data_version"].as_str() != Some(v0.as_str()));
    let h1 = health(&server);
    let lee1 = h1["points"].as_array().unwrap().iter().find(|p| p["id"] == "leegstand").unwrap()["rows"].as_u64().unwrap();
    assert_eq!(lee1, lee0 + 50);
    let v1 = h1["data_version"].as_str().unwrap().to_string();
    let (_, tj) = server.get("/tiles/buurten");
    assert!(tj.contains(&format!("?v={v1}")), "TileJSON URLs move to the new version");

    // 2. A broken boundary file: the reload fails, the old snapshot keeps serving.
    std::fs::write(dir.path().join("demodorp.gpkg"), b"this is not a GeoPackage").unwrap();
    wait_for("the failed reload", Duration::from_secs(60), || health(&server)["reload"]["failures"].as_u64().unwrap_or(0) >= 1);
    let h2 = health(&server);
    assert_eq!(h2["status"], "degraded");
    assert_eq!(h2["data_version"].as_str(), Some(v1.as_str()), "still the last good data");
    assert!(h2["reload"]["last_error"].as_str().unwrap().contains("demodorp.gpkg"), "{h2}");
    // The public /health says nothing about inputs: no path, no error, no "degraded".
    let (_, public) = server.get("/health");
    assert!(!public.contains("demodorp.gpkg") && !public.contains("degraded") && !public.contains("reload"), "{public}");
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("requests during reloads: {ok} ok, {failed} failed");
    assert!(ok > 50, "the load ran: {ok}");
    assert_eq!(failed, 0, "no request failed during reloads");
}

#[test]
fn admin_reload_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["project.toml", "demodorp.gpkg", "kerncijfers_demodorp.csv", "leegstand_demodorp.csv", "wateroverlast_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let project = dir.path().join("project.toml");
    // The token reaches the server through the environment only.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .args(["serve", "--bind", "127.0.0.1:0", "--watch-seconds", "0", "--project", project.to_str().unwrap()])
        .env("BUURTMETER_ADMIN_TOKEN", "s3cret-token")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = read_startup(&mut child);
    let post = |auth: Option<&str>| {
        let mut c = std::process::Command::new("curl");
        c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
        if let Some(a) = auth {
            c.args(["-H", &format!("Authorization: Bearer {a}")]);
        }
        String::from_utf8(c.arg(format!("{base}/admin/reload")).output().unwrap().stdout).unwrap()
    };
    assert_eq!(post(None), "401");
    assert_eq!(post(Some("wrong")), "403");
    assert_eq!(post(Some("s3cret-token")), "200");
    let _ = child.kill();
    let _ = child.wait();
}
