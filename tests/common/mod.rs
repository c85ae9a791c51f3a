//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file in `../shared/data`, read in place. Missing: a failure that says where the data
/// must be, unless the person running the tests opts out with BUURTMETER_SKIP_REAL_DATA=1;
/// then the test is skipped and says so on the terminal (not only in captured output).
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(rel);
    if p.exists() {
        return Some(p);
    }
    let opted_out = std::env::var("BUURTMETER_SKIP_REAL_DATA").is_ok_and(|v| v == "1" || v == "true");
    if opted_out && !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {} is not here (BUURTMETER_SKIP_REAL_DATA=1)", p.display());
        return None;
    }
    panic!(
        "the real CBS/BAG test data is missing: {} (the tests read ../shared/data next to this checkout, see ../shared/data/SOURCES.md); \
         to run without it, set BUURTMETER_SKIP_REAL_DATA=1 and the tests that need it are skipped",
        p.display()
    );
}

/// A copy of `examples/<name>.toml` in a temporary directory, edited by `edit`, with its
/// `../../shared/data` paths made absolute. Keep the directory alive while it is used.
pub fn example_copy(name: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples").join(format!("{name}.toml"))).unwrap();
    let text = edit(text).replace("../../shared/data", &format!("{}/../shared/data", root.display()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Whether a program a test needs is here. Missing, the test fails and says how to get it,
/// unless the person running the tests opts out with `skip_var=1` (then it is skipped and
/// says so on the terminal): a test never passes silently because its program is absent.
pub fn require_program(present: bool, what: &str, skip_var: &str) -> bool {
    if present {
        return true;
    }
    let opted_out = std::env::var(skip_var).is_ok_and(|v| v == "1" || v == "true");
    if opted_out && !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        use std::io::Write;
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {what} is missing ({skip_var}=1)");
        return false;
    }
    panic!("{what} is missing: sh .ci/setup test installs it; to run without it, set {skip_var}=1 and the tests that need it are skipped");
}

/// Chromium and playwright-core, for the browser tests (`BUURTMETER_SKIP_BROWSER=1` skips).
pub fn require_browser() -> bool {
    let here =
        Path::new("/usr/bin/chromium").exists() && Path::new(env!("CARGO_MANIFEST_DIR")).join("web/node_modules/playwright-core").exists();
    require_program(here, "Chromium or playwright-core", "BUURTMETER_SKIP_BROWSER")
}

pub fn demo_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/project.toml")
}

pub fn buurtmeter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buurtmeter")).args(args).output().expect("run buurtmeter")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run GDAL's ogrinfo with the SQLite dialect and return `field = value` lines per feature.
pub fn ogr_sql(path: &Path, sql: &str) -> Vec<Vec<(String, String)>> {
    let out = Command::new("ogrinfo")
        .args(["-q", "-dialect", "sqlite", "-sql", sql])
        .arg(path)
        .output()
        .expect("ogrinfo (gdal-bin) must be installed");
    assert!(out.status.success(), "ogrinfo failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("OGRFeature") {
            rows.push(Vec::new());
        } else if let Some((k, v)) = line.trim().split_once(" = ")
            && let Some(row) = rows.last_mut()
        {
            let key = k.split_whitespace().next().unwrap_or("").to_string();
            row.push((key, v.to_string()));
        }
    }
    rows
}

/// Parse `area_id,count[,weight_sum]` into a map.
pub fn read_counts(csv: &str) -> std::collections::BTreeMap<String, (u64, f64)> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (f[1].parse().unwrap(), f.get(2).map_or(0.0, |w| w.parse().unwrap())))
        })
        .collect()
}

/// Read the server's start-up message for its base URL, then keep draining its stderr
/// in the background (a closed pipe would make later log writes fail).
pub fn read_startup(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut base = None;
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("web map:") {
            base = Some(rest.trim().trim_end_matches('/').to_string());
        }
        let done = line.starts_with("press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    base.unwrap_or_else(|| panic!("server did not start:\n{}", seen.join("\n")))
}

/// The Web-Mercator (XYZ) tile of a lon/lat at zoom `z`.
pub fn lonlat_to_tile(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let lat = lat.to_radians();
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (x as u32, y as u32)
}

/// A `buurtmeter serve` process on a free port, killed on drop.
pub struct Server {
    child: std::process::Child,
    pub base: String,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start buurtmeter serve");
        let base = read_startup(&mut child);
        Server { child, base }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let out =
            Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}", &format!("{}{path}", self.base)]).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.parse().unwrap_or(0), body.to_string())
    }

    pub fn get_bytes(&self, path: &str, file: &Path) -> u16 {
        let out = Command::new("curl")
            .args(["-s", "-o"])
            .arg(file)
            .args(["-w", "%{http_code}", &format!("{}{path}", self.base)])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ogrinfo with arguments; (success, stdout + stderr).
pub fn ogrinfo(args: &[&str]) -> (bool, String) {
    let out = Command::new("ogrinfo").args(args).output().expect("ogrinfo (gdal-bin) must be installed");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A minimal HTTP/1.1 GET over a fresh connection: (status, body). For load loops.
pub fn http_get(base: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let hostport = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(buf.len());
    let status = std::str::from_utf8(&buf[..head_end.min(12)]).ok().and_then(|h| h.get(9..12)).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, buf[(head_end + 4).min(buf.len())..].to_vec()))
}

/// The Python with the reference implementations (pymannkendall, tobler, libpysal, esda,
/// openapi-spec-validator) that `sh .ci/setup test` installs into
/// CARGO_TARGET_TMPDIR/pyref. Missing: a failure that says how to install them.
pub fn reference_python() -> PathBuf {
    let py = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyref/bin/python");
    assert!(
        py.exists(),
        "the reference implementations for the tests are not installed ({} is missing): run `sh .ci/setup test` (the README's test command does)",
        py.display()
    );
    py
}

/// Run `script` with the reference Python, `input` on stdin; its stdout parsed as JSON.
pub fn run_reference(script: &str, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(reference_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the reference Python");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reference script failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("reference output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The demo and every example project whose data is here (a missing file fails under CI).
pub fn example_projects() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![("demo".to_string(), demo_project())];
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "examples/ holds no project");
    'project: for f in files {
        let p = buurtmeter::config::Project::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for rel in p.input_paths() {
            let path = p.resolve(rel);
            let Ok(inside) = path.canonicalize() else {
                // Reports the missing file: a failure under CI, a skip otherwise.
                let shared = rel.to_string_lossy().replace("../../shared/data/", "");
                if shared_data(&shared).is_none() {
                    continue 'project;
                }
                panic!("{}: {} is missing", f.display(), path.display());
            };
            assert!(inside.exists());
        }
        out.push((f.file_stem().unwrap().to_string_lossy().into_owned(), f));
    }
    out
}

/// Every background map's host of a project, comma-separated, for the browser scripts'
/// `BASEMAP_HOST`: unreachable offline, so their failures are not errors.
pub fn basemap_hosts(p: &buurtmeter::config::Project) -> String {
    p.basemap
        .as_ref()
        .map(|b| b.maps.iter().map(|m| m.url.split('/').nth(2).unwrap_or("")).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// Run `node tests/browser/<script> ARGS…` with `env`; its last line of output, which
/// every browser script prints as one JSON object.
pub fn browser_json(script: &str, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser").join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("{script}: no output: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script}: not JSON ({e}): {line}"))
}
