//! `buurtmeter init`: a project for one or more gemeenten from the official sources.
//!
//! Downloads the Kerncijfers wijken en buurten of a year from CBS OData v3 (`TableInfos`,
//! `DataProperties`, `TypedDataSet` filtered on the gemeenten, `odata.nextLink` paging;
//! OData v4 `Properties`, `MeasureCodes` and `Observations` pivoted to the same rows when a
//! table is only there)
//! and the gemeente, its wijken and buurten from PDOK's OGC API Features (`gemeentecode`
//! filter, RD New, cursor paging by the `next` link), caches every download under
//! `$XDG_CACHE_HOME/buurtmeter/sources/`, and writes ordinary files the pipeline reads
//! (`kerncijfers_<year>_<table>.csv` with the CBS keys, `grenzen.gpkg`) and a
//! `project.toml` that names them with `path =`. Only the command's own module: nothing
//! in the pipeline depends on it.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gdal::vector::{OGRFieldType, OGRwkbGeometryType};
use serde_json::{Value, json};

use crate::config::Project;
use crate::export::gpkg;
use crate::region::Region;

/// The Kerncijfers wijken en buurten table of each year (CBS OData v3).
pub const KWB_TABLES: &[(u16, &str)] = &[
    (2017, "83765NED"),
    (2018, "84286NED"),
    (2019, "84583NED"),
    (2020, "84799NED"),
    (2021, "85039NED"),
    (2022, "85318NED"),
    (2023, "85618NED"),
    (2024, "85984NED"),
    (2025, "86165NED"),
];

const CBS_DEFAULT: &str = "https://opendata.cbs.nl/ODataApi/odata";
const CBS4_DEFAULT: &str = "https://datasets.cbs.nl/odata/v1/CBS";
const PDOK_DEFAULT: &str = "https://api.pdok.nl";
const RD_CRS_URI: &str = "http://www.opengis.net/def/crs/EPSG/0/28992";
/// Attempts per request on 429, 5xx or a broken connection.
const ATTEMPTS: u32 = 4;
/// Pages per source at most (a `next` chain longer than this is an error, not a table).
const MAX_PAGES: usize = 10_000;

/// What `init` was asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub gemeenten: Vec<String>,
    pub year: u16,
    pub out: PathBuf,
    pub refresh: bool,
}

/// Why `init` could not write the project; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Usage(String),
    #[error(
        "cannot reach {url}: {message}. Nothing is cached for this download yet: check the internet connection \
         (or BUURTMETER_CBS_ODATA_URL / BUURTMETER_CBS_ODATA4_URL / BUURTMETER_PDOK_URL for a mirror) and run the command again"
    )]
    Unreachable { url: String, message: String },
    #[error("{url} answered HTTP {status} (attempt {attempts}): {hint}")]
    Http { url: String, status: u16, attempts: u32, hint: String },
    #[error(
        "the answer of {url} is not complete JSON ({bytes} bytes received: {message}); the download was stopped rather than make a short table. Run init again"
    )]
    Truncated { url: String, bytes: usize, message: String },
    #[error("the answer of {url} is not what {source_name} sends: {message}")]
    Unexpected { url: String, source_name: &'static str, message: String },
    #[error("the next page of {first} loops back to {url} (page {page}); the download was stopped rather than make a short table")]
    Loop { first: String, url: String, page: usize },
    #[error("{0}")]
    NotFound(String),
    #[error("{what}: {message}")]
    Source { what: String, message: String },
    #[error(
        "{url} is not in the cache ({cache}) and the network is not used here: run `buurtmeter check --project <file>` once with the network"
    )]
    NotCached { url: String, cache: String },
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

type Result<T> = std::result::Result<T, InitError>;

/// Downloads with retries, a timeout per request, and the cache.
struct Fetcher {
    agent: ureq::Agent,
    cache: PathBuf,
    refresh: bool,
    /// The cache only, never the network.
    offline: bool,
}

/// The rows of one download, as cached.
struct Download {
    rows: Vec<Value>,
    pages: usize,
    from_cache: Option<String>,
}

fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("buurtmeter").join("sources")
}

fn base_url(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string()).trim_end_matches('/').to_string()
}

/// A file name for a cache key: readable part plus a hash of the whole key.
fn cache_name(key: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(key.as_bytes());
    let short: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let readable: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(60).collect();
    format!("{readable}-{short}.json")
}

