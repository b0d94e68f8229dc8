//! Seeded simulations: agreement, valid certificates and liveness under Byzantine
//! authorities, crashes, restarts and partitions; determinism; slashing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_sim::{Behaviour, Fault, SimConfig, Simulation, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A random scenario for `seed`: 4, 7 or 10 authorities, up to f Byzantine ones,
/// maybe a crash and restart, maybe a partition that heals.
fn scenario(seed: u64) -> SimConfig {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let n = [4usize, 7, 10][rng.gen_range(0..3)];
    let f = (n - 1) / 3;
    let mut config = SimConfig::new(seed, n);
    config.target_height = 5;
    config.max_virtual_ms = 300_000;
    config.loss = if rng.gen_bool(0.3) { 0.02 } else { 0.0 };
    let mut nodes: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        nodes.swap(i, rng.gen_range(0..=i));
    }
    let byzantine = rng.gen_range(0..=f);
    // Half the runs carry credential issuances (ciphertext and sealed keys that a
    // proposer could withhold), half registrations.
    if rng.gen_bool(0.5) {
        config.workload = Workload::Issuances { subjects: 8 };
    }
    let behaviours = [
        Behaviour::Silent,
        Behaviour::Equivocator,
        Behaviour::DoubleVoter,
        Behaviour::FakeCredentialProposer,
        Behaviour::Colluder,
        Behaviour::FutureProposer,
        Behaviour::RoundFlooder,
        Behaviour::Replayer,
        Behaviour::EdgeSigner,
        Behaviour::ContentWithholder,
        Behaviour::SplitWithholder,
        Behaviour::LateProposer,
    ];
    for (k, &node) in nodes[..byzantine].iter().enumerate() {
        // The first Byzantine authority of every run splits its blocks' content or
        // stamps them at the clock's edge (and withholds its precommits): a verdict
        // that depended on which copy came first, or on the clock, would halt the
        // chain.
        if k == 0 {
            let edge = [Behaviour::SplitWithholder, Behaviour::LateProposer];
            config.byzantine.push((node, edge[rng.gen_range(0..2)]));
        } else if rng.gen_bool(0.2) {
            // One in five other Byzantine authorities is a twin: its key runs in two
            // cores.
            config.twins.push(node);
        } else {
            config
                .byzantine
                .push((node, behaviours[rng.gen_range(0..behaviours.len())]));
        }
    }
    let honest = &nodes[byzantine..];
    if rng.gen_bool(0.5) {
        let victim = honest[rng.gen_range(0..honest.len())];
        let at = rng.gen_range(200..2_000);
        config.faults.push((at, Fault::Crash(victim)));
        // Back with its data, with its data wiped (its safety record kept, beside
        // its keys), or restored from a backup (neither). A validator restored
        // without its record signs nothing until the height it may have signed at
        // is decided without it: it counts as one of the f faults the protocol
        // tolerates, so only when the Byzantine ones leave room.
        let kinds = if byzantine < f { 3 } else { 2 };
        let back = match rng.gen_range(0..kinds) {
            0 => Fault::Restart {
                node: victim,
                keep_state: true,
            },
            1 => Fault::Restart {
                node: victim,
                keep_state: false,
            },
            _ => Fault::RestoreFromBackup(victim),
        };
        config.faults.push((at + rng.gen_range(500..5_000), back));
    }
    if rng.gen_bool(0.4) {
        let groups: Vec<u32> = (0..n).map(|_| rng.gen_range(0..2)).collect();
        let at = rng.gen_range(100..3_000);
        config.faults.push((at, Fault::Partition(groups)));
        config
            .faults
            .push((at + rng.gen_range(500..8_000), Fault::Heal));
    }
    config
}

