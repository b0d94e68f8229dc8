//! A validator's safety record in a file beside its consensus keystore
//! (`keys/consensus.safety`): the last statement it signed, rewritten and synced
//! before every statement leaves the node. It outlives the chain data: `data/` can
//! be thrown away and synced again, and the validator still never signs twice.
//!
//! The file holds the chain id, the record (none: the key has signed nothing yet)
//! and a SHA-256 of both. A missing file means the validator does not know what it
//! signed (a home restored from a backup, which leaves the file out): the node then
//! signs nothing until the chain finalizes a block newer than its start.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mpms_consensus::SafetyRecord;
use mpms_core::{SafetyStore, SignedBefore};
use mpms_crypto::Hash;
use mpms_ledger::codec;
use serde::{Deserialize, Serialize};

/// The file's contents, before its checksum.
#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u8,
    chain_id: String,
    content: Content,
}

/// What the file says.
#[derive(Serialize, Deserialize)]
enum Content {
    /// The key has signed nothing yet.
    Never,
    /// The record's encoding.
    Signed(Vec<u8>),
    /// The record was lost; the operator stated the validator signed nothing after
    /// this round of this height.
    AtMost { height: u64, round: u32 },
}

const VERSION: u8 = 1;

/// The safety record file of one validator.
pub struct SafetyFile {
    path: PathBuf,
    chain_id: String,
}

