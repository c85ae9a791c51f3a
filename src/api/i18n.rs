//! The interface's languages: Dutch (the default), German and English. Which one a page
//! is in: `?lang=` when it names one (the map's language switch, a link), else the
//! browser's `Accept-Language` (q-values honoured, `de-AT` is German), else Dutch.
//!
//! The words live in two places, one per side: the web map's in `web/i18n.js` (a JSON
//! dictionary that the browser loads and this server reads to fill in `web/index.html`),
//! and the words of the pages the server writes itself (the area profile, which
//! `buurtmeter report` prints) in [`ProfileText`] below. Titles, units and names from the
//! project and its files are never translated: they are data.

use axum::http::{HeaderMap, HeaderValue, header};

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Nl,
    De,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Nl, Lang::De, Lang::En];

    /// The code of `<html lang>`, `?lang=` and the dictionaries.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// A language tag (`de`, `de-AT`, `EN_gb`) as one of ours, by its primary subtag.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        Lang::ALL.into_iter().find(|l| primary.eq_ignore_ascii_case(l.code()))
    }

    /// The first of ours in an `Accept-Language` header, by q-value (ties in the order
    /// written); `q=0` means "not this one", `*` says nothing. None when no tag is ours.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut tags: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let lang = Lang::parse(parts.next()?)?;
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                    .map(|q| q.trim().parse::<f32>().ok().filter(|q| q.is_finite() && (0.0..=1.0).contains(q)).unwrap_or(0.0))
                    .next()
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        tags.first().map(|t| t.2)
    }

    /// The language of a page: `?lang=` first, then `Accept-Language`, then Dutch.
    pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Lang {
        query
            .and_then(Lang::parse)
            .or_else(|| headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept_language))
            .unwrap_or_default()
    }

    /// The words of the profile page in this language.
    pub fn profile(self) -> &'static ProfileText {
        match self {
            Lang::Nl => &PROFILE_NL,
            Lang::De => &PROFILE_DE,
            Lang::En => &PROFILE_EN,
        }
    }

    /// A number as a reader of this language writes it: `1.234,5` (nl, de), `1,234.5` (en).
    pub fn number(self, x: f64) -> String {
        let nl = crate::indicators::dutch_number(x);
        match self {
            Lang::Nl | Lang::De => nl,
            Lang::En => nl
                .chars()
                .map(|c| {
                    if c == '.' {
                        ','
                    } else if c == ',' {
                        '.'
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }
}

/// The headers of a page in `lang`: its language, and that it depends on the browser's.
pub fn language_headers(lang: Lang, headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    headers.append(header::VARY, HeaderValue::from_static("Accept-Language"));
}

/// The words of the area profile page (`api::profile`), one table per language.
/// `{level}` is the level's id, `{parents}` the parent areas, `{edges}` the band edges,
/// `{rank}`/`{of}` a rank, `{period}` a period.
pub struct ProfileText {
    pub area_profile: &'static str,
    pub data_version: &'static str,
    pub within: &'static str,
    pub intro: &'static str,
    pub comparison_note: &'static str,
    pub on_the_map: &'static str,
    pub indicator: &'static str,
    pub all_of_level: &'static str,
    pub comparison: &'static str,
    pub rank: &'static str,
    pub trend: &'static str,
    pub sources: &'static str,
    pub disclosure: &'static str,
    pub denominator_period: &'static str,
    pub converted: &'static str,
    pub not_computed: &'static str,
    pub protected: &'static str,
    pub rank_of: &'static str,
    pub per_period: &'static str,
    pub too_few_values: &'static str,
    pub map_label: &'static str,
    /// well below, below, about, above, well above (`Band::key` order)
    pub bands: [&'static str; 5],
    /// rising, falling, no trend
    pub directions: [&'static str; 3],
}

impl ProfileText {
    /// The words of a deviation band, by its key (`well_below` … `well_above`).
    pub fn band(&self, key: &str) -> &'static str {
        match key {
            "well_below" => self.bands[0],
            "below" => self.bands[1],
            "about" => self.bands[2],
            "above" => self.bands[3],
            "well_above" => self.bands[4],
            _ => "—",
        }
    }

    /// The words of a trend direction, by its key (`rising`, `falling`, `no_trend`).
    pub fn direction(&self, key: &str) -> &'static str {
        match key {
            "rising" => self.directions[0],
            "falling" => self.directions[1],
            _ => self.directions[2],
        }
    }
}

const PROFILE_NL: ProfileText = ProfileText {
    area_profile: "gebiedsprofiel",
    data_version: "gegevensversie",
    within: "in",
    intro: "Elke indicator van dit gebied, vergeleken met {parents}alle {level} van het project (gewogen naar hun noemer: het cijfer van alle {level} samen) en door de tijd.",
    comparison_note: "Vergelijking: z-score t.o.v. de {level}; grenzen {edges}. Rang 1 = hoogste waarde.",
    on_the_map: "Op de kaart",
    indicator: "Indicator",
    all_of_level: "Alle {level}",
    comparison: "Vergelijking",
    rank: "Rang",
    trend: "Trend",
    sources: "Definities en bronnen.",
    disclosure: "Geheimhouding: alleen gepubliceerde waarden worden getoond en vergeleken. Een afgeschermde waarde staat er als \"afgeschermd\" en telt niet mee in gemiddelden, rangen of trends. \"Berekend\" = omgerekend van een eerdere gebiedsindeling.",
    denominator_period: "noemer: periode {period}",
    converted: "berekend",
    not_computed: "niet berekend",
    protected: "afgeschermd",
    rank_of: "{rank} van {of}",
    per_period: "per periode",
    too_few_values: "te weinig waarden",
    map_label: "kaart van het gebied en zijn omgeving",
    bands: ["ver onder gemiddeld", "onder gemiddeld", "rond het gemiddelde", "boven gemiddeld", "ver boven gemiddeld"],
    directions: ["stijgend", "dalend", "geen trend"],
};

const PROFILE_DE: ProfileText = ProfileText {
    area_profile: "Gebietsprofil",
    data_version: "Datenstand",
    within: "in",
    intro: "Jeder Indikator dieses Gebiets, verglichen mit {parents}allen {level} des Projekts (nach ihrem Nenner gewichtet: der Wert aller {level} zusammen) und im Zeitverlauf.",
    comparison_note: "Vergleich: z-Wert gegenüber den {level}; Grenzen {edges}. Rang 1 = höchster Wert.",
    on_the_map: "Auf der Karte",
    indicator: "Indikator",
    all_of_level: "Alle {level}",
    comparison: "Vergleich",
    rank: "Rang",
    trend: "Trend",
    sources: "Definitionen und Quellen.",
    disclosure: "Geheimhaltung: Nur veröffentlichte Werte werden gezeigt und verglichen. Ein geschützter Wert erscheint als \"geschützt\" und zählt in Mittelwerten, Rängen und Trends nicht mit. \"Umgerechnet\" = aus einer früheren Gebietseinteilung umgerechnet.",
    denominator_period: "Nenner: Zeitraum {period}",
    converted: "umgerechnet",
    not_computed: "nicht berechnet",
    protected: "geschützt",
    rank_of: "{rank} von {of}",
    per_period: "pro Zeitraum",
    too_few_values: "zu wenige Werte",
    map_label: "Karte des Gebiets und seiner Umgebung",
    // Soft hyphens: the long German words break in the narrow column of the printed page.
    bands: [
        "weit unter\u{ad}durch\u{ad}schnitt\u{ad}lich",
        "unter\u{ad}durch\u{ad}schnitt\u{ad}lich",
        "durch\u{ad}schnitt\u{ad}lich",
        "über\u{ad}durch\u{ad}schnitt\u{ad}lich",
        "weit über\u{ad}durch\u{ad}schnitt\u{ad}lich",
    ],
    directions: ["steigend", "fallend", "kein Trend"],
};

const PROFILE_EN: ProfileText = ProfileText {
    area_profile: "area profile",
    data_version: "data version",
    within: "in",
    intro: "Every indicator of this area, compared with {parents}all {level} of the project (weighted by their denominators: the figure of all {level} together) and over time.",
    comparison_note: "Comparison: z-score against the {level}; edges {edges}. Rank 1 = highest value.",
    on_the_map: "On the map",
    indicator: "Indicator",
    all_of_level: "All {level}",
    comparison: "Comparison",
    rank: "Rank",
    trend: "Trend",
    sources: "Definitions and sources.",
    disclosure: "Disclosure control: only published values are shown and compared. A protected value reads \"protected\" and takes no part in means, ranks or trends. \"Converted\" = converted from earlier boundaries.",
    denominator_period: "denominator: period {period}",
    converted: "converted",
    not_computed: "not computed",
    protected: "protected",
    rank_of: "{rank} of {of}",
    per_period: "per period",
    too_few_values: "too few values",
    map_label: "map of the area and its surroundings",
    bands: ["well below average", "below average", "about average", "above average", "well above average"],
    directions: ["rising", "falling", "no trend"],
};

/// The web map's dictionary (`web/i18n.js`): `window.buurtmeterI18n = { "nl": {…}, … };`,
/// JSON from the first `{` after the `//` comment lines to the last `}`.
pub(crate) const WEB_DICTIONARY: &str = include_str!("../../web/i18n.js");

/// The web map's words, per language, parsed once from [`WEB_DICTIONARY`].
fn web_words() -> &'static serde_json::Map<String, serde_json::Value> {
    static WORDS: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let code: String = WEB_DICTIONARY.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let json = code.find('{').zip(code.rfind('}')).map_or("{}", |(a, b)| &code[a..=b]);
        // A test parses it: a broken dictionary fails `cargo test`, not a server.
        serde_json::from_str(json).unwrap_or_default()
    })
}

