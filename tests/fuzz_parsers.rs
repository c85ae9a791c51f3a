//! Randomised inputs for the parsers we own (CSV points, CBS tables, dates, numbers, query
//! strings): they return a result or a clear error, never panic, and every CSV row is
//! accounted for. Seeded and reproducible on the stable toolchain; the coverage-guided
//! fuzzing is `fuzz/` (cargo fuzz), whose kept corpus `tests/fuzz_corpus.rs` replays.

use std::path::PathBuf;

use buurtmeter::crs;
use buurtmeter::ingest::csv_points::read_bytes;
use buurtmeter::ingest::statistics::{StatSource, read};
use buurtmeter::ingest::text::{parse_date, parse_number};
use buurtmeter::ingest::{Coords, PointSource};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const TOKENS: &[&str] = &[
    "x",
    "y",
    "lon",
    "lat",
    "datum",
    ";",
    ",",
    "\t",
    "\"",
    "\n",
    "\r\n",
    "194000",
    "320000,5",
    "5.94",
    "50.87",
    "NaN",
    "inf",
    "-inf",
    "",
    " ",
    ".",
    "-",
    "x",
    "1e308",
    "1e-320",
    "31-02-2024",
    "2024-07-12",
    "\u{feff}",
    "é",
    "\u{0}",
    "\u{fffd}",
    "999999999999999999999",
    "0x10",
    "--",
    "1.234,5",
    "1,2,3",
    "\"a;b\"",
    "\"\"\"",
];

fn random_text(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    if rng.next() % 3 == 0 {
        s.extend_from_slice(b"x;y;datum;soort\n");
    }
    for _ in 0..n {
        if rng.next() % 17 == 0 {
            s.push((rng.next() % 256) as u8);
        } else {
            s.extend_from_slice(rng.pick(TOKENS).as_bytes());
        }
    }
    s
}

#[test]
fn csv_point_reader_never_panics_and_accounts_for_every_row() {
    let rd = crs::spatial_ref(crs::RD_NEW).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for i in 0..3000 {
        let input = random_text(&mut rng, 1 + (i % 200));
        let coords = match i % 3 {
            0 => Coords::Auto { crs: None },
            1 => Coords::XY { x: "x".into(), y: "y".into(), crs: None },
            _ => Coords::LonLat { lon: "x".into(), lat: "y".into() },
        };
        let source = PointSource {
            path: PathBuf::from(format!("fuzz-{i}.csv")),
            coords,
            date: (i % 2 == 0).then(|| "datum".into()),
            category: (i % 5 == 0).then(|| "soort".into()),
            ..Default::default()
        };
        match read_bytes(&input, &source, &rd, "f") {
            Ok(layer) => {
                ok += 1;
                let a = &layer.accounting;
                assert_eq!(a.rows, layer.len() as u64 + a.rejected_total(), "input {i}: rows not accounted for");
            }
            Err(e) => assert!(e.to_string().contains(&format!("fuzz-{i}.csv")), "input {i}: error without the file name: {e}"),
        }
    }
    assert!(ok > 100, "some inputs parse ({ok})");
}

#[test]
fn statistics_reader_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(42);
    for i in 0..500 {
        let mut input = b"\"Perioden\";\"Regiocode\";\"Aantal inwoners (aantal)\"\n".to_vec();
        input.extend(random_text(&mut rng, 1 + i % 100));
        if i % 7 == 0 {
            input = format!("{{\"value\": [{}]}}", String::from_utf8_lossy(&random_text(&mut rng, 10))).into_bytes();
        }
        let path = dir.path().join(format!("s{i}.csv"));
        std::fs::write(&path, &input).unwrap();
        let _ = read(&StatSource { path, ..Default::default() });
    }
}

#[test]
fn number_and_date_parsers_never_panic() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let s: String = (0..(rng.next() % 12)).map(|_| rng.pick(TOKENS)).collect();
        let _ = parse_number(s.as_bytes());
        let _ = parse_date(&s);
    }
}
