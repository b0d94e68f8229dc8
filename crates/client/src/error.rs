//! The client's errors.

use mpms_crypto::{Hash, KeystoreError, PublicKey, SealError};
use mpms_fhir::FhirError;
use mpms_ledger::claims::ClaimError;
use mpms_ledger::credential::{ContentError, IssueError};
use mpms_ledger::genesis::GenesisError;
use mpms_light::vc::VcError;

/// What went wrong talking to a node, building a transaction or opening a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node could not be reached, or the exchange failed before an answer.
    #[error("{method} {url}: {message}")]
    Connection {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// What failed.
        message: String,
    },
    /// The node's TLS certificate is not trusted (not issued for its address, by no
    /// authority the client trusts, expired...). Waiting does not help.
    #[error("{method} {url}: the node's certificate is not trusted: {message}")]
    Certificate {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// What rustls found wrong.
        message: String,
    },
    /// The node answered with an error status. `message` is the text of its
    /// `{"error": ...}` answer (or the body, when it is not that).
    #[error("{method} {url}: {status}: {message}")]
    Status {
        /// The HTTP method.
        method: &'static str,
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// The node holds nothing at `path` (it answered 404).
    #[error("{path}: not found")]
    NotFound {
        /// The API path asked.
        path: String,
    },
    /// The node refused a transaction; the reason is the ledger's.
    #[error("refused: {0}")]
    Refused(String),
    /// The node's answer is not what its API describes.
    #[error("{what}: {detail}")]
    Malformed {
        /// What was being read.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A transaction was not committed in time.
    #[error(
        "transaction {hash} not committed after {seconds}s (it was dropped, or the network is not finalizing)"
    )]
    Timeout {
        /// The transaction.
        hash: Hash,
        /// How long it was waited for.
        seconds: u64,
    },
    /// A credential's content could not be opened, or does not check against its
    /// claim (wrong key, tampered data, erased content, bad signature).
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An issuance could not be prepared: its content does not match its schema, or
    /// sealing failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// Sealing or opening a key failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// An encrypted file (a wallet) could not be written or opened.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A W3C Verifiable Credential could not be made, or does not check.
    #[error(transparent)]
    Vc(#[from] VcError),
    /// A field specification or value does not read, or content does not match its
    /// schema's fields.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// A FHIR resource does not read, or does not map to a schema.
    #[error(transparent)]
    Fhir(#[from] FhirError),
    /// A genesis (a trust anchor) does not check.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A genesis block does not anchor a chain.
    #[error(transparent)]
    Anchor(#[from] mpms_light::AnchorError),
    /// A grant cannot be used by this reader.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// A proof bundle from a node does not check; names the first failed check.
    #[error("the node's bundle does not check: {0} failed")]
    BundleCheck(String),
    /// An account's keys lack the decryption key an action needs (keys that only
    /// sign).
    #[error("{0} needs an account key file with an encryption key")]
    NoDecryptionKey(String),
    /// The caller's input cannot make the transaction or answer the question.
    #[error("{0}")]
    Input(String),
    /// `source`, while doing `context`.
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// This error, as the cause of a failure to do `context`.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// The innermost error under any [`Error::Context`] layers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// The ledger's reason, if this is (or wraps) a refused transaction.
    pub fn refusal(&self) -> Option<&str> {
        match self.root() {
            Error::Refused(reason) => Some(reason),
            _ => None,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>, detail: impl ToString) -> Error {
        Error::Malformed {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// Why a grant cannot be used to open a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The grant is for another organization.
    #[error("grant {grant} is for {grantee}, not {reader}")]
    NotGrantee {
        /// The grant.
        grant: Hash,
        /// Whom it is for.
        grantee: PublicKey,
        /// Who tried to use it.
        reader: PublicKey,
    },
    /// The subject revoked the grant.
    #[error("grant {grant} was revoked at height {height}")]
    Revoked {
        /// The grant.
        grant: Hash,
        /// When.
        height: u64,
    },
    /// The grant expired.
    #[error("grant {grant} expired at {expired_at_ms} ms since the epoch")]
    Expired {
        /// The grant.
        grant: Hash,
        /// When (Unix milliseconds).
        expired_at_ms: u64,
    },
    /// The granting transaction does not hold the key the grant records.
    #[error("transaction {granted_tx} does not hold grant {grant}'s key")]
    KeyMissing {
        /// The grant.
        grant: Hash,
        /// The transaction that should hold it.
        granted_tx: Hash,
    },
}

/// The client's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to a failed result.
pub(crate) trait ResultExt<T> {
    /// On failure, the error as the cause of a failure to do `context()`.
    fn context_with<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context_with<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn context_keeps_the_cause_and_the_refusal() {
        let refused = Error::Refused("unknown account".into()).context("sending the grant");
        assert_eq!(refused.to_string(), "sending the grant");
        assert_eq!(refused.refusal(), Some("unknown account"));
        let cause = std::error::Error::source(&refused).map(ToString::to_string);
        assert_eq!(cause.as_deref(), Some("refused: unknown account"));
        let erased: Result<()> = Err(ContentError::Erased).context_with(|| "opening");
        let erased = erased.unwrap_err();
        assert!(matches!(
            erased.root(),
            Error::Content(ContentError::Erased)
        ));
        assert_eq!(erased.refusal(), None);
    }
}
