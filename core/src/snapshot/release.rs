//! Releases of a protected layer (`release = "month"`, the default for aggregate layers
//! with disclosure control, or `"quarter"`): what the public sees of the layer changes
//! only at release points, never while records come in.
//!
//! A live stream of perturbed tables tells a watcher what changed: every table whose
//! record set changes gets fresh noise, so comparing the responses before and after one
//! record is added names its buurt, month and category. With a release, the public values
//! come from the records as they stood when the release was made, kept in
//! `.buurtmeter/releases/<layer>.tsv` next to the project file:
//!
//! - the first build in a new month (quarter) makes the release: the records dated before
//!   the start of that month (closed periods only; the open month is never public), and
//!   the undated records;
//! - every later build in the same month serves that release, whatever the file holds:
//!   a record added, corrected or removed between releases changes no public byte;
//! - a closed period is frozen once released: the next release keeps the previous one's
//!   records of the periods it had closed, and adds only the records dated in the
//!   periods closed since (a record backdated into a released month never shows);
//! - the exact role and `/health` for the admin stay live.
//!
//! What a release reveals: the records of the newly closed period(s), each table perturbed
//! once, as any publication of that period would.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::config::Release;
use crate::model::{Date, PointLayer};

/// Where a failed release store is named.
#[derive(Debug, thiserror::Error)]
#[error("point layer '{layer}': release store {}: {message}", path.display())]
pub struct ReleaseError {
    pub layer: String,
    pub path: PathBuf,
    pub message: String,
}

/// One record as a release keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    identity: u64,
    x: f64,
    y: f64,
    date: Option<Date>,
    category: Option<String>,
    weight: Option<f64>,
}

/// A release: its label (`2026-12`, `2026-Q4`), the first day not in it, its records.
#[derive(Debug, Clone)]
struct Stored {
    label: String,
    cutoff: Date,
    records: Vec<Record>,
}

/// The label of the release window `today` is in and its first day.
pub fn window(release: Release, today: Date) -> (String, Date) {
    match release {
        Release::Month => (format!("{:04}-{:02}", today.year, today.month), Date { year: today.year, month: today.month, day: 1 }),
        Release::Quarter => {
            let q = today.quarter();
            (format!("{:04}-Q{q}", today.year), Date { year: today.year, month: (q - 1) * 3 + 1, day: 1 })
        }
        // Live layers have no release; as if each day were one.
        Release::Live => (today.to_string(), today),
    }
}

/// Today in the project's time zone, or `BUURTMETER_RELEASE_DATE` (yyyy-mm-dd) when set:
/// for a release at a chosen date, and for the tests.
pub fn today(tz: crate::ingest::TimeZone) -> Date {
    if let Some(d) = std::env::var("BUURTMETER_RELEASE_DATE").ok().and_then(|s| crate::ingest::text::parse_date(s.trim())) {
        return d;
    }
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let now = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().with_timezone(&tz);
    use chrono::Datelike;
    Date::new(now.year(), now.month() as u8, now.day() as u8).unwrap_or(Date { year: 2000, month: 1, day: 1 })
}

/// The store of a layer's release, next to the project file.
pub fn store_path(base_dir: &Path, layer: &str) -> PathBuf {
    base_dir.join(".buurtmeter").join("releases").join(format!("{layer}.tsv"))
}

/// The release in force: its records as a layer, its label and a fingerprint of them.
pub struct Released {
    pub layer: PointLayer,
    pub label: String,
    pub fingerprint: u64,
}

