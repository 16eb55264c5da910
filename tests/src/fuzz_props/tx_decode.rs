//! `tx_decode`: the transaction decoder is total and canonical.
//!
//! Raw bytes are the right input here: the decoder's job is to face raw
//! bytes, and libFuzzer's comparison tracing finds the magic values
//! (version, flags, counts) by itself. The seed corpus holds valid
//! transactions, so mutations start from deep inside the format.

use sluice_engine::tx::{decode, DecodeErrorKind, SIGNATURE_BYTES, TX_BYTES_MAX};

/// Every error name docs/format.md lists; a rejection must use one.
const ERROR_NAMES: [&str; 13] = [
    "truncated",
    "too_large",
    "unsupported_version",
    "no_accounts",
    "too_many_accounts",
    "invalid_account_flags",
    "duplicate_account",
    "signer_not_writable",
    "too_many_instructions",
    "too_many_instruction_accounts",
    "account_index_out_of_range",
    "instruction_data_too_large",
    "trailing_bytes",
];

pub fn tx_decode(data: &[u8]) {
    match decode(data) {
        Ok(tx) => {
            assert_eq!(tx.encode(), data, "accepted bytes must re-encode to themselves");
            assert_eq!(tx.body_bytes(), &data[SIGNATURE_BYTES..], "the body is every byte after the signature");
            tx.validate().expect("a decoded transaction is within every limit");
            // One encoding: no extension or shortening of an accepted
            // transaction is accepted too.
            if data.len() < TX_BYTES_MAX {
                let mut longer = data.to_vec();
                longer.push(0);
                let error = decode(&longer).expect_err("a byte after a valid transaction is refused");
                assert_eq!(error.kind, DecodeErrorKind::TrailingBytes { count: 1 });
                assert_eq!(error.offset, data.len());
            }
            assert!(decode(&data[..data.len() - 1]).is_err(), "a shortened transaction is refused");
        }
        Err(error) => {
            let name = error.kind.name();
            assert!(ERROR_NAMES.contains(&name), "unnamed decode error {error:?}");
            match error.kind {
                DecodeErrorKind::TooLarge { len } => {
                    assert!(data.len() > TX_BYTES_MAX, "too_large for {} bytes", data.len());
                    assert_eq!(len, data.len());
                    assert_eq!(error.offset, TX_BYTES_MAX, "too_large points where the input should have ended");
                }
                // The input ended inside the field that starts at `offset`.
                DecodeErrorKind::Truncated { field } => {
                    assert!(!field.is_empty());
                    assert!(error.offset <= data.len(), "{error:?} past the end of {} bytes", data.len());
                }
                // Every other error is about a byte that was read.
                _ => assert!(error.offset < data.len(), "{error:?} past the end of {} bytes", data.len()),
            }
            let shown = error.to_string();
            assert!(shown.contains(&format!("byte {}", error.offset)), "message {shown:?} names no offset");
        }
    }
}