impl Fetcher {
    fn new(refresh: bool) -> Fetcher {
        let timeout =
            std::env::var("BUURTMETER_HTTP_TIMEOUT_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(120.0);
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout(Duration::from_secs_f64(timeout))
            .user_agent(concat!("buurtmeter/", env!("CARGO_PKG_VERSION")))
            .build();
        Fetcher { agent, cache: cache_root(), refresh, offline: false }
    }

    /// One JSON document, with retries on 429, 5xx and broken connections (bounded).
    fn get_json(&self, url: &str, source_name: &'static str) -> Result<Value> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = Duration::from_millis(500 * (1 << (attempt - 1).min(4)));
            match self.agent.get(url).set("Accept", "application/json").call() {
                Ok(resp) => {
                    let mut body = Vec::new();
                    let read = std::io::Read::read_to_end(&mut resp.into_reader(), &mut body);
                    if let Err(e) = read {
                        return Err(InitError::Truncated { url: url.into(), bytes: body.len(), message: e.to_string() });
                    }
                    return serde_json::from_slice(&body).map_err(|e| {
                        if e.is_eof() {
                            InitError::Truncated { url: url.into(), bytes: body.len(), message: e.to_string() }
                        } else {
                            InitError::Unexpected { url: url.into(), source_name, message: format!("not JSON: {e}") }
                        }
                    });
                }
                Err(ureq::Error::Status(status, resp)) => {
                    let retry = status == 429 || status >= 500;
                    if retry && attempt < ATTEMPTS {
                        let after =
                            resp.header("Retry-After").and_then(|s| s.trim().parse::<u64>().ok()).map(|s| Duration::from_secs(s.min(30)));
                        let wait = after.unwrap_or(wait);
                        eprintln!(
                            "  {source_name} answered HTTP {status}; trying again in {:.1} s (attempt {} of {ATTEMPTS})",
                            wait.as_secs_f64(),
                            attempt + 1
                        );
                        std::thread::sleep(wait);
                        continue;
                    }
                    let hint = match status {
                        404 => "not found: check the gemeente code and the year".to_string(),
                        429 => "too many requests: wait a few minutes and run the command again".to_string(),
                        s if s >= 500 => format!("{source_name} has a problem: try again later"),
                        _ => format!("{source_name} refused the request"),
                    };
                    return Err(InitError::Http { url: url.into(), status, attempts: attempt, hint });
                }
                Err(ureq::Error::Transport(t)) => {
                    if attempt < ATTEMPTS.min(2) {
                        std::thread::sleep(wait);
                        continue;
                    }
                    return Err(InitError::Unreachable { url: url.into(), message: t.to_string() });
                }
            }
        }
    }

    /// Every page from `first`, following `next(page)`, rows from `rows(page)`; from the
    /// cache under `key` when it is there (and not `--refresh`).
    fn paged(
        &self,
        key: &str,
        first: &str,
        source_name: &'static str,
        rows_of: impl Fn(&Value) -> Option<Vec<Value>>,
        next_of: impl Fn(&Value) -> Option<String>,
    ) -> Result<Download> {
        let file = self.cache.join(cache_name(key));
        if !self.refresh
            && let Some(doc) = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            && doc.get("key").and_then(Value::as_str) == Some(key)
            && let Some(rows) = doc.get("rows").and_then(Value::as_array)
        {
            let fetched = doc.get("fetched").and_then(Value::as_str).unwrap_or("earlier").to_string();
            let pages = doc.get("pages").and_then(Value::as_u64).unwrap_or(0) as usize;
            return Ok(Download { rows: rows.clone(), pages, from_cache: Some(fetched) });
        }
        if self.offline {
            return Err(InitError::NotCached { url: first.into(), cache: self.cache.display().to_string() });
        }
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        let mut url = first.to_string();
        let mut pages = 0;
        loop {
            if !seen.insert(url.clone()) || pages >= MAX_PAGES {
                return Err(InitError::Loop { first: first.into(), url, page: pages + 1 });
            }
            let page = self.get_json(&url, source_name)?;
            pages += 1;
            let page_rows = rows_of(&page).ok_or_else(|| InitError::Unexpected {
                url: url.clone(),
                source_name,
                message: "no list of rows or features".into(),
            })?;
            rows.extend(page_rows);
            if pages > 1 && pages % 10 == 0 {
                eprintln!("  {source_name}: {pages} pages, {} rows so far", rows.len());
            }
            match next_of(&page) {
                Some(next) => url = next,
                None => break,
            }
        }
        let doc = json!({"key": key, "url": first, "fetched": crate::ingest::text::now_utc_rfc3339(), "pages": pages, "rows": &rows});
        let write = std::fs::create_dir_all(&self.cache).and_then(|()| {
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(&doc).unwrap_or_default())?;
            std::fs::rename(&tmp, &file)
        });
        if let Err(e) = write {
            eprintln!("  warning: cannot cache the download in {}: {e}", self.cache.display());
        }
        Ok(Download { rows, pages, from_cache: None })
    }
}

fn say_source(what: &str, d: &Download) {
    match &d.from_cache {
        Some(when) => {
            eprintln!("  {what}: {} rows from the cache (downloaded {when}; no network used, --refresh downloads again)", d.rows.len())
        }
        None => eprintln!("  {what}: {} rows downloaded ({} page{})", d.rows.len(), d.pages, if d.pages == 1 { "" } else { "s" }),
    }
}

