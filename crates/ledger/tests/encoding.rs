//! Property tests of the canonical encoding: every wire type round-trips; arbitrary
//! or mutated bytes never panic the decoder; Merkle proofs verify for every leaf and
//! fail when any byte of the leaf, the encoded proof or the root changes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use mpms_crypto::{
    merkle, EncryptedContent, EncryptionKey, Hash, MerkleProof, MerkleTree, PublicKey, Sealed,
    Signature,
};
use mpms_ledger::block::{tx_root, Block, Header};
use mpms_ledger::claims::{FieldKind, FieldSpec};
use mpms_ledger::evidence::Evidence;
use mpms_ledger::params::ParameterChange;
use mpms_ledger::transaction::{
    CredentialClaim, CredentialIssuance, GovernanceAction, OrganizationKind, SchemaDefinition,
};
use mpms_ledger::transaction::{GrantSelection, GrantedEntry};
use mpms_ledger::vote::{CommitCertificate, CommitSignature};
use mpms_ledger::{codec, Payload, SignedTransaction, SignedVote, Transaction, Vote, VoteKind};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Generates values of every wire type from a seed.
struct Gen(ChaCha20Rng);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(ChaCha20Rng::seed_from_u64(seed))
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.0.fill(&mut b[..]);
        b
    }
    fn hash(&mut self) -> Hash {
        Hash::from_bytes(self.bytes())
    }
    fn key(&mut self) -> PublicKey {
        PublicKey::from_bytes(self.bytes())
    }
    fn enc(&mut self) -> EncryptionKey {
        EncryptionKey::from_bytes(self.bytes())
    }
    fn sig(&mut self) -> Signature {
        Signature::from_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        self.0.gen()
    }
    fn text(&mut self) -> String {
        let n = self.0.gen_range(0..20);
        (0..n)
            .map(|_| self.0.gen_range('a'..='z'))
            .collect::<String>()
            + if self.0.gen() { "é✓" } else { "" }
    }
    fn blob(&mut self) -> Vec<u8> {
        let n = self.0.gen_range(0..64);
        (0..n).map(|_| self.0.gen()).collect()
    }
    /// `value`, held or (one time in four) erased.
    fn erasable<T: serde::Serialize>(&mut self, value: T) -> mpms_ledger::erasable::Erasable<T> {
        let mut e = mpms_ledger::erasable::Erasable::new(value);
        if self.0.gen_range(0..4) == 0 {
            e.erase();
        }
        e
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Gen) -> T) -> Option<T> {
        if self.0.gen() {
            Some(f(self))
        } else {
            None
        }
    }
    fn sealed(&mut self) -> Sealed {
        Sealed {
            enc: self.enc(),
            ciphertext: self.blob(),
        }
    }
    fn note(&mut self) -> mpms_crypto::SignerSealed {
        mpms_crypto::SignerSealed {
            ephemeral: self.key(),
            ciphertext: self.blob(),
        }
    }
    fn vote(&mut self) -> SignedVote {
        let kind =
            [VoteKind::Proposal, VoteKind::Prevote, VoteKind::Precommit][self.0.gen_range(0..3)];
        SignedVote {
            vote: Vote {
                height: self.u64(),
                round: self.0.gen(),
                kind,
                block: self.opt(Gen::hash),
                valid_round: self.opt(|g| g.0.gen()),
            },
            validator: self.key(),
            signature: self.sig(),
        }
    }
    fn header(&mut self) -> Header {
        Header {
            chain_id: self.text(),
            height: self.u64(),
            parent: self.hash(),
            time_ms: self.u64(),
            proposer: self.key(),
            tx_root: self.hash(),
            tx_count: self.0.gen(),
            state_root: self.hash(),
            authority_set: self.hash(),
            next_authority_set: self.hash(),
            last_commit: self.hash(),
        }
    }
    fn proof(&mut self) -> MerkleProof {
        let n = self.0.gen_range(0..6);
        MerkleProof {
            index: self.u64(),
            leaf_count: self.u64(),
            siblings: (0..n).map(|_| self.hash()).collect(),
        }
    }
    fn action(&mut self) -> GovernanceAction {
        match self.0.gen_range(0..10) {
            9 => GovernanceAction::RevokeCertifierCredentials {
                certifier: self.key(),
                from_height: self.u64(),
                to_height: if self.0.gen_bool(0.5) {
                    Some(self.u64())
                } else {
                    None
                },
                reason: self.text(),
            },
            7 => GovernanceAction::AdmitNode {
                peer_id: self.text(),
                operator: self.key(),
            },
            8 => GovernanceAction::RemoveNode {
                peer_id: self.text(),
            },
            0 => GovernanceAction::AddAuthority {
                operator: self.key(),
                consensus_key: self.key(),
                peer_id: self.text(),
            },
            1 => GovernanceAction::RemoveAuthority {
                operator: self.key(),
            },
            2 => GovernanceAction::RotateAuthorityKey {
                operator: self.key(),
                consensus_key: self.key(),
            },
            3 => GovernanceAction::AccreditCertifier {
                certifier: self.key(),
                scope: vec![self.text(), self.text()],
                valid_from_ms: self.u64(),
                valid_until_ms: self.u64(),
            },
            4 => GovernanceAction::SuspendCertifier {
                certifier: self.key(),
                reason: self.text(),
            },
            5 => GovernanceAction::SlashCertifier {
                certifier: self.key(),
                fraction_bps: self.0.gen(),
                reason: self.text(),
            },
            _ => GovernanceAction::SetParameter(match self.0.gen_range(0..9) {
                0 => ParameterChange::MinAuthorityStake(self.u64()),
                1 => ParameterChange::MinCertifierStake(self.u64()),
                2 => ParameterChange::UnbondingPeriodBlocks(self.u64()),
                3 => ParameterChange::ProposalTtlBlocks(self.u64()),
                4 => ParameterChange::SlashFractionBps(self.0.gen()),
                5 => ParameterChange::EvidenceMaxAgeBlocks(self.u64()),
                6 => ParameterChange::MaxBlockTransactions(self.0.gen()),
                7 => ParameterChange::MaxBlockBytes(self.u64()),
                _ => ParameterChange::MaxTransactionBytes(self.u64()),
            }),
        }
    }
    fn evidence(&mut self) -> Evidence {
        if self.0.gen() {
            Evidence::Equivocation {
                first: self.vote(),
                second: self.vote(),
            }
        } else {
            let transaction = self.simple_tx();
            Evidence::FakeCredential {
                header: Box::new(self.header()),
                vote: self.vote(),
                transaction,
                proof: self.proof(),
            }
        }
    }
    fn payload(&mut self, depth: u8) -> Payload {
        let kinds = if depth == 0 { 20 } else { 21 };
        match self.0.gen_range(0..kinds) {
            0 => Payload::Transfer {
                to: self.key(),
                amount: self.u64(),
            },
            1 => Payload::RotateKeys {
                signing_key: self.opt(Gen::key),
                encryption_key: self.opt(Gen::enc),
            },
            2 => Payload::RegisterSubject {
                encryption_key: self.enc(),
                work: self.u64(),
            },
            3 => Payload::RegisterOrganization {
                name: self.text(),
                kind: OrganizationKind::LicensingBoard,
                encryption_key: self.enc(),
                work: self.u64(),
            },
            4 => Payload::RegisterCertifier {
                name: self.text(),
                encryption_key: self.enc(),
                work: self.u64(),
            },
            5 => Payload::Bond { amount: self.u64() },
            6 => Payload::Unbond { amount: self.u64() },
            7 => Payload::WithdrawUnbonded,
            8 => Payload::RegisterSchema(Box::new(SchemaDefinition {
                id: self.text(),
                description: self.text(),
                prerequisites: vec![self.text()],
                output: self.text(),
                completion_condition: self.text(),
                max_validity_ms: self.opt(Gen::u64),
                fields: vec![
                    FieldSpec::required(&self.text(), FieldKind::Text),
                    FieldSpec::optional(&self.text(), FieldKind::Number { unit: self.text() }),
                    FieldSpec::required(
                        &self.text(),
                        FieldKind::Code {
                            system: self.text(),
                        },
                    ),
                    FieldSpec::optional(&self.text(), FieldKind::Date),
                    FieldSpec::optional(&self.text(), FieldKind::Boolean),
                ],
                fhir_resource: self.opt(Gen::text),
            })),
            9 => Payload::IssueCredential(Box::new(CredentialIssuance {
                claim: CredentialClaim {
                    schema: self.text(),
                    subject: self.key(),
                    certifier: self.key(),
                    commitment: self.hash(),
                    valid_from_ms: self.u64(),
                    valid_until_ms: self.u64(),
                    practitioner: self.opt(Gen::key),
                    supersedes: self.opt(Gen::hash),
                    status_index: self.u64(),
                },
                certifier_signature: self.sig(),
                content: {
                    let content = EncryptedContent {
                        nonce: self.bytes(),
                        ciphertext: self.blob(),
                    };
                    self.erasable(content)
                },
                subject_key: {
                    let sealed = self.sealed();
                    self.erasable(sealed)
                },
            })),
            10 => Payload::RevokeCredential {
                credential: self.hash(),
                reason: self.text(),
            },
            11 => Payload::RequestAccess {
                subject: self.key(),
                credentials: vec![self.hash(), self.hash()],
                purpose: self.note(),
            },
            12 => Payload::GrantAccess {
                credential: self.hash(),
                grantee: self.key(),
                request: self.opt(Gen::hash),
                sealed_key: {
                    let sealed = self.sealed();
                    self.erasable(sealed)
                },
                expires_at_ms: self.u64(),
            },
            13 => Payload::RevokeGrant { grant: self.hash() },
            14 => Payload::RecordInspection {
                grant: self.hash(),
                outcome: self.note(),
            },
            15 => Payload::Propose {
                action: self.action(),
            },
            16 => Payload::Vote {
                proposal: self.u64(),
                approve: self.0.gen(),
            },
            17 => Payload::Delegate {
                practitioner: self.key(),
                role: self.hash(),
                schemas: vec![self.text(), self.text()],
                valid_from_ms: self.u64(),
                valid_until_ms: self.u64(),
            },
            19 => Payload::GrantAccessSet {
                grantee: self.key(),
                request: self.opt(Gen::hash),
                selection: if self.0.gen() {
                    GrantSelection::Schema(self.text())
                } else {
                    GrantSelection::Listed
                },
                entries: vec![GrantedEntry {
                    credential: self.hash(),
                    sealed_key: {
                        let sealed = self.sealed();
                        self.erasable(sealed)
                    },
                }],
                expires_at_ms: self.u64(),
            },
            18 => Payload::RevokeDelegation {
                practitioner: self.key(),
                reason: self.text(),
            },
            _ => Payload::SubmitEvidence(Box::new(self.evidence())),
        }
    }
    fn simple_tx(&mut self) -> SignedTransaction {
        let payload = self.payload(0);
        SignedTransaction {
            tx: Transaction {
                chain_id: self.text(),
                sender: self.key(),
                nonce: self.u64(),
                payload,
            },
            signature: self.sig(),
        }
    }
    fn tx(&mut self) -> SignedTransaction {
        let payload = self.payload(1);
        SignedTransaction {
            tx: Transaction {
                chain_id: self.text(),
                sender: self.key(),
                nonce: self.u64(),
                payload,
            },
            signature: self.sig(),
        }
    }
    fn certificate(&mut self) -> CommitCertificate {
        let n = self.0.gen_range(0..5);
        CommitCertificate {
            height: self.u64(),
            round: self.0.gen(),
            block: self.hash(),
            signatures: (0..n)
                .map(|_| CommitSignature {
                    validator: self.key(),
                    signature: self.sig(),
                })
                .collect(),
        }
    }
    fn block(&mut self) -> Block {
        let n = self.0.gen_range(0..4);
        let transactions: Vec<_> = (0..n).map(|_| self.tx()).collect();
        let mut header = self.header();
        header.tx_root = tx_root(&transactions);
        Block {
            header,
            last_commit: self.opt(Gen::certificate),
            transactions,
        }
    }
}

