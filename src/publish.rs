//! `buurtmeter publish`: the public part of a project as plain files for any web space or
//! bucket that answers HTTP Range requests, with no server to run.
//!
//! ```text
//! DIR/index.html, index.de.html, index.en.html   the web map (static mode), CSP as <meta>
//! DIR/index.json                                 unversioned: which publication is current
//! DIR/static/                                    MapLibre, uPlot, the pmtiles protocol, the map's code
//! DIR/tiles/<tileset>.<version>.pmtiles          one archive per public tileset
//! DIR/styles/<indicator>.<version>.json|.qml     MapLibre (pmtiles:// sources) and QGIS styles
//! DIR/downloads/<level>.<version>.csv|.fgb       every public indicator of a level: CSV (long), FlatGeobuf
//! DIR/data/<version>/manifest.json + *.json      what the map asks the API for, as files
//! DIR/metadata.<version>.json                    data version, sources, disclosure, files
//! ```
//!
//! Every name that holds data carries the data version, so a new publication adds files
//! beside the old ones and a reader who has half of one loaded keeps reading it; only
//! `index.json` (written last) and the pages change. Nothing here renders or computes on
//! its own: tiles are [`api::tiles::tile_bytes`], the server's own, and the JSON files are
//! the server's answers to the map's requests, asked in-process without an API key, so
//! what is published is what the public server shows, restricted layers never included.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use rayon::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::api::{self, AppState};
use crate::cli::PublishArgs;
use crate::error::{Error, Result};
use crate::export::{self, ExportError, pmtiles};
use crate::snapshot::{self, Snapshot};

/// The files written, relative to DIR, with their kind and size.
struct Site {
    dir: PathBuf,
    version: String,
    files: Vec<(String, &'static str, u64)>,
    /// Data file names already used (file names are made from ids and periods).
    names: HashSet<String>,
}

impl Site {
    fn write(&mut self, rel: &str, kind: &'static str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(ExportError::write(parent))?;
        }
        std::fs::write(&path, bytes).map_err(ExportError::write(&path))?;
        self.files.push((rel.to_string(), kind, bytes.len() as u64));
        Ok(())
    }

    /// A file name under `data/<version>/` for a manifest key: its characters that are
    /// safe in a URL and a file name, made unique.
    fn data_name(&mut self, key: &str, ext: &str) -> String {
        let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || "-_./".contains(c) { c } else { '_' }).collect();
        let safe = safe.replace("..", "_");
        let mut name = format!("data/{}/{safe}{ext}", self.version);
        let mut n = 1;
        while !self.names.insert(name.clone()) {
            n += 1;
            name = format!("data/{}/{safe}-{n}{ext}", self.version);
        }
        name
    }
}

/// `encodeURIComponent`: a path segment or query value as the map's code writes it.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One public request to the server's own application, in-process: the body of a 2xx
/// answer, `None` otherwise.
async fn get(app: &axum::Router, path: &str) -> Result<Option<Vec<u8>>> {
    let req = Request::builder()
        .uri(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .map_err(|e| Error::Server(std::io::Error::other(format!("request {path}: {e}"))))?;
    let res = match app.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let ok = res.status().is_success();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .map_err(|e| Error::Server(std::io::Error::other(format!("reading the answer to {path}: {e}"))))?;
    Ok(ok.then(|| body.to_vec()))
}

/// The tiles of zoom `z` that meet `bounds` (west, south, east, north), one tile wider on
/// every side (a polygon on a tile's edge reaches into the next tile's buffer), by tile id.
fn tiles_at(bounds: [f64; 4], z: u8) -> Vec<(u64, u32, u32)> {
    let n = 1i64 << z;
    let fx = |lon: f64| ((lon + 180.0) / 360.0 * n as f64).floor() as i64;
    let fy = |lat: f64| {
        let r = lat.clamp(-85.051_128, 85.051_128).to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n as f64).floor() as i64
    };
    let clamp = |v: i64| v.clamp(0, n - 1) as u32;
    let (x0, x1) = (clamp(fx(bounds[0]) - 1), clamp(fx(bounds[2]) + 1));
    let (y0, y1) = (clamp(fy(bounds[3]) - 1), clamp(fy(bounds[1]) + 1));
    let mut out: Vec<(u64, u32, u32)> = (x0..=x1).flat_map(|x| (y0..=y1).map(move |y| (pmtiles::tile_id(z, x, y), x, y))).collect();
    out.sort_unstable_by_key(|t| t.0);
    out
}

