//! The points stage: every point layer read, joined at every level, accounted for, and,
//! for a protected layer, given its cell-key record keys.

use std::path::PathBuf;

use rayon::prelude::*;

use super::{JoinedLayer, Log, timed};
use crate::config::{Access, JoinPlace, PointsConfig, Project};
use crate::crs::SpatialRef;
use crate::index::AreaIndex;
use crate::indicators;
use crate::ingest::{self, Coords, IngestError, PointSource};
use crate::join::{self, NONE};
use crate::model::Level;

/// The points stage: a point layer that cannot be read, or no cell-key secret.
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    /// The file of a point layer (`[[points]]` with this id).
    #[error("point layer '{layer}': {source}")]
    Read {
        layer: String,
        #[source]
        source: Box<IngestError>,
    },
    /// The file of rejected rows (`rejected = "…"`) cannot be written.
    #[error("point layer '{layer}': cannot write the rejected rows to {}: {source}", path.display())]
    HandBack {
        layer: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store of a layer's releases cannot be read or written.
    #[error(transparent)]
    Release(super::release::ReleaseError),
    /// A layer joined in the database (`join = "database"`).
    #[error("point layer '{layer}': {source}")]
    Database {
        layer: String,
        #[source]
        source: join::database::DatabaseError,
    },
    #[error("point layer '{layer}': cannot read or create the cell-key secret: {source}; set BUURTMETER_SDC_SECRET")]
    Secret {
        layer: String,
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = PointsError> = std::result::Result<T, E>;

/// The join's inputs: the levels, their indexes and the child-first order.
pub(super) struct Areas<'a> {
    pub levels: &'a [Level],
    pub indexes: &'a [AreaIndex],
    pub order: &'a [usize],
    /// The areas around the region (left out by `region`), and their polygons.
    pub around: &'a AreaIndex,
    pub around_geometry: &'a [&'a geo_types::MultiPolygon<f64>],
}

/// A point layer read ahead, and how long it took.
pub(super) type Early = (ingest::Result<crate::model::PointLayer>, f64);

/// Read every point layer that is joined in process, on a thread of its own, while the
/// caller reads the areas (the join needs both).
pub(super) fn read_early(project: &Project) -> std::thread::JoinHandle<Vec<Option<Early>>> {
    let project = project.clone();
    std::thread::spawn(move || {
        let Ok(working) = crate::crs::working(&project.crs) else { return Vec::new() };
        project
            .points
            .iter()
            .map(|pc| {
                (pc.join == JoinPlace::Process).then(|| {
                    let t = std::time::Instant::now();
                    let read = ingest::read_points(&point_source(&project, pc), &working, &pc.id);
                    (read, t.elapsed().as_secs_f64())
                })
            })
            .collect()
    })
}

