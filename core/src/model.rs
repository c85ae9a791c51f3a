//! Domain types shared by every stage: area codes and their CBS hierarchy, areas and
//! levels, point layers, statistics and the accounting of every input row.
//!
//! After ingest every geometry here is in the project's working CRS (EPSG:28992 RD New
//! by default), so areas are in m² and distances in metres.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use geo_types::MultiPolygon;

/// The kind of a CBS region code, by its prefix: `GM0917` ⊃ `WK091710` ⊃ `BU09171000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CbsKind {
    Gemeente,
    Wijk,
    Buurt,
}

impl CbsKind {
    /// The kind of a (trimmed) CBS code, or `None` when it is not one. The gemeente part
    /// is four digits; the wijk and buurt parts are two characters each, usually digits,
    /// but letters in some gemeenten (Amsterdam: `WK0363AA`, `BU0363AA01`).
    pub fn of(code: &str) -> Option<CbsKind> {
        let (kind, len) = match code.get(..2)? {
            "GM" => (CbsKind::Gemeente, 4),
            "WK" => (CbsKind::Wijk, 6),
            "BU" => (CbsKind::Buurt, 8),
            _ => return None,
        };
        let rest = &code.as_bytes()[2..];
        let ok = rest.len() == len
            && rest[..4].iter().all(u8::is_ascii_digit)
            && rest[4..].iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        ok.then_some(kind)
    }

    /// `buurten`, `wijken`, `gemeenten`.
    pub fn plural(self) -> &'static str {
        match self {
            CbsKind::Buurt => "buurten",
            CbsKind::Wijk => "wijken",
            CbsKind::Gemeente => "gemeenten",
        }
    }
}

/// The CBS code one level up: `BU09171000` → `WK091710`, `WK091710` → `GM0917`.
pub fn cbs_parent_code(code: &str) -> Option<String> {
    match CbsKind::of(code)? {
        CbsKind::Buurt => Some(format!("WK{}", &code[2..8])),
        CbsKind::Wijk => Some(format!("GM{}", &code[2..6])),
        CbsKind::Gemeente => None,
    }
}

/// The CBS code of `code`'s ancestor of kind `target`, when `code` nests in it.
pub fn cbs_ancestor_code(code: &str, target: CbsKind) -> Option<String> {
    let kind = CbsKind::of(code)?;
    if kind == target {
        return Some(code.to_string());
    }
    match (kind, target) {
        (CbsKind::Buurt, CbsKind::Wijk) => Some(format!("WK{}", &code[2..8])),
        (CbsKind::Buurt | CbsKind::Wijk, CbsKind::Gemeente) => Some(format!("GM{}", &code[2..6])),
        _ => None,
    }
}

/// The kind of a German *Amtlicher Regionalschlüssel* (ARS), by its length: the 12 digits
/// of a Gemeinde are Land (2) · Regierungsbezirk (1) · Kreis (2) · Gemeindeverband (4) ·
/// Gemeinde (3), and each unit one up is a prefix (`05` NRW ⊃ `053` RB Köln ⊃ `05334`
/// StädteRegion Aachen ⊃ `053340002` ⊃ `053340002002` Aachen), as VG250 writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArsKind {
    Land,
    Regierungsbezirk,
    Kreis,
    Gemeindeverband,
    Gemeinde,
}

impl ArsKind {
    /// The kind of an ARS (digits only, of length 2, 3, 5, 9 or 12, Land 01–16), or
    /// `None`. Short numbers are ambiguous (a district `12` is also Land 12): callers use
    /// this where a code is compared with other ARS codes, never to guess a country.
    pub fn of(code: &str) -> Option<ArsKind> {
        let kind = match code.len() {
            2 => ArsKind::Land,
            3 => ArsKind::Regierungsbezirk,
            5 => ArsKind::Kreis,
            9 => ArsKind::Gemeindeverband,
            12 => ArsKind::Gemeinde,
            _ => return None,
        };
        let land: u8 = code.get(..2)?.parse().ok()?;
        (code.bytes().all(|b| b.is_ascii_digit()) && (1..=16).contains(&land)).then_some(kind)
    }

    /// The number of digits of this kind's codes.
    pub fn digits(self) -> usize {
        match self {
            ArsKind::Land => 2,
            ArsKind::Regierungsbezirk => 3,
            ArsKind::Kreis => 5,
            ArsKind::Gemeindeverband => 9,
            ArsKind::Gemeinde => 12,
        }
    }
}