/// A word of the web map in `lang` (the Dutch one where `lang` lacks it, the key where
/// both do).
pub(crate) fn web_word(lang: Lang, key: &str) -> &str {
    let words = web_words();
    [lang.code(), "nl"].iter().find_map(|l| words.get(*l)?.get(key)?.as_str()).unwrap_or(key)
}

/// `web/index.html` in `lang`: `{{lang}}` is the language's code, `{{key}}` a word of the
/// dictionary, HTML-escaped (the dictionary is ours, but a quote must not end an attribute).
pub(crate) fn render_index(template: &str, lang: Lang) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let key = &after[..end];
        if key == "lang" {
            out.push_str(lang.code());
        } else {
            out.push_str(&crate::export::escape_markup(web_word(lang, key)));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_negotiated_by_q_value() {
        let al = Lang::from_accept_language;
        assert_eq!(al("de-DE,de;q=0.9,en;q=0.8"), Some(Lang::De));
        assert_eq!(al("de-AT"), Some(Lang::De));
        assert_eq!(al("fr-FR,fr;q=0.9,en-GB;q=0.5,de;q=0.7"), Some(Lang::De));
        assert_eq!(al("en;q=0.2, nl;q=0.8"), Some(Lang::Nl));
        assert_eq!(al("de;q=0, en"), Some(Lang::En));
        assert_eq!(al("en-US,de;q=1"), Some(Lang::En), "ties in the order written");
        assert_eq!(al("fr, *;q=0.5"), None);
        assert_eq!(al(""), None);
        assert_eq!(al("de;q=abc"), None, "an unreadable q-value counts as 0");
        let mut h = HeaderMap::new();
        assert_eq!(Lang::negotiate(None, &h), Lang::Nl);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("de-CH"));
        assert_eq!(Lang::negotiate(None, &h), Lang::De);
        assert_eq!(Lang::negotiate(Some("en"), &h), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), &h), Lang::De, "an unknown ?lang= leaves it to the browser");
    }

    #[test]
    fn numbers_are_written_per_language() {
        assert_eq!(Lang::Nl.number(12345.5), "12.345,5");
        assert_eq!(Lang::De.number(12345.5), "12.345,5");
        assert_eq!(Lang::En.number(12345.5), "12,345.5");
        assert_eq!(Lang::En.number(-3.0), "-3");
    }

    #[test]
    fn the_web_dictionary_has_every_word_in_every_language() {
        let words = web_words();
        let nl = words["nl"].as_object().expect("web/i18n.js: a dictionary \"nl\"");
        assert!(nl.len() > 40, "web/i18n.js is not read: {} words", nl.len());
        for lang in Lang::ALL {
            let d = words[lang.code()].as_object().unwrap_or_else(|| panic!("web/i18n.js: no \"{}\"", lang.code()));
            let missing: Vec<&String> = nl.keys().filter(|k| !d.contains_key(*k)).collect();
            let extra: Vec<&String> = d.keys().filter(|k| !nl.contains_key(*k)).collect();
            assert!(missing.is_empty() && extra.is_empty(), "{}: missing {missing:?}, not in nl {extra:?}", lang.code());
            assert!(d.values().all(|v| v.as_str().is_some_and(|s| !s.is_empty())), "{}: a word that is not text", lang.code());
        }
        // Every placeholder of the page is a word of the dictionary.
        let page = include_str!("../../web/index.html");
        for lang in Lang::ALL {
            let html = render_index(page, lang);
            assert!(!html.contains("{{") && !html.contains("}}"), "{}: a placeholder is left", lang.code());
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
        }
        for key in page.split("{{").skip(1).filter_map(|s| s.split_once("}}").map(|x| x.0)).filter(|k| *k != "lang") {
            assert!(nl.contains_key(key), "web/index.html: {{{{{key}}}}} is not in web/i18n.js");
        }
    }
}
