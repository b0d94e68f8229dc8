//! The block-sync protocol's frames as a peer sends them: requests and responses are
//! read within their size limits and never panic.
#![no_main]

use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;
use mpms_network::wire::{SyncCodec, SYNC_PROTOCOL};
use libp2p::request_response::Codec;

fuzz_target!(|data: &[u8]| {
    let mut codec = SyncCodec {
        max_request_bytes: 1 << 10,
        max_response_bytes: 1 << 20,
    };
    let _ = block_on(codec.read_request(&SYNC_PROTOCOL, &mut &data[..]));
    let _ = block_on(codec.read_response(&SYNC_PROTOCOL, &mut &data[..]));
});
