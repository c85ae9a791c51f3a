//! Restricted layers: served only with an API key (kept hashed, outside the project);
//! without one, 401/403 and no hint of the data; with one, `Cache-Control: private`.

mod common;

use common::*;

fn curl(url: &str, headers: &[&str]) -> (String, String) {
    let mut c = std::process::Command::new("curl");
    c.args(["-s", "-D", "-", "-o", "/dev/null"]);
    for h in headers {
        c.args(["-H", h]);
    }
    let head = String::from_utf8_lossy(&c.arg(url).output().unwrap().stdout).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
    (status, head)
}

#[test]
fn restricted_layers_need_a_key_and_leave_no_trace_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(demo_project()).unwrap();
    let text =
        text.replace("path = \"", &format!("path = \"{}/", data.display())).replace("access = \"aggregate\"", "access = \"restricted\"");
    assert!(text.contains("restricted"));
    let project = dir.path().join("p.toml");
    std::fs::write(&project, text).unwrap();
    // sha256("partner-key-123")
    let hash = {
        use std::io::Write;
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(b"partner-key-123").unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("# partner: waterschap\n{hash}\n")).unwrap();
    let server = Server::start_with_env(&["--project", project.to_str().unwrap()], &[("BUURTMETER_API_KEYS_FILE", keys.to_str().unwrap())]);
    let b = &server.base;

    // Without a key: the restricted indicators and tileset are not listed, not served, not hinted.
    let (_, list) = server.get("/indicators");
    assert!(!list.contains("wateroverlast"), "listed without a key");
    let (_, tiles) = server.get("/tiles");
    assert!(!tiles.contains("wateroverlast"));
    let (_, health) = server.get("/health");
    assert!(!health.contains("wateroverlast"));
    // A restricted id answers exactly as an unknown id (status and body, but for the id
    // itself, which the message repeats): no name oracle.
    for (path, id) in [
        ("/indicators/wateroverlast_per_1000_inw?level=wijk", "wateroverlast_per_1000_inw"),
        ("/indicators/wateroverlast_per_1000_inw/trends?level=wijk", "wateroverlast_per_1000_inw"),
        ("/tiles/wateroverlast", "wateroverlast"),
        ("/tiles/wateroverlast/12/2114/1373.mvt", "wateroverlast"),
    ] {
        let unknown_path = path.replace(id, "zzz_onbekend");
        let (status, body) = server.get(path);
        let (status_unknown, body_unknown) = server.get(&unknown_path);
        assert_eq!(status, 404, "{path}");
        assert_eq!((status, body.replace(id, "zzz_onbekend")), (status_unknown, body_unknown), "{path} vs {unknown_path}");
        // A wrong key is refused before any id is looked at: the same for both.
        let (status, _) = curl(&format!("{b}{path}"), &["Authorization: Bearer wrong-key"]);
        let (status_unknown, _) = curl(&format!("{b}{unknown_path}"), &["Authorization: Bearer wrong-key"]);
        assert_eq!((status.as_str(), status_unknown.as_str()), ("403", "403"), "{path}");
    }
    // The public area layers carry no restricted indicator.
    let (_, items) = server.get("/ogc/collections/buurten/items?limit=5&f=json");
    assert!(!items.contains("wateroverlast"), "restricted indicator in public features");
    let (_, tj) = server.get("/tiles/buurten");
    assert!(!tj.contains("wateroverlast"), "restricted indicator in the public tileset");
    assert!(server.get("/styles").1.contains("leegstand") && !server.get("/styles").1.contains("wateroverlast"));

    // With the key: served, and private.
    for (path, header) in [
        ("/indicators/wateroverlast_per_1000_inw?level=wijk", "Authorization: Bearer partner-key-123"),
        ("/indicators/wateroverlast_per_1000_inw/trends?level=wijk", "Authorization: Bearer partner-key-123"),
        ("/tiles/wateroverlast", "X-API-Key: partner-key-123"),
    ] {
        let (status, head) = curl(&format!("{b}{path}"), &[header]);
        assert_eq!(status, "200", "{path}: {head}");
        assert!(head.contains("cache-control: private"), "{path}: {head}");
    }
    for path in ["/indicators?api_key=partner-key-123", "/tiles?api_key=partner-key-123"] {
        let (status, head) = curl(&format!("{b}{path}"), &[]);
        assert_eq!(status, "200", "{path}");
        assert!(head.contains("cache-control: private"), "{path}: {head}");
    }

    // `export` leaves restricted indicators out unless asked.
    let out = dir.path().join("csv");
    let o = buurtmeter(&["export", "--project", project.to_str().unwrap(), "--csv", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: String = std::fs::read_dir(&out).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert!(all.contains("leegstand") && !all.contains("wateroverlast"), "restricted indicator exported");
    let o = buurtmeter(&["export", "--project", project.to_str().unwrap(), "--csv", out.to_str().unwrap(), "--include-restricted"]);
    assert!(o.status.success());
    let all: String = std::fs::read_dir(&out).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    assert!(all.contains("wateroverlast"), "--include-restricted writes them");
}

/// The public /health and /metrics read the same whether the restricted file is there,
/// broken or absent.
#[test]
fn public_health_does_not_depend_on_the_restricted_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["demodorp.gpkg", "kerncijfers_demodorp.csv", "leegstand_demodorp.csv", "wateroverlast_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(demo_project()).unwrap().replace("access = \"aggregate\"", "access = \"restricted\"");
    let project = dir.path().join("p.toml");
    std::fs::write(&project, text).unwrap();
    let restricted_file = dir.path().join("wateroverlast_demodorp.csv");
    let snapshot_of = |label: &str| {
        let server = Server::start(&["--project", project.to_str().unwrap(), "--watch-seconds", "0"]);
        let (status, health) = server.get("/health");
        assert_eq!(status, 200, "{label}");
        let metrics: String =
            server.get("/metrics").1.lines().filter(|l| !l.contains("duration") && !l.contains("requests_total")).collect();
        (health, metrics)
    };
    let present = snapshot_of("present");
    std::fs::write(&restricted_file, b"x;y\nkapot;\"\n").unwrap();
    let broken = snapshot_of("broken");
    std::fs::remove_file(&restricted_file).unwrap();
    let absent = snapshot_of("absent");
    assert_eq!(present, broken, "broken restricted file visible on the public /health or /metrics");
    assert_eq!(present, absent, "absent restricted file visible on the public /health or /metrics");
    assert!(!present.0.contains("wateroverlast"), "{}", present.0);
}

