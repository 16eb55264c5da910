//! Ingest: raw transaction bytes in, verified transactions out.
//!
//! Each input either becomes a [`Transaction`] whose signature verified,
//! or a [`Rejection`] with a named reason. A rejected input never reaches
//! execution and never affects another input. The two steps are separate
//! functions because the pipeline runs them as separate stages.

use std::collections::BTreeMap;

use crate::sigverify::{self, ReplayWindow, SigError, SignatureItem, VerifiedCache};
use crate::tx::{decode, signing_message, tx_hash, ChainId, DecodeError, Transaction, SIGNATURE_BYTES, TX_BYTES_MAX};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rejection {
    Decode(DecodeError),
    /// The same signature was seen within the replay window: dropped
    /// before verification, since it can only fail its nonce.
    Duplicate,
    Signature(SigError),
}

impl Rejection {
    /// A stable reason such as `decode.truncated` or `signature.invalid`.
    pub fn reason(&self) -> String {
        match self {
            Rejection::Decode(e) => format!("decode.{}", e.kind.name()),
            Rejection::Duplicate => "duplicate".to_string(),
            Rejection::Signature(e) => format!("signature.{}", e.name()),
        }
    }
}

/// Bytes of one frame's length prefix in a batch of framed transactions.
pub const FRAME_LENGTH_BYTES: usize = 4;

/// A framed batch that does not split into transactions, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// Byte offset of the frame that is wrong.
    pub offset: usize,
    pub reason: String,
}

/// Encodes transactions as frames of a 4-byte little-endian length and
/// that many bytes: the body of the node's `POST /v1/txs` (docs/format.md
/// §15).
pub fn encode_frames<'a>(txs: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for tx in txs {
        debug_assert!(!tx.is_empty() && tx.len() <= TX_BYTES_MAX);
        body.extend_from_slice(&(tx.len() as u32).to_le_bytes());
        body.extend_from_slice(tx);
    }
    body
}

/// Splits framed transactions, at most `txs_max` of them; names the byte
/// offset of the first frame that is cut short, empty, or longer than
/// `TX_BYTES_MAX`.
pub fn parse_frames(body: &[u8], txs_max: usize) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut txs = Vec::new();
    let mut offset = 0usize;
    while offset < body.len() {
        let fail = |reason: String| FrameError { offset, reason };
        if txs.len() == txs_max {
            return Err(fail(format!("more than {txs_max} transactions")));
        }
        let Some(prefix) = body.get(offset..offset + FRAME_LENGTH_BYTES) else {
            return Err(fail("the frame's 4-byte length is cut short".into()));
        };
        let length = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
        if length == 0 || length > TX_BYTES_MAX {
            return Err(fail(format!("frame length {length} is not 1..={TX_BYTES_MAX}")));
        }
        let start = offset + FRAME_LENGTH_BYTES;
        let Some(tx) = body.get(start..start + length) else {
            return Err(fail(format!("a frame of {length} bytes runs past the end ({} bytes)", body.len())));
        };
        txs.push(tx.to_vec());
        offset = start + length;
    }
    debug_assert!(txs.len() <= txs_max);
    Ok(txs)
}

/// Rejection counts by reason, in a stable order for reports.
pub type RejectionCounts = BTreeMap<String, u64>;

/// A decoded transaction with the bytes it came from.
pub struct DecodedTx {
    pub tx: Transaction,
    pub raw: Vec<u8>,
}

/// Decodes every input; keeps input order.
pub fn decode_all(raw: Vec<Vec<u8>>) -> Vec<Result<DecodedTx, Rejection>> {
    raw.into_iter().map(|raw| decode(&raw).map(|tx| DecodedTx { tx, raw }).map_err(Rejection::Decode)).collect()
}

/// Rejects, in input order, every transaction whose signature `window`
/// has already seen, and records the rest. The window is the last
/// `REPLAY_WINDOW_CAPACITY` distinct signatures (see `ReplayWindow`).
pub fn drop_duplicates(decoded: &mut [Result<DecodedTx, Rejection>], window: &mut ReplayWindow) {
    for slot in decoded.iter_mut() {
        if let Ok(d) = slot {
            if !window.check_and_insert(&d.tx.signature) {
                *slot = Err(Rejection::Duplicate);
            }
        }
    }
}

