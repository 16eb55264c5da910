//! Block record, origin record and snapshot codecs: round trips, every
//! truncation gives a named error, and arbitrary bytes never panic.

use proptest::prelude::*;
use sluice_engine::chain::Chain;
use sluice_engine::exec::ExecutorKind;
use sluice_engine::persist::{
    decode_block_record, decode_snapshot, encode_snapshot, AppStateGenesis, BlockRecord, GenesisParams, OriginRecord,
    RecordErrorKind, RestoredBase, StoreOrigin, RECORD_KIND_BLOCK, RECORD_KIND_GENESIS, RECORD_KIND_GENESIS_APP_STATE,
    RECORD_KIND_RESTORED,
};
use sluice_engine::program::ProgramRegistry;
use sluice_engine::tx::{decode, ChainId};
use sluice_engine::workload::{generate, WorkloadKind, WorkloadSpec};

/// Executes one small real block and returns its record and the state after it.
fn sample_block(txs: u64) -> (BlockRecord, sluice_engine::state::State) {
    let spec = WorkloadSpec {
        kind: WorkloadKind::Uniform,
        accounts: 16,
        txs,
        seed: 5,
        chain: ChainId::new("sluice-local").unwrap(),
    };
    let workload = generate(&spec).unwrap();
    let mut chain = Chain::new(workload.genesis.state(), ProgramRegistry::native(), ExecutorKind::Serial);
    let parsed: Vec<_> = workload.txs.iter().map(|raw| decode(raw).unwrap()).collect();
    let block = chain.execute_block(&parsed).unwrap();
    let record = BlockRecord {
        header: block.header,
        txs: workload.txs,
        receipts: block.outcome.receipts,
        delta: block.outcome.delta,
    };
    (record, chain.state)
}

#[test]
fn block_record_round_trips_and_validates() {
    let (record, _) = sample_block(12);
    let size = record.as_ref().validate().unwrap();
    let bytes = record.encode();
    assert_eq!(bytes.len(), size);
    assert_eq!(decode_block_record(&bytes).unwrap(), record);
    let (empty, _) = sample_block(0);
    assert_eq!(decode_block_record(&empty.encode()).unwrap(), empty);
}

#[test]
fn every_truncation_of_a_block_record_is_a_named_error() {
    let (record, _) = sample_block(6);
    let bytes = record.encode();
    for len in 0..bytes.len() {
        let error = decode_block_record(&bytes[..len]).expect_err("a strict prefix never decodes");
        assert!(error.offset <= len, "offset {} past the end {len}", error.offset);
        assert!(
            matches!(error.kind, RecordErrorKind::Truncated { .. } | RecordErrorKind::CountExceedsBytes { .. }),
            "prefix {len}: {error}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode_block_record(&longer).unwrap_err().kind.name(), "trailing_bytes");
}

#[test]
fn block_record_body_must_match_its_header() {
    let (record, _) = sample_block(4);
    let bytes = record.encode();
    // Byte 200 is inside the first transaction (after version and the 141-byte header).
    let mut tx_flip = bytes.clone();
    tx_flip[200] ^= 1;
    assert_eq!(decode_block_record(&tx_flip).unwrap_err().kind, RecordErrorKind::TxRootMismatch);
    let mut bad_version = bytes.clone();
    bad_version[0] = 9;
    assert_eq!(decode_block_record(&bad_version).unwrap_err().kind.name(), "unsupported_version");
    // A tx_count far beyond the bytes is refused before allocating.
    let mut huge = bytes[..142].to_vec();
    huge[138..142].copy_from_slice(&90_000u32.to_le_bytes());
    let error = decode_block_record(&huge).unwrap_err();
    assert_eq!(error.kind.name(), "count_exceeds_bytes", "{error}");
    let mut too_many = bytes[..142].to_vec();
    too_many[138..142].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode_block_record(&too_many).unwrap_err().kind.name(), "too_many_txs");
}

#[test]
fn origin_records_and_snapshot_round_trip() {
    let chain_id = ChainId::new("test-chain").unwrap();
    let params = GenesisParams { chain_id: chain_id.clone(), seed: 9, accounts: 12 };
    let app_state = br#"{"seeded":{"seed":"9","accounts":12,"balance":"7"}}"#.to_vec();
    let origins = [
        StoreOrigin::Seeded(params.clone()),
        StoreOrigin::AppState(AppStateGenesis { chain_id: chain_id.clone(), app_state }),
        StoreOrigin::Restored(RestoredBase { chain_id, app_state_hash: [3; 32], height: 40, block_hash: [4; 32] }),
    ];
    for origin in origins {
        let record = OriginRecord { origin, state_root: params.state().unwrap().root() };
        let kind = record.origin.record_kind();
        let bytes = record.encode();
        assert_eq!(OriginRecord::decode(kind, &bytes).unwrap(), record);
        for len in 0..bytes.len() {
            assert!(OriginRecord::decode(kind, &bytes[..len]).is_err(), "kind {kind} cut at {len}");
        }
        assert_eq!(OriginRecord::decode(RECORD_KIND_BLOCK, &bytes).unwrap_err().kind.name(), "not_an_origin");
    }
    let mut tampered = OriginRecord {
        origin: StoreOrigin::AppState(AppStateGenesis { chain_id: ChainId::default(), app_state: b"{}".to_vec() }),
        state_root: [0; 32],
    }
    .encode();
    *tampered.iter_mut().rev().nth(32).unwrap() ^= 1; // the last byte of the app state
    let error = OriginRecord::decode(RECORD_KIND_GENESIS_APP_STATE, &tampered).unwrap_err();
    assert_eq!(error.kind.name(), "app_state_hash_mismatch");
    let (block, state) = sample_block(10);
    let snapshot = encode_snapshot(1, &block.header.hash(), &state);
    let contents = decode_snapshot(&snapshot).unwrap();
    assert_eq!(contents.height, 1);
    assert_eq!(contents.state_root, state.root());
    let rebuilt = sluice_engine::state::State::from_accounts(contents.accounts);
    assert_eq!(rebuilt.root(), state.root());
    assert_eq!(encode_snapshot(1, &block.header.hash(), &rebuilt), snapshot, "one encoding");
    for len in 0..snapshot.len().min(400) {
        assert!(decode_snapshot(&snapshot[..len]).is_err());
    }
    let mut huge = snapshot[..81].to_vec();
    huge[73..81].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(decode_snapshot(&huge).unwrap_err().kind.name(), "count_exceeds_bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_block_record(&bytes);
        for kind in [RECORD_KIND_GENESIS, RECORD_KIND_GENESIS_APP_STATE, RECORD_KIND_RESTORED] {
            let _ = OriginRecord::decode(kind, &bytes);
        }
        let _ = decode_snapshot(&bytes);
    }

    #[test]
    fn damaged_block_records_never_panic(flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..4)) {
        let (record, _) = sample_block(3);
        let mut bytes = record.encode();
        for (at, mask) in flips {
            let len = bytes.len();
            bytes[at % len] ^= mask;
        }
        if let Ok(decoded) = decode_block_record(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes, "one encoding");
        }
    }
}
