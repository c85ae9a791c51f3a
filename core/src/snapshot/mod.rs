//! The pipeline, run once: areas → hierarchy → points (read and joined) → indicators →
//! serving data, into an immutable [`Snapshot`] that the CLI writes out and the server
//! shares behind an `Arc`. Each stage is a module with plain data in and out; `build` is
//! their composition.
//!
//! - [`areas`]: levels read, limited to the region, with their statistics;
//! - [`hierarchy`]: parent levels and parent areas, and the join at every level;
//! - [`points`]: point layers read, joined, accounted for, keyed when protected;
//! - [`indicators`]: every indicator at every level, with disclosure control;
//! - [`serving`]: WGS84 and Web Mercator geometry, shared properties, tilesets;
//! - [`version`]: the data version (content) and the watcher's fingerprint.

mod areas;
mod convert;
mod grid_level;
mod groups;
mod hierarchy;
mod indicators;
mod names;
mod points;
pub mod release;
mod serving;
mod version;

use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

use geo_types::MultiPolygon;

use crate::config::ProjectError;
use crate::config::{Access, Project};
use crate::crs;
use crate::crs::CrsError;
use crate::index::AreaIndex;
use crate::indicators::{Indicator, LevelValues};
use crate::model::{Level, PointLayer};
use crate::tiles::TileData;

pub use areas::AreasError;
pub use hierarchy::HierarchyError;
pub use indicators::IndicatorsError;
pub use points::PointsError;
pub use points::{layer_protection, point_source};
pub use serving::{area_properties, denominator_label, properties_of};
pub use version::{data_version, inputs_fingerprint};

