//! The project file (TOML): which areas, statistics and point layers to read, and which
//! indicators to compute. Paths are relative to the project file. Unknown keys are an
//! error, so a typo never silently does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::text::Encoding;
use crate::model::Date;
use crate::region::Region;

/// A project file that cannot be used: the file, and what is wrong at which key.
#[derive(Debug, thiserror::Error)]
#[error("project file {}: {message}", path.display())]
pub struct ProjectError {
    pub path: PathBuf,
    pub message: String,
}

impl ProjectError {
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> ProjectError {
        ProjectError { path: path.into(), message: message.into() }
    }
}

type Result<T, E = ProjectError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Attribution shown with every output (e.g. "Bron: CBS, gemeente Heerlen").
    #[serde(default)]
    pub attribution: Option<String>,
    /// The web map's background maps (XYZ raster URL templates), each used when the
    /// browser can reach it; the map works without any. Written as one
    /// `basemap = { url, attribution }` or as a list `basemaps = [{ id, title, url,
    /// attribution }, …]` (one per side of a border, say); both end up here, as a list.
    #[serde(default, deserialize_with = "one_basemap")]
    pub basemap: Option<Basemap>,
    /// `basemaps = [...]` as written: folded into `basemap` by `validate`.
    #[serde(default, rename = "basemaps")]
    basemap_list: Vec<BackgroundMap>,
    /// The working CRS; must be projected in metres.
    #[serde(default = "default_crs")]
    pub crs: String,
    /// The project's region: every level is limited to it unless the level sets its own
    /// `within`. CBS codes (`["GM0917"]`) or `"extent"` (the finest level's areas).
    #[serde(default)]
    pub region: Option<Region>,
    /// The time zone whose calendar dates count (`Europe/Amsterdam` when not given): a
    /// timestamp with `Z` or an offset is taken to it before its date is read; one
    /// without a zone is already local.
    #[serde(default = "default_timezone", deserialize_with = "timezone")]
    pub timezone: crate::ingest::TimeZone,
    #[serde(default, rename = "levels")]
    pub levels: Vec<LevelConfig>,
    #[serde(default, rename = "statistics")]
    pub statistics: Vec<StatisticsConfig>,
    #[serde(default, rename = "points")]
    pub points: Vec<PointsConfig>,
    #[serde(default, rename = "indicators")]
    pub indicators: Vec<IndicatorConfig>,
    /// The z-score edges of the profiles' deviation bands (well below / below / about /
    /// above / well above); default [-1.5, -0.5, 0.5, 1.5].
    #[serde(default)]
    pub band_edges: Option<[f64; 4]>,
    /// Custom groups of areas (`Heerlen-Noord` = a list of wijken).
    #[serde(default, rename = "groups")]
    pub groups: Vec<GroupConfig>,
    /// Counts of one level converted onto another (the grid onto gemeenten, wijken onto
    /// the grid), in the order given, after the statistics are attached.
    #[serde(default, rename = "conversions")]
    pub conversions: Vec<ConversionConfig>,
    /// The directory the project file is in (set on load).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The project file itself (set on load).
    #[serde(skip)]
    pub file: PathBuf,
}

/// The web map's background maps, the first shown by default, with a chooser in the map
/// where there are several. Written to the styles' metadata (`buurtmeter:basemap`) as
/// the list, which the web map reads.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
#[serde(transparent)]
pub struct Basemap {
    pub maps: Vec<BackgroundMap>,
}

/// One background map: `url` with `{z}`, `{x}` and `{y}` (PDOK's BRT-Achtergrondkaart:
/// `https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png`),
/// an `id` (for the map's link; `basemap-1`, … when not given) and a `title` for the
/// chooser (the URL's host when not given).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackgroundMap {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    pub url: String,
    #[serde(default)]
    pub attribution: Option<String>,
}

/// `basemap = { url, attribution }`: a list of one.
fn one_basemap<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Basemap>, D::Error> {
    Ok(Some(Basemap { maps: vec![BackgroundMap::deserialize(d)?] }))
}

fn default_crs() -> String {
    crate::crs::RD_NEW.to_string()
}

fn default_timezone() -> crate::ingest::TimeZone {
    crate::ingest::DEFAULT_TIMEZONE
}

fn timezone<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<crate::ingest::TimeZone, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<crate::ingest::TimeZone>()
        .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a time zone of the tz database (such as Europe/Amsterdam)")))
}

/// One area level, finest first (buurten, wijken, gemeenten).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelConfig {
    /// Used in URLs and file names: `buurten`, `wijken`, `gemeenten`, `postcodes`, ...
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// The boundaries file; or `source` instead (set to the downloaded file on resolving).
    #[serde(default)]
    pub path: PathBuf,
    /// Download the boundaries instead of `path`:
    /// `{ pdok = "wijken-en-buurten-2024", collection = "buurten" }`, limited to the region.
    #[serde(default)]
    pub source: Option<SourceConfig>,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub id_field: Option<String>,
    #[serde(default)]
    pub name_field: Option<String>,
    /// The level one up; for CBS levels found from the codes when not given.
    #[serde(default)]
    pub parent: Option<String>,
    /// `parent` as the index of that level in `Project::levels` (set on load).
    #[serde(skip)]
    pub parent_index: Option<usize>,
    /// Keep only the areas of this region (overrides the project's `region`).
    #[serde(default)]
    pub within: Option<Region>,
    /// Cells of the European grid instead of a boundaries file:
    /// `grid = { crs = "EPSG:3035", size = 1000, extent = [5.6, 50.65, 6.4, 51.05] }`.
    #[serde(default)]
    pub grid: Option<GridConfig>,
    /// The country of the level's areas (ISO 3166-1 alpha-2, `NL`, `DE`), shown with them.
    #[serde(default)]
    pub country: Option<String>,
    /// A level made of several files (`[[levels.parts]]`), each with its own path,
    /// layer, fields, CRS and country: NL gemeenten and German Gemeinden as one level.
    /// Instead of the level's own `path`, `layer`, `id_field`, `name_field`, `country`.
    #[serde(default)]
    pub parts: Vec<LevelPart>,
}

/// A level of cells of the European statistical grid (INSPIRE, EPSG:3035): made by
/// arithmetic, not read from a file (see [`crate::grid`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// The grid's CRS; only the European grid, `EPSG:3035`, for now.
    #[serde(default = "grid_crs")]
    pub crs: String,
    /// The cell size in metres: 100, 1000, 10000, ... (a multiple of 100).
    pub size: u32,
    /// `[lon0, lat0, lon1, lat1]` (WGS84): every cell of this box. Without it, the cells
    /// that touch an area of the project's other levels.
    #[serde(default)]
    pub extent: Option<[f64; 4]>,
}

fn grid_crs() -> String {
    crate::grid::GRID_CRS.to_string()
}

/// One file of a level of several (`[[levels.parts]]`). Codes stay as the file has them,
/// and must be unique across the parts.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelPart {
    pub path: PathBuf,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub id_field: Option<String>,
    #[serde(default)]
    pub name_field: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// This part's own region (`"all"`: not limited), instead of the level's: Aachen's
    /// districts (codes `10`–`66`, which no region code names) beside Parkstad's wijken.
    #[serde(default)]
    pub within: Option<Region>,
}

