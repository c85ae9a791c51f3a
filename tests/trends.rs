//! Time: per-period statistics and denominators, and trends, checked against the raw CBS
//! file and against pymannkendall (run here, from tests/reference/requirements.txt).

mod common;

use std::collections::BTreeMap;

use buurtmeter::indicators::trend::{Direction, mann_kendall};
use common::{Server, example_copy, run_reference, shared_data};
use serde_json::{Value, json};

/// pymannkendall's original test and Sen's slope on each series (NaN for missing).
const PYMANNKENDALL: &str = r#"
import json, sys, math
import numpy as np
import pymannkendall as mk
out = []
for s in json.load(sys.stdin):
    x = np.array([np.nan if v is None else v for v in s], dtype=float)
    if np.count_nonzero(~np.isnan(x)) < 4:
        out.append(None)
        continue
    r = mk.original_test(x)
    out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in
                {"trend": r.trend, "p": float(r.p), "z": float(r.z), "tau": float(r.Tau), "s": float(r.s),
                 "var_s": float(r.var_s), "slope": float(r.slope), "intercept": float(r.intercept)}.items()})
print(json.dumps(out))
"#;

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: buurtmeter {a} vs pymannkendall {b}");
}

/// Compare buurtmeter's trend of every series with pymannkendall's.
fn compare_with_pymannkendall(series: &[Vec<Option<f64>>]) -> usize {
    let reference = run_reference(PYMANNKENDALL, &json!(series));
    let mut compared = 0;
    for (s, r) in series.iter().zip(reference.as_array().unwrap()) {
        let Some(t) = mann_kendall(s) else { continue };
        compared += 1;
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing in {r} for {s:?}"));
        close(t.s, f("s"), "S");
        close(t.var_s, f("var_s"), "Var(S)");
        close(t.z, f("z"), "z");
        close(t.p, f("p"), "p");
        close(t.tau, f("tau"), "tau");
        close(t.slope, f("slope"), "Sen's slope");
        close(t.intercept, f("intercept"), "intercept");
        let expected = match r["trend"].as_str().unwrap() {
            "increasing" => Direction::Rising,
            "decreasing" => Direction::Falling,
            _ => Direction::NoTrend,
        };
        assert_eq!(t.direction, expected, "{s:?}");
    }
    compared
}

#[test]
fn mann_kendall_and_sens_slope_equal_pymannkendall() {
    // Deterministic pseudo-random series: trends, noise, ties (rounded values) and gaps.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut series = Vec::new();
    for i in 0..300 {
        let n = 4 + i % 37;
        let slope = (next() - 0.5) * 2.0;
        let ties = i % 3 == 0;
        let s: Vec<Option<f64>> = (0..n)
            .map(|t| {
                let v = 50.0 + slope * t as f64 + (next() - 0.5) * 20.0;
                let v = if ties { v.round() } else { v };
                (next() > 0.15 || i % 4 != 0).then_some(v)
            })
            .collect();
        series.push(s);
    }
    series.push(vec![Some(3.0); 8]);
    let compared = compare_with_pymannkendall(&series);
    assert!(compared > 280, "only {compared} series had a trend");
}

