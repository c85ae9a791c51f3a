//! The error of a whole command: one of the stages' own errors, each of which names what
//! a GIS person needs to act (the project file and key, the file, layer, row and field,
//! the indicator and level) and what was expected.
//!
//! | stage | its error |
//! |---|---|
//! | the project file (`config`) | [`ProjectError`](crate::config::ProjectError) |
//! | reading files (`ingest`) | [`IngestError`](crate::ingest::IngestError) |
//! | CRSs and transforms (`crs`) | [`CrsError`](crate::crs::CrsError), always inside one of the others, which says whose CRS |
//! | the pipeline (`snapshot`): areas, hierarchy, points, indicators, serving | [`BuildError`](crate::snapshot::BuildError) |
//! | writing files (`export`) | [`ExportError`](crate::export::ExportError) |
//! | the demo project (`demo`) | [`DemoError`](crate::demo::DemoError) |
//! | the server's API keys (`api::auth`) | [`KeysError`](crate::api::KeysError) |
//! | downloads of `init` (`init`) | [`InitError`](crate::init::InitError) |
//!
//! There is deliberately no conversion from GDAL's or polars' errors: each call site says
//! which file, layer, indicator or level it was working on.

use std::path::PathBuf;

use crate::config::ProjectError;
use crate::export::ExportError;
use crate::ingest::IngestError;
use crate::snapshot::BuildError;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Project(#[from] ProjectError),

    #[error(transparent)]
    Read(Box<IngestError>),

    #[error(transparent)]
    Build(Box<BuildError>),

    #[error(transparent)]
    Export(Box<ExportError>),

    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),

    /// `init`: a download or the files it writes.
    #[error(transparent)]
    Init(#[from] crate::init::InitError),

    /// A command line that cannot be carried out (the message says what to give instead).
    #[error("{0}")]
    Usage(String),

    /// The web server could not start or stopped: the runtime, the listening socket.
    #[error("the web server: {0}")]
    Server(#[source] std::io::Error),

    /// The server's API keys (a file or a variable) cannot be used.
    #[error(transparent)]
    Keys(#[from] crate::api::KeysError),

    /// A program buurtmeter runs (Chromium, to print a profile) failed.
    #[error("{} {message}", program.display())]
    Program { program: PathBuf, message: String },
}

// The stages' errors are boxed: they carry paths and GDAL's or polars' errors, and a
// `Result` of every command should stay small.
macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Error {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}
boxed_from!(Read(IngestError), Build(BuildError), Export(ExportError));