impl LevelConfig {
    /// The region this level is limited to, if any (`within = "all"`: none).
    pub fn region<'a>(&'a self, project: &'a Project) -> Option<&'a Region> {
        self.within.as_ref().or(project.region.as_ref()).filter(|r| !r.is_all())
    }

    /// The files the level is read from: its `parts`, or the one file of `path`.
    pub fn files(&self) -> Vec<LevelPart> {
        if !self.parts.is_empty() {
            return self.parts.clone();
        }
        vec![LevelPart {
            path: self.path.clone(),
            layer: self.layer.clone(),
            id_field: self.id_field.clone(),
            name_field: self.name_field.clone(),
            country: self.country.clone(),
            within: None,
        }]
    }

    /// A level of `parts`: nothing of the one-file form beside them, each part a path,
    /// every country two capital letters.
    fn check_parts(&self) -> std::result::Result<(), String> {
        let key = format!("levels '{}'", self.id);
        if !self.parts.is_empty() {
            let single = [
                ("path", !self.path.as_os_str().is_empty()),
                ("source", self.source.is_some()),
                ("layer", self.layer.is_some()),
                ("id_field", self.id_field.is_some()),
                ("name_field", self.name_field.is_some()),
                ("country", self.country.is_some()),
            ];
            if let Some((k, _)) = single.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{key}: {k} beside parts = [...]; give {k} in each part (a part has path, layer, id_field, name_field and country)"
                ));
            }
            if let Some(i) = self.parts.iter().position(|p| p.path.as_os_str().is_empty()) {
                return Err(format!("{key}: parts[{i}] has an empty path"));
            }
        }
        let countries = std::iter::once(&self.country).chain(self.parts.iter().map(|p| &p.country));
        for c in countries.flatten() {
            if !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err(format!("{key}: country = '{c}': an ISO 3166-1 alpha-2 code in capitals, such as \"NL\" or \"DE\""));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsConfig {
    /// The table; or `source` instead (set to the downloaded file on resolving).
    #[serde(default)]
    pub path: PathBuf,
    /// Download the table instead of `path`: `{ cbs = "85984NED" }` (CBS OData v3
    /// `TypedDataSet`; `odata = 4` for v4 `Observations`), limited to the region's gemeenten.
    #[serde(default)]
    pub source: Option<SourceConfig>,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub code_column: Option<String>,
    /// For tables without region codes: the column with region names (`Wijk_Buurt`).
    #[serde(default)]
    pub name_column: Option<String>,
    /// The boundaries these statistics are published on, when they are not the project's
    /// (an older edition): the counts in `convert` are converted to the level of the same
    /// kind through a crosswalk.
    #[serde(default)]
    pub boundaries: Option<BoundariesConfig>,
    /// The counts and sums to convert (never rates or averages: recompute those).
    #[serde(default)]
    pub convert: Vec<String>,
    /// Points that say where people live (the CBS 100 m grid), to weight the conversion;
    /// by area without.
    #[serde(default)]
    pub weights: Option<WeightsConfig>,
    /// Columns under another name (`{ Personen = "aantal_inwoners" }`), so one statistic
    /// has one name across sources and countries (the Zensus' `Einwohner` and the CBS
    /// `aantal_inwoners`).
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// The source already protected these figures, by its own rule, named here as the
    /// metadata shows it: `protected = "Zensus 2022: cell-key method (Destatis)"`,
    /// `"CBS: rounded to tens, small cells secret"`. An indicator that counts such a
    /// statistic is not protected again by buurtmeter's rules (`min_count`, `round_to`,
    /// secondary suppression); a minimum denominator for its rates still applies.
    #[serde(default)]
    pub protected: Option<String>,
}

/// An official source instead of a local file: a CBS table (`cbs = "85984NED"`) for
/// `[[statistics]]`, a PDOK OGC API Features collection (`pdok = "wijken-en-buurten-2024"`,
/// `collection = "buurten"`) for `[[levels]]`. Downloaded for the project's `region` only.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    #[serde(default)]
    pub cbs: Option<String>,
    #[serde(default)]
    pub pdok: Option<String>,
    #[serde(default)]
    pub collection: Option<String>,
    /// The CBS OData version: 3 (`opendata.cbs.nl`, the default; falls back to 4 when
    /// the table is not there) or 4 (`datasets.cbs.nl`, for tables only published there).
    #[serde(default)]
    pub odata: Option<u8>,
}

impl SourceConfig {
    /// `CBS 85984NED` or `PDOK wijken-en-buurten-2024/buurten`, for messages.
    pub fn describe(&self) -> String {
        match (&self.cbs, &self.pdok) {
            (Some(t), _) if self.odata == Some(4) => format!("CBS {t} (OData v4)"),
            (Some(t), _) => format!("CBS {t}"),
            (None, Some(d)) => format!("PDOK {d}/{}", self.collection.as_deref().unwrap_or("?")),
            _ => "source".into(),
        }
    }
}

/// A named group of areas of one level (`[[groups]]`): aggregated from its members'
/// numerators and denominators, served wherever an area is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Used in URLs: `heerlen_noord`.
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// The level of the members (`wijken`).
    pub level: String,
    /// The members' codes.
    pub members: Vec<String>,
}

/// An edition of boundaries (`[[statistics]] boundaries = { path, layer, id_field }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundariesConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub id_field: Option<String>,
}

/// Counts of the level `from` converted onto the level `to` through a crosswalk
/// (area-weighted, or by `weights`): `columns = { Einwohner = "inwoners" }` names each
/// column on `from` and its name on `to`. A converted column that `to` already has is
/// added to it (a 1 km cell across the border: the German census count plus the Dutch
/// wijken's share), so one column can hold both countries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionConfig {
    pub from: String,
    pub to: String,
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub weights: Option<WeightsConfig>,
    /// Count a missing value on `from` as 0 (Zensus cells without a published count: no
    /// one or fewer than 3 live there) instead of making every area it touches missing.
    #[serde(default)]
    pub missing_as_zero: bool,
    /// Give converted values only to areas of `to` without a value of their own, instead
    /// of adding them: the grid's census counts onto Aachen's districts (which publish
    /// none) without touching the Dutch wijken's CBS counts in the same level.
    #[serde(default)]
    pub only_missing: bool,
    /// Convert only the areas of `from` of these countries (`["NL"]`: the Dutch wijken
    /// of a level that also holds Aachen's districts); the others give nothing.
    #[serde(default)]
    pub countries: Vec<String>,
}

