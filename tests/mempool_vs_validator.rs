//! Differential property test of the two paths a transaction takes: admission to the
//! mempool plus block building by a proposer, and block execution by a validator.
//! Random sequences of transactions, split into random blocks, must get the same
//! verdicts both ways: every block a proposer builds from its mempool is accepted by
//! a validator with the same outcome, only admitted transactions reach a block, the
//! mempool drains (what it holds is eventually included or dropped with a reason), and
//! no evidence built from an honest validator's vote for any of these blocks is ever
//! accepted.
//!
//! `PROPTEST_CASES=2000 cargo test --test mempool_vs_validator -- --nocapture` runs
//! more.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{fake_credential, Chain};
use mpms_core::{Mempool, MempoolConfig};
use mpms_crypto::SigningKey;
use mpms_ledger::execute::{account_nonce, build_block, execute_block, Executor, SignatureCheck};
use mpms_ledger::transaction::SchemaDefinition;
use mpms_ledger::vote::VoteKind;
use mpms_ledger::{Payload, SignedTransaction, Transaction, TxError};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use std::sync::atomic::{AtomicUsize, Ordering};

const SCHEMAS: [&str; 3] = ["diff.a", "diff.b", "diff.c"];

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    RegisterSubject(u64),
    /// Schema `i`, with schema `i - 1` as prerequisite when `stacked`.
    RegisterSchema(usize, bool),
    Issue {
        schema: usize,
        subject: u64,
        serial: u64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Bond {
        who: usize,
        amount: u64,
    },
    Unbond {
        who: usize,
        amount: u64,
    },
    /// Ends the block.
    Cut,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..4).prop_map(Op::RegisterSubject),
        (0usize..3, any::<bool>()).prop_map(|(i, s)| Op::RegisterSchema(i, s)),
        (0usize..3, 0u64..4, 0u64..1_000).prop_map(|(schema, subject, serial)| Op::Issue {
            schema,
            subject,
            serial
        }),
        (0usize..4, 0usize..4, 0u64..5_000).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        (0usize..4, 0u64..5_000).prop_map(|(who, amount)| Op::Bond { who, amount }),
        (0usize..4, 0u64..20_000).prop_map(|(who, amount)| Op::Unbond { who, amount }),
        Just(Op::Cut),
    ]
}

struct World {
    c: Chain,
    mempool: Mempool,
    admitted: std::collections::HashSet<mpms_crypto::Hash>,
}

impl World {
    fn signer(&self, op: &Op) -> Option<SigningKey> {
        Some(match op {
            Op::RegisterSubject(i) => self.c.chain.subject(*i).0,
            Op::RegisterSchema(..) | Op::Issue { .. } => self.c.chain.certifier.clone(),
            Op::Transfer { from: who, .. } | Op::Bond { who, .. } | Op::Unbond { who, .. } => {
                self.c.chain.operators[*who].clone()
            }
            Op::Cut => return None,
        })
    }

    fn payload(&self, op: &Op) -> Option<Payload> {
        Some(match op {
            Op::RegisterSubject(i) => Payload::RegisterSubject {
                encryption_key: self.c.chain.subject(*i).1.encryption_key(),
                work: self.c.chain.work(&self.c.chain.subject(*i).0.public_key()),
            },
            Op::RegisterSchema(i, stacked) => Payload::RegisterSchema(Box::new(SchemaDefinition {
                id: SCHEMAS[*i].into(),
                description: "a course".into(),
                prerequisites: if *stacked && *i > 0 {
                    vec![SCHEMAS[i - 1].into()]
                } else {
                    vec![]
                },
                output: "competence".into(),
                completion_condition: "pass".into(),
                max_validity_ms: None,
                fields: mpms_ledger::claims::course_fields(),
                fhir_resource: None,
            })),
            Op::Issue {
                schema,
                subject,
                serial,
            } => {
                self.c
                    .chain
                    .issue(0, SCHEMAS[*schema], *subject, *serial)
                    .tx
                    .payload
            }
            Op::Transfer { to, amount, .. } => Payload::Transfer {
                to: self.c.chain.operators[*to].public_key(),
                amount: *amount,
            },
            Op::Bond { amount, .. } => Payload::Bond { amount: *amount },
            Op::Unbond { amount, .. } => Payload::Unbond { amount: *amount },
            Op::Cut => return None,
        })
    }

