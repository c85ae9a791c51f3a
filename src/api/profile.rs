//! The area profile: one area, every indicator, compared with its parent areas, with all
//! areas of its level (deviation band, rank) and over time (trend), as JSON for tools
//! ([`Profile`]) and as an HTML page for people rendered from the same value, which
//! `buurtmeter report` prints to PDF (through this server). Built from the published
//! values only (see `indicators::profile`).

use crate::export::escape_markup as esc;
use geo::BoundingRect;

use super::i18n::{Lang, ProfileText};
use super::views::{
    AreaAt, Cell, Comparison, LevelReference, Link, NoPeriod, PeriodValue, Profile, ProfileArea, ProfileEntry, ProfileIndicator, Rank,
    Trend, TrendStatus,
};
use crate::crs::lonlat_to_web_mercator as mercator;
use crate::indicators::LevelValues;
use crate::indicators::profile::{self, Band};
use crate::indicators::trend::default_back;
use crate::snapshot::{IndicatorResult, Snapshot};

/// The period index of `ind` at a level: `period` when given and known, else the latest.
fn period_of(v: &LevelValues, period: Option<&str>) -> Option<usize> {
    match period {
        Some(p) => v.period_index(p),
        None => v.periods.len().checked_sub(1),
    }
}

/// One indicator of the profile of area `a` of level `li`.
fn indicator_entry(snap: &Snapshot, ind: &IndicatorResult, li: usize, a: usize, period: Option<&str>) -> ProfileIndicator {
    let v = &ind.per_level[li];
    let d = &ind.def;
    let Some(p) = period_of(v, period) else {
        return ProfileIndicator::NoPeriod(NoPeriod {
            id: d.id.clone(),
            title: d.title.clone(),
            unit: d.unit.clone(),
            period: None,
            value: None,
        });
    };
    let k = v.index(a, p);
    let cell = |v: &LevelValues, a: usize, level: &str, area: &crate::model::Area| {
        let k = v.index(a, p);
        Cell {
            value: v.value[k],
            suppressed: v.suppressed[k].map(|s| s.key()),
            level: level.to_string(),
            code: area.code.clone(),
            name: area.name.clone(),
        }
    };
    let parents = snap
        .ancestors(li, a)
        .into_iter()
        .map(|(pl, pa)| cell(&ind.per_level[pl], pa, &snap.levels[pl].id, &snap.levels[pl].areas[pa]))
        .collect();
    // The custom groups this area is a member of (`[[groups]]` of its level).
    let groups = snap
        .levels
        .iter()
        .enumerate()
        .filter_map(|(gl, l)| l.groups.as_ref().filter(|g| g.member_level == snap.levels[li].id).map(|g| (gl, l, g)))
        .flat_map(|(gl, l, g)| {
            g.members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.contains(&a))
                .map(move |(gi, _)| cell(&ind.per_level[gl], gi, &l.id, &l.areas[gi]))
        })
        .collect();
    let all = profile::published(v, p);
    let reference = profile::reference(&all);
    let value = v.value[k];
    let z = value.zip(reference.as_ref()).and_then(|(x, r)| profile::z_score(x, r));
    let parent_of = |x: usize| snap.levels[li].parent_area.get(x).copied().flatten();
    let siblings: Vec<(usize, f64, f64)> = all.iter().copied().filter(|c| parent_of(c.0) == parent_of(a)).collect();
    let rank_all = profile::rank(&all, a);
    let rank_sib = profile::rank(&siblings, a).filter(|_| parent_of(a).is_some());
    let more = v.periods.len() > 1;
    ProfileIndicator::Entry(Box::new(ProfileEntry {
        id: d.id.clone(),
        title: d.title.clone(),
        unit: d.unit.clone(),
        definition: d.definition(),
        period: v.periods[p].clone(),
        value,
        numerator: v.numerator[k],
        denominator: v.denominator[k],
        denominator_period: v.denominator_periods.get(p).cloned().flatten(),
        denominator_source: v.denominator_source.clone(),
        suppressed: v.suppressed[k].map(|s| s.key()),
        converted: v.converted.get(k).copied().unwrap_or(false),
        parents,
        groups,
        level_reference: reference.map(|r| LevelReference { level: snap.levels[li].id.clone(), value: r.mean, sd: r.sd, areas: r.n }),
        z,
        band: z.map(|z| Band::of(z, &snap.band_edges).key()),
        band_nl: z.map(|z| Band::of(z, &snap.band_edges).dutch()),
        rank: rank_all.map(|(rank, of)| Rank { rank, of }),
        rank_siblings: rank_sib.map(|(rank, of)| Rank { rank, of }),
        series: more
            .then(|| (0..v.periods.len()).map(|q| PeriodValue { period: v.periods[q].clone(), value: v.value[v.index(a, q)] }).collect()),
        trend: more.then(|| Trend::of(v, a, default_back(d.period))),
    }))
}

