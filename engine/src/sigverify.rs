//! ed25519 signature verification.
//!
//! Interim single-signature path until the batched ZIP-215 stage lands:
//! the API below is the one that stage keeps.

use rayon::prelude::*;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
pub const BATCH_SIZE_DEFAULT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigError {
    PublicKeyLength { len: usize },
    SignatureLength { len: usize },
    InvalidPublicKey,
    Invalid,
}

impl SigError {
    pub fn name(&self) -> &'static str {
        match self {
            SigError::PublicKeyLength { .. } => "public_key_length",
            SigError::SignatureLength { .. } => "signature_length",
            SigError::InvalidPublicKey => "invalid_public_key",
            SigError::Invalid => "invalid",
        }
    }
}

#[derive(Clone, Copy)]
pub struct SignatureItem<'a> {
    pub public_key: &'a [u8],
    pub message: &'a [u8],
    pub signature: &'a [u8],
}

pub fn verify_single(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SigError> {
    let pk: [u8; 32] = public_key.try_into().map_err(|_| SigError::PublicKeyLength { len: public_key.len() })?;
    let sig: [u8; 64] = signature.try_into().map_err(|_| SigError::SignatureLength { len: signature.len() })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| SigError::InvalidPublicKey)?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig)).map_err(|_| SigError::Invalid)
}

pub fn verify_parallel(items: &[SignatureItem<'_>], _batch_size: usize) -> Vec<Result<(), SigError>> {
    items.par_iter().map(|i| verify_single(i.public_key, i.message, i.signature)).collect()
}

pub fn verify_batch(items: &[SignatureItem<'_>]) -> Vec<Result<(), SigError>> {
    items.iter().map(|i| verify_single(i.public_key, i.message, i.signature)).collect()
}
