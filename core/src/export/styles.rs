//! Styles for every indicator: a MapLibre style (v8) over the tilesets, and a QGIS QML
//! graduated style for the GeoPackage / OGC API layers. Classes are quantiles of the
//! indicator's values over all periods at each level, so the legend stays put while the
//! period changes. Missing values get the no-data colour (MapLibre) or no symbol (QML).

use crate::export::escape_markup as xml_escape;
use serde_json::{Value, json};

use crate::snapshot::{IndicatorResult, Snapshot};

/// Colours for five classes, light to dark (ColorBrewer YlOrRd, colour-blind safe).
pub const PALETTE: [&str; 5] = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
pub const NO_DATA: &str = "#d4d4d4";
/// Cells withheld by disclosure control: darker than "no data", so the two read apart.
pub const PROTECTED: &str = "#8c96a0";

/// Class breaks: the lower bounds of classes 2..=5 (a value equal to a break belongs to
/// the class above it, as in MapLibre's `step`). Quantiles of the values, rounded to two
/// significant digits; strictly increasing and above the smallest value, so the style is
/// valid by construction. Few distinct values get one class each (none for a single
/// value, one break for two); when most values are equal (a level where nearly every
/// area has 0) the quantiles of the distinct values are used, so a handful of non-zero
/// areas still stand out.
pub fn quantile_breaks(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut distinct = v.clone();
    distinct.dedup();
    if distinct.len() <= PALETTE.len() {
        return distinct.into_iter().skip(1).collect();
    }
    let of = |sorted: &[f64]| -> Vec<f64> {
        let mut b: Vec<f64> =
            (1..PALETTE.len()).map(|k| sorted[(k * sorted.len() / PALETTE.len()).min(sorted.len() - 1)]).map(nice).collect();
        b.dedup();
        b.retain(|&x| x > sorted[0]);
        b
    };
    let breaks = of(&v);
    if breaks.len() >= 2 { breaks } else { of(&distinct) }
}

/// Round a break to 2 significant digits for a readable legend.
fn nice(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let m = 10f64.powf(x.abs().log10().floor() - 1.0);
    (x / m).round() * m
}

/// The zoom from which each level is shown (finest levels at higher zooms): where its
/// median area is about 32 px across at the data's latitude (small enough that a
/// municipal project opens on its wijken or buurten, not on one gemeente). The coarsest level shows
/// from zoom 0.
pub fn level_min_zooms(snap: &Snapshot) -> Vec<f64> {
    let lat = snap.tiles.tilesets.first().map_or(52.0, |t| (t.bounds[1] + t.bounds[3]) / 2.0);
    let mut zooms: Vec<f64> = snap
        .levels
        .iter()
        .map(|l| {
            let mut km2: Vec<f64> = l.areas.iter().map(|a| a.geometry_km2).filter(|x| *x > 0.0).collect();
            km2.sort_by(f64::total_cmp);
            let median = km2.get(km2.len() / 2).copied().unwrap_or(1.0);
            let side_km = median.sqrt();
            let px_per_km_z0 = 256.0 / (40_075.0 * lat.to_radians().cos());
            (32.0 / (px_per_km_z0 * side_km)).log2().clamp(0.0, 16.0)
        })
        .collect();
    // The coarsest level starts at 0; each finer level where it becomes legible. (Custom
    // groups are not on that ladder.)
    if let Some(coarsest) =
        zooms.iter().enumerate().filter(|(i, _)| snap.levels[*i].groups.is_none()).min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
    {
        zooms[coarsest] = 0.0;
    }
    let mut zooms: Vec<f64> = zooms.iter().map(|z| (z * 2.0).round() / 2.0).collect();
    // Each level on the ladder at least one zoom wide: levels of about the same size (a
    // city's districts beside 1 km cells) would otherwise leave one of them no zoom.
    let mut order: Vec<usize> = (0..zooms.len()).filter(|&i| snap.levels[i].groups.is_none()).collect();
    order.sort_by(|a, b| zooms[*a].total_cmp(&zooms[*b]));
    for k in 1..order.len() {
        zooms[order[k]] = zooms[order[k]].max(zooms[order[k - 1]] + 1.0);
    }
    zooms
}

/// Levels from coarse to fine with their zoom range [min, max).
pub fn level_zoom_ranges(snap: &Snapshot) -> Vec<(usize, f64, f64)> {
    let mins = level_min_zooms(snap);
    // Custom groups are served on their own, not on the zoom ladder.
    let mut order: Vec<usize> = (0..snap.levels.len()).filter(|&li| snap.levels[li].groups.is_none()).collect();
    order.sort_by(|a, b| mins[*a].total_cmp(&mins[*b]));
    order.iter().enumerate().map(|(k, &li)| (li, mins[li], order.get(k + 1).map_or(24.0, |&n| mins[n]))).collect()
}

/// The breaks of an indicator at one level.
pub fn breaks_for(ind: &IndicatorResult, level: usize) -> Vec<f64> {
    let values: Vec<f64> = ind.per_level[level].value.iter().flatten().copied().collect();
    quantile_breaks(&values)
}

