//! The JSON bodies of the indicator API (`/indicators…`, `/weights/{level}`,
//! `/areas/{level}/{code}`) and of its errors, as types. Handlers build these and serialise
//! them; the OpenAPI document (`openapi.rs`) is derived from the same types, so what it
//! describes is what is sent.
//!
//! A field that is `null` in a response is an `Option` marked `#[schema(required)]`; a
//! field that may be left out is an `Option` with `skip_serializing_if` (not required).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::indicators::{LevelValues, trend};

/// An RFC 9457 problem document: the body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status's reason phrase (`Not Found`).
    pub title: &'static str,
    pub status: u16,
    /// What went wrong, and what to give instead.
    pub detail: String,
}

impl Problem {
    pub(crate) fn new(status: axum::http::StatusCode, detail: String) -> Problem {
        Problem { kind: "about:blank", title: status.canonical_reason().unwrap_or("error"), status: status.as_u16(), detail }
    }
}

/// A link (`rel`, `href`, and for another format its `type`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Link {
    pub rel: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'static str>,
    pub href: String,
}

/// An area by its code and name.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AreaRef {
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------
// /indicators

/// `/indicators`: every indicator this caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorList {
    pub project: String,
    /// Changes whenever the public inputs or the project change.
    pub data_version: String,
    pub indicators: Vec<IndicatorMeta>,
}

/// An indicator: what it counts and divides by, its periods per level, its disclosure
/// control and its source.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorMeta {
    pub id: String,
    pub title: String,
    #[schema(required)]
    pub description: Option<String>,
    #[schema(required)]
    pub unit: Option<String>,
    pub definition: Definition,
    /// How the indicator splits time.
    #[schema(example = "year")]
    pub period: PeriodKind,
    /// The hot-spot settings of the project file (the defaults of `/indicators/{id}/hotspots`).
    #[schema(required)]
    pub hotspots: Option<HotspotSettings>,
    pub disclosure: Disclosure,
    /// The periods of the first level.
    pub periods: Vec<String>,
    pub source: Source,
    pub levels: Vec<LevelMeta>,
    pub links: Vec<Link>,
}

/// How an indicator splits time.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PeriodKind {
    All,
    Year,
    Quarter,
    Month,
}

impl From<crate::indicators::PeriodKind> for PeriodKind {
    fn from(k: crate::indicators::PeriodKind) -> PeriodKind {
        use crate::indicators::PeriodKind as K;
        match k {
            K::All => PeriodKind::All,
            K::Year => PeriodKind::Year,
            K::Quarter => PeriodKind::Quarter,
            K::Month => PeriodKind::Month,
        }
    }
}

/// numerator / denominator × scale.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Definition {
    /// The definition in words (Dutch).
    pub text: String,
    pub numerator: NumeratorDef,
    /// `land_km2`, a statistic's name, or null for a count.
    #[schema(required)]
    pub denominator: Option<String>,
    pub numerator_label: String,
    #[schema(required)]
    pub denominator_label: Option<String>,
    pub scale: f64,
}

/// What is counted: a point layer's points (in some categories, or their weights), or a
/// statistic; `from`/`to` bound the dates counted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NumeratorDef {
    #[schema(required)]
    pub points: Option<String>,
    #[schema(required)]
    pub statistic: Option<String>,
    #[schema(required)]
    pub categories: Option<Vec<String>>,
    pub weighted: bool,
    #[schema(required)]
    pub from: Option<String>,
    #[schema(required)]
    pub to: Option<String>,
}

/// An indicator's hot-spot settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HotspotSettings {
    #[schema(example = "local_moran")]
    pub method: &'static str,
    #[schema(example = "queen")]
    pub weights: &'static str,
    /// For `knn` weights.
    #[schema(required)]
    pub k: Option<usize>,
    /// For `distance` weights, in metres.
    #[schema(required)]
    pub threshold: Option<f64>,
    pub permutations: usize,
    pub seed: u64,
    pub alpha: f64,
    pub fdr: bool,
    pub eb: bool,
}

