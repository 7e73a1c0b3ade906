//! What protects the p2p port: a key every call carries (derived from `service.api_key`, so the
//! API key itself never travels between peers) and is checked before the call's body is
//! decoded, and mutual TLS (`cluster.p2p.enable_tls`).

use crate::tls::{ClientTls, ServerTls, TlsConnector};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

/// The metadata entry that carries the p2p key.
pub const PEER_KEY_HEADER: &str = "x-quiver-peer-key";

/// The purpose string mixed into the derivation (a new version of the derivation changes it).
const DERIVATION_LABEL: &[u8] = b"quiver p2p key v1";

/// A p2p key: HMAC-SHA256 of a fixed label under the API key, sent hex-encoded. Its `Debug`
/// form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerKey(String);

impl std::fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerKey(..)")
    }
}

impl PeerKey {
    /// The p2p key of the cluster whose peers share `api_key`.
    pub fn derive(api_key: &str) -> PeerKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(api_key.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(DERIVATION_LABEL);
        let digest = mac.finalize().into_bytes();
        PeerKey(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether `presented` is this key (constant time).
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

/// TLS configurations of the p2p port: the server side (clients must present a certificate
/// issued by the CA) and the client side (the same certificate, the same CA).
#[derive(Clone)]
pub struct PeerTls {
    pub server: Arc<ServerTls>,
    pub client: Arc<ClientTls>,
}

/// How a p2p client and server protect their calls. The default protects nothing (a cluster
/// without an API key and without p2p TLS).
#[derive(Clone, Default)]
pub struct PeerSecurity {
    /// Sent with every call.
    pub send: Option<PeerKey>,
    /// Accepted from callers (the current and the alternative key during a rotation); empty:
    /// calls are not checked.
    pub accept: Vec<PeerKey>,
    /// Mutual TLS on the p2p port.
    pub tls: Option<PeerTls>,
}

impl std::fmt::Debug for PeerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSecurity")
            .field("sends_key", &self.send.is_some())
            .field("accepted_keys", &self.accept.len())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl PeerSecurity {
    /// Adds the key to an outgoing call.
    pub(crate) fn sign<T>(&self, request: &mut Request<T>) {
        if let Some(key) = &self.send
            && let Ok(value) = MetadataValue::try_from(key.0.as_str())
        {
            request.metadata_mut().insert(PEER_KEY_HEADER, value);
        }
    }

    /// Checks an incoming call's key (run by tonic before the body is decoded).
    pub(crate) fn check(&self, request: &Request<()>) -> Result<(), Status> {
        if self.accept.is_empty() {
            return Ok(());
        }
        let Some(presented) = request.metadata().get(PEER_KEY_HEADER) else {
            return Err(Status::unauthenticated(
                "p2p call without the cluster key: every peer needs the same service.api_key",
            ));
        };
        match self.accept.iter().any(|key| key.matches(presented.as_bytes())) {
            true => Ok(()),
            false => Err(Status::unauthenticated(
                "p2p call with a wrong cluster key: every peer needs the same service.api_key",
            )),
        }
    }

    /// The connector of p2p channels when TLS is on.
    pub(crate) fn connector(&self) -> Option<TlsConnector> {
        self.tls.as_ref().map(|tls| TlsConnector { tls: Arc::clone(&tls.client) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_from_the_api_key_and_between_keys() {
        let a = PeerKey::derive("secret");
        assert_eq!(a, PeerKey::derive("secret"));
        assert_ne!(a, PeerKey::derive("secret2"));
        assert!(!a.0.contains("secret"));
        assert_eq!(a.0.len(), 64);
        assert_eq!(format!("{a:?}"), "PeerKey(..)");
    }

    #[test]
    fn checks_calls() {
        let key = PeerKey::derive("k");
        let open = PeerSecurity::default();
        assert!(open.check(&Request::new(())).is_ok());
        let guarded = PeerSecurity { send: Some(key.clone()), accept: vec![key], tls: None };
        let missing = guarded.check(&Request::new(())).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let mut signed = Request::new(());
        guarded.sign(&mut signed);
        assert!(guarded.check(&signed).is_ok());
        let mut wrong = Request::new(());
        PeerSecurity { send: Some(PeerKey::derive("other")), ..PeerSecurity::default() }.sign(&mut wrong);
        assert_eq!(guarded.check(&wrong).unwrap_err().code(), tonic::Code::Unauthenticated);
    }
}
