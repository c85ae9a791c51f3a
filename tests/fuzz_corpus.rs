//! The cargo-fuzz corpus, replayed on stable: every file kept in `fuzz/corpus/<target>/`
//! (seeds, what the fuzzer minimised to, and every input that once crashed) goes through
//! the same checks as the fuzz targets (`tests/fuzz_checks`). A panic or a broken
//! contract on any file fails the test and names the file.
//!
//! To fuzz (needs cargo-fuzz; nightly, or `RUSTC_BOOTSTRAP=1` on stable):
//! `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run csv_points -- -max_total_time=300`.

mod fuzz_checks;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(files.len() >= 5, "fuzz/corpus/{target} has only {} files", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let msg = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            failures.push(format!("{}: {}", file.display(), msg.unwrap_or_default()));
        }
    }
    assert!(failures.is_empty(), "{} of {} corpus files fail:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn csv_points_corpus() {
    replay("csv_points", fuzz_checks::check_csv_points);
}

#[test]
fn statistics_corpus() {
    replay("statistics", fuzz_checks::check_statistics);
}

#[test]
fn query_corpus() {
    replay("query", fuzz_checks::check_query);
}