/// The disclosure control of an indicator: the cell-key method (protected layers), the
/// rules of the project file, or, for a statistic its sources already protected, their
/// rules.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Disclosure {
    CellKey(CellKeyDisclosure),
    Rules(DisclosureRules),
    Source(SourceDisclosure),
}

/// A statistic numerator its sources protected (`[[statistics]] protected`): buurtmeter
/// does not protect it again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceDisclosure {
    #[schema(example = "source")]
    pub method: &'static str,
    /// Per level that has the statistic: where it came from and the source's rule.
    pub sources: Vec<ProtectedSource>,
    /// No rate where the denominator is below this (a rule for rates, not a protection).
    #[schema(required)]
    pub min_denominator: Option<f64>,
    pub note: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProtectedSource {
    pub level: String,
    /// The file and column, as in `levels[].numerator_source`.
    #[schema(required)]
    pub source: Option<String>,
    #[schema(example = "Zensus 2022: cell-key method (Destatis)")]
    pub rule: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CellKeyDisclosure {
    #[schema(example = "cell-key")]
    pub method: &'static str,
    /// The variance of the perturbation.
    pub variance: f64,
    pub smallest_published_count: u64,
    #[schema(required)]
    pub min_denominator: Option<f64>,
    pub note: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosureRules {
    #[schema(required)]
    pub min_count: Option<f64>,
    #[schema(required)]
    pub round_to: Option<f64>,
    #[schema(required)]
    pub min_denominator: Option<f64>,
}

/// What was counted (no file paths on a public endpoint: the layer's title says it).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Source {
    #[schema(required)]
    pub points: Option<String>,
    #[schema(required)]
    pub points_title: Option<String>,
    #[schema(required)]
    pub attribution: Option<String>,
}

/// An indicator at one level: its periods and where its numerator and denominator came from.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LevelMeta {
    pub level: String,
    pub periods: Vec<String>,
    #[schema(required)]
    pub numerator_source: Option<String>,
    #[schema(required)]
    pub denominator_source: Option<String>,
    /// Per period, the period of the denominator used.
    pub denominator_periods: Vec<Option<String>>,
    /// Cells converted from other boundaries.
    pub converted_cells: usize,
}

/// `/indicators/{id}` as JSON: every area's values in one period, or (with `area=`) one
/// area's series.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum IndicatorJson {
    Values(Box<IndicatorValues>),
    Series(Box<IndicatorSeries>),
}

/// Every area's values in one period.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorValues {
    pub indicator: IndicatorMeta,
    pub level: String,
    /// Null when the indicator has no periods.
    #[schema(required)]
    pub period: Option<String>,
    #[schema(required)]
    pub denominator_period: Option<String>,
    pub values: Vec<AreaValue>,
}

/// One area's value in one period. A withheld value is null, and `suppressed` says why.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AreaValue {
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
    #[schema(required)]
    pub numerator: Option<f64>,
    #[schema(required)]
    pub denominator: Option<f64>,
    #[schema(required)]
    pub value: Option<f64>,
    /// `protected` or `small_denominator`.
    #[schema(required)]
    pub suppressed: Option<&'static str>,
    /// Converted from other boundaries (CBS: *berekend*).
    pub converted: bool,
}

/// One area's values over every period, with its trend.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorSeries {
    pub indicator: IndicatorMeta,
    pub level: String,
    pub area: AreaRef,
    pub series: Vec<SeriesValue>,
    pub trend: Trend,
    pub trend_method: TrendMethod,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeriesValue {
    pub period: String,
    #[schema(required)]
    pub numerator: Option<f64>,
    #[schema(required)]
    pub denominator: Option<f64>,
    #[schema(required)]
    pub denominator_period: Option<String>,
    #[schema(required)]
    pub value: Option<f64>,
    #[schema(required)]
    pub suppressed: Option<&'static str>,
    pub converted: bool,
}

// ---------------------------------------------------------------------------------------
// Trends

