//! OGC API – Features, Part 1 (core, OpenAPI 3.0, GeoJSON, HTML) and Part 2 (CRS).
//!
//! Collections: every area level, and every *public* point layer (aggregate-only layers
//! are never served as points). CRSs: CRS84 (default, lon/lat), EPSG:4326 (lat/lon
//! order!), the storage CRS (the working CRS, EPSG:28992 by default) and EPSG:3857.
//! JSON for `Accept: application/json` (QGIS, GDAL) and `f=json`; HTML for browsers and
//! `f=html`. `next`/`prev` links are absolute.

use crate::export::escape_markup as esc;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use geo::{BoundingRect, Intersects};
use geo_types::{MultiPolygon, Rect};
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, base_url};
use crate::config::Access;
use crate::snapshot::Snapshot;

/// Renders feature `i` of a collection: (id as JSON, geometry as GeoJSON, properties).
type FeatureFn = Box<dyn Fn(usize) -> (String, String, Map<String, Value>)>;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const EPSG4326: &str = "http://www.opengis.net/def/crs/EPSG/0/4326";
const EPSG3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ogc", get(landing))
        .route("/ogc/", get(landing))
        .route("/ogc/conformance", get(conformance))
        .route("/ogc/api", get(openapi))
        .route("/ogc/collections", get(collections))
        .route("/ogc/collections/{id}", get(collection))
        .route("/ogc/collections/{id}/items", get(items))
        .route("/ogc/collections/{id}/items/{fid}", get(item))
}

/// The output CRS of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crs {
    Crs84,
    Epsg4326,
    Storage,
    WebMercator,
}

fn storage_uri(working_crs: &str) -> String {
    match working_crs.strip_prefix("EPSG:") {
        Some(code) => format!("http://www.opengis.net/def/crs/EPSG/0/{code}"),
        None => working_crs.to_string(),
    }
}

fn crs_list(working_crs: &str) -> Vec<String> {
    vec![CRS84.into(), EPSG4326.into(), storage_uri(working_crs), EPSG3857.into()]
}

/// The `crs` / `bbox-crs` parameter, for a server whose storage CRS is `working_crs`.
pub fn parse_crs(working_crs: &str, s: &str) -> Result<Crs, ApiError> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    if s == CRS84 || s.eq_ignore_ascii_case("CRS84") || s == "urn:ogc:def:crs:OGC:1.3:CRS84" {
        return Ok(Crs::Crs84);
    }
    let code = s.rsplit(['/', ':']).next().unwrap_or("");
    if s.contains("EPSG") {
        match code {
            "4326" => return Ok(Crs::Epsg4326),
            "3857" => return Ok(Crs::WebMercator),
            c if format!("EPSG:{c}") == working_crs => return Ok(Crs::Storage),
            _ => {}
        }
    }
    Err(ApiError::BadRequest(format!("CRS '{s}' is not supported; use one of: {}", crs_list(working_crs).join(", "))))
}

fn crs_uri(snap: &Snapshot, c: Crs) -> String {
    match c {
        Crs::Crs84 => CRS84.into(),
        Crs::Epsg4326 => EPSG4326.into(),
        Crs::Storage => storage_uri(&snap.working_crs),
        Crs::WebMercator => EPSG3857.into(),
    }
}

/// JSON or HTML, from `f=` first, then the Accept header.
fn wants_html(f: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match f {
        Some("json") | Some("geojson") => return Ok(false),
        Some("html") => return Ok(true),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "f={other} is not supported; use f=json or f=html (and for the items of an area collection f=fgb)"
            )));
        }
        None => {}
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let html = accept.find("text/html");
    let json = accept.find("json");
    Ok(match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    })
}

fn html_page(title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#1f2a37}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccd;padding:.2rem .5rem;text-align:left}}a{{color:#0b5cad}}</style>\
</head><body><p><a href=\"/ogc\">OGC API</a> · <a href=\"/\">kaart</a></p><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn json_response(v: Value, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], v.to_string()).into_response()
}

#[derive(Debug, serde::Deserialize)]
struct FOnly {
    f: Option<String>,
}

async fn landing(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<FOnly>) -> Result<Response, ApiError> {
    let snap = state.current();
    let base = base_url(&headers, &state);
    let o = format!("{base}/ogc");
    let body = json!({
        "title": format!("{} — OGC API Features", snap.name),
        "description": snap.description,
        "links": [
            {"rel": "self", "type": "application/json", "title": "this document", "href": format!("{o}?f=json")},
            {"rel": "alternate", "type": "text/html", "title": "this document as HTML", "href": format!("{o}?f=html")},
            {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition", "href": format!("{o}/api")},
            {"rel": "service-desc", "type": super::openapi::MEDIA_TYPE, "title": "the indicator API: indicators, trends, hot spots, weights, area profiles (OpenAPI 3.1)", "href": format!("{base}/openapi.json")},
            {"rel": "conformance", "type": "application/json", "title": "conformance classes", "href": format!("{o}/conformance")},
            {"rel": "data", "type": "application/json", "title": "collections", "href": format!("{o}/collections")},
        ],
    });
    if wants_html(q.f.as_deref(), &headers)? {
        let list: String = snap
            .levels
            .iter()
            .map(|l| format!("<li><a href=\"{o}/collections/{id}?f=html\">{t}</a></li>", id = l.id, t = esc(&l.title)))
            .collect();
        return Ok(html_page(
            &format!("{} — OGC API Features", snap.name),
            &format!(
                "<p>In QGIS: <i>Layer → Add WFS / OGC API – Features layer</i>, URL <code>{o}</code>.</p><ul>{list}</ul><p><a href=\"{o}/collections?f=html\">alle collecties</a> · <a href=\"{o}/api\">OpenAPI</a> · <a href=\"{base}/openapi.json\">OpenAPI van de indicatoren</a> · <a href=\"{o}/conformance?f=html\">conformance</a></p>"
            ),
        ));
    }
    Ok(json_response(body, "application/json"))
}

const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
];

