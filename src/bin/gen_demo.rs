//! Writes the demo project in `data/`: a clearly labelled *synthetic* municipality,
//! "Demodorp (synthetisch)", gemeente code GM9999 (not a real CBS code in use).
//!
//! Deterministic: the same seed gives the same files (the GeoPackage differs only in
//! GDAL's timestamps). Run with `cargo run --bin gen_demo -- data/`.
//!
//! - about 60 buurten in 12 wijken on a jittered grid; every shared edge is one
//!   deterministic fractal polyline used by both neighbours, so there are no gaps or
//!   overlaps, and every buurt has 256 vertices; wijken and the gemeente are built by
//!   cancelling interior edges, so their boundaries are exactly the buurt boundaries;
//! - `kerncijfers_demodorp.csv`: StatLine "CSV met statistische symbolen", with `.` for
//!   secret cells and counts rounded to 5 like CBS does;
//! - `leegstand_demodorp.csv`: ~3,000 vacant buildings, `;`, decimal comma, RD New x/y,
//!   dates dd-mm-jjjj, function and floor area, plus a handful of bad rows on purpose;
//! - `wateroverlast_demodorp.csv`: ~1,500 flood reports, `,`, WGS84 lat/lon, ISO dates,
//!   clustered on heavy-rain days in the low-lying buurten, plus bad rows on purpose.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use buurtmeter::crs::{self, Reprojector};
use buurtmeter::export::gpkg::{self, Value};
use buurtmeter::index::PreparedArea;
use gdal::vector::{OGRFieldType, OGRwkbGeometryType};
use geo::{Area, BoundingRect, Validation};
use geo_types::{Coord, LineString, MultiPolygon, Polygon};

const SEED: u64 = 20_261_125;
const NX: usize = 10;
const NY: usize = 8;
const CELL_W: f64 = 1000.0;
const CELL_H: f64 = 900.0;
const X0: f64 = 181_000.0;
const Y0: f64 = 316_500.0;
const DEPTH: u32 = 6; // 2^6 = 64 segments per grid edge, 256 vertices per buurt
const GM: &str = "GM9999";
const GM_NAME: &str = "Demodorp (synthetisch)";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f()
    }
    fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut t = self.f() * total;
        for (i, w) in weights.iter().enumerate() {
            t -= w;
            if t < 0.0 {
                return i;
            }
        }
        weights.len() - 1
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.f().max(1e-12), self.f());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

type V = (usize, usize);

struct Grid {
    vertices: HashMap<V, Coord<f64>>,
    edges: HashMap<(V, V), Vec<Coord<f64>>>,
}

impl Grid {
    fn new(rng: &mut Rng) -> Grid {
        let mut vertices = HashMap::new();
        for i in 0..=NX {
            for j in 0..=NY {
                let border = i == 0 || j == 0 || i == NX || j == NY;
                let jx = if border { 0.0 } else { rng.range(-0.22, 0.22) * CELL_W };
                let jy = if border { 0.0 } else { rng.range(-0.22, 0.22) * CELL_H };
                vertices.insert((i, j), Coord { x: X0 + i as f64 * CELL_W + jx, y: Y0 + j as f64 * CELL_H + jy });
            }
        }
        Grid { vertices, edges: HashMap::new() }
    }

    /// The polyline from a to b, the same points (reversed) from b to a.
    fn edge(&mut self, a: V, b: V, rng: &mut Rng) -> Vec<Coord<f64>> {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let (pa, pb) = (self.vertices[&lo], self.vertices[&hi]);
        let line = self.edges.entry((lo, hi)).or_insert_with(|| {
            let mut pts = vec![pa, pb];
            let len = ((pb.x - pa.x).powi(2) + (pb.y - pa.y).powi(2)).sqrt();
            let mut amp = 0.07 * len;
            for _ in 0..DEPTH {
                let mut next = Vec::with_capacity(pts.len() * 2);
                for w in pts.windows(2) {
                    let (p, q) = (w[0], w[1]);
                    let (dx, dy) = (q.x - p.x, q.y - p.y);
                    let l = (dx * dx + dy * dy).sqrt().max(1e-9);
                    let d = rng.range(-1.0, 1.0) * amp;
                    next.push(p);
                    next.push(Coord { x: (p.x + q.x) / 2.0 - dy / l * d, y: (p.y + q.y) / 2.0 + dx / l * d });
                }
                next.push(*pts.last().expect("non-empty"));
                pts = next;
                amp *= 0.5;
            }
            // Round to centimetres, as a real boundary file would be.
            pts.iter().map(|c| Coord { x: (c.x * 100.0).round() / 100.0, y: (c.y * 100.0).round() / 100.0 }).collect()
        });
        if a <= b { line.clone() } else { line.iter().rev().copied().collect() }
    }