/// Why a safety record file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SafetyFileError {
    /// It could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It holds something else than a safety record of this chain.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl SafetyFile {
    /// The record of `chain_id` in the file at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>, chain_id: impl Into<String>) -> SafetyFile {
        SafetyFile {
            path: path.into(),
            chain_id: chain_id.into(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the marker of a key that has signed nothing yet (with an empty chain id
    /// when the chain is not known yet: valid for any chain).
    pub fn mark_never_signed(&self) -> Result<(), SafetyFileError> {
        self.write(Content::Never)
    }

    /// What the file says the validator signed before.
    pub fn read(&self) -> Result<SignedBefore, SafetyFileError> {
        let invalid = |reason: String| SafetyFileError::Invalid {
            path: self.path.clone(),
            reason,
        };
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SignedBefore::Unknown),
            Err(source) => {
                return Err(SafetyFileError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let Some(split) = bytes.len().checked_sub(32) else {
            return Err(invalid("too short for a safety record".into()));
        };
        let (body, sum) = bytes.split_at(split);
        if Hash::digest(body).as_bytes() != sum {
            return Err(invalid(
                "its checksum does not match: the file is damaged (do not sign with this key until you know what it last signed)".into(),
            ));
        }
        let on_disk: OnDisk =
            codec::decode(body).map_err(|e| invalid(format!("not a safety record: {e}")))?;
        if on_disk.version != VERSION {
            return Err(invalid(format!("unknown version {}", on_disk.version)));
        }
        // A key that never signed has no chain yet (its home may be made before the
        // genesis is known).
        if matches!(on_disk.content, Content::Never) && on_disk.chain_id.is_empty() {
            return Ok(SignedBefore::Never);
        }
        if on_disk.chain_id != self.chain_id {
            return Err(invalid(format!(
                "a safety record of chain {:?}, not {:?}",
                on_disk.chain_id, self.chain_id
            )));
        }
        match on_disk.content {
            Content::Never => Ok(SignedBefore::Never),
            Content::AtMost { height, round } => Ok(SignedBefore::AtMost { height, round }),
            Content::Signed(record) => SafetyRecord::from_bytes(&record)
                .map(|r| SignedBefore::Signed(Box::new(r)))
                .map_err(|e| invalid(e.to_string())),
        }
    }

    /// Records its operator's word for a validator whose record is lost: it signed
    /// nothing after round `round` of height `height`. Refused when the file holds
    /// a record, "never signed" included (the validator knows what it signed).
    pub fn state_signed_at_most(&self, height: u64, round: u32) -> Result<(), SafetyFileError> {
        let known = match self.read()? {
            SignedBefore::Signed(record) => Some(format!(
                "last signed: height {}, round {}",
                record.last.vote.height, record.last.vote.round
            )),
            SignedBefore::Never => Some("it never signed".to_string()),
            SignedBefore::Unknown | SignedBefore::AtMost { .. } => None,
        };
        if let Some(known) = known {
            return Err(SafetyFileError::Invalid {
                path: self.path.clone(),
                reason: format!("the validator's record is here ({known}): nothing to state"),
            });
        }
        self.write(Content::AtMost { height, round })
    }

    /// Replaces the file with `record`, durably: written to a temporary file that is
    /// synced, renamed over the old one, and the directory synced (a crash leaves
    /// the old record or the new one, never a mix).
    fn write(&self, content: Content) -> Result<(), SafetyFileError> {
        let io = |source| SafetyFileError::Io {
            path: self.path.clone(),
            source,
        };
        let on_disk = OnDisk {
            version: VERSION,
            chain_id: self.chain_id.clone(),
            content,
        };
        let mut bytes = codec::encode(&on_disk);
        let sum = Hash::digest(&bytes);
        bytes.extend_from_slice(sum.as_bytes());
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = self.path.with_extension("safety.tmp");
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }

    /// Moves a record the chain store holds (homes made before the record moved
    /// beside the keys) into the file, when the file does not exist yet; the store's
    /// copy is then emptied, so a later loss of the file cannot bring a stale record
    /// back. Returns whether it moved one.
    pub fn adopt_from_store(&self, store: &dyn mpms_store::Store) -> Result<bool, String> {
        if self.path.exists() {
            return Ok(false);
        }
        let Some(bytes) = store.safety_record().map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        if bytes.is_empty() {
            return Ok(false);
        }
        let record = SafetyRecord::from_bytes(&bytes).map_err(|e| e.to_string())?;
        self.write(Content::Signed(record.to_bytes()))
            .map_err(|e| e.to_string())?;
        store.save_safety_record(&[]).map_err(|e| e.to_string())?;
        Ok(true)
    }
}

impl SafetyStore for SafetyFile {
    fn load(&self) -> Result<SignedBefore, String> {
        self.read().map_err(|e| e.to_string())
    }

    fn save(&self, record: &SafetyRecord) -> Result<(), String> {
        self.write(Content::Signed(record.to_bytes()))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mpms_ledger::{Vote, VoteKind};
    use mpms_store::Store;

    fn record(height: u64) -> SafetyRecord {
        let key = mpms_crypto::SigningKey::from_seed(&[3; 32]);
        SafetyRecord {
            last: Vote {
                height,
                round: 0,
                kind: VoteKind::Prevote,
                block: None,
                valid_round: None,
            }
            .sign("chain", key.public_key(), &key),
            earlier: Vec::new(),
            locked: None,
            valid: None,
        }
    }

    #[test]
    fn a_record_round_trips_and_a_missing_file_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let file = SafetyFile::new(dir.path().join("keys/consensus.safety"), "chain");
        assert_eq!(file.read().unwrap(), SignedBefore::Unknown);
        file.mark_never_signed().unwrap();
        assert_eq!(file.read().unwrap(), SignedBefore::Never);
        file.save(&record(7)).unwrap();
        assert_eq!(
            file.read().unwrap(),
            SignedBefore::Signed(Box::new(record(7)))
        );
        // A leftover temporary file from a crash mid-write changes nothing.
        std::fs::write(file.path().with_extension("safety.tmp"), b"junk").unwrap();
        assert_eq!(
            file.read().unwrap(),
            SignedBefore::Signed(Box::new(record(7)))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn an_operator_states_where_a_lost_record_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let file = SafetyFile::new(dir.path().join("consensus.safety"), "chain");
        file.state_signed_at_most(12, 40).unwrap();
        assert_eq!(
            file.read().unwrap(),
            SignedBefore::AtMost {
                height: 12,
                round: 40
            }
        );
        // Not over a record the validator has.
        file.save(&record(7)).unwrap();
        let err = file.state_signed_at_most(12, 40).unwrap_err().to_string();
        assert!(err.contains("last signed: height 7"), "{err}");
    }

    #[test]
    fn a_damaged_file_or_another_chain_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consensus.safety");
        let file = SafetyFile::new(&path, "chain");
        file.save(&record(7)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(file.read().unwrap_err().to_string().contains("checksum"));
        file.save(&record(7)).unwrap();
        let other = SafetyFile::new(&path, "another-chain");
        assert!(other
            .read()
            .unwrap_err()
            .to_string()
            .contains("another-chain"));
        std::fs::write(&path, b"x").unwrap();
        assert!(file.read().is_err());
    }

    #[test]
    fn a_record_in_the_store_moves_into_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = SafetyFile::new(dir.path().join("consensus.safety"), "chain");
        let store = mpms_store::MemStore::new();
        store.save_safety_record(&record(9).to_bytes()).unwrap();
        assert!(file.adopt_from_store(&store).unwrap());
        assert_eq!(
            file.read().unwrap(),
            SignedBefore::Signed(Box::new(record(9)))
        );
        assert_eq!(store.safety_record().unwrap(), Some(Vec::new()));
        // Once the file exists, the store is not read again.
        store.save_safety_record(&record(3).to_bytes()).unwrap();
        assert!(!file.adopt_from_store(&store).unwrap());
        assert_eq!(
            file.read().unwrap(),
            SignedBefore::Signed(Box::new(record(9)))
        );
    }
}
