//! Deterministic chains for tests and benchmarks: keys derived from a seed, a genesis
//! with an accredited certifier, transaction builders and certificate signing.
//! Never for production keys.

use mpms_crypto::{DecryptionKey, Hash, SigningKey};

use crate::block::Header;
use crate::claims::{course_fields, course_values};
use crate::credential::{prepare_issuance, ClaimTerms, CredentialContent, SchemaRef};
use crate::genesis::{GenesisAccount, GenesisAuthority, GenesisCertifier};
use crate::transaction::SchemaDefinition;
use crate::vote::{AuthoritySet, CommitCertificate, CommitSignature};
use crate::{AccountId, Genesis, Params, Payload, SignedTransaction, Transaction};

/// Start of time for test chains (2026-01-01T00:00:00Z).
pub const GENESIS_TIME_MS: u64 = 1_767_225_600_000;
const YEAR_MS: u64 = 365 * 86_400_000;

fn key(seed: u64, role: &str, i: u64) -> SigningKey {
    let h = Hash::digest_parts(&[
        b"mpms-testkit",
        &seed.to_le_bytes(),
        role.as_bytes(),
        &i.to_le_bytes(),
    ]);
    SigningKey::from_seed(h.as_bytes())
}

fn decryption_key(seed: u64, role: &str, i: u64) -> DecryptionKey {
    DecryptionKey::derive(key(seed, role, i).to_seed().unwrap_or_default().as_slice())
}

/// A deterministic test chain description.
pub struct TestChain {
    /// The genesis.
    pub genesis: Genesis,
    /// Authority operator keys.
    pub operators: Vec<SigningKey>,
    /// Authority consensus keys.
    pub consensus: Vec<SigningKey>,
    /// The accredited certifier (scope `*`).
    pub certifier: SigningKey,
    seed: u64,
}