/// The ARS of `code`'s ancestor of kind `target` (its prefix), when `code` is an ARS
/// that nests in it: `ars_ancestor_code("053340002002", ArsKind::Kreis)` is `05334`.
pub fn ars_ancestor_code(code: &str, target: ArsKind) -> Option<String> {
    let kind = ArsKind::of(code)?;
    (kind >= target).then(|| code[..target.digits()].to_string())
}

/// A region code of a known code system: CBS (the Netherlands) or ARS (Germany).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeKind {
    Cbs(CbsKind),
    Ars(ArsKind),
}

impl CodeKind {
    /// CBS first (`GM0917`), then ARS; `None` for any other code (postcodes, a city's own
    /// district numbers, names).
    pub fn of(code: &str) -> Option<CodeKind> {
        CbsKind::of(code).map(CodeKind::Cbs).or_else(|| ArsKind::of(code).map(CodeKind::Ars))
    }

    /// Does `code` nest in `region` (or equal it)? Both of one system: by that system's
    /// hierarchy; otherwise never.
    pub fn nests(code: &str, region: &str) -> bool {
        match (CodeKind::of(code), CodeKind::of(region)) {
            (Some(CodeKind::Cbs(_)), Some(CodeKind::Cbs(k))) => cbs_ancestor_code(code, k).as_deref() == Some(region),
            (Some(CodeKind::Ars(_)), Some(CodeKind::Ars(k))) => ars_ancestor_code(code, k).as_deref() == Some(region),
            _ => false,
        }
    }
}

/// Trim the space padding CBS puts on region codes (`"GM0917    "` → `GM0917`).
pub fn clean_code(raw: &str) -> String {
    raw.trim().trim_matches('"').trim().to_string()
}

/// How categories are compared: `Water in kelder `, `water  in kelder` and
/// `WATER IN KELDER` are one category (trimmed, inner spaces collapsed, lower case).
pub fn category_key(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Category values as read, each under its [`category_key`]; the first spelling seen is
/// the one shown.
#[derive(Debug, Default)]
pub struct CategoryIndex {
    exact: HashMap<String, u32>,
    by_key: HashMap<String, u32>,
}

impl CategoryIndex {
    /// The category index of `text`, adding a category to `names` when it is new.
    pub fn index(&mut self, text: &str, names: &mut Vec<String>) -> u32 {
        if let Some(&i) = self.exact.get(text) {
            return i;
        }
        let key = category_key(text);
        let i = *self.by_key.entry(key).or_insert_with(|| {
            names.push(text.trim().to_string());
            names.len() as u32 - 1
        });
        self.exact.insert(text.to_string(), i);
        i
    }
}

/// A property value of an area or point, the same in every channel: tiles encode it as
/// MVT values, the OGC API and GeoJSON as JSON, the GeoPackage as fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    Str(String),
    Num(f64),
    Int(i64),
}

impl Prop {
    /// The same value as JSON (for the OGC API and GeoJSON, which carry the tile properties).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Prop::Str(s) => serde_json::Value::from(s.as_str()),
            Prop::Num(x) => serde_json::Value::from(*x),
            Prop::Int(i) => serde_json::Value::from(*i),
        }
    }
}

/// One polygon area of a level (a buurt, a wijk, a postcode area, ...).
#[derive(Debug, Clone)]
pub struct Area {
    pub code: String,
    pub name: Option<String>,
    /// In the working CRS.
    pub geometry: MultiPolygon<f64>,
    /// Planar area of `geometry` in km² (working CRS units are metres).
    pub geometry_km2: f64,
    /// The country the area lies in, as its level (part) says (`country = "DE"`): ISO
    /// 3166-1 alpha-2; `None` when the project does not say (never guessed from the code).
    pub country: Option<String>,
}

/// A set of areas that together form one map level, e.g. all buurten.
#[derive(Debug, Clone)]
pub struct Level {
    pub id: String,
    pub title: String,
    /// Set when every code in the level is a CBS code of this kind.
    pub cbs_kind: Option<CbsKind>,
    pub areas: Vec<Area>,
    pub by_code: HashMap<String, usize>,
    /// The index of the level one up, when there is one (wijken for buurten).
    pub parent: Option<usize>,
    /// For every area, the index of its parent area in the parent level.
    pub parent_area: Vec<Option<u32>>,
    /// Numeric attributes per area, aligned with `areas`; null stays null.
    pub stats: StatColumns,
    /// For a level of custom groups (`[[groups]]`): what they are made of.
    pub groups: Option<GroupInfo>,
    /// For a level of cells of the European grid: the cell size in metres (codes are
    /// INSPIRE cell codes, [`crate::grid::Cell`]).
    pub grid: Option<u32>,
}