    /// The boundary of a set of cells as polygons: directed cell edges (counter-clockwise)
    /// that are not cancelled by a neighbour's opposite edge, chained into rings.
    fn outline(&mut self, cells: &[V], rng: &mut Rng) -> MultiPolygon<f64> {
        let mut directed: Vec<(V, V)> = Vec::new();
        for &(i, j) in cells {
            let c = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
            for k in 0..4 {
                directed.push((c[k], c[(k + 1) % 4]));
            }
        }
        let set: std::collections::HashSet<(V, V)> = directed.iter().copied().collect();
        let boundary: Vec<(V, V)> = directed.into_iter().filter(|(a, b)| !set.contains(&(*b, *a))).collect();
        let mut next: HashMap<V, V> = boundary.iter().copied().collect();
        let mut polys = Vec::new();
        while let Some((&start, _)) = next.iter().min() {
            let mut ring: Vec<Coord<f64>> = Vec::new();
            let mut at = start;
            while let Some(to) = next.remove(&at) {
                let pts = self.edge(at, to, rng);
                if ring.is_empty() {
                    ring.extend(pts);
                } else {
                    ring.extend(pts.into_iter().skip(1));
                }
                at = to;
                if at == start {
                    break;
                }
            }
            polys.push(Polygon::new(LineString(ring), vec![]));
        }
        MultiPolygon(polys)
    }
}

struct Buurt {
    code: String,
    name: String,
    wijk: usize,
    geometry: MultiPolygon<f64>,
    inhabitants: f64,
    dwellings: f64,
    households: f64,
    vacancy_pct: f64,
    land_ha: f64,
    centrality: f64,
    low_lying: f64,
    industrial: bool,
}

const WIJK_NAMES: [&str; 12] = [
    "Beekdal",
    "Molenbroek",
    "Heidepark",
    "Akkerland",
    "Oude Stad",
    "Centrum",
    "Kerkveld",
    "Lindenhof",
    "Vossenberg",
    "Waterkant",
    "Zonnehoek",
    "De Beemden",
];
const PREFIX: [&str; 16] = [
    "Berken",
    "Eiken",
    "Linden",
    "Wilgen",
    "Hazel",
    "Beuken",
    "Kastanje",
    "Vlier",
    "Hulst",
    "Esdoorn",
    "Meidoorn",
    "Populieren",
    "Elzen",
    "Iepen",
    "Platanen",
    "Sparren",
];
const SUFFIX: [&str; 8] = ["hof", "dreef", "veld", "laan", "park", "hoek", "rade", "akker"];