/// The attack on the shared cache: a key-less observer reads every public response (the
/// metrics with the tile cache's size, /health, the public tiles with their ETags and data
/// version) before and after a key holder views restricted tiles and the restricted file
/// changes (and the server reloads it). Nothing public may differ, but the observer's own
/// requests to /metrics.
#[test]
fn a_key_holders_views_and_a_restricted_change_leave_every_public_response_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["demodorp.gpkg", "kerncijfers_demodorp.csv", "leegstand_demodorp.csv", "wateroverlast_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(demo_project()).unwrap().replace("access = \"aggregate\"", "access = \"restricted\"");
    let project = dir.path().join("p.toml");
    std::fs::write(&project, text).unwrap();
    let keys = dir.path().join("keys.txt");
    let hash = {
        use std::io::Write;
        let mut c = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(b"partner-key-123").unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    std::fs::write(&keys, format!("{hash}\n")).unwrap();
    let server = Server::start_with_env(
        &["--project", project.to_str().unwrap(), "--watch-seconds", "0.2"],
        &[("BUURTMETER_API_KEYS_FILE", keys.to_str().unwrap()), ("BUURTMETER_ADMIN_TOKEN", "admin-token-456")],
    );
    let b = server.base.clone();
    let public_tiles = ["/tiles/buurten/12/2114/1373.mvt", "/tiles/leegstand/12/2114/1373.mvt", "/tiles/buurten/14/8457/5493.mvt"];
    let observe = || {
        let metrics: Vec<String> =
            server.get("/metrics").1.lines().filter(|l| !l.contains("route=\"/metrics\"")).map(String::from).collect();
        let health = server.get("/health").1;
        let tiles: Vec<(String, String)> = public_tiles
            .iter()
            .map(|t| {
                let (status, head) = curl(&format!("{b}{t}"), &[]);
                let etag = head.lines().find(|l| l.starts_with("etag:")).unwrap_or("").to_string();
                (status, etag)
            })
            .collect();
        (metrics, health, tiles)
    };
    // The observer's tiles are cached once, so that both observations read them alike.
    observe();
    let before = observe();

    // The key holder looks at restricted tiles at several zooms.
    for (z, x, y) in [(10, 528, 343), (12, 2114, 1373), (13, 4228, 2746), (14, 8457, 5493)] {
        let (status, _) = curl(&format!("{b}/tiles/wateroverlast/{z}/{x}/{y}.mvt"), &["Authorization: Bearer partner-key-123"]);
        assert!(status == "200" || status == "204", "{status}");
    }
    // The restricted file changes: one report more; the server reloads it.
    let reloads = || {
        let body = std::process::Command::new("curl")
            .args(["-s", "-H", "Authorization: Bearer admin-token-456", &format!("{b}/health")])
            .output()
            .unwrap()
            .stdout;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        v["reload"]["reloads"].as_u64().unwrap_or(0)
    };
    let reloads_before = reloads();
    let file = dir.path().join("wateroverlast_demodorp.csv");
    let mut csv = std::fs::read_to_string(&file).unwrap();
    let last = csv.lines().last().unwrap().to_string();
    csv.push_str(&last);
    csv.push('\n');
    std::fs::write(&file, csv).unwrap();
    let reloaded = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        reloads() > reloads_before
    });
    assert!(reloaded, "the server did not reload the changed restricted file");

    let after = observe();
    assert_eq!(before.1, after.1, "the public /health changed");
    assert_eq!(before.2, after.2, "a public tile or its ETag changed");
    // The metrics: the cache and version lines as they were, and the request counters moved
    // by the observer's own requests only (one /health, three tiles), none of the key holder's.
    let gauges = |m: &[String]| m.iter().filter(|l| !l.contains("buurtmeter_http_request")).cloned().collect::<Vec<_>>();
    assert_eq!(gauges(&before.0), gauges(&after.0), "the public tile cache or version changed");
    let counts = |m: &[String]| -> std::collections::BTreeMap<String, u64> {
        m.iter()
            .filter(|l| l.starts_with("buurtmeter_http_requests_total"))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    };
    let (c0, c1) = (counts(&before.0), counts(&after.0));
    assert_eq!(c0.keys().collect::<Vec<_>>(), c1.keys().collect::<Vec<_>>(), "a new route or status appeared in the public metrics");
    let moved: Vec<(String, u64)> = c1.iter().map(|(k, v)| (k.clone(), v - c0[k])).filter(|(_, d)| *d > 0).collect();
    assert_eq!(
        moved,
        vec![
            ("buurtmeter_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"}".to_string(), 1),
            ("buurtmeter_http_requests_total{route=\"/tiles/{tileset}/{z}/{x}/{y}\",method=\"GET\",status=\"200\"}".to_string(), 3),
        ],
        "the public request counters show more than the observer's own requests"
    );
    // With the admin token the keyed traffic and its cache are there.
    let body = std::process::Command::new("curl")
        .args(["-s", "-H", "Authorization: Bearer admin-token-456", &format!("{b}/metrics")])
        .output()
        .unwrap()
        .stdout;
    let admin = String::from_utf8_lossy(&body);
    assert!(admin.contains("buurtmeter_keyed_tile_cache_bytes") && admin.contains("route=\"/tiles/{tileset}/{z}/{x}/{y}\""), "{admin}");
}
