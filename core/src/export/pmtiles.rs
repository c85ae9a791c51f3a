//! PMTiles v3 archives (the Protomaps single-file tile format that MapLibre, QGIS ≥ 3.32
//! and GDAL read with HTTP Range requests): header, root and leaf directories, JSON
//! metadata, gzip-compressed tiles clustered by Hilbert tile id.
//!
//! Written here rather than with the `pmtiles` crate: its only release that builds on this
//! project's Rust version (0.16) cuts leaf directories by their byte length instead of their
//! entry count, which breaks every archive large enough to need leaves (a national
//! publication). The format is small; `tests/publish.rs` reads what is written here with
//! the reference implementation (the `pmtiles` Python package).
//!
//! Layout: `header (127 bytes) | root directory | metadata | tile data | leaf directories`,
//! the header and root inside the first 16 KiB, as readers fetch that much first. Tiles
//! must be added in increasing tile id: the archive is then clustered, and a tile identical
//! to the one before it (the sea, say) is stored once with a run length.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::ExportError;

/// The size of a PMTiles v3 header.
pub const HEADER_BYTES: usize = 127;
/// Readers fetch the first 16 KiB at once: header and root directory must fit in it.
const FIRST_FETCH: usize = 16_384;

/// The tile id of `z/x/y`: the tiles of every lower zoom before it, then its position on
/// the Hilbert curve of its zoom.
pub fn tile_id(z: u8, x: u32, y: u32) -> u64 {
    let base = ((1u64 << (2 * u32::from(z))) - 1) / 3;
    let n = 1u64 << z;
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    let mut d = 0u64;
    let mut s = n / 2;
    while s > 0 {
        let rx = u64::from(x & s > 0);
        let ry = u64::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        // Rotate the quadrant (only the bits below `s` matter from here on).
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    base + d
}

/// What the header says about the archive besides its layout.
#[derive(Debug, Clone)]
pub struct ArchiveInfo {
    pub min_zoom: u8,
    pub max_zoom: u8,
    /// West, south, east, north (WGS84).
    pub bounds: [f64; 4],
    pub center_zoom: u8,
    /// The TileJSON-like metadata: a JSON object with `vector_layers`.
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tile_id: u64,
    offset: u64,
    length: u32,
    run_length: u32,
}

/// An archive being written: tiles in increasing tile id, then [`Writer::finish`].
pub struct Writer {
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    info: ArchiveInfo,
    metadata_length: u64,
    data_offset: u64,
    /// Bytes of tile data written so far.
    data_length: u64,
    entries: Vec<Entry>,
    last_raw: Vec<u8>,
    addressed: u64,
    contents: u64,
}

/// Statistics of a finished archive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub tiles: u64,
    pub bytes: u64,
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2 + 64), flate2::Compression::default());
    enc.write_all(bytes)?;
    enc.finish()
}

/// A tile gzipped for [`Writer::add_compressed`] (on any thread).
pub fn compress_tile(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip(raw)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A directory as the spec writes it (before compression): the count, then the tile ids
/// as deltas, the run lengths, the lengths, and the offsets (0 for "right after the
/// previous entry", else offset + 1).
fn directory_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 6 + 8);
    varint(&mut out, entries.len() as u64);
    let mut last = 0;
    for e in entries {
        varint(&mut out, e.tile_id - last);
        last = e.tile_id;
    }
    for e in entries {
        varint(&mut out, u64::from(e.run_length));
    }
    for e in entries {
        varint(&mut out, u64::from(e.length));
    }
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && e.offset == entries[i - 1].offset + u64::from(entries[i - 1].length) {
            varint(&mut out, 0);
        } else {
            varint(&mut out, e.offset + 1);
        }
    }
    out
}

