//! The built-in demo project: the files in `data/` are compiled into the binary and
//! written to a cache directory on first use, so `buurtmeter serve` works from anywhere.
//! The data is synthetic (see `src/bin/gen_demo.rs`, which writes it).

use std::path::PathBuf;

/// The demo project could not be written to its cache folder.
#[derive(Debug, thiserror::Error)]
#[error("writing the demo project to {}: {source}", path.display())]
pub struct DemoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// (file name, contents) of every file of the demo project.
pub const FILES: &[(&str, &[u8])] = &[
    ("project.toml", include_bytes!("../../data/project.toml")),
    ("demodorp.gpkg", include_bytes!("../../data/demodorp.gpkg")),
    ("kerncijfers_demodorp.csv", include_bytes!("../../data/kerncijfers_demodorp.csv")),
    ("leegstand_demodorp.csv", include_bytes!("../../data/leegstand_demodorp.csv")),
    ("wateroverlast_demodorp.csv", include_bytes!("../../data/wateroverlast_demodorp.csv")),
];

/// Write the demo files (when missing or changed) and return the project file's path.
pub fn extract() -> Result<PathBuf, DemoError> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    FILES.hash(&mut h);
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("buurtmeter").join(format!("demo-{:08x}", h.finish() as u32));
    std::fs::create_dir_all(&dir).map_err(|source| DemoError { path: dir.clone(), source })?;
    for (name, bytes) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(*bytes) {
            std::fs::write(&path, bytes).map_err(|source| DemoError { path: path.clone(), source })?;
        }
    }
    Ok(dir.join("project.toml"))
}

/// True when `project` is the demo byte for byte (its project file and every input are
/// the embedded files): synthetic data, which may use the demo's public cell-key secret.
pub fn is_demo(project: &crate::config::Project) -> bool {
    let same = |path: &std::path::Path| {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
        FILES.iter().any(|(n, bytes)| *n == name && std::fs::read(path).ok().as_deref() == Some(*bytes))
    };
    let inputs = project.input_paths();
    same(&project.file) && inputs.into_iter().all(|p| same(&project.resolve(p)))
}