fn run_seeds(seeds: std::ops::Range<u64>) {
    let first = seeds.start;
    for seed in seeds {
        let config = scenario(seed);
        let summary = format!(
            "seed {seed}: n={} byzantine={:?} twins={:?} faults={:?}",
            config.authorities, config.byzantine, config.twins, config.faults
        );
        let byzantine: Vec<usize> = config
            .byzantine
            .iter()
            .map(|(n, _)| *n)
            .chain(config.twins.iter().copied())
            .collect();
        let sim = Simulation::new(config);
        let byzantine: Vec<_> = byzantine.into_iter().map(|n| sim.operator(n)).collect();
        // Agreement, valid certificates and "no honest authority punished" are
        // checked by the run itself, as it goes.
        let report = sim.run().unwrap_or_else(|e| panic!("{summary}: {e}"));
        assert!(report.min_height >= 5, "{summary}");
        assert!(
            report.punished.iter().all(|p| byzantine.contains(p)),
            "{summary}: punished {:?}",
            report.punished
        );
        if (seed + 1).is_multiple_of(1_000) {
            eprintln!(
                "{} seeded runs passed (through seed {seed})",
                seed + 1 - first
            );
        }
    }
}

/// 500 seeded runs in the default suite.
#[test]
fn five_hundred_seeded_runs_agree_and_stay_live() {
    run_seeds(0..500);
}

/// The long soak: `cargo test -p mpms-sim --release -- --ignored soak`.
#[test]
#[ignore]
fn soak_twenty_thousand_runs() {
    run_seeds(1_000..21_000);
}

#[test]
fn same_seed_same_run() {
    let a = Simulation::new(scenario(42)).run().unwrap();
    let b = Simulation::new(scenario(42)).run().unwrap();
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.events, b.events);
    let c = Simulation::new(scenario(43)).run().unwrap();
    assert_ne!(a.digest, c.digest);
}

#[test]
fn equivocating_authority_is_slashed_and_removed_while_finality_continues() {
    let mut config = SimConfig::new(7, 4);
    config.byzantine = vec![(3, Behaviour::Equivocator)];
    config.target_height = 20;
    let sim = Simulation::new(config);
    let offender = sim.operator(3);
    let report = sim.run().unwrap();
    assert!(report.evidence_submitted > 0);
    assert_eq!(report.final_authorities, 3);
    assert!(!report.final_set.contains(&offender));
    assert!(report.min_height >= 20);
}

#[test]
fn double_voter_is_slashed_and_removed() {
    let mut config = SimConfig::new(8, 4);
    config.byzantine = vec![(1, Behaviour::DoubleVoter)];
    config.target_height = 15;
    let sim = Simulation::new(config);
    let offender = sim.operator(1);
    let report = sim.run().unwrap();
    assert!(!report.final_set.contains(&offender));
}

#[test]
fn fake_credential_proposer_is_slashed_and_removed() {
    let mut config = SimConfig::new(9, 4);
    config.byzantine = vec![(2, Behaviour::FakeCredentialProposer)];
    config.target_height = 20;
    let sim = Simulation::new(config);
    let offender = sim.operator(2);
    let report = sim.run().unwrap();
    assert!(
        !report.final_set.contains(&offender),
        "fake-credential proposer still in the set"
    );
    assert!(report.min_height >= 20);
}

#[test]
fn a_proposer_cannot_withhold_content() {
    // Its blocks verify by hash without the ciphertexts and sealed keys, so honest
    // validators would store them so; they refuse such a proposal instead (the run
    // fails with `ContentWithheld` if one is committed).
    let mut config = SimConfig::new(12, 4);
    config.byzantine = vec![(1, Behaviour::ContentWithholder)];
    config.workload = Workload::Issuances { subjects: 20 };
    config.target_height = 15;
    let report = Simulation::new(config).run().unwrap();
    assert!(report.min_height >= 15);
}

#[test]
#[ignore]
fn debug_one_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let config = scenario(seed);
    eprintln!("{config:?}");
    let r = Simulation::new(config).run();
    eprintln!("{:?}", r.map(|r| (r.min_height, r.events)));
}