/// The makeup of a level of custom groups: the level the members come from, and per group
/// the members' indices in that level.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub member_level: String,
    pub members: Vec<Vec<usize>>,
}

/// Named numeric columns aligned with a level's areas. `None` = missing or secret.
#[derive(Debug, Clone, Default)]
pub struct StatColumns {
    pub columns: BTreeMap<String, Vec<Option<f64>>>,
    /// Where each column came from (a file and column name), for the metadata.
    pub sources: BTreeMap<String, String>,
    /// The CBS period of a column's values in `columns`, when the file says.
    pub periods: BTreeMap<String, String>,
    /// Every edition of a column (one per period of its statistics files), oldest first:
    /// the time series behind per-period indicators. Aligned with the level's areas.
    pub series: BTreeMap<String, Vec<StatEdition>>,
    /// Columns converted from other boundaries: per area, whether its value was converted
    /// (`false` where the area was carried over unchanged).
    pub converted: BTreeMap<String, Vec<bool>>,
    /// Columns their source already protected (`[[statistics]] protected = "…"`), with
    /// the source's rule in words: not protected again by buurtmeter's rules.
    pub protected: BTreeMap<String, String>,
}

/// One period of a statistic for every area of a level.
#[derive(Debug, Clone)]
pub struct StatEdition {
    /// The period as CBS writes it (`2024JJ00`, `2024MM03`, `2018`).
    pub label: String,
    /// Its first day.
    pub start: Date,
    pub values: Vec<Option<f64>>,
}

/// A calendar date as (year, month, day), validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1800..=2200).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (day <= days[month as usize - 1]).then_some(Date { year, month, day })
    }

    pub fn quarter(self) -> u8 {
        (self.month - 1) / 3 + 1
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The points of one register after ingest, as columns. Rows that could not be read
/// are not here: they are in `accounting.rejected`.
#[derive(Debug, Clone, Default)]
pub struct PointLayer {
    pub id: String,
    /// Working-CRS coordinates.
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// The 1-based input row (or feature number) of each point, for messages.
    pub rows: Vec<u64>,
    /// The date per point; `None` where it is empty or unreadable (the point is left out of
    /// per-period indicators; an unreadable one is named in `accounting.field_issues`).
    pub dates: Option<Vec<Option<Date>>>,
    /// Index into `categories`, per point.
    pub category_idx: Option<Vec<u32>>,
    pub categories: Vec<String>,
    /// The weight per point; NaN where it is empty or unreadable (the point is left out of
    /// weighted indicators, and named in `accounting.field_issues`).
    pub weights: Option<Vec<f64>>,
    /// A stable identity per point (a hash of its id column or row), when asked for.
    pub identity: Option<Vec<u64>>,
    /// Rows that stand for many records (a layer joined in the database: one row per
    /// area, date, category and usable weight). `weights` then holds each row's weight
    /// sum, and `xs`/`ys` are NaN but for the points the database sent back one by one.
    pub groups: Option<Groups>,
    pub accounting: Accounting,
}

/// Per row of a grouped layer: how many records it stands for, and the largest |weight|
/// among them (for the dominance rule of weighted sums).
#[derive(Debug, Clone, Default)]
pub struct Groups {
    pub records: Vec<u64>,
    pub largest: Vec<f64>,
}

impl PointLayer {
    pub fn len(&self) -> usize {
        self.xs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.xs.is_empty()
    }

    /// The records the rows stand for: the rows, or for a grouped layer their records.
    pub fn records(&self) -> u64 {
        self.groups.as_ref().map_or(self.xs.len() as u64, |g| g.records.iter().sum())
    }
}

/// Why a row was not used. Every row that is not a point is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    MissingCoordinate,
    NotANumber,
    NotFinite,
    OutsideCrsRange,
    LooksSwapped,
    LooksLikeRdNotLonLat,
    NotReprojectable,
    NoGeometry,
    NotAPoint,
    MalformedRow,
    XySwapped,
    GeometryText,
    AddressNotFound,
    AddressAmbiguous,
}