/// `GM0917`, `gm0917` or `0917` → `GM0917`.
pub fn gemeente_code(s: &str) -> Option<String> {
    let t = s.trim();
    let digits = t.strip_prefix("GM").or_else(|| t.strip_prefix("gm")).or_else(|| t.strip_prefix("Gm")).unwrap_or(t);
    (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| format!("GM{digits}"))
}

fn percent(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The key without CBS's numeric suffix: `AantalInwoners_5` → `AantalInwoners`.
fn base_key(key: &str) -> &str {
    match key.rsplit_once('_') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key,
    }
}

/// Run `init`: download (or take from the cache), write the files and `project.toml`.
pub fn run(req: &Request) -> Result<PathBuf> {
    let codes: Vec<String> = req
        .gemeenten
        .iter()
        .map(|g| {
            gemeente_code(g).ok_or_else(|| InitError::Usage(format!("'{g}' is not a gemeente code: give it as GM0917 (CBS gemeentecode)")))
        })
        .collect::<Result<_>>()?;
    let codes: Vec<String> = codes.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    if codes.is_empty() {
        return Err(InitError::Usage("give at least one gemeente: --gemeente GM0917".into()));
    }
    let table = KWB_TABLES.iter().find(|(y, _)| *y == req.year).map(|(_, t)| *t).ok_or_else(|| {
        let years: Vec<String> = KWB_TABLES.iter().map(|(y, _)| y.to_string()).collect();
        InitError::Usage(format!("no Kerncijfers wijken en buurten known for {}: --year takes {}", req.year, years.join(", ")))
    })?;
    let fetcher = Fetcher::new(req.refresh);
    let cbs = base_url("BUURTMETER_CBS_ODATA_URL", CBS_DEFAULT);
    let pdok = base_url("BUURTMETER_PDOK_URL", PDOK_DEFAULT);
    eprintln!("buurtmeter init: {} for {}", codes.join(", "), req.year);

    // CBS: the table's title and date, its keys, titles and units, and the rows.
    eprintln!("CBS Kerncijfers wijken en buurten {} ({table}):", req.year);
    let value_rows = |v: &Value| v.get("value").and_then(Value::as_array).cloned();
    let odata_next = |v: &Value| v.get("odata.nextLink").and_then(Value::as_str).map(str::to_string);
    let infos = fetcher.paged(
        &format!("cbs-{table}-TableInfos"),
        &format!("{cbs}/{table}/TableInfos?$format=json"),
        "CBS OData",
        value_rows,
        odata_next,
    );
    let (info, props, data) = match infos {
        Ok(infos) => {
            say_source("TableInfos", &infos);
            let props = fetcher.paged(
                &format!("cbs-{table}-DataProperties"),
                &format!("{cbs}/{table}/DataProperties?$format=json"),
                "CBS OData",
                value_rows,
                odata_next,
            )?;
            say_source("DataProperties", &props);
            let data = cbs_rows(&fetcher, &cbs, table, &codes)?;
            say_source("TypedDataSet", &data);
            (infos.rows.first().cloned().unwrap_or(Value::Null), props.rows, data)
        }
        Err(InitError::Http { status: 404, url, .. }) => {
            eprintln!("  {table} is not in CBS OData v3 ({url}): CBS OData v4");
            let t = cbs4_table(&fetcher, &base_url("BUURTMETER_CBS_ODATA4_URL", CBS4_DEFAULT), table, &codes, true)?;
            (t.info, t.props, t.data)
        }
        Err(e) => return Err(e),
    };
    if data.rows.is_empty() {
        return Err(InitError::NotFound(format!(
            "CBS table {table} has no rows for {}: check the gemeente code(s) for {}",
            codes.join(", "),
            req.year
        )));
    }
    let title = info.get("Title").and_then(Value::as_str).unwrap_or("Kerncijfers wijken en buurten").to_string();
    let modified = info.get("Modified").and_then(Value::as_str).map(|m| m.get(..10).unwrap_or(m).to_string());

    // PDOK: the gemeenten, wijken and buurten, filtered on the gemeenten.
    eprintln!("PDOK CBS Wijken en Buurten {}:", req.year);
    let mut levels: Vec<(&str, &str, Vec<Value>)> = Vec::new();
    for (collection, singular) in [("buurten", "buurt"), ("wijken", "wijk"), ("gemeenten", "gemeente")] {
        let all = pdok_features(&fetcher, &pdok, &format!("wijken-en-buurten-{}", req.year), collection, &codes, true)?;
        levels.push((collection, singular, all));
    }

    std::fs::create_dir_all(&req.out).map_err(|e| InitError::Write { path: req.out.clone(), message: e.to_string() })?;
    let gpkg_path = req.out.join("grenzen.gpkg");
    write_boundaries(&gpkg_path, &levels)?;
    let csv_name = format!("kerncijfers_{}_{table}.csv", req.year);
    write_csv(&req.out.join(&csv_name), &data.rows)?;
    let names: Vec<String> = levels
        .iter()
        .find(|(c, ..)| *c == "gemeenten")
        .map(|(_, _, f)| f.iter().filter_map(|f| prop_str(f, &["gemeentenaam", "statnaam", "naam"])).collect())
        .unwrap_or_default();
    let project = project_toml(req, table, &title, modified.as_deref(), &codes, &names, &csv_name, &props, &data.rows);
    let path = req.out.join("project.toml");
    std::fs::write(&path, project).map_err(|e| InitError::Write { path: path.clone(), message: e.to_string() })?;
    let counts: Vec<String> = levels.iter().map(|(c, _, f)| format!("{} {c}", f.len())).collect();
    eprintln!("wrote {} ({}; {} rows of CBS figures)", path.display(), counts.join(", "), data.rows.len());
    eprintln!("next: buurtmeter serve --project {}", path.display());
    Ok(path)
}

