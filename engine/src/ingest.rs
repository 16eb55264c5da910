//! Ingest: raw transaction bytes in, verified transactions out.
//!
//! Each input either becomes a [`Transaction`] whose signature verified,
//! or a [`Rejection`] with a named reason. A rejected input never reaches
//! execution and never affects another input. The two steps are separate
//! functions because the pipeline runs them as separate stages.

use std::collections::BTreeMap;

use crate::sigverify::{self, SigError, SignatureItem};
use crate::tx::{decode, signing_message, ChainId, DecodeError, Transaction, SIGNATURE_BYTES};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rejection {
    Decode(DecodeError),
    Signature(SigError),
}

impl Rejection {
    /// A stable reason such as `decode.truncated` or `signature.invalid`.
    pub fn reason(&self) -> String {
        match self {
            Rejection::Decode(e) => format!("decode.{}", e.kind.name()),
            Rejection::Signature(e) => format!("signature.{}", e.name()),
        }
    }
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

/// Verifies the signatures of decoded transactions on the current rayon
/// pool; keeps input order, passing earlier rejections through.
pub fn verify_decoded(
    decoded: Vec<Result<DecodedTx, Rejection>>,
    chain: &ChainId,
    batch_size: usize,
) -> Vec<Result<DecodedTx, Rejection>> {
    let messages: Vec<Vec<u8>> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .map(|d| signing_message(chain, &d.raw[SIGNATURE_BYTES..]))
        .collect();
    let items: Vec<SignatureItem<'_>> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .zip(&messages)
        .map(|(d, message)| SignatureItem { public_key: &d.tx.signer().0, message, signature: &d.tx.signature })
        .collect();
    let verdicts = sigverify::verify_parallel(&items, batch_size);
    drop(items);
    let mut verdicts = verdicts.into_iter();
    decoded
        .into_iter()
        .map(|d| {
            let d = d?;
            let verdict = verdicts.next().expect("one verdict per decoded transaction");
            verdict.map(|()| d).map_err(Rejection::Signature)
        })
        .collect()
}

/// Decodes and verifies `raw`; keeps input order.
pub fn verify_transactions(raw: &[Vec<u8>], chain: &ChainId) -> Vec<Result<Transaction, Rejection>> {
    let decoded = decode_all(raw.to_vec());
    verify_decoded(decoded, chain, sigverify::BATCH_SIZE_DEFAULT).into_iter().map(|r| r.map(|d| d.tx)).collect()
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