/// Weighting points for a conversion (`weights = { path, layer, field }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub layer: Option<String>,
    pub field: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsConfig {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    pub path: PathBuf,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub lon: Option<String>,
    #[serde(default)]
    pub lat: Option<String>,
    /// One column with the whole location as text: WKT, EWKT or `x y`.
    #[serde(default)]
    pub geometry: Option<String>,
    #[serde(default)]
    pub crs: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub weight: Option<String>,
    /// The column that identifies a record (a report or case number). Used for the
    /// cell-key method's record keys; without it a record is identified by its row.
    #[serde(default)]
    pub id_column: Option<String>,
    /// `;`, `,`, `tab`; detected when not given.
    #[serde(default, deserialize_with = "delimiter")]
    pub delimiter: Option<u8>,
    /// `utf-8` or `windows-1252`; detected when not given (CSV and Shapefiles only).
    #[serde(default, deserialize_with = "encoding")]
    pub encoding: Option<Encoding>,
    /// Spreadsheets: the row with the column names (1-based); found when not given.
    #[serde(default)]
    pub header_row: Option<u32>,
    /// Write every rejected and partly used row, with its fields and the reason, to this
    /// CSV file (relative to the project file) on each build.
    #[serde(default)]
    pub rejected: Option<PathBuf>,
    /// A BAG address file (`{ path = "bag.gpkg", layer = "verblijfsobject" }`, relative to
    /// the project file): rows with an address or a BAG id instead of coordinates get the
    /// BAG point of that address.
    #[serde(default)]
    pub addresses: Option<crate::ingest::AddressSource>,
    /// `public`: individual points may be served (tiles from zoom 14, OGC API items);
    /// `aggregate` (the default): only counts per area and per grid cell, never a point;
    /// `restricted`: aggregates, and only to clients with an API key.
    #[serde(default)]
    pub access: Access,
    /// Disclosure control: counts above 0 and below this are secret.
    #[serde(default)]
    pub min_count: Option<f64>,
    /// Disclosure control: counts are rounded to a multiple of this (CBS: 5 or 10).
    #[serde(default)]
    pub round_to: Option<f64>,
    /// Disclosure control: no rate for areas whose denominator is below this.
    #[serde(default)]
    pub min_denominator: Option<f64>,
    /// Protected layers: the smallest grid cell published in tiles, in metres on the ground
    /// (default 500: no finer than CBS's coarser square statistics); the layer's tiles stop
    /// at the zoom whose cells are this size (clients overzoom beyond it).
    #[serde(default)]
    pub min_cell_m: Option<f64>,
    /// Protected layers: publish at release points only (`"month"`, the default for an
    /// aggregate layer with disclosure control, or `"quarter"`): the public values come
    /// from the records of the closed periods as they stood at the first build of the
    /// month (quarter), kept in `.buurtmeter/releases/` next to the project; records added
    /// in between change nothing public until the next release. `"live"`: every reload
    /// publishes (the default for restricted layers).
    #[serde(default)]
    pub release: Option<Release>,
    /// A database layer (`path = "PG:…"`): a query whose rows are the points, instead of
    /// `layer` (`"select id, geom, gemeld_op from meldingen where …"`).
    #[serde(default)]
    pub sql: Option<String>,
    /// Where the points are joined to the areas: `"process"` (the default: every point is
    /// read into buurtmeter) or `"database"` (a PostGIS layer: the areas go to the
    /// database and one aggregation query comes back; see `join::database`).
    #[serde(default)]
    pub join: JoinPlace,
}

/// Where a point layer is joined (`join` in the project file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinPlace {
    #[default]
    Process,
    Database,
}

/// A path that is a GDAL connection string to PostgreSQL (`PG:dbname=… host=…`), not a file.
pub fn is_database_path(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.len() >= 3 && s[..3].eq_ignore_ascii_case("pg:"))
}

/// When a protected layer's public values may change (`release = "month"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    Month,
    Quarter,
    Live,
}

/// How hot spots are computed: `hotspots = { … }` of an indicator, validated on load
/// (the method and the weights are types, so nothing downstream parses them again), and
/// the same settings a hot-spot request may override (`indicators::hotspots::Params`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RawHotspots")]
pub struct HotspotParams {
    pub method: HotspotMethod,
    pub permutations: usize,
    /// Permutations for global Moran's I (0: the analytic test only).
    pub global_permutations: usize,
    pub seed: u64,
    pub alpha: f64,
    pub fdr: bool,
    /// Empirical-Bayes standardised rates (Assunção–Reis) instead of the values (rate
    /// indicators).
    pub eb: bool,
    /// The weights (queen contiguity by default).
    pub weights: crate::weights::Spec,
}

impl Default for HotspotParams {
    fn default() -> HotspotParams {
        HotspotParams {
            method: HotspotMethod::LocalMoran,
            permutations: 999,
            global_permutations: 999,
            seed: 1,
            alpha: 0.05,
            fdr: false,
            eb: false,
            weights: crate::weights::Spec::Contiguity(crate::weights::Contiguity::Queen, 0.0),
        }
    }
}

impl HotspotParams {
    /// The ranges every analysis needs, whether the settings come from the project file
    /// or from a request.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.permutations > 9999 || self.global_permutations > 9999 {
            return Err("permutations: at most 9999".into());
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(format!("alpha = {}: give a level between 0 and 1", self.alpha));
        }
        Ok(())
    }
}

/// A local statistic for hot spots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotspotMethod {
    LocalMoran,
    Gi,
    GiStar,
}

impl HotspotMethod {
    pub fn parse(s: &str) -> Option<HotspotMethod> {
        match s {
            "local_moran" => Some(HotspotMethod::LocalMoran),
            "gi" => Some(HotspotMethod::Gi),
            "gi_star" => Some(HotspotMethod::GiStar),
            _ => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            HotspotMethod::LocalMoran => "local_moran",
            HotspotMethod::Gi => "gi",
            HotspotMethod::GiStar => "gi_star",
        }
    }
}

/// `hotspots = { … }` as written; what is left out is `HotspotParams::default()`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHotspots {
    method: String,
    weights: String,
    permutations: usize,
    seed: u64,
    fdr: bool,
    alpha: f64,
    eb: bool,
    /// For `weights = "knn"`: how many neighbours (5).
    k: Option<usize>,
    /// For `weights = "distance"`: the distance band in metres.
    threshold: Option<f64>,
    /// For `weights = "queen"|"rook"`: snap vertices to this grid (metres) first.
    tolerance: Option<f64>,
}

impl Default for RawHotspots {
    fn default() -> RawHotspots {
        let d = HotspotParams::default();
        RawHotspots {
            method: d.method.key().into(),
            weights: d.weights.key().into(),
            permutations: d.permutations,
            seed: d.seed,
            fdr: d.fdr,
            alpha: d.alpha,
            eb: d.eb,
            k: None,
            threshold: None,
            tolerance: None,
        }
    }
}

impl TryFrom<RawHotspots> for HotspotParams {
    type Error = String;
    fn try_from(h: RawHotspots) -> std::result::Result<Self, String> {
        let method =
            HotspotMethod::parse(&h.method).ok_or_else(|| format!("hotspots: method = '{}': local_moran, gi or gi_star", h.method))?;
        let weights =
            crate::weights::Spec::parse(&h.weights, h.tolerance, h.k, h.threshold).map_err(|e| format!("hotspots: weights: {e}"))?;
        let params = HotspotParams {
            method,
            permutations: h.permutations,
            global_permutations: h.permutations,
            seed: h.seed,
            alpha: h.alpha,
            fdr: h.fdr,
            eb: h.eb,
            weights,
        };
        params.check().map_err(|e| format!("hotspots: {e}"))?;
        Ok(params)
    }
}

impl PointsConfig {
    pub fn disclosure(&self) -> Disclosure {
        Disclosure { min_count: self.min_count, round_to: self.round_to, min_denominator: self.min_denominator }
    }
}

