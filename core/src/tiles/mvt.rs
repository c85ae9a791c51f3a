//! A Mapbox Vector Tile 2.1 encoder: the protobuf wire format written directly (the
//! schema is five small messages). Decoded in the tests by GDAL's MVT driver and by
//! MapLibre in a real browser.
//!
//! Geometry is given in tile coordinates (0..4096, y down). Polygon rings must be closed
//! (first point = last point); exterior rings must have positive area in tile space
//! (clockwise on screen) and holes negative, as the spec demands.

use std::collections::HashMap;

pub use crate::model::Prop;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey {
    Str(String),
    Num(u64),
    Int(i64),
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, 2);
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn command(id: u32, count: u32) -> u32 {
    (id & 0x7) | (count << 3)
}

/// One layer of a tile, built feature by feature.
pub struct LayerBuilder {
    name: String,
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    values: Vec<Prop>,
    value_index: HashMap<ValueKey, u32>,
    features: Vec<u8>,
    n_features: usize,
}

impl LayerBuilder {
    pub fn new(name: &str) -> LayerBuilder {
        LayerBuilder {
            name: name.to_string(),
            keys: Vec::new(),
            key_index: HashMap::new(),
            values: Vec::new(),
            value_index: HashMap::new(),
            features: Vec::new(),
            n_features: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.n_features == 0
    }

    fn tags(&mut self, props: &[(&str, Prop)]) -> Vec<u32> {
        let mut tags = Vec::with_capacity(props.len() * 2);
        for (k, v) in props {
            if let Prop::Num(x) = v
                && !x.is_finite()
            {
                continue;
            }
            let next_k = self.keys.len() as u32;
            let ki = *self.key_index.entry((*k).to_string()).or_insert_with(|| {
                self.keys.push((*k).to_string());
                next_k
            });
            let vk = match v {
                Prop::Str(s) => ValueKey::Str(s.clone()),
                Prop::Num(x) => ValueKey::Num(x.to_bits()),
                Prop::Int(i) => ValueKey::Int(*i),
            };
            let next_v = self.values.len() as u32;
            let vi = *self.value_index.entry(vk).or_insert_with(|| {
                self.values.push(v.clone());
                next_v
            });
            tags.push(ki);
            tags.push(vi);
        }
        tags
    }

    fn feature(&mut self, id: u64, props: &[(&str, Prop)], geom_type: u32, geometry: &[u32]) {
        let tags = self.tags(props);
        let mut f = Vec::with_capacity(16 + geometry.len() * 2);
        key(&mut f, 1, 0);
        varint(&mut f, id);
        if !tags.is_empty() {
            let mut packed = Vec::with_capacity(tags.len() * 2);
            for t in tags {
                varint(&mut packed, u64::from(t));
            }
            bytes_field(&mut f, 2, &packed);
        }
        key(&mut f, 3, 0);
        varint(&mut f, u64::from(geom_type));
        let mut packed = Vec::with_capacity(geometry.len() * 2);
        for g in geometry {
            varint(&mut packed, u64::from(*g));
        }
        bytes_field(&mut f, 4, &packed);
        bytes_field(&mut self.features, 2, &f);
        self.n_features += 1;
    }

    /// A polygon feature from closed rings in tile coordinates (exteriors positive area,
    /// holes negative, each exterior followed by its holes).
    pub fn polygon(&mut self, id: u64, props: &[(&str, Prop)], rings: &[Vec<[i64; 2]>]) {
        let mut geometry: Vec<u32> = Vec::new();
        let (mut cx, mut cy) = (0i64, 0i64);
        for ring in rings {
            let pts = &ring[..ring.len() - 1];
            if pts.len() < 3 {
                continue;
            }
            geometry.push(command(1, 1));
            geometry.push(zigzag(pts[0][0] - cx) as u32);
            geometry.push(zigzag(pts[0][1] - cy) as u32);
            (cx, cy) = (pts[0][0], pts[0][1]);
            geometry.push(command(2, (pts.len() - 1) as u32));
            for p in &pts[1..] {
                geometry.push(zigzag(p[0] - cx) as u32);
                geometry.push(zigzag(p[1] - cy) as u32);
                (cx, cy) = (p[0], p[1]);
            }
            geometry.push(command(7, 1));
        }
        if !geometry.is_empty() {
            self.feature(id, props, 3, &geometry);
        }
    }

    /// A point feature (one or more points) in tile coordinates.
    pub fn points(&mut self, id: u64, props: &[(&str, Prop)], pts: &[[i64; 2]]) {
        if pts.is_empty() {
            return;
        }
        let mut geometry = vec![command(1, pts.len() as u32)];
        let (mut cx, mut cy) = (0i64, 0i64);
        for p in pts {
            geometry.push(zigzag(p[0] - cx) as u32);
            geometry.push(zigzag(p[1] - cy) as u32);
            (cx, cy) = (p[0], p[1]);
        }
        self.feature(id, props, 1, &geometry);
    }

    /// The encoded layer message (to be wrapped by [`tile`]).
    pub fn finish(self) -> Vec<u8> {
        let mut l = Vec::with_capacity(self.features.len() + 256);
        key(&mut l, 15, 0);
        varint(&mut l, 2);
        bytes_field(&mut l, 1, self.name.as_bytes());
        l.extend_from_slice(&self.features);
        for k in &self.keys {
            bytes_field(&mut l, 3, k.as_bytes());
        }
        for v in &self.values {
            let mut vb = Vec::new();
            match v {
                Prop::Str(s) => bytes_field(&mut vb, 1, s.as_bytes()),
                Prop::Num(x) => {
                    key(&mut vb, 3, 1);
                    vb.extend_from_slice(&x.to_le_bytes());
                }
                Prop::Int(i) => {
                    key(&mut vb, 6, 0);
                    varint(&mut vb, zigzag(*i));
                }
            }
            bytes_field(&mut l, 4, &vb);
        }
        key(&mut l, 5, 0);
        varint(&mut l, super::grid::EXTENT as u64);
        l
    }
}

/// A tile from encoded layers (empty layers left out).
pub fn tile(layers: Vec<LayerBuilder>) -> Vec<u8> {
    let mut t = Vec::new();
    for l in layers.into_iter().filter(|l| !l.is_empty()) {
        bytes_field(&mut t, 3, &l.finish());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, vec![0xac, 0x02]);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(command(1, 1), 9);
        assert_eq!(command(7, 1), 15);
    }

    #[test]
    fn polygon_geometry_matches_the_spec_example() {
        // The MVT spec's polygon example: MoveTo(3,6) LineTo(8,12) (20,34) ClosePath.
        let mut l = LayerBuilder::new("t");
        l.polygon(1, &[], &[vec![[3, 6], [8, 12], [20, 34], [3, 6]]]);
        let bytes = tile(vec![l]);
        // geometry packed: 9 6 12 18 10 12 24 44 15
        let needle = [9u8, 6, 12, 18, 10, 12, 24, 44, 15];
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
    }
}
