//! `/openapi.json`: the OpenAPI 3.1 document of the indicator API (indicators, trends, hot
//! spots, weights, area profiles), derived by utoipa from the handlers' `#[utoipa::path]`
//! and the response types in `views`. The OGC API – Features has its own OpenAPI 3.0
//! document at `/ogc/api`; the OGC landing page links both (`rel=service-desc`).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};

use super::AppState;

/// The media type of the document (the OpenAPI media type with its version).
pub(crate) const MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "buurtmeter indicator API",
        description = "Indicators per area (buurt, wijk, gemeente or a custom level) and period, their series and trends, hot spots and the spatial weights behind them, and area profiles. Values are the published ones: disclosure control has been applied. Restricted indicators need an API key (Authorization: Bearer, X-API-Key, or ?api_key=). Errors are RFC 9457 problem documents. The OGC API – Features is described at /ogc/api.",
    ),
    paths(
        super::indicators::list,
        super::indicators::values,
        super::indicators::trends,
        super::hotspots::hotspots_of,
        super::hotspots::weights_of,
        super::areas::area_profile,
    ),
    modifiers(&Security),
    tags(
        (name = "indicators", description = "indicator definitions, values per area and period, series and trends"),
        (name = "hot spots", description = "spatial weights, global and local spatial autocorrelation, emerging hot spots"),
        (name = "areas", description = "area profiles"),
    )
)]
struct ApiDoc;

/// The ways to give an API key (the `api_key` query parameter is a parameter of each path).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("api_key_header", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

/// The document as JSON, made once.
fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // Serialising utoipa's own types cannot fail; an empty body would fail every client loudly.
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, MEDIA_TYPE), (header::CACHE_CONTROL, "public, max-age=300")], document()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_every_indicator_path() {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for p in [
            "/indicators",
            "/indicators/{id}",
            "/indicators/{id}/trends",
            "/indicators/{id}/hotspots",
            "/weights/{level}",
            "/areas/{level}/{code}",
        ] {
            assert!(doc["paths"][p]["get"].is_object(), "{p} is missing");
        }
    }
}
