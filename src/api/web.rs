//! The web map at `/` and its static files under `/static/`, all compiled into the
//! binary (MapLibre GL JS from npm via build.rs): no CDN, works offline. Only the fixed
//! file names below are served, so no request path reaches the file system.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::i18n::{Lang, WEB_DICTIONARY, language_headers, render_index};
use super::{ApiError, AppState};

/// The areas around the project's region (see `region::context_areas`) as GeoJSON, with
/// a label point each: drawn grey under the data, so the region has surroundings.
async fn context(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    use geo::InteriorPoint;
    let snap = state.current();
    let features: Vec<serde_json::Value> = snap
        .context
        .iter()
        .map(|(code, name, g)| {
            let label = g.interior_point().map(|p| [p.x(), p.y()]);
            serde_json::json!({
                "type": "Feature",
                "properties": {"code": code, "name": name.as_deref().unwrap_or(code), "label": label},
                "geometry": geojson::Geometry::new(geojson::GeometryValue::from(g)),
            })
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/geo+json"), (header::CACHE_CONTROL, "public, max-age=300")],
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
        .into_response()
}

/// Label positions for the web map: per area of a level its code, name, a point inside
/// it (lon/lat) and its size, so the map can name the largest areas in view. Levels are
/// public; this says nothing the OGC API does not.
async fn labels(axum::extract::State(state): axum::extract::State<AppState>, Path(level): Path<String>) -> Result<Response, ApiError> {
    use geo::InteriorPoint;
    let snap = state.current();
    let li = snap.level_index(&level).ok_or_else(|| ApiError::NotFound(format!("no level '{level}'")))?;
    let body = snap.labels[li].get_or_init(|| {
        // Grid cells carry no label: their codes name no place.
        let labelled = if snap.levels[li].grid.is_some() { 0 } else { snap.levels[li].areas.len() };
        let rows: Vec<serde_json::Value> = snap.levels[li].areas[..labelled]
            .iter()
            .zip(&snap.wgs84[li])
            .filter_map(|(a, g)| {
                let p = g.interior_point()?;
                let round = |x: f64| (x * 1e6).round() / 1e6;
                Some(serde_json::json!({"code": a.code, "name": a.name.as_deref().unwrap_or(&a.code), "lon": round(p.x()), "lat": round(p.y()), "km2": (a.geometry_km2 * 1e3).round() / 1e3}))
            })
            .collect();
        serde_json::json!({"level": level, "labels": rows}).to_string()
    });
    Ok(([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=300")], body.clone()).into_response())
}

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");
const MAPLIBRE_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.js"));
const MAPLIBRE_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/maplibre-gl.css"));
const UPLOT_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uPlot.iife.min.js"));
const UPLOT_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/uPlot.min.css"));
/// The pmtiles protocol for MapLibre (npm `pmtiles`): only the published site uses it.
const PMTILES_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pmtiles.js"));

/// The files under `static/` of a published site (`buurtmeter publish`): the map's own and
/// the libraries, the same bytes the server sends, plus the pmtiles protocol.
pub(crate) fn site_assets() -> [(&'static str, &'static [u8]); 8] {
    [
        ("app.js", APP_JS.as_bytes()),
        ("i18n.js", WEB_DICTIONARY.as_bytes()),
        ("app.css", APP_CSS.as_bytes()),
        ("maplibre-gl.js", MAPLIBRE_JS),
        ("maplibre-gl.css", MAPLIBRE_CSS),
        ("uplot.js", UPLOT_JS),
        ("uplot.css", UPLOT_CSS),
        ("pmtiles.js", PMTILES_JS),
    ]
}

/// The map page of a published site in `lang`: the server's page with relative asset
/// paths, the pmtiles protocol, no links to the API, the manifest to read (`index.json`)
/// and its Content-Security-Policy as a `<meta>` (a static host sends no such header):
/// scripts from the site's own files only; requests to the site, to `public_url` (where the
/// archives are, when given) and to the background maps.
pub(crate) fn site_page(lang: Lang, public_url: Option<&str>, basemap_urls: &[&str]) -> String {
    let page = render_index(INDEX, lang);
    let policy = content_security_policy(public_url, basemap_urls, None);
    let page = page.replace("href=\"/static/", "href=\"static/").replace("src=\"/static/", "src=\"static/");
    // The API's links (OGC API, tiles, indicators) lead nowhere on a static host.
    let page = match (page.find("<nav>"), page.find("</nav>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &page[..a], &page[b + "</nav>".len()..]),
        _ => page,
    };
    let head = format!(
        "<meta charset=\"utf-8\">\n  <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n  <meta name=\"buurtmeter-static\" content=\"index.json\">",
        crate::export::escape_markup(&policy)
    );
    page.replacen("<meta charset=\"utf-8\">", &head, 1).replacen(
        "<script src=\"static/app.js\">",
        "<script src=\"static/pmtiles.js\"></script>\n  <script src=\"static/app.js\">",
        1,
    )
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/static/{file}", get(asset))
        .route("/labels/{level}", get(labels))
        .route("/context.geojson", get(context))
}

/// The Content-Security-Policy of every HTML page the server makes (the map, the area
/// profiles, the OGC API pages): scripts only from this server's own files, so a name or
/// title from an input file that slipped through as markup still cannot run (issue 20).
/// Styles may be inline (the profile and OGC pages carry a `<style>`); MapLibre starts its
/// workers from `blob:` URLs. Images and requests go to this server, to its `--public-url`
/// (which the styles name, should the page be opened at another address) and to the
/// project's background maps.
/// `script_hash`: the one inline script allowed (the server's pages: the profile's); none on
/// a published site.
fn content_security_policy(public_url: Option<&str>, basemap_urls: &[&str], script_hash: Option<&str>) -> String {
    let mut extra = String::new();
    for s in public_url.and_then(origin).into_iter().chain(basemap_urls.iter().map(|u| origin(u).unwrap_or_else(|| scheme_of(u)))) {
        if !extra.split_whitespace().any(|x| x == s) {
            extra.push(' ');
            extra.push_str(&s);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'{profile}; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:{extra}; \
         font-src 'self' data:; connect-src 'self'{extra}; worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; \
         base-uri 'self'; form-action 'self'",
        profile = script_hash.map(|h| format!(" '{h}'")).unwrap_or_default()
    )
}

/// The origin of an http(s) URL (`https://host[:port]`) as a CSP source; None where the
/// host holds anything but host characters (nothing from a URL may add a directive).
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))).then(|| format!("{scheme}://{host}"))
}

/// Only the scheme (`https:` or `http:`), where a background map's host cannot be named.
fn scheme_of(url: &str) -> String {
    if url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")) { "http:".into() } else { "https:".into() }
}

/// `sha256-…` (base64) of the one inline script of the area profile
/// ([`super::profile::PROFILE_SCRIPT`]: it draws the charts before `buurtmeter report`
/// prints the page), as CSP writes a script hash: that script is allowed by its hash and
/// nothing else inline. The page writes the constant whole between `<script>` and
/// `</script>`, so the two cannot drift apart; `tests/xss.rs` checks it.
fn profile_script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use sha2::Digest;
        format!("sha256-{}", base64(&sha2::Sha256::digest(super::profile::PROFILE_SCRIPT.as_bytes())))
    })
}

