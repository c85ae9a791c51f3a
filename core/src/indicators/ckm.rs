//! The cell-key method (CKM), as Destatis uses it for the Zensus 2022 and the ABS in
//! TableBuilder: every record has a fixed random key, a cell's key is the sum of its
//! records' keys modulo 1, and a perturbation table maps (true count, cell key) to the
//! published count. The same records always give the same published value, in every
//! table, level, period, filter and tile, so slicing and repeating queries does not
//! average the noise away; differences of published cells are noisy.
//!
//! - **Record keys**: the first 8 bytes of SHA-256 over the secret, the layer id and the
//!   record's identity (a keyed pseudo-random function: the secret is a fixed-length
//!   prefix and no key is ever published), under a secret kept outside the project
//!   (`BUURTMETER_SDC_SECRET`). A key is a u64 read as a fraction of 2⁶⁴; cell keys are
//!   wrapping sums, so they do not depend on the order the records are added in. SHA-256
//!   because PostgreSQL has it built in (`sha256()`, no extension): the join pushed down
//!   into a database computes the same keys in SQL ([`record_key_sql`]).
//! - **Perturbation table**: per true count i, a distribution over published counts
//!   j = i + v with |v| ≤ D, j ≥ 0, j not in 1..=js (no published value between 1 and
//!   `min_count − 1`), mean 0 (unbiased) and variance V; among those the one with maximum
//!   entropy (as sdcTools/ptable builds it), p(v) ∝ exp(λ₁v + λ₂v²), solved by Newton's
//!   method. Where V is not reachable for a small count (the gap 1..js forces more
//!   spread), the row takes the smallest variance above the reachable minimum. Zero stays
//!   zero. Counts above `imax` use the last (symmetric) row.
//! - **Lookup**: the row's targets in ascending order tile [0, 1) by their probabilities;
//!   the first target whose upper bound is above the cell key is published.
//!
//! D is not published (the SDC Handbook calls that risky); V is, so analysts can judge
//! the noise.

use sha2::Digest;

/// The method's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CkmParams {
    /// Largest deviation |published − true|.
    pub max_deviation: u32,
    /// Target variance of the deviation (published).
    pub variance: f64,
    /// No published value in 1..=js (`min_count − 1`).
    pub js: u32,
}

impl CkmParams {
    /// From a layer's `min_count`: js = min_count − 1; D = js + 2, at least 3; V = 2.5
    /// (the Eurostat geo-guidelines' "medium" setting uses D = 6, V = 2.5, js = 2).
    pub fn for_min_count(min_count: Option<f64>) -> CkmParams {
        let js = min_count.map_or(0, |m| (m.ceil() as i64 - 1).max(0) as u32);
        CkmParams { max_deviation: (js + 2).max(3), variance: 2.5, js }
    }
}

/// One row: published targets and the upper bounds of their key intervals (×2⁶⁴).
#[derive(Debug, Clone)]
pub struct Row {
    pub targets: Vec<u64>,
    pub probabilities: Vec<f64>,
    upper: Vec<u64>,
}

/// The perturbation table for counts.
#[derive(Debug, Clone)]
pub struct PTable {
    pub params: CkmParams,
    /// Rows for true counts 0..=imax; larger counts use the last.
    pub rows: Vec<Row>,
}

impl PTable {
    pub fn new(params: CkmParams) -> PTable {
        let d = params.max_deviation as i64;
        let imax = d + params.js as i64 + 1;
        let rows = (0..=imax).map(|i| build_row(i, &params)).collect();
        PTable { params, rows }
    }

    pub fn imax(&self) -> u64 {
        self.rows.len() as u64 - 1
    }

    /// The published count for a true count `n` and cell key `ck` (a fraction of 2⁶⁴).
    pub fn perturb(&self, n: u64, ck: u64) -> u64 {
        let (row, shift) = if n <= self.imax() { (&self.rows[n as usize], 0) } else { (self.rows.last().expect("rows"), n - self.imax()) };
        let k = row.upper.iter().position(|&u| ck < u).unwrap_or(row.targets.len() - 1);
        row.targets[k] + shift
    }
}

/// The maximum-entropy row for true count `i`.
fn build_row(i: i64, p: &CkmParams) -> Row {
    let d = p.max_deviation as i64;
    let js = p.js as i64;
    if i == 0 {
        return Row { targets: vec![0], probabilities: vec![1.0], upper: vec![u64::MAX] };
    }
    let allowed: Vec<i64> = ((i - d).max(0)..=i + d).filter(|&j| j == 0 || j > js).collect();
    let v: Vec<f64> = allowed.iter().map(|&j| (j - i) as f64).collect();
    // The smallest variance a mean-zero distribution on these targets can have: the two
    // nearest targets around i (zero when i itself is allowed).
    let below = v.iter().copied().filter(|&x| x <= 0.0).fold(f64::NEG_INFINITY, f64::max);
    let above = v.iter().copied().filter(|&x| x >= 0.0).fold(f64::INFINITY, f64::min);
    let min_var = if below.is_finite() && above.is_finite() { -below * above } else { 0.0 };
    let target = p.variance.max(min_var * 1.05 + 1e-3);
    let probs = max_entropy(&v, target);
    // Interval bounds on the 2⁶⁴ grid; the last reaches the end.
    let mut upper = Vec::with_capacity(probs.len());
    let mut acc = 0.0;
    for (k, q) in probs.iter().enumerate() {
        acc += q;
        upper.push(if k + 1 == probs.len() { u64::MAX } else { (acc.min(1.0) * 18_446_744_073_709_551_615.0) as u64 });
    }
    Row { targets: allowed.iter().map(|&j| j as u64).collect(), probabilities: probs, upper }
}

