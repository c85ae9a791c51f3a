//! The data version: from the inputs' content (what tile URLs and caches key on), and a
//! cheap fingerprint of sizes and mtimes for the file watcher.

use std::path::PathBuf;

use crate::config::{Access, Project};

/// The project's data version: a hash of the project file's text and of the bytes of
/// every input file, with paths as the project names them. It depends on content only, so
/// a fresh checkout, a fresh demo extraction and a replica on another machine get the same
/// version (and the same tile URLs) from the same files.
pub fn data_version(project: &Project) -> (String, u64) {
    use xxhash_rust::xxh3::Xxh3;
    // `public` is the version everyone sees (tile URLs, /health); it leaves out the files
    // of restricted layers, so it reads the same whether such a file exists, changed or
    // is broken. `all` covers every input and keys the tile cache.
    let (mut public, mut all) = (Xxh3::new(), Xxh3::new());
    let feed = |hs: &mut [&mut Xxh3], label: &str, path: &std::path::Path| {
        for h in hs.iter_mut() {
            h.update(label.as_bytes());
            h.update(&[0]);
        }
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    match std::io::Read::read(&mut f, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => hs.iter_mut().for_each(|h| h.update(&buf[..n])),
                        Err(_) => {
                            hs.iter_mut().for_each(|h| h.update(b"unreadable"));
                            break;
                        }
                    }
                }
            }
            Err(_) => hs.iter_mut().for_each(|h| h.update(b"missing")),
        }
    };
    feed(&mut [&mut public, &mut all], "project", &project.file);
    // Also out of the public version: the files of layers published at release points
    // (their releases go into it when the snapshot is built).
    let restricted: std::collections::HashSet<&PathBuf> =
        project.points.iter().filter(|p| p.access == Access::Restricted || project.release_of(p).is_some()).map(|p| &p.path).collect();
    let inputs = project.input_paths();
    let mut seen = std::collections::HashSet::new();
    for rel in inputs {
        if seen.insert(rel.clone()) {
            let path = project.resolve(rel);
            if restricted.contains(rel) {
                feed(&mut [&mut all], &rel.to_string_lossy(), &path);
            } else {
                feed(&mut [&mut public, &mut all], &rel.to_string_lossy(), &path);
            }
        }
    }
    // A database layer: its content version (row count and newest write), asked of the
    // database; a database that cannot be reached reads as such (the build says why).
    for p in project.points.iter().filter(|p| crate::config::is_database_path(&p.path)) {
        let v = database_version(project, p);
        let mut hs: Vec<&mut Xxh3> = if restricted.contains(&p.path) { vec![&mut all] } else { vec![&mut public, &mut all] };
        for h in hs.iter_mut() {
            h.update(p.id.as_bytes());
            h.update(&[0]);
            h.update(v.as_bytes());
        }
    }
    let hash = public.digest() & 0xffff_ffff_ffff;
    (format!("{hash:012x}"), all.digest())
}

/// A cheap fingerprint of the inputs (sizes and modification times, and the month when a
/// layer is published at release points) for the file watcher:
/// when it changes and settles, the server rebuilds and the content decides the version.
pub fn inputs_fingerprint(project: &Project) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // A new month is a new release for layers published at release points: the server
    // rebuilds then, even when no file changed.
    if project.points.iter().any(|p| project.release_of(p).is_some()) {
        let today = super::release::today(project.timezone);
        (today.year, today.month).hash(&mut h);
    }
    let mut paths: Vec<PathBuf> = vec![project.file.clone()];
    paths.extend(project.input_paths().map(|p| project.resolve(p)));
    for p in paths {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(&p) {
            m.len().hash(&mut h);
            if let Ok(t) = m.modified().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).map_err(std::io::Error::other)) {
                t.as_nanos().hash(&mut h);
            }
        }
    }
    // A database changes without a file changing: polled through PostgreSQL's statistics
    // (no scan of the table on every poll; the rebuild then reads its content version).
    for p in project.points.iter().filter(|p| crate::config::is_database_path(&p.path)) {
        let src = super::points::database_source(project, p);
        crate::join::database::change_counter(&src).unwrap_or_else(|e| format!("unavailable: {e}")).hash(&mut h);
    }
    h.finish()
}

/// The content version of a database point layer, or why there is none.
fn database_version(project: &Project, p: &crate::config::PointsConfig) -> String {
    match crate::join::database::content_version(&super::points::database_source(project, p)) {
        Ok(v) => v,
        Err(e) => format!("unavailable: {e}"),
    }
}
