//! `buurtmeter init` against a loopback server that plays CBS OData v3 and PDOK's OGC API
//! Features, built only from real data in ../shared/data: the recorded DataProperties and
//! TableInfos of 85984NED, the 2024 Kerncijfers values of every gemeente and wijk (served
//! as TypedDataSet pages, codes padded to 10 characters as CBS sends them, with
//! `odata.nextLink`), and the real boundaries of Heerlen (the 2024 wijken, the 2024
//! gemeente, the buurten) as item pages with `next` links as PDOK's server makes them.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const KWB: &str = "nl_kwb_2024_gm_wk_85984NED/stripped_filtered_data_2024.json";
const CBS_PAGE: usize = 10;
const PDOK_PAGE: usize = 5;
const CBS4_PAGE: usize = 50;

/// What the fake services do wrong, for the fault tests.
#[derive(Default, Clone, Copy)]
struct Faults {
    /// The first TypedDataSet request gets 429.
    too_many_once: bool,
    /// The first TypedDataSet request gets 500.
    server_error_once: bool,
    /// The second TypedDataSet page ends mid-JSON.
    truncate_second_page: bool,
    /// The last wijken page's `next` points back to the first page.
    loop_wijken: bool,
}

struct Data {
    table_infos: Value,
    data_properties: Value,
    /// Region code (trimmed) → the row's values.
    kwb: BTreeMap<String, Value>,
    /// Collection → gemeentecode → features (RD New).
    pdok: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

struct Fake {
    base: String,
    stop: Arc<AtomicBool>,
    pub log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fake {
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
    fn requests(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|r| r.contains(needle)).cloned().collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ogr_geojson(path: &Path, layer: &str, filter: &str) -> Vec<Value> {
    let out = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON", "/vsistdout/"])
        .arg(path)
        .args([layer, "-where", filter])
        .output()
        .expect("ogr2ogr (gdal-bin) must be installed");
    assert!(out.status.success(), "ogr2ogr: {}", String::from_utf8_lossy(&out.stderr));
    let fc: Value = serde_json::from_slice(&out.stdout).unwrap();
    fc["features"].as_array().unwrap().clone()
}

fn load() -> Option<Data> {
    let rec = common::shared_data("recorded_api_responses/cbs_odata_v3_85984NED")?;
    let wrap = |name: &str| -> Value {
        let value: Value = serde_json::from_slice(&std::fs::read(rec.join(format!("{name}.json"))).unwrap()).unwrap();
        json!({"odata.metadata": format!("https://opendata.cbs.nl/ODataApi/OData/85984NED/$metadata#Cbs.OData.WebAPI.{name}"), "value": value})
    };
    let kwb: BTreeMap<String, Value> = serde_json::from_slice(&std::fs::read(common::shared_data(KWB)?).unwrap()).unwrap();
    let wijken = common::shared_data("nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg")?;
    let gemeenten = common::shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg")?;
    let buurten = common::shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg")?;
    let mut pdok: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    let mut add = |collection: &str, feature: Value| {
        let gm = feature["properties"]["gemeentecode"].as_str().unwrap().to_string();
        pdok.entry(collection.into()).or_default().entry(gm).or_default().push(feature);
    };
    for f in ogr_geojson(&gemeenten, "gemeenten", "gemeentecode = 'GM0917'") {
        let p = &f["properties"];
        let id = format!("gemeente-{}", p["gemeentecode"].as_str().unwrap());
        let props = json!({"gemeentecode": p["gemeentecode"], "gemeentenaam": p["gemeentenaam"], "water": p["water"], "jaar": 2024});
        add("gemeenten", json!({"type": "Feature", "id": id, "geometry": f["geometry"], "properties": props}));
    }
    for f in ogr_geojson(&wijken, "wijken_rd", "gemeentecode = 'GM0917'") {
        let p = &f["properties"];
        let props = json!({"wijkcode": p["wijkcode"], "wijknaam": p["wijknaam"], "gemeentecode": p["gemeentecode"], "gemeentenaam": p["gemeentenaam"], "water": "NEE"});
        add("wijken", json!({"type": "Feature", "id": p["wijkcode"], "geometry": f["geometry"], "properties": props}));
    }
    for f in ogr_geojson(&buurten, "buurten_rd", "1 = 1") {
        let p = &f["properties"];
        let code = p["CBS-buurtcode"].as_str().unwrap();
        let props = json!({"buurtcode": code, "buurtnaam": p["buurtnaam"], "wijkcode": format!("WK{}", &code[2..8]), "gemeentecode": format!("GM{}", &code[2..6]), "water": "NEE"});
        add("buurten", json!({"type": "Feature", "id": code, "geometry": f["geometry"], "properties": props}));
    }
    Some(Data { table_infos: wrap("TableInfos"), data_properties: wrap("DataProperties"), kwb, pdok })
}

fn query(path: &str) -> BTreeMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8], content_length: usize) {
    let head =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn start(data: Arc<Data>, faults: Faults) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (stop2, log2, base2) = (stop.clone(), log.clone(), base.clone());
    let thread = std::thread::spawn(move || {
        let mut typed_requests = 0;
        for stream in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            log2.lock().unwrap().push(path.clone());
            let q = query(&path);
            let route = path.split('?').next().unwrap_or("");
            let ok = |stream: &mut TcpStream, v: &Value| {
                let body = serde_json::to_vec(v).unwrap();
                respond(stream, "200 OK", &body, body.len());
            };
            if let Some(what) = route.strip_prefix("/cbs4/85984NED/") {
                // CBS OData v4 from the same data: Properties, MeasureCodes, long Observations.
                let measures: Vec<Value> = data.data_properties["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["Key"].as_str().is_some_and(|k| data.kwb["GM0917"].get(k).is_some()))
                    .map(|p| json!({"Identifier": p["Key"], "Index": p["Position"], "Title": p["Title"], "Unit": p["Unit"], "Decimals": p["Decimals"]}))
                    .collect();
                match what {
                    "Properties" => {
                        let info = &data.table_infos["value"][0];
                        ok(
                            &mut stream,
                            &json!({"@odata.context": format!("{base2}/cbs4/85984NED/$metadata#Properties"), "Identifier": "85984NED", "Title": info["Title"], "Modified": info["Modified"]}),
                        );
                    }
                    "MeasureCodes" => ok(&mut stream, &json!({"@odata.context": "$metadata#MeasureCodes", "value": measures})),
                    "Observations" => {
                        let filter = q.get("$filter").cloned().unwrap_or_default();
                        let digits: Vec<&str> = filter.split('\'').skip(1).step_by(2).collect();
                        let mut rows = Vec::new();
                        for (code, values) in data.kwb.iter().filter(|(code, _)| digits.iter().any(|d| code.get(2..6) == Some(*d))) {
                            for m in &measures {
                                let key = m["Identifier"].as_str().unwrap();
                                let value = values[key].clone();
                                let attribute = if value.is_null() { "Impossible" } else { "None" };
                                rows.push(json!({"Id": rows.len(), "Measure": key, "ValueAttribute": attribute, "Value": value, "WijkenEnBuurten": code}));
                            }
                        }
                        let skip: usize = q.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
                        let page: Vec<Value> = rows.iter().skip(skip).take(CBS4_PAGE).cloned().collect();
                        let mut doc = json!({"@odata.context": format!("{base2}/cbs4/85984NED/$metadata#Observations"), "value": page});
                        if skip + CBS4_PAGE < rows.len() {
                            let next = format!(
                                "{base2}/cbs4/85984NED/Observations?$filter={}&$skip={}",
                                form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>(),
                                skip + CBS4_PAGE
                            );
                            doc["@odata.nextLink"] = json!(next);
                        }
                        ok(&mut stream, &doc);
                    }
                    _ => respond(&mut stream, "404 Not Found", b"{\"code\":\"Not Found\"}", 20),
                }
            } else if route == "/cbs/85984NED/TableInfos" {
                ok(&mut stream, &data.table_infos);
            } else if route == "/cbs/85984NED/DataProperties" {
                ok(&mut stream, &data.data_properties);
            } else if route == "/cbs/85984NED/TypedDataSet" {
                typed_requests += 1;
                if typed_requests == 1 && (faults.too_many_once || faults.server_error_once) {
                    let status = if faults.too_many_once { "429 Too Many Requests" } else { "500 Internal Server Error" };
                    respond(&mut stream, status, b"{}", 2);
                    continue;
                }
                // `substring(WijkenEnBuurten,2,4) eq '0917'`: the gemeenten's digits.
                let filter = q.get("$filter").cloned().unwrap_or_default();
                let digits: Vec<&str> = filter.split('\'').skip(1).step_by(2).collect();
                let rows: Vec<Value> = data
                    .kwb
                    .iter()
                    .filter(|(code, _)| digits.iter().any(|d| code.get(2..6) == Some(*d)))
                    .enumerate()
                    .map(|(i, (code, values))| {
                        let mut row = json!({"ID": i, "WijkenEnBuurten": format!("{code:<10}")});
                        for (k, v) in values.as_object().unwrap() {
                            row[k] = v.clone();
                        }
                        row
                    })
                    .collect();
                let skip: usize = q.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
                let page: Vec<Value> = rows.iter().skip(skip).take(CBS_PAGE).cloned().collect();
                let mut doc =
                    json!({"odata.metadata": format!("{base2}/cbs/85984NED/$metadata#Cbs.OData.WebAPI.TypedDataSet"), "value": page});
                if skip + CBS_PAGE < rows.len() {
                    let next = format!(
                        "{base2}/cbs/85984NED/TypedDataSet?$format=json&$filter={}&$skip={}",
                        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>(),
                        skip + CBS_PAGE
                    );
                    doc["odata.nextLink"] = json!(next);
                }
                let body = serde_json::to_vec(&doc).unwrap();
                if faults.truncate_second_page && skip == CBS_PAGE {
                    let cut = body.len() / 2;
                    respond(&mut stream, "200 OK", &body[..cut], cut);
                } else {
                    ok(&mut stream, &doc);
                }
            } else if let Some(rest) = route.strip_prefix("/pdok/cbs/wijken-en-buurten-2024/ogc/v1/collections/") {
                let collection = rest.trim_end_matches("/items").to_string();
                let gm = q.get("gemeentecode").cloned().unwrap_or_default();
                let all = data.pdok.get(&collection).and_then(|m| m.get(&gm)).cloned().unwrap_or_default();
                let cursor: usize = q.get("cursor").and_then(|s| s.parse().ok()).unwrap_or(0);
                let limit: usize = q.get("limit").and_then(|s| s.parse().ok()).unwrap_or(10).min(PDOK_PAGE);
                let page: Vec<Value> = all.iter().skip(cursor).take(limit).cloned().collect();
                let self_url = format!("{base2}{path}");
                let link = |c: usize| {
                    format!(
                        "{base2}/pdok/cbs/wijken-en-buurten-2024/ogc/v1/collections/{collection}/items?crs=http%3A%2F%2Fwww.opengis.net%2Fdef%2Fcrs%2FEPSG%2F0%2F28992&cursor={c}&f=json&gemeentecode={gm}&limit={limit}"
                    )
                };
                let mut links = vec![
                    json!({"rel": "self", "type": "application/geo+json", "title": "This document as GeoJSON", "href": self_url}),
                    json!({"rel": "alternate", "type": "application/vnd.ogc.fg+json", "title": "This document as JSON-FG", "href": self_url.replace("f=json", "f=jsonfg")}),
                ];
                if cursor + limit < all.len() {
                    links.push(json!({"rel": "next", "type": "application/geo+json", "title": "Next page", "href": link(cursor + limit)}));
                } else if faults.loop_wijken && collection == "wijken" {
                    links.push(json!({"rel": "next", "type": "application/geo+json", "title": "Next page", "href": link(0)}));
                }
                if cursor > 0 {
                    links.push(json!({"rel": "prev", "type": "application/geo+json", "title": "Previous page", "href": link(cursor.saturating_sub(limit))}));
                }
                let doc = json!({"type": "FeatureCollection", "timeStamp": "2025-01-01T00:00:00Z", "links": links, "features": page, "numberReturned": page.len()});
                ok(&mut stream, &doc);
            } else {
                respond(&mut stream, "404 Not Found", b"{\"code\":\"Not Found\"}", 20);
            }
            let mut rest = Vec::new();
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(1)));
            let _ = reader.read_to_end(&mut rest);
        }
    });
    Fake { base, stop, log, thread: Some(thread) }
}