/// p(v) ∝ exp(a·v + b·v²) with mean 0 and variance `var`: Newton's method on the convex
/// dual log Z(a, b) − b·var, damped by a backtracking line search.
fn max_entropy(v: &[f64], var: f64) -> Vec<f64> {
    let dist = |a: f64, b: f64| -> Vec<f64> {
        let e: Vec<f64> = v.iter().map(|&x| a * x + b * x * x).collect();
        let m = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = e.iter().map(|x| (x - m).exp()).collect();
        let z: f64 = w.iter().sum();
        w.iter().map(|x| x / z).collect()
    };
    let dual = |a: f64, b: f64| -> f64 {
        let m = v.iter().map(|&x| a * x + b * x * x).fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|&x| (a * x + b * x * x - m).exp()).sum::<f64>().ln() - b * var
    };
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..200 {
        let p = dist(a, b);
        let m1: f64 = p.iter().zip(v).map(|(q, x)| q * x).sum();
        let m2: f64 = p.iter().zip(v).map(|(q, x)| q * x * x).sum();
        let m3: f64 = p.iter().zip(v).map(|(q, x)| q * x * x * x).sum();
        let m4: f64 = p.iter().zip(v).map(|(q, x)| q * x * x * x * x).sum();
        let g = [m1, m2 - var];
        if g[0].abs() < 1e-12 && g[1].abs() < 1e-10 {
            break;
        }
        // Hessian: the covariance of (v, v²).
        let h = [[m2 - m1 * m1, m3 - m1 * m2], [m3 - m1 * m2, m4 - m2 * m2]];
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        let (da, db) = if det.abs() > 1e-18 {
            ((h[1][1] * g[0] - h[0][1] * g[1]) / det, (h[0][0] * g[1] - h[1][0] * g[0]) / det)
        } else {
            (g[0], g[1])
        };
        let f0 = dual(a, b);
        let mut t = 1.0;
        while t > 1e-12 && dual(a - t * da, b - t * db) > f0 - 1e-4 * t * (g[0] * da + g[1] * db) {
            t *= 0.5;
        }
        a -= t * da;
        b -= t * db;
    }
    dist(a, b)
}

/// A record's key: SHA-256 of the secret, the layer id, a zero byte and the identity
/// (8 bytes, big-endian), its first 8 bytes read big-endian.
pub fn record_key(secret: &[u8; 16], layer: &str, identity: u64) -> u64 {
    let mut h = sha2::Sha256::new();
    h.update(secret);
    h.update(layer.as_bytes());
    h.update([0u8]);
    h.update(identity.to_be_bytes());
    first_u64(&h.finalize())
}

