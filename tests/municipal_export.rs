//! A register as a municipality really exports it, made by a generator so the expected
//! accounting is known row by row: `;`, Windows-1252, CRLF, a trailing empty line,
//! decimal commas and thousands separators, Dutch column names with an accent, RD and
//! lat/lon columns filled for different rows, swapped RD and lat/lon pairs, exact
//! duplicates, empty dates, categories in mixed case with trailing blanks, points outside
//! the region and line breaks inside quoted cells. The areas are Heerlen's real buurten;
//! the points sit on each buurt's interior point as GDAL/SpatiaLite computes it.

mod common;

use std::collections::BTreeMap;

use common::*;

struct Buurt {
    code: String,
    x: f64,
    y: f64,
    lon: f64,
    lat: f64,
}

/// `194123.45` → `194.123,45`: how Dutch Excel writes a number.
fn dutch(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut g = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            g.push('.');
        }
        g.push(c);
    }
    if frac.is_empty() { g } else { format!("{g},{frac}") }
}

#[derive(Default)]
struct Expected {
    rows: u64,
    joined_per_buurt: BTreeMap<String, u64>,
    outside: u64,
    rejected: BTreeMap<&'static str, u64>,
    duplicates: u64,
    undated: u64,
    /// Joined points in the "water in kelder" category, per year.
    kelder_per_year: BTreeMap<String, u64>,
}

fn generate(buurten: &[Buurt]) -> (Vec<u8>, Expected) {
    let cats = ["Water in kelder", "water in kelder ", "WATER IN KELDER", "Wateroverlast straat", "Riool verstopt"];
    let mut e = Expected::default();
    let mut lines: Vec<String> =
        vec!["Meldingnummer;Datum melding;Categorie;X-coördinaat;Y-coördinaat;Breedtegraad;Lengtegraad;Omschrijving".into()];
    for i in 0..600usize {
        let b = &buurten[(i * 7) % buurten.len()];
        let cat = cats[i % cats.len()];
        let dated = i % 9 != 4;
        let date = if dated { format!("{:02}-{:02}-{}", 1 + i % 28, 1 + i % 12, 2023 + i % 2) } else { String::new() };
        let text = match i % 6 {
            0 => "\"Melding via app\r\nfoto bijgevoegd\"".to_string(),
            1 => "\"kelder; trap onder water\"".to_string(),
            2 => "café op de hoek".to_string(),
            _ => String::new(),
        };
        let (rd, ll, fate): (String, String, &str) = match i % 20 {
            // RD only (most rows), with thousands separators and decimal commas
            0..=11 => (format!("{};{}", dutch(b.x, 2), dutch(b.y, 2)), ";".into(), "joined"),
            // lon/lat only: reports that came in through an app
            12..=14 => (";".into(), format!("{};{}", dutch(b.lat, 6), dutch(b.lon, 6)), "joined"),
            // both filled: RD is used
            15 => (format!("{};{}", dutch(b.x, 1), dutch(b.y, 1)), format!("{};{}", dutch(b.lat, 6), dutch(b.lon, 6)), "joined"),
            16 => (format!("{};{}", dutch(b.y, 2), dutch(b.x, 2)), ";".into(), "x_y_swapped"),
            17 => (";".into(), format!("{};{}", dutch(b.lon, 6), dutch(b.lat, 6)), "lat_lon_swapped"),
            18 => (";".into(), ";".into(), "missing_coordinate"),
            // in the Netherlands, far from Heerlen: outside the region
            _ => ("121.000,00;487.000,00".into(), ";".into(), "outside"),
        };
        lines.push(format!("M{:05};{date};{cat};{rd};{ll};{text}", i + 1));
        e.rows += 1;
        match fate {
            "joined" => {
                *e.joined_per_buurt.entry(b.code.clone()).or_default() += 1;
                if !dated {
                    e.undated += 1;
                } else if i % cats.len() < 3 {
                    *e.kelder_per_year.entry(format!("{}", 2023 + i % 2)).or_default() += 1;
                }
            }
            "outside" => {
                e.outside += 1;
                e.undated += u64::from(!dated);
            }
            reason => *e.rejected.entry(reason).or_default() += 1,
        }
    }
    // Whole metres with Dutch thousands separators (`191.927`): read as 191927 because
    // only that reading is a place in RD New.
    for k in 0..10usize {
        let b = &buurten[(k * 5) % buurten.len()];
        lines.push(format!("T{k:03};;Riool verstopt;{};{};;;", dutch(b.x.round(), 0), dutch(b.y.round(), 0)));
        e.rows += 1;
        e.undated += 1;
        *e.joined_per_buurt.entry(b.code.clone()).or_default() += 1;
    }
    // Exact copies of five joined rows (a double export): counted as points, and warned.
    for k in [1usize, 2, 3, 5, 7] {
        let row = lines[k].clone();
        let i = k - 1;
        let b = &buurten[(i * 7) % buurten.len()];
        *e.joined_per_buurt.entry(b.code.clone()).or_default() += 1;
        e.undated += u64::from(i % 9 == 4);
        if i % 9 != 4 && i % 5 < 3 {
            *e.kelder_per_year.entry(format!("{}", 2023 + i % 2)).or_default() += 1;
        }
        lines.push(row);
        e.rows += 1;
        e.duplicates += 1;
    }
    let text = lines.join("\r\n") + "\r\n\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!unmappable);
    (bytes.into_owned(), e)
}

