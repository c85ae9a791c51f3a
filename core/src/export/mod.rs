//! Writers: indicator tables as CSV, levels with their indicators as a GeoPackage (with
//! QGIS styles) and GeoJSON, MapLibre/QGIS styles, and the `count` table. GDAL is used here only to write (`gpkg`), never to read.

pub mod csv_out;
pub mod fgb;
pub mod geojson_out;
pub mod gpkg;
pub mod pmtiles;
pub mod styles;

pub use csv_out::{write_counts, write_hand_back, write_indicator_csv};

use std::path::PathBuf;

/// An output that cannot be written: which file, which layer, and why. Never reported as
/// an input error.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: cannot create the GeoPackage: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: gdal::errors::GdalError,
    },
    #[error("writing {}: the working CRS: {source}", path.display())]
    Crs {
        path: PathBuf,
        #[source]
        source: crate::crs::CrsError,
    },
    #[error("writing {}, layer '{layer}': {source}", path.display())]
    Layer {
        path: PathBuf,
        layer: String,
        #[source]
        source: gdal::errors::GdalError,
    },
}

impl ExportError {
    /// For `map_err` on a write to `path`.
    pub fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Write { path, source }
    }
}

/// Text for HTML and XML (QML styles; the server's profile page and OGC API HTML).
pub fn escape_markup(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