/// The profile of area `a` of level `li`: public indicators only (restricted ones need a
/// key and are left out here), at `period` where an indicator has it, else at its latest.
pub(crate) fn profile(snap: &Snapshot, li: usize, a: usize, period: Option<&str>) -> Profile {
    let level = &snap.levels[li];
    let area = &level.areas[a];
    let parents = snap
        .ancestors(li, a)
        .into_iter()
        .map(|(pl, pa)| AreaAt {
            level: snap.levels[pl].id.clone(),
            code: snap.levels[pl].areas[pa].code.clone(),
            name: snap.levels[pl].areas[pa].name.clone(),
        })
        .collect();
    let indicators = snap.indicators.iter().filter(|i| !i.restricted).map(|i| indicator_entry(snap, i, li, a, period)).collect();
    Profile {
        project: snap.name.clone(),
        data_version: snap.version.clone(),
        area: ProfileArea { level: level.id.clone(), code: area.code.clone(), name: area.name.clone(), land_km2: area.geometry_km2 },
        parents,
        indicators,
        comparison: Comparison {
            reference: "the areas of the same level in the project, weighted by their denominators (the rate of them all together)",
            band_edges_z: snap.band_edges,
            bands: ["well_below", "below", "about", "above", "well_above"],
            rank: "1 = highest value; among all areas of the level and among the areas with the same parent",
        },
        disclosure: "Only published values are shown and compared: a protected value is marked 'protected' and takes no part in means, ranks or trends.",
        attribution: snap.attribution.clone(),
        links: vec![
            Link { rel: "self", media_type: None, href: format!("/areas/{}/{}?f=json", level.id, area.code) },
            Link { rel: "alternate", media_type: Some("text/html"), href: format!("/areas/{}/{}", level.id, area.code) },
        ],
    }
}

/// A value as a reader of `lang` writes it: `12,3`, `1.234` (nl, de), `1,234` (en), `—` for none.
fn num(x: Option<f64>, lang: Lang) -> String {
    match x {
        None => "—".into(),
        Some(x) => {
            let rounded = if x.abs() >= 100.0 { x.round() } else { (x * 10.0).round() / 10.0 };
            lang.number(rounded)
        }
    }
}

/// A published cell as text: the value, `afgeschermd` (in `lang`) or `—`.
fn shown(value: Option<f64>, suppressed: Option<&str>, lang: Lang) -> String {
    match (value, suppressed) {
        (Some(x), _) => num(Some(x), lang),
        (None, Some("small_denominator")) => lang.profile().not_computed.into(),
        (None, Some(_)) => lang.profile().protected.into(),
        (None, None) => "—".into(),
    }
}

