//! Property: for random batches of valid signatures with random corruptions,
//! `verify_batch` and `verify_parallel` (any batch size) give per-item
//! verdicts equal to `verify_single`, and those verdicts are right, whatever
//! the key cache holds: none, a cold one, a warm one, one too small to keep
//! the batch's keys.

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use sluice_engine::sigverify::{
    verify_batch, verify_parallel, verify_parallel_with, verify_single, KeyCache, SigError, SignatureItem,
};
use std::sync::OnceLock;

const KEY_COUNT: usize = 8;

fn signing_keys() -> &'static [SigningKey] {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..KEY_COUNT as u8).map(|i| SigningKey::from_bytes(&[i.wrapping_mul(37).wrapping_add(1); 32])).collect()
    })
}

#[derive(Debug, Clone)]
enum Corruption {
    None,
    SignatureBit(usize),
    KeyBit(usize),
    MessageBit(usize),
    /// Adds ℓ·multiple to S, keeping it ≥ ℓ (the malleated form).
    SAtOrAboveOrder(u8),
    KeyLength(usize),
    SignatureLength(usize),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        6 => Just(Corruption::None),
        2 => (0..512usize).prop_map(Corruption::SignatureBit),
        1 => (0..256usize).prop_map(Corruption::KeyBit),
        1 => (0..64usize).prop_map(Corruption::MessageBit),
        1 => (0u8..8).prop_map(Corruption::SAtOrAboveOrder),
        1 => (0..40usize).prop_filter("not 32", |l| *l != 32).prop_map(Corruption::KeyLength),
        1 => (0..80usize).prop_filter("not 64", |l| *l != 64).prop_map(Corruption::SignatureLength),
    ]
}

struct Owned {
    public_key: Vec<u8>,
    message: Vec<u8>,
    signature: Vec<u8>,
    corrupted: bool,
}

fn build(key: usize, message: Vec<u8>, c: &Corruption) -> Owned {
    let sk = &signing_keys()[key];
    let mut public_key = sk.verifying_key().to_bytes().to_vec();
    let mut signature = sk.sign(&message).to_bytes().to_vec();
    let mut message = message;
    match *c {
        Corruption::None => {}
        Corruption::SignatureBit(bit) => flip(&mut signature, bit),
        Corruption::KeyBit(bit) => flip(&mut public_key, bit),
        Corruption::MessageBit(bit) => {
            let bit = bit % (message.len() * 8);
            flip(&mut message, bit)
        }
        Corruption::SAtOrAboveOrder(top) => {
            // Setting bits 253..=255 pushes S to ≥ 2^253 > ℓ.
            signature[63] |= 0x20 | (top << 5);
        }
        Corruption::KeyLength(len) => public_key.resize(len, 7),
        Corruption::SignatureLength(len) => signature.resize(len, 7),
    }
    Owned { public_key, message, signature, corrupted: !matches!(c, Corruption::None) }
}

fn flip(bytes: &mut [u8], bit: usize) {
    bytes[bit / 8] ^= 1 << (bit % 8);
}

fn batch() -> impl Strategy<Value = Vec<(usize, Vec<u8>, Corruption)>> {
    prop::collection::vec((0..KEY_COUNT, prop::collection::vec(any::<u8>(), 1..40), corruption()), 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batched_verdicts_equal_single_verdicts(specs in batch(), batch_size in 1usize..100) {
        let owned: Vec<Owned> = specs.iter().map(|(k, m, c)| build(*k, m.clone(), c)).collect();
        let items: Vec<SignatureItem<'_>> = owned
            .iter()
            .map(|o| SignatureItem { public_key: &o.public_key, message: &o.message, signature: &o.signature })
            .collect();
        let single: Vec<Result<(), SigError>> = items
            .iter()
            .map(|i| verify_single(i.public_key, i.message, i.signature))
            .collect();
        for (o, verdict) in owned.iter().zip(&single) {
            // Every corruption above breaks the signature (no bit flip of a
            // valid Ed25519 signature, key or message yields a valid one
            // except with negligible probability).
            prop_assert_eq!(verdict.is_ok(), !o.corrupted);
        }
        prop_assert_eq!(&verify_batch(&items), &single);
        prop_assert_eq!(&verify_parallel(&items, batch_size), &single);
        // Keys grouped per chunk and decoded through caches of every kind:
        // a corrupted key (KeyBit) shares no slot with its honest bytes.
        for capacity in [0, 1, 3, 1024] {
            let cache = KeyCache::with_capacity(capacity);
            for pass in ["cold", "warm"] {
                let verdicts = verify_parallel_with(&items, batch_size, &cache);
                prop_assert_eq!(&verdicts, &single, "cache of {} keys, {}", capacity, pass);
            }
            prop_assert!(cache.len() <= capacity);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_agree(
        entries in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 30..34),
             prop::collection::vec(any::<u8>(), 0..8),
             prop::collection::vec(any::<u8>(), 62..66)),
            0..24),
        batch_size in 0usize..10,
    ) {
        let items: Vec<SignatureItem<'_>> = entries
            .iter()
            .map(|(k, m, s)| SignatureItem { public_key: k, message: m, signature: s })
            .collect();
        let single: Vec<_> = items.iter().map(|i| verify_single(i.public_key, i.message, i.signature)).collect();
        prop_assert_eq!(&verify_batch(&items), &single);
        prop_assert_eq!(&verify_parallel(&items, batch_size), &single);
    }
}
