//! `buurtmeter publish`: the demo and every example in `examples/` published as a static
//! site, served by a plain static server with Range support (Python's http.server, no
//! buurtmeter code: tests/reference/range_server.py) and rendered in headless Chromium at
//! every level's zoom; the archives read by Protomaps' own reader (the `pmtiles` Python
//! package) and their tiles compared byte for byte with the live server's; a restricted
//! layer leaves no trace in the site.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use buurtmeter::config::Project;
use common::*;

/// `buurtmeter publish` into a fresh folder under the target's tmp dir (kept for a look).
fn publish(name: &str, project: &Path, extra: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("publish-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    let mut args = vec!["publish", "--project", project.to_str().unwrap(), "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = buurtmeter(&args);
    let err = stderr(&out);
    assert!(out.status.success(), "{name}: publish failed:\n{err}");
    assert!(err.contains("wrote tiles/") && err.contains("published "), "{name}: no progress:\n{err}");
    dir
}

/// The plain static server (Range requests answered with 206), killed on drop.
struct StaticServer {
    child: Child,
    base: String,
}

impl StaticServer {
    fn start(dir: &Path) -> StaticServer {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/range_server.py");
        let mut child = Command::new("python3").arg(script).arg(dir).stdout(Stdio::piped()).spawn().expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("static server did not start: {line}"));
        StaticServer { child, base: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Protomaps' reader over every archive of a site: header, metadata, the number of tiles,
/// a sample of tiles (decompressed, hex) spread over every zoom, and tiles of the covered
/// range the archive does not have.
const READ_ARCHIVES: &str = r#"
import gzip, json, sys
from pmtiles.reader import Reader, MmapSource, all_tiles
from pmtiles.tile import Compression
args = json.load(sys.stdin)
out = {}
for path in args["archives"]:
    with open(path, "rb") as f:
        r = Reader(MmapSource(f))
        h = r.header()
        tiles = {}
        needle_hits = []
        for (z, x, y), data in all_tiles(r.get_bytes):
            raw = gzip.decompress(data) if h["tile_compression"] == Compression.GZIP else data
            tiles[(z, x, y)] = raw
            for n in args.get("needles", []):
                if n.encode() in raw:
                    needle_hits.append([z, x, y, n])
        keys = sorted(tiles)
        step = max(1, len(keys) // args["samples"])
        sample = [[z, x, y, tiles[(z, x, y)].hex()] for (z, x, y) in keys[::step]]
        # Tiles next to stored ones that are not stored: the server must have nothing there.
        absent = []
        for (z, x, y) in keys[::step]:
            for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1), (2, 0), (0, 2)):
                c = (z, x + dx, y + dy)
                if 0 <= c[1] < 2 ** z and 0 <= c[2] < 2 ** z and c not in tiles and len(absent) < 30:
                    absent.append(list(c))
        # Same order as the tile ids: the reader finds each tile through the directories.
        found = all(r.get(z, x, y) is not None for (z, x, y) in keys[::step])
        meta = r.metadata()
        out[path] = {
            "tile_type": h["tile_type"].value, "tile_compression": h["tile_compression"].value,
            "min_zoom": h["min_zoom"], "max_zoom": h["max_zoom"], "clustered": bool(h["clustered"]),
            "addressed": h["addressed_tiles_count"], "tiles": len(tiles), "sample": sample, "absent": absent,
            "found": found, "metadata": meta, "needles": needle_hits,
            "metadata_needles": [n for n in args.get("needles", []) if n in json.dumps(meta, ensure_ascii=False)],
        }
print(json.dumps(out))
"#;

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("tiles")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn published_tiles_are_the_servers_byte_for_byte() {
    for (name, path) in example_projects() {
        let dir = publish(&name, &path, &[]);
        let index = read_json(&dir.join("index.json"));
        let version = index["data_version"].as_str().unwrap().to_string();
        let server = Server::start(&["--project", path.to_str().unwrap()]);
        let (_, list) = server.get("/tiles");
        let list: serde_json::Value = serde_json::from_str(&list).unwrap();
        let tilesets: Vec<String> = list["tilesets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
        let files = archives(&dir);
        // One archive per public tileset, named with the data version.
        let mut want: Vec<String> = tilesets.iter().map(|t| format!("{t}.{version}.pmtiles")).collect();
        want.sort();
        let mut have: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        have.sort();
        assert_eq!(have, want, "{name}");
        let paths: Vec<String> = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
        let read = run_reference(READ_ARCHIVES, &serde_json::json!({"archives": paths, "samples": 40}));
        let tmp = tempfile::tempdir().unwrap();
        let mut compared = 0;
        for (file, id) in files.iter().zip(have.iter().map(|h| h.split('.').next().unwrap().to_string())) {
            let r = &read[file.to_string_lossy().as_ref()];
            assert_eq!(r["tile_type"], 1, "{name} {id}: MVT");
            assert_eq!(r["tile_compression"], 2, "{name} {id}: gzip");
            assert_eq!(r["clustered"], true, "{name} {id}");
            assert_eq!(r["found"], true, "{name} {id}: a stored tile the directories do not lead to");
            assert!(r["tiles"].as_u64().unwrap() > 0, "{name} {id}: an empty archive");
            // The TileJSON's metadata: fields, attribution, zooms, bounds.
            let (_, tj) = server.get(&format!("/tiles/{id}"));
            let tj: serde_json::Value = serde_json::from_str(&tj).unwrap();
            let meta = &r["metadata"];
            assert_eq!(meta["vector_layers"][0]["fields"], tj["vector_layers"][0]["fields"], "{name} {id}");
            assert_eq!(meta["vector_layers"][0]["id"], tj["vector_layers"][0]["id"], "{name} {id}");
            assert_eq!(meta["attribution"], tj["attribution"], "{name} {id}");
            assert_eq!(meta["bounds"], tj["bounds"], "{name} {id}");
            assert_eq!(meta["maxzoom"], tj["maxzoom"], "{name} {id}: the default zooms are the server's");
            assert_eq!(r["max_zoom"], tj["maxzoom"], "{name} {id}");
            assert_eq!(meta["buurtmeter:data_version"].as_str(), Some(version.as_str()));
            for s in r["sample"].as_array().unwrap() {
                let (z, x, y, hex) = (s[0].as_u64().unwrap(), s[1].as_u64().unwrap(), s[2].as_u64().unwrap(), s[3].as_str().unwrap());
                let f = tmp.path().join("t.mvt");
                // curl without --compressed: the raw MVT bytes.
                let code = server.get_bytes(&format!("/tiles/{id}/{z}/{x}/{y}.mvt"), &f);
                assert_eq!(code, 200, "{name} {id} {z}/{x}/{y}");
                let served = std::fs::read(&f).unwrap();
                let stored: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
                assert!(served == stored, "{name} {id} {z}/{x}/{y}: the archive's tile differs from the server's");
                compared += 1;
            }
            for c in r["absent"].as_array().unwrap() {
                let (z, x, y) = (c[0].as_u64().unwrap(), c[1].as_u64().unwrap(), c[2].as_u64().unwrap());
                let code = server.get_bytes(&format!("/tiles/{id}/{z}/{x}/{y}.mvt"), &tmp.path().join("a.mvt"));
                assert_eq!(code, 204, "{name} {id} {z}/{x}/{y}: the server has a tile the archive lacks");
            }
        }
        // The FlatGeobuf downloads: the OGC API's whole collection as FlatGeobuf, the same
        // bytes, and GDAL reads every area.
        for l in Project::load(&path).unwrap().levels {
            let file = dir.join(format!("downloads/{}.{version}.fgb", l.id));
            let served = tmp.path().join("level.fgb");
            assert_eq!(server.get_bytes(&format!("/ogc/collections/{}/items?f=fgb", l.id), &served), 200, "{name} {}", l.id);
            assert!(std::fs::read(&file).unwrap() == std::fs::read(&served).unwrap(), "{name} {}: the download differs from f=fgb", l.id);
            let (ok, info) = ogrinfo(&["-so", "-al", file.to_str().unwrap()]);
            let (_, items) = server.get(&format!("/ogc/collections/{}/items?limit=1&f=json", l.id));
            let matched = serde_json::from_str::<serde_json::Value>(&items).unwrap()["numberMatched"].as_u64().unwrap();
            assert!(ok && info.contains(&format!("Feature Count: {matched}")), "{name} {}: {info}", l.id);
        }
        eprintln!("{name}: {} archives, {compared} tiles identical to the server's; FlatGeobuf identical", files.len());
    }
}

#[test]
fn every_published_site_renders_from_its_archives() {
    if !require_browser() {
        return;
    }
    for (name, path) in example_projects() {
        let dir = publish(&format!("{name}-web"), &path, &[]);
        let index = read_json(&dir.join("index.json"));
        let version = index["data_version"].as_str().unwrap();
        // The site's own files: versioned data beside the unversioned pointer and pages.
        let manifest = read_json(&dir.join(index["manifest"].as_str().unwrap()));
        let metadata = read_json(&dir.join(index["metadata"].as_str().unwrap()));
        assert_eq!(metadata["data_version"].as_str(), Some(version));
        assert!(metadata["disclosure"].as_str().unwrap_or("").contains(version), "{name}: {metadata}");
        for f in metadata["files"].as_array().unwrap() {
            assert!(dir.join(f["path"].as_str().unwrap()).exists(), "{name}: {f} listed but not written");
        }
        for (_, file) in manifest["files"].as_object().unwrap() {
            let file = file.as_str().unwrap();
            assert!(file.starts_with(&format!("data/{version}/")) && dir.join(file).exists(), "{name}: {file}");
        }
        for kind in ["csv", "fgb", "maplibre", "qml"] {
            for (_, file) in manifest["downloads"][kind].as_object().unwrap() {
                let file = file.as_str().unwrap();
                assert!(file.contains(version) && dir.join(file).exists(), "{name}: {file}");
            }
        }
        let p = Project::load(&path).unwrap();
        let site = StaticServer::start(&dir);
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("published-{name}.png"));
        let r = browser_json("published.cjs", &[site.base.as_ref(), shot.as_os_str()], &[("BASEMAP_HOST", &basemap_hosts(&p))]);
        assert_eq!(r["errors"].as_array().map(Vec::len), Some(0), "{name}: {r}");
        assert!(r["features"].as_u64().unwrap_or(0) > 0, "{name}: nothing rendered: {r}");
        assert!(r["legend"].as_u64().unwrap_or(0) >= 2, "{name}: {r}");
        assert!(r["labels"].as_u64().unwrap_or(0) > 0, "{name}: no area names: {r}");
        // The archives were read in pieces (206), never whole.
        assert!(r["ranges"].as_u64().unwrap_or(0) > 0 && r["fullArchiveReads"] == 0, "{name}: {r}");
        assert_eq!(r["otherHosts"].as_array().map(Vec::len), Some(0), "{name}: requests beyond the site: {r}");
        let csp = r["csp"].as_str().unwrap_or("");
        assert!(csp.contains("script-src 'self';") && csp.contains("object-src 'none'") && !csp.contains("unsafe-eval"), "{name}: {r}");
        // No API links; the note on what needs a server; downloads instead.
        assert_eq!(r["nav"], 0, "{name}: {r}");
        assert!(!r["note"].as_str().unwrap_or("").is_empty(), "{name}: {r}");
        for ext in [".csv", ".fgb", ".qml"] {
            assert!(r["links"].as_array().unwrap().iter().any(|l| l.as_str().unwrap_or("").ends_with(ext)), "{name}: no {ext} link: {r}");
        }
        for l in &p.levels {
            assert!(r["perLevel"][&l.id].as_u64().unwrap_or(0) > 0, "{name}: level {} drew no area at its own zoom: {r}", l.id);
        }
        let (_, list) = {
            let list = read_json(&dir.join(manifest["files"]["indicators"].as_str().unwrap()));
            ((), list)
        };
        let periods = list["indicators"][0]["periods"].as_array().map_or(0, Vec::len);
        assert_eq!(r["trendEnabled"].as_bool(), Some(periods >= 4), "{name}: {r}");
        if periods >= 4 {
            assert!(r["trendAreas"].as_u64().unwrap_or(0) > 0, "{name}: no area coloured by trend: {r}");
            assert_eq!(r["seriesChart"].as_u64(), Some(1), "{name}: no time-series chart: {r}");
            assert!(r["seriesText"].as_str().unwrap_or("").contains("Trend:"), "{name}: {r}");
            assert_eq!(r["profileLinks"], 0, "{name}: a profile link on a published site: {r}");
        }
        if r["hotspotsEnabled"] == true {
            assert!(r["hotspotAreas"].as_u64().unwrap_or(0) > 0, "{name}: no area coloured by cluster: {r}");
        }
        assert!(shot.exists());
        eprintln!("{name}: screenshot {} ({r})", shot.display());
    }
}

#[test]
fn a_restricted_layer_leaves_no_trace_in_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(demo_project()).unwrap();
    let text =
        text.replace("path = \"", &format!("path = \"{}/", data.display())).replace("access = \"aggregate\"", "access = \"restricted\"");
    // The project's own description names the layer's subject in words; the publication
    // carries the description, so it is taken out here: only the layer itself is looked for.
    let text = text.replace("leegstand en wateroverlast per buurt", "leegstand per buurt");
    let project = dir.path().join("p.toml");
    std::fs::write(&project, &text).unwrap();
    let p = Project::load(&project).unwrap();
    assert!(!p.description.as_deref().unwrap_or("").contains("wateroverlast"));
    let restricted: Vec<&buurtmeter::config::PointsConfig> =
        p.points.iter().filter(|l| l.access == buurtmeter::config::Access::Restricted).collect();
    assert!(!restricted.is_empty());
    // Its id, its title, and its indicators' ids and titles.
    let mut needles: Vec<String> = Vec::new();
    for l in &restricted {
        needles.push(l.id.clone());
        needles.extend(l.title.clone());
        for i in p.indicators.iter().filter(|i| i.numerator.points() == Some(l.id.as_str())) {
            needles.push(i.id.clone());
            needles.push(i.title.clone());
        }
    }
    let site = publish("restricted", &project, &[]);
    let mut n = 0;
    for entry in walk(&site) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{} mentions the restricted '{needle}'", entry.display());
            assert!(!entry.to_string_lossy().contains(needle.as_str()), "{}", entry.display());
        }
        n += 1;
    }
    // Inside the archives (gzip): every tile and the metadata, decompressed.
    let paths: Vec<String> = archives(&site).iter().map(|f| f.to_string_lossy().into_owned()).collect();
    let read = run_reference(READ_ARCHIVES, &serde_json::json!({"archives": paths, "samples": 1, "needles": needles}));
    for (file, r) in read.as_object().unwrap() {
        assert_eq!(r["needles"].as_array().map(Vec::len), Some(0), "{file}: {}", r["needles"]);
        assert_eq!(r["metadata_needles"].as_array().map(Vec::len), Some(0), "{file}");
    }
    eprintln!("{n} files and {} archives without {needles:?}", paths.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_second_publication_keeps_the_first_and_moves_the_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(demo_project()).unwrap().replace("path = \"", &format!("path = \"{}/", data.display()));
    let project = dir.path().join("p.toml");
    std::fs::write(&project, &text).unwrap();
    let site = dir.path().join("site");
    let run = |extra: &[&str]| {
        let mut args = vec!["publish", "--project", project.to_str().unwrap(), "--out", site.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = buurtmeter(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        read_json(&site.join("index.json"))["data_version"].as_str().unwrap().to_string()
    };
    let first = run(&["--maxzoom", "12"]);
    // Another data version: the project text is part of it.
    std::fs::write(&project, format!("{text}\n# tweede publicatie\n")).unwrap();
    let second = run(&["--maxzoom", "12", "--base-url", "https://kaart.example.nl/buurtmeter/"]);
    assert_ne!(first, second);
    // The first publication's files are all still there, untouched.
    let first_meta = read_json(&site.join(format!("metadata.{first}.json")));
    for f in first_meta["files"].as_array().unwrap() {
        let path = site.join(f["path"].as_str().unwrap());
        assert!(path.exists(), "{} of the first publication is gone", path.display());
        if f["kind"] != "web" && f["bytes"].is_u64() {
            assert_eq!(std::fs::metadata(&path).unwrap().len(), f["bytes"].as_u64().unwrap(), "{}", path.display());
        }
    }
    // --maxzoom in the archive; --base-url in the styles' sources.
    let style = std::fs::read_dir(site.join("styles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&format!(".{second}.json")))
        .unwrap();
    let style = read_json(&style);
    let url = style["sources"].as_object().unwrap().values().next().unwrap()["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("pmtiles://https://kaart.example.nl/buurtmeter/tiles/") && url.ends_with(&format!(".{second}.pmtiles")),
        "{url}"
    );
    let page = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(page.contains("connect-src 'self' https://kaart.example.nl;"), "{page}");
    let paths: Vec<String> =
        archives(&site).iter().filter(|f| f.to_string_lossy().contains(&second)).map(|f| f.to_string_lossy().into_owned()).collect();
    let read = run_reference(READ_ARCHIVES, &serde_json::json!({"archives": paths, "samples": 1}));
    for (file, r) in read.as_object().unwrap() {
        assert_eq!(r["max_zoom"], 12, "{file}");
    }
}
