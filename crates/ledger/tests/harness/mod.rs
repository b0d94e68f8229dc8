//! A small in-memory chain for state-machine tests: genesis, actors with keys, and
//! blocks applied transaction by transaction.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_ledger::block::{tx_root_of_hashes, Header};
use mpms_ledger::claims::{course_fields, course_values};
use mpms_ledger::credential::{
    prepare_issuance_with_vc, ClaimTerms, CredentialContent, Issuer, Recipient, SchemaRef,
};
use mpms_ledger::execute::{BlockContext, Executor, SignatureCheck};
use mpms_ledger::genesis::{
    GenesisAccount, GenesisAuthority, GenesisCertifier, GenesisOrganization,
};
use mpms_ledger::records::{keys, Account};
use mpms_ledger::transaction::{CredentialIssuance, OrganizationKind};
use mpms_ledger::{
    codec, AccountId, AuthoritySet, Genesis, MemState, Params, Payload, Receipt, SignedTransaction,
    State, Transaction, TxError,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub const CHAIN: &str = "mpms-test";
pub const T0: u64 = 1_700_000_000_000;
pub const DAY: u64 = 86_400_000;

pub struct Actor {
    pub key: SigningKey,
    pub id: AccountId,
    pub enc: DecryptionKey,
}

impl Actor {
    pub fn new(seed: u8) -> Actor {
        let key = SigningKey::from_seed(&[seed; 32]);
        let mut ikm = [seed; 32];
        ikm[0] ^= 0xff;
        Actor {
            id: key.public_key(),
            enc: DecryptionKey::derive(&ikm),
            key,
        }
    }
}

pub struct Chain {
    pub state: MemState,
    pub height: u64,
    pub time_ms: u64,
    pub commitment: Hash,
    /// The hash of the last block's header (the parent of the next block).
    pub last_hash: Hash,
    pub rng: ChaCha20Rng,
    /// The last status entry given to an issuance prepared here.
    pub status_index: u64,
    /// Authorities: operator accounts; their consensus keys are `consensus[i]`.
    pub authorities: Vec<Actor>,
    pub consensus: Vec<SigningKey>,
    /// A certifier accredited at genesis for `med.*`.
    pub certifier: Actor,
    /// A licensing board registered at genesis.
    pub board: Actor,
    /// A funded plain account.
    pub rich: Actor,
}

pub fn params() -> Params {
    Params {
        min_authority_stake: 1_000,
        min_certifier_stake: 100,
        unbonding_period_blocks: 50,
        proposal_ttl_blocks: 10,
        slash_fraction_bps: 1_000,
        evidence_max_age_blocks: 50,
        // A real requirement, cheap for tests.
        account_creation_work_bits: 6,
        ..Params::default()
    }
}

/// The proof of work `actor` needs to register on the test chain.
pub fn work(actor: &Actor) -> u64 {
    mpms_ledger::work::stamp(CHAIN, &actor.id, params().account_creation_work_bits)
}

impl Chain {
    pub fn new(authorities: usize) -> Chain {
        let auth: Vec<Actor> = (0..authorities).map(|i| Actor::new(10 + i as u8)).collect();
        let consensus: Vec<SigningKey> = (0..authorities)
            .map(|i| SigningKey::from_seed(&[100 + i as u8; 32]))
            .collect();
        let certifier = Actor::new(50);
        let board = Actor::new(51);
        let rich = Actor::new(52);
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: T0,
            params: params(),
            authorities: auth
                .iter()
                .zip(&consensus)
                .map(|(a, c)| GenesisAuthority {
                    operator: a.id,
                    consensus_key: c.public_key(),
                    peer_id: format!("peer-{}", a.id),
                    stake: 2_000,
                    balance: 500,
                })
                .collect(),
            accounts: vec![GenesisAccount {
                id: rich.id,
                balance: 1_000_000,
            }],
            organizations: vec![GenesisOrganization {
                account: board.id,
                name: "State Medical Licensing Board".into(),
                kind: OrganizationKind::LicensingBoard,
                encryption_key: board.enc.encryption_key(),
            }],
            certifiers: vec![GenesisCertifier {
                account: certifier.id,
                name: "St. Mary Teaching Hospital".into(),
                encryption_key: certifier.enc.encryption_key(),
                stake: 500,
                scope: vec!["med.*".into()],
                valid_from_ms: T0 - DAY,
                valid_until_ms: T0 + 365 * DAY,
            }],
        };
        let built = genesis.build().expect("genesis builds");
        let mut state = MemState::new();
        state.apply(&built.changes);
        Chain {
            state,
            height: 0,
            time_ms: T0,
            commitment: built.header.state_root,
            last_hash: built.header.hash(),
            rng: ChaCha20Rng::seed_from_u64(7),
            status_index: 0,
            authorities: auth,
            consensus,
            certifier,
            board,
            rich,
        }
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Option<T> {
        self.state
            .get(key)
            .unwrap()
            .map(|b| codec::decode(&b).expect("state decodes"))
    }

    pub fn nonce(&self, id: &AccountId) -> u64 {
        self.get::<Account>(&keys::account(id))
            .map_or(0, |a| a.nonce)
    }

    pub fn authority_set(&self) -> AuthoritySet {
        self.get(&keys::authority_set()).unwrap()
    }

    pub fn tx_at(&self, actor: &Actor, nonce: u64, payload: Payload) -> SignedTransaction {
        Transaction {
            chain_id: CHAIN.into(),
            sender: actor.id,
            nonce,
            payload,
        }
        .sign(&actor.key)
    }

    pub fn tx(&self, actor: &Actor, payload: Payload) -> SignedTransaction {
        self.tx_at(actor, self.nonce(&actor.id), payload)
    }

    /// Executes one block holding `txs`; rejected ones are left out. Returns each result.
    pub fn block(&mut self, txs: &[SignedTransaction]) -> Vec<Result<Receipt, TxError>> {
        let ctx = BlockContext {
            height: self.height + 1,
            time_ms: self.time_ms + 1_000,
            proposer: self.authorities[0].id,
            parent: self.last_hash,
        };
        let authority_set = self.authority_set().hash();
        let mut exec = Executor::new(&self.state, ctx.clone()).expect("executor");
        let results: Vec<_> = txs
            .iter()
            .map(|tx| exec.apply(tx, SignatureCheck::Verify))
            .collect();
        let outcome = exec.finish().expect("finish");
        self.state.apply(&outcome.changes);
        self.commitment = outcome.state_root;
        let hashes: Vec<Hash> = outcome.receipts.iter().map(|r| r.tx_hash).collect();
        self.last_hash = Header {
            chain_id: CHAIN.into(),
            height: ctx.height,
            parent: ctx.parent,
            time_ms: ctx.time_ms,
            proposer: ctx.proposer,
            tx_root: tx_root_of_hashes(hashes.iter()),
            tx_count: hashes.len() as u32,
            state_root: outcome.state_root,
            authority_set,
            next_authority_set: outcome.next_authority_set_hash,
            last_commit: Hash::ZERO,
        }
        .hash();
        self.height += 1;
        self.time_ms += 1_000;
        results
    }

    /// Whether every signature of `txs` verifies in one batch at the next height, as
    /// validators check a proposed block before executing it.
    pub fn batch_verifies(&self, txs: &[SignedTransaction]) -> bool {
        let ctx = BlockContext {
            height: self.height + 1,
            time_ms: self.time_ms + 1_000,
            proposer: self.authorities[0].id,
            parent: self.last_hash,
        };
        mpms_ledger::execute::verify_signatures(&self.state, &ctx, txs).is_ok()
    }

    /// Submits one transaction in its own block; panics if rejected.
    pub fn ok(&mut self, tx: SignedTransaction) -> Receipt {
        let kind = tx.tx.payload.kind();
        self.block(&[tx])
            .pop()
            .unwrap()
            .unwrap_or_else(|e| panic!("{kind} rejected: {e}"))
    }

    /// Submits one transaction that must be rejected; checks that neither the state
    /// nor the commitment changed. Returns the error.
    pub fn reject(&mut self, tx: SignedTransaction) -> TxError {
        // What an empty block would leave (every block records its parent's hash).
        let (before_state, before_commitment) = {
            let ctx = BlockContext {
                height: self.height + 1,
                time_ms: self.time_ms + 1_000,
                proposer: self.authorities[0].id,
                parent: self.last_hash,
            };
            let outcome = Executor::new(&self.state, ctx)
                .expect("executor")
                .finish()
                .expect("finish");
            let mut state = self.state.clone();
            state.apply(&outcome.changes);
            let entries: BTreeMap<Vec<u8>, Vec<u8>> = state.entries().clone();
            (entries, outcome.state_root)
        };
        let err = self
            .block(&[tx])
            .pop()
            .unwrap()
            .expect_err("must be rejected");
        assert_eq!(
            self.state.entries(),
            &before_state,
            "rejected tx changed state: {err}"
        );
        assert_eq!(
            self.commitment, before_commitment,
            "rejected tx changed the commitment"
        );
        err
    }

    /// Advances `n` empty blocks.
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            self.block(&[]);
        }
    }

    /// Registers `actor` as a subject.
    pub fn register_subject(&mut self, actor: &Actor) {
        let tx = self.tx(
            actor,
            Payload::RegisterSubject {
                encryption_key: actor.enc.encryption_key(),
                work: work(actor),
            },
        );
        self.ok(tx);
    }

    pub fn content(&self, name: &str) -> CredentialContent {
        CredentialContent {
            salt: [9u8; 32],
            holder_name: name.into(),
            date_of_birth: "1999-04-01".into(),
            documents: vec![],
            fields: course_values(
                "Basic life support",
                "2026-01-10",
                "2026-02-10",
                Some("92/100"),
                "passed",
            ),
        }
    }

    /// An issuance of `schema` (course fields) to `subject` by `issuer`, with holder
    /// `name`, valid for a year from now, correcting `earlier` if given.
    fn prepare(
        &mut self,
        issuer: Issuer<'_>,
        schema: &str,
        subject: &Actor,
        name: &str,
        earlier: Option<Hash>,
    ) -> CredentialIssuance {
        let content = self.content(name);
        // A fresh status entry for each issuance prepared.
        self.status_index += 1;
        let mut terms = ClaimTerms::new(
            self.time_ms - DAY,
            self.time_ms + 365 * DAY,
            self.status_index,
        );
        if let Some(earlier) = earlier {
            terms = terms.correcting(earlier);
        }
        prepare_issuance_with_vc(
            CHAIN,
            issuer,
            SchemaRef {
                id: schema,
                fields: &course_fields(),
            },
            Recipient::Named {
                subject: subject.id,
                encryption_key: &subject.enc.encryption_key(),
            },
            &content,
            terms,
            |_| mpms_ledger::credential::SignedForms::default(),
            &mut self.rng,
        )
        .expect("prepare")
    }

    /// An issuance of `schema` by `certifier` to a fresh entry key of `subject`
    /// (whose signing key is its id), valid for a year from now.
    pub fn entry_issuance(
        &mut self,
        certifier: &Actor,
        schema: &str,
        subject: &Actor,
    ) -> CredentialIssuance {
        self.status_index += 1;
        prepare_issuance_with_vc(
            CHAIN,
            Issuer::certifier(&certifier.key, certifier.id),
            SchemaRef {
                id: schema,
                fields: &course_fields(),
            },
            Recipient::Entry {
                signing_key: subject.id,
                encryption_key: &subject.enc.encryption_key(),
            },
            &self.content("Patient P"),
            ClaimTerms::new(
                self.time_ms - DAY,
                self.time_ms + 365 * DAY,
                self.status_index,
            ),
            |_| mpms_ledger::credential::SignedForms::default(),
            &mut self.rng,
        )
        .expect("prepare")
    }

    /// An issuance of `schema` by `certifier` to `subject`, valid for a year from now.
    pub fn issuance(
        &mut self,
        certifier: &Actor,
        schema: &str,
        subject: &Actor,
        name: &str,
    ) -> CredentialIssuance {
        let issuer = Issuer::certifier(&certifier.key, certifier.id);
        self.prepare(issuer, schema, subject, name, None)
    }

    /// `certifier`'s correction of its entry `earlier` (of `schema`, to `subject`),
    /// valid for a year from now.
    pub fn correction(
        &mut self,
        certifier: &Actor,
        schema: &str,
        subject: &Actor,
        earlier: Hash,
    ) -> CredentialIssuance {
        let issuer = Issuer::certifier(&certifier.key, certifier.id);
        self.prepare(
            issuer,
            schema,
            subject,
            "Patient P, corrected",
            Some(earlier),
        )
    }

    /// An issuance of `schema` to `subject` that `practitioner` signs for
    /// `certifier`, valid for a year from now.
    pub fn delegated_issuance(
        &mut self,
        certifier: &Actor,
        practitioner: &Actor,
        schema: &str,
        subject: &Actor,
    ) -> CredentialIssuance {
        let issuer = Issuer::practitioner(&practitioner.key, practitioner.id, certifier.id);
        self.prepare(issuer, schema, subject, "Patient P", None)
    }

    /// Has every authority vote for proposal `id` until it closes.
    pub fn pass(&mut self, id: u64, voters: &[usize]) {
        for &i in voters {
            let a = &self.authorities[i];
            let tx = self.tx(
                a,
                Payload::Vote {
                    proposal: id,
                    approve: true,
                },
            );
            self.ok(tx);
        }
    }
}