async fn conformance(headers: HeaderMap, Query(q): Query<FOnly>) -> Result<Response, ApiError> {
    if wants_html(q.f.as_deref(), &headers)? {
        let list: String = CONFORMANCE.iter().map(|c| format!("<li>{c}</li>")).collect();
        return Ok(html_page("Conformance", &format!("<ul>{list}</ul>")));
    }
    Ok(json_response(json!({"conformsTo": CONFORMANCE}), "application/json"))
}

/// A collection: an area level or a public point layer.
enum Coll {
    Level(usize),
    Points(usize),
}

fn find(snap: &Snapshot, id: &str) -> Result<Coll, ApiError> {
    if let Some(l) = snap.level_index(id) {
        return Ok(Coll::Level(l));
    }
    if let Some(p) = snap.points.iter().position(|p| p.layer.id == id && p.access == Access::Public) {
        return Ok(Coll::Points(p));
    }
    let ids = collection_ids(snap);
    Err(ApiError::NotFound(format!("no collection '{id}'; the collections are: {}", ids.join(", "))))
}

fn collection_ids(snap: &Snapshot) -> Vec<String> {
    snap.levels
        .iter()
        .map(|l| l.id.clone())
        .chain(snap.points.iter().filter(|p| p.access == Access::Public).map(|p| p.layer.id.clone()))
        .collect()
}

fn collection_json(snap: &Snapshot, base: &str, id: &str) -> Value {
    let o = format!("{base}/ogc/collections/{id}");
    let (title, bounds, temporal) = match find(snap, id) {
        Ok(Coll::Level(l)) => (snap.levels[l].title.clone(), snap.tiles.tilesets.iter().find(|t| t.id == id).map(|t| t.bounds), None),
        Ok(Coll::Points(p)) => {
            let jl = &snap.points[p];
            let dates: Vec<String> = jl.layer.dates.iter().flatten().flatten().map(|d| d.to_string()).collect();
            let temporal = dates
                .iter()
                .min()
                .zip(dates.iter().max())
                .map(|(a, b)| json!({"interval": [[format!("{a}T00:00:00Z"), format!("{b}T23:59:59Z")]]}));
            (jl.title.clone(), snap.tiles.tilesets.iter().find(|t| t.id == id).map(|t| t.bounds), temporal)
        }
        Err(_) => (id.to_string(), None, None),
    };
    let mut extent = json!({"spatial": {"bbox": [bounds.unwrap_or([-180.0, -90.0, 180.0, 90.0])], "crs": CRS84}});
    if let Some(t) = temporal {
        extent["temporal"] = t;
    }
    let mut links = vec![
        json!({"rel": "self", "type": "application/json", "href": o}),
        json!({"rel": "alternate", "type": "text/html", "href": format!("{o}?f=html")}),
        json!({"rel": "items", "type": "application/geo+json", "title": "features", "href": format!("{o}/items")}),
        json!({"rel": "items", "type": "text/html", "title": "features as HTML", "href": format!("{o}/items?f=html")}),
    ];
    if matches!(find(snap, id), Ok(Coll::Level(_))) {
        // Every feature in one file, with its spatial index (GDAL, QGIS: FlatGeobuf).
        links.push(json!({"rel": "items", "type": crate::export::fgb::MEDIA_TYPE, "title": "all features as FlatGeobuf (EPSG:4326, with its spatial index)", "href": format!("{o}/items?f=fgb")}));
    }
    links.push(json!({"rel": "describedby", "type": "application/vnd.mapbox.tile+json", "title": "vector tiles (TileJSON)", "href": format!("{base}/tiles/{id}")}));
    json!({
        "id": id,
        "title": title,
        "itemType": "feature",
        "extent": extent,
        "crs": crs_list(&snap.working_crs),
        "storageCrs": storage_uri(&snap.working_crs),
        "links": links,
    })
}

async fn collections(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<FOnly>) -> Result<Response, ApiError> {
    let snap = state.current();
    let base = base_url(&headers, &state);
    let ids = collection_ids(&snap);
    if wants_html(q.f.as_deref(), &headers)? {
        let rows: String = ids.iter().map(|id| format!("<li><a href=\"{base}/ogc/collections/{id}?f=html\">{id}</a></li>")).collect();
        return Ok(html_page("Collecties", &format!("<ul>{rows}</ul>")));
    }
    let list: Vec<Value> = ids.iter().map(|id| collection_json(&snap, &base, id)).collect();
    Ok(json_response(
        json!({
            "links": [{"rel": "self", "type": "application/json", "href": format!("{base}/ogc/collections")}],
            "collections": list,
            "crs": crs_list(&snap.working_crs),
        }),
        "application/json",
    ))
}

async fn collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<FOnly>,
) -> Result<Response, ApiError> {
    let snap = state.current();
    find(&snap, &id)?;
    let base = base_url(&headers, &state);
    let c = collection_json(&snap, &base, &id);
    if wants_html(q.f.as_deref(), &headers)? {
        return Ok(html_page(
            c["title"].as_str().unwrap_or(&id),
            &format!(
                "<p><a href=\"{base}/ogc/collections/{id}/items?f=html\">features</a> · <a href=\"{base}/ogc/collections/{id}/items?f=json\">GeoJSON</a></p><p>QGIS: <code>url='{base}/ogc' typename='{id}'</code></p>"
            ),
        ));
    }
    Ok(json_response(c, "application/json"))
}