fn init(base: &str, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .arg("init")
        .args(args)
        .env("BUURTMETER_CBS_ODATA_URL", format!("{base}/cbs"))
        .env("BUURTMETER_PDOK_URL", format!("{base}/pdok"))
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("run buurtmeter init")
}

fn gpkg_codes(path: &Path, layer: &str, field: &str) -> Vec<String> {
    let mut codes: Vec<String> = common::ogr_sql(path, &format!("SELECT {field} FROM {layer}"))
        .into_iter()
        .filter_map(|row| row.into_iter().find(|(k, _)| k == field).map(|(_, v)| v))
        .collect();
    codes.sort();
    codes
}

/// The CSV `init` wrote: code (trimmed) → column → value.
fn written_csv(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    let code_col = header.iter().position(|h| h == "WijkenEnBuurten").expect("WijkenEnBuurten column");
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!(r[code_col].len(), 10, "codes stay padded as CBS sends them");
            (r[code_col].trim().to_string(), header.iter().cloned().zip(r.iter().map(str::to_string)).collect())
        })
        .collect()
}

fn out_text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn init_heerlen_downloads_pages_caches_and_checks() {
    let Some(data) = load() else { return };
    let data = Arc::new(data);
    let file_wijken: Vec<&String> = data.kwb.keys().filter(|c| c.starts_with("WK0917")).collect();
    let mut fake = start(data.clone(), Faults::default());
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("heerlen");
    let o = init(&fake.base, cache.path(), &["--gemeente", "GM0917", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "init failed:\n{}", out_text(&o));
    let project = out.join("project.toml");
    assert!(project.exists());

    // Boundaries: the real wijken and the gemeente, paging followed to the end.
    let gpkg = out.join("grenzen.gpkg");
    let wijken = gpkg_codes(&gpkg, "wijken", "wijkcode");
    assert_eq!(wijken.len(), file_wijken.len(), "every wijk of Heerlen: {wijken:?}");
    assert_eq!(wijken.iter().collect::<Vec<_>>(), file_wijken);
    assert_eq!(gpkg_codes(&gpkg, "gemeenten", "gemeentecode"), vec!["GM0917".to_string()]);
    assert_eq!(gpkg_codes(&gpkg, "buurten", "buurtcode").len(), data.pdok["buurten"]["GM0917"].len());
    let wijk_pages = fake.requests("/collections/wijken/items");
    assert_eq!(wijk_pages.len(), file_wijken.len().div_ceil(PDOK_PAGE), "{wijk_pages:?}");

    // Figures: every row of the file for Heerlen, equal to the file's values.
    let csv_name =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).find(|n| n.ends_with(".csv")).unwrap();
    let written = written_csv(&out.join(&csv_name));
    let expected: Vec<&String> = data.kwb.keys().filter(|c| c.get(2..6) == Some("0917")).collect();
    assert_eq!(written.keys().collect::<Vec<_>>(), expected);
    assert_eq!(fake.requests("/TypedDataSet").len(), expected.len().div_ceil(CBS_PAGE));
    for (code, values) in &written {
        for (key, v) in data.kwb[code].as_object().unwrap() {
            assert_eq!(values[key], v.to_string(), "{code} {key}");
        }
    }
    let gm = &data.kwb["GM0917"];
    assert_eq!(written["GM0917"]["AantalInwoners_5"], gm["AantalInwoners_5"].to_string());
    assert_eq!(written["GM0917"]["Woningvoorraad_35"], gm["Woningvoorraad_35"].to_string());

    // Indicators with titles and units from DataProperties.
    let toml = std::fs::read_to_string(&project).unwrap();
    assert!(toml.contains("title = \"Aantal inwoners\""), "{toml}");
    assert!(toml.contains("unit = \"aantal inwoners per km²\""), "{toml}");
    assert!(toml.contains("denominator = \"OppervlakteLand_123\""), "{toml}");
    assert!(toml.contains("Kerncijfers wijken en buurten 2024"), "{toml}");

    // The written project is a working project.
    let check = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
    assert!(check.status.success(), "check failed:\n{}", out_text(&check));

    // The served values are the file's: the gemeente's inhabitants, every wijk's density.
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);
    let (status, body) = server.get("/indicators/inwoners?level=gemeenten");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let row = &served["values"].as_array().unwrap()[0];
    assert_eq!(row["code"], "GM0917");
    assert_eq!(row["value"].as_f64(), gm["AantalInwoners_5"].as_f64());
    let (status, body) = server.get("/indicators/inwoners_per_km2?level=wijken");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let rows = served["values"].as_array().unwrap();
    assert_eq!(rows.len(), file_wijken.len());
    for row in rows {
        let f = &data.kwb[row["code"].as_str().unwrap()];
        let expected = f["AantalInwoners_5"].as_f64().unwrap() / f["OppervlakteLand_123"].as_f64().unwrap() * 100.0;
        let got = row["value"].as_f64().unwrap();
        assert!((got - expected).abs() <= 1e-9 * expected, "{}: {got} != {expected}", row["code"]);
    }
    drop(server);

    // The server gone: a second init works from the cache and says so.
    fake.stop();
    let again = work.path().join("again");
    let o = init(&fake.base, cache.path(), &["--gemeente", "GM0917", "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "init from the cache failed:\n{}", out_text(&o));
    assert!(common::stderr(&o).contains("from the cache"), "{}", common::stderr(&o));
    assert_eq!(std::fs::read(out.join(&csv_name)).unwrap(), std::fs::read(again.join(&csv_name)).unwrap());
    assert_eq!(std::fs::read_to_string(again.join("project.toml")).unwrap(), toml);

    // --refresh without the network: a clear error that names the URL.
    let o = init(&fake.base, cache.path(), &["--gemeente", "GM0917", "--out", again.to_str().unwrap(), "--refresh"]);
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("cannot reach") && err.contains(&fake.base), "{err}");
}