fn main() {
    let out: PathBuf = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data"));
    std::fs::create_dir_all(&out).expect("create output dir");
    let mut rng = Rng(SEED);
    let mut grid = Grid::new(&mut rng);

    // Which cells are in the municipality: an irregular ellipse.
    let mut cells: Vec<V> = Vec::new();
    for j in 0..NY {
        for i in 0..NX {
            let u = (i as f64 + 0.5) / NX as f64 * 2.0 - 1.0;
            let v = (j as f64 + 0.5) / NY as f64 * 2.0 - 1.0;
            if u * u + v * v < 1.05 + 0.15 * ((i * 7 + j * 3) % 5) as f64 / 5.0 {
                cells.push((i, j));
            }
        }
    }
    let wijk_of = |(i, j): V| -> usize {
        let col = if i < 3 {
            0
        } else if i < 6 {
            1
        } else {
            2
        };
        let row = (j / 2).min(3);
        row * 3 + col
    };

    // Buurten
    let mut buurten: Vec<Buurt> = Vec::new();
    let mut per_wijk = [0usize; 12];
    let mut used_names = std::collections::HashSet::new();
    let centre = Coord { x: X0 + NX as f64 * CELL_W * 0.55, y: Y0 + NY as f64 * CELL_H * 0.5 };
    for &cell in &cells {
        let w = wijk_of(cell);
        let nr = per_wijk[w];
        per_wijk[w] += 1;
        let geometry = grid.outline(&[cell], &mut rng);
        assert!(geometry.is_valid(), "buurt {cell:?} is invalid");
        let c = geometry.bounding_rect().expect("bbox").center();
        let d = (((c.x - centre.x) / (NX as f64 * CELL_W * 0.5)).powi(2) + ((c.y - centre.y) / (NY as f64 * CELL_H * 0.5)).powi(2)).sqrt();
        let centrality = (1.0 - d).clamp(0.0, 1.0);
        // A brook runs through the south-west: low-lying buurten flood first.
        let low_lying = (1.0 - ((c.y - (Y0 + 1.6 * CELL_H + (c.x - X0) * 0.25)).abs() / (2.0 * CELL_H))).clamp(0.0, 1.0);
        let industrial = matches!(cell, (8, 3) | (9, 4) | (1, 5));
        let area_km2 = geometry.unsigned_area() / 1e6;
        let water_share = if WIJK_NAMES[w] == "Waterkant" { rng.range(0.05, 0.25) } else { rng.range(0.0, 0.03) };
        let land_ha = (area_km2 * 100.0 * (1.0 - water_share)).round();
        let density = 700.0 + 4200.0 * centrality.powf(1.5) + rng.range(-300.0, 300.0);
        let inhabitants = if industrial { rng.range(10.0, 45.0).round() } else { (area_km2 * density).round() };
        let persons_per_dwelling = if centrality > 0.6 { rng.range(1.6, 1.9) } else { rng.range(2.1, 2.5) };
        let dwellings = if industrial { (inhabitants / 2.0).round() } else { (inhabitants / persons_per_dwelling).round() };
        let name = loop {
            let n = format!("{}{}", PREFIX[(rng.next() % 16) as usize], SUFFIX[(rng.next() % 8) as usize]);
            if used_names.insert(n.clone()) {
                break if industrial { format!("Bedrijventerrein {n}") } else { n };
            }
        };
        buurten.push(Buurt {
            code: format!("BU9999{w:02}{nr:02}"),
            name,
            wijk: w,
            geometry,
            inhabitants,
            dwellings,
            households: (dwellings * rng.range(0.93, 0.98)).round(),
            vacancy_pct: rng.range(1.5, 8.5),
            land_ha,
            centrality,
            low_lying,
            industrial,
        });
    }
    let wijk_cells: Vec<Vec<V>> = (0..12).map(|w| cells.iter().copied().filter(|&c| wijk_of(c) == w).collect()).collect();
    let wijk_geoms: Vec<MultiPolygon<f64>> = wijk_cells.iter().map(|c| grid.outline(c, &mut rng)).collect();
    let gemeente_geom = grid.outline(&cells, &mut rng);
    let active_wijken: Vec<usize> = (0..12).filter(|&w| !wijk_cells[w].is_empty()).collect();

    // GeoPackage: gemeenten, wijken, buurten with CBS 2024 field names.
    let gpkg_path = out.join("demodorp.gpkg");
    let mut ds = gpkg::create(&gpkg_path).expect("create gpkg");
    let rd = crs::spatial_ref(crs::RD_NEW).expect("RD New");
    let text = |s: &str| Value::Text(s.to_string());
    let f = |n: &str, t| (n.to_string(), t);
    let s = OGRFieldType::OFTString;
    let r = OGRFieldType::OFTReal;
    let sum_ha = |pred: &dyn Fn(&Buurt) -> bool| buurten.iter().filter(|b| pred(b)).map(|b| b.land_ha).sum::<f64>();
    gpkg::write_layer(
        &mut ds,
        "gemeenten",
        Some(&rd),
        OGRwkbGeometryType::wkbMultiPolygon,
        &[f("gemeentecode", s), f("gemeentenaam", s), f("water", s), f("oppervlakte_land_in_ha", r)],
        std::iter::once((
            Some(geo_types::Geometry::MultiPolygon(gemeente_geom)),
            vec![text(GM), text(GM_NAME), text("NEE"), Value::Real(Some(sum_ha(&|_| true)))],
        )),
    )
    .expect("write gemeenten");
    gpkg::write_layer(
        &mut ds,
        "wijken",
        Some(&rd),
        OGRwkbGeometryType::wkbMultiPolygon,
        &[f("wijkcode", s), f("wijknaam", s), f("gemeentecode", s), f("gemeentenaam", s), f("water", s), f("oppervlakte_land_in_ha", r)],
        active_wijken.iter().map(|&w| {
            (
                Some(geo_types::Geometry::MultiPolygon(wijk_geoms[w].clone())),
                vec![
                    text(&format!("WK9999{w:02}")),
                    text(&format!("Wijk {w:02} {}", WIJK_NAMES[w])),
                    text(GM),
                    text(GM_NAME),
                    text("NEE"),
                    Value::Real(Some(sum_ha(&|b| b.wijk == w))),
                ],
            )
        }),
    )
    .expect("write wijken");
    gpkg::write_layer(
        &mut ds,
        "buurten",
        Some(&rd),
        OGRwkbGeometryType::wkbMultiPolygon,
        &[
            f("buurtcode", s),
            f("buurtnaam", s),
            f("wijkcode", s),
            f("gemeentecode", s),
            f("gemeentenaam", s),
            f("water", s),
            f("oppervlakte_land_in_ha", r),
        ],
        buurten.iter().map(|b| {
            (
                Some(geo_types::Geometry::MultiPolygon(b.geometry.clone())),
                vec![
                    text(&b.code),
                    text(&b.name),
                    text(&format!("WK9999{:02}", b.wijk)),
                    text(GM),
                    text(GM_NAME),
                    text("NEE"),
                    Value::Real(Some(b.land_ha)),
                ],
            )
        }),
    )
    .expect("write buurten");
    drop(ds);

    // StatLine CSV with symbols.
    let round5 = |v: f64| (v / 5.0).round() * 5.0;
    let mut csv = String::from("\u{feff}");
    csv.push_str("\"Perioden\";\"Wijken en buurten\";\"Regiocode (gemeente, wijk, buurt) (code)\";\"Aantal inwoners (aantal)\";\"Particuliere huishoudens (aantal)\";\"Woningvoorraad (aantal)\";\"Percentage onbewoond (%)\"\n");
    let cell = |v: Option<f64>, decimals: usize| -> String {
        match v {
            Some(x) => format!("\"{:>8.*}\"", decimals, x),
            None => "\"       .\"".to_string(),
        }
    };
    let mut row = |name: &str, code: &str, inh: Option<f64>, hh: Option<f64>, won: Option<f64>, pct: Option<f64>| {
        let _ = writeln!(csv, "\"2025\";\"{name}\";\"{code:<10}\";{};{};{};{}", cell(inh, 0), cell(hh, 0), cell(won, 0), cell(pct, 1));
    };
    let tot = |pred: &dyn Fn(&Buurt) -> bool, g: &dyn Fn(&Buurt) -> f64| buurten.iter().filter(|b| pred(b)).map(g).sum::<f64>();
    row(
        GM_NAME,
        GM,
        Some(round5(tot(&|_| true, &|b| b.inhabitants))),
        Some(round5(tot(&|_| true, &|b| b.households))),
        Some(round5(tot(&|_| true, &|b| b.dwellings))),
        Some(4.9),
    );
    for &w in &active_wijken {
        let inw = |b: &Buurt| b.wijk == w;
        row(
            &format!("Wijk {w:02} {}", WIJK_NAMES[w]),
            &format!("WK9999{w:02}"),
            Some(round5(tot(&inw, &|b| b.inhabitants))),
            Some(round5(tot(&inw, &|b| b.households))),
            Some(round5(tot(&inw, &|b| b.dwellings))),
            Some((tot(&inw, &|b| b.vacancy_pct * b.dwellings) / tot(&inw, &|b| b.dwellings).max(1.0) * 10.0).round() / 10.0),
        );
        for (k, b) in buurten.iter().enumerate().filter(|(_, b)| b.wijk == w) {
            // CBS keeps small numbers secret: '.' for buurten with fewer than 50 inhabitants,
            // and one percentage that is simply missing.
            let small = b.inhabitants < 50.0;
            let pct_missing = small || k % 17 == 5;
            row(
                &b.name,
                &b.code,
                Some(round5(b.inhabitants)),
                (!small).then(|| round5(b.households)),
                (!small).then(|| round5(b.dwellings)),
                (!pct_missing).then(|| (b.vacancy_pct * 10.0).round() / 10.0),
            );
        }
    }
    std::fs::write(out.join("kerncijfers_demodorp.csv"), csv).expect("write kerncijfers");

    let prepared: Vec<PreparedArea> = buurten.iter().map(|b| PreparedArea::new(&b.geometry)).collect();
    let sample_in = |k: usize, rng: &mut Rng| -> Coord<f64> {
        let bb = buurten[k].geometry.bounding_rect().expect("bbox");
        loop {
            let p = Coord { x: rng.range(bb.min().x, bb.max().x), y: rng.range(bb.min().y, bb.max().y) };
            if prepared[k].contains(p.x, p.y) {
                return p;
            }
        }
    };
    let date_between = |rng: &mut Rng, from_day: i64, days: i64| -> (i32, u32, u32) { civil(from_day + (rng.f() * days as f64) as i64) };
    let start_2023 = days_from_civil(2023, 1, 1);

    // Vacant buildings: ';', decimal comma, RD New, dd-mm-jjjj.
    let functies = ["wonen", "winkel", "kantoor", "bedrijf"];
    let mut lee = String::from("registratienummer;x;y;functie;datum_leegstand;oppervlakte_m2\n");
    let hotspots: Vec<usize> = (0..buurten.len()).filter(|k| k % 13 == 3).collect();
    let mut n = 0;
    for _ in 0..3000 {
        let f = rng.pick(&[0.6, 0.2, 0.12, 0.08]);
        let weights: Vec<f64> = buurten
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let base = match f {
                    0 => b.dwellings * (0.5 + b.vacancy_pct / 5.0),
                    1 => 50.0 + 2000.0 * b.centrality.powi(3),
                    2 => 50.0 + 800.0 * b.centrality.powi(2),
                    _ => {
                        if b.industrial {
                            3000.0
                        } else {
                            20.0
                        }
                    }
                };
                base * if hotspots.contains(&k) { 3.0 } else { 1.0 }
            })
            .collect();
        let k = rng.pick(&weights);
        let p = sample_in(k, &mut rng);
        let (y, m, d) = date_between(&mut rng, start_2023, 3 * 365);
        let area = match f {
            0 => rng.range(45.0, 160.0),
            1 => rng.range(30.0, 400.0),
            2 => rng.range(100.0, 2500.0),
            _ => rng.range(300.0, 6000.0),
        };
        n += 1;
        let _ = writeln!(lee, "LS-{n:05};{};{};{};{d:02}-{m:02}-{y};{}", comma(p.x, 1), comma(p.y, 1), functies[f], comma(area, 0));
    }
    // Bad rows on purpose, each with a different problem.
    lee.push_str("LS-90001;;322000,0;wonen;03-04-2024;80\n");
    lee.push_str("LS-90002;onbekend;onbekend;winkel;03-04-2024;120\n");
    lee.push_str("LS-90003;NaN;321000,0;wonen;12-05-2024;95\n");
    lee.push_str("LS-90004;5,9412;50,8685;wonen;12-05-2024;95\n");
    lee.push_str("LS-90005;185000,0;320000,0;kantoor;31-02-2024;400\n");
    lee.push_str("LS-90006;121000,0;487000,0;wonen;01-06-2024;70\n"); // Amsterdam: outside all areas
    std::fs::write(out.join("leegstand_demodorp.csv"), lee).expect("write leegstand");

    // Flood reports: ',', WGS84 lat/lon, ISO dates; clustered on heavy-rain days.
    let rd = crs::spatial_ref(crs::RD_NEW).expect("rd");
    let wgs = crs::spatial_ref(crs::WGS84).expect("wgs84");
    let to_wgs = Reprojector::new(&rd, &wgs).expect("transform");
    let storms = [
        days_from_civil(2023, 6, 18),
        days_from_civil(2023, 8, 27),
        days_from_civil(2024, 5, 9),
        days_from_civil(2024, 7, 12),
        days_from_civil(2024, 9, 3),
        days_from_civil(2025, 6, 22),
        days_from_civil(2025, 8, 15),
    ];
    let soorten = ["water op straat", "water in kelder", "verstopte put", "water in woning"];
    let mut pts: Vec<(Coord<f64>, i64, usize)> = Vec::new();
    for _ in 0..1500 {
        let storm = rng.f() < 0.7;
        let weights: Vec<f64> =
            buurten.iter().map(|b| (b.inhabitants + 200.0) * if storm { 0.2 + 4.0 * b.low_lying.powi(2) } else { 1.0 }).collect();
        let k = rng.pick(&weights);
        let day = if storm {
            storms[(rng.next() % storms.len() as u64) as usize] + (rng.normal().abs() * 0.8) as i64
        } else {
            start_2023 + (rng.f() * 3.0 * 365.0) as i64
        };
        let s = rng.pick(&[0.45, 0.3, 0.15, 0.1]);
        pts.push((sample_in(k, &mut rng), day, s));
    }
    // A few reports from just across the municipal border: outside all areas.
    let gbb = buurten.iter().filter_map(|b| b.geometry.bounding_rect()).fold(None::<geo_types::Rect<f64>>, |acc, r| {
        Some(match acc {
            None => r,
            Some(a) => geo_types::Rect::new(
                Coord { x: a.min().x.min(r.min().x), y: a.min().y.min(r.min().y) },
                Coord { x: a.max().x.max(r.max().x), y: a.max().y.max(r.max().y) },
            ),
        })
    });
    let gbb = gbb.expect("buurten");
    for k in 0..5 {
        pts.push((Coord { x: gbb.max().x + 300.0 + 100.0 * k as f64, y: gbb.min().y + 1000.0 * (k + 1) as f64 }, storms[3], 0));
    }
    let mut xs: Vec<f64> = pts.iter().map(|p| p.0.x).collect();
    let mut ys: Vec<f64> = pts.iter().map(|p| p.0.y).collect();
    assert!(to_wgs.transform(&mut xs, &mut ys).iter().all(|&ok| ok));
    let mut wo = String::from("melding_id,melddatum,soort,lat,lon\n");
    for (i, (_, day, s)) in pts.iter().enumerate() {
        let (y, m, d) = civil(*day);
        let hour = 6 + (i * 7) % 16;
        let _ =
            writeln!(wo, "WO-{:05},{y}-{m:02}-{d:02}T{hour:02}:{:02}:00,{},{:.7},{:.7}", i + 1, (i * 13) % 60, soorten[*s], ys[i], xs[i]);
    }
    wo.push_str("WO-90001,2024-07-12T09:00:00,water op straat,,5.94\n");
    wo.push_str(&format!("WO-90002,2024-07-12T09:05:00,water in kelder,{:.7},{:.7}\n", xs[0], ys[0])); // lat/lon swapped
    wo.push_str("WO-90003,2024-07-12T09:10:00,water op straat,320000,185000\n"); // RD metres in lat/lon columns
    wo.push_str("WO-90004,2024-07-12T09:15:00,verstopte put,n.v.t.,n.v.t.\n");
    wo.push_str("WO-90005,12-07-2024,water op straat,inf,5.94\n");
    std::fs::write(out.join("wateroverlast_demodorp.csv"), wo).expect("write wateroverlast");

    eprintln!(
        "wrote {}: {} buurten in {} wijken, 3006 vacancy rows, {} flood rows",
        out.display(),
        buurten.len(),
        active_wijken.len(),
        pts.len() + 5
    );
}

/// A number with a Dutch decimal comma.
fn comma(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}").replace('.', ",")
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}
