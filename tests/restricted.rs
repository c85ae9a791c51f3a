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
    for path in ["/indicators/wateroverlast_per_1000_inw?level=wijk", "/tiles/wateroverlast", "/tiles/wateroverlast/12/2114/1373.mvt"] {
        let (status, head) = curl(&format!("{b}{path}"), &[]);
        assert_eq!(status, "401", "{path}: {head}");
        let (status, _) = curl(&format!("{b}{path}"), &["Authorization: Bearer wrong-key"]);
        assert_eq!(status, "403", "{path}");
        let (_, body) = server.get(path);
        assert!(!body.contains("numerator") && !body.contains("GM9999"), "{path}: {body}");
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
        ("/tiles/wateroverlast", "X-API-Key: partner-key-123"),
    ] {
        let (status, head) = curl(&format!("{b}{path}"), &[header]);
        assert_eq!(status, "200", "{path}: {head}");
        assert!(head.contains("cache-control: private"), "{path}: {head}");
    }
    let (status, head) = curl(&format!("{b}/indicators?api_key=partner-key-123"), &[]);
    assert_eq!(status, "200");
    assert!(head.contains("cache-control: private"));
}
