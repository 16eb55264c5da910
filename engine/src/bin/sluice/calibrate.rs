//! The verification limit of the machine a run is on, measured in the run.
//!
//! `sluice run` reports its end-to-end rate, which means little without
//! knowing what this machine can do. The ceiling of the design is raw
//! ed25519 verification: every transaction carries one signature, and
//! nothing else the pipeline does costs as much. So once the pipeline has
//! finished (the first block waits for none of it, and nothing else holds
//! the cores), the run times `ed25519_dalek::verify_batch` on its own worker
//! pool, as `sluice-bench` does for its "verify limit", and the summary
//! prints the run's rate as a fraction of it.
//!
//! The measure is the bench harness's, on fewer signatures: messages built
//! outside the timing, keys parsed inside it (a chain receives key bytes),
//! chunks of `REFERENCE_BATCH_SIZE` (128) verified in parallel. It takes 0.25
//! to 0.35 s on the 2-core development VM (up to 0.7 s while other work
//! shares its cores; about a third of it signing, the rest the three timed
//! passes), small beside opening a store, so every run pays it.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rayon::prelude::*;

use sluice_engine::account::AccountId;
use sluice_engine::sigverify::REFERENCE_BATCH_SIZE;
use sluice_engine::tx::{signing_message, ChainId};
use sluice_engine::workload;

/// Signatures verified per repetition, at least: 32 batches of the
/// default size, 16 per thread on 2 cores.
pub const CALIBRATION_SIGNATURES: usize = 4096;

/// Batches per worker thread, at least: on a machine with more than 16
/// threads the count grows past [`CALIBRATION_SIGNATURES`], so that no
/// thread sits idle while the limit is timed (which would understate it).
const CALIBRATION_BATCHES_PER_THREAD_MIN: usize = 2;

/// Timed repetitions; the median is kept, so one preempted repetition does
/// not set the limit.
const CALIBRATION_REPEATS: usize = 3;

/// What the calibration found.
pub struct Calibration {
    /// Signatures per second that raw batch verification reached.
    pub limit_tps: f64,
    /// The whole calibration, signing the messages included.
    pub elapsed: Duration,
}

/// The signatures to verify: distinct keys (so no batch shortcut applies),
/// each signing a transfer's signing message on `chain`, the same bytes a
/// run's transactions carry.
struct Signed {
    keys: Vec<[u8; 32]>,
    signatures: Vec<[u8; 64]>,
    messages: Vec<Vec<u8>>,
}

/// Measures raw batch verification on `pool`: signs
/// [`CALIBRATION_SIGNATURES`] messages (more on many threads; not timed),
/// then times verifying them [`CALIBRATION_REPEATS`] times and keeps the
/// median.
pub fn calibrate(pool: &rayon::ThreadPool, chain: &ChainId) -> Result<Calibration, String> {
    let start = Instant::now();
    let per_pass = signatures_for(pool.current_num_threads());
    let signed = pool.install(|| sign(chain, per_pass));
    let mut times = Vec::with_capacity(CALIBRATION_REPEATS);
    for _ in 0..CALIBRATION_REPEATS {
        let timer = Instant::now();
        let all_valid = pool.install(|| verify_all(&signed));
        times.push(timer.elapsed());
        if !all_valid {
            return Err("calibration: a batch of freshly signed messages failed to verify".to_string());
        }
    }
    times.sort();
    let median = times[CALIBRATION_REPEATS / 2].as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(Calibration { limit_tps: per_pass as f64 / median, elapsed: start.elapsed() })
}

/// Signatures per timed pass on `threads` worker threads.
fn signatures_for(threads: usize) -> usize {
    CALIBRATION_SIGNATURES.max(threads * CALIBRATION_BATCHES_PER_THREAD_MIN * REFERENCE_BATCH_SIZE)
}

/// Key `index`, derived from a hash of it: deterministic, and unrelated to
/// any genesis key.
fn key(index: usize) -> SigningKey {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"sluice.calibrate.v1\0");
    hasher.update(&(index as u64).to_le_bytes());
    SigningKey::from_bytes(hasher.finalize().as_bytes())
}

fn sign(chain: &ChainId, count: usize) -> Signed {
    let keys: Vec<SigningKey> = (0..count).into_par_iter().map(key).collect();
    let ids: Vec<[u8; 32]> = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
    let (messages, signatures): (Vec<Vec<u8>>, Vec<[u8; 64]>) = keys
        .par_iter()
        .enumerate()
        .map(|(i, key)| {
            let to = ids[(i + 1) % ids.len()];
            let tx = workload::transfer(AccountId(ids[i]), AccountId(to), 0, 1);
            let message = signing_message(chain, &tx.body_bytes());
            let signature = key.sign(&message).to_bytes();
            (message, signature)
        })
        .unzip();
    Signed { keys: ids, signatures, messages }
}

/// Verifies every signature in chunks of the pipeline's batch size on the
/// current pool; true when all are valid.
fn verify_all(signed: &Signed) -> bool {
    let chunks = signed
        .keys
        .par_chunks(REFERENCE_BATCH_SIZE)
        .zip(signed.signatures.par_chunks(REFERENCE_BATCH_SIZE))
        .zip(signed.messages.par_chunks(REFERENCE_BATCH_SIZE));
    chunks.all(|((keys, signatures), messages)| verify_chunk(keys, signatures, messages))
}

/// One chunk, from bytes: keys are decompressed here, inside the timing,
/// as a verifier receiving transactions must.
fn verify_chunk(keys: &[[u8; 32]], signatures: &[[u8; 64]], messages: &[Vec<u8>]) -> bool {
    let Ok(keys) = keys.iter().map(VerifyingKey::from_bytes).collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    let signatures: Vec<Signature> = signatures.iter().map(Signature::from_bytes).collect();
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_verifies_and_reports_a_rate() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let chain = ChainId::new("sluice-local").unwrap();
        let calibration = calibrate(&pool, &chain).unwrap();
        assert!(calibration.limit_tps > 0.0);
    }

    #[test]
    fn many_threads_get_more_signatures_not_fewer() {
        assert_eq!(signatures_for(2), CALIBRATION_SIGNATURES);
        assert_eq!(signatures_for(256), 256 * CALIBRATION_BATCHES_PER_THREAD_MIN * REFERENCE_BATCH_SIZE);
    }

    #[test]
    fn a_bad_signature_fails_its_chunk() {
        let chain = ChainId::new("sluice-local").unwrap();
        let mut signed = sign(&chain, CALIBRATION_SIGNATURES);
        assert!(verify_all(&signed));
        signed.signatures[17][3] ^= 1;
        assert!(!verify_all(&signed));
    }
}
