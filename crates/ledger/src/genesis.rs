//! The chain's starting state, read from a JSON genesis file.

use std::collections::{BTreeMap, BTreeSet};

use mpms_crypto::{EncryptionKey, Hash, PublicKey};
use serde::{Deserialize, Serialize};

use crate::block::{tx_root, Header};
use crate::execute::valid_scope_pattern;
use crate::records::{
    keys, Account, Accreditation, AccreditationStatus, Admission, Authority, AuthorityStatus,
    Certifier, Organization,
};
use crate::state::{MemState, StateChanges};
use crate::transaction::OrganizationKind;
use crate::vote::{AuthorityMember, AuthoritySet};
use crate::{codec, AccountId, History, Params};

/// An authority present from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenesisAuthority {
    /// Operator account.
    pub operator: AccountId,
    /// Consensus key.
    pub consensus_key: PublicKey,
    /// libp2p peer id of its node.
    pub peer_id: String,
    /// Bonded stake.
    pub stake: u64,
    /// Spendable balance.
    #[serde(default)]
    pub balance: u64,
}

/// An account funded at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The account.
    pub id: AccountId,
    /// Spendable balance.
    pub balance: u64,
}

/// An organization registered at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenesisOrganization {
    /// The account.
    pub account: AccountId,
    /// Public name.
    pub name: String,
    /// Kind.
    pub kind: OrganizationKind,
    /// Encryption key.
    pub encryption_key: EncryptionKey,
}

/// A certifier accredited at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenesisCertifier {
    /// The account.
    pub account: AccountId,
    /// Public name.
    pub name: String,
    /// Encryption key.
    pub encryption_key: EncryptionKey,
    /// Bonded stake.
    pub stake: u64,
    /// Accredited scope.
    pub scope: Vec<String>,
    /// Accreditation start (Unix milliseconds).
    pub valid_from_ms: u64,
    /// Accreditation end (Unix milliseconds).
    pub valid_until_ms: u64,
}

/// The genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id: 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
    pub chain_id: String,
    /// Time of the genesis block (Unix milliseconds).
    pub genesis_time_ms: u64,
    /// Parameters (defaults if omitted).
    #[serde(default)]
    pub params: Params,
    /// The first authorities, in proposer order.
    pub authorities: Vec<GenesisAuthority>,
    /// Funded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Registered organizations.
    #[serde(default)]
    pub organizations: Vec<GenesisOrganization>,
    /// Accredited certifiers.
    #[serde(default)]
    pub certifiers: Vec<GenesisCertifier>,
}

/// Why a genesis file is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Not valid JSON for a genesis (the message names the field).
    #[error("genesis file: {0}")]
    Parse(String),
    /// A field is invalid.
    #[error("genesis field {field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Genesis applied: the state writes and the genesis block header (height 0).
#[derive(Debug, Clone)]
pub struct GenesisState {
    /// The initial state.
    pub changes: StateChanges,
    /// The genesis header.
    pub header: Header,
    /// The authority set of height 1.
    pub authority_set: AuthoritySet,
}

