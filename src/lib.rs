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
//!
//! and from the core: [`config`], [`ingest`], [`crs`], [`model`], [`index`], [`join`],
//! [`crosswalk`], [`weights`], [`indicators`], [`snapshot`], [`tiles`], [`export`],
//! [`error`], [`demo`].

pub use buurtmeter_core::*;

pub mod api;
pub mod cli;
pub mod commands;