fn round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = codec::encode(value);
    let back: T = codec::decode(&bytes).expect("decodes its own encoding");
    assert_eq!(&back, value);
    assert_eq!(codec::encode(&back), bytes, "encoding is canonical");
    assert_eq!(codec::encoded_len(value), bytes.len());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        codec::decode::<T>(&longer).is_err(),
        "trailing bytes accepted"
    );
    if !bytes.is_empty() {
        assert!(
            codec::decode::<T>(&bytes[..bytes.len() - 1]).is_err(),
            "truncation accepted"
        );
    }
}

/// Decodes `bytes` as every wire type; must never panic.
fn decode_all(bytes: &[u8]) {
    let _ = codec::decode::<SignedTransaction>(bytes);
    let _ = codec::decode::<Transaction>(bytes);
    let _ = codec::decode::<Payload>(bytes);
    let _ = codec::decode::<Block>(bytes);
    let _ = codec::decode::<Header>(bytes);
    let _ = codec::decode::<SignedVote>(bytes);
    let _ = codec::decode::<CommitCertificate>(bytes);
    let _ = codec::decode::<Evidence>(bytes);
    let _ = codec::decode::<MerkleProof>(bytes);
    let _ = codec::decode::<mpms_ledger::records::Credential>(bytes);
    let _ = codec::decode::<mpms_ledger::records::Account>(bytes);
    let _ = codec::decode::<mpms_ledger::records::Proposal>(bytes);
    let _ = codec::decode::<mpms_ledger::AuthoritySet>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_wire_type_round_trips(seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        round_trip(&g.tx());
        round_trip(&g.tx().tx);
        round_trip(&g.payload(1));
        round_trip(&g.block());
        round_trip(&g.header());
        round_trip(&g.vote());
        round_trip(&g.certificate());
        round_trip(&g.evidence());
        round_trip(&g.proof());
        round_trip(&g.action());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(seed in any::<u64>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut g = Gen::new(seed);
        let mut bytes = codec::encode(&g.block());
        for (pos, val) in flips {
            let i = pos % bytes.len();
            bytes[i] = val;
        }
        decode_all(&bytes);
        decode_all(&bytes[..cut % (bytes.len() + 1)]);
    }

    #[test]
    fn merkle_proof_tampering_fails(n in 1usize..=257, leaf in any::<usize>(), target in 0u8..3, pos in any::<usize>(), bit in 0u8..8) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("tx-{i}").into_bytes()).collect();
        let tree = MerkleTree::from_data(&leaves);
        let root = tree.root();
        let i = leaf % n;
        let proof = tree.proof(i).unwrap();
        prop_assert!(proof.verify(&root, &leaves[i]));
        let mask = 1u8 << bit;
        match target {
            0 => {
                let mut data = leaves[i].clone();
                let p = pos % data.len();
                data[p] ^= mask;
                prop_assert!(!proof.verify(&root, &data));
            }
            1 => {
                let mut bytes = codec::encode(&proof);
                let p = pos % bytes.len();
                bytes[p] ^= mask;
                if let Ok(changed) = codec::decode::<MerkleProof>(&bytes) {
                    prop_assert!(!changed.verify(&root, &leaves[i]), "tampered proof verified");
                }
            }
            _ => {
                let mut bytes = *root.as_bytes();
                bytes[pos % 32] ^= mask;
                prop_assert!(!proof.verify(&Hash::from_bytes(bytes), &leaves[i]));
            }
        }
    }
}

