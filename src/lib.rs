//! buurtmeter: a neighbourhood indicator engine.
//!
//! One pipeline, one direction: **ingest → index → join → indicators → serve / export**.
//! The pipeline is the `buurtmeter-core` crate (`core/`), re-exported here module by
//! module; this crate adds what serves and drives it:
//!
//! | module | owns |
//! |---|---|
//! | [`api`] | the HTTP server (axum): OGC API – Features, tiles, indicators, profiles, the web map |
//! | [`cli`] | the command line (clap) |
//! | [`commands`] | what each subcommand does |
//! | [`publish`] | `buurtmeter publish`: a static site (PMTiles, styles, the map, downloads) for any web space |
//! | [`init`] | `buurtmeter init`: CBS OData and PDOK downloads (cached) into a ready project |
//! | [`error`] | the error of a command: the core's stage errors, composed, and the server's and the command line's own |
//!
//! and from the core: [`config`], [`ingest`], [`crs`], [`model`], [`index`], [`join`],
//! [`crosswalk`], [`weights`], [`indicators`], [`snapshot`], [`tiles`], [`export`],
//! [`demo`].

pub use buurtmeter_core::*;

pub mod error;
pub use error::{Error, Result};

pub mod api;
pub mod cli;
pub mod commands;
pub mod init;
pub mod publish;
