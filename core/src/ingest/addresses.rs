//! The BAG address book: register rows that give a Dutch address (postcode + huisnummer,
//! with huisletter and huisnummertoevoeging) or a BAG id instead of coordinates, matched
//! to the BAG point of that address.
//!
//! [`AddressBook::read`] reads a BAG GeoPackage (PDOK's verblijfsobjecten, ligplaatsen,
//! standplaatsen or nummeraanduidingen with a geometry; any OGR format works) once into
//! memory, keyed on the normalised address and on the BAG ids, with every point in the
//! working CRS. Its fields are found by their usual names, case-insensitively (`postcode`,
//! `huisnummer`, `huisletter`, `toevoeging` / `huisnummertoevoeging`, `nummer_id` /
//! `nummeraanduiding_id` / `identificatie`, ...). Without a layer name, every layer with a
//! postcode and a huisnummer field and a geometry is read: a houseboat (ligplaats) or a
//! caravan pitch (standplaats) has an address as much as a dwelling does. A polygon
//! (PDOK's ligplaatsen and standplaatsen) stands for its interior point.
//!
//! # Matching rules
//!
//! - The postcode is compared as 4 digits and 2 upper-case letters without a space
//!   (`1012 ab`, `1012AB` and ` 1012 AB ` are the same); the first digit is not 0.
//! - The huisletter is one letter, compared case-insensitively.
//! - The toevoeging is compared case-insensitively, on its letters and digits only
//!   (`-2`, ` 2 ` and `2` are the same; so are `bis` and `BIS`).
//! - A register address that the BAG has exactly (number, letter and toevoeging) is
//!   [`Match::Found`].
//! - A single letter may be written as huisletter or as toevoeging (`12A`, `12-A`): when
//!   the address is not in the BAG as written but is with that letter in the other place
//!   (and nothing after it), it is Found there.
//! - A register address without a toevoeging (with or without a huisletter) that the BAG
//!   has only with toevoegingen or huisletters (`12` when the BAG has `12-1` and `12-2`,
//!   or only `12-H`) is [`Match::Ambiguous`], listing the BAG's addresses on that postcode
//!   and number (and letter, when given). When exactly one of them has no letter and no
//!   toevoeging, that one is the address asked for, so it is Found (the first rule).
//! - A register address with a toevoeging that the BAG does not have is
//!   [`Match::NotFound`], even when the number exists only once: the register names an
//!   address the BAG does not know, and guessing would put the row in the wrong place.
//! - So is an address whose postcode or number cannot be read.
//! - The BAG may hold several points for the very same address (the Amsterdam sample
//!   has two for `1013AS 219`, with different nummeraanduiding ids): the first one read
//!   (the layer first in the file, then the lowest fid) is the one Found.
//! - BAG ids (nummeraanduiding, verblijfsobject, ligplaats or standplaats identificatie)
//!   are 16 digits; an id with its leading zeros lost (a spreadsheet read it as a
//!   number) is padded back, and the forms `NL.IMBAG.Nummeraanduiding.0363200000039881`
//!   and `http://bag.basisregistraties.overheid.nl/bag/id/nummeraanduiding/0363…` are
//!   read as the id at their end.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::LayerAccess;
use geo::InteriorPoint;
use geo_types::Geometry;

use super::csv_points::normalise;
use super::vector::{layer_names, open};
use super::{IngestError, Progress, Result};
use crate::crs::{self, Reprojector};

/// Register columns that hold the postcode, normalised like [`normalise`] (lower case, no
/// accents, letters and digits only), most specific first.
pub const POSTCODE_NAMES: &[&str] =
    &["postcode", "pc6", "postcode6", "adrespostcode", "postcodeadres", "postalcode", "postcodeletters", "zipcode", "zip"];

/// Register columns that hold the huisnummer (possibly with its letter and toevoeging
/// written after it), normalised, most specific first; the generic `nummer` and `nr` last.
pub const HUISNUMMER_NAMES: &[&str] = &[
    "huisnummer",
    "huisnr",
    "hnr",
    "adreshuisnummer",
    "huisnummeradres",
    "housenumber",
    "housenr",
    "houseno",
    "streetnumber",
    "nummer",
    "nr",
];

/// Register columns that hold the huisletter, normalised.
pub const HUISLETTER_NAMES: &[&str] = &["huisletter", "huisnrletter", "huisnummerletter", "hlt", "houseletter", "letter"];

/// Register columns that hold the huisnummertoevoeging, normalised.
pub const TOEVOEGING_NAMES: &[&str] = &[
    "huisnummertoevoeging",
    "toevoeging",
    "huisnrtoevoeging",
    "huisnummertoev",
    "huisnrtoev",
    "hnrtoev",
    "toev",
    "huisnummerachtervoegsel",
    "housenumberaddition",
    "housenumbersuffix",
    "addition",
    "suffix",
];

/// Register columns that hold a BAG id (nummeraanduiding or adresseerbaar object),
/// normalised; the generic `identificatie` last.
pub const BAG_ID_NAMES: &[&str] = &[
    "nummeraanduidingid",
    "nummeraanduidingidentificatie",
    "nummeraanduiding",
    "nummerid",
    "numid",
    "bagid",
    "bagadresid",
    "adresid",
    "addressid",
    "verblijfsobjectid",
    "verblijfsobjectidentificatie",
    "vboid",
    "adresseerbaarobjectid",
    "adresseerbaarobjectidentificatie",
    "bagidentificatie",
    "identificatie",
];

/// Fields of a BAG file that hold the nummeraanduiding id of the point's address
/// (normalised): the gokoala sample's `nummer_id`, PDOK's
/// `nummeraanduiding_hoofdadres_identificatie`, ...
const BAG_NUMMERAANDUIDING_FIELDS: &[&str] = &[
    "nummeraanduidingid",
    "nummeraanduidingidentificatie",
    "nummeraanduidinghoofdadresidentificatie",
    "hoofdadresnummeraanduidingidentificatie",
    "hoofdadresidentificatie",
    "nummerid",
    "numid",
    "nummeraanduiding",
];

/// Fields of a BAG file that hold the id of the addressable object itself (verblijfsobject,
/// ligplaats, standplaats), normalised.
const BAG_OBJECT_FIELDS: &[&str] = &[
    "identificatie",
    "verblijfsobjectid",
    "verblijfsobjectidentificatie",
    "vboid",
    "ligplaatsid",
    "ligplaatsidentificatie",
    "standplaatsid",
    "standplaatsidentificatie",
    "adresseerbaarobjectid",
    "adresseerbaarobjectidentificatie",
];