/// The CBS benefits export as a quarterly series on the real Heerlen example: every value
/// of every buurt and wijk equals the raw file's figures, each quarter's denominator is
/// that quarter's, and the served trends equal pymannkendall on the served series.
#[test]
fn heerlen_quarterly_benefits_equal_the_raw_file_and_their_trends_pymannkendall() {
    let Some(raw) = shared_data("heerlen_cbs_uitkeringen_2013_2024/heerlen_uitkeringen_wijk_buurt_2013_2024.csv") else { return };
    // The example is quarterly (period = "quarter" on its benefit indicators).
    let (_dir, project) = example_copy("heerlen", |t| t);
    // (code, CBS period) -> (Bijstandsuitkering_6, InwonersVanaf15Jaar_13), from the file itself.
    let mut reader = csv::Reader::from_path(&raw).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (ci, pi, ni, di) = (col("WijkenEnBuurten"), col("Perioden"), col("Bijstandsuitkering_6"), col("InwonersVanaf15Jaar_13"));
    let mut file: BTreeMap<(String, String), (Option<f64>, Option<f64>)> = BTreeMap::new();
    for r in reader.records() {
        let r = r.unwrap();
        let num = |i: usize| r[i].trim().parse::<f64>().ok();
        file.insert((r[ci].trim().to_string(), r[pi].to_string()), (num(ni), num(di)));
    }
    let server = Server::start(&["--project", project.to_str().unwrap()]);
    for (level, expected_areas) in [("buurten", 57), ("wijken", 23)] {
        let (status, body) = server.get(&format!("/indicators/bijstand_per_1000/trends?level={level}"));
        assert_eq!(status, 200, "{body}");
        let trends: Value = serde_json::from_str(&body).unwrap();
        let periods: Vec<String> = serde_json::from_value(trends["periods"].clone()).unwrap();
        assert_eq!((periods.first().unwrap().as_str(), periods.last().unwrap().as_str(), periods.len()), ("2013-Q1", "2024-Q1", 45));
        let areas = trends["trends"].as_array().unwrap();
        assert_eq!(areas.len(), expected_areas);
        let mut served = Vec::new();
        for t in areas {
            let code = t["code"].as_str().unwrap();
            let (status, body) = server.get(&format!("/indicators/bijstand_per_1000?level={level}&area={code}"));
            assert_eq!(status, 200, "{body}");
            let ts: Value = serde_json::from_str(&body).unwrap();
            let mut values = Vec::new();
            for (p, cell) in ts["series"].as_array().unwrap().iter().enumerate() {
                // 2013-Q1 is CBS's 2013MM03 (the count at the end of the quarter's last month).
                let (year, q) = (2013 + p / 4, p % 4 + 1);
                let cbs = format!("{year}MM{:02}", q * 3);
                let (n, d) = file.get(&(code.to_string(), cbs.clone())).copied().unwrap_or((None, None));
                assert_eq!(cell["numerator"].as_f64(), n, "{code} {cbs} numerator");
                assert_eq!(cell["denominator"].as_f64(), d, "{code} {cbs} denominator");
                assert_eq!(cell["denominator_period"].as_str(), d.map(|_| cbs.as_str()), "{code} {cbs}");
                let expected = match (n, d) {
                    (Some(n), Some(d)) if d >= 50.0 => Some(n / d * 1000.0),
                    _ => None,
                };
                match (cell["value"].as_f64(), expected) {
                    (Some(v), Some(e)) => assert!((v - e).abs() < 1e-9, "{code} {cbs}: {v} vs {e}"),
                    (v, e) => assert_eq!(v, e, "{code} {cbs} value"),
                }
                values.push(cell["value"].as_f64());
            }
            assert_eq!(ts["trend"]["status"], t["status"]);
            served.push((t.clone(), values));
        }
        let series: Vec<Vec<Option<f64>>> = served.iter().map(|(_, v)| v.clone()).collect();
        let reference = run_reference(PYMANNKENDALL, &json!(series));
        let mut with_trend = 0;
        for ((t, s), r) in served.iter().zip(reference.as_array().unwrap()) {
            if s.iter().flatten().count() < 4 {
                assert_eq!(t["status"], "insufficient", "{t}");
                continue;
            }
            with_trend += 1;
            for k in ["s", "var_s", "z", "p", "slope", "intercept"] {
                close(t[k].as_f64().unwrap(), r[k].as_f64().unwrap(), &format!("{} {k}", t["code"]));
            }
            let dir = match r["trend"].as_str().unwrap() {
                "increasing" => "rising",
                "decreasing" => "falling",
                _ => "no_trend",
            };
            assert_eq!(t["direction"], dir, "{}", t["code"]);
        }
        assert!(with_trend >= expected_areas - 3, "{level}: {with_trend} areas with a trend");
    }
}