/// The area and its surroundings at its level, as an SVG map (Web Mercator).
fn area_map(snap: &Snapshot, li: usize, a: usize, t: &ProfileText) -> String {
    let shapes = &snap.wgs84[li];
    let Some(r) = shapes[a].bounding_rect() else { return String::new() };
    let (w, h) = (r.width().max(1e-4), r.height().max(1e-4));
    let (x0, y0, x1, y1) = (r.min().x - w * 0.4, r.min().y - h * 0.4, r.max().x + w * 0.4, r.max().y + h * 0.4);
    let (mx0, my0) = mercator(x0, y0);
    let (mx1, my1) = mercator(x1, y1);
    let (vw, vh) = (360.0, 260.0);
    let scale = (vw / (mx1 - mx0)).min(vh / (my1 - my0));
    let (ox, oy) = ((vw - (mx1 - mx0) * scale) / 2.0, (vh - (my1 - my0) * scale) / 2.0);
    let to = |lon: f64, lat: f64| {
        let (x, y) = mercator(lon, lat);
        (ox + (x - mx0) * scale, vh - (oy + (y - my0) * scale))
    };
    let path = |mp: &geo_types::MultiPolygon<f64>| -> String {
        let mut d = String::new();
        for poly in &mp.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for (i, c) in ring.0.iter().enumerate() {
                    let (x, y) = to(c.x, c.y);
                    d.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" }));
                }
                d.push('Z');
            }
        }
        d
    };
    let mut svg = format!("<svg class=\"map\" viewBox=\"0 0 {vw} {vh}\" role=\"img\" aria-label=\"{}\">", t.map_label);
    for (i, mp) in shapes.iter().enumerate() {
        let Some(b) = mp.bounding_rect() else { continue };
        if i == a || b.max().x < x0 || b.min().x > x1 || b.max().y < y0 || b.min().y > y1 {
            continue;
        }
        svg.push_str(&format!("<path d=\"{}\" fill=\"#e3e7ec\" stroke=\"#ffffff\" stroke-width=\"1\"/>", path(mp)));
    }
    svg.push_str(&format!(
        "<path d=\"{}\" fill=\"#123c69\" fill-opacity=\"0.85\" stroke=\"#0b2542\" stroke-width=\"1.5\"/></svg>",
        path(&shapes[a])
    ));
    svg
}

/// One indicator's row of the profile table: value, parents, all areas, band, rank, trend.
fn indicator_row(ind: &ProfileIndicator, parent_code: &str, lang: Lang) -> String {
    let words = lang.profile();
    let e = match ind {
        ProfileIndicator::Entry(e) => e,
        ProfileIndicator::NoPeriod(n) => {
            return row_html(&n.title, n.unit.as_deref(), "", &shown(n.value, None, lang), None, "", "—", "none", "—", "—", "—");
        }
    };
    let parents_cells: String =
        e.parents.iter().chain(&e.groups).map(|p| format!("<td class=\"v\">{}</td>", shown(p.value, p.suppressed, lang))).collect();
    let rank_of = |rank: usize, of: usize| words.rank_of.replace("{rank}", &rank.to_string()).replace("{of}", &of.to_string());
    let rank = match (&e.rank, &e.rank_siblings) {
        (Some(r), s) => format!(
            "{}{}",
            rank_of(r.rank, r.of),
            match s {
                Some(s) => format!("<br><span class=\"muted\">{} {} {parent_code}</span>", rank_of(s.rank, s.of), words.within),
                None => String::new(),
            }
        ),
        (None, _) => "—".into(),
    };
    let trend = match &e.trend {
        Some(t) if t.status == TrendStatus::Ok => format!(
            "{} <span class=\"muted\">({} {})</span>",
            t.direction.map_or("", |d| words.direction(d)),
            num(t.slope, lang),
            words.per_period
        ),
        Some(t) if t.status == TrendStatus::Protected => words.protected.into(),
        Some(_) => words.too_few_values.into(),
        None => "—".into(),
    };
    row_html(
        &e.title,
        e.unit.as_deref(),
        &e.period,
        &shown(e.value, e.suppressed, lang),
        e.converted.then_some(words.converted),
        &parents_cells,
        &num(e.level_reference.as_ref().map(|r| r.value), lang),
        e.band.unwrap_or("none"),
        e.band.map_or("—", |b| words.band(b)),
        &rank,
        &trend,
    )
}

/// The cells of a row, in the order of the table's columns (`band` is a class name).
#[allow(clippy::too_many_arguments)]
fn row_html(
    title: &str,
    unit: Option<&str>,
    period: &str,
    value: &str,
    converted: Option<&str>,
    parents_cells: &str,
    level_value: &str,
    band: &str,
    band_words: &str,
    rank: &str,
    trend: &str,
) -> String {
    format!(
        "<tr><td><strong>{}</strong><br><span class=\"muted\">{} · {}</span></td><td class=\"v\"><strong>{value}</strong>{}</td>{parents_cells}<td class=\"v\">{level_value}</td><td><span class=\"band {band}\">{band_words}</span></td><td class=\"r\">{rank}</td><td>{trend}</td></tr>",
        esc(title),
        esc(unit.unwrap_or("")),
        esc(period),
        converted.map(|c| format!("<br><span class=\"muted\">{c}</span>")).unwrap_or_default(),
    )
}