/// Every area's properties: the tiles' own (`snapshot::area_properties`).
fn area_props(snap: &Snapshot, level: usize, a: usize) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in snap.tiles.area_props(level, a) {
        m.insert(k.clone(), v.to_json());
    }
    m
}

fn fmt_coord(out: &mut String, c: Crs, lon: f64, lat: f64, x: f64, y: f64) {
    let _ = match c {
        Crs::Crs84 => write!(out, "[{:.7},{:.7}]", lon, lat),
        Crs::Epsg4326 => write!(out, "[{:.7},{:.7}]", lat, lon),
        Crs::Storage => write!(out, "[{:.2},{:.2}]", x, y),
        Crs::WebMercator => {
            let (mx, my) = crate::crs::lonlat_to_web_mercator(lon, lat);
            write!(out, "[{mx:.2},{my:.2}]")
        }
    };
}

/// A MultiPolygon as GeoJSON text in the requested CRS; `wgs` and `storage` are the same
/// area in both spaces (same vertex order).
fn polygon_json(c: Crs, wgs: &MultiPolygon<f64>, storage: &MultiPolygon<f64>) -> String {
    let mut out = String::from("{\"type\":\"MultiPolygon\",\"coordinates\":[");
    for (pi, (pw, ps)) in wgs.0.iter().zip(&storage.0).enumerate() {
        if pi > 0 {
            out.push(',');
        }
        out.push('[');
        for (ri, (rw, rs)) in
            std::iter::once(pw.exterior()).chain(pw.interiors()).zip(std::iter::once(ps.exterior()).chain(ps.interiors())).enumerate()
        {
            if ri > 0 {
                out.push(',');
            }
            out.push('[');
            for (ci, (w, s)) in rw.0.iter().zip(&rs.0).enumerate() {
                if ci > 0 {
                    out.push(',');
                }
                fmt_coord(&mut out, c, w.x, w.y, s.x, s.y);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push_str("]}");
    out
}

#[derive(Debug)]
struct ItemsQuery {
    f: Option<String>,
    bbox: Option<String>,
    bbox_crs: Option<String>,
    crs: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    datetime: Option<String>,
    filters: BTreeMap<String, String>,
}

fn items_query(raw: BTreeMap<String, String>) -> ItemsQuery {
    let mut raw = raw;
    ItemsQuery {
        f: raw.remove("f"),
        bbox: raw.remove("bbox"),
        bbox_crs: raw.remove("bbox-crs"),
        crs: raw.remove("crs"),
        limit: raw.remove("limit"),
        offset: raw.remove("offset"),
        datetime: raw.remove("datetime"),
        filters: raw,
    }
}

pub fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    let v: Result<Vec<f64>, _> = s.split(',').map(|p| p.trim().parse::<f64>()).collect();
    let v = v.map_err(|_| ApiError::BadRequest(format!("bbox '{s}' must be 4 (or 6) comma-separated numbers")))?;
    let b = match v.len() {
        4 => [v[0], v[1], v[2], v[3]],
        6 => [v[0], v[1], v[3], v[4]],
        n => return Err(ApiError::BadRequest(format!("bbox has {n} numbers; expected 4 (minx,miny,maxx,maxy) or 6"))),
    };
    if b.iter().any(|x| !x.is_finite()) {
        return Err(ApiError::BadRequest("bbox values must be finite numbers".into()));
    }
    Ok(b)
}

/// A date interval from `datetime` (`2024-07-12`, `2024-01-01/2024-12-31`, `../2024-12-31`).
pub fn parse_datetime(s: &str) -> Result<(Option<crate::model::Date>, Option<crate::model::Date>), ApiError> {
    let bad = || ApiError::BadRequest(format!("datetime '{s}' is not a date or an interval like 2024-01-01/2024-12-31"));
    let one = |p: &str| -> Result<Option<crate::model::Date>, ApiError> {
        let p = p.trim();
        if p.is_empty() || p == ".." {
            return Ok(None);
        }
        crate::ingest::text::parse_date(p.split('T').next().unwrap_or(p)).map(Some).ok_or_else(bad)
    };
    match s.split_once('/') {
        Some((a, b)) => Ok((one(a)?, one(b)?)),
        None => {
            let d = one(s)?.ok_or_else(bad)?;
            Ok((Some(d), Some(d)))
        }
    }
}

struct Page {
    ids: Vec<usize>,
    matched: usize,
    limit: usize,
    offset: usize,
}

/// The `limit` parameter: at least 1, clamped to [`MAX_LIMIT`].
pub fn parse_limit(s: &str) -> Result<usize, ApiError> {
    Ok(s.parse::<usize>()
        .ok()
        .filter(|&l| l >= 1)
        .ok_or_else(|| ApiError::BadRequest(format!("limit '{s}' must be a whole number of at least 1")))?
        .min(MAX_LIMIT))
}

/// The `offset` parameter.
pub fn parse_offset(s: &str) -> Result<usize, ApiError> {
    s.parse::<usize>().map_err(|_| ApiError::BadRequest(format!("offset '{s}' must be a whole number of at least 0")))
}

fn paginate(q: &ItemsQuery, matched: Vec<usize>) -> Result<Page, ApiError> {
    let limit = q.limit.as_deref().map(parse_limit).transpose()?.unwrap_or(DEFAULT_LIMIT);
    let offset = q.offset.as_deref().map(parse_offset).transpose()?.unwrap_or(0);
    let n = matched.len();
    let ids = matched.into_iter().skip(offset).take(limit).collect();
    Ok(Page { ids, matched: n, limit, offset })
}

fn query_string(q: &ItemsQuery, limit: usize, offset: usize, f: &str) -> String {
    let mut parts = vec![format!("f={f}"), format!("limit={limit}"), format!("offset={offset}")];
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect()
    };
    for (k, v) in [("bbox", &q.bbox), ("bbox-crs", &q.bbox_crs), ("crs", &q.crs), ("datetime", &q.datetime)] {
        if let Some(v) = v {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    for (k, v) in &q.filters {
        parts.push(format!("{}={}", enc(k), enc(v)));
    }
    parts.join("&")
}

/// A page of features: formatting thousands of coordinates takes milliseconds, so it runs
/// on the blocking pool, never on the workers that answer tiles.
async fn items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(raw): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    if wants_fgb(raw.get("f").map(String::as_str), &headers) {
        return Ok(items_fgb(state, id, headers, raw).await.unwrap_or_else(|e| e));
    }
    tokio::task::spawn_blocking(move || items_page(&state, &id, &headers, raw))
        .await
        .map_err(|e| ApiError::Internal(format!("items task: {e}")))?
}

fn items_page(state: &AppState, id: &str, headers: &HeaderMap, raw: BTreeMap<String, String>) -> Result<Response, ApiError> {
    let snap = state.current();
    let coll = find(&snap, id)?;
    let q = items_query(raw);
    let html = wants_html(q.f.as_deref(), headers)?;
    let out_crs = q.crs.as_deref().map(|c| parse_crs(&snap.working_crs, c)).transpose()?.unwrap_or(Crs::Crs84);
    let bbox_crs = q.bbox_crs.as_deref().map(|c| parse_crs(&snap.working_crs, c)).transpose()?.unwrap_or(Crs::Crs84);
    if q.bbox_crs.is_some() && q.bbox.is_none() {
        return Err(ApiError::BadRequest("bbox-crs without bbox".into()));
    }
    let bbox = bbox_rects(q.bbox.as_deref().map(parse_bbox).transpose()?, bbox_crs);
    let base = base_url(headers, state);
    let self_url = format!("{base}/ogc/collections/{id}/items");
    let (matched, features): (Vec<usize>, FeatureFn) = match coll {
        Coll::Level(l) => {
            let matched = match_areas(&snap, l, &q, bbox)?;
            let snap2 = snap.clone();
            (
                matched,
                Box::new(move |a| {
                    let level = &snap2.levels[l];
                    (
                        json!(level.areas[a].code).to_string(),
                        polygon_json(out_crs, &snap2.wgs84[l][a], &level.areas[a].geometry),
                        area_props(&snap2, l, a),
                    )
                }),
            )
        }
        Coll::Points(p) => {
            let matched = match_points(&snap, p, &q, bbox)?;
            let snap2 = snap.clone();
            (
                matched,
                Box::new(move |i| {
                    let (g, m) = point_feature(&snap2, p, i, out_crs);
                    (i.to_string(), g, m)
                }),
            )
        }
    };
    let page = paginate(&q, matched)?;
    let mut links = page_links(&q, &page, &self_url, &format!("{base}/ogc/collections/{id}"), html);
    if matches!(coll, Coll::Level(_)) {
        links.push(json!({"rel": "alternate", "type": crate::export::fgb::MEDIA_TYPE, "title": "this page as FlatGeobuf (the collection's items?f=fgb: every feature)", "href": format!("{self_url}?{}", query_string(&q, page.limit, page.offset, "fgb"))}));
    }
    if html {
        return Ok(items_html(id, &self_url, &page, &features, &links));
    }
    let mut res = items_geojson(&page, &features, links);
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs_uri(&snap, out_crs))) {
        res.headers_mut().insert("content-crs", v);
    }
    Ok(res)
}