/// The `TypedDataSet` rows of a CBS OData v3 table for the gemeenten (`$filter` on the
/// server, `odata.nextLink` paging).
fn cbs_rows(fetcher: &Fetcher, cbs: &str, table: &str, codes: &[String]) -> Result<Download> {
    let value_rows = |v: &Value| v.get("value").and_then(Value::as_array).cloned();
    let odata_next = |v: &Value| v.get("odata.nextLink").and_then(Value::as_str).map(str::to_string);
    let filter = codes.iter().map(|c| format!("substring(WijkenEnBuurten,2,4) eq '{}'", &c[2..])).collect::<Vec<_>>().join(" or ");
    fetcher.paged(
        &format!("cbs-{table}-TypedDataSet-{}", codes.join("-")),
        &format!("{cbs}/{table}/TypedDataSet?$format=json&$filter={}", percent(&filter)),
        "CBS OData",
        value_rows,
        odata_next,
    )
}

/// A CBS OData v4 table for the gemeenten, in the shapes of the v3 path: the title and
/// `Modified` (from `Properties`), the measures as `Key`/`Title`/`Unit` (from `MeasureCodes`)
/// and the rows pivoted from `Observations` to one row per region, one column per measure.
struct Cbs4 {
    info: Value,
    props: Vec<Value>,
    data: Download,
}

fn cbs4_table(fetcher: &Fetcher, cbs4: &str, table: &str, codes: &[String], say: bool) -> Result<Cbs4> {
    let value_rows = |v: &Value| v.get("value").and_then(Value::as_array).cloned();
    let one = |v: &Value| v.is_object().then(|| vec![v.clone()]);
    let next = |v: &Value| v.get("@odata.nextLink").and_then(Value::as_str).map(str::to_string);
    let properties =
        fetcher.paged(&format!("cbs4-{table}-Properties"), &format!("{cbs4}/{table}/Properties"), "CBS OData v4", one, next)?;
    let measures =
        fetcher.paged(&format!("cbs4-{table}-MeasureCodes"), &format!("{cbs4}/{table}/MeasureCodes"), "CBS OData v4", value_rows, next)?;
    let filter = codes.iter().map(|c| format!("substring(WijkenEnBuurten,2,4) eq '{}'", &c[2..])).collect::<Vec<_>>().join(" or ");
    let observations = fetcher.paged(
        &format!("cbs4-{table}-Observations-{}", codes.join("-")),
        &format!("{cbs4}/{table}/Observations?$filter={}", percent(&filter)),
        "CBS OData v4",
        value_rows,
        next,
    )?;
    if say {
        say_source("Properties", &properties);
        say_source("MeasureCodes", &measures);
        say_source("Observations", &observations);
    } else if observations.from_cache.is_none() {
        say_source(&format!("CBS {table} Observations (OData v4)"), &observations);
    }
    let props: Vec<Value> = measures
        .rows
        .iter()
        .filter_map(|m| {
            let s = |f: &str| m.get(f).and_then(Value::as_str).unwrap_or("").to_string();
            m.get("Identifier").and_then(Value::as_str).map(|k| json!({"Key": k, "Title": s("Title"), "Unit": s("Unit")}))
        })
        .collect();
    let rows = pivot(&observations.rows, &props, &format!("{cbs4}/{table}/Observations"))?;
    let info = properties.rows.into_iter().next().unwrap_or(Value::Null);
    Ok(Cbs4 { info, props, data: Download { rows, pages: observations.pages, from_cache: observations.from_cache } })
}