/// One archive: every non-empty tile of `ts` from `minzoom` to `maxzoom`, rendered by the
/// server's function on all cores, written in tile-id order. Progress every few seconds.
fn write_archive(snap: &Snapshot, ts: usize, path: &Path, minzoom: u8, maxzoom: u8) -> Result<pmtiles::Written> {
    let t = &snap.tiles.tilesets[ts];
    let mut metadata = api::tiles::tilejson_of(snap, t);
    metadata["minzoom"] = json!(minzoom);
    metadata["maxzoom"] = json!(maxzoom);
    metadata["vector_layers"][0]["minzoom"] = json!(minzoom);
    metadata["vector_layers"][0]["maxzoom"] = json!(maxzoom);
    metadata["buurtmeter:data_version"] = json!(snap.version);
    let info =
        pmtiles::ArchiveInfo { min_zoom: minzoom, max_zoom: maxzoom, bounds: t.bounds, center_zoom: 11.clamp(minzoom, maxzoom), metadata };
    let mut w = pmtiles::Writer::create(path, info)?;
    let started = Instant::now();
    let mut shown = Instant::now();
    let total: usize = (minzoom..=maxzoom).map(|z| tiles_at(t.bounds, z).len()).sum();
    let mut done = 0usize;
    for z in minzoom..=maxzoom {
        for chunk in tiles_at(t.bounds, z).chunks(2048) {
            let rendered: Vec<(u64, Vec<u8>, std::io::Result<Vec<u8>>)> = chunk
                .par_iter()
                .map(|&(id, x, y)| {
                    let raw = api::tiles::tile_bytes(snap, ts, z, x, y);
                    let gz = if raw.is_empty() { Ok(Vec::new()) } else { pmtiles::compress_tile(&raw) };
                    (id, raw, gz)
                })
                .collect();
            for (id, raw, gz) in rendered {
                let gz = gz.map_err(ExportError::write(path))?;
                w.add_compressed(id, &raw, &gz)?;
            }
            done += chunk.len();
            if shown.elapsed() >= Duration::from_secs(3) {
                eprintln!(
                    "  {}: zoom {z}, {done} of {total} tiles looked at, {} with data ({:.0} s)",
                    t.id,
                    w.tiles(),
                    started.elapsed().as_secs_f64()
                );
                shown = Instant::now();
            }
        }
    }
    w.finish().map_err(Error::from)
}