#[test]
fn a_messy_municipal_export_loses_no_row_without_saying_so() {
    let Some(gpkg) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else { return };
    let buurten: Vec<Buurt> = ogr_sql(
        &gpkg,
        "SELECT \"CBS-buurtcode\" AS c, ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y, \
         ST_X(ST_Transform(ST_PointOnSurface(geom), 4326)) AS lon, ST_Y(ST_Transform(ST_PointOnSurface(geom), 4326)) AS lat FROM buurten_rd",
    )
    .into_iter()
    .map(|r| {
        let f = |k: &str| r.iter().find(|(n, _)| n == k).unwrap().1.clone();
        Buurt { code: f("c"), x: f("x").parse().unwrap(), y: f("y").parse().unwrap(), lon: f("lon").parse().unwrap(), lat: f("lat").parse().unwrap() }
    })
    .collect();
    assert_eq!(buurten.len(), 57);
    let (bytes, e) = generate(&buurten);
    assert!(bytes.contains(&0xf6), "Windows-1252 ö in the header");

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("meldingen_export.csv");
    std::fs::write(&csv, &bytes).unwrap();
    let project = dir.path().join("meldingen.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "Meldingen (gegenereerd)"
[[levels]]
id = "buurten"
path = "{gpkg}"
layer = "buurten_rd"
id_field = "CBS-buurtcode"

[[points]]
id = "meldingen"
path = "meldingen_export.csv"
date = "Datum melding"
category = "Categorie"

[[indicators]]
id = "kelder"
title = "Water in kelder"
numerator = {{ points = "meldingen", categories = ["water in kelder"] }}
period = "year"

[[indicators]]
id = "straat"
title = "Wateroverlast straat"
numerator = {{ points = "meldingen", categories = ["Wateroverlast straat", "Putdeksel los"] }}
"#,
            gpkg = gpkg.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = buurtmeter(&["compute", "--project", project.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let p = &summary["points"][0];

    // Every row accounted for, exactly as generated.
    assert_eq!(p["rows"], e.rows, "{p}");
    let joined: u64 = e.joined_per_buurt.values().sum();
    assert_eq!(p["joined"], joined, "{p}");
    assert_eq!(p["outside"], e.outside, "{p}");
    for (reason, n) in &e.rejected {
        assert_eq!(p["rejected_by_reason"][reason], *n, "{reason}: {p}");
    }
    assert_eq!(p["rejected"], e.rejected.values().sum::<u64>(), "{p}");
    assert_eq!(p["duplicate_rows"], e.duplicates, "{p}");

    // Which columns were used, and that rows took the pair that was filled in.
    let notes = p["notes"].to_string();
    assert!(notes.contains("X-coördinaat") && notes.contains("Breedtegraad"), "{notes}");
    assert!(err.contains("first of these pairs that is filled in"), "{err}");
    assert!(notes.contains("10 rows have coordinates with '.' as a thousands separator"), "{notes}");

    // Said, not silent: duplicates, undated rows, a filter value that matches nothing,
    // and the categories no indicator takes.
    let warnings = summary["warnings"].to_string();
    assert!(warnings.contains(&format!("{} rows are exact copies", e.duplicates)), "{warnings}");
    assert!(warnings.contains(&format!("{} points have no date", e.undated)), "{warnings}");
    assert!(warnings.contains("'Putdeksel los' does not occur"), "{warnings}");
    assert!(warnings.contains("'Riool verstopt'"), "categories no filter takes: {warnings}");

    // Counts per buurt and the case-insensitive category filter, per year.
    let text = std::fs::read_to_string(out.join("indicators_buurten.csv")).unwrap();
    let mut kelder: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == "kelder" {
            *kelder.entry(f[4].to_string()).or_default() += f[5].parse::<f64>().unwrap() as u64;
        }
    }
    assert_eq!(kelder, e.kelder_per_year, "the three spellings of 'Water in kelder' are one category");

    let counts = buurtmeter(&[
        "count",
        "--areas",
        gpkg.to_str().unwrap(),
        "--areas-layer",
        "buurten_rd",
        "--id-field",
        "CBS-buurtcode",
        "--points",
        csv.to_str().unwrap(),
    ]);
    assert!(counts.status.success(), "{}", stderr(&counts));
    let got = read_counts(&String::from_utf8_lossy(&counts.stdout));
    for (code, n) in &e.joined_per_buurt {
        assert_eq!(got[code].0, *n, "{code}");
    }
    assert_eq!(got.values().map(|v| v.0).sum::<u64>(), joined);
}