impl TestChain {
    /// A chain of `authorities` authorities and one certifier accredited for every schema.
    pub fn new(authorities: usize, seed: u64) -> TestChain {
        let operators: Vec<SigningKey> = (0..authorities as u64)
            .map(|i| key(seed, "operator", i))
            .collect();
        let consensus: Vec<SigningKey> = (0..authorities as u64)
            .map(|i| key(seed, "consensus", i))
            .collect();
        let certifier = key(seed, "certifier", 0);
        let params = Params {
            max_block_transactions: 10_000,
            max_block_bytes: 16 << 20,
            // A real requirement, cheap enough for tests that register thousands.
            account_creation_work_bits: 8,
            ..Params::default()
        };
        let genesis = Genesis {
            chain_id: format!("mpms-test-{seed}"),
            genesis_time_ms: GENESIS_TIME_MS,
            authorities: operators
                .iter()
                .zip(&consensus)
                .enumerate()
                .map(|(i, (o, c))| GenesisAuthority {
                    operator: o.public_key(),
                    consensus_key: c.public_key(),
                    peer_id: format!("test-peer-{i}"),
                    stake: params.min_authority_stake * 10,
                    balance: 1_000_000,
                })
                .collect(),
            accounts: vec![GenesisAccount {
                id: key(seed, "treasury", 0).public_key(),
                balance: 1_000_000_000,
            }],
            organizations: vec![],
            certifiers: vec![GenesisCertifier {
                account: certifier.public_key(),
                name: "Test Teaching Hospital".into(),
                encryption_key: decryption_key(seed, "certifier", 0).encryption_key(),
                stake: params.min_certifier_stake,
                scope: vec!["*".into()],
                valid_from_ms: 0,
                valid_until_ms: GENESIS_TIME_MS + 100 * YEAR_MS,
            }],
            params,
        };
        TestChain {
            genesis,
            operators,
            consensus,
            certifier,
            seed,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// Signs a commit certificate for `header` by every member of `set` whose consensus
    /// key this test chain holds.
    pub fn certify(&self, header: &Header, round: u32, set: &AuthoritySet) -> CommitCertificate {
        let mut cert = CommitCertificate {
            height: header.height,
            round,
            block: header.hash(),
            signatures: Vec::new(),
        };
        let vote = cert.precommit();
        for member in &set.members {
            if let Some(k) = self
                .consensus
                .iter()
                .find(|k| k.public_key() == member.consensus_key)
            {
                let signed = vote.sign(self.chain_id(), member.operator, k);
                cert.signatures.push(CommitSignature {
                    validator: member.operator,
                    signature: signed.signature,
                });
            }
        }
        cert
    }

    /// Adds `count` candidate authorities: their operator and consensus keys follow the
    /// genesis authorities' (indices `authorities..`), and their operator accounts are
    /// funded so they can bond and be voted in.
    pub fn with_candidates(mut self, count: usize) -> TestChain {
        let first = self.operators.len() as u64;
        for i in first..first + count as u64 {
            let operator = key(self.seed, "operator", i);
            self.genesis.accounts.push(GenesisAccount {
                id: operator.public_key(),
                balance: 1_000_000,
            });
            self.operators.push(operator);
            self.consensus.push(key(self.seed, "consensus", i));
        }
        self
    }

    /// A replacement consensus key for authority `i` (for key rotation).
    pub fn rotated_consensus_key(&self, i: usize) -> SigningKey {
        key(self.seed, "rotated-consensus", i as u64)
    }

    /// Subject `i`'s signing and decryption keys.
    pub fn subject(&self, i: u64) -> (SigningKey, DecryptionKey) {
        (
            key(self.seed, "subject", i),
            decryption_key(self.seed, "subject", i),
        )
    }

    /// A transaction by `signer` with `nonce`.
    pub fn tx(&self, signer: &SigningKey, nonce: u64, payload: Payload) -> SignedTransaction {
        Transaction {
            chain_id: self.chain_id().to_string(),
            sender: signer.public_key(),
            nonce,
            payload,
        }
        .sign(signer)
    }

    /// The proof of work `account` needs to register on this chain.
    pub fn work(&self, account: &AccountId) -> u64 {
        crate::work::stamp(
            self.chain_id(),
            account,
            self.genesis.params.account_creation_work_bits,
        )
    }

    /// Subject `i` registers itself (its first transaction).
    pub fn register_subject(&self, i: u64) -> SignedTransaction {
        let (k, d) = self.subject(i);
        self.tx(
            &k,
            0,
            Payload::RegisterSubject {
                encryption_key: d.encryption_key(),
                work: self.work(&k.public_key()),
            },
        )
    }

    /// The certifier registers schema `id` (with no prerequisites).
    pub fn register_schema(&self, nonce: u64, id: &str) -> SignedTransaction {
        self.tx(
            &self.certifier,
            nonce,
            Payload::RegisterSchema(Box::new(SchemaDefinition {
                id: id.into(),
                description: format!("test course {id}"),
                prerequisites: vec![],
                output: "competence".into(),
                completion_condition: "pass".into(),
                max_validity_ms: None,
                fields: course_fields(),
                fhir_resource: None,
            })),
        )
    }

    /// The content of the credential [`TestChain::issue`] issues to subject `i` with
    /// `serial`.
    pub fn content(&self, i: u64, serial: u64) -> CredentialContent {
        CredentialContent {
            salt: *Hash::digest_parts(&[&serial.to_le_bytes(), &i.to_le_bytes()]).as_bytes(),
            holder_name: format!("Intern {i}"),
            date_of_birth: "1998-01-01".into(),
            documents: vec![],
            fields: course_values("test course", "2026-01-01", "2026-02-01", None, "passed"),
        }
    }

    /// The certifier issues schema `schema` to subject `i`, valid for ten years from
    /// genesis. `serial` makes the content (and so the credential id) unique.
    pub fn issue(&self, nonce: u64, schema: &str, i: u64, serial: u64) -> SignedTransaction {
        let (sk, dk) = self.subject(i);
        let content = self.content(i, serial);
        let mut rng = DeterministicRng(Hash::digest_parts(&[b"rng", &serial.to_le_bytes()]), 0);
        let issuance = prepare_issuance(
            self.chain_id(),
            &self.certifier,
            self.certifier.public_key(),
            SchemaRef {
                id: schema,
                fields: &course_fields(),
            },
            sk.public_key(),
            &dk.encryption_key(),
            &content,
            // The serial is unique per credential: so is its status entry.
            ClaimTerms::new(0, GENESIS_TIME_MS + 10 * YEAR_MS, serial),
            &mut rng,
        )
        .expect("sealing to a valid key succeeds");
        self.tx(
            &self.certifier,
            nonce,
            Payload::IssueCredential(Box::new(issuance)),
        )
    }
}

/// A reproducible byte stream (SHA-256 in counter mode) for test fixtures.
pub struct DeterministicRng(pub Hash, pub u64);

impl mpms_crypto::RngCore for DeterministicRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let block = Hash::digest_parts(&[self.0.as_bytes(), &self.1.to_le_bytes()]);
            self.1 += 1;
            chunk.copy_from_slice(&block.as_bytes()[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl mpms_crypto::CryptoRng for DeterministicRng {}
