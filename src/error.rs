//! The crate's error type. Every variant carries the context a GIS person needs to act:
//! the file, the layer, the row, the field, and what was expected.

use std::path::PathBuf;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },

    #[error("{path}, layer '{layer}': {message}")]
    Layer { path: PathBuf, layer: String, message: String },

    #[error("project file {path}: {message}")]
    Project { path: PathBuf, message: String },

    #[error("CRS '{crs}': {message}")]
    Crs { crs: String, message: String },

    #[error("{0}")]
    Usage(String),

    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing an output file failed (a GeoPackage, say): never reported as an input error.
    #[error("writing {path}: {message}")]
    Output { path: PathBuf, message: String },

    #[error("GDAL: {0}")]
    Gdal(#[from] gdal::errors::GdalError),

    #[error("indicator table: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Input { path: path.into(), message: message.into() }
    }

    pub fn layer(path: impl Into<PathBuf>, layer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Layer { path: path.into(), layer: layer.into(), message: message.into() }
    }

    pub fn output(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Output { path: path.into(), message: message.to_string() }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write { path: path.into(), source }
    }
}
