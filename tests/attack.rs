//! The attack suite: an attacker who knows the method and all its parameters (the
//! perturbation table, D included) fetches every public response about a protected layer
//! (every indicator, level and period, through the indicator API), writes down what each
//! published count allows for the true count, adds every linking equation that holds
//! (parents are the sums of their children; a year is the sum of its quarters and months;
//! a period range is the sum of its years), and propagates the intervals until nothing
//! changes. No cell whose true count is 1 … min_count − 1 may come out pinned to its value.
//!
//! Run on the demo and on a project built to be hard: many small counts, one layer with
//! all, year, quarter and month indicators, each category and all together, a weighted
//! indicator with one dominant contributor, areas with tiny denominators, and a
//! restricted layer next to it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use buurtmeter::config::Project;
use buurtmeter::indicators::ckm::PTable;
use buurtmeter::snapshot::{self, Snapshot};
use common::*;

const UNBOUNDED: i64 = 1_000_000_000;

/// What a published count allows for the true count, by the table's support.
fn support(table: &PTable, published: i64) -> (i64, i64) {
    let d = i64::from(table.params.max_deviation);
    let ok: Vec<i64> = ((published - d).max(0)..=published + d).filter(|&i| table_allows(table, i as u64, published as u64)).collect();
    (*ok.first().unwrap_or(&0), *ok.last().unwrap_or(&UNBOUNDED))
}

fn table_allows(table: &PTable, i: u64, j: u64) -> bool {
    let imax = table.imax();
    let (row, shift) = if i <= imax { (&table.rows[i as usize], 0) } else { (table.rows.last().unwrap(), i - imax) };
    row.targets.iter().zip(&row.probabilities).any(|(&t, &p)| t + shift == j && p > 0.0)
}

struct Attack {
    truth: Vec<i64>,
    lo: Vec<i64>,
    hi: Vec<i64>,
    eqs: Vec<(usize, Vec<usize>)>,
    /// Real-valued unknowns for the LP only (true weighted sums): truth and bounds.
    reals: Vec<(f64, f64, f64)>,
    /// LP rows lo ≤ Σ coef · var ≤ hi over counts (`Count`) and sums (`Sum`).
    rows: Vec<Row>,
}

/// One LP row: lo ≤ Σ coef · unknown ≤ hi.
type Row = (Vec<(Unknown, f64)>, f64, f64);

#[derive(Clone, Copy)]
enum Unknown {
    Count(usize),
    Sum(usize),
}

impl Attack {
    fn var(&mut self, truth: i64, (lo, hi): (i64, i64)) -> usize {
        assert!(lo <= truth && truth <= hi, "a published value excludes its own truth: {truth} not in {lo}..{hi}");
        self.truth.push(truth);
        self.lo.push(lo);
        self.hi.push(hi);
        self.truth.len() - 1
    }

    /// Add `total = Σ parts` when it holds for the true values (the attacker's assumption
    /// that happens to be right: generous to the attacker).
    fn eq(&mut self, total: usize, parts: Vec<usize>) {
        if !parts.is_empty() && self.truth[total] == parts.iter().map(|&p| self.truth[p]).sum::<i64>() {
            self.eqs.push((total, parts));
        }
    }