/// The highest huisnummer the BAG allows.
const MAX_HUISNUMMER: u32 = 99_999;

/// A Dutch address, as a register gives it; [`Address::parse`] makes a normalised one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// `1012AB`: 4 digits and 2 upper-case letters, no space (after [`Address::parse`]).
    pub postcode: String,
    pub huisnummer: u32,
    /// Upper case (after [`Address::parse`]).
    pub huisletter: Option<char>,
    /// Upper-case letters and digits (after [`Address::parse`]); never empty.
    pub toevoeging: Option<String>,
}

impl Address {
    /// Parse from the text of the columns as people write them: postcode `1012 AB`,
    /// `1012ab`, ` 1012AB `; huisnummer `12`, `12a`, `12 A`, `12-2`, `12-II`, `12 bis`,
    /// `12a-3` (and `12.0`, a number as a spreadsheet gives it). The huisletter and the
    /// toevoeging may be separate columns (then passed in) or written into the huisnummer;
    /// when both say one, they must agree.
    ///
    /// A single letter right after the number (`12a`, `12 A`, `12A-3`) is the huisletter;
    /// after a dash or slash (`12-A`), or more than one letter (`12 bis`, `12hs`), it is
    /// the toevoeging ([`AddressBook::find`] tries a single letter in the other place too).
    ///
    /// Returns `None` when the postcode or the number cannot be read, when a huisletter
    /// column holds more than one letter, or when the columns and the huisnummer disagree
    /// (huisnummer `12a` with huisletter `b`): such an address cannot be matched safely.
    pub fn parse(postcode: &str, huisnummer: &str, huisletter: Option<&str>, toevoeging: Option<&str>) -> Option<Address> {
        let postcode = normalise_postcode(postcode)?;
        let (number, written_letter, written_toevoeging) = split_huisnummer(huisnummer)?;
        let column_letter = match huisletter.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(single_letter(text)?),
        };
        let column_toevoeging = toevoeging.and_then(normalise_toevoeging);
        Some(Address {
            postcode,
            huisnummer: number,
            huisletter: agree(written_letter, column_letter)?,
            toevoeging: agree(written_toevoeging, column_toevoeging)?,
        })
    }

    /// The address as [`Address::parse`] would have made it (for one built by hand), or
    /// `None` when its postcode or number is not a Dutch one.
    pub fn normalised(&self) -> Option<Address> {
        let huisletter = match self.huisletter {
            None => None,
            Some(c) if c.is_ascii_alphabetic() => Some(c.to_ascii_uppercase()),
            Some(_) => return None,
        };
        Some(Address {
            postcode: normalise_postcode(&self.postcode)?,
            huisnummer: (1..=MAX_HUISNUMMER).contains(&self.huisnummer).then_some(self.huisnummer)?,
            huisletter,
            toevoeging: self.toevoeging.as_deref().and_then(normalise_toevoeging),
        })
    }

    /// The same address with its single letter in the other place (huisletter `A` ↔
    /// toevoeging `A`), when it has exactly one of the two and that is one letter.
    fn letter_moved(&self) -> Option<Address> {
        let (huisletter, toevoeging) = match (&self.huisletter, &self.toevoeging) {
            (Some(letter), None) => (None, Some(letter.to_string())),
            (None, Some(t)) => (Some(single_letter(t)?), None),
            _ => return None,
        };
        Some(Address { postcode: self.postcode.clone(), huisnummer: self.huisnummer, huisletter, toevoeging })
    }
}

/// `1012AB 12`, `1012AB 12A`, `1012AB 12-2`, `1012AB 12A-3`.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.postcode, self.huisnummer)?;
        if let Some(letter) = self.huisletter {
            write!(f, "{letter}")?;
        }
        if let Some(t) = &self.toevoeging {
            write!(f, "-{t}")?;
        }
        Ok(())
    }
}

/// What the address book says about one address or id.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// The BAG point in the working CRS, and the BAG id of the address (its
    /// nummeraanduiding id when the file has one, else the object's id, else the address
    /// as text).
    Found {
        x: f64,
        y: f64,
        id: String,
    },
    NotFound,
    /// The address is not precise enough: the candidates, as readable addresses
    /// (`1012AB 12-2`), in order of letter and toevoeging.
    Ambiguous(Vec<String>),
}

/// One BAG point as read, before the index is built.
#[derive(Debug, Clone)]
struct BagPoint {
    /// Where it was read: the layer's place in the file, then the fid; the lowest wins
    /// when several points have the same address.
    order: (usize, u64),
    address: Option<Address>,
    nummeraanduiding: Option<String>,
    object: Option<String>,
    x: f64,
    y: f64,
}

/// One point of the book.
#[derive(Debug, Clone)]
struct Entry {
    address: Option<Address>,
    x: f64,
    y: f64,
    /// The id [`Match::Found`] reports.
    id: String,
}

/// The BAG addresses of a file, in memory, in the working CRS.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    entries: Vec<Entry>,
    /// Normalised address → its first point.
    by_address: HashMap<Address, usize>,
    /// (postcode, huisnummer) → the first point of each address with that number.
    by_number: HashMap<(String, u32), Vec<usize>>,
    /// 16-digit BAG id (nummeraanduiding or object) → its first point.
    by_id: HashMap<String, usize>,
    warnings: Vec<String>,
}

impl AddressBook {
    /// Read a BAG address file (GeoPackage of verblijfsobjecten or nummeraanduidingen
    /// with points; any OGR format), all at once. `layer`: the one to read; without it the
    /// only layer, or every layer with postcode and huisnummer fields and a geometry.
    /// Points are reprojected into `working`; a layer that declares no CRS is taken to
    /// be in RD New (EPSG:28992), as the BAG is published, with a warning.
    pub fn read(path: &Path, layer: Option<&str>, working: &SpatialRef) -> Result<AddressBook> {
        let ds = open(path)?;
        let chosen = choose_layers(&ds, path, layer)?;
        let mut points = Vec::new();
        let mut warnings = Vec::new();
        for (layer_index, (name, fields)) in chosen.iter().enumerate() {
            let mut layer = ds.layer_by_name(name).map_err(IngestError::gdal(path, name))?;
            let what = format!("{}, layer '{name}'", path.display());
            let source = match layer.spatial_ref() {
                Some(mut srs) => {
                    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
                    srs
                }
                None => {
                    warnings.push(format!("{what}: the layer declares no CRS; taken to be RD New ({})", crs::RD_NEW));
                    crs::spatial_ref(crs::RD_NEW).map_err(IngestError::crs(path))?
                }
            };
            let reprojector = Reprojector::new(&source, working).map_err(IngestError::crs(path))?;
            let mut read = read_layer(&mut layer, path, name, layer_index, fields)?;
            reproject(&mut read.points, &reprojector, &mut read.skipped);
            warnings.extend(read.skipped.warnings(&what, fields.describe(), &reprojector.source_label));
            points.append(&mut read.points);
        }
        let mut book = AddressBook::build(points, &path.display().to_string());
        book.warnings.splice(0..0, warnings);
        Ok(book)
    }