/// The map's requests to the API and their static keys (`web/app.js`, `apiJSON`), asked of
/// the server's application and written as files; the manifest maps key → file.
async fn write_data(
    site: &mut Site,
    app: &axum::Router,
    snap: &Snapshot,
    styles: &BTreeMap<String, Value>,
) -> Result<(BTreeMap<String, String>, Value)> {
    let mut files = BTreeMap::new();
    let mut put = |site: &mut Site, key: String, ext: &str, bytes: &[u8]| -> Result<()> {
        let name = site.data_name(&key, ext);
        site.write(&name, "data", bytes)?;
        files.insert(key, name);
        Ok(())
    };
    let list = get(app, "/indicators").await?.ok_or_else(|| Error::Server(std::io::Error::other("/indicators did not answer")))?;
    let list_json: Value = serde_json::from_slice(&list).unwrap_or(Value::Null);
    put(site, "indicators".into(), ".json", &list)?;
    if let Some(body) = get(app, "/context.geojson").await? {
        put(site, "context".into(), ".geojson", &body)?;
    }
    for level in &snap.levels {
        if let Some(body) = get(app, &format!("/labels/{}", enc(&level.id))).await? {
            put(site, format!("labels/{}", level.id), ".json", &body)?;
        }
    }
    for ind in snap.indicators.iter().filter(|i| !i.restricted) {
        let id = &ind.def.id;
        if let Some(style) = styles.get(id) {
            put(site, format!("style/{id}"), ".json", style.to_string().as_bytes())?;
        }
        for (li, level) in snap.levels.iter().enumerate() {
            let v = &ind.per_level[li];
            let periods: Vec<Option<&String>> = if v.periods.is_empty() { vec![None] } else { v.periods.iter().map(Some).collect() };
            for p in periods {
                let path = match p {
                    Some(p) => format!("/indicators/{}?level={}&period={}", enc(id), enc(&level.id), enc(p)),
                    None => format!("/indicators/{}?level={}", enc(id), enc(&level.id)),
                };
                if let Some(body) = get(app, &path).await? {
                    put(site, format!("values/{id}/{}/{}", level.id, p.map_or("latest", |p| p.as_str())), ".json", &body)?;
                }
            }
            if v.periods.len() >= 2 {
                // Every area's values over the periods (the chart of a clicked area): the
                // published values, as the series endpoint gives them, for all areas at once.
                let values: Vec<Vec<Option<f64>>> =
                    (0..level.areas.len()).map(|a| (0..v.periods.len()).map(|p| v.value[v.index(a, p)]).collect()).collect();
                let series = json!({"level": level.id, "periods": v.periods, "values": values});
                put(site, format!("series/{id}/{}", level.id), ".json", series.to_string().as_bytes())?;
                let path = format!("/indicators/{}/trends?level={}", enc(id), enc(&level.id));
                if let Some(body) = get(app, &path).await? {
                    put(site, format!("trends/{id}/{}", level.id), ".json", &body)?;
                }
            }
            if ind.def.hotspots.is_some() {
                // The indicator's own settings, as the map asks for them; a level with too few
                // values (or over the public limits) has none, and the map says so.
                let path = format!("/indicators/{}/hotspots?level={}", enc(id), enc(&level.id));
                if let Some(body) = get(app, &path).await? {
                    put(site, format!("hotspots/{id}/{}", level.id), ".json", &body)?;
                }
            }
        }
    }
    Ok((files, list_json))
}