/// Statistical disclosure control, the way CBS does it. Set on a point layer (applies to
/// all its indicators and grid cells) and/or on an indicator (overrides the layer).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Disclosure {
    /// Counts (or weighted sums) above 0 and below this are secret.
    pub min_count: Option<f64>,
    /// Counts are rounded to a multiple of this (CBS: 5 or 10); rates use the rounded count.
    pub round_to: Option<f64>,
    /// No rate for areas whose denominator is below this (e.g. 50 inhabitants).
    pub min_denominator: Option<f64>,
}

impl Disclosure {
    /// `self` where set, else `base`.
    pub fn or(self, base: Disclosure) -> Disclosure {
        Disclosure {
            min_count: self.min_count.or(base.min_count),
            round_to: self.round_to.or(base.round_to),
            min_denominator: self.min_denominator.or(base.min_denominator),
        }
    }

    pub fn is_active(&self) -> bool {
        self.min_count.is_some() || self.round_to.is_some() || self.min_denominator.is_some()
    }
}

/// Who may see a point layer's individual points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Public,
    #[default]
    Aggregate,
    /// Aggregates only, and only with an API key: the layer's tiles and its indicators
    /// need a key, and its indicators are left out of the public area layers.
    Restricted,
}

/// How an indicator splits time (`period` in the project file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeriodKind {
    #[default]
    All,
    Year,
    Quarter,
    Month,
}

impl PeriodKind {
    pub fn parse(s: &str) -> Option<PeriodKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" | "none" | "" => Some(PeriodKind::All),
            "year" | "jaar" => Some(PeriodKind::Year),
            "quarter" | "kwartaal" => Some(PeriodKind::Quarter),
            "month" | "maand" => Some(PeriodKind::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::All => "all",
            PeriodKind::Year => "year",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Month => "month",
        }
    }

    /// A sortable key for the period a date falls in; consecutive periods differ by 1.
    pub fn key(self, d: Date) -> i32 {
        match self {
            PeriodKind::All => 0,
            PeriodKind::Year => d.year,
            PeriodKind::Quarter => d.year * 4 + (d.quarter() as i32 - 1),
            PeriodKind::Month => d.year * 12 + (d.month as i32 - 1),
        }
    }

    /// The label of a period key: `2023`, `2023-Q1`, `2023-03`, `all`.
    pub fn label(self, key: i32) -> String {
        match self {
            PeriodKind::All => "all".into(),
            PeriodKind::Year => format!("{key}"),
            PeriodKind::Quarter => format!("{}-Q{}", key.div_euclid(4), key.rem_euclid(4) + 1),
            PeriodKind::Month => format!("{}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1),
        }
    }
}

/// What the denominator is (`denominator` in the project file).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Denominator {
    #[default]
    None,
    /// Land area in km²: the CBS `oppervlakte_land_in_ha` / 100 when the level has it,
    /// else the planar area of the polygon in the working CRS.
    LandKm2,
    /// A statistic by name (matched across CBS editions, see `stats::find_column`).
    Statistic(String),
}

impl<'de> Deserialize<'de> for PeriodKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PeriodKind::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a period: all, year, quarter or month (jaar, kwartaal, maand)")))
    }
}

impl<'de> Deserialize<'de> for Denominator {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.trim() {
            "" | "none" => Denominator::None,
            "land_km2" | "land" | "km2" => Denominator::LandKm2,
            other => Denominator::Statistic(other.to_string()),
        })
    }
}

/// `delimiter = ";"`: one character, or `tab`.
fn delimiter<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u8>, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "tab" | "\\t" | "\t" => Ok(Some(b'\t')),
        d if d.len() == 1 => Ok(Some(d.as_bytes()[0])),
        d => Err(serde::de::Error::custom(format!("delimiter '{d}' is not one character (';', ',', '|' or tab)"))),
    }
}

/// `encoding = "windows-1252"`.
fn encoding<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Encoding>, D::Error> {
    let s = String::deserialize(d)?;
    Encoding::parse(&s).map(Some).ok_or_else(|| serde::de::Error::custom(format!("encoding '{s}' is not utf-8 or windows-1252")))
}

/// A day (`yyyy-mm-dd`, or any date format the CSV reader knows), parsed once.
fn date<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Date>, D::Error> {
    let s = String::deserialize(d)?;
    crate::ingest::text::parse_date(&s).map(Some).ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a date (yyyy-mm-dd)")))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorConfig {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub numerator: Numerator,
    /// A statistic (`aantal_inwoners`, `woningvoorraad`, any column name), `land_km2`, or
    /// absent for a plain count.
    #[serde(default)]
    pub denominator: Denominator,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub unit: Option<String>,
    /// `all` (default), `year`, `quarter` or `month` of the point date.
    #[serde(default)]
    pub period: PeriodKind,
    /// Only points dated on or after this day (`yyyy-mm-dd`).
    #[serde(default, deserialize_with = "date")]
    pub from: Option<Date>,
    /// Only points dated on or before this day (`yyyy-mm-dd`).
    #[serde(default, deserialize_with = "date")]
    pub to: Option<Date>,
    /// Disclosure control: counts above 0 and below this are secret.
    #[serde(default)]
    pub min_count: Option<f64>,
    /// Disclosure control: counts are rounded to a multiple of this (CBS: 5 or 10).
    #[serde(default)]
    pub round_to: Option<f64>,
    /// Disclosure control: no rate for areas whose denominator is below this.
    #[serde(default)]
    pub min_denominator: Option<f64>,
    /// Hot spots of this indicator, computed at build and served in the area layers:
    /// `hotspots = { method = "local_moran", weights = "queen", permutations = 999, seed = 1, fdr = false }`.
    #[serde(default)]
    pub hotspots: Option<HotspotParams>,
}