    fn propagate(&mut self) {
        let cap = |x: i64| x.min(UNBOUNDED);
        for _ in 0..1000 {
            let mut changed = false;
            for (t, parts) in &self.eqs {
                let slo: i64 = parts.iter().map(|&p| self.lo[p]).sum();
                let shi: i64 = cap(parts.iter().fold(0i64, |a, &p| a.saturating_add(self.hi[p])));
                if slo > self.lo[*t] {
                    self.lo[*t] = slo;
                    changed = true;
                }
                if shi < self.hi[*t] {
                    self.hi[*t] = shi;
                    changed = true;
                }
                for &p in parts {
                    let others_lo: i64 = parts.iter().filter(|&&q| q != p).map(|&q| self.lo[q]).sum();
                    let others_hi: i64 = cap(parts.iter().filter(|&&q| q != p).fold(0i64, |a, &q| a.saturating_add(self.hi[q])));
                    let lo = if others_hi >= UNBOUNDED { 0 } else { self.lo[*t] - others_hi };
                    let hi = if self.hi[*t] >= UNBOUNDED { UNBOUNDED } else { self.hi[*t] - others_lo };
                    if lo > self.lo[p] {
                        self.lo[p] = lo;
                        changed = true;
                    }
                    if hi < self.hi[p] {
                        self.hi[p] = hi;
                        changed = true;
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }
}

/// The period a finer period lies in: `2024-03` in `2024-Q1`, `2024`, `all`.
fn contains(coarse: &str, fine: &str) -> bool {
    if coarse == "all" || coarse == fine {
        return true;
    }
    if let Some((y, q)) = coarse.split_once("-Q") {
        return fine
            .split_once('-')
            .is_some_and(|(fy, m)| fy == y && m.parse::<u32>().is_ok_and(|m| (m - 1) / 3 + 1 == q.parse::<u32>().unwrap_or(0)));
    }
    coarse.len() == 4 && fine.starts_with(coarse) && fine.len() > 4
}

/// Every public response about the protected layer, attacked. Returns (small cells tried,
/// pinned to their true value, all cells, pinned at all).
fn attack(project_path: &Path, env: &[(&str, &str)]) -> (usize, usize, usize, usize) {
    let project = Project::load(project_path).unwrap();
    let snap: Snapshot = snapshot::build(&project).unwrap();
    let server = Server::start_with_env(&["--project", project_path.to_str().unwrap(), "--watch-seconds", "0"], env);
    let layer =
        snap.points.iter().find(|p| p.ptable.is_some() && p.access != buurtmeter::config::Access::Restricted).expect("a protected layer");
    let table = layer.ptable.as_ref().unwrap();
    let js = i64::from(table.params.js);
    let mut a = Attack { truth: vec![], lo: vec![], hi: vec![], eqs: vec![], reals: vec![], rows: vec![] };
    // (indicator, level, area, period) → variable
    let mut cell: BTreeMap<(String, usize, usize, String), usize> = BTreeMap::new();
    let counts: Vec<_> = snap
        .indicators
        .iter()
        .filter(|i| i.def.numerator.points() == Some(layer.layer.id.as_str()) && !i.def.numerator.weighted())
        .collect();
    for ind in &counts {
        for (li, level) in snap.levels.iter().enumerate() {
            let truth = buurtmeter::indicators::evaluate(&ind.def, &layer.layer, &layer.assigned[li], None, &snap.levels, li).unwrap();
            // Public: the indicator API, CSV, every period of the level.
            let mut rows: Vec<String> = Vec::new();
            let mut head: Vec<String> = Vec::new();
            for period in &truth.periods {
                let (status, csv) = server.get(&format!("/indicators/{}?level={}&period={period}&format=csv", ind.def.id, level.id));
                assert_eq!(status, 200, "{csv}");
                let mut lines = csv.lines();
                head = lines.next().unwrap().split(',').map(str::to_string).collect();
                rows.extend(lines.map(str::to_string));
            }
            let col = |n: &str| head.iter().position(|h| h == n).unwrap();
            for line in &rows {
                let f: Vec<&str> = line.split(',').collect();
                let (code, period) = (f[col("area_code")], f[col("period")]);
                let area = level.by_code[code];
                let p = truth.period_index(period).unwrap();
                let t = truth.numerator[truth.index(area, p)].unwrap() as i64;
                let bounds = match f[col("numerator")].parse::<f64>() {
                    Ok(n) => support(table, n as i64),
                    Err(_) => (0, UNBOUNDED),
                };
                // The rate adds nothing: it must be the published count over the denominator.
                let v = a.var(t, bounds);
                cell.insert((ind.def.id.clone(), li, area, period.to_string()), v);
            }
        }
    }
    // Parents are the sums of their children.
    for ind in &counts {
        for (li, level) in snap.levels.iter().enumerate() {
            let Some(pi) = level.parent else { continue };
            let periods: Vec<String> = ind.per_level[li].periods.clone();
            for parent in 0..snap.levels[pi].areas.len() {
                for period in &periods {
                    let kids: Vec<usize> = (0..level.areas.len())
                        .filter(|&c| level.parent_area[c] == Some(parent as u32))
                        .filter_map(|c| cell.get(&(ind.def.id.clone(), li, c, period.clone())).copied())
                        .collect();
                    if let Some(&t) = cell.get(&(ind.def.id.clone(), pi, parent, period.clone())) {
                        a.eq(t, kids);
                    }
                }
            }
        }
    }
    // The whole layer is the sum of its categories (same period and dates).
    let categories = &layer.layer.categories;
    for total in counts.iter().filter(|i| i.def.numerator.categories().is_none()) {
        let parts: Vec<&&buurtmeter::snapshot::IndicatorResult> = counts
            .iter()
            .filter(|i| {
                i.def.period == total.def.period
                    && i.def.from == total.def.from
                    && i.def.to == total.def.to
                    && i.def.numerator.categories().is_some_and(|c| c.len() == 1)
            })
            .collect();
        let covered: std::collections::BTreeSet<&str> =
            parts.iter().flat_map(|i| i.def.numerator.categories().unwrap()).map(String::as_str).collect();
        if parts.is_empty() || covered.len() != categories.len() || parts.len() != categories.len() {
            continue;
        }
        for (li, level) in snap.levels.iter().enumerate() {
            for period in &total.per_level[li].periods {
                for area in 0..level.areas.len() {
                    let Some(&t) = cell.get(&(total.def.id.clone(), li, area, period.clone())) else { continue };
                    let ps: Vec<usize> =
                        parts.iter().filter_map(|i| cell.get(&(i.def.id.clone(), li, area, period.clone())).copied()).collect();
                    a.eq(t, ps);
                }
            }
        }
    }
    // Custom groups are the sums of their members.
    for ind in &counts {
        for (li, level) in snap.levels.iter().enumerate() {
            let Some(info) = &level.groups else { continue };
            let mi = snap.level_index(&info.member_level).unwrap();
            for (g, members) in info.members.iter().enumerate() {
                for period in &ind.per_level[li].periods {
                    let parts: Vec<usize> =
                        members.iter().filter_map(|&m| cell.get(&(ind.def.id.clone(), mi, m, period.clone())).copied()).collect();
                    if let Some(&t) = cell.get(&(ind.def.id.clone(), li, g, period.clone())) {
                        a.eq(t, parts);
                    }
                }
            }
        }
    }
    // Coarser periods are sums of finer ones, between indicators with the same filter.
    for coarse in &counts {
        for fine in &counts {
            if coarse.def.id == fine.def.id || coarse.def.numerator != fine.def.numerator || coarse.def.period == fine.def.period {
                continue;
            }
            for li in 0..snap.levels.len() {
                for cp in &coarse.per_level[li].periods {
                    let fps: Vec<&String> = fine.per_level[li].periods.iter().filter(|fp| contains(cp, fp)).collect();
                    if fps.is_empty() {
                        continue;
                    }
                    for area in 0..snap.levels[li].areas.len() {
                        let parts: Vec<usize> =
                            fps.iter().filter_map(|fp| cell.get(&(fine.def.id.clone(), li, area, (*fp).clone())).copied()).collect();
                        if let Some(&t) = cell.get(&(coarse.def.id.clone(), li, area, cp.clone())) {
                            a.eq(t, parts);
                        }
                    }
                }
            }
        }
    }
    // Grid cells of the layer's tiles at the three finest cell zooms it publishes (cells
    // 1/64 of a tile, never finer than the layer's `min_cell_m`, whose zoom is the
    // tileset's maxzoom), decoded by GDAL: every published cell, and for every published
    // cell the four cells it splits into at the next zoom (absent = published 0), with
    // cell = Σ its four children.
    let sums = weighted_sums(&mut a, &snap, &server, layer, table, &counts, &cell);
    eprintln!("{}: {sums} published weighted sums linked to the counts of the same records", project.name);
    let finest = snap.tiles.tilesets.iter().find(|t| t.id == layer.layer.id).expect("the layer's tileset").maxzoom;
    let grid_vars = grid_cells(&mut a, &server, layer, table, u32::from(finest));
    eprintln!("{}: {grid_vars} grid cells from the tiles", project.name);

    // The same attack against plain suppression (exact values, small counts withheld):
    // it must recover small counts, or the attack itself is too weak to mean anything.
    let mut naive = Attack { truth: a.truth.clone(), lo: vec![], hi: vec![], eqs: a.eqs.clone(), reals: vec![], rows: vec![] };
    for &t in &a.truth {
        let (lo, hi) = if (1..=js).contains(&t) { (0, UNBOUNDED) } else { (t, t) };
        naive.lo.push(lo);
        naive.hi.push(hi);
    }
    naive.propagate();
    let naive_recovered = (0..naive.truth.len()).filter(|&v| (1..=js).contains(&naive.truth[v]) && naive.lo[v] == naive.hi[v]).count();
    eprintln!("{}: against plain suppression the same attack pins {naive_recovered} small counts", project.name);
    assert!(naive_recovered > 0, "the attack recovers nothing even from plain suppression: it tests nothing");

    // The stronger attacker: every small cell minimised and maximised by a linear-program
    // solver (HiGHS) over all published values and equations at once. Checked first
    // against plain suppression, where it must pin small counts.
    let small: Vec<usize> = (0..a.truth.len()).filter(|&v| (1..=js).contains(&a.truth[v])).collect();
    let naive_lp = lp_bounds(&naive_lo_hi(&a, js), &a.eqs, &[], &[], &small);
    let naive_lp_pinned = naive_lp.iter().filter(|b| b.1).count();
    eprintln!("{}: against plain suppression the LP attack pins {naive_lp_pinned} of {} small counts", project.name, small.len());
    assert!(naive_lp_pinned > 0, "the LP attack recovers nothing even from plain suppression: it tests nothing");
    let started = std::time::Instant::now();
    let lp = lp_bounds(&(a.lo.clone(), a.hi.clone()), &a.eqs, &a.reals, &a.rows, &small);
    eprintln!("{}: LP attack solved in {:.1} s", project.name, started.elapsed().as_secs_f64());
    let mut lp_pinned = 0;
    for (&v, &(lo, pinned)) in small.iter().zip(&lp) {
        assert!(lo.is_none_or(|lo| lo <= a.truth[v]), "the LP lost the truth: the constraints are wrong");
        if pinned {
            lp_pinned += 1;
            eprintln!("LP pinned: true {} (published interval {}..{})", a.truth[v], a.lo[v], a.hi[v]);
        }
    }
    eprintln!(
        "{}: LP attack over {} cells, {} sums, {} equations and {} further rows: {lp_pinned} of {} small counts pinned",
        project.name,
        a.truth.len(),
        a.reals.len(),
        a.eqs.len(),
        a.rows.len(),
        small.len()
    );
    assert_eq!(lp_pinned, 0, "the LP attack pins small counts");

    let before: Vec<(i64, i64)> = a.lo.iter().copied().zip(a.hi.iter().copied()).collect();
    a.propagate();
    let mut tried = 0;
    let mut recovered = 0;
    let mut pinned = 0;
    for v in 0..a.truth.len() {
        assert!(a.lo[v] <= a.truth[v] && a.truth[v] <= a.hi[v], "propagation lost the truth: the constraints are wrong");
        let small = (1..=js).contains(&a.truth[v]);
        tried += usize::from(small);
        if a.lo[v] == a.hi[v] {
            pinned += 1;
            if small {
                recovered += 1;
                eprintln!("pinned: true {} from published interval {:?}", a.truth[v], before[v]);
            }
        }
    }
    eprintln!(
        "{}: {} equations, {} cells, {tried} with a true count in 1..={js}, {recovered} of them pinned; {pinned} cells pinned in all (zeros and exact values)",
        project.name,
        a.eqs.len(),
        a.truth.len()
    );
    (tried, recovered, a.truth.len(), pinned)
}

/// The weighted sums of the layer (every level and period, through the indicator API),
/// linked to the counts of the same records: the attacker is given more than the method
/// tells: each cell's noise scale (the larger of a tenth of its largest and its mean
/// weight), so a published sum ŝ bounds the true sum to ŝ ± D·scale; the smallest and
/// largest weight of the layer, so wmin·n ≤ S ≤ wmax·n for the count n of the same records
/// (where that holds: not for the one dominant record); parents are the sums of their
/// children. Returns the number of published sums.
fn weighted_sums(
    a: &mut Attack,
    snap: &Snapshot,
    server: &Server,
    layer: &buurtmeter::snapshot::JoinedLayer,
    table: &PTable,
    counts: &[&buurtmeter::snapshot::IndicatorResult],
    cell: &BTreeMap<(String, usize, usize, String), usize>,
) -> usize {
    let d = f64::from(table.params.max_deviation);
    let weights: Vec<f64> = layer.layer.weights.iter().flatten().copied().filter(|w| w.is_finite()).collect();
    let mut sorted = weights.clone();
    sorted.sort_by(f64::total_cmp);
    // The attacker's belief about one record's weight: the range of all but the largest.
    let (wmin, wmax) = (sorted.first().copied().unwrap_or(0.0), sorted.iter().rev().nth(1).copied().unwrap_or(0.0));
    let mut published = 0;
    for ind in snap.indicators.iter().filter(|i| i.def.numerator.points() == Some(layer.layer.id.as_str()) && i.def.numerator.weighted()) {
        let twin = counts.iter().find(|c| {
            c.def.period == ind.def.period
                && c.def.numerator.categories() == ind.def.numerator.categories()
                && c.def.from == ind.def.from
                && c.def.to == ind.def.to
        });
        let mut sum_of: BTreeMap<(usize, usize, String), usize> = BTreeMap::new();
        for (li, level) in snap.levels.iter().enumerate() {
            let truth = buurtmeter::indicators::evaluate(
                &ind.def,
                &layer.layer,
                &layer.assigned[li],
                layer.record_keys.as_deref(),
                &snap.levels,
                li,
            )
            .unwrap();
            let cells = truth.protection.as_ref().expect("a protected layer's cells");
            for period in &truth.periods {
                let (status, csv) = server.get(&format!("/indicators/{}?level={}&period={period}&format=csv", ind.def.id, level.id));
                assert_eq!(status, 200, "{csv}");
                let mut lines = csv.lines();
                let head: Vec<&str> = lines.next().unwrap().split(',').collect();
                let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
                for line in lines {
                    let f: Vec<&str> = line.split(',').collect();
                    let area = level.by_code[f[col("area_code")]];
                    let k = truth.index(area, truth.period_index(f[col("period")]).unwrap());
                    let s = truth.numerator[k].unwrap_or(0.0);
                    let n = cells.records[k];
                    let (lo, hi) = match f[col("numerator")].parse::<f64>() {
                        Ok(p) => {
                            published += 1;
                            let scale = (0.1 * cells.largest[k]).max(if n > 0 { s / n as f64 } else { 0.0 });
                            (p - d * scale - 0.5, p + d * scale + 0.5)
                        }
                        Err(_) => (0.0, f64::INFINITY),
                    };
                    assert!(lo <= s && s <= hi, "a published sum excludes its own truth: {s} not in {lo}..{hi}");
                    a.reals.push((s, lo, hi));
                    let v = a.reals.len() - 1;
                    sum_of.insert((li, area, period.clone()), v);
                    if let Some(&c) = twin.and_then(|t| cell.get(&(t.def.id.clone(), li, area, period.clone()))) {
                        let t = a.truth[c] as f64;
                        if s >= wmin * t {
                            a.rows.push((vec![(Unknown::Sum(v), 1.0), (Unknown::Count(c), -wmin)], 0.0, f64::INFINITY));
                        }
                        if s <= wmax * t {
                            a.rows.push((vec![(Unknown::Sum(v), 1.0), (Unknown::Count(c), -wmax)], f64::NEG_INFINITY, 0.0));
                        }
                    }
                }
            }
        }
        // Parents are the sums of their children.
        for (li, level) in snap.levels.iter().enumerate() {
            let Some(pi) = level.parent else { continue };
            for ((pl, parent, period), &t) in sum_of.iter().filter(|((l, _, _), _)| *l == pi) {
                let kids: Vec<usize> = (0..level.areas.len())
                    .filter(|&c| level.parent_area[c] == Some(*parent as u32))
                    .filter_map(|c| sum_of.get(&(li, c, period.clone())).copied())
                    .collect();
                let total: f64 = kids.iter().map(|&k| a.reals[k].0).sum();
                if !kids.is_empty() && (total - a.reals[t].0).abs() < 1e-6 * total.abs().max(1.0) && *pl == pi {
                    let mut terms = vec![(Unknown::Sum(t), 1.0)];
                    terms.extend(kids.iter().map(|&k| (Unknown::Sum(k), -1.0)));
                    a.rows.push((terms, 0.0, 0.0));
                }
            }
        }
    }
    let has_weighted =
        snap.indicators.iter().any(|i| i.def.numerator.points() == Some(layer.layer.id.as_str()) && i.def.numerator.weighted());
    assert!(!has_weighted || published > 0, "the layer has a weighted indicator but the attack found no published sum: it tests nothing");
    published
}

/// What plain suppression publishes: small counts withheld, every other value exact.
fn naive_lo_hi(a: &Attack, js: i64) -> (Vec<i64>, Vec<i64>) {
    a.truth.iter().map(|&t| if (1..=js).contains(&t) { (0, UNBOUNDED) } else { (t, t) }).unzip()
}

/// What HiGHS proves about each target from the published bounds and the equations
/// (tests/reference/lp_attack.py): its smallest integer value where solved, and whether
/// it is pinned to one value.
fn lp_bounds(
    (lo, hi): &(Vec<i64>, Vec<i64>),
    eqs: &[(usize, Vec<usize>)],
    reals: &[(f64, f64, f64)],
    rows: &[Row],
    targets: &[usize],
) -> Vec<(Option<i64>, bool)> {
    use std::io::Write;
    let n = lo.len();
    let index = |u: &Unknown| match *u {
        Unknown::Count(i) => i,
        Unknown::Sum(k) => n + k,
    };
    let rows: Vec<serde_json::Value> =
        rows.iter().map(|(terms, l, h)| serde_json::json!([terms.iter().map(|(u, c)| (index(u), *c)).collect::<Vec<_>>(), l, h])).collect();
    let reals: Vec<(f64, f64)> = reals.iter().map(|r| (r.1, r.2)).collect();
    let input = serde_json::json!({ "lo": lo, "hi": hi, "eqs": eqs, "reals": reals, "rows": rows, "targets": targets });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/lp_attack.py");
    let result = tempfile::NamedTempFile::new().unwrap();
    // BUURTMETER_LP_INPUT=dir keeps the LP of each attack there, for a look with HiGHS.
    if let Ok(dir) = std::env::var("BUURTMETER_LP_INPUT") {
        let name = format!("lp-{}-{}.json", std::process::id(), targets.len());
        std::fs::write(Path::new(&dir).join(name), input.to_string()).unwrap();
    }
    let mut child = std::process::Command::new(reference_python())
        .arg(script)
        .arg(result.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run the LP attack");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "the LP attack failed");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(result.path()).unwrap()).unwrap();
    v["bounds"].as_array().unwrap().iter().map(|b| (b["lo"].as_i64(), b["pinned"].as_bool().unwrap())).collect()
}

/// World cell (x, y) at cell zoom `c` of EPSG:3857 metres (28-bit world grid, as the tiles).
fn world_cell(mx: f64, my: f64, c: u32) -> (u32, u32) {
    let (wx, wy) = buurtmeter::tiles::grid::to_world(buurtmeter::tiles::grid::MAX_ZOOM, mx, my);
    let max = ((1u64 << 28) - 1) as f64;
    let (wx, wy) = (wx.floor().clamp(0.0, max) as u32, wy.floor().clamp(0.0, max) as u32);
    (wx >> (28 - c), wy >> (28 - c))
}

fn grid_cells(a: &mut Attack, server: &Server, layer: &buurtmeter::snapshot::JoinedLayer, table: &PTable, finest: u32) -> usize {
    use gdal::vector::LayerAccess;
    let merc: Vec<(f64, f64)> = layer.lonlat.iter().map(|p| buurtmeter::crs::lonlat_to_web_mercator(p[0], p[1])).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut vars: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
    let mut published: BTreeMap<(u32, u32, u32), i64> = BTreeMap::new();
    // Tile zooms whose cells are at cell zooms finest − 2, finest − 1 and finest.
    let zooms: Vec<u32> = (finest.saturating_sub(8)..=finest.saturating_sub(6)).collect();
    for &z in &zooms {
        let c = z + 6;
        let tiles: std::collections::BTreeSet<(u32, u32)> = merc.iter().map(|&(x, y)| world_cell(x, y, z)).collect();
        for (x, y) in tiles {
            let d = dir.path().join(z.to_string()).join(x.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let f = d.join(format!("{y}.mvt"));
            if server.get_bytes(&format!("/tiles/{}/{z}/{x}/{y}.mvt", layer.layer.id), &f) != 200
                || std::fs::metadata(&f).map_or(0, |m| m.len()) == 0
            {
                continue;
            }
            let ds = gdal::Dataset::open(&f).unwrap();
            let mut l = ds.layer_by_name(&layer.layer.id).unwrap();
            for feat in l.features() {
                let (mx, my, _) = feat.geometry().unwrap().get_point(0);
                let i = feat.field_index("count").expect("a protected cell shows its count");
                let n = feat.field_as_integer64(i).ok().flatten().expect("a protected cell shows its count");
                published.insert((c, world_cell(mx, my, c).0, world_cell(mx, my, c).1), n);
            }
        }
    }
    let truth = |c: u32, x: u32, y: u32| merc.iter().filter(|&&(mx, my)| world_cell(mx, my, c) == (x, y)).count() as i64;
    let mut var_of = |a: &mut Attack, key: (u32, u32, u32)| -> usize {
        *vars.entry(key).or_insert_with(|| a.var(truth(key.0, key.1, key.2), support(table, *published.get(&key).unwrap_or(&0))))
    };
    let parents: Vec<(u32, u32, u32)> = published.keys().copied().filter(|k| k.0 < zooms[zooms.len() - 1] + 6).collect();
    for (c, x, y) in parents {
        let t = var_of(a, (c, x, y));
        let kids: Vec<usize> = [(0, 0), (1, 0), (0, 1), (1, 1)].iter().map(|(dx, dy)| var_of(a, (c + 1, 2 * x + dx, 2 * y + dy))).collect();
        a.eq(t, kids);
    }
    vars.len()
}

#[test]
fn the_attack_recovers_no_small_count_of_the_demo() {
    let (tried, recovered, cells, _) = attack(&demo_project(), &[]);
    assert!(cells > 1000 && tried > 100, "the attack had something to try: {cells} cells, {tried} small");
    assert_eq!(recovered, 0, "small counts pinned to their true value");
}

/// The demo with custom groups of wijken (one of a single wijk, whose count then equals
/// its member's, and groups that differ by one wijk, the classic differencing attack):
/// groups are more equations for the attack, and must give it nothing.
#[test]
fn the_attack_recovers_no_small_count_through_custom_groups() {
    let data = demo_project().parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo_project()).unwrap().replace("path = \"", &format!("path = \"{}/", data.display()));
    let groups = "\n[[groups]]\nid = \"noord\"\ntitle = \"Noord\"\nlevel = \"wijken\"\nmembers = [\"WK999900\", \"WK999901\", \"WK999902\"]\n\n[[groups]]\nid = \"oost\"\nlevel = \"wijken\"\nmembers = [\"WK999903\"]\n\n[[groups]]\nid = \"buurten_a\"\nlevel = \"buurten\"\nmembers = [\"BU99990000\", \"BU99990100\"]\n\n[[groups]]\nid = \"buurten_b\"\nlevel = \"buurten\"\nmembers = [\"BU99990101\"]\n";
    let project = dir.path().join("project.toml");
    std::fs::write(&project, text + groups).unwrap();
    let (tried, recovered, cells, _) = attack(&project, &[]);
    assert!(cells > 1000 && tried > 100, "the attack had something to try: {cells} cells, {tried} small");
    assert_eq!(recovered, 0, "small counts pinned to their true value through the groups");
}

/// A project made to be hard for the protection.
fn hard_project(dir: &Path) -> std::path::PathBuf {
    let data = demo_project().parent().unwrap().to_path_buf();
    for f in ["demodorp.gpkg", "kerncijfers_demodorp.csv", "wateroverlast_demodorp.csv"] {
        std::fs::copy(data.join(f), dir.join(f)).unwrap();
    }
    register(&dir.join("meldingen.csv"), 450, [188_500.0, 318_000.0, 197_500.0, 327_000.0]);
    let mut toml = String::from(
        r#"name = "Aanvalsproject"
[[levels]]
id = "buurten"
path = "demodorp.gpkg"
layer = "buurten"
[[levels]]
id = "wijken"
path = "demodorp.gpkg"
layer = "wijken"
[[statistics]]
path = "kerncijfers_demodorp.csv"
[[points]]
id = "partner"
path = "wateroverlast_demodorp.csv"
lon = "lon"
lat = "lat"
access = "restricted"
min_count = 5
"#,
    );
    toml.push_str(&protected_layer("meldingen.csv", "aantal_inwoners"));
    toml.push_str("[[indicators]]\nid = \"partner_n\"\ntitle = \"partner\"\nnumerator = { points = \"partner\" }\nperiod = \"year\"\n");
    let p = dir.join("aanval.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

/// A register of `n` reports in `bbox` (RD New): few per area (many counts of 1 and 2),
/// three categories, two years, one record with a weight that dominates every sum.
fn register(path: &Path, n: usize, bbox: [f64; 4]) {
    let mut rows = vec!["id;x;y;datum;soort;liters".to_string()];
    let mut seed = 11u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let cats = ["kelder", "straat", "tuin"];
    for i in 0..n {
        let (x, y) = (bbox[0] + rnd() * (bbox[2] - bbox[0]), bbox[1] + rnd() * (bbox[3] - bbox[1]));
        let date = format!("{}-{:02}-{:02}", 2023 + (i % 2), 1 + (rnd() * 12.0) as u32 % 12, 1 + (rnd() * 27.0) as u32);
        let liters = if i == 7 { 100_000.0 } else { 10.0 + (rnd() * 50.0).round() };
        rows.push(format!("M{i:04};{x:.1};{y:.1};{date};{};{liters}", cats[i % 3]));
    }
    std::fs::write(path, rows.join("\n") + "\n").unwrap();
}

/// The protected layer `meldingen` from `path` (`min_count = 3`) with every indicator an
/// analyst could ask for: all, year, quarter and month, each category and all together,
/// a rate on `inhabitants`, a weighted sum, so that many linked tables are published.
fn protected_layer(path: &str, inhabitants: &str) -> String {
    let mut toml = format!(
        "[[points]]\nid = \"meldingen\"\npath = \"{path}\"\nx = \"x\"\ny = \"y\"\ndate = \"datum\"\ncategory = \"soort\"\nweight = \"liters\"\nid_column = \"id\"\nmin_count = 3\n"
    );
    let mut n = 0;
    for period in ["all", "year", "quarter", "month"] {
        for cats in [None, Some("kelder"), Some("straat"), Some("tuin")] {
            n += 1;
            let filter = cats.map(|c| format!(", categories = [\"{c}\"]")).unwrap_or_default();
            toml.push_str(&format!(
                "[[indicators]]\nid = \"i{n}\"\ntitle = \"{period} {}\"\nnumerator = {{ points = \"meldingen\"{filter} }}\nperiod = \"{period}\"\n",
                cats.unwrap_or("alle")
            ));
        }
    }
    toml.push_str(&format!("[[indicators]]\nid = \"rate\"\ntitle = \"per 1000\"\nnumerator = {{ points = \"meldingen\" }}\ndenominator = \"{inhabitants}\"\nscale = 1000\nperiod = \"year\"\nmin_denominator = 50\n"));
    toml.push_str(
        "[[indicators]]\nid = \"liters\"\ntitle = \"liters\"\nnumerator = { points = \"meldingen\", weighted = true }\nperiod = \"year\"\n",
    );
    toml
}

/// The LP attack on the real Heerlen example (57 CBS buurten, the wijken and the
/// gemeente, the CBS statistics) with a protected register of 749 reports in Heerlen.
#[test]
fn the_attack_recovers_no_small_count_on_the_real_heerlen_buurten() {
    if shared_data("heerlen_buurten_2023/heerlen_buurten_2023.gpkg").is_none() {
        return;
    }
    let reg = tempfile::tempdir().unwrap();
    let csv = reg.path().join("meldingen.csv");
    register(&csv, 749, [190_737.0, 314_476.0, 200_044.0, 327_572.0]);
    let layer = protected_layer(&csv.display().to_string(), "InwonersVanaf15Jaar_13");
    let (_dir, p) = example_copy("heerlen", |t| t + "\n" + &layer);
    let env = [("BUURTMETER_SDC_SECRET", "attack-suite-secret")];
    let (tried, recovered, cells, _) = attack(&p, &env);
    assert!(cells > 5000 && tried > 300, "the attack had something to try: {cells} cells, {tried} small");
    assert_eq!(recovered, 0, "small counts pinned to their true value");
}

#[test]
fn the_attack_recovers_no_small_count_of_a_hard_project() {
    let dir = tempfile::tempdir().unwrap();
    let p = hard_project(dir.path());
    let env = [("BUURTMETER_SDC_SECRET", "attack-suite-secret")];
    let (tried, recovered, cells, _) = attack(&p, &env);
    assert!(cells > 5000 && tried > 300, "the attack had something to try: {cells} cells, {tried} small");
    assert_eq!(recovered, 0, "small counts pinned to their true value");

    // The dominant contributor's sum is never published; the restricted layer is absent.
    let project = Project::load(&p).unwrap();
    let snap = snapshot::build(&project).unwrap();
    let liters = snap.indicator("liters").unwrap();
    for n in liters.per_level.iter().flat_map(|v| v.numerator.iter().flatten()) {
        assert!(*n < 80_000.0, "a sum dominated by one record published: {n}");
    }
    let dominated = liters.per_level.iter().flat_map(|v| v.suppressed.iter()).filter(|s| s.is_some_and(|s| s.key() == "protected")).count();
    assert!(dominated > 0, "cells with the dominant contributor are withheld");
    let server = Server::start_with_env(&["--project", p.to_str().unwrap(), "--watch-seconds", "0"], &env);
    for level in ["buurten", "wijken"] {
        let (_, csv) = server.get(&format!("/indicators/liters?level={level}&format=csv"));
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let Ok(x) = f[5].parse::<f64>() {
                assert!(x < 80_000.0, "a sum dominated by one record published: {line}");
            }
        }
    }
    assert_eq!(server.get("/indicators/partner_n").0, 404);
}

/// The hard project with the European grid beside the buurten and wijken: 1 km cells are
/// more tables over the same records that nest in nothing the areas publish (the classic
/// differencing of overlapping geographies). The attack pins no small count. (Finer
/// cells than `min_cell_m` are withheld whole: `tests/grid.rs`.)
#[test]
fn the_attack_recovers_no_small_count_through_grid_cells() {
    let dir = tempfile::tempdir().unwrap();
    let p = hard_project(dir.path());
    let text = std::fs::read_to_string(&p).unwrap();
    let grids = "[[levels]]\nid = \"raster_1km\"\ngrid = { size = 1000 }\n";
    // The grid levels go with the other levels, before the statistics.
    std::fs::write(&p, text.replacen("[[statistics]]", &format!("{grids}[[statistics]]"), 1)).unwrap();
    let env = [("BUURTMETER_SDC_SECRET", "attack-suite-secret")];
    let (tried, recovered, cells, _) = attack(&p, &env);
    assert!(cells > 5000 && tried > 300, "the attack had something to try: {cells} cells, {tried} small");
    assert_eq!(recovered, 0, "small counts pinned to their true value through the grid");
}