/// The layer the public sees: the current release, made now from `live` when the window
/// has moved on (or there is none yet). `live` must carry its identities.
pub fn public_layer(live: &PointLayer, release: Release, today: Date, path: &Path) -> Result<Released, ReleaseError> {
    let err = |message: String| ReleaseError { layer: live.id.clone(), path: path.to_path_buf(), message };
    let (label, cutoff) = window(release, today);
    let previous = match std::fs::File::open(path) {
        Ok(f) => Some(read(std::io::BufReader::new(f)).map_err(err)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(e.to_string())),
    };
    let stored = match previous {
        // The same window, or a later one than today's (a clock set back): served as it is.
        Some(p) if p.label == label || p.cutoff > cutoff => p,
        previous => {
            let records = make(live, cutoff, previous.as_ref());
            let s = Stored { label: label.clone(), cutoff, records };
            write(path, &s).map_err(|e| err(e.to_string()))?;
            tracing::info!(layer = %live.id, release = %label, records = s.records.len(), file = %path.display(), "new release");
            s
        }
    };
    let fingerprint = {
        // The records only, not the label: a new month with the same records is the same
        // data (and the same data version).
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for r in &stored.records {
            h.update(&r.identity.to_le_bytes());
            h.update(&r.x.to_le_bytes());
            h.update(&r.y.to_le_bytes());
            h.update(r.date.map(|d| d.to_string()).unwrap_or_default().as_bytes());
            h.update(r.category.as_deref().unwrap_or("").as_bytes());
            h.update(&r.weight.unwrap_or(f64::NAN).to_bits().to_le_bytes());
        }
        h.digest()
    };
    Ok(Released { layer: to_layer(live, &stored), label: stored.label, fingerprint })
}

/// The records of a new release: the previous release's closed periods as they were,
/// the live records dated after those and before `cutoff`, and the live undated ones.
fn make(live: &PointLayer, cutoff: Date, previous: Option<&Stored>) -> Vec<Record> {
    let frozen_until = previous.map(|p| p.cutoff);
    let mut out: Vec<Record> =
        previous.map(|p| p.records.iter().filter(|r| r.date.is_some_and(|d| d < p.cutoff)).cloned().collect()).unwrap_or_default();
    let ids = live.identity.as_deref().unwrap_or(&[]);
    for i in 0..live.len() {
        let date = live.dates.as_ref().and_then(|d| d[i]);
        let keep = match date {
            None => true,
            Some(d) => d < cutoff && frozen_until.is_none_or(|f| d >= f),
        };
        if keep {
            out.push(Record {
                identity: ids.get(i).copied().unwrap_or(i as u64),
                x: live.xs[i],
                y: live.ys[i],
                date,
                // As the store writes them, so a release read back is the release made.
                category: live.category_idx.as_ref().map(|c| live.categories[c[i] as usize].replace(['\t', '\n', '\r'], " ")),
                weight: live.weights.as_ref().and_then(|w| Some(w[i]).filter(|w| w.is_finite())),
            });
        }
    }
    out
}

/// A point layer of the stored records, shaped like the live one (same columns).
fn to_layer(live: &PointLayer, s: &Stored) -> PointLayer {
    let mut categories: Vec<String> = Vec::new();
    let category_idx = live.category_idx.as_ref().map(|_| {
        s.records
            .iter()
            .map(|r| {
                let c = r.category.clone().unwrap_or_default();
                match categories.iter().position(|x| *x == c) {
                    Some(k) => k as u32,
                    None => {
                        categories.push(c);
                        categories.len() as u32 - 1
                    }
                }
            })
            .collect()
    });
    PointLayer {
        id: live.id.clone(),
        xs: s.records.iter().map(|r| r.x).collect(),
        ys: s.records.iter().map(|r| r.y).collect(),
        rows: (1..=s.records.len() as u64).collect(),
        dates: live.dates.as_ref().map(|_| s.records.iter().map(|r| r.date).collect()),
        category_idx,
        categories,
        weights: live.weights.as_ref().map(|_| s.records.iter().map(|r| r.weight.unwrap_or(f64::NAN)).collect()),
        identity: Some(s.records.iter().map(|r| r.identity).collect()),
        groups: None,
        accounting: live.accounting.clone(),
    }
}

const HEADER: &str = "identity\tx\ty\tdate\tcategory\tweight";

fn write(path: &Path, s: &Stored) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A name of its own per writer: builds of the same project may run at once.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tsv.{}-{n}.part", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(f, "# buurtmeter: the released records of a protected layer. Not for publication; do not edit.")?;
        writeln!(f, "release\t{}\t{}", s.label, s.cutoff)?;
        writeln!(f, "{HEADER}")?;
        for r in &s.records {
            let cat = r.category.as_deref().unwrap_or("").replace(['\t', '\n', '\r'], " ");
            let date = r.date.map(|d| d.to_string()).unwrap_or_default();
            let weight = r.weight.filter(|w| w.is_finite()).map(|w| w.to_string()).unwrap_or_default();
            writeln!(f, "{}\t{}\t{}\t{date}\t{cat}\t{weight}", r.identity, r.x, r.y)?;
        }
        f.flush()?;
    }
    std::fs::rename(&tmp, path)
}

