//! buurtmeter: a neighbourhood indicator engine.
//!
//! One pipeline, one direction: **ingest → index → join → indicators → serve / export**.
//!
//! | module | owns |
//! |---|---|
//! | [`ingest`] | readers: GDAL vector sources, CSV points, CBS statistics (the only GDAL reader) |
//! | [`crs`] | CRS parsing and transforms (GDAL/PROJ); the working CRS |
//! | [`model`] | domain types: CBS codes, areas, levels, point layers, accounting |
//! | [`index`] | R-tree over area envelopes + prepared polygons for exact point-in-polygon |
//! | [`join`] | points → areas; pure and parallel |
//! | [`crosswalk`] | old boundaries → new boundaries: shares weighted by points or area |
//! | [`weights`] | spatial weights of a level: contiguity, k nearest, distance band |
//! | [`indicators`] | indicator definitions and their evaluation with polars |
//! | [`snapshot`] | runs the pipeline into an immutable `Snapshot` |
//! | [`tiles`] | vector tiles: grid maths, snapping/clipping, point aggregation, MVT encoding |
//! | [`export`] | CSV and GeoPackage writers |
//! | [`api`] | the HTTP server (axum) |
//! | [`config`], [`cli`], [`commands`] | the project file, the command line, the subcommands |

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crosswalk;
pub mod crs;
pub mod demo;
pub mod error;
pub mod export;
pub mod index;
pub mod indicators;
pub mod ingest;
pub mod join;
pub mod model;
pub mod region;
pub mod snapshot;
pub mod tiles;
pub mod weights;

pub use error::{Error, Result};
