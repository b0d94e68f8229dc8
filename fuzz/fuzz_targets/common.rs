//! A small chain every target runs against: four authorities, registered subjects, a
//! schema and an issued credential, in memory.
#![allow(dead_code)]

use std::sync::OnceLock;

use mpms_ledger::execute::{build_block, SignatureCheck};
use mpms_ledger::testkit::TestChain;
use mpms_ledger::{AuthoritySet, BlockContext, Header, MemState};

pub struct Fixture {
    pub chain: TestChain,
    pub state: MemState,
    pub last: Header,
    pub set: AuthoritySet,
}

impl Fixture {
    /// The context of the next block.
    pub fn ctx(&self) -> BlockContext {
        BlockContext {
            height: self.last.height + 1,
            time_ms: self.last.time_ms + 1_000,
            proposer: self.chain.operators[(self.last.height as usize + 1) % 4].public_key(),
            parent: self.last.hash(),
        }
    }
}

fn commit(f: &mut Fixture, txs: &[mpms_ledger::SignedTransaction]) {
    let proposer = f.set.proposer(f.last.height + 1, 0).map(|m| m.operator);
    let built = build_block(
        &f.state,
        &f.last,
        None,
        proposer.unwrap_or_else(|| f.chain.operators[0].public_key()),
        f.last.time_ms + 1_000,
        txs,
        SignatureCheck::Verify,
    )
    .expect("the fixture's blocks build");
    f.state.apply(&built.outcome.changes);
    f.last = built.block.header;
}

/// The shared fixture, built once per process.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let chain = TestChain::new(4, 7);
        let genesis = chain.genesis.build().expect("genesis");
        let mut state = MemState::new();
        state.apply(&genesis.changes);
        let mut f = Fixture {
            chain,
            state,
            last: genesis.header,
            set: genesis.authority_set,
        };
        let first: Vec<_> = (1..=3)
            .map(|i| f.chain.register_subject(i))
            .chain([f.chain.register_schema(0, "med.bls")])
            .collect();
        commit(&mut f, &first);
        let second = [f.chain.issue(1, "med.bls", 1, 1)];
        commit(&mut f, &second);
        f
    })
}