/// Why a snapshot could not be built: the stage that failed, with its own error.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Areas(#[from] AreasError),
    #[error(transparent)]
    Hierarchy(#[from] HierarchyError),
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Indicators(#[from] IndicatorsError),
    /// Preparing the served geometry (WGS84, Web Mercator) failed.
    #[error("preparing the map data (WGS84): {0}")]
    Serving(#[source] CrsError),
}

type Result<T, E = BuildError> = std::result::Result<T, E>;

/// A point layer after the join: for every level, each point's area index (or `NONE`).
pub struct JoinedLayer {
    pub layer: PointLayer,
    pub title: String,
    pub source: PathBuf,
    pub access: Access,
    /// The layer's disclosure rules (also applied to grid cells in tiles).
    pub disclosure: crate::config::Disclosure,
    pub assigned: Vec<Vec<u32>>,
    /// Protected layers (cell-key method): the perturbation table and every record's key.
    /// Never published.
    pub ptable: Option<crate::indicators::ckm::PTable>,
    pub record_keys: Option<Vec<u64>>,
    /// Per level: how many points lie in one of its areas (the rest are outside it).
    pub joined_per_level: Vec<u64>,
    /// Protected layers: the smallest grid cell published, in metres on the ground.
    pub min_cell_m: f64,
    /// WGS84 lon/lat of every point (for OGC API and tiles).
    pub lonlat: Vec<[f64; 2]>,
    /// A layer published at release points (`release = "month"`): `layer` and `assigned`
    /// are the release's records; here are the live ones, for the exact role only.
    pub live: Option<Box<LiveRecords>>,
}

/// The live records of a layer published at release points, and the release in force.
pub struct LiveRecords {
    pub layer: PointLayer,
    pub assigned: Vec<Vec<u32>>,
    /// The release served (`2026-12`), and a fingerprint of its records.
    pub release: String,
    pub fingerprint: u64,
}

/// One indicator evaluated at every level (aligned with `Snapshot::levels`).
pub struct IndicatorResult {
    pub def: Indicator,
    pub per_level: Vec<LevelValues>,
    /// Built on a restricted point layer: served only with an API key.
    pub restricted: bool,
    /// On a protected layer: the exact values, for API keys with the `exact` role only.
    pub exact: Option<Vec<LevelValues>>,
    /// Per level, the hot spots of the latest period when the indicator asks for them
    /// (`hotspots = { … }`), from the published values.
    pub hotspots: Vec<Option<crate::indicators::hotspots::Analysis>>,
    /// A statistic numerator its sources already protected (`[[statistics]] protected`),
    /// so buurtmeter's rules were not applied again: per level, the source's rule (`None`
    /// at a level without the statistic). `None` when buurtmeter's own rules apply.
    pub source_protection: Option<Vec<Option<String>>>,
}

/// Everything the server and the exports need, built once and then read-only.
pub struct Snapshot {
    pub name: String,
    pub description: Option<String>,
    pub attribution: Option<String>,
    /// The z-score edges of the profiles' deviation bands.
    pub band_edges: [f64; 4],
    pub basemap: Option<crate::config::Basemap>,
    /// Areas around the region (left out by `region`), in WGS84: drawn as context only.
    pub context: Vec<ContextArea>,
    /// Per level, the web map's label positions as JSON, made on the first request (a
    /// public endpoint must not redo the geometry on every call).
    pub labels: Vec<std::sync::OnceLock<String>>,
    /// Per level, its exact queen and rook contiguity, made on first use (by configured hot
    /// spots at build, or the hot-spot and weights endpoints).
    pub contiguity: crate::weights::Cache,
    pub project_file: PathBuf,
    pub working_crs: String,
    /// The working CRS as WKT (for writers: not every CRS has a code).
    pub working_wkt: String,
    pub levels: Vec<Level>,
    pub points: Vec<JoinedLayer>,
    pub indicators: Vec<IndicatorResult>,
    /// Per level, every area in WGS84 lon/lat (CRS84 axis order).
    pub wgs84: Vec<Vec<MultiPolygon<f64>>>,
    pub tiles: TileData,
    pub warnings: Vec<String>,
    /// Timings per stage, for the log and the benchmarks.
    pub timings: Vec<(String, f64)>,
    /// Changes whenever the inputs or the project change.
    pub version: String,
    /// A hash of every input, restricted ones included: the tile cache key.
    pub version_hash: u64,
}

impl Snapshot {
    pub fn level_index(&self, id: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.id == id)
    }

    pub fn indicator(&self, id: &str) -> Option<&IndicatorResult> {
        self.indicators.iter().find(|i| i.def.id == id)
    }

    /// The areas above area `a` of level `li`: (level, area), nearest first.
    pub fn ancestors(&self, li: usize, a: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let (mut l, mut x) = (li, a);
        while let Some(parent) = self.levels[l].parent {
            let Some(p) = self.levels[l].parent_area.get(x).copied().flatten() else { break };
            out.push((parent, p as usize));
            (l, x) = (parent, p as usize);
        }
        out
    }

    /// The weights `spec` of level `li` (exact contiguity made once per snapshot).
    pub fn weights(&self, li: usize, spec: crate::weights::Spec) -> std::borrow::Cow<'_, crate::weights::Neighbours> {
        self.contiguity.weights(li, &self.levels[li].areas, spec)
    }
}

/// Run one stage, log how long it took and keep the time (also for a stage that fails).
pub fn timed<T>(timings: &mut Vec<(String, f64)>, name: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let secs = t.elapsed().as_secs_f64();
    let name = name.into();
    tracing::info!(stage = %name, seconds = format!("{secs:.3}"), "done");
    timings.push((name, secs));
    out
}

/// An area around the region: code, name, WGS84 geometry (drawn as context only).
pub type ContextArea = (String, Option<String>, MultiPolygon<f64>);

/// What the stages share while a snapshot is built: the stage timings and the warnings.
#[derive(Default)]
pub(crate) struct Log {
    pub timings: Vec<(String, f64)>,
    pub warnings: Vec<String>,
}