fn faulty(faults: Faults) -> (Output, PathBuf, tempfile::TempDir, Fake) {
    let data = Arc::new(load().unwrap());
    let fake = start(data, faults);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let o = init(&fake.base, &dir.path().join("cache"), &["--gemeente", "gm0917", "--out", out.to_str().unwrap()]);
    (o, out, dir, fake)
}

#[test]
fn retries_after_429_and_500() {
    if common::shared_data(KWB).is_none() {
        return;
    }
    for faults in [Faults { too_many_once: true, ..Faults::default() }, Faults { server_error_once: true, ..Faults::default() }] {
        let (o, out, _dir, fake) = faulty(faults);
        assert!(o.status.success(), "{}", out_text(&o));
        let err = common::stderr(&o);
        assert!(err.contains("trying again"), "{err}");
        assert!(out.join("project.toml").exists());
        assert_eq!(fake.requests("/TypedDataSet").len(), 1 + data_pages());
    }
}

fn data_pages() -> usize {
    let kwb: BTreeMap<String, Value> = serde_json::from_slice(&std::fs::read(common::shared_data(KWB).unwrap()).unwrap()).unwrap();
    kwb.keys().filter(|c| c.get(2..6) == Some("0917")).count().div_ceil(CBS_PAGE)
}

#[test]
fn truncated_page_is_an_error_not_a_short_table() {
    if common::shared_data(KWB).is_none() {
        return;
    }
    let (o, out, dir, _fake) = faulty(Faults { truncate_second_page: true, ..Faults::default() });
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("not complete JSON") && err.contains("TypedDataSet"), "{err}");
    assert!(!out.join("project.toml").exists());
    // Nothing short was cached.
    let cached: Vec<String> = std::fs::read_dir(dir.path().join("cache/buurtmeter/sources"))
        .map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    assert!(cached.iter().all(|n| !n.contains("TypedDataSet")), "{cached:?}");
}

