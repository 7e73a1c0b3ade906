//! JSON Web Tokens of `service.jwt_rbac` (Qdrant's RBAC): HS256 only, signed with the API key,
//! verified with `hmac` + `sha2` in constant time. Claims: `exp` (required; 30 s of leeway for
//! clock skew), `access` (`"r"`, `"m"`, or `[{collection, access: "r" | "rw" | "prw"}]`; absent:
//! manage; `prw` reads and writes points only),
//! `value_exists` (a point of a collection must match every key/value pair). Other claims
//! (`sub`, `subject`, …) are ignored.
//!
//! Outcomes as Qdrant has them: a string that is not an HS256 JWT of valid claims is not a token
//! (`None`: the caller answers 401 `Invalid API key or JWT`); a bad signature or an expired token
//! is refused with 403; claims that break a rule (a collection twice, a `payload` restriction)
//! with 401.

use crate::auth_access::{Access, CollectionAccess, CollectionMode, Refusal};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use quiver_types::filter::Filter;
use serde::Deserialize;
use sha2::Sha256;

/// Seconds a token stays valid past its `exp`.
const LEEWAY_SECONDS: u64 = 30;

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Claims {
    pub access: Access,
    pub value_exists: Option<ValueExists>,
}

/// `value_exists`: the token is valid while a point of `collection` matches every pair.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ValueExists {
    pub collection: String,
    matches: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct KeyValue {
    key: String,
    value: serde_json::Value,
}