/// A bbox as a rectangle in the storage CRS or in CRS84 (the other is `None`).
type Bbox = (Option<Rect<f64>>, Option<Rect<f64>>);

fn bbox_rects(bbox: Option<[f64; 4]>, bbox_crs: Crs) -> Bbox {
    match (bbox, bbox_crs) {
        (None, _) => (None, None),
        (Some(b), Crs::Storage) => (Some(Rect::new((b[0], b[1]), (b[2], b[3]))), None),
        (Some(b), Crs::Crs84) => (None, Some(Rect::new((b[0], b[1]), (b[2], b[3])))),
        (Some(b), Crs::Epsg4326) => (None, Some(Rect::new((b[1], b[0]), (b[3], b[2])))),
        (Some(b), Crs::WebMercator) => {
            let (x0, y0) = crate::crs::web_mercator_to_lonlat(b[0], b[1]);
            let (x1, y1) = crate::crs::web_mercator_to_lonlat(b[2], b[3]);
            (None, Some(Rect::new((x0, y0), (x1, y1))))
        }
    }
}

/// The areas of level `l` in the bbox that pass the property filters.
fn match_areas(snap: &Snapshot, l: usize, q: &ItemsQuery, (bbox_storage, bbox_wgs): Bbox) -> Result<Vec<usize>, ApiError> {
    // Areas have no time dimension: a valid datetime does not filter them, a malformed
    // one is a 400 as on every other collection.
    if let Some(d) = q.datetime.as_deref() {
        parse_datetime(d)?;
    }
    let level = &snap.levels[l];
    let wgs = &snap.wgs84[l];
    let mut matched = Vec::new();
    for a in 0..level.areas.len() {
        if let Some(r) = bbox_storage
            && !(level.areas[a].geometry.bounding_rect().is_some_and(|b| b.intersects(&r)) && level.areas[a].geometry.intersects(&r))
        {
            continue;
        }
        if let Some(r) = bbox_wgs
            && !(wgs[a].bounding_rect().is_some_and(|b| b.intersects(&r)) && wgs[a].intersects(&r))
        {
            continue;
        }
        if q.filters.is_empty() || area_passes_filters(snap, l, a, &q.filters)? {
            matched.push(a);
        }
    }
    Ok(matched)
}

