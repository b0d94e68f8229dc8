//! The actors of a benchmark and the transactions they sign: certifiers issue
//! credentials to subjects (each under a schema of its own), subjects grant a
//! verifying organization access to credentials they hold, and readers query
//! committed credentials.

use std::str::FromStr;

use bytes::Bytes;
use mpms_crypto::{Hash, Sealed};
use mpms_ledger::credential::{prepare_issuance, reseal_key, CredentialContent};
use mpms_ledger::genesis::{GenesisCertifier, GenesisOrganization};
use mpms_ledger::transaction::{OrganizationKind, SchemaDefinition};
use mpms_ledger::{codec, CredentialId, Payload, SignedTransaction, Transaction};
use mpms_node::keys::AccountKeys;
use rand::{CryptoRng, RngCore};

/// What one send does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// A certifier issues a credential (a transaction).
    Issue,
    /// A subject grants access to a credential it holds (a transaction).
    Grant,
    /// A credential is read by id (a query).
    Query,
}

impl Op {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Issue => "issue",
            Op::Grant => "grant",
            Op::Query => "query",
        }
    }
}

/// Relative weights of the operations, e.g. `issue=8,grant=1,query=1`; sends follow
/// the weights evenly (smooth weighted round robin), not at random.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Op, u32)>,
    credit: Vec<i64>,
}

impl Mix {
    /// A mix of the given weights (at least one positive).
    pub fn new(issue: u32, grant: u32, query: u32) -> Result<Mix, String> {
        let weights: Vec<(Op, u32)> = [(Op::Issue, issue), (Op::Grant, grant), (Op::Query, query)]
            .into_iter()
            .filter(|(_, w)| *w > 0)
            .collect();
        if weights.is_empty() {
            return Err("the mix needs at least one operation with a positive weight".into());
        }
        if weights.iter().any(|(_, w)| *w > 1_000) {
            return Err("mix weights are at most 1000".into());
        }
        let credit = vec![0; weights.len()];
        Ok(Mix { weights, credit })
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        let total: i64 = self.weights.iter().map(|(_, w)| i64::from(*w)).sum();
        let mut best = 0;
        for (i, (_, w)) in self.weights.iter().enumerate() {
            self.credit[i] += i64::from(*w);
            if self.credit[i] > self.credit[best] {
                best = i;
            }
        }
        self.credit[best] -= total;
        self.weights[best].0
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Mix, String> {
        let (mut issue, mut grant, mut query) = (0, 0, 0);
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write operation=weight, e.g. issue=8"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight is a whole number"))?;
            match name.trim() {
                "issue" => issue = weight,
                "grant" => grant = weight,
                "query" => query = weight,
                other => {
                    return Err(format!(
                        "unknown operation {other:?}: issue, grant or query"
                    ))
                }
            }
        }
        Mix::new(issue, grant, query)
    }
}

/// A certifier of the benchmark, accredited for `bench.*`.
pub struct Certifier {
    /// Its keys.
    pub keys: AccountKeys,
    /// Its schema (`bench.c<k>`).
    pub schema: String,
    /// The nonce of its next transaction.
    pub nonce: u64,
}

/// A subject of the benchmark.
pub struct Subject {
    /// Its keys.
    pub keys: AccountKeys,
    /// The nonce of its next transaction.
    pub nonce: u64,
}

/// A credential that is in a finalized block.
#[derive(Debug, Clone)]
pub struct Held {
    /// Its holder (index into [`Actors::subjects`]).
    pub subject: usize,
    /// The credential.
    pub credential: CredentialId,
    /// Its content key, sealed to the holder.
    pub sealed: Sealed,
}

/// Everyone who acts in a benchmark.
pub struct Actors {
    /// The chain.
    pub chain_id: String,
    /// Certifiers (accredited in the genesis of a local network).
    pub certifiers: Vec<Certifier>,
    /// Subjects.
    pub subjects: Vec<Subject>,
    /// The organization that is granted access.
    pub verifier: AccountKeys,
}

/// One transaction, signed, with what the benchmark needs to follow it.
pub struct Signed {
    /// What it does.
    pub op: Op,
    /// Its hash.
    pub hash: Hash,
    /// Canonical bytes to submit.
    pub bytes: Bytes,
    /// For an issuance: the credential it creates, once committed.
    pub issues: Option<Held>,
}

