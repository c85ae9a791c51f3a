//! Malformed and hostile requests: every one answers 4xx with a problem document, never
//! 5xx, and nothing outside the served files is reachable.

mod common;

use common::*;

#[test]
fn malformed_requests_get_4xx_problems_never_5xx() {
    let server = Server::start(&[]);
    let cases: &[(&str, u16)] = &[
        // tiles: out of range, not numbers, unknown tileset, traversal
        ("/tiles/buurten/17/0/0.mvt", 404),
        ("/tiles/buurten/3/8/0.mvt", 404),
        ("/tiles/buurten/3/0/8.mvt", 404),
        ("/tiles/buurten/-1/0/0.mvt", 400),
        ("/tiles/buurten/x/0/0.mvt", 400),
        ("/tiles/buurten/99999999999999999999/0/0.mvt", 400),
        ("/tiles/buurten/1/0/0.png", 400),
        ("/tiles/nope/1/0/0.mvt", 404),
        ("/tiles/nope", 404),
        ("/tiles/..%2f..%2fetc%2fpasswd", 404),
        // OGC API
        ("/ogc/collections/buurten/items?bbox=1,2,3", 400),
        ("/ogc/collections/buurten/items?bbox=a,b,c,d", 400),
        ("/ogc/collections/buurten/items?bbox=1,2,3,4,5", 400),
        ("/ogc/collections/buurten/items?bbox=nan,1,2,3", 400),
        ("/ogc/collections/buurten/items?limit=0", 400),
        ("/ogc/collections/buurten/items?limit=-5", 400),
        ("/ogc/collections/buurten/items?limit=abc", 400),
        ("/ogc/collections/buurten/items?offset=-1", 400),
        ("/ogc/collections/buurten/items?crs=EPSG:9999", 400),
        ("/ogc/collections/buurten/items?bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326", 400),
        ("/ogc/collections/buurten/items?f=xml", 400),
        ("/ogc/collections/buurten/items?nosuchproperty=1", 400),
        ("/ogc/collections/leegstand/items?datetime=yesterday", 400),
        ("/ogc/collections/nope", 404),
        ("/ogc/collections/nope/items", 404),
        ("/ogc/collections/buurten/items/NOPE", 404),
        ("/ogc/collections/leegstand/items/999999999", 404),
        ("/ogc/collections/leegstand/items/-1", 404),
        // indicators and styles
        ("/indicators/nope", 404),
        ("/indicators/wateroverlast_km2?level=%00", 400),
        ("/indicators/wateroverlast_km2?period=%27%3B%20drop", 400),
        ("/styles/nope.json", 404),
        ("/styles/..%2f..%2fCargo.toml", 404),
        ("/styles/../Cargo.toml", 404),
        ("/styles/wateroverlast_km2.exe", 404),
        ("/static/..%2f..%2fCargo.toml", 404),
        ("/static/%2e%2e/Cargo.toml", 404),
        ("/static/../../Cargo.toml", 404),
        ("/../../etc/passwd", 404),
        ("/%2e%2e/%2e%2e/etc/passwd", 404),
    ];
    let mut failures = Vec::new();
    for (path, expected) in cases {
        let (code, body) = http_get(&server.base, path).map(|(c, b)| (c, String::from_utf8_lossy(&b).into_owned())).unwrap();
        if code != *expected {
            failures.push(format!("{path}: {code} (expected {expected}): {body}"));
            continue;
        }
        let v: Result<serde_json::Value, _> = serde_json::from_str(&body);
        match v {
            Ok(v) if v["status"] == *expected && v["detail"].is_string() => {}
            _ => failures.push(format!("{path}: not a problem document: {body}")),
        }
        assert!(!body.contains("root:"), "{path} leaked a file");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // limit beyond the maximum is clamped (as documented in the OpenAPI document).
    let (code, body) = http_get(&server.base, "/ogc/collections/buurten/items?limit=999999&f=json").unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["numberReturned"], 68);

    // A request body to a GET-only API, and a huge body: refused, not served.
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--data-binary", "@-", &format!("{}/indicators", server.base)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let _ = c.stdin.take().unwrap().write_all(&vec![b'x'; 1 << 20]);
            c.wait_with_output()
        })
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    // Refused: a 4xx, or (on a busy machine) the connection closed by the server after its
    // early answer, before curl finished sending and could read it (curl reports 000).
    assert!(code.starts_with('4') || code == "000", "POST with 1 MB body: {code}");
    // The server is still there.
    assert_eq!(http_get(&server.base, "/health").unwrap().0, 200);
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_stops() {
    let Some(_) = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg") else { return };
    // The Rijnmond example without its region: every Zuid-Holland wijk, a heavy request.
    let (_dir, project) = example_copy("rijnmond", |t| t.replace("region = \"extent\"", ""));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .args(["serve", "--bind", "127.0.0.1:0", "--watch-seconds", "0", "--project", project.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = read_startup(&mut child);
    // A heavy request (every Zuid-Holland wijk in RD New), then SIGTERM while it runs.
    let handle = {
        let base = base.clone();
        std::thread::spawn(move || {
            http_get(&base, "/ogc/collections/wijken/items?limit=10000&crs=http://www.opengis.net/def/crs/EPSG/0/28992")
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    let st = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let (code, body) = handle.join().unwrap().expect("the request in flight is answered");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("a complete JSON body");
    assert_eq!(v["numberReturned"], 969);
    let status = child.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    assert!(http_get(&base, "/health").is_err(), "no longer listening");
}

/// One request with `extra` header lines over a fresh connection: the status line's code
/// (0 when the server closed without answering). Write errors are ignored: the server may
/// answer and close before it has read everything.
fn get_with_headers(base: &str, extra: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut req = format!("GET /health HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n").into_bytes();
    req.extend_from_slice(extra);
    req.extend_from_slice(b"\r\n");
    let _ = s.write_all(&req);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    std::str::from_utf8(&buf[..buf.len().min(12)]).ok().and_then(|h| h.get(9..12)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// The request-head limits are hyper's HTTP/1 defaults (`axum::serve` sets none): at most
/// 100 header fields including Host, a head of at most 8 KiB + 400 KiB (hyper's read
/// buffer), a header name under 64 KiB. Beyond them: 431 Request Header Fields Too Large
/// and the connection closed, nothing reaches the application, and the server carries on.
#[test]
fn oversized_request_heads_get_431_and_the_server_carries_on() {
    let server = Server::start(&[]);
    let base = &server.base;
    let value = |n: usize| [b"X-Fill: ".as_slice(), &vec![b'a'; n], b"\r\n"].concat();
    let fields = |n: usize| (0..n).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()).collect::<Vec<u8>>();

    // Within the limits: answered normally (a 100 KB cookie or token header is allowed).
    assert_eq!(get_with_headers(base, &value(100_000)), 200, "one 100 KB header");
    assert_eq!(get_with_headers(base, &value(400_000)), 200, "one 400 KB header");
    assert_eq!(get_with_headers(base, &fields(98)), 200, "100 header fields (98 + Host + Connection)");

    // Beyond them: 431.
    for (what, extra) in [
        ("one 500 KB header", value(500_000)),
        ("one 4 MB header", value(4 << 20)),
        ("101 header fields", fields(99)),
        ("10000 header fields", fields(10_000)),
        (
            "5000 header fields of 100 bytes (550 KB)",
            (0..5000).flat_map(|i| format!("X-H{i}: {}\r\n", "v".repeat(100)).into_bytes()).collect(),
        ),
        ("a 70 KB header name", [b"X-".as_slice(), &vec![b'n'; 70_000], b": v\r\n"].concat()),
    ] {
        assert_eq!(get_with_headers(base, &extra), 431, "{what}");
    }

    // Still serving, on new connections.
    assert_eq!(http_get(base, "/health").unwrap().0, 200);
    assert_eq!(http_get(base, "/ogc/collections/buurten/items?limit=1").unwrap().0, 200);
}