/// Long observations (one per region × measure) to wide rows as `TypedDataSet` gives them:
/// `ID`, the region code padded to 10 characters as CBS writes it, then a column per
/// measure identifier (`Value`, or `StringValue` for a text measure; empty when missing).
fn pivot(observations: &[Value], measures: &[Value], url: &str) -> Result<Vec<Value>> {
    const FIELDS: [&str; 5] = ["Id", "Measure", "Value", "ValueAttribute", "StringValue"];
    let region_dim = observations
        .first()
        .and_then(Value::as_object)
        .and_then(|o| o.keys().find(|k| *k == "WijkenEnBuurten").or_else(|| o.keys().find(|k| !FIELDS.contains(&k.as_str()))))
        .cloned()
        .unwrap_or_else(|| "WijkenEnBuurten".into());
    let mut by_region: std::collections::BTreeMap<String, serde_json::Map<String, Value>> = std::collections::BTreeMap::new();
    for (i, o) in observations.iter().enumerate() {
        let bad = |what: &str| InitError::Unexpected {
            url: url.into(),
            source_name: "CBS OData v4",
            message: format!("observation {} has no {what}", i + 1),
        };
        let region = o.get(&region_dim).and_then(Value::as_str).ok_or_else(|| bad(&region_dim))?.trim().to_string();
        let measure = o.get("Measure").and_then(Value::as_str).ok_or_else(|| bad("Measure"))?.trim().to_string();
        let value = match o.get("Value") {
            Some(v) if !v.is_null() => v.clone(),
            _ => o.get("StringValue").cloned().unwrap_or(Value::Null),
        };
        by_region.entry(region).or_default().insert(measure, value);
    }
    let known: Vec<&str> = measures.iter().filter_map(|m| m.get("Key").and_then(Value::as_str)).collect();
    Ok(by_region
        .into_iter()
        .enumerate()
        .map(|(i, (code, values))| {
            let mut row = serde_json::Map::new();
            row.insert("ID".into(), json!(i));
            row.insert(region_dim.clone(), json!(format!("{code:<10}")));
            for k in &known {
                row.insert((*k).to_string(), values.get(*k).cloned().unwrap_or(Value::Null));
            }
            for (k, v) in values {
                row.entry(k).or_insert(v);
            }
            Value::Object(row)
        })
        .collect())
}

/// The land features (not `water = JA`) of a PDOK OGC API Features collection of the CBS
/// Wijken en Buurten for each gemeente (`gemeentecode=` on the server, RD New, `next` paging).
fn pdok_features(fetcher: &Fetcher, pdok: &str, dataset: &str, collection: &str, codes: &[String], say: bool) -> Result<Vec<Value>> {
    let features = |v: &Value| v.get("features").and_then(Value::as_array).cloned();
    let next_link = |v: &Value| {
        v.get("links")?
            .as_array()?
            .iter()
            .find(|l| l.get("rel").and_then(Value::as_str) == Some("next"))?
            .get("href")?
            .as_str()
            .map(str::to_string)
    };
    let mut all = Vec::new();
    for code in codes {
        let first = format!(
            "{pdok}/cbs/{dataset}/ogc/v1/collections/{collection}/items?f=json&limit=1000&crs={}&gemeentecode={code}",
            percent(RD_CRS_URI)
        );
        let d = fetcher.paged(&format!("pdok-{dataset}-{collection}-{code}"), &first, "PDOK", features, next_link)?;
        if say || d.from_cache.is_none() {
            say_source(&format!("PDOK {dataset} {collection} of {code}"), &d);
        }
        let land: Vec<Value> =
            d.rows.into_iter().filter(|f| prop_str(f, &["water"]).is_none_or(|w| !w.eq_ignore_ascii_case("JA"))).collect();
        if land.is_empty() {
            return Err(InitError::NotFound(format!(
                "PDOK has no {collection} for {code} in {dataset} ({first}): check the gemeente code (CBS gemeentecode, e.g. GM0917), \
                 the dataset name (wijken-en-buurten-2024) and the collection (buurten, wijken, gemeenten)"
            )));
        }
        all.extend(land);
    }
    Ok(all)
}