/// Whether area `a` has every filtered property at the asked value; a property no area of
/// the level has is a 400 (a missing value is not an unknown name).
fn area_passes_filters(snap: &Snapshot, l: usize, a: usize, filters: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    let props = area_props(snap, l, a);
    let mut ok = true;
    for (k, v) in filters {
        match props.get(k) {
            Some(Value::String(s)) => ok &= s == v,
            Some(Value::Number(n)) => ok &= v.parse::<f64>().ok() == n.as_f64(),
            Some(_) => ok = false,
            None if k == "code" || k == "name" => ok = false,
            None => {
                let level = &snap.levels[l];
                let mut known: Vec<String> =
                    (0..level.areas.len()).flat_map(|x| snap.tiles.area_props(l, x).iter().map(|(k, _)| k.clone())).collect();
                known.sort();
                known.dedup();
                if !level.areas.is_empty() && !known.contains(k) {
                    return Err(ApiError::BadRequest(format!(
                        "unknown parameter or property '{k}'; filterable properties: {}",
                        known.join(", ")
                    )));
                }
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// The points of public layer `p` in the bbox, the datetime interval and the category.
fn match_points(snap: &Snapshot, p: usize, q: &ItemsQuery, (bbox_storage, bbox_wgs): Bbox) -> Result<Vec<usize>, ApiError> {
    let jl = &snap.points[p];
    let interval = q.datetime.as_deref().map(parse_datetime).transpose()?;
    let cat_filter = q.filters.get("category").cloned();
    if let Some(k) = q.filters.keys().find(|k| *k != "category") {
        return Err(ApiError::BadRequest(format!("unknown parameter or property '{k}'; filterable properties: category")));
    }
    let inside = |r: &Rect<f64>, x: f64, y: f64| x >= r.min().x && x <= r.max().x && y >= r.min().y && y <= r.max().y;
    let mut matched = Vec::new();
    for i in 0..jl.layer.len() {
        let [lon, lat] = jl.lonlat[i];
        if bbox_wgs.is_some_and(|r| !inside(&r, lon, lat)) || bbox_storage.is_some_and(|r| !inside(&r, jl.layer.xs[i], jl.layer.ys[i])) {
            continue;
        }
        if let Some((from, to)) = interval {
            let Some(d) = jl.layer.dates.as_ref().and_then(|d| d[i]) else { continue };
            if from.is_some_and(|f| d < f) || to.is_some_and(|t| d > t) {
                continue;
            }
        }
        if let Some(c) = &cat_filter
            && jl.layer.category_idx.as_ref().is_none_or(|ci| &jl.layer.categories[ci[i] as usize] != c)
        {
            continue;
        }
        matched.push(i);
    }
    Ok(matched)
}

/// self, alternate, collection, and next/prev where there is a page.
fn page_links(q: &ItemsQuery, page: &Page, self_url: &str, collection_url: &str, html: bool) -> Vec<Value> {
    let mut links = vec![
        json!({"rel": "self", "type": "application/geo+json", "href": format!("{self_url}?{}", query_string(q, page.limit, page.offset, "json"))}),
        json!({"rel": "alternate", "type": "text/html", "href": format!("{self_url}?{}", query_string(q, page.limit, page.offset, "html"))}),
        json!({"rel": "collection", "type": "application/json", "href": collection_url}),
    ];
    let (fmt, ty) = if html { ("html", "text/html") } else { ("json", "application/geo+json") };
    if page.offset.saturating_add(page.limit) < page.matched {
        links.push(json!({"rel": "next", "type": ty, "href": format!("{self_url}?{}", query_string(q, page.limit, page.offset.saturating_add(page.limit), fmt))}));
    }
    if page.offset > 0 {
        links.push(json!({"rel": "prev", "type": ty, "href": format!("{self_url}?{}", query_string(q, page.limit, page.offset.saturating_sub(page.limit), fmt))}));
    }
    links
}

/// A page of features as an HTML table.
/// A path segment with every byte but the unreserved ones (RFC 3986) percent-encoded.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn items_html(id: &str, self_url: &str, page: &Page, features: &FeatureFn, links: &[Value]) -> Response {
    let mut rows = String::new();
    let mut header_keys: Vec<String> = Vec::new();
    for &i in &page.ids {
        let (fid, _, props) = features(i);
        if header_keys.is_empty() {
            header_keys = props.keys().cloned().collect();
        }
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let cells: String = header_keys.iter().map(|k| format!("<td>{}</td>", esc(&props.get(k).map(text).unwrap_or_default()))).collect();
        // The id from the data: percent-encoded as a path segment, then escaped for the
        // attribute; shown escaped.
        let id = fid.trim_matches('"');
        rows.push_str(&format!("<tr><td><a href=\"{self_url}/{}?f=html\">{}</a></td>{cells}</tr>", esc(&path_segment(id)), esc(id)));
    }
    let head: String = header_keys.iter().map(|k| format!("<th>{}</th>", esc(k))).collect();
    let nav: String = links
        .iter()
        .filter(|l| l["rel"] == "next" || l["rel"] == "prev")
        .map(|l| format!("<a href=\"{}\">{}</a> ", esc(l["href"].as_str().unwrap_or("")), l["rel"].as_str().unwrap_or("")))
        .collect();
    html_page(
        &format!("{id}: features {}–{} of {}", page.offset.saturating_add(1), page.offset.saturating_add(page.ids.len()), page.matched),
        &format!("<p>{nav}</p><table><tr><th>id</th>{head}</tr>{rows}</table>"),
    )
}

/// A page of features as a GeoJSON FeatureCollection, written straight into one string.
fn items_geojson(page: &Page, features: &FeatureFn, links: Vec<Value>) -> Response {
    let mut body = String::with_capacity(64 * 1024);
    body.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
    for (n, &i) in page.ids.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        let (fid, geom, props) = features(i);
        let _ = write!(body, "{{\"type\":\"Feature\",\"id\":{fid},\"geometry\":{geom},\"properties\":{}}}", Value::Object(props));
    }
    let _ = write!(
        body,
        "],\"numberMatched\":{},\"numberReturned\":{},\"timeStamp\":\"{}\",\"links\":{}}}",
        page.matched,
        page.ids.len(),
        crate::ingest::text::now_utc_rfc3339(),
        Value::Array(links)
    );
    ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response()
}

async fn item(
    State(state): State<AppState>,
    Path((id, fid)): Path<(String, String)>,
    headers: HeaderMap,
    Query(raw): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let snap = state.current();
    let coll = find(&snap, &id)?;
    let q = items_query(raw);
    let out_crs = q.crs.as_deref().map(|c| parse_crs(&snap.working_crs, c)).transpose()?.unwrap_or(Crs::Crs84);
    let base = base_url(&headers, &state);
    let not_found = || ApiError::NotFound(format!("no feature '{fid}' in collection '{id}'"));
    let (geom, props, fid_json) = match coll {
        Coll::Level(l) => {
            let a = *snap.levels[l].by_code.get(&fid).ok_or_else(not_found)?;
            (polygon_json(out_crs, &snap.wgs84[l][a], &snap.levels[l].areas[a].geometry), area_props(&snap, l, a), json!(fid).to_string())
        }
        Coll::Points(p) => {
            let jl = &snap.points[p];
            let i = fid.parse::<usize>().ok().filter(|&i| i < jl.layer.len()).ok_or_else(not_found)?;
            let (g, m) = point_feature(&snap, p, i, out_crs);
            (g, m, i.to_string())
        }
    };
    if wants_html(q.f.as_deref(), &headers)? {
        let rows: String =
            props.iter().map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v.to_string().trim_matches('"')))).collect();
        let profile = match coll {
            Coll::Level(_) => format!(
                "<p><a href=\"/areas/{}/{}\">Gebiedsprofiel: alle indicatoren, vergeleken en om te printen</a></p>",
                esc(&id),
                esc(&fid)
            ),
            Coll::Points(_) => String::new(),
        };
        return Ok(html_page(&format!("{id} {fid}"), &format!("{profile}<table>{rows}</table>")));
    }
    let links = json!([
        {"rel": "self", "type": "application/geo+json", "href": format!("{base}/ogc/collections/{id}/items/{fid}")},
        {"rel": "collection", "type": "application/json", "href": format!("{base}/ogc/collections/{id}")},
    ]);
    let body =
        format!("{{\"type\":\"Feature\",\"id\":{fid_json},\"geometry\":{geom},\"properties\":{},\"links\":{links}}}", Value::Object(props));
    let mut res = ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs_uri(&snap, out_crs))) {
        res.headers_mut().insert("content-crs", v);
    }
    Ok(res)
}