    /// The index over points already read, in any order; `what` names their file in
    /// the warnings.
    fn build(mut points: Vec<BagPoint>, what: &str) -> AddressBook {
        points.sort_by_key(|p| p.order);
        let mut book = AddressBook::default();
        let mut repeated_addresses: Vec<String> = Vec::new();
        let mut repeated_ids: Vec<String> = Vec::new();
        for p in points {
            let index = book.entries.len();
            let id = p.nummeraanduiding.clone().or_else(|| p.object.clone()).or_else(|| p.address.as_ref().map(Address::to_string));
            if let Some(address) = &p.address {
                if book.by_address.contains_key(address) {
                    // Several BAG points for the very same address: the first read (lowest
                    // fid) stays the one found; the others remain reachable by their ids.
                    repeated_addresses.push(address.to_string());
                } else {
                    book.by_address.insert(address.clone(), index);
                    book.by_number.entry((address.postcode.clone(), address.huisnummer)).or_default().push(index);
                }
            }
            for bag_id in [&p.nummeraanduiding, &p.object].into_iter().flatten() {
                if book.by_id.contains_key(bag_id) {
                    repeated_ids.push(bag_id.clone());
                } else {
                    book.by_id.insert(bag_id.clone(), index);
                }
            }
            book.entries.push(Entry { address: p.address, x: p.x, y: p.y, id: id.unwrap_or_default() });
        }
        if !repeated_addresses.is_empty() {
            book.warnings.push(format!(
                "{what}: {} addresses have more than one BAG point; each is matched to the first (lowest fid): {}",
                repeated_addresses.len(),
                list(&repeated_addresses)
            ));
        }
        if !repeated_ids.is_empty() {
            book.warnings.push(format!(
                "{what}: {} BAG ids occur more than once; each is matched to its first point: {}",
                repeated_ids.len(),
                list(&repeated_ids)
            ));
        }
        book
    }

    /// The number of BAG points read (with an address, an id or both).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What reading the file left out or found twice, naming the file and layer.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Look up one address, by the rules in the module documentation.
    pub fn find(&self, a: &Address) -> Match {
        let Some(wanted) = a.normalised() else { return Match::NotFound };
        if let Some(found) = self.exact(&wanted) {
            return found;
        }
        if let Some(found) = wanted.letter_moved().and_then(|moved| self.exact(&moved)) {
            return found;
        }
        if wanted.toevoeging.is_some() {
            return Match::NotFound;
        }
        let Some(same_number) = self.by_number.get(&(wanted.postcode.clone(), wanted.huisnummer)) else { return Match::NotFound };
        let mut candidates: Vec<&Address> = same_number
            .iter()
            .filter_map(|&i| self.entries[i].address.as_ref())
            .filter(|c| wanted.huisletter.is_none() || c.huisletter == wanted.huisletter)
            .collect();
        if candidates.is_empty() {
            return Match::NotFound;
        }
        candidates.sort_by(|a, b| a.huisletter.cmp(&b.huisletter).then_with(|| toevoeging_order(a).cmp(&toevoeging_order(b))));
        Match::Ambiguous(candidates.into_iter().map(Address::to_string).collect())
    }

    /// By a BAG id (nummeraanduiding or verblijfsobject/ligplaats/standplaats
    /// identificatie, 16 digits; leading zeros may be missing).
    pub fn find_id(&self, id: &str) -> Match {
        normalise_bag_id(id).and_then(|id| self.by_id.get(&id)).map_or(Match::NotFound, |&i| self.found(i))
    }

    fn exact(&self, a: &Address) -> Option<Match> {
        self.by_address.get(a).map(|&i| self.found(i))
    }

    fn found(&self, index: usize) -> Match {
        let e = &self.entries[index];
        Match::Found { x: e.x, y: e.y, id: e.id.clone() }
    }
}

/// Toevoegingen in a readable order: none, then numbers by value, then the rest.
fn toevoeging_order(a: &Address) -> (bool, u64, String) {
    match &a.toevoeging {
        None => (false, 0, String::new()),
        Some(t) => (true, t.parse::<u64>().unwrap_or(u64::MAX), t.clone()),
    }
}

/// `1012 ab` → `1012AB`; `None` when it is not 4 digits (the first not 0) and 2 letters.
fn normalise_postcode(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let b = compact.as_bytes();
    let valid = b.len() == 6
        && (b'1'..=b'9').contains(&b[0])
        && b[1..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_uppercase);
    valid.then_some(compact)
}

/// A toevoeging's letters and digits, upper case; `None` when it has none.
fn normalise_toevoeging(text: &str) -> Option<String> {
    let t: String = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
    (!t.is_empty()).then_some(t)
}

/// The one ASCII letter of `text` (after trimming), upper case.
fn single_letter(text: &str) -> Option<char> {
    let mut chars = text.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Some(c.to_ascii_uppercase()),
        _ => None,
    }
}

/// Two sources of one part: `None` when both give it and they differ.
fn agree<T: PartialEq>(written: Option<T>, column: Option<T>) -> Option<Option<T>> {
    match (written, column) {
        (Some(a), Some(b)) if a != b => None,
        (a, b) => Some(a.or(b)),
    }
}

/// A huisnummer as written: the number, and the huisletter and toevoeging written after it.
fn split_huisnummer(text: &str) -> Option<(u32, Option<char>, Option<String>)> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 5 {
        return None;
    }
    let number: u32 = text[..digits].parse().ok()?;
    if !(1..=MAX_HUISNUMMER).contains(&number) {
        return None;
    }
    let mut rest = &text[digits..];
    // `12.0`: a whole number as a spreadsheet or a Real field gives it.
    if let Some(fraction) = rest.strip_prefix(['.', ',']) {
        if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') {
            rest = "";
        }
    }
    let rest = rest.trim_start();
    let mut chars = rest.chars();
    let Some(first) = chars.next() else { return Some((number, None, None)) };
    // One letter standing alone right after the number (or a space) is the huisletter.
    if first.is_ascii_alphabetic() && !chars.next().is_some_and(char::is_alphabetic) {
        let after = &rest[first.len_utf8()..];
        return Some((number, Some(first.to_ascii_uppercase()), normalise_toevoeging(after)));
    }
    Some((number, None, normalise_toevoeging(rest)))
}