impl Writer {
    /// Start an archive at `path` (replaced if there).
    pub fn create(path: &Path, info: ArchiveInfo) -> Result<Writer, ExportError> {
        let file = std::fs::File::create(path).map_err(ExportError::write(path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; FIRST_FETCH]).map_err(ExportError::write(path))?;
        let metadata = gzip(info.metadata.to_string().as_bytes()).map_err(ExportError::write(path))?;
        out.write_all(&metadata).map_err(ExportError::write(path))?;
        let data_offset = (FIRST_FETCH + metadata.len()) as u64;
        Ok(Writer {
            path: path.to_path_buf(),
            out,
            info,
            metadata_length: metadata.len() as u64,
            data_offset,
            data_length: 0,
            entries: Vec::new(),
            last_raw: Vec::new(),
            addressed: 0,
            contents: 0,
        })
    }

    /// Add a tile (uncompressed MVT bytes) and its gzip; ids must increase. Empty tiles
    /// are not stored (a reader answers "no tile", as the server answers 204).
    pub fn add_compressed(&mut self, tile_id: u64, raw: &[u8], gzipped: &[u8]) -> Result<(), ExportError> {
        if raw.is_empty() {
            return Ok(());
        }
        if let Some(last) = self.entries.last_mut() {
            assert!(tile_id >= last.tile_id + u64::from(last.run_length), "PMTiles: tile ids must increase");
            if tile_id == last.tile_id + u64::from(last.run_length) && self.last_raw == raw {
                last.run_length += 1;
                self.addressed += 1;
                return Ok(());
            }
        }
        let length = u32::try_from(gzipped.len())
            .map_err(|_| ExportError::write(&self.path)(std::io::Error::new(std::io::ErrorKind::InvalidData, "a tile over 4 GB")))?;
        self.out.write_all(gzipped).map_err(ExportError::write(&self.path))?;
        self.entries.push(Entry { tile_id, offset: self.data_length, length, run_length: 1 });
        self.data_length += u64::from(length);
        self.last_raw.clear();
        self.last_raw.extend_from_slice(raw);
        self.addressed += 1;
        self.contents += 1;
        Ok(())
    }

    /// Tiles stored so far (addressed, counting runs).
    pub fn tiles(&self) -> u64 {
        self.addressed
    }