impl ValueExists {
    /// The payload filter of the check: every pair as a `match` condition.
    pub fn filter(&self) -> Result<Filter, serde_json::Error> {
        let must: Vec<_> =
            self.matches.iter().map(|m| serde_json::json!({"key": m.key, "match": {"value": m.value}})).collect();
        serde_json::from_value(serde_json::json!({ "must": must }))
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct RawClaims {
    exp: Option<u64>,
    #[serde(default)]
    access: Option<RawAccess>,
    #[serde(default)]
    value_exists: Option<ValueExists>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAccess {
    Global(GlobalMode),
    Collections(Vec<RawCollectionAccess>),
}

#[derive(Deserialize)]
enum GlobalMode {
    #[serde(rename = "r")]
    Read,
    #[serde(rename = "m")]
    Manage,
}

#[derive(Deserialize)]
enum RawCollectionMode {
    #[serde(rename = "r")]
    Read,
    #[serde(rename = "rw")]
    ReadWrite,
    #[serde(rename = "prw")]
    PointsReadWrite,
}

#[derive(Deserialize)]
struct RawCollectionAccess {
    collection: String,
    access: RawCollectionMode,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// Seconds since the Unix epoch.
pub(crate) fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Verifies `token` against `secret` at time `now`; see the module documentation for outcomes.
pub(crate) fn decode(token: &str, secret: &[u8], now: u64) -> Option<Result<Claims, Refusal>> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "HS256" {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(&token.as_bytes()[..token.len() - signature_len(token)]);
    if mac.verify_slice(&signature).is_err() {
        return Some(Err(Refusal::forbidden("Invalid JWT: the signature does not match")));
    }
    let raw: RawClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let exp = raw.exp?;
    if exp.saturating_add(LEEWAY_SECONDS) < now {
        return Some(Err(Refusal::forbidden("Invalid JWT: the token has expired")));
    }
    Some(claims(raw))
}

/// Length of `.signature` at the end of a three-part token.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn claims(raw: RawClaims) -> Result<Claims, Refusal> {
    let access = match raw.access {
        None | Some(RawAccess::Global(GlobalMode::Manage)) => Access::MANAGE,
        Some(RawAccess::Global(GlobalMode::Read)) => Access::READ,
        Some(RawAccess::Collections(list)) => {
            let mut out: Vec<CollectionAccess> = Vec::with_capacity(list.len());
            for entry in list {
                if entry.payload.is_some() {
                    return Err(Refusal::unauthorized(format!(
                        "Invalid JWT: payload restrictions (collection {}) are not supported",
                        entry.collection
                    )));
                }
                if out.iter().any(|a| a.collection == entry.collection) {
                    return Err(Refusal::unauthorized(format!(
                        "Invalid JWT: collection {} is listed more than once in access",
                        entry.collection
                    )));
                }
                let mode = match entry.access {
                    RawCollectionMode::Read => CollectionMode::Read,
                    RawCollectionMode::ReadWrite => CollectionMode::ReadWrite,
                    RawCollectionMode::PointsReadWrite => CollectionMode::PointsReadWrite,
                };
                out.push(CollectionAccess { collection: entry.collection, mode });
            }
            Access::Collections(out)
        }
    };
    Ok(Claims { access, value_exists: raw.value_exists })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn sign(header: &serde_json::Value, claims: &serde_json::Value, secret: &[u8]) -> String {
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        format!("{head}.{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn token(claims: serde_json::Value) -> String {
        sign(&json!({"alg": "HS256", "typ": "JWT"}), &claims, b"secret")
    }

    #[test]
    fn global_access_claims() {
        let read = decode(&token(json!({"exp": NOW + 60, "access": "r"})), b"secret", NOW).unwrap().unwrap();
        assert_eq!(read.access, Access::READ);
        let manage = decode(&token(json!({"exp": NOW, "access": "m"})), b"secret", NOW).unwrap().unwrap();
        assert_eq!(manage.access, Access::MANAGE);
        let default = decode(&token(json!({"exp": NOW, "sub": "x"})), b"secret", NOW).unwrap().unwrap();
        assert_eq!(default.access, Access::MANAGE);
    }

    #[test]
    fn collection_access_claims() {
        let claims = json!({"exp": NOW, "access": [{"collection": "a", "access": "rw"},
            {"collection": "b", "access": "r"}, {"collection": "c", "access": "prw"}]});
        let decoded = decode(&token(claims), b"secret", NOW).unwrap().unwrap();
        let expected = Access::Collections(vec![
            CollectionAccess { collection: "a".into(), mode: CollectionMode::ReadWrite },
            CollectionAccess { collection: "b".into(), mode: CollectionMode::Read },
            CollectionAccess { collection: "c".into(), mode: CollectionMode::PointsReadWrite },
        ]);
        assert_eq!(decoded.access, expected);
        let twice =
            json!({"exp": NOW, "access": [{"collection": "a", "access": "r"}, {"collection": "a", "access": "rw"}]});
        assert_eq!(decode(&token(twice), b"secret", NOW).unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
        let payload = json!({"exp": NOW, "access": [{"collection": "a", "access": "r", "payload": {"k": "v"}}]});
        assert_eq!(decode(&token(payload), b"secret", NOW).unwrap().unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn expiry_with_leeway() {
        let at = |exp: u64| decode(&token(json!({"exp": exp, "access": "r"})), b"secret", NOW);
        assert!(at(NOW - 30).unwrap().is_ok());
        let expired = at(NOW - 31).unwrap().unwrap_err();
        assert_eq!(expired.status, StatusCode::FORBIDDEN);
        assert!(expired.message.contains("expired"));
        assert!(decode(&token(json!({"access": "r"})), b"secret", NOW).is_none(), "exp is required");
    }

    #[test]
    fn signatures() {
        let good = token(json!({"exp": NOW, "access": "r"}));
        let wrong = decode(&good, b"other-secret", NOW).unwrap().unwrap_err();
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(decode(&tampered, b"secret", NOW), Some(Err(_)) | None));
        let forged_claims = {
            let parts: Vec<&str> = good.split('.').collect();
            let body = URL_SAFE_NO_PAD.encode(json!({"exp": NOW, "access": "m"}).to_string());
            format!("{}.{body}.{}", parts[0], parts[2])
        };
        assert_eq!(decode(&forged_claims, b"secret", NOW).unwrap().unwrap_err().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn not_tokens() {
        let none = sign(&json!({"alg": "none"}), &json!({"exp": NOW}), b"secret");
        assert!(decode(&none, b"secret", NOW).is_none());
        let hs512 = sign(&json!({"alg": "HS512"}), &json!({"exp": NOW}), b"secret");
        assert!(decode(&hs512, b"secret", NOW).is_none());
        for text in ["secret", "a.b", "a.b.c", "a.b.c.d", "", "..."] {
            assert!(decode(text, b"secret", NOW).is_none(), "{text}");
        }
        let bad_access = token(json!({"exp": NOW, "access": "x"}));
        assert!(decode(&bad_access, b"secret", NOW).is_none());
    }

    #[test]
    fn value_exists_filter() {
        let claims = json!({"exp": NOW, "value_exists": {"collection": "users", "matches": [{"key": "user", "value": "ann"}, {"key": "n", "value": 3}]}});
        let decoded = decode(&token(claims), b"secret", NOW).unwrap().unwrap();
        let check = decoded.value_exists.unwrap();
        assert_eq!(check.collection, "users");
        let filter = check.filter().unwrap();
        assert_eq!(filter.must.map(|m| m.len()), Some(2));
    }
}
