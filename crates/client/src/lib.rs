//! The client side of MPMS, as a library: what `mpmsd`'s client commands do, for
//! programs that talk to an MPMS network themselves.
//!
//! - [`Client`]: a typed client of a node's HTTP API: reads, submission, waiting
//!   for a transaction's block, proof bundles;
//! - [`sign`], [`Client::send`]: a payload signed with the sender's next nonce,
//!   submitted, and its block waited for;
//! - builders of every action's [`Payload`](mpms_ledger::Payload): [`build`]
//!   (registrations, stake, keys, schemas, delegations, requests, inspections,
//!   evidence), [`issue`] (a credential sealed to its subject), [`grant`] (access
//!   re-sealed to an organization, and opening what was granted), [`governance`]
//!   (proposals and votes);
//! - [`entries`]: a subject's entry keys (one per entry of its record): finding its
//!   entries, and acting for one;
//! - [`wallet`]: a subject's portfolio, decrypted and checked, kept encrypted;
//! - [`proof`]: proof bundles checked as a verifier checks them.
//!
//! Builders take typed arguments and return payloads; nothing reads the clock or
//! draws randomness behind the caller's back: functions that need the time take
//! `now_ms` (Unix milliseconds), those that seal take an RNG. Errors are [`Error`].
//!
//! # Example
//!
//! An organization registers, then asks a subject for one of its credentials:
//!
//! ```no_run
//! use mpms_client::{build, Client, Party, Wait, COMMIT_WAIT};
//! use mpms_crypto::{Hash, PublicKey};
//! use mpms_ledger::transaction::{request_id, OrganizationKind};
//!
//! fn ask(subject: PublicKey, credential: Hash) -> mpms_client::Result<Hash> {
//!     let client = Client::new("http://127.0.0.1:26601");
//!     let board = Party::generate(&mut rand::rngs::OsRng);
//!     // A new account needs no balance to register: only the chain's proof of work.
//!     let register = build::register_organization(
//!         "State Medical Licensing Board".into(),
//!         OrganizationKind::LicensingBoard,
//!         board.decryption("an organization")?.encryption_key(),
//!         client.account_work(&board.id())?,
//!     );
//!     client.send(&board, register, Wait::Committed(COMMIT_WAIT))?;
//!     let request = build::request_access(
//!         &board.id(),
//!         subject,
//!         vec![credential],
//!         "licensing",
//!         &mut rand::rngs::OsRng,
//!     )?;
//!     let sent = client.send(&board, request, Wait::Committed(COMMIT_WAIT))?;
//!     println!("committed at height {:?}", sent.height);
//!     Ok(request_id(&board.id(), sent.nonce))
//! }
//! ```

pub mod api;
pub mod build;
pub mod entries;
mod error;
pub mod governance;
pub mod grant;
pub mod issue;
mod party;
pub mod proof;
mod submit;
pub mod wallet;

pub use api::{Client, Committed, Resource, DEVNET_API};
pub use error::{Error, GrantError, Result};
/// The API's answer types, as the node serves them.
pub use mpms_api as types;
pub use mpms_api::{Readiness, Status};
pub use party::Party;
pub use submit::{sign, Sent, Wait, ACCOUNT_WAIT, COMMIT_WAIT};

/// Milliseconds since the Unix epoch by the system clock (0 if the clock is before
/// it): the `now_ms` of a program that has no other clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Deterministic keys and schemas for the tests.
    #![allow(clippy::unwrap_used)]

    use mpms_ledger::records::Schema;
    use rand_chacha::rand_core::SeedableRng;

    use crate::Party;

    /// A seeded RNG.
    pub fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    /// Fresh keys.
    pub fn party(rng: &mut rand_chacha::ChaCha20Rng) -> Party {
        Party::generate(rng)
    }

    /// A registered schema of `fields` (`NAME:TYPE`; none: a course's).
    pub fn schema(id: &str, fields: &[&str], fhir: Option<&str>) -> Schema {
        Schema {
            id: id.into(),
            owner: mpms_crypto::SigningKey::from_seed(&[9; 32]).public_key(),
            description: format!("schema {id}"),
            prerequisites: vec![],
            output: "competence".into(),
            completion_condition: "pass".into(),
            max_validity_ms: None,
            fields: crate::build::field_specs(fields).unwrap(),
            fhir_resource: fhir.map(str::to_string),
            registered_height: 1,
        }
    }

    /// A node that answers each of `answers` (status, body) to one request, in
    /// order; returns its base URL, and each request's line and body as it comes.
    pub fn canned_node(
        answers: Vec<(u16, String)>,
    ) -> (String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (requests, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let mut request_body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut request_body).unwrap();
                let _ = requests.send((request_line.trim_end().to_string(), request_body));
                let mut stream = reader.into_inner();
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        (base, received)
    }
}
