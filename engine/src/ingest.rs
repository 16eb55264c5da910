//! Ingest: raw transaction bytes in, verified transactions out.
//!
//! Each input either becomes a [`Transaction`] whose signature verified,
//! or a [`Rejection`] with a named reason. A rejected input never reaches
//! execution and never affects another input.

use std::collections::BTreeMap;

use crate::sigverify::{self, SigError, SignatureItem};
use crate::tx::{decode, signing_message, ChainId, DecodeError, Transaction};

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

/// Decodes and verifies `raw` in parallel; keeps input order.
pub fn verify_transactions(raw: &[Vec<u8>], chain: &ChainId) -> Vec<Result<Transaction, Rejection>> {
    let decoded: Vec<Result<(Transaction, Vec<u8>), Rejection>> = raw
        .iter()
        .map(|bytes| {
            let tx = decode(bytes).map_err(Rejection::Decode)?;
            let message = signing_message(chain, &bytes[crate::tx::SIGNATURE_BYTES..]);
            Ok((tx, message))
        })
        .collect();
    let items: Vec<SignatureItem<'_>> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .map(|(tx, message)| SignatureItem { public_key: &tx.signer().0, message, signature: &tx.signature })
        .collect();
    let mut verdicts = sigverify::verify_parallel(&items, sigverify::BATCH_SIZE_DEFAULT).into_iter();
    decoded
        .into_iter()
        .map(|d| {
            let (tx, _) = d?;
            let verdict = verdicts.next().expect("one verdict per decoded transaction");
            verdict.map(|()| tx).map_err(Rejection::Signature)
        })
        .collect()
}

/// Splits verified results into accepted transactions and counts the rest.
pub fn partition(results: Vec<Result<Transaction, Rejection>>, counts: &mut RejectionCounts) -> Vec<Transaction> {
    let mut accepted = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(tx) => accepted.push(tx),
            Err(rejection) => *counts.entry(rejection.reason()).or_default() += 1,
        }
    }
    accepted
}
