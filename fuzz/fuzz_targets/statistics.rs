//! cargo fuzz target: the contract is in tests/fuzz_checks/mod.rs, shared with the
//! corpus replay test (tests/fuzz_corpus.rs).
#![no_main]

#[path = "../../tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_statistics(data));
