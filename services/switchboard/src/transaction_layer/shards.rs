//! The transaction layer's shards: one [`TransactionLayer`] per SIP worker thread (actix
//! arbiter), each owning the transactions of the Call-IDs that hash to it.
//!
//! Every message of a transaction carries the same Call-ID, so the transactions of a call
//! (and of a registration) live on one shard, with their actors, timers and lingering
//! entries on its thread. The transports hand each parsed message straight to the owning
//! shard ([`ShardRouter::route`]); a [`StartClient`](super::StartClient) sent to any shard
//! is forwarded to the owner of the request's Call-ID, so the responses to a request we send
//! find its client transaction.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use actix::Addr;

use super::{Incoming, TransactionLayer};

/// The shard that owns `call_id` among `shards` (at least one). The same on every thread
/// and every run (SipHash with fixed keys).
pub fn shard_of(call_id: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(call_id);
    // The modulo of a u64 by a usize count fits in usize.
    usize::try_from(hash % shards as u64).unwrap_or(0)
}

/// The transaction layers of every shard, in shard order; cheap to clone (see the module
/// documentation).
#[derive(Clone)]
pub struct ShardRouter {
    layers: Arc<[Addr<TransactionLayer>]>,
}

impl ShardRouter {
    /// A router over these layers (shard `i` is `layers[i]`). Panics if there are none.
    pub fn new(layers: Vec<Addr<TransactionLayer>>) -> ShardRouter {
        assert!(
            !layers.is_empty(),
            "a shard router needs at least one layer"
        );
        ShardRouter {
            layers: layers.into(),
        }
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Never: a router has at least one shard.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every shard's layer, in shard order.
    pub fn layers(&self) -> &[Addr<TransactionLayer>] {
        &self.layers
    }

    /// The index of the shard owning `call_id`.
    pub fn shard_of(&self, call_id: &str) -> usize {
        shard_of(call_id, self.layers.len())
    }

    /// The layer owning `call_id`.
    pub fn layer_for(&self, call_id: &str) -> &Addr<TransactionLayer> {
        &self.layers[self.shard_of(call_id)]
    }

    /// Hands a parsed message to the layer owning its Call-ID (shard 0 without one: the
    /// UA core answers requests without a Call-ID itself, so only a response can lack it).
    pub fn route(&self, incoming: Incoming) {
        let call_id = incoming
            .message
            .headers()
            .call_id()
            .map_or("", |c| c.as_ref());
        self.layer_for(call_id).do_send(incoming);
    }
}

impl std::fmt::Debug for ShardRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardRouter")
            .field("shards", &self.layers.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_owns_everything() {
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(shard_of("", 0), 0);
    }

    #[test]
    fn call_ids_spread_over_the_shards_and_stay_put() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let id = format!("{i}-31253@127.0.0.1");
            let shard = shard_of(&id, 4);
            assert_eq!(shard, shard_of(&id, 4), "stable");
            counts[shard] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "uneven spread: {counts:?}");
        }
    }
}