#[test]
fn looping_next_link_is_an_error() {
    if common::shared_data(KWB).is_none() {
        return;
    }
    let (o, out, _dir, _fake) = faulty(Faults { loop_wijken: true, ..Faults::default() });
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("loops back") && err.contains("collections/wijken"), "{err}");
    assert!(!out.join("project.toml").exists());
}

#[test]
fn a_wrong_gemeente_code_says_what_to_give() {
    let o = common::buurtmeter(&["init", "--gemeente", "Heerlen"]);
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains("GM0917"), "{}", common::stderr(&o));
    let o = common::buurtmeter(&["init", "--gemeente", "GM0917", "--year", "2010"]);
    assert!(!o.status.success());
    assert!(common::stderr(&o).contains("2024"), "{}", common::stderr(&o));
}

fn with_sources(base: &str, cache: &Path, args: &[&str]) -> Output {
    with_cbs(&format!("{base}/cbs"), base, cache, args)
}

fn with_cbs(cbs: &str, base: &str, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .args(args)
        .env("BUURTMETER_CBS_ODATA_URL", cbs)
        .env("BUURTMETER_CBS_ODATA4_URL", format!("{base}/cbs4"))
        .env("BUURTMETER_PDOK_URL", format!("{base}/pdok"))
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("run buurtmeter")
}