/// A BAG id as 16 digits: leading zeros restored; `NL.IMBAG.Nummeraanduiding.…` and BAG
/// URLs read as the id at their end; `363200000039881.0` (a spreadsheet number) read too.
fn normalise_bag_id(text: &str) -> Option<String> {
    let mut id = text.trim();
    let lower = id.to_ascii_lowercase();
    if lower.starts_with("nl.imbag.") || lower.starts_with("http") {
        id = id.rsplit(['.', '/']).find(|part| !part.is_empty())?;
    }
    if let Some((whole, fraction)) = id.split_once('.')
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b == b'0')
    {
        id = whole;
    }
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = id.trim_start_matches('0');
    (!significant.is_empty() && significant.len() <= 16).then(|| format!("{significant:0>16}"))
}

/// The fields of a BAG layer that the book uses.
#[derive(Debug, Clone)]
struct AddressFields {
    names: Vec<String>,
    postcode: usize,
    huisnummer: usize,
    huisletter: Option<usize>,
    toevoeging: Option<usize>,
    nummeraanduiding: Option<usize>,
    object: Option<usize>,
}

impl AddressFields {
    /// The fields, found by their usual names; `None` without a postcode or a huisnummer.
    fn detect(names: &[String]) -> Option<AddressFields> {
        let normalised: Vec<String> = names.iter().map(|n| normalise(n)).collect();
        let find = |candidates: &[&str]| candidates.iter().find_map(|c| normalised.iter().position(|n| n == c));
        Some(AddressFields {
            names: names.to_vec(),
            postcode: find(POSTCODE_NAMES)?,
            huisnummer: find(HUISNUMMER_NAMES)?,
            huisletter: find(HUISLETTER_NAMES),
            toevoeging: find(TOEVOEGING_NAMES),
            nummeraanduiding: find(BAG_NUMMERAANDUIDING_FIELDS),
            object: find(BAG_OBJECT_FIELDS),
        })
    }