    /// Signs the op with its sender's next nonce (pending ones counted) and offers
    /// it to the mempool.
    fn offer(&mut self, op: &Op) {
        let (Some(key), Some(payload)) = (self.signer(op), self.payload(op)) else {
            return;
        };
        let sender = key.public_key();
        let nonce = self
            .mempool
            .next_nonce(&sender)
            .unwrap_or_else(|| account_nonce(&self.c.state, &sender));
        let tx = Transaction {
            chain_id: self.c.chain_id(),
            sender,
            nonce,
            payload,
        }
        .sign(&key);
        let ctx = self.c.ctx();
        if let Ok(hash) = self.mempool.insert(&self.c.state, &ctx, tx, ctx.time_ms) {
            self.admitted.insert(hash);
        }
    }

    /// The proposer builds the next block from its mempool; a validator executes it.
    fn block(&mut self) -> Result<(), TestCaseError> {
        let candidates: Vec<SignedTransaction> = self
            .mempool
            .candidates(usize::MAX)
            .iter()
            .map(|t| (**t).clone())
            .collect();
        let built = build_block(
            &self.c.state,
            &self.c.parent,
            None,
            self.c.chain.operators[0].public_key(),
            self.c.parent.time_ms + 1_000,
            &candidates,
            SignatureCheck::Verify,
        )
        .unwrap();
        for tx in &built.block.transactions {
            prop_assert!(
                self.admitted.contains(&tx.hash()),
                "a block took an unadmitted transaction"
            );
        }
        let validated = execute_block(&self.c.state, &self.c.parent, &built.block);
        prop_assert!(
            validated.is_ok(),
            "a validator refused a proposer's block: {:?}",
            validated.err()
        );
        prop_assert_eq!(validated.unwrap().state_root, built.outcome.state_root);
        // Honest validators vote for this block: no evidence from those votes holds.
        let issuances: Vec<usize> = built
            .block
            .transactions
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t.tx.payload, Payload::IssueCredential(_)))
            .map(|(i, _)| i)
            .collect();
        ISSUED.fetch_add(issuances.len(), Ordering::Relaxed);
        let votes: Vec<_> = (1..4)
            .map(|v| self.c.vote(v, &built.block.header, VoteKind::Precommit))
            .collect();
        self.c.state.apply(&built.outcome.changes);
        self.c.parent = built.block.header.clone();
        for (index, vote) in issuances.iter().zip(votes.iter().cycle()) {
            let evidence = fake_credential(&built.block, *index, *vote);
            let op = self.c.chain.operators[0].clone();
            let tx = self.c.tx(&op, Payload::SubmitEvidence(Box::new(evidence)));
            let mut judge = Executor::new(&self.c.state, self.c.ctx()).unwrap();
            let verdict = judge.apply(&tx, SignatureCheck::Verify);
            prop_assert!(
                matches!(verdict, Err(TxError::InvalidEvidence(_))),
                "evidence from an honest vote was not refused: {:?}",
                verdict
            );
            REFUSED_EVIDENCE.fetch_add(1, Ordering::Relaxed);
        }
        let included: Vec<mpms_crypto::Hash> = built.tx_hashes();
        let ctx = self.c.ctx();
        self.mempool
            .recheck(&self.c.state, &ctx, &included, ctx.time_ms);
        Ok(())
    }
}

/// Issuances that reached a block, and evidence from honest votes refused, over all
/// cases (so the test is known to exercise them).
static ISSUED: AtomicUsize = AtomicUsize::new(0);
static REFUSED_EVIDENCE: AtomicUsize = AtomicUsize::new(0);

#[test]
fn mempool_and_builder_agree_with_the_validator() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(&prop::collection::vec(op(), 1..80), |ops| {
            let mut world = World {
                c: Chain::new(4, 31),
                mempool: Mempool::new(MempoolConfig::default()),
                admitted: Default::default(),
            };
            for op in &ops {
                if matches!(op, Op::Cut) {
                    world.block()?;
                } else {
                    world.offer(op);
                }
            }
            // With nothing new, the mempool drains: what it holds is included or
            // dropped with a reason.
            for _ in 0..4 {
                world.block()?;
            }
            prop_assert!(
                world.mempool.is_empty(),
                "{} transactions stuck",
                world.mempool.len()
            );
            Ok(())
        })
        .unwrap();
    let (issued, refused) = (
        ISSUED.load(Ordering::Relaxed),
        REFUSED_EVIDENCE.load(Ordering::Relaxed),
    );
    eprintln!("{cases} cases: {issued} issuances committed, {refused} pieces of evidence from honest votes refused");
    assert!(
        issued > 0 && refused == issued,
        "{issued} issued, {refused} refused"
    );
}