impl RejectReason {
    /// Stable key used in the JSON summary.
    pub fn key(self) -> &'static str {
        match self {
            RejectReason::MissingCoordinate => "missing_coordinate",
            RejectReason::NotANumber => "coordinate_not_a_number",
            RejectReason::NotFinite => "coordinate_not_finite",
            RejectReason::OutsideCrsRange => "outside_crs_range",
            RejectReason::LooksSwapped => "lat_lon_swapped",
            RejectReason::LooksLikeRdNotLonLat => "rd_coordinates_declared_as_lon_lat",
            RejectReason::NotReprojectable => "not_reprojectable",
            RejectReason::NoGeometry => "no_geometry",
            RejectReason::NotAPoint => "geometry_not_a_point",
            RejectReason::MalformedRow => "malformed_row",
            RejectReason::XySwapped => "x_y_swapped",
            RejectReason::GeometryText => "geometry_text_not_readable",
            RejectReason::AddressNotFound => "address_not_found",
            RejectReason::AddressAmbiguous => "address_ambiguous",
        }
    }

    /// What it means and what to do about it, in the user's terms.
    pub fn describe(self) -> &'static str {
        match self {
            RejectReason::MissingCoordinate => "a coordinate is empty: fill in x/y (or lon/lat, or the coordinate column) for this row",
            RejectReason::NotANumber => "a coordinate is not a number: correct the value (a decimal comma or point is fine)",
            RejectReason::NotFinite => "a coordinate is NaN or infinite: correct the value",
            RejectReason::OutsideCrsRange => {
                "the point lies outside the valid area of its CRS: check the value, or the CRS (crs = ...) and which columns hold x and y"
            }
            RejectReason::LooksSwapped => "latitude and longitude look swapped (lat is in the lon range and vice versa): exchange them",
            RejectReason::LooksLikeRdNotLonLat => {
                "the values look like RD New x/y metres, but the columns were declared lon/lat: declare them as x/y"
            }
            RejectReason::NotReprojectable => "the point could not be reprojected: check the value and the CRS",
            RejectReason::NoGeometry => "the feature has no geometry: give it a location",
            RejectReason::NotAPoint => "the geometry is not a point (a line or polygon): a register needs one point per record",
            RejectReason::MalformedRow => "the row could not be parsed as CSV (a stray quote?): correct the row",
            RejectReason::XySwapped => "x and y look swapped (the point lies in the CRS's area with x and y exchanged): exchange them",
            RejectReason::GeometryText => {
                "the coordinate text is not WKT (POINT(x y)), EWKT (SRID=28992;POINT(x y)) or an 'x y' pair: correct the value"
            }
            RejectReason::AddressNotFound => {
                "the address (postcode and huisnummer, or BAG id) is not in the BAG address file, or cannot be read: check the postcode, number, letter and toevoeging"
            }
            RejectReason::AddressAmbiguous => {
                "the address has several BAG addresses (huisletters or toevoegingen) and the row does not say which: add the letter or toevoeging"
            }
        }
    }
}

/// A field of a row that is a point but cannot be used everywhere: the row counts as a
/// point, but not in what needs that field. The same rule for every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldIssue {
    /// An empty weight: left out of weighted indicators (sums), counted everywhere else.
    WeightEmpty,
    /// A weight that is not a number (`n.b.`): as an empty one.
    WeightNotANumber,
    /// A date that cannot be read (`onbekend`): left out of per-period indicators and
    /// date filters, counted in whole-period indicators.
    DateNotReadable,
}

impl FieldIssue {
    pub fn key(self) -> &'static str {
        match self {
            FieldIssue::WeightEmpty => "weight_empty",
            FieldIssue::WeightNotANumber => "weight_not_a_number",
            FieldIssue::DateNotReadable => "date_not_readable",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FieldIssue::WeightEmpty => "the weight is empty: the row counts, but not in weighted indicators (sums); fill in the weight",
            FieldIssue::WeightNotANumber => {
                "the weight is not a number: the row counts, but not in weighted indicators (sums); correct the weight"
            }
            FieldIssue::DateNotReadable => {
                "the date is not readable (expected yyyy-mm-dd, dd-mm-jjjj or an Excel date): the row counts in whole-period indicators, not per period; correct the date"
            }
        }
    }
}

/// What happened to a row that is worth handing back: rejected, or a point with a field
/// that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowIssue {
    Rejected(RejectReason),
    Partial(FieldIssue),
}