/// The fill layers of one level: one per class, each with a filter on the value and a
/// plain colour, plus one for protected and one for missing values. Filters with
/// comparisons are what QGIS's style converter (3.22 and later) reads, where a `step` or
/// `case` colour expression is skipped; MapLibre draws the same thing.
fn class_layers(id: &str, level: &str, breaks: &[f64], min: f64, max: f64) -> Vec<Value> {
    let layer = |suffix: String, filter: Value, color: &str| {
        json!({
            "id": format!("{level}-fill-{suffix}"), "type": "fill", "source": level, "source-layer": level,
            "minzoom": min, "maxzoom": max, "filter": filter,
            "paint": {"fill-color": color, "fill-opacity": 0.85},
        })
    };
    let suppressed = format!("{id}_suppressed");
    let mut out = vec![
        layer("protected".into(), json!(["all", ["!has", id], ["has", suppressed]]), PROTECTED),
        layer("nodata".into(), json!(["all", ["!has", id], ["!has", suppressed]]), NO_DATA),
    ];
    if breaks.is_empty() {
        out.push(layer("0".into(), json!(["has", id]), PALETTE[PALETTE.len() / 2]));
        return out;
    }
    for k in 0..=breaks.len() {
        let mut all = vec![json!("all"), json!(["has", id])];
        if k > 0 {
            all.push(json!([">=", ["get", id], breaks[k - 1]]));
        }
        if k < breaks.len() {
            all.push(json!(["<", ["get", id], breaks[k]]));
        }
        out.push(layer(k.to_string(), Value::Array(all), PALETTE[k.min(PALETTE.len() - 1)]));
    }
    out
}

/// A MapLibre style for an indicator, with absolute TileJSON URLs under `base`.
pub fn maplibre_style(snap: &Snapshot, ind: &IndicatorResult, base: &str) -> Value {
    let mut sources = serde_json::Map::new();
    let mut layers = vec![json!({"id": "background", "type": "background", "paint": {"background-color": "#eef1f4"}})];
    let mut legend = Vec::new();
    for (li, min, max) in level_zoom_ranges(snap) {
        let level = &snap.levels[li];
        sources.insert(level.id.clone(), json!({"type": "vector", "url": format!("{base}/tiles/{}", level.id), "promoteId": null}));
        let breaks = breaks_for(ind, li);
        layers.extend(class_layers(&ind.def.id, &level.id, &breaks, min, max));
        layers.push(json!({
            "id": format!("{}-line", level.id), "type": "line", "source": level.id, "source-layer": level.id,
            "minzoom": min, "maxzoom": max,
            "paint": {"line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.4, 14, 1.5]},
        }));
        legend.push(json!({"level": level.id, "minzoom": min, "maxzoom": max, "breaks": breaks}));
    }
    // The coarsest level's outline on top at every zoom, for orientation.
    if let Some(&(coarsest, _, _)) = level_zoom_ranges(snap).first() {
        let id = &snap.levels[coarsest].id;
        layers.push(json!({
            "id": format!("{id}-outline"), "type": "line", "source": id, "source-layer": id,
            "paint": {"line-color": "#123c69", "line-width": ["interpolate", ["linear"], ["zoom"], 6, 0.8, 14, 2.5]},
        }));
    }
    let (west, south, east, north) =
        snap.tiles.tilesets.first().map_or((3.3, 50.7, 7.3, 53.6), |t| (t.bounds[0], t.bounds[1], t.bounds[2], t.bounds[3]));
    json!({
        "version": 8,
        "name": ind.def.title,
        "metadata": {
            "buurtmeter:indicator": ind.def.id,
            "buurtmeter:unit": ind.def.unit,
            "buurtmeter:palette": PALETTE,
            "buurtmeter:no_data": NO_DATA,
            "buurtmeter:protected": PROTECTED,
            "buurtmeter:legend": legend,
            "buurtmeter:data_version": snap.version,
            "buurtmeter:bounds": [west, south, east, north],
            "buurtmeter:basemap": snap.basemap,
        },
        "center": [(west + east) / 2.0, (south + north) / 2.0],
        "zoom": 11,
        "sources": sources,
        "layers": layers,
    })
}

fn rgb(hex: &str) -> String {
    let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
    format!("{},{},{},255", v(1), v(3), v(5))
}

fn label(x: f64) -> String {
    let s = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    };
    s.replace('.', ",")
}