    /// `postcode, huisnummer, huisletter, toevoeging, nummer_id`: the fields used.
    fn describe(&self) -> String {
        [Some(self.postcode), Some(self.huisnummer), self.huisletter, self.toevoeging, self.nummeraanduiding, self.object]
            .into_iter()
            .flatten()
            .map(|i| self.names[i].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to say when a layer has no address fields.
fn expected_fields() -> String {
    format!(
        "a BAG address file needs a postcode field (one of: {}) and a huisnummer field (one of: {}), compared without case, spaces or underscores",
        POSTCODE_NAMES.join(", "),
        HUISNUMMER_NAMES.join(", ")
    )
}

/// The layers to read, with their fields: the named one (its name compared without
/// case when the file has no exact match), else the only one, else every layer with
/// address fields and a geometry. An error names the file, the layer(s) and their fields.
fn choose_layers(ds: &gdal::Dataset, path: &Path, wanted: Option<&str>) -> Result<Vec<(String, AddressFields)>> {
    let names = layer_names(ds);
    let fields_of = |name: &str| -> Result<(Vec<String>, bool)> {
        let layer = ds.layer_by_name(name).map_err(IngestError::gdal(path, name))?;
        let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
        Ok((fields, layer.defn().geom_fields().count() > 0))
    };
    let one = |name: &str| -> Result<Vec<(String, AddressFields)>> {
        let (fields, has_geometry) = fields_of(name)?;
        let Some(found) = AddressFields::detect(&fields) else {
            let listing = if fields.is_empty() { "(none)".to_string() } else { fields.join(", ") };
            return Err(IngestError::layer(path, name, format!("{}; the fields are: {listing}", expected_fields())));
        };
        if !has_geometry {
            return Err(IngestError::layer(path, name, "has address fields but no geometry: a BAG address book needs the points"));
        }
        Ok(vec![(name.to_string(), found)])
    };
    if let Some(w) = wanted {
        let name = names.iter().find(|n| *n == w).or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(w))).ok_or_else(|| {
            let listing = if names.is_empty() { "(none)".to_string() } else { names.join(", ") };
            IngestError::input(path, format!("no layer '{w}'; the layers are: {listing}"))
        })?;
        return one(name);
    }
    if names.len() == 1 {
        return one(&names[0]);
    }
    let mut chosen = Vec::new();
    let mut described = Vec::new();
    for name in &names {
        let (fields, has_geometry) = fields_of(name)?;
        if has_geometry && let Some(found) = AddressFields::detect(&fields) {
            chosen.push((name.clone(), found));
        }
        let listing = if fields.is_empty() { "(no fields)".to_string() } else { fields.join(", ") };
        described.push(format!("layer '{name}'{}: {listing}", if has_geometry { "" } else { " (no geometry)" }));
    }
    if chosen.is_empty() {
        let layers = if described.is_empty() { "the file has no layers".to_string() } else { described.join("; ") };
        let message = format!("no layer has address fields and points: {}; {layers}", expected_fields());
        return Err(IngestError::input(path, message));
    }
    Ok(chosen)
}

/// The points of one layer and what was left out.
struct LayerRead {
    points: Vec<BagPoint>,
    skipped: Skipped,
}

/// Features of a layer that were left out or kept for their id only, by fid.
#[derive(Default)]
struct Skipped {
    no_point: Vec<String>,
    id_only: Vec<String>,
    nothing: Vec<String>,
    not_reprojectable: Vec<String>,
}

impl Skipped {
    fn warnings(&self, what: &str, fields: String, crs_label: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut say = |fids: &[String], why: String| {
            if !fids.is_empty() {
                out.push(format!("{what}: {} features {why}: fid {}", fids.len(), list(fids)));
            }
        };
        say(&self.no_point, "have no point geometry and were left out".into());
        say(&self.id_only, format!("have no readable address ({fields}), and are found by their BAG id only"));
        say(&self.nothing, format!("have neither a readable address nor a BAG id ({fields}) and were left out"));
        say(&self.not_reprojectable, format!("could not be reprojected from {crs_label} and were left out"));
        out
    }
}

/// Every feature of one layer as a point with its address and ids.
fn read_layer(layer: &mut gdal::vector::Layer, path: &Path, name: &str, layer_index: usize, fields: &AddressFields) -> Result<LayerRead> {
    let mut out = LayerRead { points: Vec::new(), skipped: Skipped::default() };
    let progress = Progress::items(layer.feature_count(), &format!("reading BAG addresses in {}, layer '{name}'", path.display()));
    for (n, feature) in layer.features().enumerate() {
        if n % 4096 == 0 {
            progress.set(n as u64);
        }
        let fid = feature.fid().unwrap_or(n as u64 + 1);
        let text = |i: Option<usize>| -> Result<Option<String>> {
            let Some(i) = i else { return Ok(None) };
            let value = feature.field_as_string(i).map_err(|e| {
                IngestError::layer(path, name, format!("feature {fid}, field '{}': GDAL cannot read it: {e}", fields.names[i]))
            })?;
            Ok(value.filter(|v| !v.trim().is_empty()))
        };
        let Some((x, y)) = feature.geometry().and_then(point_of) else {
            out.skipped.no_point.push(fid.to_string());
            continue;
        };
        let address = match (text(Some(fields.postcode))?, text(Some(fields.huisnummer))?) {
            (Some(postcode), Some(number)) => {
                let letter = text(fields.huisletter)?;
                let toevoeging = text(fields.toevoeging)?;
                Address::parse(&postcode, &number, letter.as_deref(), toevoeging.as_deref())
            }
            _ => None,
        };
        let nummeraanduiding = text(fields.nummeraanduiding)?.and_then(|t| normalise_bag_id(&t));
        let object = text(fields.object)?.and_then(|t| normalise_bag_id(&t));
        if address.is_none() {
            if nummeraanduiding.is_none() && object.is_none() {
                out.skipped.nothing.push(fid.to_string());
                continue;
            }
            out.skipped.id_only.push(fid.to_string());
        }
        out.points.push(BagPoint { order: (layer_index, fid), address, nummeraanduiding, object, x, y });
    }
    progress.finish();
    Ok(out)
}

/// A feature's location: its point, or the interior point of its polygon.
fn point_of(g: &gdal::vector::Geometry) -> Option<(f64, f64)> {
    let point = match super::vector::to_geo_2d(g).ok()? {
        Geometry::Point(p) => p,
        Geometry::MultiPoint(mp) if mp.0.len() == 1 => mp.0[0],
        Geometry::Polygon(p) => p.interior_point()?,
        Geometry::MultiPolygon(mp) => mp.interior_point()?,
        _ => return None,
    };
    (point.x().is_finite() && point.y().is_finite()).then_some((point.x(), point.y()))
}

/// Reproject the points of one layer in place; those that fail are left out.
fn reproject(points: &mut Vec<BagPoint>, reprojector: &Reprojector, skipped: &mut Skipped) {
    if reprojector.is_identity() || points.is_empty() {
        return;
    }
    let mut xs: Vec<f64> = points.iter().map(|p| p.x).collect();
    let mut ys: Vec<f64> = points.iter().map(|p| p.y).collect();
    let ok = reprojector.transform(&mut xs, &mut ys);
    let mut kept = Vec::with_capacity(points.len());
    for (((mut p, x), y), ok) in std::mem::take(points).into_iter().zip(xs).zip(ys).zip(ok) {
        if ok {
            (p.x, p.y) = (x, y);
            kept.push(p);
        } else {
            skipped.not_reprojectable.push(p.order.1.to_string());
        }
    }
    *points = kept;
}

/// At most 20 items, then how many more.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 20;
    if items.len() <= SHOWN { items.join(", ") } else { format!("{}, ... ({} more)", items[..SHOWN].join(", "), items.len() - SHOWN) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn address(postcode: &str, huisnummer: u32, huisletter: Option<char>, toevoeging: Option<&str>) -> Address {
        Address { postcode: postcode.into(), huisnummer, huisletter, toevoeging: toevoeging.map(str::to_string) }
    }

    fn parse(postcode: &str, huisnummer: &str) -> Option<Address> {
        Address::parse(postcode, huisnummer, None, None)
    }

    #[test]
    fn parse_reads_postcode_spellings() {
        for written in ["1012 AB", "1012ab", " 1012AB ", "1012 ab", "1012\tAB", "1012\u{a0}AB"] {
            assert_eq!(parse(written, "12"), Some(address("1012AB", 12, None, None)), "{written:?}");
        }
        for bad in ["", "1012", "1012A", "0123AB", "12345A", "1012 A B C", "AB1012", "1012-AB", "1012ÄB"] {
            assert_eq!(parse(bad, "12"), None, "{bad:?}");
        }
    }

    #[test]
    fn parse_reads_huisnummer_spellings() {
        let cases: &[(&str, u32, Option<char>, Option<&str>)] = &[
            ("12", 12, None, None),
            (" 12 ", 12, None, None),
            ("12a", 12, Some('A'), None),
            ("12A", 12, Some('A'), None),
            ("12 A", 12, Some('A'), None),
            ("12-2", 12, None, Some("2")),
            ("12 - 2", 12, None, Some("2")),
            ("12/2", 12, None, Some("2")),
            ("12 2", 12, None, Some("2")),
            ("12-II", 12, None, Some("II")),
            ("12 bis", 12, None, Some("BIS")),
            ("12hs", 12, None, Some("HS")),
            ("12-A", 12, None, Some("A")),
            ("12a-3", 12, Some('A'), Some("3")),
            ("12 A 3", 12, Some('A'), Some("3")),
            ("12A3", 12, Some('A'), Some("3")),
            ("12a-h", 12, Some('A'), Some("H")),
            ("12.0", 12, None, None),
            ("12,00", 12, None, None),
            ("99999", 99_999, None, None),
        ];
        for &(written, number, letter, toevoeging) in cases {
            assert_eq!(parse("1012AB", written), Some(address("1012AB", number, letter, toevoeging)), "{written:?}");
        }
        for bad in ["", " ", "a12", "nr 12", "0", "00", "100000", "-12", "twaalf"] {
            assert_eq!(parse("1012AB", bad), None, "{bad:?}");
        }
        // A trailing separator alone adds nothing.
        assert_eq!(parse("1012AB", "12-"), Some(address("1012AB", 12, None, None)));
    }

    #[test]
    fn parse_takes_letter_and_toevoeging_from_their_own_columns() {
        let full = Some(address("1012AB", 12, Some('A'), Some("3")));
        assert_eq!(Address::parse("1012AB", "12", Some("a"), Some("3")), full);
        assert_eq!(Address::parse("1012AB", "12", Some(" A "), Some(" -3")), full);
        // Written into the number and repeated in the column: the same address.
        assert_eq!(Address::parse("1012AB", "12a-3", Some("A"), Some("3")), full);
        assert_eq!(Address::parse("1012AB", "12a", None, Some("3")), full);
        assert_eq!(Address::parse("1012AB", "12-3", Some("a"), None), full);
        // Empty columns are no columns.
        assert_eq!(Address::parse("1012AB", "12", Some(""), Some("  ")), Some(address("1012AB", 12, None, None)));
        assert_eq!(Address::parse("1012AB", "12", None, Some("bis")), Some(address("1012AB", 12, None, Some("BIS"))));
        // Disagreements and a huisletter that is not one letter cannot be matched safely.
        assert_eq!(Address::parse("1012AB", "12a", Some("b"), None), None);
        assert_eq!(Address::parse("1012AB", "12-2", None, Some("3")), None);
        assert_eq!(Address::parse("1012AB", "12", Some("AB"), None), None);
        assert_eq!(Address::parse("1012AB", "12", Some("2"), None), None);
    }

    #[test]
    fn addresses_read_as_bag_writes_them() {
        assert_eq!(address("1012AB", 12, None, None).to_string(), "1012AB 12");
        assert_eq!(address("1012AB", 12, Some('A'), None).to_string(), "1012AB 12A");
        assert_eq!(address("1012AB", 12, None, Some("2")).to_string(), "1012AB 12-2");
        assert_eq!(address("1012AB", 12, Some('A'), Some("3")).to_string(), "1012AB 12A-3");
    }

    #[test]
    fn bag_ids_are_normalised_to_16_digits() {
        let id = Some("0363200000039881".to_string());
        for written in [
            "0363200000039881",
            "363200000039881",
            " 363200000039881 ",
            "363200000039881.0",
            "00363200000039881",
            "NL.IMBAG.Nummeraanduiding.0363200000039881",
            "http://bag.basisregistraties.overheid.nl/bag/id/nummeraanduiding/0363200000039881",
        ] {
            assert_eq!(normalise_bag_id(written), id, "{written:?}");
        }
        for bad in ["", "0", "abc", "0363-2000", "12345678901234567", "3.63200000039881E+14"] {
            assert_eq!(normalise_bag_id(bad), None, "{bad:?}");
        }
    }

    fn point(fid: u64, a: Option<Address>, id: &str, x: f64) -> BagPoint {
        BagPoint { order: (0, fid), address: a, nummeraanduiding: normalise_bag_id(id), object: None, x, y: 400_000.0 + x }
    }

    fn at(x: f64, id: &str) -> Match {
        Match::Found { x, y: 400_000.0 + x, id: format!("{id:0>16}") }
    }

    /// A book with the cases of the matching rules, independent of any file.
    fn rules_book() -> AddressBook {
        let pc = "1012AB";
        AddressBook::build(
            vec![
                // 12, 12-1, 12-2: "12" is the one without a toevoeging.
                point(1, Some(address(pc, 12, None, None)), "1", 1.0),
                point(2, Some(address(pc, 12, None, Some("1"))), "2", 2.0),
                point(3, Some(address(pc, 12, None, Some("2"))), "3", 3.0),
                // 14-1, 14-2, 14-10: "14" is ambiguous.
                point(4, Some(address(pc, 14, None, Some("10"))), "4", 4.0),
                point(5, Some(address(pc, 14, None, Some("2"))), "5", 5.0),
                point(6, Some(address(pc, 14, None, Some("1"))), "6", 6.0),
                // 16 once: a toevoeging the BAG does not have is not found.
                point(7, Some(address(pc, 16, None, None)), "7", 7.0),
                // 18A, 18B; 18A-1, 18A-2.
                point(8, Some(address(pc, 18, Some('B'), None)), "8", 8.0),
                point(9, Some(address(pc, 18, Some('A'), Some("1"))), "9", 9.0),
                point(10, Some(address(pc, 18, Some('A'), Some("2"))), "10", 10.0),
                // 20-H only.
                point(11, Some(address(pc, 20, None, Some("H"))), "11", 11.0),
                // 22 twice, read in the other order: the lowest fid wins.
                point(13, Some(address(pc, 22, None, None)), "13", 13.0),
                point(12, Some(address(pc, 22, None, None)), "12", 12.0),
                // No address, an id only.
                point(14, None, "14", 14.0),
            ],
            "rules",
        )
    }

    #[test]
    fn find_follows_the_matching_rules() {
        let book = rules_book();
        let find = |pc: &str, number: &str| book.find(&parse(pc, number).expect("a valid test address"));
        let ambiguous = |list: &[&str]| Match::Ambiguous(list.iter().map(|s| s.to_string()).collect());
        assert_eq!(book.len(), 14);
        // Exact, in any spelling.
        assert_eq!(find("1012AB", "12-2"), at(3.0, "3"));
        assert_eq!(find("1012 ab", "12 - 2"), at(3.0, "3"));
        assert_eq!(find("1012AB", "18a-1"), at(9.0, "9"));
        assert_eq!(find("1012AB", "18 b"), at(8.0, "8"));
        // No toevoeging given, exactly one without: that one.
        assert_eq!(find("1012AB", "12"), at(1.0, "1"));
        // No toevoeging given, none without: the candidates, numbers by value.
        assert_eq!(find("1012AB", "14"), ambiguous(&["1012AB 14-1", "1012AB 14-2", "1012AB 14-10"]));
        assert_eq!(find("1012AB", "18a"), ambiguous(&["1012AB 18A-1", "1012AB 18A-2"]));
        assert_eq!(find("1012AB", "18"), ambiguous(&["1012AB 18A-1", "1012AB 18A-2", "1012AB 18B"]));
        assert_eq!(find("1012AB", "20"), ambiguous(&["1012AB 20-H"]));
        // A single letter in the other place.
        assert_eq!(find("1012AB", "20h"), at(11.0, "11"));
        assert_eq!(find("1012AB", "18-B"), at(8.0, "8"));
        // A toevoeging or letter the BAG does not have: not guessed.
        assert_eq!(find("1012AB", "16-3"), Match::NotFound);
        assert_eq!(find("1012AB", "16 bis"), Match::NotFound);
        assert_eq!(find("1012AB", "12-3"), Match::NotFound);
        assert_eq!(find("1012AB", "18c"), Match::NotFound);
        assert_eq!(find("1012AB", "16a"), Match::NotFound);
        // Unknown number or postcode.
        assert_eq!(find("1012AB", "13"), Match::NotFound);
        assert_eq!(find("1012AC", "12"), Match::NotFound);
        // Repeated address: the lowest fid.
        assert_eq!(find("1012AB", "22"), at(12.0, "12"));
        // By hand, unnormalised; and nonsense.
        assert_eq!(book.find(&address("1012 ab", 12, None, Some(" 2 "))), at(3.0, "3"));
        assert_eq!(book.find(&address("1012 ab", 18, Some('a'), Some("-1"))), at(9.0, "9"));
        assert_eq!(book.find(&address("xyz", 12, None, None)), Match::NotFound);
        assert_eq!(book.find(&address("1012AB", 0, None, None)), Match::NotFound);
        assert_eq!(book.find(&address("1012AB", 12, Some('-'), None)), Match::NotFound);
        // By id, with lost zeros; the point without an address too.
        assert_eq!(book.find_id("3"), at(3.0, "3"));
        assert_eq!(book.find_id("0000000000000014"), at(14.0, "14"));
        assert_eq!(book.find_id("99"), Match::NotFound);
        assert_eq!(book.find_id("not an id"), Match::NotFound);
        assert!(book.warnings().iter().any(|w| w.contains("1012AB 22")), "{:?}", book.warnings());
    }

    // --- Against the real BAG sample (PDOK gokoala's Amsterdam extract). ---

    const SAMPLE: &str = "/work/shared/data/bag_points/gokoala_bag_amsterdam_sample.gpkg";
    const NO_ADDRESSES: &str = "/work/shared/data/bag_points/sdcspatial_bag_locations.gpkg";

    /// The file, or `None` (and a note) when it is not here; on CI it must be.
    fn real_file(path: &str) -> Option<PathBuf> {
        let path = PathBuf::from(path);
        if path.exists() {
            return Some(path);
        }
        if std::env::var_os("CI").is_some() {
            panic!("{} is missing (CI is set)", path.display());
        }
        eprintln!("skipped: {} is not here", path.display());
        None
    }

    fn rd() -> SpatialRef {
        crs::spatial_ref(crs::RD_NEW).expect("RD New")
    }

    fn sample_book() -> Option<AddressBook> {
        let path = real_file(SAMPLE)?;
        Some(AddressBook::read(&path, None, &rd()).expect("the sample reads"))
    }

    /// The rows of an SQLite-dialect query, read by GDAL's `ogrinfo`: field → value
    /// (`(null)` left out).
    fn ogr_sql(path: &Path, sql: &str) -> Vec<HashMap<String, String>> {
        let out =
            Command::new("ogrinfo").args(["-ro", "-q"]).arg(path).args(["-dialect", "sqlite", "-sql", sql]).output().expect("ogrinfo runs");
        assert!(out.status.success(), "ogrinfo failed on {sql}: {}", String::from_utf8_lossy(&out.stderr));
        let mut rows = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with("OGRFeature(") {
                rows.push(HashMap::new());
            } else if let (Some(row), Some((name, value))) = (rows.last_mut(), line.trim().split_once(" = ")) {
                let field = name.split_once(" (").map_or(name, |(f, _)| f).to_string();
                if value != "(null)" {
                    row.insert(field, value.to_string());
                }
            }
        }
        rows
    }