/// A point of a public layer as GeoJSON geometry text and properties: its input row,
/// category, date, weight and the code of the area it lies in at every level.
fn point_feature(snap: &Snapshot, p: usize, i: usize, out_crs: Crs) -> (String, Map<String, Value>) {
    let jl = &snap.points[p];
    let [lon, lat] = jl.lonlat[i];
    let mut g = String::from("{\"type\":\"Point\",\"coordinates\":");
    fmt_coord(&mut g, out_crs, lon, lat, jl.layer.xs[i], jl.layer.ys[i]);
    g.push('}');
    let mut m = Map::new();
    m.insert("row".into(), json!(jl.layer.rows[i]));
    if let Some(ci) = &jl.layer.category_idx {
        m.insert("category".into(), json!(jl.layer.categories[ci[i] as usize]));
    }
    if let Some(d) = jl.layer.dates.as_ref().and_then(|d| d[i]) {
        m.insert("date".into(), json!(d.to_string()));
    }
    if let Some(w) = &jl.layer.weights {
        m.insert("weight".into(), json!(w[i]));
    }
    for (li, level) in snap.levels.iter().enumerate() {
        let a = jl.assigned[li][i];
        if a != crate::join::NONE {
            m.insert(level.id.clone(), json!(level.areas[a as usize].code));
        }
    }
    (g, m)
}