const SOURCES_PROJECT: &str = r#"name = "Heerlen from the sources"
region = ["GM0917"]

[[levels]]
id = "buurten"
source = { pdok = "wijken-en-buurten-2024", collection = "buurten" }

[[levels]]
id = "wijken"
source = { pdok = "wijken-en-buurten-2024", collection = "wijken" }

[[levels]]
id = "gemeenten"
source = { pdok = "wijken-en-buurten-2024", collection = "gemeenten" }

[[statistics]]
source = { cbs = "85984NED" }
period = "2024"

[[indicators]]
id = "inwoners"
title = "Aantal inwoners"
numerator = { statistic = "AantalInwoners_5" }
period = "year"
"#;

#[test]
fn project_sources_are_downloaded_for_the_region_and_cached() {
    let Some(data) = load() else { return };
    let data = Arc::new(data);
    let mut fake = start(data.clone(), Faults::default());
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project.toml");
    std::fs::write(&project, SOURCES_PROJECT).unwrap();
    let o = with_sources(&fake.base, cache.path(), &["check", "--project", project.to_str().unwrap()]);
    assert!(o.status.success(), "check failed:\n{}", out_text(&o));

    // Only the region was asked for: every request names GM0917 / 0917.
    let pdok = fake.requests("/collections/");
    assert!(!pdok.is_empty() && pdok.iter().all(|r| r.contains("gemeentecode=GM0917")), "{pdok:?}");
    let cbs = fake.requests("/TypedDataSet");
    assert!(!cbs.is_empty() && cbs.iter().all(|r| r.contains("0917")), "{cbs:?}");

    // The files are in the cache; served from it with the services gone, equal to the data.
    fake.stop();
    let files = cache.path().join("buurtmeter/sources/files");
    let names: Vec<String> = std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("cbs-85984NED-GM0917") && n.ends_with(".csv")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("pdok-wijken-en-buurten-2024-wijken-GM0917") && n.ends_with(".gpkg")), "{names:?}");
    let server = common::Server::start_with_env(
        &["--project", project.to_str().unwrap()],
        &[("XDG_CACHE_HOME", cache.path().to_str().unwrap()), ("BUURTMETER_PDOK_URL", &format!("{}/pdok", fake.base))],
    );
    let (status, body) = server.get("/indicators/inwoners?level=gemeenten");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let row = &served["values"].as_array().unwrap()[0];
    assert_eq!(row["code"], "GM0917");
    assert_eq!(row["value"].as_f64(), data.kwb["GM0917"]["AantalInwoners_5"].as_f64());
    let (status, body) = server.get("/indicators/inwoners?level=wijken");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).unwrap();
    let rows = served["values"].as_array().unwrap();
    assert_eq!(rows.len(), data.kwb.keys().filter(|c| c.starts_with("WK0917")).count());
    for row in rows {
        assert_eq!(row["value"].as_f64(), data.kwb[row["code"].as_str().unwrap()]["AantalInwoners_5"].as_f64(), "{row}");
    }
}