impl IndicatorConfig {
    /// This indicator's disclosure rules: its own where set, else its point layer's.
    pub fn disclosure(&self, layer: Option<&PointsConfig>) -> Disclosure {
        let own = Disclosure { min_count: self.min_count, round_to: self.round_to, min_denominator: self.min_denominator };
        match layer {
            Some(l) => own.or(l.disclosure()),
            None => own,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// What an indicator counts: `numerator = { points = "meldingen", categories = [...],
/// weighted = true }` or `numerator = { statistic = "Bijstandsuitkering" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawNumerator")]
pub enum Numerator {
    /// A count, or with `weighted` the sum of the weight column, of a point layer's points,
    /// only of `categories` when given.
    Points { layer: String, categories: Option<Vec<String>>, weighted: bool },
    /// A statistic of the areas (a CBS figure).
    Statistic(String),
}

impl Numerator {
    /// The point layer counted, if any.
    pub fn points(&self) -> Option<&str> {
        match self {
            Numerator::Points { layer, .. } => Some(layer),
            Numerator::Statistic(_) => None,
        }
    }

    /// The statistic, if the numerator is one.
    pub fn statistic(&self) -> Option<&str> {
        match self {
            Numerator::Statistic(s) => Some(s),
            Numerator::Points { .. } => None,
        }
    }

    pub fn categories(&self) -> Option<&[String]> {
        match self {
            Numerator::Points { categories, .. } => categories.as_deref(),
            Numerator::Statistic(_) => None,
        }
    }

    pub fn weighted(&self) -> bool {
        matches!(self, Numerator::Points { weighted: true, .. })
    }
}

/// `numerator = { … }` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumerator {
    /// The point layer id (a count or weighted sum of its points)...
    #[serde(default)]
    points: Option<String>,
    /// ...or a statistic of the areas (a CBS figure: `Bijstandsuitkering`, ...).
    #[serde(default)]
    statistic: Option<String>,
    /// Only these categories (compared without case and extra spaces); all when absent.
    #[serde(default)]
    categories: Option<Vec<String>>,
    /// Sum the layer's weight column instead of counting points.
    #[serde(default)]
    weighted: bool,
}

impl TryFrom<RawNumerator> for Numerator {
    type Error = String;
    fn try_from(n: RawNumerator) -> std::result::Result<Self, String> {
        match (n.points, n.statistic) {
            (Some(layer), None) => Ok(Numerator::Points { layer, categories: n.categories, weighted: n.weighted }),
            (None, Some(s)) if n.categories.is_none() && !n.weighted => Ok(Numerator::Statistic(s)),
            (None, Some(_)) => Err("numerator: categories and weighted apply to points, not to a statistic".into()),
            _ => Err("the numerator needs either points = \"<layer>\" or statistic = \"<name>\"".into()),
        }
    }
}

impl Project {
    pub fn load(path: &Path) -> Result<Project> {
        let text = std::fs::read_to_string(path).map_err(|e| ProjectError::new(path, format!("cannot read: {e}")))?;
        let mut project = Project::parse(&text, path)?;
        project.file = path.to_path_buf();
        project.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(project)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Project> {
        let mut project: Project = toml::from_str(text).map_err(|e| ProjectError::new(path, e.to_string()))?;
        project.validate().map_err(|m| ProjectError::new(path, m))?;
        Ok(project)
    }

    /// What serde's types cannot say: ids, references between sections, ranges. Sets
    /// `LevelConfig::parent_index`.
    fn validate(&mut self) -> std::result::Result<(), String> {
        if self.levels.is_empty() {
            return Err("no [[levels]]: at least one area level is needed".into());
        }
        self.check_ids()?;
        self.check_regions()?;
        self.check_sources()?;
        if let Some(e) = self.band_edges
            && !(e.iter().all(|x| x.is_finite()) && e[0] < e[1] && e[1] <= e[2] && e[2] < e[3])
        {
            return Err(format!("band_edges = {e:?}: four increasing z-scores, e.g. [-1.5, -0.5, 0.5, 1.5]"));
        }
        self.resolve_parents()?;
        self.check_groups()?;
        self.check_statistics()?;
        self.check_conversions()?;
        self.check_crs()?;
        self.check_basemaps()?;
        self.check_indicators()?;
        self.check_points()
    }

    /// `basemaps` folded into `basemap`; URLs, ids and titles checked and filled in.
    fn check_basemaps(&mut self) -> std::result::Result<(), String> {
        let list = std::mem::take(&mut self.basemap_list);
        let key = match (&self.basemap, list.is_empty()) {
            (Some(_), false) => {
                return Err("basemap and basemaps: give one of them (basemaps = [{ id, title, url }, …] for several)".into());
            }
            (None, false) => {
                self.basemap = Some(Basemap { maps: list });
                "basemaps"
            }
            _ => "basemap",
        };
        let Some(b) = &mut self.basemap else { return Ok(()) };
        let mut ids = std::collections::HashSet::new();
        for (i, m) in b.maps.iter_mut().enumerate() {
            let at = if key == "basemap" { key.to_string() } else { format!("{key}[{i}]") };
            if !(m.url.starts_with("https://") || m.url.starts_with("http://")) || !["{z}", "{x}", "{y}"].iter().all(|k| m.url.contains(k))
            {
                return Err(format!(
                    "{at}.url '{}': expected an http(s) URL template with {{z}}, {{x}} and {{y}}, e.g. https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{{z}}/{{x}}/{{y}}.png",
                    m.url
                ));
            }
            if m.id.is_empty() {
                m.id = format!("basemap-{}", i + 1);
            }
            if !m.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(format!("{at}.id '{}': letters, digits, '-' and '_' only", m.id));
            }
            if !ids.insert(m.id.clone()) {
                return Err(format!("{at}.id '{}': another basemap has this id", m.id));
            }
            if m.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
                m.title = Some(m.url.split('/').nth(2).unwrap_or(&m.url).to_string());
            }
        }
        if b.maps.is_empty() {
            self.basemap = None;
        }
        Ok(())
    }

    fn check_ids(&self) -> std::result::Result<(), String> {
        let mut ids = std::collections::HashSet::new();
        let all = self.levels.iter().map(|l| &l.id).chain(self.points.iter().map(|p| &p.id));
        for id in all.chain(self.indicators.iter().map(|i| &i.id)).chain(self.groups.iter().map(|g| &g.id)) {
            if !ids.insert(id.as_str()) {
                return Err(format!("the id '{id}' is used twice; level, point layer and indicator ids must be unique"));
            }
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(format!("the id '{id}' may only hold letters, digits, '_' and '-'"));
            }
        }
        Ok(())
    }