/// One area's trend over the periods: Mann-Kendall and Sen's slope (present when `status`
/// is `ok`), and its change against earlier periods.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Trend {
    /// Published values in the series.
    pub values: usize,
    #[schema(required)]
    pub last_period: Option<String>,
    #[schema(required)]
    pub last_value: Option<f64>,
    /// Against the previous published value.
    #[schema(required)]
    pub change_previous: Option<Change>,
    /// Against the value `back` periods before the last.
    #[schema(required)]
    pub change_back: Option<Change>,
    pub status: TrendStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "rising")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction_nl: Option<&'static str>,
    /// Mann-Kendall S.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub var_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// Kendall's tau.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tau: Option<f64>,
    /// Sen's slope: change per period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slope: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intercept: Option<f64>,
}

/// `ok`; `protected`: too few values published because of disclosure control;
/// `insufficient`: too few values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TrendStatus {
    Ok,
    Protected,
    Insufficient,
}

/// A change since `from_period`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Change {
    pub from_period: String,
    pub change: f64,
}

impl Trend {
    /// The trend of area `a` in `v`, from the published values only.
    pub(crate) fn of(v: &LevelValues, a: usize, back: usize) -> Trend {
        let series: Vec<Option<f64>> = (0..v.periods.len()).map(|p| v.value[v.index(a, p)]).collect();
        let published = series.iter().flatten().count();
        let protected = (0..v.periods.len()).any(|p| v.suppressed[v.index(a, p)].is_some_and(|s| s.key() == "protected"));
        let change = |n: usize| trend::change(&series, n).map(|(from, d)| Change { from_period: v.periods[from].clone(), change: d });
        let last = series.iter().rposition(Option::is_some);
        let mut out = Trend {
            values: published,
            last_period: last.map(|p| v.periods[p].clone()),
            last_value: last.and_then(|p| series[p]),
            change_previous: change(1),
            change_back: change(back),
            status: TrendStatus::Insufficient,
            direction: None,
            direction_nl: None,
            s: None,
            var_s: None,
            z: None,
            p: None,
            tau: None,
            slope: None,
            intercept: None,
        };
        match trend::mann_kendall(&series) {
            Some(t) => {
                out.status = TrendStatus::Ok;
                out.direction = Some(t.direction.key());
                out.direction_nl = Some(t.direction.dutch());
                (out.s, out.var_s, out.z, out.p) = (Some(t.s), Some(t.var_s), Some(t.z), Some(t.p));
                (out.tau, out.slope, out.intercept) = (Some(t.tau), Some(t.slope), Some(t.intercept));
            }
            None if protected && published < trend::MIN_VALUES && series.len() >= trend::MIN_VALUES => {
                out.status = TrendStatus::Protected;
            }
            None => {}
        }
        out
    }
}

/// How the trends were computed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrendMethod {
    pub test: &'static str,
    pub slope: &'static str,
    pub alpha: f64,
    pub min_values: usize,
    /// Periods back of `change_back`.
    pub back: usize,
    pub note: &'static str,
}

impl TrendMethod {
    pub(crate) fn new(back: usize) -> TrendMethod {
        TrendMethod {
            test: "Mann-Kendall (original test), two-sided",
            slope: "Sen's slope (Theil-Sen): the median change per period over all pairs of values",
            alpha: trend::ALPHA,
            min_values: trend::MIN_VALUES,
            back,
            note: "Computed from the published values only: protected and missing values take no part, so a trend reveals nothing that disclosure control hides. A trend needs at least min_values published values; 'protected' means that too few values are published because of disclosure control.",
        }
    }
}

/// `/indicators/{id}/trends`: every area's trend.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TrendsResponse {
    pub indicator: IndicatorMeta,
    pub level: String,
    pub periods: Vec<String>,
    pub method: TrendMethod,
    pub trends: Vec<AreaTrend>,
}

/// An area and its trend.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AreaTrend {
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub trend: Trend,
}

// ---------------------------------------------------------------------------------------
// Hot spots and weights

/// An indicator by its id, title and unit.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorRef<'a> {
    pub id: &'a str,
    pub title: &'a str,
    #[schema(required)]
    pub unit: Option<&'a str>,
}

