//! `mpmsd ledger-demo`: the published prototype's scenario on a real ledger and store.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use mpms_crypto::{DecryptionKey, Hash, SigningKey};
use mpms_ledger::block::verify_tx_inclusion;
use mpms_ledger::credential::{
    issuance_of, open_content, prepare_issuance, reseal_key, verify_content, CredentialContent,
    DocumentDigest,
};
use mpms_ledger::execute::{build_block, read_meta, Event, SignatureCheck};
use mpms_ledger::genesis::{GenesisAccount, GenesisAuthority};
use mpms_ledger::records::{keys, Account, Credential, Grant};
use mpms_ledger::transaction::{
    grant_id, request_id, GovernanceAction, InspectionOutcome, OrganizationKind, SchemaDefinition,
};
use mpms_ledger::vote::{CommitCertificate, CommitSignature};
use mpms_ledger::{
    codec, Genesis, Params, Payload, Receipt, SignedTransaction, State, Transaction, TxError,
};
use mpms_store::{check_integrity, commit_genesis, BlockCommit, RocksOptions, RocksStore, Store};
use rand::rngs::OsRng;

const CHAIN_ID: &str = "mpms-ledger-demo";
const DAY_MS: u64 = 86_400_000;

struct Party {
    name: &'static str,
    key: SigningKey,
    enc: DecryptionKey,
}

impl Party {
    fn new(name: &'static str) -> Party {
        Party {
            name,
            key: SigningKey::generate(&mut OsRng),
            enc: DecryptionKey::generate(&mut OsRng),
        }
    }
    fn id(&self) -> mpms_crypto::PublicKey {
        self.key.public_key()
    }
}

struct Demo {
    store: RocksStore,
    consensus: Vec<(mpms_crypto::PublicKey, SigningKey)>,
    proposer: mpms_crypto::PublicKey,
}

impl Demo {
    fn nonce(&self, who: &Party) -> anyhow::Result<u64> {
        Ok(match self.store.get(&keys::account(&who.id()))? {
            Some(bytes) => codec::decode::<Account>(&bytes)?.nonce,
            None => 0,
        })
    }

