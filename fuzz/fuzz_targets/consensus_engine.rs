//! The consensus engine driven by random sequences of validly signed statements from
//! every member of a set of four (the fuzzer plays the other three, honest or not),
//! with timeouts, block verdicts and new heights in between. Whatever arrives, the
//! engine never signs two different statements for one (height, round, step), holds
//! no more statements than the protocol allows, and never panics.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mpms_consensus::{
    Effect, Engine, Identity, Input, Step, Timeout, Timeouts, ROUND_WINDOW,
};
use mpms_crypto::{Hash, SigningKey};
use mpms_ledger::vote::AuthorityMember;
use mpms_ledger::{AuthoritySet, Vote, VoteKind};

const CHAIN: &str = "mpms-fuzz";

/// (operator, consensus key) of the four members.
fn keys() -> &'static Vec<(SigningKey, SigningKey)> {
    static KEYS: OnceLock<Vec<(SigningKey, SigningKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..4u8)
            .map(|i| {
                (
                    SigningKey::from_seed(&[i + 1; 32]),
                    SigningKey::from_seed(&[i + 101; 32]),
                )
            })
            .collect()
    })
}

fn set() -> AuthoritySet {
    AuthoritySet {
        members: keys()
            .iter()
            .map(|(op, c)| AuthorityMember {
                operator: op.public_key(),
                consensus_key: c.public_key(),
            })
            .collect(),
    }
}

fn block(tag: u8) -> Hash {
    Hash::digest(&[tag % 4])
}

/// A round: mostly small, sometimes far ahead, sometimes at the very end.
fn round(byte: u8) -> u32 {
    match byte {
        0..=239 => u32::from(byte % 12),
        240..=249 => u32::from(byte) * 1_000_000,
        _ => u32::MAX - u32::from(byte - 250),
    }
}

fn step(byte: u8) -> Step {
    match byte % 3 {
        0 => Step::Propose,
        1 => Step::Prevote,
        _ => Step::Precommit,
    }
}

fuzz_target!(|data: &[u8]| {
    let (op, key) = &keys()[0];
    let mut engine = Engine::new(
        CHAIN,
        Some(Identity {
            operator: op.public_key(),
            key: key.clone(),
        }),
        Timeouts::default(),
        None,
    );
    let mut height = 1u64;
    let mut signed: HashMap<(u64, u32, u8), Vote> = HashMap::new();
    let mut effects = engine.step(Input::StartHeight {
        height,
        authorities: set(),
    });
    for op in data.chunks_exact(4).take(256) {
        let [what, a, b, c] = [op[0], op[1], op[2], op[3]];
        let member = 1 + usize::from(a % 3);
        let at = height + u64::from(b % 3);
        let input = match what % 8 {
            0..=2 => {
                let kind = if what % 2 == 0 {
                    VoteKind::Prevote
                } else {
                    VoteKind::Precommit
                };
                let vote = Vote {
                    height: at,
                    round: round(c),
                    kind,
                    block: (b & 0x80 == 0).then(|| block(b >> 3)),
                    valid_round: None,
                };
                let (op, key) = &keys()[member];
                Input::Vote(vote.sign(CHAIN, op.public_key(), key))
            }
            3 => {
                let vote = Vote {
                    height: at,
                    round: round(c),
                    kind: VoteKind::Proposal,
                    block: Some(block(b >> 3)),
                    valid_round: (b & 0x40 != 0).then(|| round(c).saturating_sub(1)),
                };
                let (op, key) = &keys()[member];
                let signed = vote.sign(CHAIN, op.public_key(), key);
                // Some arrive outside the node's clock window.
                if c & 0x80 != 0 {
                    Input::UntimelyProposal(signed)
                } else {
                    Input::Proposal(signed)
                }
            }
            4 => Input::TimeoutFired(Timeout {
                height: at,
                round: round(c),
                step: step(b),
            }),
            5 => Input::BlockValidated {
                height: at,
                block: block(b),
                valid: c % 4 != 0,
            },
            6 => Input::BlockBuilt {
                height: at,
                round: round(c),
                block: block(b),
            },
            _ => {
                // The height was decided (or synced): the next starts.
                height += 1;
                Input::StartHeight {
                    height,
                    authorities: set(),
                }
            }
        };
        effects.extend(engine.step(input));
        for effect in effects.drain(..) {
            if let Effect::Broadcast(statement) = effect {
                let v = statement.vote;
                let slot = (v.height, v.round, v.kind as u8);
                if let Some(earlier) = signed.insert(slot, v) {
                    assert_eq!(earlier, v, "the engine signed two statements for {slot:?}");
                }
            }
        }
        // Per member: a proposal and up to four conflicting votes of each kind for
        // each round of the window, plus a share of the next height's buffer.
        let window = ROUND_WINDOW as usize + 1;
        let bound = 4 * (window * 9 + 3 * window);
        assert!(
            engine.stored_statements() <= bound,
            "{} statements held, bound {bound}",
            engine.stored_statements()
        );
    }
});