#[test]
fn a_source_without_network_or_cache_names_the_source_and_the_url() {
    let Some(data) = load() else { return };
    let mut fake = start(Arc::new(data), Faults::default());
    fake.stop();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project.toml");
    std::fs::write(&project, SOURCES_PROJECT).unwrap();
    let o = with_sources(&fake.base, cache.path(), &["check", "--project", project.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("levels 'buurten': source PDOK wijken-en-buurten-2024/buurten"), "{err}");
    assert!(err.contains("cannot reach") && err.contains(&format!("{}/pdok/cbs/wijken-en-buurten-2024", fake.base)), "{err}");
}

#[test]
fn path_and_source_together_or_neither_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project.toml");
    let cases = [
        (SOURCES_PROJECT.replacen("id = \"wijken\"\n", "id = \"wijken\"\npath = \"wijken.gpkg\"\n", 1), "together"),
        (SOURCES_PROJECT.replacen("source = { cbs = \"85984NED\" }\n", "", 1), "give either path"),
        (SOURCES_PROJECT.replacen("region = [\"GM0917\"]\n", "", 1), "region"),
        (SOURCES_PROJECT.replacen("{ cbs = \"85984NED\" }", "{ pdok = \"wijken-en-buurten-2024\" }", 1), "cbs = \"85984NED\""),
    ];
    for (text, expected) in cases {
        std::fs::write(&project, &text).unwrap();
        let o = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
        assert!(!o.status.success(), "{text}");
        let err = common::stderr(&o);
        assert!(err.contains(expected) && err.contains("project.toml"), "{expected}: {err}");
    }
}