    /// The point and nummeraanduiding id of an address in a layer, as GDAL reads it (the
    /// lowest fid when there are several).
    fn gdal_point(path: &Path, layer: &str, a: &Address) -> (f64, f64, String) {
        let letter = a.huisletter.map_or("huisletter is null".into(), |l| format!("upper(huisletter) = '{l}'"));
        let toevoeging = a.toevoeging.as_ref().map_or("toevoeging is null".into(), |t| format!("upper(toevoeging) = '{t}'"));
        let sql = format!(
            "select ST_X(geom) as x, ST_Y(geom) as y, nummer_id from {layer} where postcode = '{}' and huisnummer = {} and {letter} and {toevoeging} order by feature_id limit 1",
            a.postcode, a.huisnummer
        );
        let rows = ogr_sql(path, &sql);
        let row = rows.first().unwrap_or_else(|| panic!("{a} is in layer {layer}"));
        (row["x"].parse().expect("x"), row["y"].parse().expect("y"), row["nummer_id"].clone())
    }

    #[test]
    fn real_sample_finds_addresses_at_their_bag_points() {
        let Some(book) = sample_book() else { return };
        let path = Path::new(SAMPLE);
        // Written as registers write them; checked against GDAL's own reading of the point.
        let cases = [
            ("verblijfsobjecten", "1013 nj", "1 H", None, None, "1013NJ 1-H"),
            ("verblijfsobjecten", "1013NJ", "1", None, Some("2"), "1013NJ 1-2"),
            ("verblijfsobjecten", "1013AL", "2", None, None, "1013AL 2"),
            ("verblijfsobjecten", "1013ae", "40c", None, None, "1013AE 40C"),
            ("verblijfsobjecten", "1013AE", "40", Some("g"), None, "1013AE 40G"),
            ("verblijfsobjecten", "1013KT", "4-o", None, None, "1013KT 4-O"),
            // 218 and 218A: the one without a letter.
            ("verblijfsobjecten", "1013AS", "218", None, None, "1013AS 218"),
            // Twice in the file (two nummeraanduidingen): the lowest fid.
            ("verblijfsobjecten", "1013AS", "219", None, None, "1013AS 219"),
            ("ligplaatsen", "1013 CR", "14", None, None, "1013CR 14"),
            ("standplaatsen", "1013AJ", "1", None, None, "1013AJ 1"),
        ];
        for (layer, postcode, number, letter, toevoeging, shown) in cases {
            let a = Address::parse(postcode, number, letter, toevoeging).expect("a valid address");
            // `1 H` is read as huisletter H; the BAG has toevoeging H: found there.
            let in_bag = if shown.ends_with("-H") { a.letter_moved().expect("one letter") } else { a.clone() };
            assert_eq!(in_bag.to_string(), shown);
            let (x, y, id) = gdal_point(path, layer, &in_bag);
            match book.find(&a) {
                Match::Found { x: fx, y: fy, id: fid } => {
                    assert!((fx - x).abs() < 1e-6 && (fy - y).abs() < 1e-6, "{shown}: ({fx}, {fy}) vs GDAL ({x}, {y})");
                    assert_eq!(fid, id, "{shown}");
                }
                other => panic!("{shown}: {other:?}"),
            }
            // And by its id, with the leading zero lost.
            assert!(matches!(book.find_id(id.trim_start_matches('0')), Match::Found { x: fx, .. } if (fx - x).abs() < 1e-6), "{id}");
        }
    }