    fn check_regions(&self) -> std::result::Result<(), String> {
        let within = self.levels.iter().map(|l| (format!("levels '{}': within", l.id), &l.within)).chain(
            self.levels
                .iter()
                .flat_map(|l| l.parts.iter().enumerate().map(move |(i, p)| (format!("levels '{}': parts[{i}].within", l.id), &p.within))),
        );
        for (key, r) in within.chain([("region".to_string(), &self.region)]) {
            match r {
                Some(Region::Keyword(k)) if k != "extent" && !(k == "all" && key != "region") => {
                    return Err(format!(
                        "{key} = '{k}': give a list of area codes (within = [\"GM0917\", \"05334\"]), \"extent\" (the areas that hold the first level's areas) or, on a level, \"all\" (not limited)"
                    ));
                }
                Some(Region::Codes(c)) if c.is_empty() || c.iter().any(|c| c.trim().is_empty()) => {
                    return Err(format!("{key}: the list of area codes is empty or holds an empty code"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A grid level has no file, a valid size and extent, and the European grid's CRS.
    fn check_grids(&self) -> std::result::Result<(), String> {
        for l in &self.levels {
            let Some(g) = &l.grid else { continue };
            let key = format!("levels '{}': grid", l.id);
            if !l.path.as_os_str().is_empty() || l.source.is_some() || l.layer.is_some() || l.id_field.is_some() || !l.parts.is_empty() {
                return Err(format!("{key}: a grid level is made by arithmetic; leave out path, source, parts, layer and id_field"));
            }
            let crs = g.crs.trim().to_ascii_uppercase();
            if crs != crate::grid::GRID_CRS && crs != "ETRS89-LAEA" {
                return Err(format!("{key}: crs = '{}': only the European grid, EPSG:3035, is supported", g.crs));
            }
            if g.size == 0 || g.size % 100 != 0 {
                return Err(format!("{key}: size = {}: a cell size in metres, a multiple of 100 (100, 1000, 10000)", g.size));
            }
            if let Some([x0, y0, x1, y1]) = g.extent
                && !([x0, y0, x1, y1].iter().all(|v| v.is_finite())
                    && x0 < x1
                    && y0 < y1
                    && (-180.0..=180.0).contains(&x0)
                    && (-180.0..=180.0).contains(&x1)
                    && (-90.0..=90.0).contains(&y0)
                    && (-90.0..=90.0).contains(&y1))
            {
                return Err(format!(
                    "{key}: extent = {:?}: expected [lon0, lat0, lon1, lat1] in degrees (WGS84), west-south before east-north, e.g. [5.6, 50.65, 6.4, 51.05]",
                    [x0, y0, x1, y1]
                ));
            }
        }
        Ok(())
    }

    /// Each level and statistics table has exactly one of `path` and `source`; a source
    /// is of the right kind and needs the project's `region` as codes.
    fn check_sources(&self) -> std::result::Result<(), String> {
        self.check_grids()?;
        for l in &self.levels {
            l.check_parts()?;
        }
        let levels = self
            .levels
            .iter()
            .filter(|l| l.parts.is_empty() && l.grid.is_none())
            .map(|l| (format!("levels '{}'", l.id), &l.path, &l.source, "pdok"));
        let stats = self.statistics.iter().enumerate().map(|(i, s)| (format!("statistics[{i}]"), &s.path, &s.source, "cbs"));
        for (key, path, source, kind) in levels.chain(stats) {
            let example = if kind == "pdok" {
                "source = { pdok = \"wijken-en-buurten-2024\", collection = \"buurten\" }"
            } else {
                "source = { cbs = \"85984NED\" } (or { cbs = \"…\", odata = 4 } for a table only in CBS OData v4)"
            };
            let Some(src) = source else {
                if path.as_os_str().is_empty() {
                    return Err(format!("{key}: give either path = \"<file>\" or {example}"));
                }
                continue;
            };
            if !path.as_os_str().is_empty() {
                return Err(format!(
                    "{key}: path = \"{}\" and source = {{ … }} together; give one of them (the source is downloaded for the region, path is a local file)",
                    path.display()
                ));
            }
            let ok = match kind {
                "pdok" => {
                    src.cbs.is_none()
                        && src.odata.is_none()
                        && src.pdok.as_deref().is_some_and(|d| !d.trim().is_empty())
                        && src.collection.as_deref().is_some_and(|c| !c.trim().is_empty())
                }
                _ => {
                    src.pdok.is_none()
                        && src.collection.is_none()
                        && src.cbs.as_deref().is_some_and(|t| !t.trim().is_empty())
                        && src.odata.is_none_or(|v| v == 3 || v == 4)
                }
            };
            if !ok {
                return Err(format!("{key}: source = {{ … }} must be {example}"));
            }
            match &self.region {
                Some(Region::Codes(_)) => {}
                _ => {
                    return Err(format!(
                        "{key}: a source ({}) is downloaded for the project's region only: set region = [\"GM0917\"] (CBS gemeentecodes)",
                        src.describe()
                    ));
                }
            }
        }
        Ok(())
    }

    /// A level's parent is another level of the project, and the parents form no cycle:
    /// checked here, before any data is read, and kept as an index.
    fn resolve_parents(&mut self) -> std::result::Result<(), String> {
        let ids: Vec<String> = self.levels.iter().map(|l| l.id.clone()).collect();
        for (li, l) in self.levels.iter_mut().enumerate() {
            l.parent_index = match &l.parent {
                None => None,
                Some(p) => match ids.iter().position(|i| i == p) {
                    Some(pi) if pi != li => Some(pi),
                    _ => return Err(format!("levels '{}': parent = '{p}' is not another level; the levels are {}", l.id, ids.join(", "))),
                },
            };
        }
        let parents: Vec<Option<usize>> = self.levels.iter().map(|l| l.parent_index).collect();
        match crate::model::parent_cycle(&parents) {
            Some(cycle) => {
                let names: Vec<&str> = cycle.iter().map(|&i| self.levels[i].id.as_str()).collect();
                Err(format!(
                    "levels: the parents form a cycle: {} (each level's parent is the level one up)",
                    crate::model::cycle_text(&names)
                ))
            }
            None => Ok(()),
        }
    }

    fn check_statistics(&self) -> std::result::Result<(), String> {
        for (i, s) in self.statistics.iter().enumerate() {
            let shown = s.source.as_ref().map(SourceConfig::describe).unwrap_or_else(|| s.path.display().to_string());
            let key = format!("statistics[{i}] ({shown})");
            if s.boundaries.is_none() && (!s.convert.is_empty() || s.weights.is_some()) {
                return Err(format!(
                    "{key}: convert and weights need boundaries = {{ path = \"...\", layer = \"...\" }}: the areas these statistics are published on"
                ));
            }
            if s.boundaries.is_some() && s.convert.is_empty() {
                return Err(format!(
                    "{key}: boundaries needs convert = [\"aantal_inwoners\", ...]: the counts to convert to the project's boundaries (never rates or averages)"
                ));
            }
            if s.protected.as_ref().is_some_and(|r| r.trim().is_empty()) {
                return Err(format!("{key}: protected = '': name the source's rule (\"Zensus 2022: cell-key method (Destatis)\")"));
            }
            if let Some(p) = &s.period
                && crate::ingest::statistics::period_start(p.trim()).is_none()
            {
                return Err(format!(
                    "{key}: period = '{p}' is not a CBS period: write the year (2018) or a StatLine period (2018JJ00, 2018KW01, 2018MM03)"
                ));
            }
        }
        Ok(())
    }

    fn check_conversions(&self) -> std::result::Result<(), String> {
        let ids: Vec<&str> = self.levels.iter().map(|l| l.id.as_str()).collect();
        for (i, c) in self.conversions.iter().enumerate() {
            for (k, id) in [("from", &c.from), ("to", &c.to)] {
                if !ids.contains(&id.as_str()) {
                    return Err(format!("conversions[{i}].{k} = '{id}': no level has that id; the levels are: {}", ids.join(", ")));
                }
            }
            if c.from == c.to {
                return Err(format!("conversions[{i}]: from and to are both '{}'", c.from));
            }
            if c.columns.is_empty() {
                return Err(format!(
                    "conversions[{i}]: columns = {{ aantal_inwoners = \"inwoners\" }}: the counts to convert and their names on '{}' (never rates or averages)",
                    c.to
                ));
            }
        }
        Ok(())
    }

    /// The working CRS and every point layer's CRS are known (and the working CRS is in
    /// metres). The GDAL handles are made again where they are used: they cannot be kept
    /// in a project that is sent between threads.
    fn check_crs(&self) -> std::result::Result<(), String> {
        crate::crs::working(&self.crs).map_err(|e| format!("crs = '{}': {}", self.crs, e.message))?;
        for p in &self.points {
            if let Some(c) = &p.crs {
                crate::crs::spatial_ref(c).map_err(|e| format!("point layer '{}': crs = '{c}': {}", p.id, e.message))?;
            }
        }
        Ok(())
    }

    /// A database layer: a password stays out of the project file; `sql` and `join =
    /// "database"` are for databases only; a layer joined in the database has no points
    /// in buurtmeter, so it cannot be public (points on the map) or kept at release
    /// points (a release keeps every record), and its record keys need an id column.
    fn check_database_layer(&self, p: &PointsConfig) -> std::result::Result<(), String> {
        let database = is_database_path(&p.path);
        if database {
            let conninfo = p.path.to_string_lossy();
            if conninfo.split_whitespace().any(|kv| kv.to_ascii_lowercase().trim_start_matches("pg:").starts_with("password")) {
                return Err(format!(
                    "point layer '{}': the connection string holds a password; remove it and set PGPASSWORD, or put it in ~/.pgpass (a project file is shared, a password is not)",
                    p.id
                ));
            }
            if p.sql.is_some() && p.layer.is_some() {
                return Err(format!("point layer '{}': give `layer` (a table) or `sql` (a query), not both", p.id));
            }
            if p.sql.is_none() && p.layer.is_none() {
                return Err(format!(
                    "point layer '{}': name the table with layer = \"schema.table\", or give a query with sql = \"select …\"",
                    p.id
                ));
            }
        } else if p.sql.is_some() {
            return Err(format!(
                "point layer '{}': `sql` is for database layers (path = \"PG:dbname=…\"); a file's layer is chosen with `layer`",
                p.id
            ));
        }
        if p.join == JoinPlace::Database {
            let why = if !database {
                Some("join = \"database\" is for a PostGIS layer (path = \"PG:dbname=…\"); a file is joined in buurtmeter")
            } else if p.access == Access::Public {
                Some(
                    "a layer joined in the database leaves its points there, so it cannot show them: use access = \"aggregate\" (counts per area), or join = \"process\"",
                )
            } else if self.release_of(p).is_some() {
                Some(
                    "a layer joined in the database cannot be kept at release points (a release keeps every record in buurtmeter): set release = \"live\" (every reload publishes), or join = \"process\"",
                )
            } else if self.is_protected(p) && p.id_column.is_none() {
                Some(
                    "a protected layer joined in the database needs id_column (the column that identifies a record), from which the cell-key record keys are computed in SQL",
                )
            } else if p.x.is_some() || p.lon.is_some() || p.geometry.is_some() || p.addresses.is_some() || p.crs.is_some() {
                Some(
                    "a layer joined in the database takes its points and their CRS from the table's PostGIS geometry: remove x/y, lon/lat, geometry, crs and addresses (or make the point in `sql` with ST_SetSRID(ST_MakePoint(x, y), 28992))",
                )
            } else {
                None
            };
            if let Some(why) = why {
                return Err(format!("point layer '{}': {why}", p.id));
            }
        }
        Ok(())
    }

    fn check_groups(&self) -> std::result::Result<(), String> {
        for g in &self.groups {
            if !self.levels.iter().any(|l| l.id == g.level) {
                let ids: Vec<&str> = self.levels.iter().map(|l| l.id.as_str()).collect();
                return Err(format!("groups '{}': level '{}' is not a level; the levels are {}", g.id, g.level, ids.join(", ")));
            }
            if g.members.is_empty() {
                return Err(format!("groups '{}': no members (members = [\"WK091710\", ...])", g.id));
            }
        }
        Ok(())
    }

    fn check_indicators(&self) -> std::result::Result<(), String> {
        for ind in &self.indicators {
            if let Some(p) = ind.numerator.points()
                && !self.points.iter().any(|l| l.id == p)
            {
                let ids: Vec<&str> = self.points.iter().map(|l| l.id.as_str()).collect();
                return Err(format!("indicator '{}': no point layer '{p}'; the point layers are: {}", ind.id, ids.join(", ")));
            }
            positive(&format!("indicator '{}'", ind.id), [ind.min_count, ind.round_to, ind.min_denominator])?;
            if !ind.scale.is_finite() || ind.scale == 0.0 {
                return Err(format!("indicator '{}': scale must be a non-zero number", ind.id));
            }
            if ind.hotspots.is_some_and(|h| h.eb) && ind.denominator == Denominator::None {
                return Err(format!("indicator '{}': hotspots: eb = true needs a rate: give the indicator a denominator", ind.id));
            }
        }
        Ok(())
    }

    fn check_points(&self) -> std::result::Result<(), String> {
        for p in &self.points {
            positive(&format!("point layer '{}'", p.id), [p.min_count, p.round_to, p.min_denominator])?;
            self.check_database_layer(p)?;
            if p.x.is_some() != p.y.is_some() || p.lon.is_some() != p.lat.is_some() {
                return Err(format!("point layer '{}': give both x and y, or both lon and lat", p.id));
            }
            if matches!(p.release, Some(Release::Month | Release::Quarter)) && (!self.is_protected(p) || p.access == Access::Public) {
                return Err(format!(
                    "point layer '{}': release is for protected layers (access aggregate or restricted, with min_count): give it min_count = 3, or leave release out",
                    p.id
                ));
            }
        }
        Ok(())
    }

    /// Every input file as the project names it (levels, statistics, point layers).
    pub fn input_paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.levels
            .iter()
            .filter(|l| l.grid.is_none())
            .flat_map(|l| l.parts.is_empty().then_some(&l.path).into_iter().chain(l.parts.iter().map(|p| &p.path)))
            .chain(self.conversions.iter().filter_map(|c| c.weights.as_ref().map(|w| &w.path)))
            .chain(self.statistics.iter().flat_map(|s| {
                std::iter::once(&s.path).chain(s.boundaries.as_ref().map(|b| &b.path)).chain(s.weights.as_ref().map(|w| &w.path))
            }))
            .chain(self.points.iter().flat_map(|p| std::iter::once(&p.path).chain(p.addresses.as_ref().map(|a| &a.path))))
    }

    /// Whether anything published about a point layer is protected (its own `min_count` /
    /// `round_to` or those of an indicator on it).
    pub fn is_protected(&self, p: &PointsConfig) -> bool {
        p.min_count.is_some()
            || p.round_to.is_some()
            || self
                .indicators
                .iter()
                .any(|i| i.numerator.points() == Some(p.id.as_str()) && (i.min_count.is_some() || i.round_to.is_some()))
    }

    /// When a point layer's public values change: at its `release` points; by default
    /// monthly for a protected layer the public sees (aggregate), live otherwise.
    pub fn release_of(&self, p: &PointsConfig) -> Option<Release> {
        match p.release {
            Some(Release::Live) => None,
            Some(r) => self.is_protected(p).then_some(r),
            None => (self.is_protected(p) && p.access == Access::Aggregate).then_some(Release::Month),
        }
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() || is_database_path(p) { p.to_path_buf() } else { self.base_dir.join(p) }
    }
}

/// `min_count`, `round_to` and `min_denominator` of `what`, when given, are positive.
fn positive(what: &str, [min_count, round_to, min_denominator]: [Option<f64>; 3]) -> std::result::Result<(), String> {
    for (key, v) in [("min_count", min_count), ("round_to", round_to), ("min_denominator", min_denominator)] {
        if v.is_some_and(|x| !x.is_finite() || x <= 0.0) {
            return Err(format!("{what}: {key} must be a positive number"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors() {
        let e = Project::parse("name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\nid_feild='x'\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("id_feild"), "{e}");
    }

    #[test]
    fn a_parent_must_be_another_level() {
        let e = Project::parse("name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\nparent='wijkn'\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("levels 'b': parent = 'wijkn' is not another level; the levels are b"), "{e}");
        let e = Project::parse("name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\nparent='b'\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("is not another level"), "{e}");
    }

    #[test]
    fn indicator_must_name_a_point_layer() {
        let e = Project::parse(
            "name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\n[[indicators]]\nid='i'\ntitle='t'\nnumerator={points='nope'}\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no point layer 'nope'"), "{e}");
    }

    const LEVEL: &str = "name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\n";

    fn parse(extra: &str) -> std::result::Result<Project, String> {
        Project::parse(&format!("{LEVEL}{extra}"), Path::new("p.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn parents_become_indices_and_a_cycle_is_an_error_on_load() {
        let two = "name='x'\n[[levels]]\nid='b'\npath='a.gpkg'\nparent='w'\n[[levels]]\nid='w'\npath='a.gpkg'\n";
        let p = Project::parse(two, Path::new("p.toml")).unwrap();
        assert_eq!((p.levels[0].parent_index, p.levels[1].parent_index), (Some(1), None));
        let e = Project::parse(&format!("{two}parent='b'\n"), Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("project file p.toml: levels: the parents form a cycle: b → w → b"), "{e}");
    }

    #[test]
    fn the_numerator_is_one_of_two_kinds() {
        let pts = "[[points]]\nid='m'\npath='m.csv'\n";
        let ind = |n: &str| format!("{pts}[[indicators]]\nid='i'\ntitle='t'\nnumerator={n}\n");
        let p = parse(&ind("{points='m', categories=['a'], weighted=true}")).unwrap();
        let want = Numerator::Points { layer: "m".into(), categories: Some(vec!["a".into()]), weighted: true };
        assert_eq!(p.indicators[0].numerator, want);
        assert_eq!(parse(&ind("{statistic='s'}")).unwrap().indicators[0].numerator, Numerator::Statistic("s".into()));
        for (bad, says) in [
            ("{points='m', statistic='s'}", "either points"),
            ("{}", "either points"),
            ("{statistic='s', categories=['a']}", "apply to points"),
            ("{points='m', categorie=['a']}", "unknown field `categorie`"),
        ] {
            let e = parse(&ind(bad)).unwrap_err();
            assert!(e.contains(says) && e.contains("numerator"), "{bad}: {e}");
        }
    }

    #[test]
    fn delimiter_encoding_and_hotspots_are_checked_before_any_data_is_read() {
        let layer = |k: &str| format!("[[points]]\nid='m'\npath='m.csv'\n{k}\n");
        assert_eq!(parse(&layer("delimiter='tab'")).unwrap().points[0].delimiter, Some(b'\t'));
        assert_eq!(parse(&layer("encoding='cp1252'")).unwrap().points[0].encoding, Some(Encoding::Windows1252));
        for (bad, says) in [("delimiter=';;'", "delimiter ';;' is not one character"), ("encoding='utf16'", "encoding 'utf16'")] {
            let e = parse(&layer(bad)).unwrap_err();
            assert!(e.contains(says) && e.contains("line"), "{bad}: {e}");
        }
        let hot = |h: &str| format!("{}[[indicators]]\nid='i'\ntitle='t'\nnumerator={{points='m'}}\nhotspots={h}\n", layer(""));
        let h = parse(&hot("{method='gi_star', weights='knn', k=6}")).unwrap().indicators[0].hotspots.unwrap();
        assert_eq!((h.method, h.weights), (HotspotMethod::GiStar, crate::weights::Spec::Knn(6)));
        for (bad, says) in [
            ("{method='moran'}", "method = 'moran'"),
            ("{weights='distance'}", "needs threshold"),
            ("{permutations=100000}", "at most 9999"),
            ("{alpha=2.0}", "alpha = 2"),
            ("{eb=true}", "eb = true needs a rate"),
        ] {
            let e = parse(&hot(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn crs_periods_and_conversions_are_checked_on_load() {
        for (extra, says) in [
            ("crs = 'EPSG:4326'\n", "crs = 'EPSG:4326': is not a projected CRS"),
            ("crs = 'EPSG:999999'\n", "crs = 'EPSG:999999'"),
            ("[[points]]\nid='m'\npath='m.csv'\ncrs='EPSG:0'\n", "point layer 'm': crs = 'EPSG:0'"),
            ("[[statistics]]\npath='s.csv'\nperiod='vorig jaar'\n", "statistics[0] (s.csv): period = 'vorig jaar' is not a CBS period"),
            ("[[statistics]]\npath='s.csv'\nboundaries={path='old.gpkg'}\n", "statistics[0] (s.csv): boundaries needs convert"),
            ("[[statistics]]\npath='s.csv'\nprotected=' '\n", "statistics[0] (s.csv): protected = '': name the source's rule"),
            ("[[statistics]]\npath='s.csv'\nprotection='source'\n", "unknown field `protection`"),
        ] {
            // `crs` is a top-level key: it goes before the first table.
            let text = if extra.starts_with("crs") { format!("{extra}{LEVEL}") } else { format!("{LEVEL}{extra}") };
            let e = Project::parse(&text, Path::new("p.toml")).unwrap_err().to_string();
            assert!(e.contains(says), "{extra}: {e}");
        }
        assert!(parse("[[statistics]]\npath='s.csv'\nperiod='2018KW03'\n").is_ok());
    }

    #[test]
    fn basemap_and_basemaps_become_one_list() {
        let one = Project::parse(
            &format!("basemap = {{ url = 'https://a.example/{{z}}/{{x}}/{{y}}.png', attribution = 'A' }}\n{LEVEL}"),
            Path::new("p.toml"),
        )
        .unwrap();
        let b = one.basemap.unwrap();
        assert_eq!(b.maps.len(), 1);
        assert_eq!(
            (b.maps[0].id.as_str(), b.maps[0].title.as_deref(), b.maps[0].attribution.as_deref()),
            ("basemap-1", Some("a.example"), Some("A"))
        );
        let two = "basemaps = [{ id = 'brt', title = 'BRT', url = 'https://a.example/{z}/{x}/{y}.png' }, { url = 'https://b.example/{z}/{y}/{x}.png' }]\n";
        let b = Project::parse(&format!("{two}{LEVEL}"), Path::new("p.toml")).unwrap().basemap.unwrap();
        let ids: Vec<&str> = b.maps.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["brt", "basemap-2"]);
        assert_eq!(serde_json::to_value(&b).unwrap()[0]["title"], "BRT");
        assert!(Project::parse(&format!("basemaps = []\n{LEVEL}"), Path::new("p.toml")).unwrap().basemap.is_none());
        assert!(parse("").unwrap().basemap.is_none());
        for (bad, says) in [
            ("basemaps = [{ url = 'ftp://a/{z}/{x}/{y}' }]\n", "basemaps[0].url"),
            ("basemaps = [{ id = 'a b', url = 'https://a/{z}/{x}/{y}' }]\n", "basemaps[0].id 'a b'"),
            ("basemaps = [{ id = 'a', url = 'https://a/{z}/{x}/{y}' }, { id = 'a', url = 'https://b/{z}/{x}/{y}' }]\n", "another basemap"),
            ("basemaps = [{ urll = 'https://a/{z}/{x}/{y}' }]\n", "unknown field `urll`"),
            ("basemap = { url = 'https://a/{z}/{x}' }\nbasemaps = [{ url = 'https://a/{z}/{x}/{y}' }]\n", "give one of them"),
        ] {
            let e = Project::parse(&format!("{bad}{LEVEL}"), Path::new("p.toml")).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