/// `/indicators/{id}/hotspots` as JSON: one period's hot spots, or (`method=emerging`)
/// emerging hot spots over every period.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum HotspotsJson<'a> {
    Hotspots(HotspotResponse<'a>),
    Emerging(EmergingResponse<'a>),
}

/// One period's hot spots.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HotspotResponse<'a> {
    pub indicator: IndicatorRef<'a>,
    pub level: &'a str,
    pub period: &'a str,
    pub method: HotspotMethod<'a>,
    pub global_moran: GlobalMoran,
    pub areas: Vec<HotspotArea<'a>>,
}

/// How a hot-spot result was made: the statistic, the weights, the test.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HotspotMethod<'a> {
    #[schema(example = "local_moran")]
    pub statistic: &'static str,
    pub weights: WeightsUsed<'a>,
    pub permutations: usize,
    pub global_permutations: usize,
    pub seed: u64,
    pub alpha: f64,
    pub multiple_testing: &'static str,
    /// The p-value below which an area is significant.
    pub cutoff: f64,
    pub empirical_bayes: bool,
    pub values: &'static str,
    pub significance: &'static str,
    pub note: &'static str,
}

/// The weights of a hot-spot analysis.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WeightsUsed<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rule: String,
    pub row_standardised: bool,
    /// Areas analysed (with a published value).
    pub areas: usize,
    pub islands: Vec<&'a str>,
    pub components: usize,
}

/// Global Moran's I.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GlobalMoran {
    #[serde(rename = "I")]
    pub i: f64,
    pub expected: f64,
    pub z_norm: f64,
    pub p_norm: f64,
    /// Null without permutations.
    #[schema(required)]
    pub p_sim: Option<f64>,
}

/// One area of a hot-spot response (absent fields are left out; an area without a
/// published value has only its code and name, and `value: null`).
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct HotspotArea<'a> {
    pub code: &'a str,
    #[schema(required)]
    pub name: Option<&'a str>,
    #[schema(required)]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_i: Option<f64>,
    /// 1 high-high, 2 low-high, 3 low-low, 4 high-low.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quadrant: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub g: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_norm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_sim: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub significant: Option<bool>,
    #[schema(required, example = "high_high")]
    pub cluster: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_nl: Option<&'static str>,
}

/// Emerging hot spots: Gi* in every period and the trend of every area's z-scores.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmergingResponse<'a> {
    pub indicator: IndicatorRef<'a>,
    pub level: &'a str,
    pub periods: &'a [String],
    pub method: EmergingMethod,
    pub areas: Vec<EmergingArea<'a>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmergingMethod {
    #[schema(example = "emerging")]
    pub statistic: &'static str,
    pub per_period: &'static str,
    pub trend: &'static str,
    pub categories: &'static str,
    pub weights: WeightsRule,
    pub permutations: usize,
    pub seed: u64,
    pub alpha: f64,
    pub note: &'static str,
}

/// Which weights, in words.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WeightsRule {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub rule: String,
}

/// One area of emerging hot spots.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmergingArea<'a> {
    pub code: &'a str,
    #[schema(required)]
    pub name: Option<&'a str>,
    #[schema(example = "persistent")]
    pub category: &'static str,
    pub category_nl: &'static str,
    /// Per period: +1 a significant hot spot, −1 a cold spot, 0 neither.
    pub spots: Vec<i8>,
    /// Per period: the Gi* z-score, null without a published value.
    pub z: Vec<Option<f64>>,
}

/// `/weights/{level}` as JSON.
#[derive(Serialize, ToSchema)]
pub(crate) struct WeightsResponse<'a> {
    pub level: &'a str,
    #[serde(rename = "type")]
    #[schema(example = "queen")]
    pub kind: &'static str,
    pub tolerance: f64,
    pub rule: String,
    /// The interior points the point-based weights use (working CRS), to check them; null
    /// for contiguity.
    #[schema(required)]
    pub points: Option<BTreeMap<&'a str, Option<[f64; 2]>>>,
    pub areas: usize,
    pub islands: Vec<&'a str>,
    pub components: usize,
    pub component_sizes: Vec<usize>,
    /// Every area's neighbours, by code.
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub neighbours: ByCode<'a>,
}