    #[test]
    fn real_sample_reads_every_address_layer() {
        let Some(book) = sample_book() else { return };
        let path = Path::new(SAMPLE);
        let total: usize = ["verblijfsobjecten", "ligplaatsen", "standplaatsen"]
            .iter()
            .map(|l| ogr_sql(path, &format!("select count(*) as n from {l}"))[0]["n"].parse::<usize>().expect("a count"))
            .sum();
        assert_eq!(book.len(), total);
        let one = AddressBook::read(path, Some("VERBLIJFSOBJECTEN"), &rd()).expect("one layer");
        let n: usize = ogr_sql(path, "select count(*) as n from verblijfsobjecten")[0]["n"].parse().expect("a count");
        assert_eq!(one.len(), n);
        // The duplicate address and the feature without a postcode are reported.
        let warnings = book.warnings().join("\n");
        assert!(warnings.contains("1013AS 219"), "{warnings}");
        assert!(warnings.contains("found by their BAG id only"), "{warnings}");
    }

    #[test]
    fn real_sample_finds_a_point_without_postcode_by_its_id() {
        let Some(book) = sample_book() else { return };
        let rows = ogr_sql(
            Path::new(SAMPLE),
            "select ST_X(geom) as x, ST_Y(geom) as y, nummer_id from verblijfsobjecten where postcode is null order by feature_id limit 1",
        );
        let Some(row) = rows.first() else { return };
        let x: f64 = row["x"].parse().expect("x");
        assert!(matches!(book.find_id(&row["nummer_id"]), Match::Found { x: fx, .. } if (fx - x).abs() < 1e-6));
    }

