//! German and grid statistics read by the one statistics reader, on the real files in
//! `../shared/data` (SOURCES.md sections 9, 10 and 17), each checked against the file
//! read independently (GDAL's `ogrinfo` on the GeoPackage copies, Python's `csv`); and a
//! statistic its source protected, not protected again.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use buurtmeter::grid::Cell;
use buurtmeter::ingest::statistics::{Layout, StatSource, StatTable, read};

fn table(path: &Path) -> StatTable {
    read(&StatSource { path: path.to_path_buf(), ..Default::default() }).unwrap_or_else(|e| panic!("{e}"))
}

fn column<'a>(t: &'a StatTable, name: &str) -> &'a [Option<f64>] {
    let names: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
    &t.columns.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no column '{name}' in {names:?}")).1
}

fn by_code(t: &StatTable, name: &str) -> BTreeMap<String, Option<f64>> {
    t.codes.iter().cloned().zip(column(t, name).iter().copied()).collect()
}

/// `python3 -c <script> <file>`: the output's lines.
fn python(script: &str, file: &Path) -> Vec<String> {
    let out = Command::new("python3").arg("-c").arg(script).arg(file).output().expect("python3");
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn zensus_2022_export_with_title_lines_and_footer() {
    let Some(path) = common::shared_data("de_zensus2022_gemeinden_1000A/1000A-0000_de.csv") else { return };
    let t = table(&path);
    assert_eq!(t.layout, Layout::DestatisExport);
    assert_eq!(t.codes.len(), 10_787, "10,786 Gemeinden and DG (Deutschland); the footer is no row");
    assert_eq!(t.codes[0], "DG");
    assert!(t.codes[1..].iter().all(|c| c.len() == 12 && c.bytes().all(|b| b.is_ascii_digit())), "ARS kept as written");
    assert_eq!(t.period.as_deref(), Some("2022"), "the Stichtag 15.05.2022 above the value column");
    assert_eq!(t.columns.len(), 1, "only the count: name, variable, unit and quality flag are no values");
    let p = by_code(&t, "Personen");
    for (ars, n) in [
        // SOURCES.md: the StädteRegion Aachen.
        ("053340002002", 261_178.0),
        ("053340004004", 48_421.0),
        ("053340008008", 28_757.0),
        ("053340012012", 57_093.0),
        ("053340016016", 47_832.0),
        ("053340020020", 12_256.0),
        ("053340024024", 8_685.0),
        ("053340028028", 16_393.0),
        ("053340032032", 57_165.0),
        ("053340036036", 39_792.0),
        ("DG", 82_719_540.0),
    ] {
        assert_eq!(p[ars], Some(n), "{ars}");
    }
    assert!(t.withheld.is_empty() && p.values().all(Option::is_some));
    // Independent: Python's csv over the lines from the first region row to the footer.
    let sum = python(
        "import csv,sys\nrows=list(csv.reader(open(sys.argv[1],encoding='utf-8-sig'),delimiter=';'))\n\
         data=[r for r in rows if len(r)>=5 and r[0][:1].isdigit()]\nprint(len(data));print(sum(int(r[4]) for r in data))",
        &path,
    );
    let ours: f64 = p.iter().filter(|(c, _)| *c != "DG").filter_map(|(_, v)| *v).sum();
    assert_eq!(sum, vec![(t.codes.len() - 1).to_string(), format!("{ours}")]);
}

#[test]
fn flat_file_gives_the_same_numbers_as_the_export() {
    let (Some(flat), Some(csv)) = (
        common::shared_data("de_zensus2022_gemeinden_1000A/1000A-0000_de_flat.csv"),
        common::shared_data("de_zensus2022_gemeinden_1000A/1000A-0000_de.csv"),
    ) else {
        return;
    };
    let f = table(&flat);
    assert_eq!(f.layout, Layout::DestatisFlat);
    assert_eq!(f.period.as_deref(), Some("2022"));
    let (a, b) = (by_code(&f, "Personen"), by_code(&table(&csv), "Personen"));
    assert_eq!(a.len(), 10_787);
    assert_eq!(a, b, "every ARS, the same value");
    // Independent: Python's csv on the flat file.
    let aachen = python(
        "import csv,sys\nfor r in csv.DictReader(open(sys.argv[1],encoding='utf-8-sig'),delimiter=';'):\n  \
         if r['1_variable_attribute_code']=='053340002002': print(r['value'])",
        &flat,
    );
    assert_eq!(aachen, vec!["261178"]);
    assert_eq!(a["053340002002"], Some(261_178.0));
}

#[test]
fn zensus_2011_1km_grid_by_centres_with_its_codes() {
    let (Some(path), Some(gpkg)) = (
        common::shared_data("de_zensus2011_grid_1km_aachen/de_zensus2011_1km_spitze_werte_aachen.csv"),
        common::shared_data("de_zensus2011_grid_1km_aachen/de_zensus2011_1km_aachen.gpkg"),
    ) else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.layout, Layout::Grid { size: 1000, zensus2011: true });
    assert_eq!(t.codes.len(), 1364);
    assert!(t.codes.iter().all(|c| Cell::parse(c).is_some_and(|cell| cell.size == 1000 && cell.code() == *c)), "INSPIRE codes");
    assert_eq!(t.columns.len(), 10, "the coordinates are no values");
    let pop = column(&t, "Einwohner");
    assert_eq!(pop.iter().flatten().sum::<f64>(), 760_706.0);
    assert_eq!(pop.iter().filter(|v| v.is_none()).count(), 359, "-1: no count");
    assert!(!t.withheld.contains_key("Einwohner"));
    // The edge cell: Wohnfl_Bew_D withheld (-9), everything else without a value (-1).
    let edge = Cell::from_centre(1000, 4_062_500.0, 3_106_500.0).unwrap().code();
    let i = t.codes.iter().position(|c| *c == edge).unwrap();
    for (name, values) in &t.columns {
        assert_eq!(values[i], None, "{name}");
        assert_eq!(t.withheld.get(name).is_some_and(|w| w.contains(&i)), name == "Wohnfl_Bew_D", "{name}");
    }

    // Independent: GDAL on the GeoPackage copy, every cell and every column.
    let names: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
    let rows = common::ogr_sql(&gpkg, &format!("SELECT x_mp_1km, y_mp_1km, {} FROM cells_1km_3035", names.join(", ")));
    assert_eq!(rows.len(), 1364);
    let at: BTreeMap<&str, usize> = t.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let mut withheld: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        let f = |k: &str| -> f64 { row.iter().find(|(n, _)| n == k).unwrap().1.parse().unwrap() };
        let code = Cell::from_centre(1000, f("x_mp_1km"), f("y_mp_1km")).unwrap().code();
        let i = at[code.as_str()];
        for (name, values) in &t.columns {
            let v = f(name);
            let expected = if v == -1.0 || v == -9.0 { None } else { Some(v) };
            assert_eq!(values[i], expected, "{code} {name}");
            assert_eq!(t.withheld.get(name).is_some_and(|w| w.contains(&i)), v == -9.0, "{code} {name}");
            if v == -9.0 {
                *withheld.entry(name.as_str()).or_default() += 1;
            }
        }
    }
    // SOURCES.md: -9 in Wohnfl_Whg_D 515 cells, Wohnfl_Bew_D 295 + the edge cell.
    assert_eq!((withheld["Wohnfl_Whg_D"], withheld["Wohnfl_Bew_D"]), (515, 296));
    assert!(t.warnings.iter().any(|w| w.contains("'Einwohner' 0 withheld, 359 without a value")), "{:?}", t.warnings);
}