pub fn run(a: PublishArgs) -> Result<()> {
    if let (Some(lo), Some(hi)) = (a.minzoom, a.maxzoom)
        && lo > hi
    {
        return Err(Error::Usage(format!("--minzoom {lo} is above --maxzoom {hi}")));
    }
    if a.maxzoom.is_some_and(|z| z > crate::tiles::grid::MAX_ZOOM) {
        return Err(Error::Usage(format!("--maxzoom: tiles go up to zoom {}", crate::tiles::grid::MAX_ZOOM)));
    }
    let project = crate::commands::load_project(&a.project)?;
    let started = Instant::now();
    let snap = snapshot::build(&project)?;
    for w in &snap.warnings {
        eprintln!("warning: {w}");
    }
    let left_out: Vec<&str> =
        snap.points.iter().filter(|p| p.access == crate::config::Access::Restricted).map(|p| p.layer.id.as_str()).collect();
    if !left_out.is_empty() {
        eprintln!("left out (restricted layers are never published): {}", left_out.join(", "));
    }
    let version = snap.version.clone();
    let base = a.base_url.as_deref().map(|b| b.trim_end_matches('/').to_string());
    let prefix = base.as_ref().map(|b| format!("{b}/")).unwrap_or_default();
    std::fs::create_dir_all(&a.out).map_err(ExportError::write(&a.out))?;
    let mut site = Site { dir: a.out.clone(), version: version.clone(), files: Vec::new(), names: HashSet::new() };
    eprintln!("publishing '{}' (data version {version}) into {}", snap.name, a.out.display());

    // Tiles: every public tileset, the server's tiles byte for byte.
    let mut archives = BTreeMap::new();
    let mut archive_report = Vec::new();
    for (ts, t) in snap.tiles.tilesets.iter().enumerate().filter(|(_, t)| !t.restricted) {
        let minzoom = a.minzoom.unwrap_or(0).min(t.maxzoom);
        let maxzoom = a.maxzoom.unwrap_or(t.maxzoom).min(t.maxzoom).max(minzoom);
        let rel = format!("tiles/{}.{version}.pmtiles", t.id);
        let path = a.out.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&a.out)).map_err(ExportError::write(&a.out))?;
        let t0 = Instant::now();
        let written = write_archive(&snap, ts, &path, minzoom, maxzoom)?;
        let secs = t0.elapsed().as_secs_f64();
        eprintln!("wrote {rel}: {} tiles, zoom {minzoom}–{maxzoom}, {:.1} MB, {secs:.1} s", written.tiles, written.bytes as f64 / 1e6);
        site.files.push((rel.clone(), "pmtiles", written.bytes));
        archive_report.push(json!({"tileset": t.id, "title": t.title, "file": rel, "tiles": written.tiles, "minzoom": minzoom, "maxzoom": maxzoom, "bytes": written.bytes, "seconds": (secs * 100.0).round() / 100.0}));
        archives.insert(t.id.clone(), rel);
    }

    // Styles: MapLibre with pmtiles:// sources (relative to the page, or under --base-url),
    // and QGIS's, as `export --styles` writes them.
    let mut styles = BTreeMap::new();
    let mut downloads = json!({"csv": {}, "fgb": {}, "maplibre": {}, "qml": {}});
    for ind in snap.indicators.iter().filter(|i| !i.restricted) {
        let id = &ind.def.id;
        let mut style = export::styles::maplibre_style(&snap, ind, base.as_deref().unwrap_or(""));
        if let Some(sources) = style.get_mut("sources").and_then(Value::as_object_mut) {
            for (sid, s) in sources.iter_mut() {
                if let Some(rel) = archives.get(sid) {
                    s["url"] = json!(format!("pmtiles://{prefix}{rel}"));
                }
            }
        }
        let json_rel = format!("styles/{id}.{version}.json");
        let text = serde_json::to_string_pretty(&style).unwrap_or_default() + "\n";
        site.write(&json_rel, "style", text.as_bytes())?;
        let qml_rel = format!("styles/{id}.{version}.qml");
        site.write(&qml_rel, "style", export::styles::qml_style(ind, 0).as_bytes())?;
        downloads["maplibre"][id] = json!(json_rel);
        downloads["qml"][id] = json!(qml_rel);
        styles.insert(id.clone(), style);
    }

    // Downloads: every public indicator of a level, the server's CSV rows and FlatGeobuf.
    for (li, level) in snap.levels.iter().enumerate() {
        let rel = format!("downloads/{}.{version}.csv", level.id);
        let mut buf = Vec::new();
        buf.extend_from_slice(export::csv_out::INDICATOR_CSV_HEADER.as_bytes());
        buf.push(b'\n');
        for ind in snap.indicators.iter().filter(|i| !i.restricted) {
            export::csv_out::write_indicator_rows(&mut buf, &snap, ind, li, None, None).map_err(ExportError::write(a.out.join(&rel)))?;
        }
        site.write(&rel, "csv", &buf)?;
        downloads["csv"][&level.id] = json!(rel);
        // FlatGeobuf of the level with its public indicators (the OGC API's `f=fgb`), with
        // its spatial index: any QGIS and GDAL read it, over HTTP too.
        let rel = format!("downloads/{}.{version}.fgb", level.id);
        let mut buf = Vec::new();
        export::fgb::write_level_fgb(&snap, li, false, &mut buf)?;
        site.write(&rel, "fgb", &buf)?;
        downloads["fgb"][&level.id] = json!(rel);
    }

    // What the map asks the API for, as files.
    let state = AppState::with_options(snap, api::ServerOptions { public_url: base.clone(), ..api::ServerOptions::default() });
    let app = api::app(state.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Server)?;
    let (files, list) = runtime.block_on(write_data(&mut site, &app, &state.current(), &styles))?;
    let snap = state.current();

    // The pages and their code.
    for (name, bytes) in api::site_assets() {
        site.write(&format!("static/{name}"), "web", bytes)?;
    }
    let basemaps: Vec<&str> = snap.basemap.iter().flat_map(|b| &b.maps).map(|m| m.url.as_str()).collect();
    for lang in api::Lang::ALL {
        let name = if lang == api::Lang::Nl { "index.html".to_string() } else { format!("index.{}.html", lang.code()) };
        site.write(&name, "web", api::site_page(lang, base.as_deref(), &basemaps).as_bytes())?;
    }

    let manifest_rel = format!("data/{version}/manifest.json");
    let metadata_rel = format!("metadata.{version}.json");
    let manifest = json!({"data_version": version, "files": files, "downloads": downloads, "metadata": metadata_rel});
    site.write(&manifest_rel, "data", serde_json::to_string(&manifest).unwrap_or_default().as_bytes())?;

    // metadata: what this is, where it comes from, how it is protected, and every file.
    let indicators: Vec<Value> = list
        .get("indicators")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|i| json!({"id": i["id"], "title": i["title"], "unit": i["unit"], "source": i["source"], "disclosure": i["disclosure"], "periods": i["periods"]}))
                .collect()
        })
        .unwrap_or_default();
    let layers: Vec<Value> = snap
        .points
        .iter()
        .filter(|p| p.access != crate::config::Access::Restricted)
        .map(|p| {
            let access = if p.access == crate::config::Access::Public { "points" } else { "aggregates" };
            json!({"id": p.layer.id, "title": p.title, "access": access, "protected": p.ptable.is_some()})
        })
        .collect();
    let protected = snap.points.iter().any(|p| p.access != crate::config::Access::Restricted && p.ptable.is_some());
    let statement = format!(
        "Published values only: every value here is the one the public server shows for data version {version}. {}Cells marked 'protected' are withheld; layers restricted to API keys are not part of this publication.",
        if protected {
            "Counts of protected layers are perturbed with the cell-key method (each differs from the true count by a small amount, the same wherever the same records are counted); parts need not add up to totals. "
        } else {
            ""
        }
    );
    let mut all_files: Vec<Value> = site.files.iter().map(|(p, kind, bytes)| json!({"path": p, "kind": kind, "bytes": bytes})).collect();
    all_files.push(json!({"path": metadata_rel, "kind": "metadata"}));
    let metadata = json!({
        "project": snap.name,
        "description": snap.description,
        "data_version": version,
        "attribution": snap.attribution,
        "base_url": base,
        "levels": snap.levels.iter().map(|l| json!({"id": l.id, "areas": l.areas.len()})).collect::<Vec<_>>(),
        "point_layers": layers,
        "indicators": indicators,
        "disclosure": statement,
        "tiles": archive_report,
        "manifest": manifest_rel,
        "files": all_files,
    });
    site.write(&metadata_rel, "metadata", (serde_json::to_string_pretty(&metadata).unwrap_or_default() + "\n").as_bytes())?;

    // Last, and whole: the pointer to the current publication.
    let index = json!({"data_version": version, "manifest": manifest_rel, "metadata": metadata_rel});
    let tmp = a.out.join(".index.json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&index).unwrap_or_default() + "\n").map_err(ExportError::write(&tmp))?;
    let index_path = a.out.join("index.json");
    std::fs::rename(&tmp, &index_path).map_err(ExportError::write(&index_path))?;

    let total: u64 = site.files.iter().map(|f| f.2).sum();
    let mut out = std::io::stderr().lock();
    let _ = writeln!(
        out,
        "published {} files ({:.1} MB) in {:.1} s: open {}/index.html through any web server that answers Range requests",
        site.files.len() + 2,
        total as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