/// 1,000 nodes (16 authorities, 984 full nodes), 100 finalized blocks, 25 ms ± 10%
/// per hop. Prints the figures recorded in docs/PERFORMANCE.md:
/// `cargo test -p mpms-sim --release -- --ignored thousand_nodes --nocapture`.
#[test]
#[ignore]
fn thousand_nodes_hundred_blocks() {
    let mut config = SimConfig::new(1_000, 16);
    config.full_nodes = 984;
    config.target_height = 100;
    config.tx_per_second = 50.0;
    config.max_virtual_ms = 3_600_000;
    let started = std::time::Instant::now();
    let report = Simulation::new(config).run().unwrap();
    let wall = started.elapsed();
    let times: Vec<f64> = report.commit_times_ms.values().copied().collect();
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let q = |v: &[f64], p: f64| mpms_sim::quantile(v, p).unwrap_or(f64::NAN);
    println!(
        "nodes: 1000 (16 authorities), blocks: {}",
        report.min_height
    );
    println!(
        "wall time: {:.1} s, virtual time: {:.1} s, events: {}",
        wall.as_secs_f64(),
        report.virtual_ms as f64 / 1e3,
        report.events
    );
    println!(
        "confirmation latency (submission to commit at the receiving authority), {} txs: p50 {:.0} ms, p99 {:.0} ms",
        report.confirmations_ms.len(),
        q(&report.confirmations_ms, 0.5),
        q(&report.confirmations_ms, 0.99)
    );
    println!(
        "block interval: p50 {:.0} ms, p99 {:.0} ms",
        q(&intervals, 0.5),
        q(&intervals, 0.99)
    );
    assert!(report.min_height >= 100);
}

/// Rotation by governance, through real transactions: a 5th authority is voted in,
/// another voted out, a third's consensus key replaced. Finality continues through
/// each change and every node follows the same authority set at every height.
#[test]
fn rotation_add_remove_and_rotate_key() {
    use mpms_sim::Governance;
    let mut config = SimConfig::new(11, 4);
    config.candidates = 1;
    config.governance = vec![
        (2_000, Governance::Add(4)),
        (12_000, Governance::Remove(3)),
        (22_000, Governance::RotateKey(1)),
    ];
    config.target_height = 40;
    let sim = Simulation::new(config);
    let (added, removed, rotated) = (sim.operator(4), sim.operator(3), sim.operator(1));
    let new_key = sim.rotated_key(1);
    let report = sim.run().unwrap();
    assert!(
        report.schedule_agrees,
        "nodes disagree on the authority set of some height"
    );
    assert_eq!(report.final_authorities, 4);
    assert!(report.final_set.contains(&added));
    assert!(!report.final_set.contains(&removed));
    let key = report
        .final_keys
        .iter()
        .find(|(op, _)| *op == rotated)
        .unwrap()
        .1;
    assert_eq!(key, new_key);
    // The rotated authority keeps signing, with its new key (certificates are verified
    // against the set of their height), and so does the newcomer.
    assert!(
        report.recent_signers.contains(&rotated),
        "rotated authority stopped signing"
    );
    assert!(report.recent_signers.contains(&added));
    // The run went past the last change (27 s of virtual time) and blocks were still
    // coming at its end.
    let last = report.commit_times_ms.values().copied().fold(0.0, f64::max);
    assert!(
        report.virtual_ms >= 27_000,
        "ended at {} ms",
        report.virtual_ms
    );
    assert!(
        report.virtual_ms as f64 - last < 2_000.0,
        "finality stopped at {last} ms; the run ended at {} ms",
        report.virtual_ms
    );
}

#[test]
fn fake_credential_proposer_and_its_voters_are_slashed() {
    let mut config = SimConfig::new(12, 7);
    config.byzantine = vec![
        (2, Behaviour::FakeCredentialProposer),
        (5, Behaviour::Colluder),
    ];
    config.target_height = 30;
    let sim = Simulation::new(config);
    let (proposer, voter) = (sim.operator(2), sim.operator(5));
    let report = sim.run().unwrap();
    assert!(
        !report.final_set.contains(&proposer),
        "fake-credential proposer still in the set"
    );
    assert!(
        !report.final_set.contains(&voter),
        "its voter is still in the set"
    );
    assert_eq!(report.final_authorities, 5);
}