#[test]
fn zensus_2011_100m_long_table_one_column_per_category() {
    let (Some(path), Some(gpkg)) = (
        common::shared_data("de_zensus2011_grid_100m_aachen_wohnungen/de_zensus2011_100m_wohnungen_nutzung_aachen.csv"),
        common::shared_data("de_zensus2011_grid_100m_aachen_wohnungen/de_zensus2011_100m_wohnungen_nutzung_aachen.gpkg"),
    ) else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.layout, Layout::GridLong { size: 100, zensus2011: true });
    assert!(t.codes.iter().all(|c| c.starts_with("CRS3035RES100mN")));
    let vacant = column(&t, "Leer stehend");
    let counted: Vec<f64> = vacant.iter().flatten().copied().collect();
    assert_eq!((counted.len(), counted.iter().sum::<f64>()), (2356, 9114.0));
    assert!(vacant.iter().any(Option::is_none), "a cell listed for another category only is missing, not 0");
    let names: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    // Independent: GDAL on the GeoPackage copy, per category.
    for row in common::ogr_sql(&gpkg, "SELECT Auspraegung_Text AS t, COUNT(*) AS n, SUM(Anzahl) AS s FROM cells_100m_3035 GROUP BY t") {
        let get = |k: &str| row.iter().find(|(n, _)| n == k).unwrap().1.clone();
        let values = column(&t, &get("t"));
        assert_eq!(values.iter().flatten().count().to_string(), get("n"), "{}", get("t"));
        assert_eq!(format!("{}", values.iter().flatten().sum::<f64>()), get("s"), "{}", get("t"));
    }
}