impl RowIssue {
    pub fn key(self) -> &'static str {
        match self {
            RowIssue::Rejected(r) => r.key(),
            RowIssue::Partial(f) => f.key(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            RowIssue::Rejected(r) => r.describe(),
            RowIssue::Partial(f) => f.describe(),
        }
    }

    /// `rejected` or `partly used`.
    pub fn status(self) -> &'static str {
        match self {
            RowIssue::Rejected(_) => "rejected",
            RowIssue::Partial(_) => "partly used",
        }
    }
}

/// One rejected row, kept for the report (only the first few per reason are kept).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub row: u64,
    pub reason: RejectReason,
    pub detail: String,
}

/// One row for the file that goes back to whoever made the input: every rejected and
/// partly used row, with its original fields (empty where a row's fields are not known,
/// as for a point that failed reprojection).
#[derive(Debug, Clone)]
pub struct HandBackRow {
    pub row: u64,
    pub issue: RowIssue,
    pub detail: String,
    pub fields: Vec<String>,
}

/// Every rejected and partly used row of a layer, kept when asked for (`--rejected`,
/// `rejected = "…"`), with the input's column names.
#[derive(Debug, Clone, Default)]
pub struct HandBack {
    pub header: Vec<String>,
    pub rows: Vec<HandBackRow>,
    /// For a layer with geometry: its CRS (WKT); the last field is then the geometry as WKT.
    pub geometry_crs: Option<String>,
}

/// How many rows came in and where they went: `rows = joined + outside + rejected`.
/// `joined` and `outside` are filled in by the join.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    pub rows: u64,
    pub joined: u64,
    pub outside: u64,
    /// Of `outside`: the points that lie in an area of the file but outside the project's
    /// region (the rest lie outside every area).
    pub outside_region: u64,
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Examples, at most [`Accounting::EXAMPLES_PER_REASON`] per reason.
    pub examples: Vec<Rejection>,
    /// Points with a field that could not be used (an empty weight, an unreadable date):
    /// counted as points, left out of what needs that field.
    pub field_issues: BTreeMap<FieldIssue, u64>,
    /// Examples of those, at most [`Accounting::EXAMPLES_PER_REASON`] per issue.
    pub field_examples: Vec<(u64, FieldIssue, String)>,
    /// Lines of a spreadsheet or CSV that are no records (empty rows, a totals row): not
    /// rows, not rejected; named in `notes`.
    pub not_records: u64,
    pub warnings: Vec<String>,
    /// Rows that are exact copies of an earlier row (counted as points all the same).
    pub duplicate_rows: u64,
    /// What the reader decided and why (which columns, which CRS): printed with the
    /// accounting, so a person can see how their file was read.
    pub notes: Vec<String>,
    /// Every rejected and partly used row with its fields, when asked for.
    pub handback: Option<HandBack>,
}

impl Accounting {
    pub const EXAMPLES_PER_REASON: u64 = 5;

    pub fn reject(&mut self, row: u64, reason: RejectReason, detail: impl FnOnce() -> String) {
        let n = self.rejected.entry(reason).or_insert(0);
        *n += 1;
        let example = *n <= Self::EXAMPLES_PER_REASON;
        if example || self.handback.is_some() {
            let detail = detail();
            if let Some(h) = self.handback.as_mut() {
                h.rows.push(HandBackRow { row, issue: RowIssue::Rejected(reason), detail: detail.clone(), fields: Vec::new() });
            }
            if example {
                self.examples.push(Rejection { row, reason, detail });
            }
        }
    }

    /// A point with a field that cannot be used: counted, named, kept for the hand-back.
    pub fn partial(&mut self, row: u64, issue: FieldIssue, detail: impl FnOnce() -> String) {
        let n = self.field_issues.entry(issue).or_insert(0);
        *n += 1;
        let example = *n <= Self::EXAMPLES_PER_REASON;
        if example || self.handback.is_some() {
            let detail = detail();
            if let Some(h) = self.handback.as_mut() {
                h.rows.push(HandBackRow { row, issue: RowIssue::Partial(issue), detail: detail.clone(), fields: Vec::new() });
            }
            if example {
                self.field_examples.push((row, issue, detail));
            }
        }
    }

