//! Who may see what: API keys (kept as SHA-256 hashes, outside the project, with their
//! role: `protected` or `exact`) and the admin token. Every check is constant-time on the
//! hashes; no key is ever held in memory.

use axum::http::{HeaderMap, header};

use super::{ApiError, AppState, reload};

/// API key hashes from `BUURTMETER_API_KEYS_FILE` (one SHA-256 hex per line, `#`
/// comments) and `BUURTMETER_API_KEYS` (comma-separated hashes), kept outside the
/// project. Make a hash with `printf %s 'the key' | sha256sum`. In the file, a role may
/// follow the hash: `protected` (the default: the same protected values as the public,
/// plus restricted layers) or `exact` / `exact:layer1,layer2` (internal analysts: the
/// exact values of protected layers, all or the ones named). Returns every key's hash
/// and the exact keys with their layers.
pub type ApiKeys = (Vec<String>, Vec<(String, Vec<String>)>);

/// An API key file or variable that cannot be used: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct KeysError {
    pub origin: String,
    pub message: String,
}

pub fn load_api_key_hashes() -> Result<ApiKeys, KeysError> {
    let mut out = Vec::new();
    let mut exact = Vec::new();
    let mut add = |h: &str, role: Option<&str>, origin: &str| -> Result<(), KeysError> {
        let h = h.trim().to_ascii_lowercase();
        if h.is_empty() || h.starts_with('#') {
            return Ok(());
        }
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            let message = format!("'{h}' is not a SHA-256 hex hash (printf %s 'key' | sha256sum)");
            return Err(KeysError { origin: origin.to_string(), message });
        }
        match role.map(str::trim) {
            None | Some("protected") => {}
            Some("exact") => exact.push((h.clone(), Vec::new())),
            Some(r) if r.starts_with("exact:") => {
                exact.push((h.clone(), r["exact:".len()..].split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()))
            }
            Some(r) => {
                let message = format!("role '{r}' is not 'protected', 'exact' or 'exact:<layer>,<layer>'");
                return Err(KeysError { origin: origin.to_string(), message });
            }
        }
        out.push(h);
        Ok(())
    };
    if let Ok(path) = std::env::var("BUURTMETER_API_KEYS_FILE") {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| KeysError { origin: path.clone(), message: format!("cannot read the API key file: {e}") })?;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let hash = words.next().unwrap_or("");
            let role = words.next().filter(|w| !w.starts_with('#'));
            add(hash, role, &path)?;
        }
    }
    if let Ok(list) = std::env::var("BUURTMETER_API_KEYS") {
        for h in list.split(',') {
            add(h, None, "BUURTMETER_API_KEYS")?;
        }
    }
    Ok((out, exact))
}

/// True when the request's key may see the exact values of point layer `layer`.
pub(crate) fn sees_exact(state: &AppState, headers: &HeaderMap, query: Option<&str>, layer: &str) -> bool {
    let Some(key) = request_key(headers, query) else { return false };
    let hash = reload::sha256_hex(&key);
    state.options.exact_keys.iter().any(|(h, layers)| {
        reload::constant_time_eq(h.as_bytes(), hash.as_bytes()) && (layers.is_empty() || layers.iter().any(|l| l == layer))
    })
}

/// The API key a request carries: `Authorization: Bearer`, `X-API-Key`, or `?api_key=`.
fn request_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(k) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(k.trim().to_string());
    }
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim().to_string());
    }
    // Percent-decoded, as every client encodes it (`%2B` is `+`).
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "api_key").map(|(_, v)| v.into_owned())
}

/// `Ok(true)` with a valid key, `Ok(false)` without one; `Err(Forbidden)` for a wrong one.
pub(crate) fn has_valid_key(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> Result<bool, ApiError> {
    let Some(key) = request_key(headers, query) else { return Ok(false) };
    let hash = reload::sha256_hex(&key);
    if state.options.api_key_hashes.iter().any(|h| reload::constant_time_eq(h.as_bytes(), hash.as_bytes())) {
        Ok(true)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// True when the request carries the admin token.
pub(crate) fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = state.reloader.as_ref().and_then(|r| r.admin_token_sha256.as_ref()) else { return false };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    !token.is_empty() && super::reload::constant_time_eq(super::reload::sha256_hex(token).as_bytes(), expected.as_bytes())
}