/// A record's identity from the text of its id column (trimmed of ASCII white space):
/// the first 8 bytes of its SHA-256, so that SQL can compute it too ([`identity_sql`]).
pub fn identity_of_id(text: &[u8]) -> u64 {
    let start = text.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(text.len());
    let end = text.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    first_u64(&sha2::Sha256::digest(&text[start..end]))
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

/// [`identity_of_id`] in PostgreSQL, of the SQL expression `column` (any type, as text):
/// 8 bytes (`bytea`). The trimmed characters are those of Rust's ASCII white space.
pub fn identity_sql(column: &str) -> String {
    format!("substring(sha256(convert_to(btrim(({column})::text, E' \\t\\n\\f\\r'), 'UTF8')) from 1 for 8)")
}

/// [`record_key`] in PostgreSQL, of the 8-byte identity expression `identity` (from
/// [`identity_sql`]): a `bigint` holding the key's 64 bits (two's complement). Summed as
/// `numeric` and taken modulo 2⁶⁴, it is the cell key of the in-process join.
pub fn record_key_sql(secret: &[u8; 16], layer: &str, identity: &str) -> String {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let layer_hex: String = layer.bytes().map(|b| format!("{b:02x}")).collect();
    format!("('x' || encode(substring(sha256('\\x{hex}{layer_hex}00'::bytea || ({identity})) from 1 for 8), 'hex'))::bit(64)::bigint")
}

/// The secret for record keys: `BUURTMETER_SDC_SECRET` (any text, hashed to 128 bits).
/// Without it, a random secret is made once per installation and kept in the user's
/// config directory (replicas must share it: set the variable on all of them).
pub fn secret(builtin_demo: bool) -> std::io::Result<([u8; 16], &'static str)> {
    let derive = |text: &str| -> [u8; 16] {
        use sha2::Digest;
        let d = sha2::Sha256::digest(text.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    };
    if let Ok(s) = std::env::var("BUURTMETER_SDC_SECRET")
        && !s.is_empty()
    {
        return Ok((derive(&s), "BUURTMETER_SDC_SECRET"));
    }
    if builtin_demo {
        // Synthetic data: a public secret, so the demo is the same everywhere.
        return Ok((derive("buurtmeter demo (synthetic data)"), "the demo's public secret"));
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .unwrap_or_else(std::env::temp_dir)
        .join("buurtmeter");
    let file = dir.join("sdc_secret");
    if let Ok(s) = std::fs::read_to_string(&file) {
        return Ok((derive(s.trim()), "the installation's secret (~/.config/buurtmeter/sdc_secret)"));
    }
    std::fs::create_dir_all(&dir)?;
    let mut bytes = [0u8; 32];
    getrandom(&mut bytes)?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&file, &text)?;
    Ok((derive(&text), "a new installation secret (~/.config/buurtmeter/sdc_secret)"))
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PTable {
        PTable::new(CkmParams::for_min_count(Some(3.0)))
    }

    #[test]
    fn rows_are_distributions_with_mean_zero_and_the_target_variance() {
        let t = table();
        let p = t.params;
        assert_eq!((p.js, p.max_deviation), (2, 4));
        assert_eq!(t.rows[0].targets, vec![0], "zero stays zero");
        for (i, row) in t.rows.iter().enumerate().skip(1) {
            let s: f64 = row.probabilities.iter().sum();
            assert!((s - 1.0).abs() < 1e-9, "row {i} sums to {s}");
            let mean: f64 = row.targets.iter().zip(&row.probabilities).map(|(&j, q)| (j as f64 - i as f64) * q).sum();
            let var: f64 = row.targets.iter().zip(&row.probabilities).map(|(&j, q)| (j as f64 - i as f64).powi(2) * q).sum();
            assert!(mean.abs() < 1e-6, "row {i}: mean {mean}");
            assert!(var >= p.variance - 1e-6, "row {i}: variance {var}");
            if i > (p.js + p.max_deviation) as usize {
                assert!((var - p.variance).abs() < 1e-6, "row {i}: variance {var} where V is reachable");
            }
            for &j in &row.targets {
                assert!((j as i64 - i as i64).unsigned_abs() <= u64::from(p.max_deviation), "row {i}: target {j}");
                assert!(j == 0 || j > u64::from(p.js), "row {i}: target {j} in the gap");
            }
        }
    }

    #[test]
    fn lookup_covers_the_key_range_and_is_deterministic() {
        let t = table();
        for n in 0..40u64 {
            for ck in [0u64, 1, u64::MAX / 3, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
                let j = t.perturb(n, ck);
                assert_eq!(j, t.perturb(n, ck));
                assert!(j.abs_diff(n) <= 4 && (j == 0 || j > 2), "{n} -> {j}");
            }
        }
        // Keys at a row's bounds go to the next target.
        let row = &t.rows[5];
        for (k, &u) in row.upper.iter().enumerate().take(row.targets.len() - 1) {
            assert_eq!(t.perturb(5, u), row.targets[k + 1]);
            assert_eq!(t.perturb(5, u - 1), row.targets[k]);
        }
    }

    #[test]
    fn simulated_noise_follows_the_table() {
        let t = table();
        let secret = [7u8; 16];
        let n = 10u64;
        let trials = 200_000u64;
        let mut hist = std::collections::BTreeMap::new();
        for r in 0..trials {
            *hist.entry(t.perturb(n, record_key(&secret, "sim", r))).or_insert(0u64) += 1;
        }
        let row = &t.rows[t.rows.len() - 1];
        let shift = n - t.imax();
        let mut chi2 = 0.0;
        for (k, &j) in row.targets.iter().enumerate() {
            let expected = row.probabilities[k] * trials as f64;
            let seen = hist.get(&(j + shift)).copied().unwrap_or(0) as f64;
            chi2 += (seen - expected).powi(2) / expected;
        }
        // 8 degrees of freedom: the 0.999 quantile is 26.1.
        assert!(chi2 < 26.1, "chi² {chi2}: {hist:?}");
    }

    #[test]
    fn record_keys_depend_on_secret_layer_and_identity_only() {
        let s = [1u8; 16];
        assert_eq!(record_key(&s, "a", 5), record_key(&s, "a", 5));
        assert_ne!(record_key(&s, "a", 5), record_key(&s, "b", 5));
        assert_ne!(record_key(&s, "a", 5), record_key(&[2u8; 16], "a", 5));
    }
}
