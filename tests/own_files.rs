//! The files a colleague sends, as they are: an Excel register with a title above the
//! header, Excel and text dates, a totals row and a sheet with one coordinate column; a
//! Windows-1252 Shapefile without `.cpg`; an app's GeoJSON with UTC timestamps around New
//! Year; a register whose weights and dates are partly unreadable. Every row is joined,
//! outside or rejected with a reason, and the counts per buurt equal GDAL's own
//! `ST_Contains` (SpatiaLite) on the real Heerlen buurten.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use buurtmeter::ingest::{self, Coords, PointSource};
use buurtmeter::model::{FieldIssue, RejectReason};
use common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

fn heerlen() -> Option<PathBuf> {
    shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg")
}

fn run(program: &str, args: &[&str]) -> String {
    let o = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(o.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Points spread over Heerlen's envelope (some fall outside its buurten), the same every run.
fn points(n: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| (((190_800.0 + next() * 9_200.0) * 10.0).round() / 10.0, (314_500.0 + next() * 13_000.0).round())).collect()
}

/// GDAL's answer (SpatiaLite `ST_Contains` on the real buurten): points per buurt code.
fn truth(dir: &Path, buurten: &Path, pts: &[(f64, f64)]) -> BTreeMap<String, u64> {
    let csv = dir.join("truth.csv");
    let mut text = String::from("id,x,y\n");
    for (i, (x, y)) in pts.iter().enumerate() {
        text.push_str(&format!("{i},{x},{y}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let gpkg = dir.join("truth.gpkg");
    let _ = std::fs::remove_file(&gpkg);
    let (c, g, b) = (csv.to_str().unwrap(), gpkg.to_str().unwrap(), buurten.to_str().unwrap());
    run("ogr2ogr", &["-f", "GPKG", g, c, "-nln", "pts", "-oo", "X_POSSIBLE_NAMES=x", "-oo", "Y_POSSIBLE_NAMES=y", "-a_srs", "EPSG:28992"]);
    run("ogr2ogr", &["-update", "-append", g, b, "buurten_rd", "-nln", "buurten"]);
    ogr_sql(
        &gpkg,
        "SELECT b.\"CBS-buurtcode\" AS code, count(*) AS n FROM pts p JOIN buurten b ON ST_Contains(b.geom, p.geom) GROUP BY b.\"CBS-buurtcode\"",
    )
    .into_iter()
    .map(|row| {
        let get = |k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap();
        (get("code"), get("n").parse().unwrap())
    })
    .collect()
}

/// `buurtmeter count` on the Heerlen buurten: the counts of buurten with points, the summary.
fn count(dir: &Path, buurten: &Path, points: &Path, extra: &[&str]) -> (BTreeMap<String, u64>, serde_json::Value, String) {
    let out = dir.join("counts.csv");
    let summary = dir.join("summary.json");
    let mut args = vec![
        "count",
        "--areas",
        buurten.to_str().unwrap(),
        "--areas-layer",
        "buurten_rd",
        "--points",
        points.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = buurtmeter(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let counts =
        read_counts(&std::fs::read_to_string(&out).unwrap()).into_iter().filter(|(_, (n, _))| *n > 0).map(|(k, (n, _))| (k, n)).collect();
    (counts, serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap(), stderr(&o))
}

fn hand_back(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records().map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect()).collect()
}

#[test]
fn excel_register_with_a_title_dates_a_totals_row_and_a_coordinate_sheet() {
    let Some(buurten) = heerlen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let book_path = dir.path().join("leegstandsregister.xlsx");

    // Sheet 1: a title, an empty line, the header on row 3, an empty row among the data,
    // an unreadable x, an unreadable weight, and a totals row with a formula.
    let pts = points(30, 7);
    let mut book = Workbook::new();
    let date_format = Format::new().set_num_format("dd-mm-yyyy");
    let sheet = book.add_worksheet().set_name("Leegstand").unwrap();
    sheet.write_string(0, 0, "Leegstandsregister gemeente Heerlen, peildatum 1 januari 2024").unwrap();
    for (c, h) in ["Adres", "RD X", "RD Y", "Datum melding", "Soort", "Oppervlakte (m²)"].iter().enumerate() {
        sheet.write_string(2, c as u16, *h).unwrap();
    }
    let mut row: u32 = 3;
    let (mut unreadable_weight_row, mut sheet_rows) = (0, Vec::new());
    for (i, (x, y)) in pts.iter().enumerate() {
        if i == 10 {
            row += 1; // an empty row
        }
        sheet.write_string(row, 0, format!("Dorpstraat {i}")).unwrap();
        if i % 3 == 0 {
            // as text, with a decimal comma, as typed by hand
            sheet.write_string(row, 1, format!("{x:.1}").replace('.', ",")).unwrap();
        } else {
            sheet.write_number(row, 1, *x).unwrap();
        }
        sheet.write_number(row, 2, *y).unwrap();
        let month = (i % 12 + 1) as u8;
        if i % 2 == 0 {
            sheet.write_datetime_with_format(row, 3, ExcelDateTime::from_ymd(2023, month, 15).unwrap(), &date_format).unwrap();
        } else {
            sheet.write_string(row, 3, format!("15-{month:02}-2023")).unwrap();
        }
        sheet.write_string(row, 4, ["Woning", "Winkel", "Kantoor"][i % 3]).unwrap();
        if i == 7 {
            sheet.write_string(row, 5, "n.b.").unwrap();
            unreadable_weight_row = row + 1;
        } else {
            sheet.write_number(row, 5, 50.0 + i as f64).unwrap();
        }
        sheet_rows.push(u64::from(row) + 1);
        row += 1;
    }
    sheet.write_string(row, 0, "Dorpstraat onbekend").unwrap();
    sheet.write_string(row, 1, "onbekend").unwrap();
    sheet.write_number(row, 2, 320_000.0).unwrap();
    let rejected_row = row + 1;
    row += 1;
    sheet.write_string(row, 0, "Totaal").unwrap();
    sheet.write_formula(row, 5, Formula::new(format!("=SUM(F4:F{row})")).set_result("1234")).unwrap();

    // Sheet 2: one column with the location as text, in four spellings, and one that is none.
    let coord_pts = points(12, 11);
    let wgs: Vec<(f64, f64)> = {
        let mut child = Command::new("gdaltransform")
            .args(["-s_srs", "EPSG:28992", "-t_srs", "EPSG:4326", "-output_xy"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let input: String = coord_pts.iter().map(|(x, y)| format!("{x} {y}\n")).collect();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                (v[0], v[1])
            })
            .collect()
    };
    let sheet2 = book.add_worksheet().set_name("Coördinaten").unwrap();
    for (c, h) in ["Nr", "Coördinaten", "Soort"].iter().enumerate() {
        sheet2.write_string(0, c as u16, *h).unwrap();
    }
    for (i, (x, y)) in coord_pts.iter().enumerate() {
        let text = match i % 5 {
            0 => format!("{x:.1} {y:.1}").replace('.', ","),
            1 => format!("POINT({x} {y})"),
            2 => format!("SRID=28992;POINT ({x} {y})"),
            3 => format!("{x};{y}"),
            _ => format!("SRID=4326;POINT({:.9} {:.9})", wgs[i].0, wgs[i].1),
        };
        sheet2.write_number(i as u32 + 1, 0, i as f64 + 1.0).unwrap();
        sheet2.write_string(i as u32 + 1, 1, text).unwrap();
        sheet2.write_string(i as u32 + 1, 2, "Wateroverlast").unwrap();
    }
    sheet2.write_number(13, 0, 13.0).unwrap();
    sheet2.write_string(13, 1, "ergens bij het station").unwrap();
    book.save(&book_path).unwrap();

    // Two sheets with data: the sheet must be named, and the message lists them.
    let o = buurtmeter(&[
        "count",
        "--areas",
        buurten.to_str().unwrap(),
        "--areas-layer",
        "buurten_rd",
        "--points",
        book_path.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("2 sheets have data") && stderr(&o).contains("Coördinaten"), "{}", stderr(&o));

    // Sheet 1, with no column flags at all.
    let rejected = dir.path().join("terug.csv");
    let (ours, s, err) = count(
        dir.path(),
        &buurten,
        &book_path,
        &["--points-layer", "Leegstand", "--weight", "Oppervlakte (m²)", "--rejected", rejected.to_str().unwrap()],
    );
    let expected = truth(dir.path(), &buurten, &pts);
    assert_eq!(ours, expected, "points per buurt against GDAL's ST_Contains\n{err}");
    let joined: u64 = expected.values().sum();
    assert!((5..30).contains(&joined), "some points fall outside Heerlen's buurten: {joined}");
    assert_eq!(s["rows"], 31, "30 registrations and the row with x 'onbekend'; {s}");
    assert_eq!(s["joined"], joined);
    assert_eq!(s["outside"], 30 - joined);
    assert_eq!(s["rejected"], 1);
    assert_eq!(s["rejected_by_reason"]["coordinate_not_a_number"], 1);
    assert_eq!(s["not_records"], 2, "the empty row and the totals row are no records: {s}");
    assert_eq!(s["partly_used_by_reason"]["weight_not_a_number"], 1);
    let notes = s["notes"].to_string();
    assert!(notes.contains("column names on row 3"), "{notes}");
    assert!(notes.contains("'RD X' and 'RD Y'"), "{notes}");
    assert!(notes.contains("1 totals") && notes.contains("1 empty"), "{notes}");
    // The file to hand back: the rejected row and the partly used one, with the sheet's row
    // numbers and the original fields.
    let back = hand_back(&rejected);
    assert_eq!(back.len(), 2, "{back:?}");
    assert_eq!(back[0]["row"], unreadable_weight_row.to_string());
    assert_eq!((back[0]["status"].as_str(), back[0]["reason"].as_str()), ("partly used", "weight_not_a_number"));
    assert_eq!(back[0]["Oppervlakte (m²)"], "n.b.");
    assert_eq!(back[1]["row"], rejected_row.to_string());
    assert_eq!((back[1]["status"].as_str(), back[1]["reason"].as_str()), ("rejected", "coordinate_not_a_number"));
    assert_eq!(back[1]["Adres"], "Dorpstraat onbekend");
    assert!(back[1]["explanation"].contains("not a number"));
    assert!(sheet_rows.iter().all(|&r| r != u64::from(rejected_row)));

    // Excel dates and text dates read alike.
    let source = PointSource {
        path: book_path.clone(),
        layer: Some("leegstand".into()),
        date: Some("Datum melding".into()),
        category: Some("Soort".into()),
        ..Default::default()
    };
    let rd = buurtmeter::crs::spatial_ref(buurtmeter::crs::RD_NEW).unwrap();
    let layer = ingest::read_points(&source, &rd, "leegstand").unwrap();
    let dates = layer.dates.as_ref().unwrap();
    for (k, d) in dates.iter().enumerate() {
        let d = d.unwrap_or_else(|| panic!("point {k} has no date"));
        assert_eq!((d.year, d.month, d.day), (2023, (k % 12 + 1) as u8, 15), "point {k}");
    }
    assert_eq!(layer.categories, ["Woning", "Winkel", "Kantoor"]);
    assert_eq!(layer.rows, sheet_rows, "row numbers are the sheet's own");

    // Sheet 2: the coordinate column found by its name.
    let (ours, s, err) = count(dir.path(), &buurten, &book_path, &["--points-layer", "Coördinaten"]);
    assert_eq!(ours, truth(dir.path(), &buurten, &coord_pts), "{err}");
    assert_eq!(s["rows"], 13);
    assert_eq!(s["rejected_by_reason"]["geometry_text_not_readable"], 1, "{s}");
    assert!(s["notes"].to_string().contains("the text of 'Coördinaten'"), "{s}");
}

#[test]
fn a_windows_1252_shapefile_without_cpg_keeps_its_accents_and_names_its_null_geometries() {
    let Some(buurten) = heerlen() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pts = points(26, 3);
    let kinds = ["Riool – verstopt", "Wateroverlast in kelder", "Straatkolk verstopt", "Gevaarlijke situatie (ijzel)"];
    let mut csv = String::from("WKT,meldingsoort,omschrijving\n");
    for (i, (x, y)) in pts.iter().enumerate() {
        let wkt = if i % 9 == 4 { String::new() } else { format!("POINT ({x} {y})") };
        csv.push_str(&format!("\"{wkt}\",{},\"Melding café nr. {i}\"\n", kinds[i % 4]));
    }
    let src = dir.path().join("meldingen.csv");
    std::fs::write(&src, csv).unwrap();
    let shp = dir.path().join("meldingen.shp");
    run(
        "ogr2ogr",
        &["-f", "ESRI Shapefile", shp.to_str().unwrap(), src.to_str().unwrap(), "-a_srs", "EPSG:28992", "-lco", "ENCODING=CP1252"],
    );
    // As an old desktop GIS leaves it: no .cpg, no code page in the .dbf.
    let _ = std::fs::remove_file(dir.path().join("meldingen.cpg"));
    let dbf = dir.path().join("meldingen.dbf");
    let mut bytes = std::fs::read(&dbf).unwrap();
    bytes[29] = 0;
    assert!(std::str::from_utf8(&bytes).is_err(), "the .dbf holds Windows-1252 bytes");
    std::fs::write(&dbf, bytes).unwrap();

    let source = PointSource { path: shp.clone(), category: Some("meldingsoo".into()), ..Default::default() };
    let rd = buurtmeter::crs::spatial_ref(buurtmeter::crs::RD_NEW).unwrap();
    let layer = ingest::read_points(&source, &rd, "meldingen").unwrap();
    let mut cats = layer.categories.clone();
    cats.sort();
    let mut want: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(cats, want, "every category decoded as Windows-1252, none lost to a replacement character");
    let nulls = pts.iter().enumerate().filter(|(i, _)| i % 9 == 4).count() as u64;
    assert_eq!(layer.accounting.rejected.get(&RejectReason::NoGeometry), Some(&nulls));
    assert!(layer.accounting.notes.iter().any(|n| n.contains("Windows-1252")), "{:?}", layer.accounting.notes);

    // Counted against GDAL's own answer.
    let kept: Vec<(f64, f64)> = pts.iter().enumerate().filter(|(i, _)| i % 9 != 4).map(|(_, p)| *p).collect();
    let (ours, s, _) = count(dir.path(), &buurten, &shp, &[]);
    assert_eq!(ours, truth(dir.path(), &buurten, &kept));
    assert_eq!(s["rejected_by_reason"]["no_geometry"], nulls);

    // A setting that cannot apply to a format is an error, not ignored.
    let gj = dir.path().join("m.geojson");
    run("ogr2ogr", &["-f", "GeoJSON", gj.to_str().unwrap(), shp.to_str().unwrap()]);
    let bad = PointSource { path: gj, encoding: Some(ingest::Encoding::Windows1252), ..Default::default() };
    let e = ingest::read_points(&bad, &rd, "m").unwrap_err().to_string();
    assert!(e.contains("`encoding` is for CSV files and Shapefiles"), "{e}");
}

#[test]
fn utc_timestamps_around_new_year_are_dated_in_amsterdam_and_copies_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let feature = |lon: f64, lat: f64, when: &str, nr: u32| {
        format!(
            r#"{{"type":"Feature","properties":{{"nr":{nr},"gemeld":"{when}"}},"geometry":{{"type":"Point","coordinates":[{lon},{lat}]}}}}"#
        )
    };
    let features = [
        feature(5.98, 50.88, "2023-12-31T23:20:00Z", 1),      // 00:20 on 1 January in Heerlen
        feature(5.98, 50.88, "2023-12-31T22:50:00Z", 2),      // 23:50 on 31 December
        feature(5.97, 50.89, "2024-01-01T00:20:00+01:00", 3), // local time with its offset
        feature(5.97, 50.89, "2024-06-30T22:30:00Z", 4),      // summer time: 1 July
        feature(5.96, 50.87, "onbekend", 5),                  // kept, named, undated
        feature(5.96, 50.87, "2024-03-01T12:00:00", 6),       // no zone: local
        feature(5.96, 50.87, "2024-03-01T12:00:00", 6),       // an exact copy
    ];
    let path = dir.path().join("app.geojson");
    std::fs::write(&path, format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))).unwrap();
    let source = PointSource {
        path,
        coords: Coords::Auto { crs: None },
        date: Some("gemeld".into()),
        id_column: Some("nr".into()),
        hand_back: true,
        ..Default::default()
    };
    let rd = buurtmeter::crs::spatial_ref(buurtmeter::crs::RD_NEW).unwrap();
    let layer = ingest::read_points(&source, &rd, "app").unwrap();
    let dates: Vec<Option<String>> = layer.dates.as_ref().unwrap().iter().map(|d| d.map(|d| d.to_string())).collect();
    let want = ["2024-01-01", "2023-12-31", "2024-01-01", "2024-07-01", "", "2024-03-01", "2024-03-01"];
    assert_eq!(dates, want.iter().map(|d| (!d.is_empty()).then(|| d.to_string())).collect::<Vec<_>>());
    let a = &layer.accounting;
    assert_eq!(a.rows, 7);
    assert_eq!(a.rejected_total(), 0);
    assert_eq!(a.field_issues.get(&FieldIssue::DateNotReadable), Some(&1));
    assert_eq!(a.duplicate_rows, 1, "{:?}", a.warnings);
    assert!(a.warnings.iter().any(|w| w.contains("row 7 = row 6")), "{:?}", a.warnings);
    assert!(a.warnings.iter().any(|w| w.contains("1 rows repeat the nr of an earlier row (row 7 = row 6 ('6'))")), "{:?}", a.warnings);

    // The hand-back file as a GeoPackage: the partly used row with its own point, which
    // GDAL reads back in the input's CRS.
    let back = dir.path().join("terug.gpkg");
    buurtmeter::export::write_hand_back(&back, a.handback.as_ref().unwrap()).unwrap();
    let rows = ogr_sql(&back, "SELECT row, reason, gemeld, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM rejected");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let get = |k: &str| rows[0].iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!((get("row").as_str(), get("reason").as_str(), get("gemeld").as_str()), ("5", "date_not_readable", "onbekend"));
    assert_eq!((get("lon").parse::<f64>().unwrap(), get("lat").parse::<f64>().unwrap()), (5.96, 50.87));
}

/// One rule per field: an unreadable date leaves a row out of the per-year counts only,
/// an unreadable weight out of the sums only; and a yearly rate takes its denominator from
/// the nearest edition that publishes it (Kerncijfers 2020 has no Woningvoorraad).
#[test]
fn unreadable_fields_leave_rows_out_of_what_needs_them_only_and_denominators_skip_blank_editions() {
    if heerlen().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 24 registrations at buurt interior points of Heerlen, 2016–2024.
    let gpkg = heerlen().unwrap();
    let inner = ogr_sql(&gpkg, "SELECT ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y FROM buurten_rd LIMIT 24");
    let mut csv = String::from("x;y;datum;oppervlakte\n");
    for (i, row) in inner.iter().enumerate() {
        let get = |k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap();
        let date = if i == 5 { "onbekend".to_string() } else { format!("{}-03-01", 2016 + i % 9) };
        let weight = if i == 9 { "n.b.".to_string() } else { (100 + i).to_string() };
        csv.push_str(&format!("{};{};{date};{weight}\n", get("x"), get("y")));
    }
    // One in Kerkrade (a neighbour, outside the project's region) and one in Aachen
    // (outside every area); their places read from the CBS file itself.
    let gemeenten = shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg").unwrap();
    let kerkrade = ogr_sql(
        &gemeenten,
        "SELECT ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y FROM gemeenten WHERE gemeentecode = 'GM0928' AND water = 'NEE'",
    );
    let get = |row: &Vec<(String, String)>, k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap();
    csv.push_str(&format!("{};{};2023-03-01;1\n", get(&kerkrade[0], "x"), get(&kerkrade[0], "y")));
    csv.push_str("206500;311000;2023-03-01;1\n");
    let register = dir.path().join("leegstand.csv");
    std::fs::write(&register, csv).unwrap();
    let rejected = dir.path().join("leegstand_terug.csv");
    let (_keep, project) = example_copy("heerlen", |t| {
        format!(
            "{t}\n[[points]]\nid = \"leegstand\"\npath = \"{}\"\ndate = \"datum\"\nweight = \"oppervlakte\"\nrejected = \"{}\"\n\n\
             [[indicators]]\nid = \"alle\"\ntitle = \"Leegstand\"\nnumerator = {{ points = \"leegstand\" }}\n\n\
             [[indicators]]\nid = \"per_jaar\"\ntitle = \"Leegstand per jaar\"\nnumerator = {{ points = \"leegstand\" }}\nperiod = \"year\"\n\n\
             [[indicators]]\nid = \"m2\"\ntitle = \"Leegstaande m²\"\nnumerator = {{ points = \"leegstand\", weighted = true }}\n\n\
             [[indicators]]\nid = \"per_woning\"\ntitle = \"Leegstand per 1.000 woningen\"\nnumerator = {{ points = \"leegstand\" }}\ndenominator = \"Wonen_Woningvoorraad\"\nscale = 1000\nperiod = \"year\"\n",
            register.display(),
            rejected.display()
        )
    });
    let project_file = project.clone();
    let project = buurtmeter::config::Project::load(&project).unwrap();
    let snap = buurtmeter::snapshot::build(&project).unwrap();
    let gm = snap.levels.iter().position(|l| l.id == "gemeenten").unwrap();
    let total = |id: &str| -> f64 {
        let r = snap.indicators.iter().find(|r| r.def.id == id).unwrap();
        let exact = r.exact.as_ref().map_or(&r.per_level[gm], |e| &e[gm]);
        exact.numerator.iter().flatten().sum()
    };
    let acc = &snap.points[0].layer.accounting;
    assert_eq!(
        (acc.rows, acc.joined, acc.outside, acc.outside_region),
        (26, 24, 2, 1),
        "Kerkrade is outside the region, Aachen outside every area"
    );
    assert_eq!(total("alle"), 24.0, "a row with an unreadable date counts in the whole period");
    assert_eq!(total("per_jaar"), 23.0, "and in no year");
    let weights: f64 = (0..24).filter(|&i| i != 9).map(|i| 100.0 + i as f64).sum();
    assert_eq!(total("m2"), weights, "a row with an unreadable weight is left out of the sum only");
    let back = hand_back(&rejected);
    let reasons: Vec<&str> = back.iter().map(|r| r["reason"].as_str()).collect();
    assert_eq!(reasons, ["date_not_readable", "weight_not_a_number"]);

    let r = snap.indicators.iter().find(|r| r.def.id == "per_woning").unwrap();
    let v = &r.per_level[gm];
    let at = |p: &str| v.periods.iter().position(|x| x == p).unwrap_or_else(|| panic!("no period {p} in {:?}", v.periods));
    for year in ["2020", "2021", "2024"] {
        assert_eq!(v.denominator_periods[at(year)].as_deref(), Some("2019"), "{year}: the nearest earlier edition that publishes it");
        assert!(v.denominator[at(year)].is_some_and(|d| d > 40_000.0), "{year}: {:?}", v.denominator[at(year)]);
    }
    assert_eq!(v.denominator_periods[at("2017")].as_deref(), Some("2017"));
    assert!(!snap.warnings.iter().any(|w| w.contains("per_woning") && w.contains("no value at all")), "{:?}", snap.warnings);

    // The same accounting in the API (the layer is not protected: its counts are public).
    let server = Server::start(&["--project", project_file.to_str().unwrap(), "--watch-seconds", "0"]);
    let (status, body) = server.get("/health");
    assert_eq!(status, 200);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    let layer = &h["points"][0];
    assert_eq!(
        (layer["rows"].as_u64(), layer["joined"].as_u64(), layer["outside_region"].as_u64()),
        (Some(26), Some(24), Some(1)),
        "{layer}"
    );
    assert_eq!(layer["partly_used"]["date_not_readable"], 1, "{layer}");
    assert_eq!(layer["partly_used"]["weight_not_a_number"], 1, "{layer}");
}

/// A vacancy register keyed on the address, as most municipal registers are: rows with a
/// postcode and huisnummer (spelled as people spell them, letters and toevoegingen written
/// into the number) or a BAG id, matched to the real BAG sample (Amsterdam), counted per
/// real CBS wijk 2022 and compared with GDAL's `ST_Contains` on the BAG points themselves.
#[test]
fn addresses_are_matched_to_the_bag_and_counted_like_gdal() {
    let (Some(bag), Some(wijken)) = (
        shared_data("bag_points/gokoala_bag_amsterdam_sample.gpkg"),
        shared_data("nl_wijken_2022_tmap/nl_wijken_gemeenten_2022_tmap.gpkg"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Addresses the BAG has exactly once, every 25th: a spread over the sample.
    let rows = ogr_sql(
        &bag,
        "SELECT feature_id + 0 AS vid, postcode, huisnummer, coalesce(huisletter, '') AS letter, coalesce(toevoeging, '') AS toev, nummer_id FROM verblijfsobjecten v \
         WHERE postcode IS NOT NULL AND (SELECT count(*) FROM verblijfsobjecten w WHERE w.postcode = v.postcode AND w.huisnummer = v.huisnummer \
           AND coalesce(w.huisletter, '') = coalesce(v.huisletter, '') AND coalesce(w.toevoeging, '') = coalesce(v.toevoeging, '')) = 1 \
         AND feature_id % 25 = 0 ORDER BY feature_id",
    );
    assert!(rows.len() > 40, "{} addresses", rows.len());
    let get = |row: &Vec<(String, String)>, k: &str| row.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut csv = String::from("Pand;Postcode;Huisnummer;Toevoeging;Nummeraanduiding-ID;Functie\n");
    let mut matched_fids = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let (pc, nr, letter, toev, id) = (get(r, "postcode"), get(r, "huisnummer"), get(r, "letter"), get(r, "toev"), get(r, "nummer_id"));
        let pc_spelled = match i % 3 {
            0 => format!("{} {}", &pc[..4], &pc[4..]),
            1 => pc.to_lowercase(),
            _ => format!(" {pc} "),
        };
        let line = match i % 4 {
            // the letter and toevoeging written into the number: 12a, 12-2, 12a-3
            0 => format!(
                "{i};{pc_spelled};{nr}{}{};;;winkel",
                letter.to_lowercase(),
                if toev.is_empty() { String::new() } else { format!("-{toev}") }
            ),
            // the toevoeging in its own column
            1 => format!("{i};{pc_spelled};{nr}{letter};{toev};;kantoor"),
            // only the BAG id, its leading zero lost as a spreadsheet loses it
            2 => format!("{i};;;;{};woning", id.trim_start_matches('0')),
            _ => format!("{i};{pc};{nr} {letter};{toev};;woning"),
        };
        csv.push_str(&line);
        csv.push('\n');
        matched_fids.push(get(r, "vid"));
    }
    // Addresses that do not exist, and one the row does not say precisely enough.
    csv.push_str("x1;1013NJ;99999;;;woning\nx2;0000AA;1;;;woning\nx3;1013 NJ;1;;;woning\n");
    let register = dir.path().join("leegstand_adressen.csv");
    std::fs::write(&register, csv).unwrap();

    // GDAL's answer: the BAG points of those addresses in the wijken, by ST_Contains.
    let truth_gpkg = dir.path().join("truth.gpkg");
    let (t, b, w) = (truth_gpkg.to_str().unwrap(), bag.to_str().unwrap(), wijken.to_str().unwrap());
    let sql = format!("SELECT * FROM verblijfsobjecten WHERE feature_id IN ({})", matched_fids.join(","));
    run("ogr2ogr", &["-f", "GPKG", t, b, "-dialect", "sqlite", "-sql", &sql, "-nln", "pts", "-t_srs", "EPSG:28992"]);
    run("ogr2ogr", &["-update", "-append", t, w, "wijken", "-nln", "wijken"]);
    let expected: BTreeMap<String, u64> = ogr_sql(
        &truth_gpkg,
        "SELECT w.code AS code, count(*) AS n FROM pts p JOIN wijken w ON ST_Contains(w.geom, p.geom) GROUP BY w.code",
    )
    .into_iter()
    .map(|r| (get(&r, "code"), get(&r, "n").parse().unwrap()))
    .collect();

    let out = dir.path().join("counts.csv");
    let summary = dir.path().join("summary.json");
    let rejected = dir.path().join("terug.csv");
    let o = buurtmeter(&[
        "count",
        "--areas",
        w,
        "--areas-layer",
        "wijken",
        "--points",
        register.to_str().unwrap(),
        "--addresses",
        b,
        "--out",
        out.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--rejected",
        rejected.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ours: BTreeMap<String, u64> =
        read_counts(&std::fs::read_to_string(&out).unwrap()).into_iter().filter(|(_, (n, _))| *n > 0).map(|(k, (n, _))| (k, n)).collect();
    assert_eq!(ours, expected, "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["rows"], rows.len() as u64 + 3);
    assert_eq!(s["joined"], rows.len() as u64, "every real address found, every spelling: {}", stderr(&o));
    assert_eq!(s["rejected_by_reason"]["address_not_found"], 2, "{s}");
    assert_eq!(s["rejected_by_reason"]["address_ambiguous"], 1, "{s}");
    let back = hand_back(&rejected);
    assert_eq!(back.len(), 3);
    let ambiguous = back.iter().find(|r| r["reason"] == "address_ambiguous").unwrap();
    assert!(ambiguous["detail"].contains("1013NJ 1 could be") && ambiguous["detail"].contains("1013NJ 1-H"), "{ambiguous:?}");
    assert_eq!(ambiguous["Pand"], "x3");

    // A row with coordinates and an address: the coordinates count, and a row whose
    // coordinates lie more than 100 m from its own address's BAG point is named.
    let first = &rows[0];
    let at = ogr_sql(
        &bag,
        &format!("SELECT ST_X(geom) AS bx, ST_Y(geom) AS by FROM verblijfsobjecten WHERE feature_id = {}", get(first, "vid")),
    );
    let (bx, by): (f64, f64) = (get(&at[0], "bx").parse().unwrap(), get(&at[0], "by").parse().unwrap());
    let (pc, nr, letter, toev) = (get(first, "postcode"), get(first, "huisnummer"), get(first, "letter"), get(first, "toev"));
    let both = dir.path().join("met_coordinaten.csv");
    std::fs::write(
        &both,
        format!(
            "Postcode;Huisnummer;Huisletter;Toevoeging;x;y\n{pc};{nr};{letter};{toev};{bx};{by}\n{pc};{nr};{letter};{toev};{};{by}\n",
            bx + 180.0
        ),
    )
    .unwrap();
    let summary2 = dir.path().join("summary2.json");
    let o = buurtmeter(&[
        "count",
        "--areas",
        w,
        "--areas-layer",
        "wijken",
        "--points",
        both.to_str().unwrap(),
        "--addresses",
        b,
        "--summary",
        summary2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary2).unwrap()).unwrap();
    assert_eq!(s["joined"].as_u64().unwrap() + s["outside"].as_u64().unwrap(), 2, "{s}");
    let warnings = s["warnings"].to_string();
    assert!(warnings.contains("1 rows have coordinates more than 100 m") && warnings.contains("row 2: 180 m"), "{warnings}");

    // Without the address file the message says what to add.
    let o = buurtmeter(&["count", "--areas", w, "--areas-layer", "wijken", "--points", register.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--addresses"), "{}", stderr(&o));
}