fn read(f: impl BufRead) -> Result<Stored, String> {
    let mut lines = f.lines().filter(|l| !l.as_ref().is_ok_and(|l| l.starts_with('#')));
    let mut next = || lines.next().transpose().map_err(|e| e.to_string());
    let head = next()?.ok_or("empty")?;
    let h: Vec<&str> = head.split('\t').collect();
    let (label, cutoff) = match h.as_slice() {
        ["release", label, cutoff] => (label.to_string(), crate::ingest::text::parse_date(cutoff).ok_or("the release line has no date")?),
        _ => return Err("the first line is not 'release<TAB>label<TAB>date'".into()),
    };
    if next()?.as_deref() != Some(HEADER) {
        return Err(format!("the second line is not '{HEADER}'"));
    }
    let mut records = Vec::new();
    let mut row = 3;
    while let Some(line) = next()? {
        row += 1;
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| format!("line {row}: {what}");
        if f.len() != 6 {
            return Err(bad("expected 6 fields"));
        }
        records.push(Record {
            identity: f[0].parse().map_err(|_| bad("identity"))?,
            x: f[1].parse().map_err(|_| bad("x"))?,
            y: f[2].parse().map_err(|_| bad("y"))?,
            date: if f[3].is_empty() { None } else { Some(crate::ingest::text::parse_date(f[3]).ok_or_else(|| bad("date"))?) },
            category: Some(f[4].to_string()),
            weight: if f[5].is_empty() { None } else { Some(f[5].parse().map_err(|_| bad("weight"))?) },
        });
    }
    Ok(Stored { label, cutoff, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    fn live(dates: &[Date]) -> PointLayer {
        let n = dates.len();
        PointLayer {
            id: "m".into(),
            xs: (0..n).map(|i| i as f64).collect(),
            ys: vec![0.0; n],
            rows: (1..=n as u64).collect(),
            dates: Some(dates.iter().map(|&x| Some(x)).collect()),
            category_idx: Some(vec![0; n]),
            categories: vec!["a\tb".into()],
            weights: Some(vec![2.5; n]),
            identity: Some((100..100 + n as u64).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn windows_start_on_the_first_of_the_month_and_quarter() {
        assert_eq!(window(Release::Month, d(2026, 12, 6)), ("2026-12".into(), d(2026, 12, 1)));
        assert_eq!(window(Release::Quarter, d(2026, 11, 30)), ("2026-Q4".into(), d(2026, 10, 1)));
    }

    #[test]
    fn a_release_holds_closed_periods_and_freezes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(dir.path(), "m");
        let nov = d(2026, 11, 3);
        let dec = d(2026, 12, 2);
        // December: November's record is released, December's is not (open month).
        let r1 = public_layer(&live(&[nov, dec]), Release::Month, d(2026, 12, 6), &path).unwrap();
        assert_eq!((r1.label.as_str(), r1.layer.len()), ("2026-12", 1));
        // A record added later in December changes nothing.
        let r2 = public_layer(&live(&[nov, dec, nov]), Release::Month, d(2026, 12, 20), &path).unwrap();
        assert_eq!((r2.layer.xs.clone(), r2.fingerprint), (r1.layer.xs.clone(), r1.fingerprint));
        assert_ne!(r2.fingerprint, 0);
        // January: December is closed and added; the record backdated into November
        // (a released month) does not show.
        let r3 = public_layer(&live(&[nov, dec, nov]), Release::Month, d(2027, 1, 2), &path).unwrap();
        assert_eq!(r3.label, "2027-01");
        let pub3 = r3.layer;
        assert_eq!(pub3.xs, vec![0.0, 1.0]);
        assert_eq!(pub3.identity, Some(vec![100, 101]));
        assert_eq!(pub3.weights, Some(vec![2.5, 2.5]));
        assert_eq!(pub3.categories, vec!["a b"]);
    }

    #[test]
    fn a_damaged_store_is_an_error_that_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(dir.path(), "m");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("release\t2026-12\t2026-12-01\n{HEADER}\n1\tx\t0\t\t\t\n")).unwrap();
        let e = public_layer(&live(&[]), Release::Month, d(2026, 12, 6), &path).err().unwrap().to_string();
        assert!(e.contains("line 4: x") && e.contains("'m'"), "{e}");
    }
}