/// Twins ("Twins: BFT Systems Made Robust", Bano et al.): the last f authorities'
/// keys each run in two honest cores, placed on opposite sides of scripted
/// partitions in which no side holds a quorum; three partitions, each healed after
/// a few seconds. Safety must hold, and a twin whose two cores signed conflicting
/// statements must be slashed by evidence.
fn twins_campaign(seed: u64, n: usize) -> SimConfig {
    let f = (n - 1) / 3;
    let mut config = SimConfig::new(seed, n);
    config.twins = (n - f..n).collect();
    config.target_height = 8;
    let honest: Vec<usize> = (0..n - f).collect();
    let mut at = 1_000 + (seed % 7) * 300;
    for phase in 0..3usize {
        // Twins' originals on side 1, their copies (nodes n.. n+f) on side 2, the
        // honest ones spread over three sides: no side reaches a quorum.
        let mut groups = vec![0u32; n + f];
        for (k, &h) in honest.iter().enumerate() {
            groups[h] = ((k + phase) % 3) as u32;
        }
        groups[n - f..n].fill(1);
        groups[n..n + f].fill(2);
        config.faults.push((at, Fault::Partition(groups)));
        config.faults.push((at + 4_000, Fault::Heal));
        at += 4_000 + 3_000 + (seed % 5) * 500;
    }
    // Time after the last heal for evidence to be found and executed.
    config.faults.push((at + 10_000, Fault::Heal));
    config
}

fn run_twins(n: usize, seeds: std::ops::Range<u64>) {
    let mut equivocated = 0;
    let runs = seeds.end - seeds.start;
    for seed in seeds {
        let config = twins_campaign(seed, n);
        let sim = Simulation::new(config.clone());
        let twins: Vec<_> = config.twins.iter().map(|i| sim.operator(*i)).collect();
        let report = sim
            .run()
            .unwrap_or_else(|e| panic!("twins n={n} seed {seed}: {e}"));
        assert!(
            report.punished.iter().all(|p| twins.contains(p)),
            "twins n={n} seed {seed}: an honest authority was punished"
        );
        if !report.twin_equivocated.is_empty() {
            equivocated += 1;
            for twin in &report.twin_equivocated {
                assert!(
                    report.punished.contains(twin),
                    "twins n={n} seed {seed}: twin {twin} equivocated but was not slashed"
                );
                assert!(!report.final_set.contains(twin));
            }
        }
    }
    eprintln!("twins n={n}: {equivocated} of {runs} campaigns equivocated; every one slashed");
    // The partitions make twins equivocate in most campaigns (else this test proves
    // little).
    assert!(
        equivocated * 2 >= runs,
        "only {equivocated} of {runs} campaigns made a twin equivocate"
    );
}

#[test]
fn twins_of_one_in_four_are_caught_and_safety_holds() {
    run_twins(4, 0..20);
}

#[test]
fn twins_of_two_in_seven_are_caught_and_safety_holds() {
    run_twins(7, 100..115);
}

/// A Byzantine proposer with a colluding certifier puts claim signatures at the edges
/// of the verification rule into its blocks (a torsion component: valid alone and in
/// a batch; a non-canonical scalar: invalid everywhere) and forges fake-credential
/// evidence against everyone who votes for them. Honest authorities are never
/// punished (checked by the run), while the forger's own invalid proposals get it
/// slashed.
#[test]
fn edge_signatures_never_get_an_honest_authority_punished() {
    let mut config = SimConfig::new(77, 4);
    config.byzantine = vec![(1, Behaviour::EdgeSigner)];
    config.target_height = 40;
    let sim = Simulation::new(config);
    let forger = sim.operator(1);
    let report = sim.run().unwrap();
    assert!(
        report.forged_evidence > 0,
        "the forger never had anything to forge"
    );
    assert_eq!(report.punished, vec![forger]);
}

