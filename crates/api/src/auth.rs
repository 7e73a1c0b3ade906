//! Who may do what (Qdrant's security model): `service.api_key` (and `alt_api_key`) grants
//! manage access, `service.read_only_api_key` read access, and with `service.jwt_rbac` an HS256
//! token signed with the API key grants what its `access` claim says (`auth_jwt.rs`). The REST
//! middleware (`auth_rest.rs`) and the gRPC layer (`grpc/auth.rs`) authenticate every request
//! from its headers before its body is read, then check the operation's [`Level`] against the
//! [`Access`]. Keys are compared in constant time and never logged.

pub use crate::auth_access::{Access, CollectionAccess, CollectionMode, Level, Refusal};
use crate::auth_jwt::{self, Claims, ValueExists};
use axum::http::{HeaderMap, StatusCode};
use quiver_node::Node;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The keys of `service.*`; empty strings count as unset, as in Qdrant.
#[derive(Clone, Default)]
pub struct AuthConfig {
    pub api_key: Option<String>,
    pub alt_api_key: Option<String>,
    pub read_only_api_key: Option<String>,
    pub jwt_rbac: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| ".."))
            .field("alt_api_key", &self.alt_api_key.as_ref().map(|_| ".."))
            .field("read_only_api_key", &self.read_only_api_key.as_ref().map(|_| ".."))
            .field("jwt_rbac", &self.jwt_rbac)
            .finish()
    }
}

/// The configured keys, ready to authenticate requests.
pub struct Auth {
    write_keys: Vec<String>,
    read_key: Option<String>,
    /// Secrets tokens are signed with (the write keys, when `jwt_rbac` is on).
    jwt_secrets: Vec<String>,
    node: Arc<Node>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("jwt", &!self.jwt_secrets.is_empty()).finish_non_exhaustive()
    }
}

fn non_empty(key: &Option<String>) -> Option<String> {
    key.clone().filter(|k| !k.is_empty())
}

/// `a == b` in time that depends only on their lengths.
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Auth {
    /// `None` when no key is configured (every request is allowed, as in Qdrant).
    pub fn new(config: &AuthConfig, node: Arc<Node>) -> Option<Arc<Auth>> {
        let write_keys: Vec<String> =
            [&config.api_key, &config.alt_api_key].into_iter().filter_map(non_empty).collect();
        let read_key = non_empty(&config.read_only_api_key);
        if write_keys.is_empty() && read_key.is_none() {
            return None;
        }
        let jwt_secrets = if config.jwt_rbac { write_keys.clone() } else { Vec::new() };
        Some(Arc::new(Auth { write_keys, read_key, jwt_secrets, node }))
    }

    /// The key a request presents: the `api-key` header, else `Authorization: Bearer <key>`.
    pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        header("api-key").or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ")))
    }

    /// Who the request's headers say the caller is.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Access, Refusal> {
        let Some(key) = Self::presented_key(headers) else {
            return Err(Refusal::unauthorized("Must provide an API key or an Authorization bearer token"));
        };
        // Every configured key is compared, so the time taken does not tell which one matched.
        let write = self.write_keys.iter().fold(false, |hit, k| hit | same_key(k, key));
        let read = self.read_key.as_deref().is_some_and(|k| same_key(k, key));
        if write {
            return Ok(Access::MANAGE);
        }
        if read {
            return Ok(Access::READ);
        }
        let now = auth_jwt::now_seconds();
        let mut first_error = None;
        for secret in &self.jwt_secrets {
            match auth_jwt::decode(key, secret.as_bytes(), now) {
                None => {}
                Some(Ok(claims)) => return self.admit(claims).await,
                Some(Err(refusal)) => {
                    first_error.get_or_insert(refusal);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Refusal::unauthorized("Invalid API key or JWT")))
    }

    /// A token whose signature and expiry hold: its `value_exists` must match a point.
    async fn admit(&self, claims: Claims) -> Result<Access, Refusal> {
        if let Some(check) = &claims.value_exists {
            self.value_exists(check).await?;
        }
        Ok(claims.access)
    }

    async fn value_exists(&self, check: &ValueExists) -> Result<(), Refusal> {
        let failed = "Invalid JWT, stateful validation failed";
        let filter = check.filter().map_err(|_| Refusal::unauthorized(failed))?;
        match self.node.count_points(&check.collection, Some(filter), None).await {
            Ok(0) => Err(Refusal::unauthorized(failed)),
            Ok(_) => Ok(()),
            Err(quiver_node::NodeError::NotFound(_)) => Err(Refusal::forbidden(failed)),
            Err(e) => Err(Refusal { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(entries: &[(&str, CollectionMode)]) -> Access {
        Access::Collections(
            entries.iter().map(|(c, mode)| CollectionAccess { collection: c.to_string(), mode: *mode }).collect(),
        )
    }

    #[test]
    fn global_modes() {
        assert!(Access::MANAGE.check_global(Level::Manage).is_ok());
        assert!(Access::MANAGE.check_collection("x", Level::Manage).is_ok());
        assert!(Access::READ.check_collection("x", Level::Read).is_ok());
        let denied = Access::READ.check_collection("x", Level::Write).unwrap_err();
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        assert_eq!(denied.message, "Forbidden: Global manage access is required");
        assert!(Access::READ.check_global(Level::Manage).is_err());
    }

    #[test]
    fn collection_scopes() {
        let access = scoped(&[("a", CollectionMode::ReadWrite), ("b", CollectionMode::Read)]);
        assert!(access.check_collection("a", Level::Write).is_ok());
        assert!(access.check_collection("b", Level::Read).is_ok());
        assert!(
            access.check_collection("b", Level::Write).unwrap_err().message.contains("Write access to collection b")
        );
        assert!(access.check_collection("a", Level::Manage).unwrap_err().message.contains("Manage access"));
        assert!(access.check_collection("c", Level::Read).unwrap_err().message.contains("Access to collection c"));
        assert!(access.check_global(Level::Read).is_err());
        assert!(access.sees("a") && access.sees("b") && !access.sees("c"));
        assert!(access.check_collection("a", Level::WriteExtras).is_ok());
        assert!(access.check_collection("b", Level::ReadExtras).is_ok());
        assert!(access.check_collection("b", Level::WriteExtras).is_err());
    }

    #[test]
    fn points_only_scope() {
        let access = scoped(&[("p", CollectionMode::PointsReadWrite)]);
        assert!(access.check_collection("p", Level::Read).is_ok());
        assert!(access.check_collection("p", Level::Write).is_ok());
        for level in [Level::ReadExtras, Level::WriteExtras] {
            let refused = access.check_collection("p", level).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN);
            assert!(refused.message.contains("Only points access is allowed for collection p"));
        }
        assert!(access.check_collection("p", Level::Manage).is_err());
        assert!(access.check_collection("q", Level::Read).is_err());
        assert!(Access::READ.check_collection("p", Level::ReadExtras).is_ok());
        assert!(Access::READ.check_collection("p", Level::WriteExtras).is_err());
        assert!(Access::MANAGE.check_collection("p", Level::WriteExtras).is_ok());
    }

    #[test]
    fn presented_keys() {
        let mut headers = HeaderMap::new();
        assert_eq!(Auth::presented_key(&headers), None);
        headers.insert("authorization", "Bearer tok".parse().unwrap());
        assert_eq!(Auth::presented_key(&headers), Some("tok"));
        headers.insert("api-key", "key".parse().unwrap());
        assert_eq!(Auth::presented_key(&headers), Some("key"));
        assert!(same_key("abc", "abc") && !same_key("abc", "abd") && !same_key("abc", "ab"));
    }
}
