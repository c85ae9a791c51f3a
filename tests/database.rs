//! Point layers in PostGIS and the join pushed down into the database (`join = "database"`),
//! against a throwaway PostgreSQL + PostGIS cluster on loopback (started here with
//! benches/peers/pg.sh: initdb/pg_ctl in a temporary folder).
//!
//! The same points (the real BAG enterprise locations of Rijnmond, loaded into PostGIS by
//! GDAL's ogr2ogr, with dates, categories, weights and ids added, plus a point on every
//! vertex of every 20th buurt: on shared edges and corners) are written to CSV by ogr2ogr,
//! and every indicator at every level and period must be the same from the CSV joined in
//! process, from PostGIS read through GDAL and joined in process, and from PostGIS joined
//! in the database, plain and cell-key protected under the same secret.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

struct Cluster {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
    conninfo: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(repo().join("benches/peers/pg.sh")).arg("stop").arg(&self.dir).status();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_cluster() -> Option<Cluster> {
    let present = Path::new("/usr/share/postgresql").exists()
        && std::fs::read_dir("/usr/share/postgresql")
            .map(|d| d.flatten().any(|v| v.path().join("extension/postgis.control").exists()))
            .unwrap_or(false);
    if !common::require_program(present, "PostgreSQL with PostGIS (postgresql-15-postgis-3)", "BUURTMETER_SKIP_POSTGIS") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The cluster runs as 'postgres' when the tests run as root: it must reach its folder.
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("pg");
    let port = free_port().to_string();
    let out = Command::new("bash").arg(repo().join("benches/peers/pg.sh")).arg("start").arg(&dir).arg(&port).output().unwrap();
    assert!(out.status.success(), "cannot start PostgreSQL: {}", String::from_utf8_lossy(&out.stderr));
    let conninfo = String::from_utf8(out.stdout).unwrap().trim().to_string();
    Some(Cluster { dir, _tmp: tmp, conninfo })
}

fn psql(conninfo: &str, sql: &str) -> String {
    let out = Command::new("psql").arg(conninfo).args(["-v", "ON_ERROR_STOP=1", "-Atqc", sql]).output().unwrap();
    assert!(out.status.success(), "psql: {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn ogr2ogr(args: &[&str]) {
    let out = Command::new("ogr2ogr").args(args).output().unwrap();
    assert!(out.status.success(), "ogr2ogr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const LEVELS: &str = r#"
name = "meldingen in PostGIS"
crs = "EPSG:28992"
region = "extent"
[[levels]]
id = "buurten"
path = "GPKG"
layer = "buurten"
[[levels]]
id = "wijken"
path = "GPKG"
layer = "wijken"
[[levels]]
id = "gemeenten"
path = "GPKG"
layer = "gemeenten"
"#;

const INDICATORS: &str = r#"
[[indicators]]
id = "meldingen"
title = "Meldingen per maand"
numerator = { points = "m" }
period = "month"
[[indicators]]
id = "afval_per_1000"
title = "Afval per 1.000 inwoners per kwartaal"
numerator = { points = "m", categories = ["afval"] }
denominator = "aantal_inwoners"
scale = 1000
period = "quarter"
[[indicators]]
id = "gewicht"
title = "Gewicht per jaar"
numerator = { points = "m", weighted = true }
period = "year"
[[indicators]]
id = "beschermd"
title = "Beschermd per maand"
numerator = { points = "p" }
min_count = 3
period = "month"
"#;

/// A project with the two point layers `m` (plain) and `p` (protected) from `source`.
fn project(dir: &Path, name: &str, source: &str, gpkg: &Path) -> PathBuf {
    let mut text = LEVELS.replace("GPKG", &gpkg.display().to_string());
    for id in ["m", "p"] {
        text.push_str(&format!(
            "[[points]]\nid = \"{id}\"\n{source}\ndate = \"gemeld_op\"\ncategory = \"soort\"\nweight = \"gewicht\"\nid_column = \"melding_id\"\naccess = \"aggregate\"\nrelease = \"live\"\n"
        ));
    }
    text.push_str(INDICATORS);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn compute(project: &Path, out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .args(["compute", "--project"])
        .arg(project)
        .arg("--out")
        .arg(out)
        .env("BUURTMETER_SDC_SECRET", "database test secret")
        .output()
        .unwrap();
    assert!(o.status.success(), "compute {}: {}", project.display(), common::stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

fn check(project: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_buurtmeter"));
    c.args(["check", "--project"]).arg(project);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (o.status.success(), common::stderr(&o))
}

#[test]
fn the_join_in_postgis_gives_the_indicators_of_the_join_in_process() {
    let (Some(gpkg), Some(bag)) = (
        common::shared_data("nprz_wijkenbuurten_2024_rijnmond/wijkenbuurten_2024_nprz.gpkg"),
        common::shared_data("bag_points/sdcspatial_bag_locations.gpkg"),
    ) else {
        return;
    };
    let Some(pg) = start_cluster() else { return };
    let c = pg.conninfo.clone();
    let pgc = format!("PG:{c}");
    // The points, loaded by GDAL; the areas for the vertex points, too.
    ogr2ogr(&[
        "-f",
        "PostgreSQL",
        &pgc,
        bag.to_str().unwrap(),
        "enterprises",
        "-nln",
        "meldingen",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-lco",
        "FID=fid",
    ]);
    ogr2ogr(&[
        "-f",
        "PostgreSQL",
        &pgc,
        gpkg.to_str().unwrap(),
        "buurten",
        "-nln",
        "ref_buurten",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-nlt",
        "PROMOTE_TO_MULTI",
    ]);
    psql(
        &c,
        "ALTER TABLE meldingen ADD melding_id text, ADD gemeld_op date, ADD soort text, ADD gewicht double precision;
         UPDATE meldingen SET melding_id = 'M-' || fid, gemeld_op = date '2023-01-01' + (fid * 37 % 730),
           soort = (ARRAY['afval','verlichting','overlast'])[1 + fid % 3],
           gewicht = CASE WHEN fid % 11 = 0 THEN NULL ELSE (fid % 7) + 0.25 END;
         INSERT INTO meldingen (geom, melding_id, gemeld_op, soort, gewicht)
           SELECT (d).geom, 'V-' || row_number() OVER (), date '2023-06-01' + (row_number() OVER ())::int % 300, 'afval', 1
           FROM (SELECT ST_DumpPoints(geom) AS d FROM ref_buurten WHERE fid % 20 = 0) s;
         INSERT INTO meldingen (geom, melding_id, gemeld_op, soort, gewicht) VALUES (NULL, 'X-1', '2023-02-02', 'afval', 1);",
    );
    let n_points: u64 = psql(&c, "SELECT count(*) FROM meldingen").parse().unwrap();
    let n_vertices: u64 = psql(&c, "SELECT count(*) FROM meldingen WHERE melding_id LIKE 'V-%'").parse().unwrap();
    assert!(n_vertices > 100, "{n_vertices} vertex points");
    let dir = tempfile::tempdir().unwrap();
    // The same rows as CSV, coordinates in PostgreSQL's shortest exact text of a double.
    let csv = dir.path().join("meldingen.csv");
    ogr2ogr(&[
        "-f",
        "CSV",
        csv.to_str().unwrap(),
        &pgc,
        "-sql",
        "SELECT melding_id, gemeld_op::text AS gemeld_op, soort, gewicht, ST_X(geom)::text AS x, ST_Y(geom)::text AS y FROM meldingen ORDER BY fid",
    ]);
    let from_csv = project(dir.path(), "csv", "path = \"meldingen.csv\"\nx = \"x\"\ny = \"y\"", &gpkg);
    let gdal = project(dir.path(), "gdal", &format!("path = \"{pgc}\"\nlayer = \"public.meldingen\""), &gpkg);
    let pushed = project(dir.path(), "pushed", &format!("path = \"{pgc}\"\nlayer = \"public.meldingen\"\njoin = \"database\""), &gpkg);

    let s_csv = compute(&from_csv, &dir.path().join("out_csv"));
    let s_gdal = compute(&gdal, &dir.path().join("out_gdal"));
    let s_db = compute(&pushed, &dir.path().join("out_db"));
    for level in ["buurten", "wijken", "gemeenten"] {
        let read = |o: &str| std::fs::read_to_string(dir.path().join(o).join(format!("indicators_{level}.csv"))).unwrap();
        let (a, b, d) = (read("out_csv"), read("out_gdal"), read("out_db"));
        assert!(a.lines().count() > 100, "{level}: {} lines", a.lines().count());
        assert!(a.contains("beschermd"), "{level}: the protected indicator is there");
        assert_eq!(a, b, "{level}: CSV and PostGIS through GDAL, both joined in process");
        assert_eq!(a, d, "{level}: joined in process and joined in the database");
    }
    // The accounting: every row joined, outside or rejected, the same records either way.
    for id in ["m", "p"] {
        let layer = |s: &serde_json::Value| s["points"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone();
        let (a, d) = (layer(&s_csv), layer(&s_db));
        for key in ["rows", "joined", "outside", "outside_region", "rejected", "per_level", "partly_used_by_reason"] {
            assert_eq!(a[key], d[key], "layer {id}: {key}");
        }
        assert_eq!(d["rows"], n_points, "layer {id}: every row of the table");
        assert_eq!(layer(&s_gdal)["joined"], d["joined"], "layer {id}: joined, read through GDAL");
        // Pushed down: fewer rows came back than there are points, and only the vertex
        // points and those in two buurten were decided by buurtmeter.
        let note = d["notes"].to_string();
        let numbers: Vec<u64> = note.split(|c: char| !c.is_ascii_digit()).filter_map(|t| t.parse().ok()).collect();
        let (rows_back, raw) = (numbers[numbers.len() - 2], numbers[numbers.len() - 1]);
        assert!(rows_back < n_points / 2, "{note}");
        assert!(raw >= n_vertices / 2 && raw < n_vertices + 100, "{note}");
    }
    // Overlapping buurten (real ones): the same warning, the points counted once.
    let overlaps = |s: &serde_json::Value| {
        s["warnings"].as_array().unwrap().iter().filter(|w| w.to_string().contains("more than one area")).cloned().collect::<Vec<_>>()
    };
    assert!(!overlaps(&s_csv).is_empty());
    assert_eq!(overlaps(&s_csv), overlaps(&s_db));

    // The data version: the same when nothing changed, another when one row did.
    let src = buurtmeter::join::database::DatabaseSource {
        conninfo: pgc.clone(),
        table: Some("public.meldingen".into()),
        sql: None,
        date: None,
        category: None,
        weight: None,
        id_column: None,
        layer_id: "m".into(),
        timezone: "Europe/Amsterdam".into(),
    };
    let v1 = buurtmeter::join::database::content_version(&src).unwrap();
    assert_eq!(v1, buurtmeter::join::database::content_version(&src).unwrap());
    let counter = buurtmeter::join::database::change_counter(&src).unwrap();
    psql(&c, "UPDATE meldingen SET soort = 'overlast' WHERE melding_id = 'M-5'");
    let v2 = buurtmeter::join::database::content_version(&src).unwrap();
    assert_ne!(v1, v2);
    // The watcher's cheap poll (PostgreSQL's statistics) sees the write too, once the
    // writing session has published its counts.
    let moved = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        buurtmeter::join::database::change_counter(&src).unwrap() != counter
    });
    assert!(moved, "the change counter stayed at {counter} after an UPDATE");
    let q = buurtmeter::join::database::DatabaseSource {
        table: None,
        sql: Some("SELECT * FROM meldingen WHERE soort = 'afval'".into()),
        ..src
    };
    let q1 = buurtmeter::join::database::content_version(&q).unwrap();
    assert_eq!(q1, buurtmeter::join::database::content_version(&q).unwrap());
    psql(&c, "UPDATE meldingen SET gewicht = 99 WHERE melding_id = 'M-3'");
    assert_ne!(q1, buurtmeter::join::database::content_version(&q).unwrap());

    // Errors, in the user's terms.
    let variant = |name: &str, source: &str| project(dir.path(), name, source, &gpkg);
    let port = c.split_whitespace().find_map(|kv| kv.strip_prefix("port=")).unwrap().to_string();
    let refused = variant(
        "refused",
        &format!(
            "path = \"PG:host=127.0.0.1 port={} user=postgres dbname=postgres\"\nlayer = \"meldingen\"\njoin = \"database\"",
            free_port()
        ),
    );
    let (ok, err) = check(&refused, &[]);
    assert!(!ok && err.contains("cannot reach the database server"), "{err}");
    let no_table = variant("no_table", &format!("path = \"{pgc}\"\nlayer = \"public.bestaat_niet\"\njoin = \"database\""));
    let (ok, err) = check(&no_table, &[]);
    assert!(!ok && err.contains("no such table"), "{err}");
    let no_column = variant(
        "no_column",
        &format!("path = \"{pgc}\"\nsql = \"SELECT geom, melding_id, soort, gewicht FROM meldingen\"\njoin = \"database\""),
    );
    let (ok, err) = check(&no_column, &[]);
    assert!(!ok && err.contains("date column 'gemeld_op' is not there") && err.contains("melding_id"), "{err}");
    let password = variant("password", &format!("path = \"{pgc} password=geheim\"\nlayer = \"meldingen\"\njoin = \"database\""));
    let (ok, err) = check(&password, &[]);
    assert!(!ok && err.contains("PGPASSWORD") && !err.contains("geheim"), "{err}");
    let timeout = variant(
        "timeout",
        &format!(
            "path = \"{pgc} options='-c statement_timeout=200'\"\nsql = \"SELECT m.*, pg_sleep(0.001) AS z FROM meldingen m\"\njoin = \"database\""
        ),
    );
    let (ok, err) = check(&timeout, &[]);
    assert!(!ok && err.contains("statement timeout"), "{err}");
    psql(&c, "CREATE DATABASE zonder_postgis");
    let no_postgis = variant(
        "no_postgis",
        &format!(
            "path = \"PG:host=127.0.0.1 port={port} user=postgres dbname=zonder_postgis\"\nlayer = \"meldingen\"\njoin = \"database\""
        ),
    );
    let (ok, err) = check(&no_postgis, &[]);
    assert!(!ok && err.contains("PostGIS is not installed"), "{err}");
    // Wrong credentials: a user that must give a password, and a wrong one.
    psql(&c, "CREATE ROLE analist LOGIN PASSWORD 'juist'; GRANT SELECT ON meldingen TO analist");
    let hba = pg.dir.join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("host all analist 127.0.0.1/32 scram-sha-256\n{text}")).unwrap();
    psql(&c, "SELECT pg_reload_conf()");
    let login = variant(
        "login",
        &format!("path = \"PG:host=127.0.0.1 port={port} user=analist dbname=postgres\"\nlayer = \"meldingen\"\njoin = \"database\""),
    );
    let (ok, err) = check(&login, &[("PGPASSWORD", "fout")]);
    assert!(!ok && err.contains("refused the login"), "{err}");
}