const DAY_MS: u64 = 86_400_000;
/// The scope of the benchmark's certifiers.
pub const BENCH_SCOPE: &str = "bench.*";

impl Actors {
    /// Fresh actors: `certifiers` certifiers, `subjects` subjects, one verifier.
    pub fn generate(chain_id: &str, certifiers: usize, subjects: usize) -> Actors {
        Actors {
            chain_id: chain_id.to_string(),
            certifiers: (0..certifiers)
                .map(|k| Certifier {
                    keys: AccountKeys::generate(),
                    schema: format!("bench.c{k}"),
                    nonce: 0,
                })
                .collect(),
            subjects: (0..subjects)
                .map(|_| Subject {
                    keys: AccountKeys::generate(),
                    nonce: 0,
                })
                .collect(),
            verifier: AccountKeys::generate(),
        }
    }

    /// Actors for an existing network: `certifiers` (with their next nonces), each
    /// registering schema `<schema_prefix>.c<k>`; fresh subjects and verifier.
    pub fn with_certifiers(
        chain_id: &str,
        certifiers: Vec<(AccountKeys, u64)>,
        schema_prefix: &str,
        subjects: usize,
    ) -> Actors {
        let mut actors = Actors::generate(chain_id, 0, subjects);
        actors.certifiers = certifiers
            .into_iter()
            .enumerate()
            .map(|(k, (keys, nonce))| Certifier {
                keys,
                schema: format!("{schema_prefix}.c{k}"),
                nonce,
            })
            .collect();
        actors
    }

    /// The verifier's registration as an organization (a fresh account: nonce 0).
    pub fn register_verifier(&self, work_bits: u8) -> SignedTransaction {
        let id = self.verifier.id();
        let payload = Payload::RegisterOrganization {
            name: "Bench Licensing Board".into(),
            kind: OrganizationKind::LicensingBoard,
            encryption_key: self.verifier.decryption.encryption_key(),
            work: mpms_ledger::work::stamp(&self.chain_id, &id, work_bits),
        };
        self.sign(&self.verifier, 0, payload)
    }

    /// The certifiers as a genesis accredits them (`bench.*`, for ten years), each
    /// with `stake` bonded.
    pub fn genesis_certifiers(&self, stake: u64, now_ms: u64) -> Vec<GenesisCertifier> {
        self.certifiers
            .iter()
            .enumerate()
            .map(|(k, c)| GenesisCertifier {
                account: c.keys.id(),
                name: format!("Bench Teaching Hospital {k}"),
                encryption_key: c.keys.decryption.encryption_key(),
                stake,
                scope: vec![BENCH_SCOPE.to_string()],
                valid_from_ms: now_ms.saturating_sub(DAY_MS),
                valid_until_ms: now_ms + 3_650 * DAY_MS,
            })
            .collect()
    }

    /// The verifier as a genesis registers it.
    pub fn genesis_verifier(&self) -> GenesisOrganization {
        GenesisOrganization {
            account: self.verifier.id(),
            name: "Bench Licensing Board".into(),
            kind: OrganizationKind::LicensingBoard,
            encryption_key: self.verifier.decryption.encryption_key(),
        }
    }