/// Every leaf of every tree of 1..=257 leaves verifies, and not at another index.
#[test]
fn merkle_every_leaf_of_every_size_verifies() {
    for n in 1..=257usize {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("tx-{i}").into_bytes()).collect();
        let tree = MerkleTree::from_data(&leaves);
        let root = tree.root();
        assert_eq!(
            root,
            merkle::root_of(
                &leaves
                    .iter()
                    .map(|l| merkle::leaf_hash(l))
                    .collect::<Vec<_>>()
            )
        );
        for (i, leaf) in leaves.iter().enumerate() {
            let proof = tree.proof(i).unwrap();
            assert!(proof.verify(&root, leaf), "n={n} i={i}");
            let other = (i + 1) % n;
            if other != i {
                assert!(
                    !proof.verify(&root, &leaves[other]),
                    "n={n} i={i} verified another leaf"
                );
            }
        }
        assert!(tree.proof(n).is_none());
    }
}

/// Exhaustive single-bit flips of the encoded proof, for every leaf of a few sizes.
#[test]
fn merkle_every_proof_byte_matters() {
    for n in [1usize, 2, 3, 5, 8, 13, 64, 100] {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("tx-{i}").into_bytes()).collect();
        let tree = MerkleTree::from_data(&leaves);
        let root = tree.root();
        for (i, leaf) in leaves.iter().enumerate() {
            let bytes = codec::encode(&tree.proof(i).unwrap());
            for p in 0..bytes.len() {
                for bit in 0..8 {
                    let mut b = bytes.clone();
                    b[p] ^= 1 << bit;
                    if let Ok(changed) = codec::decode::<MerkleProof>(&b) {
                        assert!(
                            !changed.verify(&root, leaf),
                            "n={n} i={i} byte {p} bit {bit}"
                        );
                    }
                }
            }
        }
    }
}