/// The issuance workload: the certifier's credentials (signed claims, encrypted
/// content) are admitted, finalized and measured like registrations.
#[test]
fn credential_issuances_are_confirmed() {
    let mut config = SimConfig::new(5, 4);
    config.workload = Workload::Issuances { subjects: 16 };
    config.tx_per_second = 100.0;
    config.target_height = 60;
    let report = Simulation::new(config).run().unwrap();
    // Issuing starts at 2 s of virtual time, 100 a second.
    let issued = report.confirmations_ms.len();
    assert!(issued >= 100, "{issued} issuances confirmed");
    assert!(report.confirmation_quantile(0.99).unwrap() < 1_000.0);
}

/// Runs `n` authorities with the given Byzantine ones under the issuance workload
/// (blocks carry ciphertext and sealed keys) and checks that every height was
/// decided at most one honest proposer's round after it began or after a Byzantine
/// proposer's round: a Byzantine authority cannot halt the chain, and liveness comes
/// back as soon as it stops being proposer.
fn withholding_runs(n: usize, byzantine: &[(usize, Behaviour)], seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let mut config = SimConfig::new(seed, n);
        config.byzantine = byzantine.to_vec();
        config.workload = Workload::Issuances { subjects: 16 };
        config.target_height = 24;
        config.max_virtual_ms = 120_000;
        let summary = format!("n={n} seed {seed} {byzantine:?}");
        let report = Simulation::new(config)
            .run()
            .unwrap_or_else(|e| panic!("{summary}: {e}"));
        assert!(report.min_height >= 24, "{summary}");
        assert!(
            report.max_failed_honest_rounds <= 1,
            "{summary}: {} rounds with an honest proposer passed undecided at one height; rounds {:?}",
            report.max_failed_honest_rounds,
            report.decided_rounds
        );
    }
}

/// A proposer sends its block whole to all but one honest authority and stripped of
/// its content to that one, then withholds its precommits: the others lock on the
/// block and need the victim, which must fetch the content and vote, not judge the
/// stripped copy invalid for the height.
#[test]
fn split_withholder_cannot_halt_the_chain() {
    withholding_runs(4, &[(1, Behaviour::SplitWithholder)], 0..6);
    withholding_runs(7, &[(2, Behaviour::SplitWithholder)], 10..14);
}

/// A proposer stamps its block at the edge of the clock window, so latency splits
/// the honest authorities between "timely" and "late", then withholds its
/// precommits: the clock verdict must hold for that round only.
#[test]
fn late_proposer_cannot_halt_the_chain() {
    withholding_runs(4, &[(1, Behaviour::LateProposer)], 0..6);
    withholding_runs(7, &[(2, Behaviour::LateProposer)], 10..14);
}

/// Both at once among seven: two Byzantine authorities, each withholding its
/// precommits.
#[test]
fn split_withholder_and_late_proposer_together_cannot_halt_seven() {
    withholding_runs(
        7,
        &[
            (1, Behaviour::SplitWithholder),
            (4, Behaviour::LateProposer),
        ],
        20..24,
    );
}

/// Five honest authorities see every offence of a double voter and each reports it:
/// one report lands, the others are dropped as duplicates. A second authority that
/// starts double voting later must be punished as well: a node whose report was
/// dropped keeps reporting. (Each node's evidence nonce used to run ahead of the
/// chain after one dropped report, and every later report of it was refused.)
#[test]
fn every_offence_is_punished_after_duplicate_reports_were_dropped() {
    let mut config = SimConfig::new(31, 7);
    config.byzantine = vec![
        (5, Behaviour::DoubleVoter),
        (6, Behaviour::DoubleVoterFrom(20)),
    ];
    config.target_height = 40;
    let sim = Simulation::new(config);
    let (first, second) = (sim.operator(5), sim.operator(6));
    let report = sim.run().unwrap();
    assert!(report.punished.contains(&first), "the first offender");
    assert!(
        report.punished.contains(&second),
        "the second offender, which double votes from height 20"
    );
    assert_eq!(report.final_authorities, 5);
}