/// The gemeenten of a project's region (`GM0917`, or the gemeente of a `WK`/`BU` code).
fn region_gemeenten(project: &Project) -> Result<Vec<String>> {
    let Some(Region::Codes(codes)) = &project.region else {
        return Err(InitError::Usage(format!(
            "project file {}: a source is downloaded for the project's region only: set region = [\"GM0917\"]",
            project.file.display()
        )));
    };
    let mut out = BTreeSet::new();
    // German ARS codes (`05334`) speak for the German areas; CBS and PDOK have none.
    for c in codes.iter().filter(|c| crate::model::ArsKind::of(c.trim()).is_none()) {
        let t = c.trim();
        let digits = ["GM", "WK", "BU"].iter().find_map(|p| t.get(..2).filter(|h| h.eq_ignore_ascii_case(p)).and_then(|_| t.get(2..6)));
        match digits.and_then(gemeente_code) {
            Some(g) => {
                out.insert(g);
            }
            None => {
                return Err(InitError::Usage(format!(
                    "project file {}: region code '{c}' is not a CBS code (GM0917, WK091701, BU09170100); a source needs the gemeenten",
                    project.file.display()
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(InitError::Usage(format!(
            "project file {}: the region has no CBS code (GM0917, WK091701, BU09170100); a source needs the gemeenten",
            project.file.display()
        )));
    }
    Ok(out.into_iter().collect())
}

/// A file in the cache named after the source, the gemeenten and the content, written
/// once (to a temporary name, then renamed): the same download gives the same file, so
/// the data version stays.
fn derived_file(stem: &str, ext: &str, content: &[Value], write: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(serde_json::to_vec(content).unwrap_or_default());
    let short: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let dir = cache_root().join("files");
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(80).collect();
    let path = dir.join(format!("{name}-{short}.{ext}"));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| InitError::Write { path: dir.clone(), message: e.to_string() })?;
    let tmp = dir.join(format!("{name}-{short}.tmp{}.{ext}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| InitError::Write { path: path.clone(), message: e.to_string() })?;
    Ok(path)
}

/// Every level and statistics table with a `source`: downloaded for the project's region
/// (or taken from the cache), written as a file in the cache, and `path` set to it.
/// `offline`: the cache only, never the network (for polling).
pub fn resolve_sources(project: &mut Project, offline: bool) -> Result<()> {
    if project.levels.iter().all(|l| l.source.is_none()) && project.statistics.iter().all(|s| s.source.is_none()) {
        return Ok(());
    }
    let codes = region_gemeenten(project)?;
    let mut fetcher = Fetcher::new(false);
    fetcher.offline = offline;
    let cbs = base_url("BUURTMETER_CBS_ODATA_URL", CBS_DEFAULT);
    let cbs4 = base_url("BUURTMETER_CBS_ODATA4_URL", CBS4_DEFAULT);
    let pdok = base_url("BUURTMETER_PDOK_URL", PDOK_DEFAULT);
    let context = |what: String, e: InitError| match e {
        InitError::Usage(m) | InitError::NotFound(m) => InitError::NotFound(format!("{what}: {m}")),
        other => InitError::Source { what, message: other.to_string() },
    };
    for level in &mut project.levels {
        let Some(src) = level.source.clone() else { continue };
        let (Some(dataset), Some(collection)) = (src.pdok.as_deref(), src.collection.as_deref()) else { continue };
        let what = format!("levels '{}': source {}", level.id, src.describe());
        let features = pdok_features(&fetcher, &pdok, dataset, collection, &codes, false).map_err(|e| context(what.clone(), e))?;
        let singular = match collection {
            "buurten" => "buurt",
            "wijken" => "wijk",
            "gemeenten" => "gemeente",
            other => other.trim_end_matches('s'),
        };
        let stem = format!("pdok-{dataset}-{collection}-{}", codes.join("-"));
        let levels = [(collection, singular, features)];
        level.path = derived_file(&stem, "gpkg", &levels[0].2, |p| write_boundaries(p, &levels)).map_err(|e| context(what, e))?;
        level.layer.get_or_insert_with(|| collection.to_string());
        level.id_field.get_or_insert_with(|| format!("{singular}code"));
        level.name_field.get_or_insert_with(|| format!("{singular}naam"));
    }
    for (i, stats) in project.statistics.iter_mut().enumerate() {
        let Some(src) = stats.source.clone() else { continue };
        let Some(table) = src.cbs.as_deref().map(str::trim) else { continue };
        let what = format!("statistics[{i}]: source {}", src.describe());
        let data = match src.odata {
            Some(4) => cbs4_table(&fetcher, &cbs4, table, &codes, false).map(|t| t.data),
            _ => match cbs_rows(&fetcher, &cbs, table, &codes) {
                Err(InitError::Http { status: 404, url, .. }) => {
                    eprintln!("  CBS {table} is not in OData v3 ({url}): CBS OData v4 (set odata = 4 to ask there first)");
                    cbs4_table(&fetcher, &cbs4, table, &codes, false).map(|t| t.data)
                }
                Ok(data) => {
                    if data.from_cache.is_none() {
                        say_source(&format!("CBS {table} TypedDataSet"), &data);
                    }
                    Ok(data)
                }
                Err(e) => Err(e),
            },
        }
        .map_err(|e| context(what.clone(), e))?;
        if data.rows.is_empty() {
            return Err(InitError::NotFound(format!(
                "{what}: CBS table {table} has no rows for {} ({cbs}/{table}/TypedDataSet): check the table id and the region",
                codes.join(", ")
            )));
        }
        let stem = format!("cbs-{table}-{}", codes.join("-"));
        stats.path = derived_file(&stem, "csv", &data.rows, |p| write_csv(p, &data.rows)).map_err(|e| context(what, e))?;
    }
    Ok(())
}

/// A project file for building: read, checked, and its sources resolved to cached files.
pub fn load_project(path: &Path) -> crate::Result<Project> {
    let mut project = Project::load(path)?;
    resolve_sources(&mut project, false)?;
    Ok(project)
}

/// As [`load_project`] from the cache only (no network): for polling the inputs.
pub fn load_project_cached(path: &Path) -> crate::Result<Project> {
    let mut project = Project::load(path)?;
    resolve_sources(&mut project, true)?;
    Ok(project)
}

fn prop_str(feature: &Value, keys: &[&str]) -> Option<String> {
    let props = feature.get("properties")?.as_object()?;
    keys.iter().find_map(|k| {
        props.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)).and_then(|(_, v)| v.as_str()).map(|s| s.trim().to_string())
    })
}

/// The boundaries as layers `buurten`, `wijken`, `gemeenten` in RD New: code, name and
/// the gemeentecode.
fn write_boundaries(path: &Path, levels: &[(&str, &str, Vec<Value>)]) -> Result<()> {
    let werr = |message: String| InitError::Write { path: path.to_path_buf(), message };
    let mut ds = gpkg::create(path).map_err(|e| werr(e.to_string()))?;
    let srs = crate::crs::spatial_ref(crate::crs::RD_NEW).map_err(|e| werr(e.to_string()))?;
    for (collection, singular, features) in levels {
        let (code_f, name_f) = (format!("{singular}code"), format!("{singular}naam"));
        let mut fields = vec![(code_f.clone(), OGRFieldType::OFTString), (name_f.clone(), OGRFieldType::OFTString)];
        if *singular != "gemeente" {
            fields.push(("gemeentecode".into(), OGRFieldType::OFTString));
        }
        let mut rows = Vec::new();
        for (i, f) in features.iter().enumerate() {
            let code = prop_str(f, &[code_f.as_str(), "statcode", "code"]).ok_or_else(|| InitError::Unexpected {
                url: format!("PDOK {collection}"),
                source_name: "PDOK",
                message: format!("feature {} has no {code_f}", i + 1),
            })?;
            let geometry = f
                .get("geometry")
                .cloned()
                .and_then(|g| serde_json::from_value::<geojson::Geometry>(g).ok())
                .and_then(|g| geo_types::Geometry::<f64>::try_from(g).ok())
                .and_then(|g| match g {
                    geo_types::Geometry::Polygon(p) => Some(geo_types::Geometry::MultiPolygon(geo_types::MultiPolygon(vec![p]))),
                    g @ geo_types::Geometry::MultiPolygon(_) => Some(g),
                    _ => None,
                })
                .ok_or_else(|| InitError::Unexpected {
                    url: format!("PDOK {collection}"),
                    source_name: "PDOK",
                    message: format!("{code} has no polygon geometry"),
                })?;
            let mut values =
                vec![gpkg::Value::Text(code), gpkg::Value::Text(prop_str(f, &[name_f.as_str(), "statnaam", "naam"]).unwrap_or_default())];
            if *singular != "gemeente" {
                values.push(gpkg::Value::Text(prop_str(f, &["gemeentecode"]).unwrap_or_default()));
            }
            rows.push((Some(geometry), values));
        }
        gpkg::write_layer(&mut ds, collection, Some(&srs), OGRwkbGeometryType::wkbMultiPolygon, &fields, rows.into_iter())
            .map_err(|e| werr(format!("layer {collection}: {e}")))?;
    }
    Ok(())
}

/// The TypedDataSet rows as CSV with the CBS keys as columns (codes padded as CBS sends them).
fn write_csv(path: &Path, rows: &[Value]) -> Result<()> {
    let mut header: Vec<String> = Vec::new();
    for row in rows {
        if let Some(obj) = row.as_object() {
            for k in obj.keys() {
                if !header.contains(k) {
                    header.push(k.clone());
                }
            }
        }
    }
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let quote = |s: &str| if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let mut out = header.iter().map(|h| quote(h)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for row in rows {
        let line: Vec<String> = header.iter().map(|h| quote(&cell(row.get(h)))).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| InitError::Write { path: path.to_path_buf(), message: e.to_string() })
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The project file: levels, the statistics and the indicators the table has.
#[allow(clippy::too_many_arguments)]
fn project_toml(
    req: &Request,
    table: &str,
    title: &str,
    modified: Option<&str>,
    codes: &[String],
    names: &[String],
    csv_name: &str,
    props: &[Value],
    rows: &[Value],
) -> String {
    // A key of the table by its name without the numeric suffix, when some row has a value.
    let key = |base: &str| -> Option<(String, String, String)> {
        let p = props.iter().find(|p| p.get("Key").and_then(Value::as_str).is_some_and(|k| base_key(k) == base))?;
        let k = p.get("Key")?.as_str()?.to_string();
        rows.iter().any(|r| r.get(&k).is_some_and(|v| v.is_number())).then_some(())?;
        let s = |f: &str| p.get(f).and_then(Value::as_str).unwrap_or("").trim().to_string();
        Some((k, s("Title"), s("Unit")))
    };
    let place = if names.is_empty() { codes.join(", ") } else { names.join(", ") };
    let source = format!("{title} ({table}{})", modified.map(|m| format!(", gewijzigd {m}")).unwrap_or_default());
    let mut t = String::new();
    t.push_str(&format!(
        "# Written by `buurtmeter init --gemeente {}` --year {}: CBS {source} and the CBS Wijk- en\n\
         # Buurtkaart {} from PDOK, as downloaded (cached in ~/.cache/buurtmeter/sources). Edit freely:\n\
         # add your own [[points]] and [[indicators]] (see the README).\n\n",
        codes.join(" --gemeente "),
        req.year,
        req.year
    ));
    t.push_str(&format!("name = {}\n", toml_str(&format!("{place}: Kerncijfers wijken en buurten {} (CBS)", req.year))));
    t.push_str(&format!(
        "description = {}\n",
        toml_str(&format!("{source} per buurt, wijk en gemeente; grenzen van de CBS Wijk- en Buurtkaart {}.", req.year))
    ));
    t.push_str(&format!(
        "attribution = {}\n",
        toml_str(&format!("Bron: CBS, {source}; CBS Wijk- en Buurtkaart {} via PDOK (CC BY 4.0)", req.year))
    ));
    t.push_str("crs = \"EPSG:28992\"\n");
    t.push_str(&format!("region = [{}]\n", codes.iter().map(|c| toml_str(c)).collect::<Vec<_>>().join(", ")));
    t.push_str("basemap = { url = \"https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png\", attribution = \"Achtergrondkaart © Kadaster (BRT-Achtergrondkaart, CC BY 4.0)\" }\n");
    for (id, title, singular) in [("buurten", "Buurten", "buurt"), ("wijken", "Wijken", "wijk"), ("gemeenten", "Gemeente", "gemeente")] {
        t.push_str(&format!(
            "\n[[levels]]\nid = \"{id}\"\ntitle = \"{title}\"\npath = \"grenzen.gpkg\"\nlayer = \"{id}\"\nid_field = \"{singular}code\"\nname_field = \"{singular}naam\"\n"
        ));
    }
    t.push_str(&format!("\n# {source}, rows of {} (TypedDataSet, CBS keys as columns).\n", codes.join(", ")));
    t.push_str(&format!("[[statistics]]\npath = {}\nperiod = \"{}\"\n", toml_str(csv_name), req.year));
    let mut indicator =
        |id: &str, title: &str, description: &str, numerator: &str, denominator: Option<&str>, scale: Option<f64>, unit: &str| {
            t.push_str(&format!("\n[[indicators]]\nid = \"{id}\"\ntitle = {}\n", toml_str(title)));
            t.push_str(&format!("description = {}\n", toml_str(description)));
            t.push_str(&format!("numerator = {{ statistic = {} }}\n", toml_str(numerator)));
            if let Some(d) = denominator {
                t.push_str(&format!("denominator = {}\n", toml_str(d)));
            }
            if let Some(s) = scale {
                t.push_str(&format!("scale = {s}\n"));
            }
            t.push_str(&format!("unit = {}\nperiod = \"year\"\n", toml_str(unit)));
        };
    let inwoners = key("AantalInwoners");
    if let (Some((inw, inw_title, _)), Some((land, land_title, land_unit))) = (&inwoners, key("OppervlakteLand")) {
        let (title, unit) = key("Bevolkingsdichtheid")
            .map(|(_, t, u)| (format!("{t} (inwoners per km² land)"), u))
            .unwrap_or_else(|| ("Inwoners per km² land".into(), "inwoners per km²".into()));
        let scale = if land_unit.eq_ignore_ascii_case("ha") { 100.0 } else { 1.0 };
        indicator(
            "inwoners_per_km2",
            &title,
            &format!("{inw_title} ({inw}) per km² {}, CBS {source}.", land_title.to_lowercase()),
            inw,
            Some(&land),
            Some(scale),
            &unit,
        );
    }
    if let Some((k, title, unit)) = &inwoners {
        indicator("inwoners", title, &format!("{title}, CBS {source}."), k, None, None, unit);
    }
    if let Some((k, title, unit)) = key("Woningvoorraad") {
        indicator("woningvoorraad", &title, &format!("{title}, CBS {source}."), &k, None, None, &unit);
    }
    if let Some((k, title, unit)) = key("OnbewoondeWoningen").or_else(|| key("PercentageOnbewoond")) {
        indicator(
            "onbewoonde_woningen_pct",
            &format!("{title} (% van de woningvoorraad)"),
            &format!("{title}, CBS {source}."),
            &k,
            None,
            None,
            &unit,
        );
    }
    if let Some((k, title, unit)) = key("GemiddeldeWOZWaardeVanWoningen").or_else(|| key("GemiddeldeWoningwaarde")) {
        indicator("woz_waarde", &title, &format!("{title}, CBS {source}."), &k, None, None, &unit);
    }
    t
}
