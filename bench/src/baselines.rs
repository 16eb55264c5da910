//! The libraries a chain would use instead of Sluice's sigverify, measured
//! on the same signatures in the same run: each verifies one chunk of a
//! block from bytes (keys decoded inside, messages built outside).
//!
//! | baseline | rule | batches by key |
//! |---|---|---|
//! | `ed25519_dalek::verify_batch` 2.2 | cofactorless (not consensus-safe) | no: 2n + 1 points |
//! | `ed25519_zebra::batch::Verifier` 5.0 | ZIP-215 | yes: n + m + 1 points for m keys |

use ed25519_zebra::{batch, Signature as ZebraSignature, VerificationKeyBytes};
use sluice_engine::tx::SIGNATURE_BYTES;

/// One baseline: verifies a chunk of transactions given their signing
/// messages; true when every signature is valid.
pub type ChunkVerifier = fn(&[Vec<u8>], &[Vec<u8>]) -> bool;

/// Byte range of the signer's key (account 0's id) in every transaction.
const SIGNER_KEY_BYTES: std::ops::Range<usize> = 82..114;

fn signer_key(tx: &[u8]) -> [u8; 32] {
    tx[SIGNER_KEY_BYTES].try_into().expect("32-byte key")
}

fn signature_bytes(tx: &[u8]) -> [u8; SIGNATURE_BYTES] {
    tx[..SIGNATURE_BYTES].try_into().expect("64-byte signature")
}

/// ed25519-dalek's own batch verification: the raw limit.
pub fn dalek_batch(txs: &[Vec<u8>], messages: &[Vec<u8>]) -> bool {
    let mut keys = Vec::with_capacity(txs.len());
    let mut signatures = Vec::with_capacity(txs.len());
    for tx in txs {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&signer_key(tx)) else { return false };
        keys.push(key);
        signatures.push(ed25519_dalek::Signature::from_bytes(&signature_bytes(tx)));
    }
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// ed25519-zebra's batch verification, which groups by key.
pub fn zebra_batch(txs: &[Vec<u8>], messages: &[Vec<u8>]) -> bool {
    let mut verifier = batch::Verifier::new();
    for (tx, message) in txs.iter().zip(messages) {
        let key = VerificationKeyBytes::from(signer_key(tx));
        let signature = ZebraSignature::from_bytes(&signature_bytes(tx));
        verifier.queue((key, signature, message));
    }
    verifier.verify(ThreadRng010(rand::thread_rng())).is_ok()
}

/// rand 0.8's thread-local CSPRNG behind the rand_core 0.10 traits that
/// ed25519-zebra 5 asks for.
struct ThreadRng010(rand::rngs::ThreadRng);

impl rand_core_010::TryRng for ThreadRng010 {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::RngCore::next_u32(&mut self.0))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::RngCore::next_u64(&mut self.0))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::RngCore::fill_bytes(&mut self.0, dst);
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for ThreadRng010 {}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::tx::{signing_message, ChainId};
    use sluice_engine::workload::{generate, WorkloadKind, WorkloadSpec};

    /// Both baselines accept honest signatures and refuse a chunk with one
    /// bad one, so neither can be timed doing nothing.
    #[test]
    fn baselines_accept_honest_and_refuse_bad_chunks() {
        let chain = ChainId::default();
        let spec = WorkloadSpec { kind: WorkloadKind::Hot, accounts: 2, txs: 40, seed: 3, chain: chain.clone() };
        let mut txs = generate(&spec).unwrap().txs;
        let messages = |txs: &[Vec<u8>]| -> Vec<Vec<u8>> {
            txs.iter().map(|t| signing_message(&chain, &t[SIGNATURE_BYTES..])).collect()
        };
        assert!(dalek_batch(&txs, &messages(&txs)));
        assert!(zebra_batch(&txs, &messages(&txs)));
        txs[17][3] ^= 1;
        assert!(!dalek_batch(&txs, &messages(&txs)));
        assert!(!zebra_batch(&txs, &messages(&txs)));
    }
}
