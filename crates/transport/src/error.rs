//! The crate's one error enum, and how gRPC statuses map onto it (and back, on the server side).

use tonic::{Code, Status};

/// Why a peer call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The peer could not be reached: connect failed, connection refused or reset, partitioned by fault
    /// injection, or (from [`crate::serve`]) the address could not be served. Transient.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// Nothing listens on the peer's address (the connection was refused): its process is not
    /// running, so it can neither serve nor acknowledge anything. Transient. Never produced by
    /// fault injection, which looks like a network failure.
    #[error("peer down: {0}")]
    Down(String),
    /// No answer within the call's timeout. Transient; the remote may or may not have acted on the call.
    #[error("peer call timed out: {0}")]
    Timeout(String),
    /// The remote handler answered with an error (its message). Not transient.
    #[error("remote error: {0}")]
    Remote(String),
    /// Bytes that do not decode (or a message that does not encode). Not transient.
    #[error("p2p codec error: {0}")]
    Codec(String),
}

impl PeerError {
    /// True when retrying the same call later may succeed (`Unreachable`, `Timeout`).
    pub fn is_transient(&self) -> bool {
        match self {
            PeerError::Unreachable(_) | PeerError::Down(_) | PeerError::Timeout(_) => true,
            PeerError::Remote(_) | PeerError::Codec(_) => false,
        }
    }

    /// Maps a status returned by a call to `uri` (from the remote server or from tonic's own transport).
    pub fn from_status(uri: &str, status: &Status) -> PeerError {
        let message = status.message();
        match status.code() {
            // Connect errors, refused connections and resets, and our server's fault-injection rejection.
            Code::Unavailable if connection_refused(status) => PeerError::Down(format!("{uri}: {}", describe(status))),
            Code::Unavailable | Code::Unknown => PeerError::Unreachable(format!("{uri}: {}", describe(status))),
            Code::DeadlineExceeded | Code::Cancelled => PeerError::Timeout(format!("{uri}: {}", describe(status))),
            // A status with a source was made locally from a transport (h2) error, not sent by the remote.
            Code::Internal if std::error::Error::source(status).is_some() => {
                PeerError::Unreachable(format!("{uri}: {}", describe(status)))
            }
            Code::Internal | Code::InvalidArgument => PeerError::Remote(message.to_string()),
            code @ (Code::Ok
            | Code::Aborted
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::DataLoss
            | Code::Unauthenticated) => PeerError::Remote(format!("{code:?}: {message}")),
        }
    }
}

/// Whether the status was made from a refused TCP connection.
fn connection_refused(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// The status message plus the innermost transport error, if any (tonic's messages alone are terse).
fn describe(status: &Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    let mut innermost = None;
    while let Some(err) = source {
        innermost = Some(err.to_string());
        source = err.source();
    }
    if let Some(inner) = innermost
        && !text.contains(&inner)
    {
        text = format!("{text} ({inner})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses() {
        let uri = "http://x";
        assert!(matches!(PeerError::from_status(uri, &Status::unavailable("no")), PeerError::Unreachable(_)));
        assert!(matches!(PeerError::from_status(uri, &Status::cancelled("t")), PeerError::Timeout(_)));
        assert!(matches!(PeerError::from_status(uri, &Status::deadline_exceeded("t")), PeerError::Timeout(_)));
        assert_eq!(PeerError::from_status(uri, &Status::internal("boom")), PeerError::Remote("boom".into()));
        assert_eq!(PeerError::from_status(uri, &Status::invalid_argument("bad")), PeerError::Remote("bad".into()));
        assert!(PeerError::Timeout(String::new()).is_transient());
        assert!(PeerError::Unreachable(String::new()).is_transient());
        assert!(!PeerError::Remote(String::new()).is_transient());
        assert!(!PeerError::Codec(String::new()).is_transient());
    }
}