/// A QGIS QML graduated style on the attribute named like the indicator, with the
/// classes of `level`.
pub fn qml_style(ind: &IndicatorResult, level: usize) -> String {
    let breaks = breaks_for(ind, level);
    let values: Vec<f64> = ind.per_level[level].value.iter().flatten().copied().collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi.max(lo)) } else { (0.0, 0.0) };
    let mut bounds = vec![lo];
    bounds.extend(breaks.iter().copied());
    bounds.push(hi.max(*bounds.last().unwrap_or(&lo)));
    let mut ranges = String::new();
    let mut symbols = String::new();
    for i in 0..bounds.len() - 1 {
        let unit = ind.def.unit.as_deref().unwrap_or("");
        ranges.push_str(&format!(
            "      <range lower=\"{}\" upper=\"{}\" symbol=\"{i}\" label=\"{} – {} {}\" render=\"true\"/>\n",
            bounds[i],
            bounds[i + 1],
            label(bounds[i]),
            label(bounds[i + 1]),
            xml_escape(unit)
        ));
        symbols.push_str(&format!(
            "      <symbol type=\"fill\" name=\"{i}\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n        <layer class=\"SimpleFill\" enabled=\"1\" pass=\"0\" locked=\"0\">\n          <prop k=\"color\" v=\"{}\"/>\n          <prop k=\"outline_color\" v=\"255,255,255,255\"/>\n          <prop k=\"outline_style\" v=\"solid\"/>\n          <prop k=\"outline_width\" v=\"0.26\"/>\n          <prop k=\"outline_width_unit\" v=\"MM\"/>\n          <prop k=\"style\" v=\"solid\"/>\n        </layer>\n      </symbol>\n",
            rgb(PALETTE[i.min(PALETTE.len() - 1)])
        ));
    }
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n  <renderer-v2 type=\"graduatedSymbol\" attr=\"{attr}\" graduatedMethod=\"GraduatedColor\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">\n    <ranges>\n{ranges}    </ranges>\n    <symbols>\n{symbols}    </symbols>\n    <classificationMethod id=\"Quantile\"/>\n  </renderer-v2>\n  <layerGeometryType>2</layerGeometryType>\n</qgis>\n",
        attr = xml_escape(&ind.def.id)
    )
}

/// The colours of the clusters, as the web map shows them (key, label, RGB).
const CLUSTERS: &[(&str, &str, &str)] = &[
    ("high_high", "hoog, omringd door hoog", "215,25,28"),
    ("low_low", "laag, omringd door laag", "44,123,182"),
    ("high_low", "hoog, omringd door laag", "253,174,97"),
    ("low_high", "laag, omringd door hoog", "171,217,233"),
    ("hot_spot", "hotspot", "215,25,28"),
    ("cold_spot", "coldspot", "44,123,182"),
    ("not_significant", "niet significant", "228,231,235"),
];

/// A QGIS categorised style on `<indicator>_hotspot` (the clusters in the area layers).
pub fn qml_hotspot_style(indicator: &str) -> String {
    let mut categories = String::new();
    let mut symbols = String::new();
    for (i, (key, label, rgb)) in CLUSTERS.iter().enumerate() {
        categories.push_str(&format!("      <category value=\"{key}\" symbol=\"{i}\" label=\"{label}\" render=\"true\"/>\n"));
        symbols.push_str(&format!(
            "      <symbol type=\"fill\" name=\"{i}\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">\n        <layer class=\"SimpleFill\" enabled=\"1\" pass=\"0\" locked=\"0\">\n          <prop k=\"color\" v=\"{rgb},255\"/>\n          <prop k=\"outline_color\" v=\"255,255,255,255\"/>\n          <prop k=\"outline_width\" v=\"0.26\"/>\n          <prop k=\"style\" v=\"solid\"/>\n        </layer>\n      </symbol>\n"
        ));
    }
    format!(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis version=\"3.22.0\" styleCategories=\"Symbology\">\n  <renderer-v2 type=\"categorizedSymbol\" attr=\"{attr}_hotspot\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">\n    <categories>\n{categories}    </categories>\n    <symbols>\n{symbols}    </symbols>\n  </renderer-v2>\n  <layerGeometryType>2</layerGeometryType>\n</qgis>\n",
        attr = xml_escape(indicator)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_breaks_are_increasing_and_inside_the_data() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let b = quantile_breaks(&v);
        assert_eq!(b, vec![21.0, 41.0, 61.0, 81.0]);
        assert!(quantile_breaks(&[3.0, 3.0, 3.0]).is_empty());
        assert!(quantile_breaks(&[]).is_empty());
        assert!(quantile_breaks(&[f64::NAN]).is_empty());
    }

    #[test]
    fn few_distinct_values_get_a_class_each() {
        assert_eq!(quantile_breaks(&[0.0, 0.0, 0.0, 7.0]), vec![7.0]);
        assert_eq!(quantile_breaks(&[0.0, 1.0, 2.0, 0.0, 2.0]), vec![1.0, 2.0]);
    }

    #[test]
    fn mostly_zero_levels_still_have_classes() {
        // 95 areas with 0, five with a value: the quantiles of the values are all 0.
        let mut v = vec![0.0; 95];
        v.extend([0.4, 1.3, 2.2, 5.1, 9.7, 12.0]);
        let b = quantile_breaks(&v);
        assert!(b.len() >= 2, "{b:?}");
        assert!(b.windows(2).all(|w| w[0] < w[1]) && b[0] > 0.0, "{b:?}");
    }
}