    /// The root directory (and the leaves, concatenated) that fit the first fetch.
    fn directories(&self) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let root_room = FIRST_FETCH - HEADER_BYTES;
        let root = gzip(&directory_bytes(&self.entries))?;
        if root.len() <= root_room {
            return Ok((root, Vec::new()));
        }
        // Leaves of `leaf_size` entries each, grown until the root of their pointers fits
        // (the way go-pmtiles and planetiler do it).
        let mut leaf_size = (self.entries.len() / 3500).max(4096);
        loop {
            let mut leaves = Vec::new();
            let mut pointers = Vec::new();
            for chunk in self.entries.chunks(leaf_size) {
                let leaf = gzip(&directory_bytes(chunk))?;
                pointers.push(Entry {
                    tile_id: chunk[0].tile_id,
                    offset: leaves.len() as u64,
                    length: u32::try_from(leaf.len()).map_err(std::io::Error::other)?,
                    run_length: 0,
                });
                leaves.extend_from_slice(&leaf);
            }
            let root = gzip(&directory_bytes(&pointers))?;
            if root.len() <= root_room {
                return Ok((root, leaves));
            }
            leaf_size += leaf_size / 5;
        }
    }

    /// Write the directories and the header; the archive is complete.
    pub fn finish(mut self) -> Result<Written, ExportError> {
        let path = self.path.clone();
        let (root, leaves) = self.directories().map_err(ExportError::write(&path))?;
        let leaf_offset = self.data_offset + self.data_length;
        self.out.write_all(&leaves).map_err(ExportError::write(&path))?;
        let info = &self.info;
        let mut h = Vec::with_capacity(HEADER_BYTES);
        h.extend_from_slice(b"PMTiles");
        h.push(3);
        let root_offset = HEADER_BYTES as u64;
        for v in [
            root_offset,
            root.len() as u64,
            FIRST_FETCH as u64,
            self.metadata_length,
            leaf_offset,
            leaves.len() as u64,
            self.data_offset,
            self.data_length,
            self.addressed,
            self.entries.len() as u64,
            self.contents,
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        // Clustered; gzip (2) inside and for tiles; MVT (1).
        h.extend_from_slice(&[1, 2, 2, 1, info.min_zoom, info.max_zoom]);
        let e7 = |d: f64| ((d * 1e7).round() as i32).to_le_bytes();
        let [w, s, e, n] = info.bounds;
        for v in [w, s, e, n] {
            h.extend_from_slice(&e7(v));
        }
        h.push(info.center_zoom);
        h.extend_from_slice(&e7((w + e) / 2.0));
        h.extend_from_slice(&e7((s + n) / 2.0));
        debug_assert_eq!(h.len(), HEADER_BYTES);
        let end = leaf_offset + leaves.len() as u64;
        self.out.seek(SeekFrom::Start(0)).map_err(ExportError::write(&path))?;
        self.out.write_all(&h).map_err(ExportError::write(&path))?;
        self.out.write_all(&root).map_err(ExportError::write(&path))?;
        self.out.flush().map_err(ExportError::write(&path))?;
        Ok(Written { tiles: self.addressed, bytes: end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ids_follow_the_spec() {
        // The spec's examples and the first tiles of zoom 1 and 2.
        assert_eq!(tile_id(0, 0, 0), 0);
        assert_eq!(tile_id(1, 0, 0), 1);
        assert_eq!(tile_id(1, 0, 1), 2);
        assert_eq!(tile_id(1, 1, 1), 3);
        assert_eq!(tile_id(1, 1, 0), 4);
        assert_eq!(tile_id(2, 0, 0), 5);
        assert_eq!(tile_id(12, 3423, 1763), 19_078_479);
        // Every tile of a zoom gets its own id in its zoom's range.
        let mut ids: Vec<u64> = (0..8).flat_map(|x| (0..8).map(move |y| tile_id(3, x, y))).collect();
        ids.sort_unstable();
        assert_eq!(ids, (21..85).collect::<Vec<u64>>());
    }

    #[test]
    fn directories_encode_runs_and_contiguous_offsets() {
        let e = [
            Entry { tile_id: 5, offset: 0, length: 10, run_length: 1 },
            Entry { tile_id: 6, offset: 10, length: 3, run_length: 2 },
            Entry { tile_id: 9, offset: 40, length: 1, run_length: 1 },
        ];
        assert_eq!(directory_bytes(&e), vec![3, 5, 1, 3, 1, 2, 1, 10, 3, 1, 1, 0, 41]);
    }

    #[test]
    fn an_archive_with_leaves_has_its_root_in_the_first_fetch() {
        let dir = std::env::temp_dir().join(format!("buurtmeter-pmtiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pmtiles");
        let info =
            ArchiveInfo { min_zoom: 0, max_zoom: 10, bounds: [5.0, 50.0, 6.0, 51.0], center_zoom: 5, metadata: serde_json::json!({}) };
        let mut w = Writer::create(&path, info).unwrap();
        // Tiles that differ, at irregular ids and of irregular sizes: no runs, a directory
        // that does not compress into the first fetch.
        let (mut id, mut r) = (0u64, 12_345u64);
        for i in 0..60_000u64 {
            r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            id += 1 + (r >> 54);
            let raw = vec![(i % 251) as u8; 1 + (r >> 58) as usize];
            w.add_compressed(id, &raw, &raw).unwrap();
        }
        let written = w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(written.bytes as usize, bytes.len());
        assert_eq!(&bytes[..7], b"PMTiles");
        let root_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
        let leaf_len = u64::from_le_bytes(bytes[48..56].try_into().unwrap());
        assert!(HEADER_BYTES + root_len <= FIRST_FETCH && leaf_len > 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
