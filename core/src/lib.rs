//! buurtmeter's pipeline, without HTTP and without a command line:
//! **ingest → index → join → indicators → serving data / exports**.
//!
//! This crate has no axum, tokio or clap among its dependencies, so the compiler holds
//! what ARCHITECTURE.md says: the pipeline knows nothing of the web server. The
//! `buurtmeter` package (the HTTP API, the CLI and the binary) re-exports every module
//! here, so `buurtmeter::snapshot::build` is this crate's `snapshot::build`.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | the project file, parsed once into a validated spec |
//! | [`ingest`] | readers: GDAL vector sources, CSV points, CBS statistics |
//! | [`crs`] | CRS parsing and transforms (GDAL/PROJ); the working CRS |
//! | [`model`] | domain types: CBS codes, areas, levels, point layers, accounting |
//! | [`index`] | grid of candidate lists + prepared polygons for exact point-in-polygon; R-tree of envelopes |
//! | [`join`] | points → areas; pure and parallel |
//! | [`crosswalk`] | old boundaries → new boundaries: shares weighted by points or area |
//! | [`weights`] | spatial weights of a level: contiguity, k nearest, distance band |
//! | [`indicators`] | indicator definitions, evaluation, disclosure control, trends, hot spots, profiles |
//! | [`snapshot`] | runs the pipeline into an immutable `Snapshot` (one module per stage) |
//! | [`tiles`] | vector tiles: grid maths, snapping/clipping, point aggregation, MVT encoding |
//! | [`export`] | CSV, GeoPackage and GeoJSON writers, MapLibre/QGIS styles |
//! | [`grid`] | the European grid (EPSG:3035): cells by arithmetic, INSPIRE and Destatis cell codes |
//!
//! Each stage has its own error type (`config::ProjectError`, `ingest::IngestError`,
//! `crs::CrsError`, `snapshot::BuildError`, `export::ExportError`, `demo::DemoError`); the
//! `buurtmeter` package composes them into the error of a command.
//! | [`demo`] | the demo project compiled in |

pub mod config;
pub mod crosswalk;
pub mod crs;
pub mod demo;
pub mod export;
pub mod grid;
pub mod index;
pub mod indicators;
pub mod ingest;
pub mod join;
pub mod model;
pub mod region;
pub mod snapshot;
pub mod sort;
pub mod tiles;
pub mod weights;