    #[test]
    fn real_sample_does_not_guess_unknown_addresses() {
        let Some(book) = sample_book() else { return };
        let not_found = [
            ("9999ZZ", "1", None),
            // 1013CR 14 exists once (a ligplaats) without a toevoeging.
            ("1013CR", "14", Some("2")),
            ("1013CR", "14 bis", None),
            ("1013NJ", "1", Some("99")),
            ("1013AE", "40", Some("3")),
            ("1013AE", "40z", None),
            ("1013AL", "9999", None),
        ];
        for (postcode, number, toevoeging) in not_found {
            let a = Address::parse(postcode, number, None, toevoeging).expect("a valid address");
            assert_eq!(book.find(&a), Match::NotFound, "{a}");
        }
        assert_eq!(book.find_id("0363200099999999"), Match::NotFound);
    }

    #[test]
    fn real_sample_lists_the_toevoegingen_of_a_number_asked_without_one() {
        let Some(book) = sample_book() else { return };
        let path = Path::new(SAMPLE);
        // Numbers with several addresses in the BAG (all address layers), none of them
        // without letter and toevoeging.
        let all = "select postcode, huisnummer, huisletter, toevoeging from verblijfsobjecten \
                   union all select postcode, huisnummer, huisletter, toevoeging from ligplaatsen \
                   union all select postcode, huisnummer, huisletter, toevoeging from standplaatsen";
        let groups = ogr_sql(
            path,
            &format!(
                "select postcode, huisnummer, count(toevoeging) as with_toevoeging from ({all}) where postcode is not null \
                 group by postcode, huisnummer having count(*) > 1 and sum(huisletter is null and toevoeging is null) = 0 \
                 order by postcode, huisnummer"
            ),
        );
        assert!(groups.iter().any(|g| g["with_toevoeging"] != "0"), "the sample has numbers with several toevoegingen");
        for group in &groups {
            let (postcode, number) = (&group["postcode"], &group["huisnummer"]);
            let sql = format!("select huisletter, toevoeging from ({all}) where postcode = '{postcode}' and huisnummer = {number}");
            let mut expected: Vec<String> = Vec::new();
            for row in ogr_sql(path, &sql) {
                let (letter, toevoeging) = (row.get("huisletter").map(String::as_str), row.get("toevoeging").map(String::as_str));
                let shown = Address::parse(postcode, number, letter, toevoeging).expect("a BAG address").to_string();
                if !expected.contains(&shown) {
                    expected.push(shown);
                }
            }
            expected.sort();
            let asked = Address::parse(postcode, number, None, None).expect("a valid address");
            match book.find(&asked) {
                Match::Ambiguous(mut candidates) => {
                    candidates.sort();
                    assert_eq!(candidates, expected, "{asked}");
                }
                other => panic!("{asked}: {other:?}"),
            }
        }
        // One by name: Barentszplein's neighbour 1013KT 4 has 4-2, 4-H and 4-O.
        let asked = Address::parse("1013KT", "4", None, None).expect("a valid address");
        assert_eq!(book.find(&asked), Match::Ambiguous(vec!["1013KT 4-2".into(), "1013KT 4-H".into(), "1013KT 4-O".into()]));
    }

    #[test]
    fn real_sample_reprojects_into_the_working_crs() {
        let Some(path) = real_file(SAMPLE) else { return };
        let wgs84 = crs::spatial_ref(crs::WGS84).expect("WGS84");
        let book = AddressBook::read(&path, Some("verblijfsobjecten"), &wgs84).expect("the sample reads");
        let a = Address::parse("1013NJ", "1", None, Some("H")).expect("a valid address");
        let (x, y, _) = gdal_point(&path, "verblijfsobjecten", &a);
        let transform = gdal::spatial_ref::CoordTransform::new(&rd(), &wgs84).expect("a transform");
        let (mut xs, mut ys) = ([x], [y]);
        transform.transform_coords(&mut xs, &mut ys, &mut []).expect("transformed");
        match book.find(&a) {
            Match::Found { x: lon, y: lat, .. } => {
                assert!((lon - xs[0]).abs() < 1e-9 && (lat - ys[0]).abs() < 1e-9, "({lon}, {lat}) vs ({}, {})", xs[0], ys[0]);
                assert!((4.8..5.0).contains(&lon) && (52.3..52.4).contains(&lat), "Amsterdam: ({lon}, {lat})");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_without_address_fields_is_an_error_that_lists_the_fields() {
        let Some(path) = real_file(NO_ADDRESSES) else { return };
        let message = AddressBook::read(&path, None, &rd()).expect_err("no address fields").to_string();
        for expected in
            ["sdcspatial_bag_locations.gpkg", "layer 'dwellings'", "consumption", "layer 'enterprises'", "production", "postcode"]
        {
            assert!(message.contains(expected), "{expected} in: {message}");
        }
        let message = AddressBook::read(&path, Some("dwellings"), &rd()).expect_err("no address fields").to_string();
        for expected in ["sdcspatial_bag_locations.gpkg", "layer 'dwellings'", "x, y, consumption, unemployed", "huisnummer"] {
            assert!(message.contains(expected), "{expected} in: {message}");
        }
        let message = AddressBook::read(&path, Some("adressen"), &rd()).expect_err("no such layer").to_string();
        assert!(message.contains("no layer 'adressen'") && message.contains("dwellings, enterprises"), "{message}");
    }
}