/// Read and join one point layer (or join one read ahead). `None` for a restricted layer that cannot be read: it
/// is left out (the operator sees why, in the log and on the admin /health), and the
/// public data is served as always.
pub(super) fn read_and_join(
    project: &Project,
    pc: &PointsConfig,
    working: &SpatialRef,
    areas: &Areas,
    early: Option<Early>,
    secret: &mut Option<[u8; 16]>,
    log: &mut Log,
) -> Result<Option<JoinedLayer>> {
    if pc.join == JoinPlace::Database {
        return match join_in_database(project, pc, working, areas, secret, log) {
            Ok(j) => Ok(Some(j)),
            // As a restricted file that cannot be read: left out, the public data served.
            Err(e) if pc.access == Access::Restricted => {
                tracing::error!(layer = %pc.id, error = %e, "restricted point layer left out");
                log.warnings.push(format!("restricted point layer '{}' left out: {e}", pc.id));
                Ok(None)
            }
            Err(e) => Err(e),
        };
    }
    let source = point_source(project, pc);
    let read = match early {
        Some((read, secs)) => {
            tracing::info!(stage = %format!("read points {}", pc.id), seconds = format!("{secs:.3}"), "done (alongside the areas)");
            log.timings.push((format!("read points {}", pc.id), secs));
            read
        }
        None => timed(&mut log.timings, format!("read points {}", pc.id), || ingest::read_points(&source, working, &pc.id)),
    };
    let mut layer = match read {
        Ok(l) => l,
        Err(e) if pc.access == Access::Restricted => {
            tracing::error!(layer = %pc.id, error = %e, "restricted point layer left out");
            log.warnings.push(format!("restricted point layer '{}' left out: {e}", pc.id));
            return Ok(None);
        }
        Err(source) => return Err(PointsError::Read { layer: pc.id.clone(), source: Box::new(source) }),
    };
    let (assigned, overlaps) = timed(&mut log.timings, format!("join points {}", pc.id), || {
        join::join_hierarchy(areas.levels, areas.indexes, areas.order, &layer)
    });
    layer.accounting.warnings.extend(join::overlap_warnings(areas.levels, &pc.id, &overlaps));
    // Accounting against the finest level that holds the point: joined = in some area.
    let joined = (0..layer.len()).into_par_iter().filter(|&i| assigned.iter().any(|a| a[i] != NONE)).count() as u64;
    layer.accounting.joined = joined;
    layer.accounting.outside = layer.len() as u64 - joined;
    if !areas.around.is_empty() {
        layer.accounting.outside_region = (0..layer.len())
            .into_par_iter()
            .filter(|&i| assigned.iter().all(|a| a[i] == NONE) && areas.around.locate(layer.xs[i], layer.ys[i]).is_some())
            .count() as u64;
    }
    debug_assert!(layer.accounting.balances());
    if let (Some(file), Some(h)) = (&pc.rejected, &layer.accounting.handback) {
        let path = project.resolve(file);
        crate::export::write_hand_back(&path, h).map_err(|source| PointsError::HandBack {
            layer: pc.id.clone(),
            path: path.clone(),
            source,
        })?;
        tracing::info!(layer = %pc.id, rows = h.rows.len(), file = %path.display(), "rejected and partly used rows written");
    }
    let joined_per_level: Vec<u64> = assigned.iter().map(|a| a.par_iter().filter(|&&x| x != NONE).count() as u64).collect();
    let protection = layer_protection(project, pc);
    // Published at release points: the public sees the release's records; the live ones
    // stay for the exact role.
    let (layer, assigned, live) = match project.release_of(pc) {
        Some(kind) if protection.is_some() => {
            let store = super::release::store_path(&project.base_dir, &pc.id);
            let today = super::release::today(project.timezone);
            let released = super::release::public_layer(&layer, kind, today, &store).map_err(PointsError::Release)?;
            let (public_assigned, _) = join::join_hierarchy(areas.levels, areas.indexes, areas.order, &released.layer);
            let live = super::LiveRecords { layer, assigned, release: released.label, fingerprint: released.fingerprint };
            (released.layer, public_assigned, Some(Box::new(live)))
        }
        _ => {
            warn_if_live(pc, protection.is_some(), log);
            (layer, assigned, None)
        }
    };
    let mut layer = layer;
    let record_keys = match (protection, layer.identity.take()) {
        (Some(_), Some(ids)) => Some(record_keys(project, &pc.id, &ids, secret)?),
        _ => None,
    };
    log.warnings.extend(layer.accounting.warnings.iter().cloned());
    Ok(Some(JoinedLayer {
        title: pc.title.clone().unwrap_or_else(|| pc.id.clone()),
        source: source.path.clone(),
        access: pc.access,
        disclosure: pc.disclosure(),
        ptable: protection.map(indicators::ckm::PTable::new),
        record_keys,
        layer,
        assigned,
        joined_per_level,
        lonlat: Vec::new(),
        min_cell_m: pc.min_cell_m.unwrap_or(DEFAULT_MIN_CELL_M),
        live,
    }))
}

/// A protected layer the public sees, published at every reload: say what that reveals.
fn warn_if_live(pc: &PointsConfig, protected: bool, log: &mut Log) {
    if protected && pc.access == Access::Aggregate {
        log.warnings.push(format!(
            "point layer '{}' is protected but published live (release = \"live\"): comparing the public values before and after a reload shows where and when a record was added; leave release out or set \"month\" (see README, Releases)",
            pc.id
        ));
    }
}

/// A layer joined in the database (`join = "database"`): the database sends the counts
/// per area (and the few points it cannot decide exactly); the rest is as for any layer.
/// (A restricted one that fails is left out by the caller, as a file would be.)
fn join_in_database(
    project: &Project,
    pc: &PointsConfig,
    working: &SpatialRef,
    areas: &Areas,
    secret: &mut Option<[u8; 16]>,
    log: &mut Log,
) -> Result<JoinedLayer> {
    let protection = layer_protection(project, pc);
    let key = match protection {
        Some(_) => Some(secret_of(project, &pc.id, secret)?),
        None => None,
    };
    let srid = crate::crs::label(working).strip_prefix("EPSG:").and_then(|c| c.parse().ok()).ok_or_else(|| PointsError::Database {
        layer: pc.id.clone(),
        source: join::database::DatabaseError {
            what: pc.path.display().to_string(),
            message: format!("the working CRS ({}) has no EPSG code, which PostGIS needs", project.crs),
        },
    })?;
    let src = database_source(project, pc);
    let join_areas = join::database::JoinAreas {
        levels: areas.levels,
        indexes: areas.indexes,
        order: areas.order,
        around: areas.around,
        around_geometry: areas.around_geometry,
        srid,
    };
    let pushed =
        timed(&mut log.timings, format!("join points {} in the database", pc.id), || join::database::join(&src, &join_areas, key.as_ref()))
            .map_err(|source| PointsError::Database { layer: pc.id.clone(), source })?;
    let records = pushed.layer.groups.as_ref().map(|g| g.records.as_slice()).unwrap_or_default();
    let joined_per_level: Vec<u64> =
        pushed.assigned.iter().map(|col| col.iter().zip(records).filter(|(a, _)| **a != NONE).map(|(_, n)| n).sum()).collect();
    // Always published live (the project refuses a release here): say so, as for a file.
    warn_if_live(pc, protection.is_some(), log);
    log.warnings.extend(pushed.layer.accounting.warnings.iter().cloned());
    Ok(JoinedLayer {
        title: pc.title.clone().unwrap_or_else(|| pc.id.clone()),
        source: pc.path.clone(),
        access: pc.access,
        disclosure: pc.disclosure(),
        ptable: protection.map(indicators::ckm::PTable::new),
        record_keys: pushed.key_sums,
        layer: pushed.layer,
        assigned: pushed.assigned,
        joined_per_level,
        lonlat: Vec::new(),
        min_cell_m: pc.min_cell_m.unwrap_or(DEFAULT_MIN_CELL_M),
        live: None,
    })
}