/// Verifies the signatures of decoded transactions on the current rayon
/// pool; keeps input order, passing earlier rejections through. A
/// transaction whose hash is in `cache` was verified already (at mempool
/// admission) and is not verified again; every newly verified one is added.
pub fn verify_decoded(
    decoded: Vec<Result<DecodedTx, Rejection>>,
    chain: &ChainId,
    batch_size: usize,
    cache: Option<&VerifiedCache>,
) -> Vec<Result<DecodedTx, Rejection>> {
    // Hashes are needed only to consult the cache.
    let hashes: Vec<Option<[u8; 32]>> = decoded
        .iter()
        .map(|d| match (d, cache) {
            (Ok(d), Some(_)) => Some(tx_hash(&d.raw)),
            _ => None,
        })
        .collect();
    let needs_check = |i: usize| match (&decoded[i], hashes[i], cache) {
        (Ok(_), Some(hash), Some(cache)) => !cache.contains(&hash),
        (Ok(_), _, _) => true,
        (Err(_), _, _) => false,
    };
    let pending: Vec<usize> = (0..decoded.len()).filter(|&i| needs_check(i)).collect();
    let messages: Vec<Vec<u8>> = pending
        .iter()
        .map(|&i| signing_message(chain, &decoded[i].as_ref().expect("pending are decoded").raw[SIGNATURE_BYTES..]))
        .collect();
    let items: Vec<SignatureItem<'_>> = pending
        .iter()
        .zip(&messages)
        .map(|(&i, message)| {
            let d = decoded[i].as_ref().expect("pending are decoded");
            SignatureItem { public_key: &d.tx.signer().0, message, signature: &d.tx.signature }
        })
        .collect();
    let verdicts = sigverify::verify_parallel(&items, batch_size);
    drop(items);
    let mut verdict_of: Vec<Option<Result<(), SigError>>> = vec![None; decoded.len()];
    for (&i, verdict) in pending.iter().zip(verdicts) {
        if let (Ok(()), Some(cache), Some(hash)) = (verdict, cache, hashes[i]) {
            cache.insert(hash);
        }
        verdict_of[i] = Some(verdict);
    }
    decoded
        .into_iter()
        .zip(verdict_of)
        .map(|(d, verdict)| {
            let d = d?;
            // No verdict: the cache vouched for it.
            verdict.unwrap_or(Ok(())).map(|()| d).map_err(Rejection::Signature)
        })
        .collect()
}

/// Decodes and verifies `raw`; keeps input order.
pub fn verify_transactions(raw: &[Vec<u8>], chain: &ChainId) -> Vec<Result<Transaction, Rejection>> {
    let decoded = decode_all(raw.to_vec());
    verify_decoded(decoded, chain, sigverify::BATCH_SIZE_DEFAULT, None).into_iter().map(|r| r.map(|d| d.tx)).collect()
}

/// Splits results into accepted items and counts the rejections by reason.
pub fn partition<T>(results: Vec<Result<T, Rejection>>, counts: &mut RejectionCounts) -> Vec<T> {
    let mut accepted = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(item) => accepted.push(item),
            Err(rejection) => *counts.entry(rejection.reason()).or_default() += 1,
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{self, WorkloadKind, WorkloadSpec};

    fn signed(txs: u64) -> Vec<Vec<u8>> {
        let spec = WorkloadSpec { kind: WorkloadKind::Uniform, accounts: 10, txs, seed: 5, chain: ChainId::default() };
        workload::generate(&spec).unwrap().txs
    }

    proptest::proptest! {
        /// Frames round-trip, and any bytes at all either split into
        /// frames that encode back to exactly those bytes, or are refused
        /// at an offset inside them; nothing panics.
        #[test]
        fn frames_round_trip_and_never_panic(
            txs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..64), 0..16),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
        ) {
            let body = encode_frames(txs.iter().map(Vec::as_slice));
            proptest::prop_assert_eq!(parse_frames(&body, 16).unwrap(), txs);
            match parse_frames(&noise, 16) {
                Ok(split) => proptest::prop_assert_eq!(encode_frames(split.iter().map(Vec::as_slice)), noise),
                Err(e) => proptest::prop_assert!(e.offset < noise.len(), "{:?}", e),
            }
        }
    }

    #[test]
    fn verified_cache_skips_verification_and_learns() {
        let mut raw = signed(4);
        raw[1][0] ^= 1; // bad signature
        let cache = VerifiedCache::new();
        // Vouch for the bad one: a cached hash must not be verified again.
        cache.insert(tx_hash(&raw[1]));
        let verified = verify_decoded(decode_all(raw.clone()), &ChainId::default(), 8, Some(&cache));
        assert!(verified.iter().all(Result::is_ok), "the cache vouched for the bad signature");
        for tx in &raw {
            assert!(cache.contains(&tx_hash(tx)), "every verified transaction is cached");
        }
        let uncached = verify_decoded(decode_all(raw), &ChainId::default(), 8, None);
        assert!(matches!(uncached[1], Err(Rejection::Signature(_))));
    }

    #[test]
    fn duplicates_are_dropped_before_verification() {
        let raw = signed(3);
        let mut window = ReplayWindow::with_capacity(16);
        let mut first = decode_all(raw.clone());
        drop_duplicates(&mut first, &mut window);
        assert!(first.iter().all(Result::is_ok));
        let mut again = decode_all(vec![raw[2].clone(), raw[0].clone()]);
        drop_duplicates(&mut again, &mut window);
        assert!(again.iter().all(|r| matches!(r, Err(Rejection::Duplicate))));
        assert_eq!(Rejection::Duplicate.reason(), "duplicate");
    }
}