    /// The fields of `row` for the hand-back rows just recorded for it.
    pub fn attach_fields(&mut self, row: u64, fields: impl FnOnce() -> Vec<String>) {
        let Some(h) = self.handback.as_mut() else { return };
        let open = h.rows.iter().rev().take_while(|r| r.row == row && r.fields.is_empty()).count();
        if open > 0 {
            let fields = fields();
            let n = h.rows.len();
            h.rows[n - open..].iter_mut().for_each(|r| r.fields = fields.clone());
        }
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// The invariant every run checks: nothing went missing.
    pub fn balances(&self) -> bool {
        self.rows == self.joined + self.outside + self.rejected_total() && self.outside_region <= self.outside
    }
}

/// The first cycle in a forest of parent links (`parent[i]` is the parent of `i`), as the
/// indices on it in parent order; `None` when every chain of parents ends.
pub fn parent_cycle(parent: &[Option<usize>]) -> Option<Vec<usize>> {
    for start in 0..parent.len() {
        let mut path = vec![start];
        let mut at = start;
        while let Some(p) = parent[at] {
            if let Some(pos) = path.iter().position(|&x| x == p) {
                return Some(path[pos..].to_vec());
            }
            path.push(p);
            at = p;
        }
    }
    None
}

/// "a → b → a": a cycle of names, closed.
pub fn cycle_text(names: &[&str]) -> String {
    names.iter().chain(names.first()).copied().collect::<Vec<_>>().join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbs_codes_nest_by_prefix() {
        assert_eq!(CbsKind::of("BU09171000"), Some(CbsKind::Buurt));
        assert_eq!(CbsKind::of("WK091710"), Some(CbsKind::Wijk));
        assert_eq!(CbsKind::of("GM0917"), Some(CbsKind::Gemeente));
        assert_eq!(CbsKind::of("GM917"), None);
        assert_eq!(CbsKind::of("BU0917100x"), None);
        assert_eq!(CbsKind::of("WK0363AA"), Some(CbsKind::Wijk), "Amsterdam's wijk codes have letters");
        assert_eq!(CbsKind::of("BU0363AA01"), Some(CbsKind::Buurt));
        assert_eq!(cbs_parent_code("BU0363AA01").as_deref(), Some("WK0363AA"));
        assert_eq!(cbs_parent_code("BU09171000").as_deref(), Some("WK091710"));
        assert_eq!(cbs_parent_code("WK091710").as_deref(), Some("GM0917"));
        assert_eq!(cbs_ancestor_code("BU09171000", CbsKind::Gemeente).as_deref(), Some("GM0917"));
        assert_eq!(clean_code("\"GM0917    \""), "GM0917");
    }

    #[test]
    fn ars_codes_nest_by_prefix() {
        assert_eq!(ArsKind::of("053340002002"), Some(ArsKind::Gemeinde), "Aachen");
        assert_eq!(ArsKind::of("053340002"), Some(ArsKind::Gemeindeverband));
        assert_eq!(ArsKind::of("05334"), Some(ArsKind::Kreis), "StädteRegion Aachen");
        assert_eq!(ArsKind::of("053"), Some(ArsKind::Regierungsbezirk));
        assert_eq!(ArsKind::of("05"), Some(ArsKind::Land));
        assert_eq!(ArsKind::of("175340002002"), None, "there is no Land 17");
        assert_eq!(ArsKind::of("00334"), None);
        assert_eq!(ArsKind::of("0533400020"), None, "10 digits is no ARS level");
        assert_eq!(ArsKind::of("05334000200A"), None);
        assert_eq!(ArsKind::of("GM0917"), None);
        assert_eq!(ars_ancestor_code("053340002002", ArsKind::Kreis).as_deref(), Some("05334"));
        assert_eq!(ars_ancestor_code("053340002002", ArsKind::Gemeinde).as_deref(), Some("053340002002"));
        assert_eq!(ars_ancestor_code("05334", ArsKind::Gemeinde), None, "a Kreis does not nest in a Gemeinde");
        assert_eq!(CodeKind::of("GM0917"), Some(CodeKind::Cbs(CbsKind::Gemeente)));
        assert_eq!(CodeKind::of("05334"), Some(CodeKind::Ars(ArsKind::Kreis)));
        assert_eq!(CodeKind::of("Aachen"), None);
        assert!(CodeKind::nests("053340002002", "05334"));
        assert!(CodeKind::nests("BU09171000", "GM0917"));
        assert!(!CodeKind::nests("053700012012", "05334"));
        assert!(!CodeKind::nests("GM0917", "05334"));
        assert!(!CodeKind::nests("05334", "GM0917"));
    }

    #[test]
    fn dates_are_validated() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2023, 13, 1).is_none());
        assert_eq!(Date::new(2023, 11, 5).unwrap().quarter(), 4);
    }
}