async fn openapi(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let snap = state.current();
    let base = base_url(&headers, &state);
    let ids = collection_ids(&snap);
    let p = |name: &str| json!({"$ref": format!("#/components/parameters/{name}")});
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{} — OGC API Features", snap.name), "version": env!("CARGO_PKG_VERSION"), "description": "buurtmeter: areas with their indicators, and public point layers"},
        "servers": [{"url": format!("{base}/ogc")}],
        "paths": {
            "/": {"get": {"summary": "landing page", "operationId": "getLandingPage", "parameters": [p("f")], "responses": {"200": {"description": "links"}}}},
            "/conformance": {"get": {"summary": "conformance classes", "operationId": "getConformance", "parameters": [p("f")], "responses": {"200": {"description": "conformance"}}}},
            "/api": {"get": {"summary": "this document", "operationId": "getApi", "responses": {"200": {"description": "OpenAPI 3.0"}}}},
            "/collections": {"get": {"summary": "collections", "operationId": "getCollections", "parameters": [p("f")], "responses": {"200": {"description": "collections"}}}},
            "/collections/{collectionId}": {"get": {"summary": "a collection", "operationId": "describeCollection", "parameters": [p("collectionId"), p("f")], "responses": {"200": {"description": "collection"}, "404": {"description": "not found"}}}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "features of a collection", "operationId": "getFeatures",
                "description": "f=fgb (or Accept: application/flatgeobuf) on an area collection: every matched feature as one FlatGeobuf file in EPSG:4326 with its spatial index; without limit and offset the whole match, not a page (GDAL's FlatGeobuf driver reads a complete file); the whole collection is answered with Accept-Ranges: bytes.",
                "parameters": [p("collectionId"), p("limit"), p("offset"), p("bbox"), p("bbox-crs"), p("crs"), p("datetime"), p("fItems")],
                "responses": {"200": {"description": "GeoJSON FeatureCollection, an HTML page, or FlatGeobuf", "content": {"application/geo+json": {}, "text/html": {}, "application/flatgeobuf": {}}}, "206": {"description": "a byte range of the whole collection as FlatGeobuf", "content": {"application/flatgeobuf": {}}}, "400": {"description": "bad request"}, "404": {"description": "not found"}, "503": {"description": "every FlatGeobuf writer is busy (Retry-After)"}}
            }},
            "/collections/{collectionId}/items/{featureId}": {"get": {
                "summary": "one feature", "operationId": "getFeature",
                "parameters": [p("collectionId"), p("featureId"), p("crs"), p("f")],
                "responses": {"200": {"description": "GeoJSON Feature", "content": {"application/geo+json": {}}}, "404": {"description": "not found"}}
            }},
        },
        "components": {"parameters": {
            "collectionId": {"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": ids}},
            "featureId": {"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}},
            "limit": {"name": "limit", "in": "query", "required": false, "style": "form", "explode": false, "description": format!("page size; values above {MAX_LIMIT} are clamped to {MAX_LIMIT}"), "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
            "offset": {"name": "offset", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "default": 0}},
            "bbox": {"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false, "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}},
            "bbox-crs": {"name": "bbox-crs", "in": "query", "required": false, "schema": {"type": "string", "format": "uri", "enum": crs_list(&snap.working_crs)}},
            "crs": {"name": "crs", "in": "query", "required": false, "schema": {"type": "string", "format": "uri", "enum": crs_list(&snap.working_crs)}},
            "datetime": {"name": "datetime", "in": "query", "required": false, "schema": {"type": "string"}},
            "f": {"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "html"]}},
            "fItems": {"name": "f", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "html", "fgb"]}},
        }},
    });
    ([(header::CONTENT_TYPE, "application/vnd.oai.openapi+json;version=3.0")], doc.to_string()).into_response()
}

// ---------------------------------------------------------------------------------------
// FlatGeobuf (`f=fgb`, `Accept: application/flatgeobuf`)
// ---------------------------------------------------------------------------------------

/// The FlatGeobuf files of the whole collections, per public data version, and the
/// permits that bound how many are being written at once.
///
/// - The whole collection (no bbox, no filters, no limit or offset: what GDAL and QGIS
///   read) is written once per public data version and level, kept in a bounded cache, and
///   answered from it with `Accept-Ranges: bytes`, so `/vsicurl/` reads only the parts it
///   needs, as from a file on object storage. Requests for it that arrive while it is
///   being written wait for that one writing.
/// - Anything else (a bbox, property filters, an explicit `limit`/`offset`) is a file of
///   its own, written on the blocking pool and streamed as it is written (the features
///   wait in a temporary file until the index is known, never all in memory).
/// - Both write under a permit: at most `workers` at once; a request that finds none
///   within two seconds gets 503 with `Retry-After`, never an unbounded queue.
pub(crate) struct FgbFiles {
    cache: quick_cache::sync::Cache<(u64, usize), bytes::Bytes, FgbWeighter>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    workers: usize,
}

#[derive(Clone)]
struct FgbWeighter;

impl quick_cache::Weighter<(u64, usize), bytes::Bytes> for FgbWeighter {
    fn weight(&self, _: &(u64, usize), v: &bytes::Bytes) -> u64 {
        v.len() as u64 + 64
    }
}

/// Upper bound of the whole-collection cache (the national buurten, 14,520 areas of 256
/// vertices, take 70 MB).
const FGB_CACHE_BYTES: u64 = 512 << 20;
const FGB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
const FGB_RETRY_AFTER: u64 = 5;

impl FgbFiles {
    pub(crate) fn new() -> FgbFiles {
        let workers = (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1);
        let options = quick_cache::OptionsBuilder::new()
            // One shard: a file of 100 MB must fit in it, and there are a few levels.
            .shards(1)
            .estimated_items_capacity(16)
            .weight_capacity(FGB_CACHE_BYTES)
            .build()
            .expect("cache options");
        FgbFiles {
            cache: quick_cache::sync::Cache::with_options(options, FgbWeighter, Default::default(), Default::default()),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(workers)),
            workers,
        }
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Response> {
        match tokio::time::timeout(FGB_WAIT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(super::problem_response(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "every FlatGeobuf writer is busy (at most {} at a time): try again in {FGB_RETRY_AFTER} s; a whole collection once written is answered from the cache",
                    self.workers
                ),
                [(header::RETRY_AFTER, FGB_RETRY_AFTER.to_string())],
            )),
        }
    }
}

/// Whether an items request asks for FlatGeobuf: `f=fgb` (or `flatgeobuf`), or no `f` and
/// an Accept header that names `application/flatgeobuf` before any JSON or HTML.
fn wants_fgb(f: Option<&str>, headers: &HeaderMap) -> bool {
    match f {
        Some(f) => f == "fgb" || f == "flatgeobuf",
        None => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            let fgb = accept.find(crate::export::fgb::MEDIA_TYPE);
            let other = [accept.find("json"), accept.find("text/html")].into_iter().flatten().min();
            fgb.is_some_and(|p| other.is_none_or(|o| p < o))
        }
    }
}

