//! Grid levels (`grid = { size, extent }`): the European grid's cells by arithmetic,
//! checked against GDAL/PROJ, and counts converted between the grid and areas.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `indicator → area → value` from the long CSV `export --csv` writes for one level.
fn values(dir: &Path, level: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(dir.join(format!("indicators_{level}.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (ind, area, value) = (col("indicator"), col("area_code"), col("value"));
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if let Ok(v) = f[value].parse::<f64>() {
            out.entry(f[ind].to_string()).or_default().insert(f[area].to_string(), v);
        }
    }
    out
}

fn export(project: &Path, out: &Path) -> String {
    let o = common::buurtmeter(&["export", "--project", project.to_str().unwrap(), "--csv", out.to_str().unwrap()]);
    assert!(o.status.success(), "export failed: {}", common::stderr(&o));
    common::stderr(&o)
}

/// 90,603 real BAG dwellings (Amersfoort, RD New) on the 1 km and 100 m grid: every
/// cell's count equals the count of the points GDAL/PROJ transforms to EPSG:3035
/// (`ogr2ogr -t_srs EPSG:3035`), celled by floor(x / size) here, independently of
/// buurtmeter's code; and the 100 m cells add up to their 1 km cell.
#[test]
fn grid_cells_count_what_gdal_transforms() {
    let Some(gpkg) = common::shared_data("bag_points/sdcspatial_bag_locations.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("grid.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "Amersfoort op het Europese grid"
crs = "EPSG:3035"
[[levels]]
id = "raster_1km"
grid = {{ size = 1000, extent = [5.25, 52.05, 5.55, 52.3] }}
[[levels]]
id = "raster_100m"
grid = {{ size = 100, extent = [5.25, 52.05, 5.55, 52.3] }}
[[points]]
id = "woningen"
path = "{}"
layer = "dwellings"
[[indicators]]
id = "aantal"
title = "Woningen"
numerator = {{ points = "woningen" }}
"#,
            gpkg.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    export(&project, &out);
    // The independent side: GDAL/PROJ transforms, the test cells.
    let csv = dir.path().join("points_3035.csv");
    let st = Command::new("ogr2ogr")
        .args(["-f", "CSV", csv.to_str().unwrap(), gpkg.to_str().unwrap(), "dwellings", "-t_srs", "EPSG:3035", "-lco", "GEOMETRY=AS_XY"])
        .status()
        .expect("ogr2ogr (GDAL) is installed by .ci/setup");
    assert!(st.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (xi, yi) = (header.iter().position(|h| *h == "X").unwrap(), header.iter().position(|h| *h == "Y").unwrap());
    let mut expected: BTreeMap<u32, BTreeMap<String, f64>> = BTreeMap::new();
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let (x, y): (f64, f64) = (f[xi].parse().unwrap(), f[yi].parse().unwrap());
        n += 1;
        for size in [1000u32, 100] {
            let s = f64::from(size);
            let code =
                format!("CRS3035RES{size}mN{}E{}", (y / s).floor() as i64 * i64::from(size), (x / s).floor() as i64 * i64::from(size));
            *expected.entry(size).or_default().entry(code).or_default() += 1.0;
        }
    }
    assert_eq!(n, 90_603, "GDAL read every dwelling");
    for (size, level) in [(1000u32, "raster_1km"), (100, "raster_100m")] {
        let got = values(&out, level).remove("aantal").unwrap_or_default();
        let got: BTreeMap<String, f64> = got.into_iter().filter(|(_, v)| *v > 0.0).collect();
        assert_eq!(got.len(), expected[&size].len(), "{level}: cells with dwellings");
        for (code, count) in &expected[&size] {
            assert_eq!(got.get(code), Some(count), "{level}: cell {code}");
        }
        assert_eq!(got.values().sum::<f64>(), 90_603.0, "{level}: every dwelling in a cell");
    }
}

/// The Parkstad and South Limburg wijken's inhabitants onto the 1 km grid (by area) and on
/// to the 10 km grid: nothing is made or lost (the grid covers every wijk), the cells hold
/// fractions of the wijken and say so (`converted`), and a grid level made without an
/// extent covers exactly the cells that touch a wijk.
#[test]
fn conversions_between_areas_and_the_grid_conserve_counts() {
    let Some(wijken) = common::shared_data("nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "Zuid-Limburg op het grid"
crs = "EPSG:3035"
[[levels]]
id = "wijken"
path = "{}"
layer = "wijken_rd"
id_field = "wijkcode"
name_field = "wijknaam"
[[levels]]
id = "raster_1km"
grid = {{ size = 1000 }}
[[levels]]
id = "raster_10km"
grid = {{ size = 10000 }}
[[conversions]]
from = "wijken"
to = "raster_1km"
columns = {{ aantal_inwoners = "inwoners" }}
[[conversions]]
from = "raster_1km"
to = "raster_10km"
columns = {{ inwoners = "inwoners" }}
[[indicators]]
id = "inwoners"
title = "Inwoners"
numerator = {{ statistic = "inwoners" }}
[[indicators]]
id = "inwoners_wijk"
title = "Inwoners (wijk)"
numerator = {{ statistic = "aantal_inwoners" }}
"#,
            wijken.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let log = export(&project, &out);
    assert!(log.contains("conversions[0]: 'wijken' converted to 'raster_1km' by area"), "{log}");
    let wijk_total: f64 = values(&out, "wijken")["inwoners_wijk"].values().sum();
    // The independent total: GDAL sums the file's own column.
    let rows = common::ogr_sql(&wijken, "SELECT SUM(aantal_inwoners) AS s, COUNT(*) AS n FROM wijken_rd");
    let gdal_total: f64 = rows[0].iter().find(|(k, _)| k == "s").unwrap().1.parse().unwrap();
    assert_eq!(wijk_total, gdal_total);
    for level in ["raster_1km", "raster_10km"] {
        let cells = &values(&out, level)["inwoners"];
        let total: f64 = cells.values().sum();
        assert!((total - gdal_total).abs() < 1e-6 * gdal_total, "{level}: {total} inhabitants on the grid, {gdal_total} in the wijken");
        assert!(cells.values().any(|v| v.fract() != 0.0), "{level}: area weighting gives fractions");
    }
    // The converted flag travels with the values.
    let text = std::fs::read_to_string(out.join("indicators_raster_1km.csv")).unwrap();
    assert!(text.lines().skip(1).filter(|l| l.starts_with("inwoners,")).all(|l| l.ends_with(",true")), "every 1 km value is converted");
    // Without an extent: exactly the 1 km cells that touch a wijk, checked with GDAL's
    // ST_Intersects on the wijken transformed to EPSG:3035.
    // A conversion limited to a country no area has is an error that says so, not a
    // column of zeros.
    let text = std::fs::read_to_string(&project).unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replacen(
            "columns = { aantal_inwoners = \"inwoners\" }",
            "columns = { aantal_inwoners = \"inwoners\" }\ncountries = [\"DE\"]",
            1,
        ),
    )
    .unwrap();
    let o = common::buurtmeter(&["check", "--project", wrong.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains(
            "conversions[0].countries = [\"DE\"]: no area of level 'wijken' is of these countries (its areas' countries: none given)"
        ),
        "{}",
        common::stderr(&o)
    );
    let grid_cells = values(&out, "raster_1km")["inwoners"].len();
    let rows = common::ogr_sql(
        &wijken,
        "SELECT ST_MinX(ST_Transform(geom, 3035)) AS x0, ST_MinY(ST_Transform(geom, 3035)) AS y0, ST_MaxX(ST_Transform(geom, 3035)) AS x1, ST_MaxY(ST_Transform(geom, 3035)) AS y1 FROM wijken_rd",
    );
    let f = |r: &Vec<(String, String)>, k: &str| -> f64 { r.iter().find(|(n, _)| n == k).unwrap().1.parse().unwrap() };
    let (x0, y0) = rows.iter().fold((f64::MAX, f64::MAX), |(a, b), r| (a.min(f(r, "x0")), b.min(f(r, "y0"))));
    let (x1, y1) = rows.iter().fold((f64::MIN, f64::MIN), |(a, b), r| (a.max(f(r, "x1")), b.max(f(r, "y1"))));
    let bbox_cells = (((x1 / 1000.0).ceil() - (x0 / 1000.0).floor()) * ((y1 / 1000.0).ceil() - (y0 / 1000.0).floor())) as usize;
    assert!(grid_cells > 0 && grid_cells < bbox_cells, "{grid_cells} cells touch a wijk, of {bbox_cells} in the box");
}

/// A grid level's mistakes are named in the project's terms.
#[test]
fn grid_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (grid, expect) in [
        ("{ size = 250 }", "size = 250: a cell size in metres, a multiple of 100"),
        ("{ size = 1000, crs = 'EPSG:28992' }", "only the European grid, EPSG:3035"),
        ("{ size = 1000, extent = [52.0, 5.0, 51.0, 6.0] }", "expected [lon0, lat0, lon1, lat1]"),
        ("{ size = 100, extent = [3.0, 50.0, 8.0, 54.0] }", "more than 5000000"),
    ] {
        let project = dir.path().join("p.toml");
        std::fs::write(&project, format!("name = 'x'\ncrs = 'EPSG:3035'\n[[levels]]\nid = 'raster'\ngrid = {grid}\n")).unwrap();
        let o = common::buurtmeter(&["check", "--project", project.to_str().unwrap()]);
        assert!(!o.status.success());
        assert!(common::stderr(&o).contains(expect), "{grid}: {}", common::stderr(&o));
    }
}

/// A grid level is a level like any other: its queen and rook neighbours (served at
/// /weights) equal libpysal's on squares that Python builds from the cell codes alone,
/// its cells are OGC API items and its profile page answers.
#[test]
fn grid_neighbours_equal_libpysal_and_cells_are_served() {
    let Some(wijken) = common::shared_data("nl_wijken_2024_region/nl_wijken_2024_geoinzicht_region.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p.toml");
    std::fs::write(
        &project,
        format!(
            "name = 'grid'\ncrs = 'EPSG:3035'\n[[levels]]\nid = 'wijken'\npath = '{}'\nlayer = 'wijken_rd'\nid_field = 'wijkcode'\n[[levels]]\nid = 'raster_1km'\ngrid = {{ size = 1000 }}\n",
            wijken.display()
        ),
    )
    .unwrap();
    let server = common::Server::start(&["--project", project.to_str().unwrap()]);
    let get = |path: &str| -> serde_json::Value {
        let (status, body) = server.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let mut ours = serde_json::Map::new();
    for rule in ["queen", "rook"] {
        ours.insert(rule.into(), get(&format!("/weights/raster_1km?type={rule}"))["neighbours"].clone());
    }
    let codes: Vec<String> = ours["queen"].as_object().unwrap().keys().cloned().collect();
    assert!(codes.len() > 500, "{} cells", codes.len());
    let theirs = common::run_reference(
        r#"
import json, re, sys, warnings
warnings.filterwarnings("ignore")
import geopandas as gpd
from shapely.geometry import box
from libpysal.weights import Queen, Rook
a = json.load(sys.stdin)
rows = []
for c in a["codes"]:
    m = re.fullmatch(r"CRS3035RES(\d+)mN(\d+)E(\d+)", c)
    s, n, e = (int(g) for g in m.groups())
    rows.append({"code": c, "geometry": box(e, n, e + s, n + s)})
df = gpd.GeoDataFrame(rows, crs="EPSG:3035")
out = {}
for name, cls in [("queen", Queen), ("rook", Rook)]:
    w = cls.from_dataframe(df, ids="code", use_index=False)
    out[name] = {str(k): sorted(v) for k, v in w.neighbors.items()}
print(json.dumps(out))
"#,
        &serde_json::json!({"codes": codes}),
    );
    for rule in ["queen", "rook"] {
        for c in &codes {
            let set = |v: &serde_json::Value| -> Vec<String> {
                let mut s: Vec<String> =
                    v.as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
                s.sort();
                s
            };
            assert_eq!(set(&ours[rule][c]), set(&theirs[rule][c]), "{rule} neighbours of {c}");
        }
    }
    let items = get("/ogc/collections/raster_1km/items?limit=5");
    assert_eq!(items["features"].as_array().unwrap().len(), 5);
    let first = items["features"][0]["id"].as_str().unwrap().to_string();
    assert!(codes.contains(&first));
    let (status, _) = server.get(&format!("/areas/raster_1km/{first}"));
    assert_eq!(status, 200);
}

/// A protected layer is not published on cells finer than its `min_cell_m` (500 m by
/// default): on the 100 m grid every cell is withheld (a 100 m cell places a record to a
/// block, whatever the noise on its count), on the 1 km grid the cell-key method applies.
#[test]
fn protected_layers_are_not_published_on_fine_grids() {
    let Some(gpkg) = common::shared_data("bag_points/sdcspatial_bag_locations.gpkg") else { return };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("grid.toml");
    std::fs::write(
        &project,
        format!(
            r#"name = "Meldingen op het grid"
crs = "EPSG:3035"
[[levels]]
id = "raster_1km"
grid = {{ size = 1000, extent = [5.3, 52.1, 5.5, 52.25] }}
[[levels]]
id = "raster_100m"
grid = {{ size = 100, extent = [5.3, 52.1, 5.5, 52.25] }}
[[points]]
id = "meldingen"
path = "{}"
layer = "dwellings"
access = "aggregate"
min_count = 3
release = "live"
[[indicators]]
id = "aantal"
title = "Meldingen"
numerator = {{ points = "meldingen" }}
"#,
            gpkg.display()
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_buurtmeter"))
        .args(["export", "--project", project.to_str().unwrap(), "--csv", dir.path().join("out").to_str().unwrap()])
        .env("BUURTMETER_SDC_SECRET", "grid-test-secret")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        common::stderr(&o).contains("level 'raster_100m' (100 m cells) is finer than the protected layer's min_cell_m"),
        "{}",
        common::stderr(&o)
    );
    let out = dir.path().join("out");
    let fine = std::fs::read_to_string(out.join("indicators_raster_100m.csv")).unwrap();
    let rows: Vec<&str> = fine.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|l| l.contains(",protected,")),
        "a 100 m cell published: {:?}",
        rows.iter().find(|l| !l.contains(",protected,"))
    );
    let coarse = values(&out, "raster_1km");
    assert!(coarse["aantal"].values().filter(|v| **v > 0.0).count() > 50, "the 1 km cells are published");
}
