//! Vector tiles (Mapbox Vector Tile 2.1, WebMercatorQuad): tile maths ([`grid`]), the
//! encoder ([`mvt`]), area levels ([`polygons`]) and point layers ([`points`]).
//! Everything here is synchronous and pure; the HTTP side (cache, ETag, gzip) is in
//! `api::tiles`.

pub mod grid;
pub mod mvt;
pub mod points;
pub mod polygons;
pub mod simplify;

use geo_types::MultiPolygon;

use mvt::{LayerBuilder, Prop};
use points::PointTiles;
use polygons::LevelGeometry;

/// What a tileset is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An area level (index into the snapshot's levels).
    Level(usize),
    /// A point layer (index into the snapshot's point layers).
    Points(usize),
}

/// One tileset: an area level or a point layer, with the same id as its OGC collection.
pub struct Tileset {
    /// Served only with an API key (a restricted point layer).
    pub restricted: bool,
    pub id: String,
    pub title: String,
    pub source: Source,
    /// WGS84 bounds: west, south, east, north.
    pub bounds: [f64; 4],
    /// The properties of its features and what they hold (TileJSON's `vector_layers`
    /// says it in its own words; that is the API's business).
    pub fields: Vec<(String, FieldKind)>,
    /// The finest zoom served: `grid::MAX_ZOOM`, or for a protected point layer the zoom
    /// whose tiles are its smallest published cell (a finer tile would be a finer cell).
    pub maxzoom: u8,
}

/// What a property of a tile feature holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
}

/// Properties of point features (category and date), in the layer's columns; empty for
/// layers whose points are never served one by one.
#[derive(Default)]
pub struct PointProps {
    pub categories: Vec<String>,
    pub category_idx: Option<Vec<u32>>,
    pub dates: Option<Vec<Option<crate::model::Date>>>,
}

impl PointProps {
    fn of(&self, i: usize) -> Vec<(&'static str, Prop)> {
        let mut v = Vec::new();
        if let Some(c) = self.category_idx.as_ref().and_then(|c| c.get(i)).and_then(|&c| self.categories.get(c as usize)) {
            v.push(("category", Prop::Str(c.clone())));
        }
        if let Some(d) = self.dates.as_ref().and_then(|d| d.get(i).copied().flatten()) {
            v.push(("date", Prop::Str(d.to_string())));
        }
        v
    }
}

/// All tile sources of a snapshot.
pub struct TileData {
    pub tilesets: Vec<Tileset>,
    levels: Vec<LevelGeometry>,
    /// Per level, per area: the tile properties.
    level_props: Vec<Vec<Vec<(String, Prop)>>>,
    points: Vec<(PointTiles, PointProps)>,
}

impl TileData {
    pub fn new(
        tilesets: Vec<Tileset>,
        level_mercator: Vec<Vec<MultiPolygon<f64>>>,
        level_props: Vec<Vec<Vec<(String, Prop)>>>,
        points: Vec<(PointTiles, PointProps)>,
    ) -> TileData {
        TileData { tilesets, levels: LevelGeometry::all(level_mercator), level_props, points }
    }

    /// The properties of area `a` of level `level`: the same in tiles, OGC API and
    /// GeoJSON, computed once per snapshot.
    pub fn area_props(&self, level: usize, a: usize) -> &[(String, Prop)] {
        &self.level_props[level][a]
    }

    pub fn tileset(&self, id: &str) -> Option<usize> {
        self.tilesets.iter().position(|t| t.id == id)
    }

    /// The encoded tile; empty when nothing lies in it, or beyond the tileset's maxzoom.
    pub fn render(&self, tileset: usize, z: u8, x: u32, y: u32) -> Vec<u8> {
        let ts = &self.tilesets[tileset];
        if z > ts.maxzoom {
            return Vec::new();
        }
        match ts.source {
            Source::Level(l) => {
                let g = &self.levels[l];
                let mut layer = LayerBuilder::new(&ts.id);
                for a in g.candidates(z, x, y) {
                    let rings = g.tile_rings(z, x, y, a);
                    if rings.is_empty() {
                        continue;
                    }
                    let props: Vec<(&str, Prop)> = self.level_props[l][a as usize].iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    layer.polygon(u64::from(a), &props, &rings);
                }
                mvt::tile(vec![layer])
            }
            Source::Points(p) => {
                let (tiles, props) = &self.points[p];
                let point_props = |i: u32| props.of(i as usize);
                mvt::tile(vec![tiles.render(&ts.id, z, x, y, &point_props)])
            }
        }
    }
}