/// `items?f=fgb`: the collection's areas as FlatGeobuf, in EPSG:4326 (longitude first).
async fn items_fgb(state: AppState, id: String, headers: HeaderMap, raw: BTreeMap<String, String>) -> Result<Response, Response> {
    let bad = |e: ApiError| e.into_response();
    let snap = state.current();
    let l = match find(&snap, &id).map_err(bad)? {
        Coll::Level(l) => l,
        Coll::Points(_) => {
            return Err(bad(ApiError::BadRequest(format!("f=fgb is for area collections; '{id}' is a point layer: use f=json"))));
        }
    };
    let q = items_query(raw);
    if let Some(c) = q.crs.as_deref()
        && !matches!(parse_crs(&snap.working_crs, c).map_err(bad)?, Crs::Crs84 | Crs::Epsg4326)
    {
        return Err(bad(ApiError::BadRequest(format!(
            "f=fgb is written in EPSG:4326 (longitude, latitude, as FlatGeobuf orders it); crs={c} is for f=json"
        ))));
    }
    let bbox_crs = q.bbox_crs.as_deref().map(|c| parse_crs(&snap.working_crs, c)).transpose().map_err(bad)?.unwrap_or(Crs::Crs84);
    if q.bbox_crs.is_some() && q.bbox.is_none() {
        return Err(bad(ApiError::BadRequest("bbox-crs without bbox".into())));
    }
    let bbox = bbox_rects(q.bbox.as_deref().map(parse_bbox).transpose().map_err(bad)?, bbox_crs);
    let limit = q.limit.as_deref().map(parse_limit).transpose().map_err(bad)?;
    let offset = q.offset.as_deref().map(parse_offset).transpose().map_err(bad)?;
    if let Some(d) = q.datetime.as_deref() {
        parse_datetime(d).map_err(bad)?;
    }
    let fgb = state.fgb.clone();
    let filename = format!("{}.fgb", snap.levels[l].id);
    if q.bbox.is_none() && q.filters.is_empty() && limit.is_none() && offset.is_none() {
        // The whole collection: once per public data version, then from the cache.
        let key = (super::analysis::public_version(&snap), l);
        let etag = format!("\"fgb-{}-{:016x}-{l}\"", snap.version, key.0);
        let bytes = match fgb.cache.get(&key) {
            Some(b) => b,
            None => {
                let task = tokio::spawn(async move {
                    let guard = match fgb.cache.get_value_or_guard_async(&key).await {
                        Ok(b) => return Ok(b),
                        Err(guard) => guard,
                    };
                    let permit = fgb.permit().await?;
                    let written = tokio::task::spawn_blocking(move || {
                        let _permit = permit;
                        let mut out = Vec::new();
                        crate::export::fgb::write_level_fgb(&snap, l, false, &mut out).map(|()| bytes::Bytes::from(out))
                    })
                    .await;
                    match written {
                        Ok(Ok(b)) => {
                            let _ = guard.insert(b.clone());
                            Ok(b)
                        }
                        Ok(Err(e)) => Err(ApiError::Internal(format!("FlatGeobuf: {e}")).into_response()),
                        Err(e) => Err(ApiError::Internal(format!("FlatGeobuf task: {e}")).into_response()),
                    }
                });
                task.await.map_err(|e| ApiError::Internal(format!("FlatGeobuf task: {e}")).into_response())??
            }
        };
        return Ok(ranged(bytes, &headers, &etag, &filename));
    }
    // A part: the matched areas (and the page, when limit or offset is given), streamed.
    let mut ids = match_areas(&snap, l, &q, bbox).map_err(bad)?;
    if limit.is_some() || offset.is_some() {
        ids = ids.into_iter().skip(offset.unwrap_or(0)).take(limit.unwrap_or(usize::MAX)).collect();
    }
    let permit = fgb.permit().await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = ChunkWriter { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let written = crate::export::fgb::write_areas_fgb(&snap, l, &ids, false, &mut out).map_err(std::io::Error::other);
        if let Err(e) = written.and_then(|()| std::io::Write::flush(&mut out)) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let mut res = axum::body::Body::from_stream(stream).into_response();
    fgb_headers(&mut res, &filename);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

const CHUNK: usize = 256 << 10;

/// Writes into the response body in chunks; an error once the client has gone.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client has gone"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() { Ok(()) } else { self.send() }
    }
}

fn fgb_headers(res: &mut Response, filename: &str) {
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::export::fgb::MEDIA_TYPE));
    // The coordinates are longitude, latitude (the header says EPSG:4326, which FlatGeobuf
    // and GDAL read in that order).
    h.insert("content-crs", HeaderValue::from_static("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
}

/// A cached file as a 200, a 206 for one byte range (`Range: bytes=a-b`, `a-`, `-n`), a
/// 416 for a range outside it, or a 304 for a matching `If-None-Match`. Several ranges
/// in one request get the whole file.
fn ranged(bytes: bytes::Bytes, headers: &HeaderMap, etag: &str, filename: &str) -> Response {
    use axum::http::StatusCode;
    let len = bytes.len() as u64;
    let same = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let range =
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("bytes=")).filter(|r| !r.contains(','));
    let mut res = if same {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(r) = range {
        let (a, b) = r.split_once('-').unwrap_or((r, ""));
        let span = match (a.trim().parse::<u64>().ok(), b.trim().parse::<u64>().ok()) {
            (Some(a), Some(b)) if a <= b && a < len => Some((a, b.min(len - 1))),
            (Some(a), None) if b.trim().is_empty() && a < len => Some((a, len - 1)),
            (None, Some(n)) if a.trim().is_empty() && n > 0 && len > 0 => Some((len.saturating_sub(n), len - 1)),
            _ => None,
        };
        match span {
            Some((a, b)) => {
                let mut res = (StatusCode::PARTIAL_CONTENT, bytes.slice(a as usize..=b as usize)).into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                res
            }
            None => {
                let mut res = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    res.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return res;
            }
        }
    } else {
        bytes.into_response()
    };
    fgb_headers(&mut res, filename);
    let h = res.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    res
}