const PROFILE_CSS: &str = r#"@page { size: A4; margin: 14mm 12mm; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933; max-width: 190mm; margin: 0 auto; padding: 8px; }
header { display: flex; justify-content: space-between; color: #52606d; border-bottom: 2px solid #123c69; padding-bottom: 4px; }
h1 { margin: 10px 0 0; font-size: 24px; color: #123c69; }
.sub, .muted { color: #616e7c; }
.top { display: flex; gap: 16px; align-items: flex-start; margin: 8px 0; }
svg.map { flex: none; width: 90mm; height: 65mm; background: #f5f7fa; border: 1px solid #d9e2ec; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 12px; }
col.ind { width: 27%; } col.band { width: 13%; } col.rank { width: 10%; } col.trend { width: 13%; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 4px 6px; vertical-align: top; text-align: left; overflow-wrap: anywhere; }
th { font-size: 11px; color: #52606d; font-weight: 600; }
td.v { text-align: right; white-space: nowrap; }
td.r { text-align: right; }
tr { break-inside: avoid; }
.band { display: inline-block; padding: 1px 6px; border-radius: 8px; font-size: 11px; white-space: nowrap; }
.band.well_below { background: #2166ac; color: white; } .band.below { background: #92c5de; }
.band.about { background: #e4e7eb; } .band.above { background: #f4a582; } .band.well_above { background: #b2182b; color: white; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
figure { margin: 0; break-inside: avoid; } figcaption { font-size: 12px; font-weight: 600; }
footer { margin-top: 10px; font-size: 11px; color: #52606d; border-top: 1px solid #d9e2ec; }
a { color: #123c69; }
@media print { .noprint { display: none; } }
.band { white-space: normal; }
"#;

/// Draws each series with uPlot (compiled into the binary) when the page has loaded. The
/// whole text between `<script>` and `</script>` of the page: the Content-Security-Policy
/// allows it by its hash (`web.rs`), so it is written nowhere else.
pub(crate) const PROFILE_SCRIPT: &str = r#"
var nf = new Intl.NumberFormat({ de: 'de-DE', en: 'en-GB' }[document.documentElement.lang] || 'nl-NL', { maximumFractionDigits: 2 });
document.querySelectorAll('.chart').forEach(function (el) {
  if (typeof uPlot === 'undefined') { return; }
  var s = JSON.parse(el.dataset.series);
  var xs = s.map(function (_, i) { return i; });
  var ys = s.map(function (c) { return typeof c.value === 'number' ? c.value : null; });
  new uPlot({ width: el.clientWidth || 320, height: 120, legend: { show: false }, scales: { x: { time: false } },
    axes: [{ values: function (u, t) { return t.map(function (i) { return s[i] ? String(s[i].period).slice(0, 4) : ''; }); }, space: 40 }, { size: 52, values: function (u, t) { return t.map(function (v) { return nf.format(v); }); } }],
    series: [{}, { stroke: '#123c69', width: 2, points: { size: 3 } }] }, [xs, ys], el);
});
window.buurtmeterProfileReady = true;
"#;

/// The profile as a page for people, in `lang`: one table of every indicator compared
/// with the parent areas and all areas of the level, a chart per series, the sources;
/// laid out for A4 when printed. The words are `lang`'s ([`ProfileText`]); titles, units,
/// names and definitions are the project's, escaped.
pub(crate) fn profile_html(snap: &Snapshot, li: usize, a: usize, j: &Profile, lang: Lang) -> String {
    let words = lang.profile();
    let level = &snap.levels[li];
    let area = &level.areas[a];
    let name = area.name.clone().unwrap_or_else(|| area.code.clone());
    let within: Vec<String> = j.parents.iter().map(|p| esc(p.name.as_deref().unwrap_or(&p.code))).collect();
    let parent_code = j.parents.first().map(|p| esc(&p.code)).unwrap_or_default();
    let mut rows = String::new();
    let mut charts = String::new();
    let mut sources = String::new();
    for ind in &j.indicators {
        rows.push_str(&indicator_row(ind, &parent_code, lang));
        let (title, definition, denominator_period) = match ind {
            ProfileIndicator::Entry(e) => (&e.title, e.definition.as_str(), e.denominator_period.as_deref()),
            ProfileIndicator::NoPeriod(n) => (&n.title, "", None),
        };
        if let ProfileIndicator::Entry(e) = ind
            && let Some(series) = &e.series
        {
            // Serialising plain numbers and strings cannot fail; an empty series draws nothing.
            let data = serde_json::to_string(series).unwrap_or_else(|_| "[]".into());
            charts.push_str(&format!(
                "<figure><figcaption>{} <span class=\"muted\">({})</span></figcaption><div class=\"chart\" data-series='{}'></div></figure>",
                esc(title),
                esc(e.unit.as_deref().unwrap_or("")),
                esc(&data).replace('\'', "&#39;")
            ));
        }
        sources.push_str(&format!(
            "<li><strong>{}</strong>: {}{}</li>",
            esc(title),
            esc(definition),
            denominator_period.map(|p| format!(" ({})", words.denominator_period.replace("{period}", &esc(p)))).unwrap_or_default()
        ));
    }
    // Columns: the parent areas, then the custom groups the area belongs to (as the first
    // indicator has them).
    let groups: &[Cell] = match j.indicators.first() {
        Some(ProfileIndicator::Entry(e)) => &e.groups,
        _ => &[],
    };
    let parent_heads: String = j
        .parents
        .iter()
        .map(|p| (p.name.as_deref(), &p.code))
        .chain(groups.iter().map(|g| (g.name.as_deref(), &g.code)))
        .map(|(name, code)| format!("<th>{}</th>", esc(name.unwrap_or(code))))
        .collect();
    let level_id = esc(&level.id);
    let parents_text = if within.is_empty() { String::new() } else { format!("{}, ", within.join(", ")) };
    let edges = snap.band_edges.iter().map(|e| lang.number(*e)).collect::<Vec<_>>().join(" / ");
    // Placeholders are filled in one pass each, the data last: a `{level}` in a name stays text.
    let intro = words.intro.replace("{level}", &level_id).replace("{parents}", &parents_text);
    let comparison_note = words.comparison_note.replace("{edges}", &edges).replace("{level}", &level_id);
    format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — {area_profile}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/uplot.css"><script src="/static/uplot.js"></script>
<style>
{PROFILE_CSS}</style></head><body>
<header><span>{project} · {area_profile}</span><span>{data_version} {version}</span></header>
<h1>{title}</h1>
<div class="sub">{code} · {level_id}{within}</div>
<div class="top">{map}<div><p>{intro}</p>
<p class="muted">{comparison_note}</p>
<p class="noprint"><a href="/?lang={lang}#level={level_id}&area={code}">{on_the_map}</a> · <a href="/areas/{level_id}/{code}?f=json">JSON</a></p></div></div>
<table><colgroup><col class="ind"><col>{parent_cols}<col><col class="band"><col class="rank"><col class="trend"></colgroup><thead><tr><th>{indicator}</th><th>{title}</th>{parent_heads}<th>{all_of_level}</th><th>{comparison}</th><th>{rank}</th><th>{trend}</th></tr></thead><tbody>
{rows}</tbody></table>
<section class="charts">{charts}</section>
<footer><p><strong>{sources_title}</strong></p><ul>{sources}</ul>
<p>{attribution}</p>
<p>{disclosure}</p></footer>
<script>{PROFILE_SCRIPT}</script>
</body></html>
"#,
        lang = lang.code(),
        title = esc(&name),
        area_profile = words.area_profile,
        data_version = words.data_version,
        PROFILE_CSS = PROFILE_CSS,
        PROFILE_SCRIPT = PROFILE_SCRIPT,
        project = esc(&snap.name),
        version = esc(&snap.version),
        code = esc(&area.code),
        within = if within.is_empty() { String::new() } else { format!(" · {} {}", words.within, within.join(", ")) },
        map = area_map(snap, li, a, words),
        on_the_map = words.on_the_map,
        indicator = words.indicator,
        all_of_level = words.all_of_level.replace("{level}", &level_id),
        comparison = words.comparison,
        rank = words.rank,
        trend = words.trend,
        sources_title = words.sources,
        disclosure = esc(words.disclosure),
        attribution = esc(snap.attribution.as_deref().unwrap_or("")),
        parent_cols = "<col>".repeat(j.parents.len() + groups.len()),
    )
}