/// Points over three years and two editions of the statistics: each year's rate uses its
/// own year's housing stock, a year without an edition the nearest earlier one, and the
/// year before the first edition the first one, each named in denominator_period.
#[test]
fn each_year_divides_by_its_own_edition_of_the_statistics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let dir = tempfile::tempdir().unwrap();
    // A 2023 edition of the demo's Kerncijfers (2025): the housing stock 10 % lower.
    let stats = std::fs::read_to_string(root.join("kerncijfers_demodorp.csv")).unwrap();
    let mut older = String::new();
    for (i, line) in stats.lines().enumerate() {
        if i == 0 {
            older.push_str(line);
        } else {
            let mut f: Vec<String> = line.split(';').map(String::from).collect();
            f[0] = "\"2023\"".into();
            // '.' (missing) stays missing
            if let Ok(stock) = f[5].trim_matches('"').trim().parse::<f64>() {
                f[5] = format!("\"{}\"", (stock * 0.9).round());
            }
            older.push_str(&f.join(";"));
        }
        older.push('\n');
    }
    std::fs::write(dir.path().join("kerncijfers_2023.csv"), older).unwrap();
    let project = std::fs::read_to_string(root.join("project.toml"))
        .unwrap()
        .replace("path = \"", &format!("path = \"{}/", root.display()))
        // from 2022: a year before the first edition
        .replacen("period = \"year\"\n", "period = \"year\"\nfrom = \"2022-01-01\"\n", 1)
        .replace(
            "[[statistics]]\n",
            &format!("[[statistics]]\npath = \"{}/kerncijfers_2023.csv\"\n\n[[statistics]]\n", dir.path().display()),
        );
    let file = dir.path().join("project.toml");
    std::fs::write(&file, project).unwrap();
    let stock = |edition: &str| -> BTreeMap<String, Option<f64>> {
        let text =
            if edition == "2023" { std::fs::read_to_string(dir.path().join("kerncijfers_2023.csv")).unwrap() } else { stats.clone() };
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(';').map(|x| x.trim_matches('"').trim()).collect();
                (f[2].to_string(), f[5].parse().ok())
            })
            .collect()
    };
    let (s2023, s2025) = (stock("2023"), stock("2025"));
    let server = Server::start(&["--project", file.to_str().unwrap()]);
    let (status, body) = server.get("/indicators/leegstand_woningen_pct?level=wijken&area=WK999900");
    assert_eq!(status, 200, "{body}");
    let ts: Value = serde_json::from_str(&body).unwrap();
    let series = ts["series"].as_array().unwrap();
    let periods: Vec<&str> = series.iter().map(|c| c["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2022", "2023", "2024", "2025"], "{body}");
    for cell in series {
        let year = cell["period"].as_str().unwrap();
        // 2022: before the first edition, so the first (2023); 2024: nearest earlier (2023).
        let edition = if year == "2025" { "2025" } else { "2023" };
        assert_eq!(cell["denominator_period"], edition, "{year}");
        let d = if edition == "2023" { s2023["WK999900"] } else { s2025["WK999900"] }.expect("WK999900 has a housing stock");
        assert_eq!(cell["denominator"].as_f64(), Some(d), "{year}");
        let n = cell["numerator"].as_f64().unwrap();
        let v = cell["value"].as_f64().unwrap();
        assert!((v - n / d * 100.0).abs() < 1e-9, "{year}: {v} vs {n} / {d} × 100");
    }
    // The current values (the map, the area layers) are the latest edition's.
    let (_, body) = server.get("/indicators/leegstand_woningen_pct?level=wijken&period=2025");
    let v: Value = serde_json::from_str(&body).unwrap();
    let row = v["values"].as_array().unwrap().iter().find(|r| r["code"] == "WK999900").unwrap();
    assert_eq!(row["denominator"].as_f64(), s2025["WK999900"]);
    assert_eq!(v["denominator_period"], "2025");
}

