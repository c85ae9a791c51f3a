//! Writers: indicator tables as CSV, levels with their indicators as a GeoPackage (with
//! QGIS styles) and GeoJSON, MapLibre/QGIS styles, and the `count` table. GDAL is used here only to write (`gpkg`), never to read.

pub mod csv_out;
pub mod geojson_out;
pub mod gpkg;
pub mod profile;
pub mod styles;

pub use csv_out::{write_counts, write_indicator_csv};

/// Text for HTML and XML (QML styles, the profile page, the OGC API's HTML).
pub fn escape_markup(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