/// Run the whole pipeline for a project.
pub fn build(project: &Project) -> Result<Snapshot> {
    // The data version reads every input once more: on its own thread, alongside the rest.
    let version = {
        let project = project.clone();
        std::thread::spawn(move || data_version(&project))
    };
    // The point files are read while the areas are: reading areas is GDAL on one
    // thread, reading a CSV of points keeps the other cores busy.
    let early_points = points::read_early(project);
    let mut log = Log::default();
    // Checked when the project was loaded; a GDAL handle cannot be kept in the project.
    let working = crs::working(&project.crs).map_err(|e| ProjectError::new(&project.file, format!("crs: {e}")))?;
    let (mut levels, context) = areas::read_levels(project, &working, &mut log)?;
    let mut early_points = early_points.join().unwrap_or_default();
    // Grid cells are found by arithmetic when the working CRS is the grid's.
    let in_grid_crs = crs::spatial_ref(crate::grid::GRID_CRS).is_ok_and(|g| crs::same(&working, &g));
    let indexes: Vec<AreaIndex> = timed(&mut log.timings, "index areas", || {
        levels
            .par_iter()
            .map(|l| match l.grid {
                Some(size) if in_grid_crs => AreaIndex::cells(size, l.areas.iter().map(|a| crate::grid::Cell::parse(&a.code))),
                _ => AreaIndex::build(l.areas.iter().map(|a| &a.geometry)),
            })
            .collect()
    });
    let order = hierarchy::link(project, &mut levels, &indexes, &mut log)?;
    let mut joined = Vec::new();
    let mut secret = None;
    // The areas around the region: a point outside the project's areas but in one of these
    // is outside the region (Kerkrade), not outside every area (Germany).
    let around = AreaIndex::build(context.iter().map(|a| &a.geometry));
    let around_geometry: Vec<&geo_types::MultiPolygon<f64>> = context.iter().map(|a| &a.geometry).collect();
    let areas = points::Areas { levels: &levels, indexes: &indexes, order: &order, around: &around, around_geometry: &around_geometry };
    for (i, pc) in project.points.iter().enumerate() {
        let early = early_points.get_mut(i).and_then(Option::take);
        joined.extend(points::read_and_join(project, pc, &working, &areas, early, &mut secret, &mut log)?);
    }
    // The prepared areas (120 MB at national scale) serve only the join: freed now, on
    // another thread, instead of at the end of the build or never.
    std::thread::spawn(move || drop(indexes));
    let contiguity = crate::weights::Cache::new(levels.len());
    let results = indicators::compute(project, &levels, &joined, &contiguity, &mut log)?;
    let (wgs84, tiles) = timed(&mut log.timings, "prepare tiles", || serving::prepare_serving(&working, &levels, &mut joined, &results))
        .map_err(BuildError::Serving)?;
    let (mut version, version_hash) = version.join().unwrap_or_else(|_| ("unknown".into(), 0));
    // Layers published at release points are out of the public version (their files may
    // change between releases without a trace); their releases are in it.
    if joined.iter().any(|j| j.live.is_some()) {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(version.as_bytes());
        for j in &joined {
            if let Some(l) = &j.live {
                h.update(j.layer.id.as_bytes());
                h.update(&l.fingerprint.to_le_bytes());
            }
        }
        version = format!("{:012x}", h.digest() & 0xffff_ffff_ffff);
    }
    Ok(Snapshot {
        name: project.name.clone(),
        description: project.description.clone(),
        attribution: project.attribution.clone(),
        band_edges: project.band_edges.unwrap_or(crate::indicators::profile::BAND_EDGES),
        basemap: project.basemap.clone(),
        context: serving::context_wgs84(&working, context).map_err(BuildError::Serving)?,
        labels: levels.iter().map(|_| std::sync::OnceLock::new()).collect(),
        contiguity,
        project_file: project.file.clone(),
        working_crs: crs::label(&working),
        working_wkt: working.to_wkt().map_err(|e| ProjectError::new(&project.file, format!("crs: cannot be written as WKT: {e}")))?,
        levels,
        points: joined,
        indicators: results,
        wgs84,
        tiles,
        warnings: log.warnings,
        timings: log.timings,
        version,
        version_hash,
    })
}