/// The Kerncijfers of 2016–2020 name their regions (`Wijk_Buurt`) instead of coding them:
/// matched to the codes of the real Heerlen buurten, wijken and gemeente, every value
/// equals the file's figure for the area of that name (looked up here by exact name
/// through GDAL's SQL on the buurten file), and the one name without an area (Beitel,
/// not a buurt of 2023) is reported with its file and row.
#[test]
fn heerlen_kerncijfers_by_name_are_matched_to_codes() {
    let Some(buurten) = shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg") else { return };
    let Some(dir) = shared_data("heerlen_kwb_2016_2020") else { return };
    // The example reads the five files by name (period = "2016" … "2020") and has the
    // yearly indicator onbewoond_pct.
    let (tmp, project) = example_copy("heerlen", |t| t);
    let out = tmp.path().join("out");
    let run = common::buurtmeter(&["compute", "--project", project.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let log = common::stderr(&run);
    assert!(run.status.success(), "{log}");
    for y in 2016..=2020 {
        assert!(log.contains(&format!("heerlen_kwb_{y}.csv: the regions are named, not coded; 80 of 81 names matched")), "{y}: {log}");
        assert!(
            log.contains(&format!("heerlen_kwb_{y}.csv: the regions are named"))
                && log.contains("row 81 'Beitel': no buurt of wijk WK0917"),
            "{log}"
        );
    }
    let names: BTreeMap<String, String> = common::ogr_sql(&buurten, "select \"CBS-buurtcode\" as c, buurtnaam as n from buurten_rd")
        .into_iter()
        .map(|f| {
            let get = |k: &str| f.iter().find(|(n, _)| n == k).unwrap().1.clone();
            (get("c"), get("n"))
        })
        .collect();
    assert_eq!(names.len(), 57);
    let served = std::fs::read_to_string(out.join("indicators_buurten.csv")).unwrap();
    let mut checked = 0;
    for y in 2016..=2020 {
        let mut reader = csv::Reader::from_path(dir.join(format!("heerlen_kwb_{y}.csv"))).unwrap();
        let header = reader.headers().unwrap().clone();
        let col = header.iter().position(|h| h == "Wonen_Woningen_naar_bewoning_Percentage_onbewoond").unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        for (code, name) in &names {
            let hits: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == name).collect();
            let expected = match hits.as_slice() {
                [r] => r[col].parse::<f64>().ok(),
                _ => None,
            };
            // A year whose file publishes the figure nowhere (2020, a first release) is no
            // period of the indicator.
            let published = rows.iter().any(|r| r[col].parse::<f64>().is_ok());
            let line = served
                .lines()
                .find(|l| l.starts_with(&format!("onbewoond_pct,buurten,{code},")) && l.split(',').nth(4) == Some(&y.to_string()));
            assert_eq!(line.is_some(), published, "{code} {y}");
            let value = line.and_then(|l| l.split(',').nth(8).unwrap().parse::<f64>().ok());
            assert_eq!(value, expected, "{code} '{name}' {y}");
            checked += expected.is_some() as usize;
        }
    }
    assert!(checked > 200, "only {checked} values to compare");
}

/// An attacker's view of the trends of a protected layer (the demo's flood reports,
/// cell-key method, per month): every figure the trends endpoint gives is a function of
/// the published series the values endpoint gives, recomputed here from those alone, so
/// the trends add nothing that disclosure control withheld; withheld cells are gaps.
#[test]
fn trends_of_a_protected_layer_follow_from_the_published_values_alone() {
    let server = Server::start(&["--project", common::demo_project().to_str().unwrap()]);
    let mut gaps = 0;
    let mut with_trend = 0;
    for level in ["buurten", "wijken", "gemeenten"] {
        let (status, body) = server.get(&format!("/indicators/water_in_huis_per_maand/trends?level={level}&back=12"));
        assert_eq!(status, 200, "{body}");
        let trends: Value = serde_json::from_str(&body).unwrap();
        for t in trends["trends"].as_array().unwrap() {
            let code = t["code"].as_str().unwrap();
            let (_, body) = server.get(&format!("/indicators/water_in_huis_per_maand?level={level}&area={code}"));
            let ts: Value = serde_json::from_str(&body).unwrap();
            let cells = ts["series"].as_array().unwrap();
            let published: Vec<Option<f64>> = cells.iter().map(|c| c["value"].as_f64()).collect();
            for c in cells {
                if c["suppressed"] == "protected" {
                    assert!(c["value"].is_null() && c["numerator"].is_null(), "{code}: a withheld cell shows a value");
                    gaps += 1;
                }
            }
            assert_eq!(t["values"].as_u64(), Some(published.iter().flatten().count() as u64), "{code}");
            match mann_kendall(&published) {
                Some(m) => {
                    with_trend += 1;
                    assert_eq!(t["status"], "ok", "{code}");
                    // (to the last bits: JSON numbers are parsed back to within an ulp)
                    for (k, x) in [("s", m.s), ("z", m.z), ("p", m.p), ("slope", m.slope), ("intercept", m.intercept)] {
                        let served = t[k].as_f64().unwrap();
                        assert!((served - x).abs() <= 1e-12 * x.abs().max(1e-300), "{code} {k}: {served} vs {x}");
                    }
                }
                None => assert_ne!(t["status"], "ok", "{code}"),
            }
            let change = buurtmeter::indicators::trend::change(&published, 12).map(|(_, d)| d);
            match (t["change_back"]["change"].as_f64(), change) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{code}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{code}"),
            }
        }
    }
    // The cell-key method perturbs rather than withholds, so the demo's monthly series may
    // have no gap at all; what matters is that every trend was checked.
    eprintln!("{with_trend} trends recomputed from published values; {gaps} withheld cells were gaps");
    assert!(with_trend > 50, "only {with_trend} trends to check");
}