    fn tx(&self, who: &Party, payload: Payload) -> anyhow::Result<SignedTransaction> {
        Ok(Transaction {
            chain_id: CHAIN_ID.into(),
            sender: who.id(),
            nonce: self.nonce(who)?,
            payload,
        }
        .sign(&who.key))
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> anyhow::Result<T> {
        let bytes = self.store.get(key)?.context("record not found")?;
        Ok(codec::decode(&bytes)?)
    }

    /// Builds the next block from `txs`, has every authority sign the commit
    /// certificate, commits it to RocksDB. Returns each transaction's result.
    fn block(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> anyhow::Result<(u64, Vec<Result<Receipt, TxError>>)> {
        let parent = self.store.last_header()?.context("no genesis")?;
        let parent_cert = self.store.certificate(parent.height)?;
        let now = now_ms().max(parent.time_ms + 1);
        let built = build_block(
            &self.store,
            &parent,
            parent_cert,
            self.proposer,
            now,
            &txs,
            SignatureCheck::Verify,
        )?;
        let set = read_meta(&self.store)?.authority_set;
        let mut cert = CommitCertificate {
            height: built.block.header.height,
            round: 0,
            block: built.block.hash(),
            signatures: vec![],
        };
        let vote = cert.precommit();
        for member in &set.members {
            if let Some((_, key)) = self
                .consensus
                .iter()
                .find(|(pk, _)| *pk == member.consensus_key)
            {
                let signed = vote.sign(CHAIN_ID, member.operator, key);
                cert.signatures.push(CommitSignature {
                    validator: member.operator,
                    signature: signed.signature,
                });
            }
        }
        cert.verify(CHAIN_ID, &set).context("commit certificate")?;
        self.store.commit(BlockCommit {
            block: &built.block,
            certificate: Some(&cert),
            changes: &built.outcome.changes,
            tx_hashes: Some(&built.tx_hashes()),
        })?;
        let errors: HashMap<Hash, TxError> = built
            .excluded
            .into_iter()
            .map(|e| (e.tx_hash, e.error))
            .collect();
        let mut receipts = built.outcome.receipts.into_iter();
        let results = txs
            .iter()
            .map(|tx| match errors.get(&tx.hash()) {
                Some(e) => Err(e.clone()),
                None => receipts
                    .next()
                    .context("receipt missing")
                    .map_err(|e| TxError::CorruptState(e.to_string())),
            })
            .collect();
        Ok((built.block.header.height, results))
    }

    /// Submits one transaction that must be accepted.
    fn ok(&self, what: &str, tx: SignedTransaction) -> anyhow::Result<Receipt> {
        let (height, mut results) = self.block(vec![tx])?;
        match results.pop() {
            Some(Ok(receipt)) => {
                println!("  [block {height:>3}] {what}");
                Ok(receipt)
            }
            Some(Err(e)) => bail!("{what}: rejected: {e}"),
            None => bail!("{what}: no result"),
        }
    }

    /// Submits one transaction that must be rejected; prints the reason.
    fn refused(&self, what: &str, tx: SignedTransaction) -> anyhow::Result<()> {
        let (height, mut results) = self.block(vec![tx])?;
        match results.pop() {
            Some(Err(e)) => {
                println!("  [block {height:>3}] {what}: REFUSED, {e}");
                Ok(())
            }
            _ => bail!("{what}: should have been refused"),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn first_event<T>(receipt: &Receipt, f: impl Fn(&Event) -> Option<T>) -> anyhow::Result<T> {
    receipt
        .events
        .iter()
        .find_map(f)
        .context("expected event missing")
}

pub fn run(home: Option<PathBuf>) -> anyhow::Result<()> {
    let _tmp;
    let home = match home {
        Some(h) => h,
        None => {
            _tmp = tempdir()?;
            _tmp.0.clone()
        }
    };
    std::fs::create_dir_all(&home).with_context(|| format!("creating {}", home.display()))?;
    let db = home.join("ledger-demo.db");
    let store = RocksStore::open(&db, &RocksOptions::default())
        .with_context(|| format!("opening {}", db.display()))?;
    if store.last_height()?.is_some() {
        bail!(
            "{} already holds a chain; choose an empty --home",
            db.display()
        );
    }

    println!(
        "MPMS ledger demo: 4 authorities, RocksDB at {}",
        db.display()
    );
    let operators: Vec<Party> = [
        "Authority: City Hospital",
        "Authority: State University",
        "Authority: Medical Council",
        "Authority: Regional Clinic",
    ]
    .into_iter()
    .map(Party::new)
    .collect();
    let consensus: Vec<SigningKey> = (0..4).map(|_| SigningKey::generate(&mut OsRng)).collect();
    let treasury = Party::new("Consortium treasury");
    let params = Params::default();
    let genesis = Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: now_ms(),
        authorities: operators
            .iter()
            .zip(&consensus)
            .enumerate()
            .map(|(i, (o, c))| GenesisAuthority {
                operator: o.id(),
                consensus_key: c.public_key(),
                peer_id: format!("demo-node-{i}"),
                stake: params.min_authority_stake,
                balance: 0,
            })
            .collect(),
        accounts: vec![GenesisAccount {
            id: treasury.id(),
            balance: 1_000_000,
        }],
        organizations: vec![],
        certifiers: vec![],
        params,
    };
    let g = genesis.build()?;
    commit_genesis(&store, &g)?;
    println!(
        "  [block   0] genesis: {} authorities, state {}",
        g.authority_set.len(),
        g.header.state_root
    );
    let demo = Demo {
        store,
        consensus: consensus
            .iter()
            .map(|k| (k.public_key(), k.clone()))
            .collect(),
        proposer: operators[0].id(),
    };

    // Each registration carries the new account's proof of work (the chain's price
    // of an identity; no fees are charged).
    let account_work = |party: &Party| {
        mpms_ledger::work::stamp(
            CHAIN_ID,
            &party.id(),
            Params::default().account_creation_work_bits,
        )
    };
    println!("\n1. Roles register");
    let intern = Party::new("Intern (pseudonymous)");
    let hospital = Party::new("St. Mary Teaching Hospital");
    let board = Party::new("State Medical Licensing Board");
    demo.ok(
        "intern registers as a subject (key only, no personal data)",
        demo.tx(
            &intern,
            Payload::RegisterSubject {
                encryption_key: intern.enc.encryption_key(),
                work: account_work(&intern),
            },
        )?,
    )?;
    demo.ok(
        &format!("{} registers as a certifier", hospital.name),
        demo.tx(
            &hospital,
            Payload::RegisterCertifier {
                name: hospital.name.into(),
                encryption_key: hospital.enc.encryption_key(),
                work: account_work(&hospital),
            },
        )?,
    )?;
    demo.ok(
        &format!("{} registers as an organization", board.name),
        demo.tx(
            &board,
            Payload::RegisterOrganization {
                name: board.name.into(),
                kind: OrganizationKind::LicensingBoard,
                encryption_key: board.enc.encryption_key(),
                work: account_work(&board),
            },
        )?,
    )?;
    demo.ok(
        "treasury funds the hospital",
        demo.tx(
            &treasury,
            Payload::Transfer {
                to: hospital.id(),
                amount: 1_000,
            },
        )?,
    )?;
    demo.ok(
        "hospital bonds 500 as certifier stake",
        demo.tx(&hospital, Payload::Bond { amount: 500 })?,
    )?;

    println!(
        "\n2. Governance accredits the hospital for cardiology and admits the board (needs > 2/3 of 4 authorities)"
    );
    let accredit = GovernanceAction::AccreditCertifier {
        certifier: hospital.id(),
        scope: vec!["cardio.*".into()],
        valid_from_ms: now_ms() - DAY_MS,
        valid_until_ms: now_ms() + 365 * DAY_MS,
    };
    let admit = GovernanceAction::AdmitOrganization {
        organization: board.id(),
    };
    for (what, action) in [
        ("the accreditation", accredit),
        ("admitting the board", admit),
    ] {
        pass(&demo, &operators, what, action)?;
    }

    println!("\n3. Stackable credential schemas");
    let schema = |id: &str, prereq: &[&str], desc: &str| {
        Payload::RegisterSchema(Box::new(SchemaDefinition {
            id: id.into(),
            description: desc.into(),
            prerequisites: prereq.iter().map(|s| s.to_string()).collect(),
            output: "clinical competence".into(),
            completion_condition: "pass mark 80% and supervised practice".into(),
            max_validity_ms: Some(2 * 365 * DAY_MS),
            fields: mpms_ledger::claims::course_fields(),
            fhir_resource: None,
        }))
    };
    demo.ok(
        "schema cardio.bls (Basic Life Support)",
        demo.tx(&hospital, schema("cardio.bls", &[], "Basic Life Support"))?,
    )?;
    demo.ok(
        "schema cardio.acls (Advanced Cardiac Life Support), requires cardio.bls",
        demo.tx(
            &hospital,
            schema(
                "cardio.acls",
                &["cardio.bls"],
                "Advanced Cardiac Life Support",
            ),
        )?,
    )?;
    demo.refused(
        "schema neuro.stroke (outside the hospital's scope)",
        demo.tx(&hospital, schema("neuro.stroke", &[], "Stroke care"))?,
    )?;

    println!("\n4. The hospital issues micro-credentials, encrypted to the intern");
    let content = |desc: &str| CredentialContent {
        salt: rand::random(),
        holder_name: "Dr. Amina Okafor".into(),
        date_of_birth: "1998-03-14".into(),
        documents: vec![DocumentDigest {
            label: "medical degree".into(),
            sha256: Hash::digest(b"scan of degree certificate"),
        }],
        fields: mpms_ledger::claims::course_values(
            desc,
            "2026-09-01",
            "2026-10-15",
            Some("91/100"),
            "passed",
        ),
    };
    let status_index = std::cell::Cell::new(0);
    let issue = |schema: &str, desc: &str| -> anyhow::Result<SignedTransaction> {
        let index = status_index.get();
        status_index.set(index + 1);
        let issuance = prepare_issuance(
            CHAIN_ID,
            &hospital.key,
            hospital.id(),
            mpms_ledger::credential::SchemaRef {
                id: schema,
                fields: &mpms_ledger::claims::course_fields(),
            },
            intern.id(),
            &intern.enc.encryption_key(),
            &content(desc),
            mpms_ledger::credential::ClaimTerms::new(
                now_ms() - DAY_MS,
                now_ms() + 365 * DAY_MS,
                index,
            ),
            &mut OsRng,
        )?;
        demo.tx(&hospital, Payload::IssueCredential(Box::new(issuance)))
    };
    demo.refused(
        "issue cardio.acls before cardio.bls",
        issue("cardio.acls", "ACLS course")?,
    )?;
    let receipt = demo.ok("issue cardio.bls", issue("cardio.bls", "BLS course")?)?;
    let bls = first_event(&receipt, |e| match e {
        Event::CredentialIssued(id) => Some(*id),
        _ => None,
    })?;
    let receipt = demo.ok(
        "issue cardio.acls (stacked on cardio.bls)",
        issue("cardio.acls", "ACLS course")?,
    )?;
    let acls = first_event(&receipt, |e| match e {
        Event::CredentialIssued(id) => Some(*id),
        _ => None,
    })?;
    println!("              credentials {bls} and {acls}");

    println!("\n5. The licensing board asks; the intern grants; the board decrypts and verifies");
    let nonce = demo.nonce(&board)?;
    demo.ok(
        "board requests access to cardio.acls for a license review",
        demo.tx(
            &board,
            Payload::RequestAccess {
                subject: intern.id(),
                credentials: vec![acls],
                // Sealed to the intern: only it reads why the board asks.
                purpose: mpms_ledger::notes::seal_purpose(
                    &intern.id(),
                    &board.id(),
                    "license application review",
                    &mut rand::rngs::OsRng,
                )?,
            },
        )?,
    )?;
    let request = request_id(&board.id(), nonce);
    // The credential's record holds the claim and status; its encrypted content is in
    // the issuing transaction, found through the transaction index.
    let credential: Credential = demo.read(&keys::credential(&acls))?;
    let loc = demo
        .store
        .tx_location(&credential.issued_tx)?
        .context("issuing tx indexed")?;
    let block = demo.store.block(loc.height)?.context("block")?;
    let issuing_tx = block
        .transactions
        .get(loc.index as usize)
        .context("issuing tx in its block")?;
    let issuance = issuance_of(issuing_tx).context("an issuance")?;
    let sealed = reseal_key(
        &acls,
        mpms_ledger::credential::subject_sealed(issuance)?,
        &intern.enc,
        &board.enc.encryption_key(),
        &mut OsRng,
    )?;
    let nonce = demo.nonce(&intern)?;
    let granted = mpms_ledger::erasable::Erasable::new(sealed.clone());
    demo.ok(
        "intern grants access for 7 days (content key re-sealed to the board)",
        demo.tx(
            &intern,
            Payload::GrantAccess {
                credential: acls,
                grantee: board.id(),
                request: Some(request),
                sealed_key: granted.clone(),
                expires_at_ms: now_ms() + 7 * DAY_MS,
            },
        )?,
    )?;
    let grant = grant_id(&intern.id(), nonce);
    let g: Grant = demo.read(&keys::grant(&grant))?;
    // The grant records the digest of the key sealed to the board; the board holds
    // the key from the granting transaction.
    anyhow::ensure!(
        g.sealed_key == granted.digest(),
        "the grant names another key"
    );
    let opened = open_content(issuance, &sealed, &board.enc)?;
    verify_content(
        CHAIN_ID,
        &credential.claim,
        &credential.certifier_signature,
        &hospital.id(),
        &opened,
    )?;
    let proof = block.tx_proof(loc.index as usize).context("proof")?;
    let included = verify_tx_inclusion(
        &block.header,
        &block.transactions[loc.index as usize],
        &proof,
    );
    let cert = demo.store.certificate(loc.height)?.context("certificate")?;
    let finalized = cert
        .verify_for(
            CHAIN_ID,
            &read_meta(&demo.store)?.authority_set,
            loc.height,
            &block.hash(),
        )
        .is_ok();
    println!(
        "              board decrypted: {} — {} ({}), marks {}",
        opened.holder_name,
        opened.field_text("description"),
        opened.field_text("result"),
        opened
            .fields
            .get("marks")
            .map_or("-".into(), |m| m.display())
    );
    println!("              commitment and certifier signature: valid; included in block {} (Merkle proof: {}); block final (certificate: {})", loc.height, if included { "valid" } else { "INVALID" }, if finalized { "valid" } else { "INVALID" });
    demo.ok(
        "board records its inspection",
        demo.tx(
            &board,
            Payload::RecordInspection {
                grant,
                outcome: mpms_ledger::notes::seal_outcome(
                    &intern.id(),
                    &grant,
                    &InspectionOutcome::Verified,
                    &mut rand::rngs::OsRng,
                )?,
            },
        )?,
    )?;

    println!("\n6. Revocation");
    demo.ok(
        "intern revokes the board's access",
        demo.tx(&intern, Payload::RevokeGrant { grant })?,
    )?;
    demo.refused(
        "board records another inspection",
        demo.tx(
            &board,
            Payload::RecordInspection {
                grant,
                outcome: mpms_ledger::notes::seal_outcome(
                    &intern.id(),
                    &grant,
                    &InspectionOutcome::Verified,
                    &mut rand::rngs::OsRng,
                )?,
            },
        )?,
    )?;
    demo.ok(
        "hospital revokes cardio.bls (data-entry error)",
        demo.tx(
            &hospital,
            Payload::RevokeCredential {
                credential: bls,
                reason: "data-entry error".into(),
            },
        )?,
    )?;

    let store = demo.store;
    let last = store.last_header()?.context("last header")?;
    drop(store);
    let reopened = RocksStore::open(&db, &RocksOptions::default())?;
    let height = check_integrity(&reopened)?;
    println!("\nReopened the store: {height} blocks after genesis intact, every certificate and tx index present; state {}", last.state_root);
    let plaintext_found = reopened
        .state_entries()?
        .values()
        .any(|v| v.windows(16).any(|w| w == b"Dr. Amina Okafor"));
    println!(
        "Personal data in plaintext on chain: {}",
        if plaintext_found {
            "FOUND (bug)"
        } else {
            "none"
        }
    );
    if plaintext_found || !included || !finalized {
        bail!("demo checks failed");
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

fn tempdir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!(
        "mpms-ledger-demo-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir(path))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first operator proposes `action` (`what`) and the next two vote for it.
fn pass(
    demo: &Demo,
    operators: &[Party],
    what: &str,
    action: GovernanceAction,
) -> anyhow::Result<()> {
    let receipt = demo.ok(
        &format!("{} proposes {what}", operators[0].name),
        demo.tx(&operators[0], Payload::Propose { action })?,
    )?;
    let proposal = first_event(&receipt, |e| match e {
        Event::ProposalOpened(id) => Some(*id),
        _ => None,
    })?;
    for voter in &operators[1..3] {
        let receipt = demo.ok(
            &format!("{} votes for proposal {proposal}", voter.name),
            demo.tx(
                voter,
                Payload::Vote {
                    proposal,
                    approve: true,
                },
            )?,
        )?;
        if receipt
            .events
            .iter()
            .any(|e| matches!(e, Event::ProposalExecuted(_)))
        {
            println!("              proposal {proposal} passed (3 of 4) and took effect from the next block");
        }
    }

    Ok(())
}
