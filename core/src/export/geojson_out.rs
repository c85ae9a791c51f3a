//! GeoJSON export: one FeatureCollection per level in CRS84 (RFC 7946), with the same
//! properties as the tiles and the OGC API (code, name, latest indicator values, the
//! figures behind them).

use geojson::{Feature, FeatureCollection, GeoJson, Geometry, JsonObject};

use crate::snapshot::Snapshot;

pub fn level_collection(snap: &Snapshot, level: usize) -> GeoJson {
    let features = (0..snap.levels[level].areas.len())
        .map(|a| {
            let mut props = JsonObject::new();
            for (k, v) in snap.tiles.area_props(level, a) {
                props.insert(k.clone(), v.to_json());
            }
            Feature {
                bbox: None,
                geometry: Some(Geometry::from(&snap.wgs84[level][a])),
                id: Some(geojson::feature::Id::String(snap.levels[level].areas[a].code.clone())),
                properties: Some(props),
                foreign_members: None,
            }
        })
        .collect();
    GeoJson::FeatureCollection(FeatureCollection { bbox: None, features, foreign_members: None })
}