/// The cached CSV of a CBS source (there is one per test cache).
fn cached_csv(cache: &Path) -> PathBuf {
    let files = cache.join("buurtmeter/sources/files");
    std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("cbs-85984NED") && p.extension().is_some_and(|e| e == "csv"))
        .expect("the CBS table in the cache")
}

#[test]
fn odata4_observations_are_pivoted_to_the_same_table_as_v3() {
    let Some(data) = load() else { return };
    let data = Arc::new(data);
    let fake = start(data.clone(), Faults::default());
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project.toml");
    let check = |text: &str, cbs: &str, cache: &Path| {
        std::fs::write(&project, text).unwrap();
        let o = with_cbs(cbs, &fake.base, cache, &["check", "--project", project.to_str().unwrap()]);
        assert!(o.status.success(), "check failed:\n{}", out_text(&o));
        o
    };
    let (v3_cache, v4_cache, fallback_cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    check(SOURCES_PROJECT, &format!("{}/cbs", fake.base), v3_cache.path());
    let v4_project = SOURCES_PROJECT.replace("{ cbs = \"85984NED\" }", "{ cbs = \"85984NED\", odata = 4 }");
    check(&v4_project, &format!("{}/cbs", fake.base), v4_cache.path());
    let v3 = written_csv(&cached_csv(v3_cache.path()));
    let v4 = written_csv(&cached_csv(v4_cache.path()));

    // Paged to the end: every observation of Heerlen (regions × measures).
    let measures = data.kwb["GM0917"].as_object().unwrap().len();
    let regions = data.kwb.keys().filter(|c| c.get(2..6) == Some("0917")).count();
    assert_eq!(fake.requests("/cbs4/85984NED/Observations").len(), (regions * measures).div_ceil(CBS4_PAGE));
    assert!(fake.requests("/cbs4/85984NED/MeasureCodes").len() == 1);

    // The same rows, the same columns, the same values as the v3 TypedDataSet.
    assert_eq!(v3.keys().collect::<Vec<_>>(), v4.keys().collect::<Vec<_>>());
    assert_eq!(v4.len(), regions);
    for (code, row) in &v3 {
        assert_eq!(row, &v4[code], "{code}");
    }
    assert_eq!(v4["GM0917"]["AantalInwoners_5"], "87461");
    assert_eq!(v4["GM0917"]["Woningvoorraad_35"], "46697");

    // A table not in v3 (its v3 service answers 404) falls back to v4.
    let o = check(SOURCES_PROJECT, &format!("{}/nov3", fake.base), fallback_cache.path());
    assert!(common::stderr(&o).contains("not in OData v3"), "{}", common::stderr(&o));
    assert_eq!(written_csv(&cached_csv(fallback_cache.path())), v4);

    // odata = 5 is no CBS OData version.
    std::fs::write(&project, SOURCES_PROJECT.replace("{ cbs = \"85984NED\" }", "{ cbs = \"85984NED\", odata = 5 }")).unwrap();
    let o = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
    assert!(!o.status.success() && common::stderr(&o).contains("odata = 4"), "{}", common::stderr(&o));
}
