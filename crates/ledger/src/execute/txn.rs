//! A transaction's view of state: reads go through its own writes, then the block's,
//! then committed state; writes stay local until the transaction succeeds.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{BlockContext, Event};
use crate::execute::error::TxError;
use crate::records::{keys, Account, ChainMeta};
use crate::state::State;
use crate::{codec, AccountId};

pub(crate) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Committed-state reads of the current block. Committed state does not change while
/// a block executes, so a value read once (a certifier, a schema) is not read again.
pub(crate) type ReadCache = RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>;

pub(crate) struct Txn<'a> {
    base: &'a dyn State,
    cache: &'a ReadCache,
    block: &'a Writes,
    writes: Writes,
    pub ctx: &'a BlockContext,
    pub meta: &'a ChainMeta,
    pub events: Vec<Event>,
    pub authorities_changed: bool,
}

impl<'a> Txn<'a> {
    pub fn new(
        base: &'a dyn State,
        cache: &'a ReadCache,
        block: &'a Writes,
        ctx: &'a BlockContext,
        meta: &'a ChainMeta,
    ) -> Txn<'a> {
        Txn {
            base,
            cache,
            block,
            writes: Writes::new(),
            ctx,
            meta,
            events: Vec::new(),
            authorities_changed: false,
        }
    }

    pub fn into_writes(self) -> (Writes, Vec<Event>, bool) {
        (self.writes, self.events, self.authorities_changed)
    }

    /// The current height.
    pub fn height(&self) -> u64 {
        self.ctx.height
    }

    /// The height from which changes made now take effect.
    pub fn next_height(&self) -> u64 {
        self.ctx.height + 1
    }

    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.block.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.cache.borrow().get(key) {
            return Ok(v.clone());
        }
        let value = self.base.get(key)?;
        self.cache.borrow_mut().insert(key.to_vec(), value.clone());
        Ok(value)
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, TxError> {
        match self.raw(key)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|e| TxError::CorruptState(format!("{e} at key {}", hex::encode(key)))),
        }
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, TxError> {
        Ok(self.raw(key)?.is_some())
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.writes.insert(key, Some(codec::encode(value)));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    pub fn account(&self, id: &AccountId) -> Result<Account, TxError> {
        self.get(&keys::account(id))?
            .ok_or(TxError::UnknownAccount(*id))
    }

    pub fn put_account(&mut self, id: &AccountId, account: &Account) {
        self.put(keys::account(id), account);
    }

    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
}
