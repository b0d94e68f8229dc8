//! A transaction's view of state: reads go through its own writes, then the block's,
//! then committed state; writes stay local until the transaction succeeds.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{BlockContext, Event, IssuanceView};
use crate::execute::error::TxError;
use crate::records::{keys, Account, ChainMeta};
use crate::state::State;
use crate::{codec, AccountId};

/// One transaction's writes (`None` deletes the key).
pub(crate) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The writes of the block so far. Read by every transaction, so hashed rather than
/// ordered; sorted once when the block ends.
pub(crate) type BlockWrites = foldhash::HashMap<Vec<u8>, Option<Vec<u8>>>;

/// Committed-state reads of the current block. Committed state does not change while
/// a block executes, so a value read once (a certifier, a schema) is not read again,
/// and a record that many transactions consult is decoded once ([`Txn::shared`]).
/// (Hashed with a fast, randomly seeded hasher: keys come from transactions.)
#[derive(Default)]
pub(crate) struct ReadCache {
    raw: RefCell<foldhash::HashMap<Vec<u8>, Option<Vec<u8>>>>,
    decoded: RefCell<foldhash::HashMap<Vec<u8>, Rc<dyn Any>>>,
}

impl ReadCache {
    /// Adds values of committed state fetched ahead; keys already read stay as they are.
    pub fn warm(&self, values: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>) {
        let mut raw = self.raw.borrow_mut();
        for (key, value) in values {
            raw.entry(key).or_insert(value);
        }
    }
}

pub(crate) struct Txn<'a> {
    base: &'a dyn State,
    cache: &'a ReadCache,
    block: &'a BlockWrites,
    writes: Writes,
    pub ctx: &'a BlockContext,
    pub meta: &'a ChainMeta,
    /// Which state issuances are judged by.
    pub view: IssuanceView,
    pub events: Vec<Event>,
    pub authorities_changed: bool,
}

impl<'a> Txn<'a> {
    pub fn new(
        base: &'a dyn State,
        cache: &'a ReadCache,
        block: &'a BlockWrites,
        ctx: &'a BlockContext,
        meta: &'a ChainMeta,
        view: IssuanceView,
    ) -> Txn<'a> {
        Txn {
            base,
            cache,
            block,
            writes: Writes::new(),
            ctx,
            meta,
            view,
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

    /// The lowest height whose history this block holds: versions of keys and terms
    /// in force from it on are kept, evidence about an older height is refused.
    pub fn history_floor(&self) -> u64 {
        self.meta.history_floor(self.ctx.height)
    }

    /// The height from which changes made now take effect.
    pub fn next_height(&self) -> u64 {
        self.ctx.height + 1
    }

    /// Whether this transaction or an earlier one of the block wrote `key`.
    fn written(&self, key: &[u8]) -> bool {
        self.writes.contains_key(key) || self.block.contains_key(key)
    }

    /// Runs `f` on the current bytes under `key` (without copying them): this
    /// transaction's writes, then the block's, then committed state.
    fn with_raw<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R, TxError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(f(v.as_deref()));
        }
        if let Some(v) = self.block.get(key) {
            return Ok(f(v.as_deref()));
        }
        if let Some(v) = self.cache.raw.borrow().get(key) {
            return Ok(f(v.as_deref()));
        }
        let value = self.base.get(key)?;
        let out = f(value.as_deref());
        self.cache.raw.borrow_mut().insert(key.to_vec(), value);
        Ok(out)
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, TxError> {
        self.with_raw(key, |bytes| bytes.map(codec::decode::<T>))?
            .transpose()
            .map_err(|e| TxError::CorruptState(format!("{e} at key {}", hex::encode(key))))
    }

    /// Like [`Txn::get`], for records that many transactions of a block read and few
    /// write (a certifier, a schema): a committed record is decoded once per block and
    /// shared.
    pub fn shared<T: DeserializeOwned + 'static>(
        &self,
        key: &[u8],
    ) -> Result<Option<Rc<T>>, TxError> {
        if self.written(key) {
            return Ok(self.get::<T>(key)?.map(Rc::new));
        }
        if let Some(any) = self.cache.decoded.borrow().get(key) {
            if let Ok(value) = Rc::clone(any).downcast::<T>() {
                return Ok(Some(value));
            }
        }
        let value = self.get::<T>(key)?.map(Rc::new);
        if let Some(value) = &value {
            let any: Rc<dyn Any> = value.clone();
            self.cache.decoded.borrow_mut().insert(key.to_vec(), any);
        }
        Ok(value)
    }

    pub fn contains(&self, key: &[u8]) -> Result<bool, TxError> {
        self.with_raw(key, |bytes| bytes.is_some())
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