/// The Zensus 2022 grid CSV layout (no real file of it is in the shared data): `;`,
/// decimal commas, `–` for secret, a bracket-flag column.
#[test]
fn zensus_2022_grid_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Zensus2022_Bevoelkerungszahl_100m-Gitter.csv");
    std::fs::write(
        &path,
        "GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner;Durchschnittsalter;Durchschnittsalter_KLAMMERN\n\
         CRS3035RES100mN3112000E4036000;4036050;3112050;12;41,5;\n\
         CRS3035RES100mN3112100E4036000;4036050;3112150;–;–;\n\
         CRS3035RES100mN3112200E4036000;4036050;3112250;7;(38,2);KLAMMERN\n",
    )
    .unwrap();
    let t = read(&StatSource { path, period: Some("2022".into()), ..Default::default() }).unwrap();
    assert_eq!(t.layout, Layout::Grid { size: 100, zensus2011: false });
    assert_eq!(t.codes[1], "CRS3035RES100mN3112100E4036000");
    assert_eq!(column(&t, "Einwohner"), &[Some(12.0), None, Some(7.0)]);
    assert_eq!(column(&t, "Durchschnittsalter"), &[Some(41.5), None, Some(38.2)]);
    assert_eq!(t.withheld["Einwohner"], vec![1]);
    assert_eq!(t.columns.len(), 2, "the bracket flags are no values");
    assert_eq!(t.period.as_deref(), Some("2022"));
}

/// A statistic the project marks as protected by its source is published as read, even
/// where the indicator's own rules would round or suppress it, and `/indicators` says
/// which rule applies to which source; the same figures unmarked get buurtmeter's rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statistic_protected_by_its_source_is_not_protected_again() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let kern = table(&root.join("kerncijfers_demodorp.csv"));
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("code;telling\n");
    for (i, c) in kern.codes.iter().enumerate() {
        csv.push_str(&format!("{c};{}\n", i % 7 + 1));
    }
    std::fs::write(dir.path().join("bron.csv"), &csv).unwrap();
    std::fs::write(dir.path().join("eigen.csv"), csv.replace("telling", "eigen_telling")).unwrap();
    let gpkg = root.join("demodorp.gpkg");
    let levels: String = ["buurten", "wijken", "gemeenten"]
        .iter()
        .map(|l| format!("[[levels]]\nid = \"{l}\"\npath = \"{}\"\nlayer = \"{l}\"\n", gpkg.display()))
        .collect();
    let project = format!(
        "name = \"t\"\n{levels}\n[[statistics]]\npath = \"bron.csv\"\nprotected = \"Zensus 2022: cell-key method (Destatis)\"\n\n\
         [[statistics]]\npath = \"eigen.csv\"\n\n\
         [[indicators]]\nid = \"bron\"\ntitle = \"b\"\nnumerator = {{ statistic = \"telling\" }}\nmin_count = 3\nround_to = 5\n\n\
         [[indicators]]\nid = \"eigen\"\ntitle = \"e\"\nnumerator = {{ statistic = \"eigen_telling\" }}\nmin_count = 3\nround_to = 5\n"
    );
    let toml = dir.path().join("project.toml");
    std::fs::write(&toml, project).unwrap();
    let snap = buurtmeter::snapshot::build(&buurtmeter::config::Project::load(&toml).unwrap()).unwrap();
    let bron = snap.indicators.iter().find(|i| i.def.id == "bron").unwrap();
    let eigen = snap.indicators.iter().find(|i| i.def.id == "eigen").unwrap();
    let buurten = &snap.levels[0];
    let truth: Vec<Option<f64>> =
        buurten.areas.iter().map(|a| kern.codes.iter().position(|c| *c == a.code).map(|i| (i % 7 + 1) as f64)).collect();
    assert!(truth.iter().any(|v| v.is_some_and(|v| v < 3.0)));
    assert_eq!(bron.per_level[0].numerator, truth, "published as the source published it");
    assert_ne!(eigen.per_level[0].numerator, truth, "the same figures unmarked: min_count and round_to apply");
    assert!(eigen.per_level[0].numerator.iter().flatten().all(|v| v % 5.0 == 0.0));
    assert!(snap.warnings.iter().any(|w| w.contains("indicator 'bron': min_count and round_to are not applied")), "{:?}", snap.warnings);

    let state = buurtmeter::api::AppState::new(snap);
    let res = buurtmeter::api::app(state).oneshot(Request::get("/indicators").body(Body::empty()).unwrap()).await.unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let meta = |id: &str| v["indicators"].as_array().unwrap().iter().find(|i| i["id"] == id).unwrap()["disclosure"].clone();
    let d = meta("bron");
    assert_eq!(d["method"], "source", "{d}");
    let sources = d["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3, "every level, the buurten's own and the sums over them: {d}");
    assert_eq!(sources[0]["level"], "buurten");
    assert!(sources[0]["source"].as_str().unwrap().starts_with("bron.csv, column 'telling'"), "{d}");
    assert!(sources.iter().all(|s| s["rule"] == "Zensus 2022: cell-key method (Destatis)"), "{d}");
    let d = meta("eigen");
    assert_eq!((d["min_count"].as_f64(), d["round_to"].as_f64()), (Some(3.0), Some(5.0)), "{d}");
}