/// Whether `id` is a well-formed chain id.
pub fn valid_chain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl Genesis {
    /// Parses a genesis file.
    pub fn from_json(text: &[u8]) -> Result<Genesis, GenesisError> {
        serde_json::from_slice(text).map_err(|e| GenesisError::Parse(e.to_string()))
    }

    /// The genesis as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the genesis and computes the initial state and header.
    pub fn build(&self) -> Result<GenesisState, GenesisError> {
        if !valid_chain_id(&self.chain_id) {
            return Err(invalid(
                "chain_id",
                "1 to 64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        self.params
            .validate()
            .map_err(|reason| invalid("params", reason))?;
        if self.authorities.is_empty() {
            return Err(invalid("authorities", "at least one authority is required"));
        }
        let mut accounts: BTreeMap<AccountId, Account> = BTreeMap::new();
        // The whole supply (every balance and stake) must fit: later transfers and
        // bonds add amounts up, and they must never overflow.
        let mut supply: u64 = 0;
        let mut fund = |id: AccountId, balance: u64, bonded: u64, field: &str| {
            supply = supply
                .checked_add(balance)
                .and_then(|s| s.checked_add(bonded))
                .ok_or_else(|| {
                    invalid(field, "the total supply of balances and stakes overflows")
                })?;
            let account = accounts.entry(id).or_insert_with(|| Account::new(id, 0));
            account.balance = account
                .balance
                .checked_add(balance)
                .ok_or_else(|| invalid(field, "balance overflows"))?;
            account.bonded = account
                .bonded
                .checked_add(bonded)
                .ok_or_else(|| invalid(field, "stake overflows"))?;
            Ok::<(), GenesisError>(())
        };
        let mut changes = StateChanges::default();
        let mut put = |key: Vec<u8>, bytes: Vec<u8>| {
            changes.writes.insert(key, Some(bytes));
        };

        let mut operators = BTreeSet::new();
        let mut consensus_keys = BTreeSet::new();
        let mut members = Vec::new();
        for (i, a) in self.authorities.iter().enumerate() {
            let field = format!("authorities[{i}]");
            if !a.operator.is_valid() || !a.consensus_key.is_valid() {
                return Err(invalid(
                    &field,
                    "operator and consensus_key must be valid ed25519 keys",
                ));
            }
            if !operators.insert(a.operator) {
                return Err(invalid(&field, "operator listed twice"));
            }
            if !consensus_keys.insert(a.consensus_key) {
                return Err(invalid(&field, "consensus_key listed twice"));
            }
            if a.stake < self.params.min_authority_stake {
                return Err(invalid(
                    &field,
                    format!(
                        "stake {} is below min_authority_stake {}",
                        a.stake, self.params.min_authority_stake
                    ),
                ));
            }
            if a.peer_id.is_empty() || a.peer_id.len() > 128 {
                return Err(invalid(&field, "peer_id must be 1 to 128 characters"));
            }
            fund(a.operator, a.balance, a.stake, &field)?;
            let record = Authority {
                operator: a.operator,
                consensus_keys: History::new(0, a.consensus_key),
                status: History::new(0, AuthorityStatus::Active),
                peer_id: a.peer_id.clone(),
                slashed: 0,
            };
            put(keys::authority(&a.operator), codec::encode(&record));
            members.push(AuthorityMember {
                operator: a.operator,
                consensus_key: a.consensus_key,
            });
        }
        let index: Vec<AccountId> = members.iter().map(|m| m.operator).collect();
        let authority_set = AuthoritySet { members };

        let mut seen = BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let field = format!("accounts[{i}]");
            if !seen.insert(a.id) {
                return Err(invalid(&field, "account listed twice"));
            }
            fund(a.id, a.balance, 0, &field)?;
        }
        // A set, not a scan of the list so far: a genesis from outside (a proof
        // bundle's) may list very many.
        let mut organizations = BTreeSet::new();
        for (i, o) in self.organizations.iter().enumerate() {
            let field = format!("organizations[{i}]");
            if o.name.trim().is_empty() || o.name.len() > 128 {
                return Err(invalid(&field, "name must be 1 to 128 characters"));
            }
            let key = keys::organization(&o.account);
            if !organizations.insert(o.account) {
                return Err(invalid(&field, "organization listed twice"));
            }
            fund(o.account, 0, 0, &field)?;
            let record = Organization {
                name: o.name.clone(),
                kind: o.kind,
                encryption_key: o.encryption_key,
                registered_height: 0,
                // The consortium's founding organizations are admitted.
                admission: Admission::Admitted(0),
            };
            put(key, codec::encode(&record));
        }
        let mut certifiers = BTreeSet::new();
        for (i, c) in self.certifiers.iter().enumerate() {
            let field = format!("certifiers[{i}]");
            if !certifiers.insert(c.account) {
                return Err(invalid(&field, "certifier listed twice"));
            }
            if c.name.trim().is_empty() || c.name.len() > 128 {
                return Err(invalid(&field, "name must be 1 to 128 characters"));
            }
            if c.stake < self.params.min_certifier_stake {
                return Err(invalid(&field, "stake is below min_certifier_stake"));
            }
            if c.scope.is_empty() || c.scope.iter().any(|p| !valid_scope_pattern(p)) {
                return Err(invalid(
                    &field,
                    "scope must list valid schema ids or prefixes ending in *",
                ));
            }
            if c.valid_until_ms <= c.valid_from_ms {
                return Err(invalid(
                    &field,
                    "valid_until_ms must be after valid_from_ms",
                ));
            }
            fund(c.account, 0, c.stake, &field)?;
            let record = Certifier {
                name: c.name.clone(),
                encryption_key: c.encryption_key,
                registered_height: 0,
                accreditation: History::new(
                    0,
                    Accreditation {
                        status: AccreditationStatus::Accredited,
                        scope: c.scope.clone(),
                        valid_from_ms: c.valid_from_ms,
                        valid_until_ms: c.valid_until_ms,
                    },
                ),
            };
            put(keys::certifier(&c.account), codec::encode(&record));
        }
        for (id, account) in &accounts {
            put(keys::account(id), codec::encode(account));
        }
        put(keys::chain_id(), codec::encode(&self.chain_id));
        put(keys::params(), codec::encode(&self.params));
        put(keys::next_proposal(), codec::encode(&1u64));
        put(keys::authority_index(), codec::encode(&index));
        put(keys::authority_set(), codec::encode(&authority_set));
        // Version 0 of the state tree, from an empty one (reading an empty state
        // cannot fail).
        let (state_root, tree) = crate::state::tree::update(&MemState::new(), 0, &changes.writes)
            .map_err(|e| invalid("state", e.to_string()))?;
        changes.tree = tree;

        let header = Header {
            chain_id: self.chain_id.clone(),
            height: 0,
            parent: Hash::ZERO,
            time_ms: self.genesis_time_ms,
            proposer: authority_set.members[0].operator,
            tx_root: tx_root(&[]),
            tx_count: 0,
            state_root,
            authority_set: authority_set.hash(),
            next_authority_set: authority_set.hash(),
            last_commit: Hash::ZERO,
        };
        Ok(GenesisState {
            changes,
            header,
            authority_set,
        })
    }
}