/// Every area's neighbours as `{code: [code, …]}`, written from the lists (up to
/// millions of pairs), not copied into a map first.
pub(crate) struct ByCode<'a> {
    pub areas: &'a [crate::model::Area],
    pub lists: &'a [Vec<u32>],
}

impl Serialize for ByCode<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let code = |j: &u32| self.areas[*j as usize].code.as_str();
        s.collect_map(self.areas.iter().zip(self.lists).map(|(a, l)| (a.code.as_str(), l.iter().map(code).collect::<Vec<_>>())))
    }
}

// ---------------------------------------------------------------------------------------
// /areas/{level}/{code}

/// The area profile: every public indicator of one area, compared with its parent areas,
/// with all areas of its level and over time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Profile {
    pub project: String,
    pub data_version: String,
    pub area: ProfileArea,
    /// The areas above it, nearest first.
    pub parents: Vec<AreaAt>,
    pub indicators: Vec<ProfileIndicator>,
    pub comparison: Comparison,
    pub disclosure: &'static str,
    #[schema(required)]
    pub attribution: Option<String>,
    pub links: Vec<Link>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProfileArea {
    pub level: String,
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
    pub land_km2: f64,
}

/// An area of a level.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AreaAt {
    pub level: String,
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
}

/// How the profile compares.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Comparison {
    pub reference: &'static str,
    /// The z-score edges of the bands.
    pub band_edges_z: [f64; 4],
    pub bands: [&'static str; 5],
    pub rank: &'static str,
}

/// An indicator of the profile: the whole entry, or only its name where the indicator has
/// no period at this level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ProfileIndicator {
    Entry(Box<ProfileEntry>),
    NoPeriod(NoPeriod),
}

/// An indicator without periods at this level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoPeriod {
    pub id: String,
    pub title: String,
    #[schema(required)]
    pub unit: Option<String>,
    /// Always null.
    #[schema(required)]
    pub period: Option<String>,
    /// Always null.
    #[schema(required)]
    pub value: Option<f64>,
}

/// One indicator of an area in one period, compared.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProfileEntry {
    pub id: String,
    pub title: String,
    #[schema(required)]
    pub unit: Option<String>,
    pub definition: String,
    pub period: String,
    #[schema(required)]
    pub value: Option<f64>,
    #[schema(required)]
    pub numerator: Option<f64>,
    #[schema(required)]
    pub denominator: Option<f64>,
    #[schema(required)]
    pub denominator_period: Option<String>,
    #[schema(required)]
    pub denominator_source: Option<String>,
    #[schema(required)]
    pub suppressed: Option<&'static str>,
    pub converted: bool,
    /// The same indicator in the parent areas, nearest first.
    pub parents: Vec<Cell>,
    /// The same indicator in the custom groups the area is a member of.
    pub groups: Vec<Cell>,
    /// All published areas of the level together.
    #[schema(required)]
    pub level_reference: Option<LevelReference>,
    /// The z-score against `level_reference`.
    #[schema(required)]
    pub z: Option<f64>,
    #[schema(required, example = "about")]
    pub band: Option<&'static str>,
    #[schema(required)]
    pub band_nl: Option<&'static str>,
    /// Among all areas of the level.
    #[schema(required)]
    pub rank: Option<Rank>,
    /// Among the areas with the same parent.
    #[schema(required)]
    pub rank_siblings: Option<Rank>,
    /// Every period's value (indicators with more than one period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<PeriodValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}

/// A published value of another area (a parent or a group).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Cell {
    #[schema(required)]
    pub value: Option<f64>,
    #[schema(required)]
    pub suppressed: Option<&'static str>,
    pub level: String,
    pub code: String,
    #[schema(required)]
    pub name: Option<String>,
}

/// The weighted mean and standard deviation of the level's published values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LevelReference {
    pub level: String,
    pub value: f64,
    pub sd: f64,
    pub areas: usize,
}

/// 1 = highest value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rank {
    pub rank: usize,
    pub of: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodValue {
    pub period: String,
    #[schema(required)]
    pub value: Option<f64>,
}