    fn sign(&self, keys: &AccountKeys, nonce: u64, payload: Payload) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            sender: keys.id(),
            nonce,
            payload,
        }
        .sign(&keys.signing)
    }

    /// Subject `j`'s registration, with the proof of work `work_bits` asks for.
    pub fn register_subject(&mut self, j: usize, work_bits: u8) -> SignedTransaction {
        let id = self.subjects[j].keys.id();
        let work = mpms_ledger::work::stamp(&self.chain_id, &id, work_bits);
        let payload = Payload::RegisterSubject {
            encryption_key: self.subjects[j].keys.decryption.encryption_key(),
            work,
        };
        let nonce = self.subjects[j].nonce;
        self.subjects[j].nonce += 1;
        self.sign(&self.subjects[j].keys, nonce, payload)
    }

    /// Certifier `k`'s schema registration.
    pub fn register_schema(&mut self, k: usize) -> SignedTransaction {
        let c = &self.certifiers[k];
        let payload = Payload::RegisterSchema(Box::new(SchemaDefinition {
            id: c.schema.clone(),
            description: format!("Benchmark competence {k}"),
            prerequisites: Vec::new(),
            output: "competence".into(),
            completion_condition: "pass the assessment".into(),
            max_validity_ms: None,
            fields: mpms_ledger::claims::course_fields(),
            fhir_resource: None,
        }));
        let nonce = c.nonce;
        self.certifiers[k].nonce += 1;
        self.sign(&self.certifiers[k].keys, nonce, payload)
    }

    /// Certifier `k` issues a credential to subject `j`.
    pub fn issue<R: RngCore + CryptoRng>(
        &mut self,
        k: usize,
        j: usize,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Signed, String> {
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        let content = CredentialContent {
            salt,
            holder_name: format!("Intern {j}"),
            date_of_birth: "1998-04-12".into(),
            documents: Vec::new(),
            fields: mpms_ledger::claims::course_values(
                "Basic Life Support, 16 hours",
                "2026-01-05",
                "2026-01-07",
                Some("92/100"),
                "passed",
            ),
        };
        let c = &self.certifiers[k];
        let subject = &self.subjects[j];
        let issuance = prepare_issuance(
            &self.chain_id,
            &c.keys.signing,
            c.keys.id(),
            mpms_ledger::credential::SchemaRef {
                id: &c.schema,
                fields: &mpms_ledger::claims::course_fields(),
            },
            subject.keys.id(),
            &subject.keys.decryption.encryption_key(),
            &content,
            // The certifier's nonce is never used twice: nor is its status entry.
            mpms_ledger::credential::ClaimTerms::new(
                now_ms.saturating_sub(DAY_MS),
                now_ms + 730 * DAY_MS,
                c.nonce,
            ),
            rng,
        )
        .map_err(|e| format!("sealing the content key: {e}"))?;
        let held = Held {
            subject: j,
            credential: issuance.claim.id(),
            sealed: issuance.subject_key.get().cloned().expect("just sealed"),
        };
        let nonce = c.nonce;
        self.certifiers[k].nonce += 1;
        let tx = self.sign(
            &self.certifiers[k].keys,
            nonce,
            Payload::IssueCredential(Box::new(issuance)),
        );
        Ok(signed(Op::Issue, &tx, Some(held)))
    }

    /// The holder of `held` grants the verifier access to it for 30 days.
    pub fn grant<R: RngCore + CryptoRng>(
        &mut self,
        held: &Held,
        now_ms: u64,
        rng: &mut R,
    ) -> Result<Signed, String> {
        let subject = &self.subjects[held.subject];
        let sealed_key = reseal_key(
            &held.credential,
            &held.sealed,
            &subject.keys.decryption,
            &self.verifier.decryption.encryption_key(),
            rng,
        )
        .map_err(|e| format!("re-sealing the content key: {e}"))?;
        let nonce = subject.nonce;
        self.subjects[held.subject].nonce += 1;
        let tx = self.sign(
            &self.subjects[held.subject].keys,
            nonce,
            Payload::GrantAccess {
                credential: held.credential,
                grantee: self.verifier.id(),
                request: None,
                sealed_key: mpms_ledger::erasable::Erasable::new(sealed_key),
                expires_at_ms: now_ms + 30 * DAY_MS,
            },
        );
        Ok(signed(Op::Grant, &tx, None))
    }
}

/// `tx` ready to submit.
pub fn signed(op: Op, tx: &SignedTransaction, issues: Option<Held>) -> Signed {
    Signed {
        op,
        hash: tx.hash(),
        bytes: Bytes::from(codec::encode(tx)),
        issues,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_mix_follows_its_weights_evenly() {
        let mut mix: Mix = "issue=8,grant=1,query=1".parse().unwrap();
        let ops: Vec<Op> = (0..100).map(|_| mix.next_op()).collect();
        assert_eq!(ops.iter().filter(|o| **o == Op::Issue).count(), 80);
        assert_eq!(ops.iter().filter(|o| **o == Op::Grant).count(), 10);
        assert_eq!(ops.iter().filter(|o| **o == Op::Query).count(), 10);
        // Evenly: every window of ten holds each minor operation once.
        for window in ops.chunks(10) {
            assert_eq!(window.iter().filter(|o| **o == Op::Grant).count(), 1);
        }
        assert!("issue=0".parse::<Mix>().is_err());
        assert!("read=1".parse::<Mix>().is_err());
        assert!("issue".parse::<Mix>().is_err());
        assert!("issue=1001".parse::<Mix>().is_err());
        let mut only: Mix = "query=3".parse().unwrap();
        assert_eq!(only.next_op(), Op::Query);
    }
}