/// Standard base64 with padding (RFC 4648), for the CSP hash.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Middleware: the Content-Security-Policy on every `text/html` response.
pub(crate) async fn csp_on_html(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut res = next.run(req).await;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().get(..9).is_some_and(|t| t.eq_ignore_ascii_case("text/html")));
    if html && !res.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        let snap = state.current();
        let basemaps: Vec<&str> = snap.basemap.iter().flat_map(|b| &b.maps).map(|m| m.url.as_str()).collect();
        let policy = content_security_policy(state.options.public_url.as_deref(), &basemaps, Some(profile_script_hash()));
        if let Ok(v) = header::HeaderValue::from_str(&policy) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    lang: Option<String>,
}

/// The map page in the reader's language (`?lang=`, else `Accept-Language`, else Dutch):
/// `web/index.html` with its words filled in, once per language.
async fn index(axum::extract::Query(q): axum::extract::Query<IndexQuery>, headers: header::HeaderMap) -> Response {
    static PAGES: std::sync::OnceLock<[String; 3]> = std::sync::OnceLock::new();
    let lang = Lang::negotiate(q.lang.as_deref(), &headers);
    let pages = PAGES.get_or_init(|| Lang::ALL.map(|l| render_index(INDEX, l)));
    let page = &pages[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)];
    let mut res =
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], page.as_str()).into_response();
    language_headers(lang, res.headers_mut());
    res
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (body, ct): (&'static [u8], &str) = match file.as_str() {
        "app.js" => (APP_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "i18n.js" => (WEB_DICTIONARY.as_bytes(), "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS.as_bytes(), "text/css; charset=utf-8"),
        "maplibre-gl.js" => (MAPLIBRE_JS, "text/javascript; charset=utf-8"),
        "maplibre-gl.css" => (MAPLIBRE_CSS, "text/css; charset=utf-8"),
        "uplot.js" => (UPLOT_JS, "text/javascript; charset=utf-8"),
        "uplot.css" => (UPLOT_CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::NotFound(format!("no static file '{file}'"))),
    };
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn csp_names_only_well_formed_origins() {
        let csp =
            content_security_policy(Some("https://kaart.example.nl/buurtmeter/"), &["http://tiles.example.nl:8080/{z}/{x}/{y}.png"], None);
        assert!(csp.contains("img-src 'self' data: blob: https://kaart.example.nl http://tiles.example.nl:8080;"), "{csp}");
        assert!(csp.contains("connect-src 'self' https://kaart.example.nl http://tiles.example.nl:8080;"), "{csp}");
        // A host that would add a source or a directive: only the scheme.
        let csp = content_security_policy(None, &["https://a.example; script-src *{z}/{x}/{y}"], None);
        assert!(csp.contains("img-src 'self' data: blob: https:;") && !csp.contains('*'), "{csp}");
        assert!(!content_security_policy(Some("javascript:alert(1)"), &[], None).contains("javascript"));
        assert!(content_security_policy(None, &[], Some(profile_script_hash())).contains("script-src 'self' 'sha256-"));
        assert!(!content_security_policy(None, &[], Some(profile_script_hash())).contains("unsafe-eval"));
        // Every basemap's origin, each once: a map of either side of a border loads.
        let csp = content_security_policy(
            None,
            &[
                "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png",
                "https://sgx.geodatenzentrum.de/wmts_basemapde/tile/1.0.0/de_basemapde_web_raster_farbe/default/GLOBAL_WEBMERCATOR/{z}/{y}/{x}.png",
                "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/grijs/EPSG:3857/{z}/{x}/{y}.png",
            ],
            None,
        );
        assert!(csp.contains("img-src 'self' data: blob: https://service.pdok.nl https://sgx.geodatenzentrum.de;"), "{csp}");
        // A published site: no inline script at all.
        assert!(content_security_policy(None, &[], None).contains("script-src 'self'; "));
    }

    #[test]
    fn the_published_page_is_relative_and_carries_its_policy() {
        let page = site_page(Lang::Nl, None, &["https://service.pdok.nl/x/{z}/{x}/{y}.png"]);
        assert!(page.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'self';"), "{page}");
        assert!(page.contains("src=\"static/pmtiles.js\"") && page.contains("src=\"static/app.js\"") && !page.contains("\"/static/"));
        assert!(!page.contains("<nav>") && page.contains("name=\"buurtmeter-static\""));
    }
}