/// A database layer's source for the pushed-down join and its content version.
pub fn database_source(project: &Project, pc: &PointsConfig) -> join::database::DatabaseSource {
    join::database::DatabaseSource {
        conninfo: pc.path.to_string_lossy().into_owned(),
        table: pc.layer.clone(),
        sql: pc.sql.clone(),
        date: pc.date.clone(),
        category: pc.category.clone(),
        weight: pc.weight.clone(),
        id_column: pc.id_column.clone(),
        layer_id: pc.id.clone(),
        timezone: project.timezone.name().to_string(),
    }
}

fn secret_of(project: &Project, layer: &str, secret: &mut Option<[u8; 16]>) -> Result<[u8; 16]> {
    match *secret {
        Some(s) => Ok(s),
        None => {
            let (s, from) = indicators::ckm::secret(crate::demo::is_demo(project))
                .map_err(|source| PointsError::Secret { layer: layer.to_string(), source })?;
            tracing::info!("cell-key record keys under {from}");
            *secret = Some(s);
            Ok(s)
        }
    }
}

/// The cell-key record keys of a layer's points, under the secret (read once per build).
fn record_keys(project: &Project, layer: &str, ids: &[u64], secret: &mut Option<[u8; 16]>) -> Result<Vec<u64>> {
    let key = secret_of(project, layer, secret)?;
    Ok(ids.par_iter().map(|&id| indicators::ckm::record_key(&key, layer, id)).collect())
}

/// A protected layer's smallest published grid cell when the project names none: 500 m,
/// the coarser of CBS's square statistics (vierkantstatistieken 100 m and 500 m; the 100 m
/// squares only with CBS's own suppression of small counts). A 500 m cell in a town holds
/// dozens of addresses: "someone in this square" is no longer "someone in this block".
pub const DEFAULT_MIN_CELL_M: f64 = 500.0;

/// Point source settings from the project file.
pub fn point_source(project: &Project, p: &PointsConfig) -> PointSource {
    let coords = Coords::from_columns(&p.x, &p.y, &p.lon, &p.lat, &p.geometry, &p.crs);
    PointSource {
        path: project.resolve(&p.path),
        layer: p.layer.clone(),
        coords,
        date: p.date.clone(),
        category: p.category.clone(),
        weight: p.weight.clone(),
        delimiter: p.delimiter,
        encoding: p.encoding,
        identities: layer_protection(project, p).is_some(),
        id_column: p.id_column.clone(),
        header_row: p.header_row,
        timezone: Some(project.timezone),
        hand_back: p.rejected.is_some(),
        addresses: p.addresses.as_ref().map(|a| ingest::AddressSource { path: project.resolve(&a.path), layer: a.layer.clone() }),
        sql: p.sql.clone(),
    }
}

/// The cell-key parameters of a point layer, when anything published about it is to be
/// protected: its own `min_count`/`round_to`, or those of any indicator on it (all
/// indicators on one layer are linked tables of the same records, so they are protected
/// as one, with the strictest `min_count`).
pub fn layer_protection(project: &Project, p: &PointsConfig) -> Option<indicators::ckm::CkmParams> {
    let on_layer = project.indicators.iter().filter(|i| i.numerator.points() == Some(p.id.as_str()));
    let mut min_count = p.min_count;
    let mut any = p.min_count.is_some() || p.round_to.is_some();
    for i in on_layer {
        any |= i.min_count.is_some() || i.round_to.is_some();
        if let Some(m) = i.min_count {
            min_count = Some(min_count.map_or(m, |x: f64| x.max(m)));
        }
    }
    any.then(|| indicators::ckm::CkmParams::for_min_count(min_count))
}
