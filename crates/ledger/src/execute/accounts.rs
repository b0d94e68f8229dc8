//! Accounts, roles, keys and stake.

use mpms_crypto::{EncryptionKey, PublicKey};

use super::error::TxError;
use super::txn::Txn;
use crate::records::{
    keys, Account, AccreditationStatus, Admission, Authority, Certifier, Organization, Subject,
    Unbonding,
};
use crate::transaction::OrganizationKind;
use crate::{AccountId, History};

/// Longest name of an organization or certifier.
pub(crate) const MAX_NAME: usize = 128;

pub(crate) fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<(), TxError> {
    if required && text.trim().is_empty() {
        return Err(TxError::field(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(TxError::field(field, format!("longer than {max} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(TxError::field(field, "contains control characters"));
    }
    Ok(())
}

fn positive(field: &'static str, amount: u64) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::field(field, "must be positive"));
    }
    Ok(())
}

pub(super) fn transfer(
    txn: &mut Txn,
    sender: AccountId,
    to: AccountId,
    amount: u64,
) -> Result<(), TxError> {
    positive("amount", amount)?;
    if to == sender {
        return Err(TxError::field("to", "cannot transfer to oneself"));
    }
    let mut from = txn.account(&sender)?;
    let mut recipient = txn.account(&to)?;
    if from.balance < amount {
        return Err(TxError::InsufficientBalance {
            needed: amount,
            available: from.balance,
        });
    }
    from.balance -= amount;
    recipient.balance = recipient
        .balance
        .checked_add(amount)
        .ok_or_else(|| TxError::field("amount", "recipient balance would overflow"))?;
    txn.put_account(&sender, &from);
    txn.put_account(&to, &recipient);
    Ok(())
}

/// Most signing-key versions an account keeps above the history floor.
pub(crate) const MAX_KEY_VERSIONS: usize = 16;

pub(super) fn rotate_keys(
    txn: &mut Txn,
    sender: AccountId,
    signing_key: Option<PublicKey>,
    encryption_key: Option<EncryptionKey>,
) -> Result<(), TxError> {
    if signing_key.is_none() && encryption_key.is_none() {
        return Err(TxError::field("keys", "nothing to rotate"));
    }
    if let Some(key) = signing_key {
        if !key.is_valid() {
            return Err(TxError::field("signing_key", "not a valid ed25519 key"));
        }
        let mut account = txn.account(&sender)?;
        // Takes effect from the next height: every signature in this block is checked
        // against the keys in force when the block started.
        let from = txn.next_height();
        // Old keys are kept as long as evidence about their heights can be judged
        // (from the history floor on); above it an account may change its key only
        // so often, so the record stays small however often it is asked to rotate.
        let floor = txn.history_floor();
        account.signing_keys.forget_before(floor);
        let replaces_pending = account
            .signing_keys
            .entries()
            .last()
            .is_some_and(|(at, _)| *at == from);
        if !replaces_pending && account.signing_keys.entries().len() >= MAX_KEY_VERSIONS {
            return Err(TxError::field(
                "signing_key",
                format!(
                    "{MAX_KEY_VERSIONS} signing keys are already kept since height {floor} (the history evidence is judged on): wait before rotating again"
                ),
            ));
        }
        account.signing_keys.set(from, key);
        txn.put_account(&sender, &account);
    }
    if let Some(key) = encryption_key {
        let mut rotated = false;
        if let Some(mut s) = txn.get::<Subject>(&keys::subject(&sender))? {
            s.encryption_key = key;
            txn.put(keys::subject(&sender), &s);
            rotated = true;
        }
        if let Some(mut o) = txn.get::<Organization>(&keys::organization(&sender))? {
            o.encryption_key = key;
            txn.put(keys::organization(&sender), &o);
            rotated = true;
        }
        if let Some(mut c) = txn.get::<Certifier>(&keys::certifier(&sender))? {
            c.encryption_key = key;
            txn.put(keys::certifier(&sender), &c);
            rotated = true;
        }
        if !rotated {
            return Err(TxError::field(
                "encryption_key",
                "the account has no role with an encryption key",
            ));
        }
    }
    Ok(())
}

pub(super) fn register_subject(
    txn: &mut Txn,
    sender: AccountId,
    encryption_key: EncryptionKey,
) -> Result<(), TxError> {
    if txn.contains(&keys::subject(&sender))? {
        return Err(TxError::AlreadyRegistered("subject"));
    }
    let subject = Subject {
        encryption_key,
        registered_height: txn.height(),
    };
    txn.put(keys::subject(&sender), &subject);
    Ok(())
}

pub(super) fn register_organization(
    txn: &mut Txn,
    sender: AccountId,
    name: &str,
    kind: OrganizationKind,
    encryption_key: EncryptionKey,
) -> Result<(), TxError> {
    check_text("name", name, MAX_NAME, true)?;
    if txn.contains(&keys::organization(&sender))? {
        return Err(TxError::AlreadyRegistered("organization"));
    }
    let org = Organization {
        name: name.to_string(),
        kind,
        encryption_key,
        registered_height: txn.height(),
        admission: Admission::Pending,
    };
    txn.put(keys::organization(&sender), &org);
    Ok(())
}

pub(super) fn register_certifier(
    txn: &mut Txn,
    sender: AccountId,
    name: &str,
    encryption_key: EncryptionKey,
) -> Result<(), TxError> {
    check_text("name", name, MAX_NAME, true)?;
    if txn.contains(&keys::certifier(&sender))? {
        return Err(TxError::AlreadyRegistered("certifier"));
    }
    let certifier = Certifier {
        name: name.to_string(),
        encryption_key,
        registered_height: txn.height(),
        accreditation: History::new(
            txn.height(),
            crate::records::Accreditation {
                status: AccreditationStatus::Pending,
                scope: Vec::new(),
                valid_from_ms: 0,
                valid_until_ms: 0,
            },
        ),
    };
    txn.put(keys::certifier(&sender), &certifier);
    Ok(())
}

pub(super) fn bond(txn: &mut Txn, sender: AccountId, amount: u64) -> Result<(), TxError> {
    positive("amount", amount)?;
    let mut account = txn.account(&sender)?;
    if account.balance < amount {
        return Err(TxError::InsufficientBalance {
            needed: amount,
            available: account.balance,
        });
    }
    account.balance -= amount;
    account.bonded = account
        .bonded
        .checked_add(amount)
        .ok_or_else(|| TxError::field("amount", "bonded stake would overflow"))?;
    txn.put_account(&sender, &account);
    Ok(())
}

/// The stake `account` must keep bonded for the roles it holds now: each role backs
/// its own liability, so an authority that is also a certifier keeps both minimums.
/// A suspended certifier keeps all its stake bonded for `unbonding_period_blocks`
/// after the suspension, so governance has that long to slash it.
fn locked_stake(txn: &Txn, id: &AccountId) -> Result<(u64, String), TxError> {
    let params = &txn.meta.params;
    let mut locked = 0u64;
    let mut roles = Vec::new();
    if let Some(authority) = txn.get::<Authority>(&keys::authority(id))? {
        if authority.active_at(txn.height()) || authority.active_at(txn.next_height()) {
            locked = locked.saturating_add(params.min_authority_stake);
            roles.push("an active authority");
        }
    }
    if let Some(certifier) = txn.get::<Certifier>(&keys::certifier(id))? {
        let status = |h| certifier.accreditation.at(h).map(|a| &a.status);
        let accredited = |h| matches!(status(h), Some(AccreditationStatus::Accredited));
        if accredited(txn.height()) || accredited(txn.next_height()) {
            locked = locked.saturating_add(params.min_certifier_stake);
            roles.push("an accredited certifier");
        }
        let suspended_since = certifier
            .accreditation
            .entries()
            .iter()
            .rev()
            .find(|(_, a)| a.status.is_suspended())
            .map(|(from, _)| *from);
        let suspended = status(txn.next_height()).is_some_and(AccreditationStatus::is_suspended);
        if let (true, Some(since)) = (suspended, suspended_since) {
            if txn.height() < since.saturating_add(params.unbonding_period_blocks) {
                locked = u64::MAX;
                roles.push("a suspended certifier (until governance has had time to slash)");
            }
        }
    }
    Ok((locked, roles.join(" and ")))
}

/// Most unbonding entries an account holds at once (entries maturing at the same
/// height are merged): the account record stays small however often it unbonds.
pub(crate) const MAX_UNBONDING_ENTRIES: usize = 32;

pub(super) fn unbond(txn: &mut Txn, sender: AccountId, amount: u64) -> Result<(), TxError> {
    positive("amount", amount)?;
    let mut account = txn.account(&sender)?;
    if account.bonded < amount {
        return Err(TxError::InsufficientStake {
            needed: amount,
            available: account.bonded,
        });
    }
    let (locked, roles) = locked_stake(txn, &sender)?;
    if account.bonded - amount < locked {
        return Err(TxError::StakeLocked(if locked == u64::MAX {
            format!("{roles} cannot unbond yet")
        } else {
            format!("{roles} must keep {locked} bonded")
        }));
    }
    let release_height = txn
        .height()
        .saturating_add(txn.meta.params.unbonding_period_blocks);
    let pending = account.unbonding.len();
    match account
        .unbonding
        .iter_mut()
        .find(|u| u.release_height == release_height)
    {
        Some(entry) => {
            entry.amount = entry
                .amount
                .checked_add(amount)
                .ok_or_else(|| TxError::field("amount", "unbonding stake would overflow"))?;
        }
        None if pending >= MAX_UNBONDING_ENTRIES => {
            return Err(TxError::field(
                "amount",
                format!(
                    "{MAX_UNBONDING_ENTRIES} unbondings are already pending: withdraw matured ones first, or wait"
                ),
            ));
        }
        None => account.unbonding.push(Unbonding {
            release_height,
            amount,
        }),
    }
    account.bonded -= amount;
    txn.put_account(&sender, &account);
    Ok(())
}

pub(super) fn withdraw(txn: &mut Txn, sender: AccountId) -> Result<(), TxError> {
    let mut account: Account = txn.account(&sender)?;
    let height = txn.height();
    let matured: u64 = account
        .unbonding
        .iter()
        .filter(|u| u.release_height <= height)
        .try_fold(0u64, |sum, u| sum.checked_add(u.amount))
        .ok_or_else(|| TxError::field("unbonding", "matured stake would overflow"))?;
    if matured == 0 {
        return Err(TxError::NothingToWithdraw);
    }
    account.unbonding.retain(|u| u.release_height > height);
    account.balance = account
        .balance
        .checked_add(matured)
        .ok_or_else(|| TxError::field("balance", "would overflow"))?;
    txn.put_account(&sender, &account);
    Ok(())
}

/// Burns `fraction_bps` of `id`'s bonded and unbonding stake; returns the amount burned.
pub(super) fn burn_stake(txn: &mut Txn, id: &AccountId, fraction_bps: u32) -> Result<u64, TxError> {
    let mut account = txn.account(id)?;
    let cut = |amount: u64| -> u64 {
        let burned = u128::from(amount) * u128::from(fraction_bps.min(10_000)) / 10_000;
        u64::try_from(burned).unwrap_or(amount)
    };
    let mut burned = cut(account.bonded);
    account.bonded -= burned;
    for entry in &mut account.unbonding {
        let b = cut(entry.amount);
        entry.amount -= b;
        burned += b;
    }
    txn.put_account(id, &account);
    Ok(burned)
}
