//! Shared support for Sluice's end-to-end tests: finding and running the
//! `sluice` binary exactly as a user would.
//!
//! Cargo exposes `CARGO_BIN_EXE_sluice` only to the tests of the package
//! that defines the binary (sluice-engine), so this crate finds it next to
//! its own test executable, building it first if a lone
//! `cargo test -p sluice-tests` has not.
//!
//! [`fuzz_props`] holds the bodies of the fuzz targets in `fuzz/`, so that
//! their corpora replay as ordinary tests on stable Rust, and
//! [`toy_program`] the example of a chain fuzzing its own program.

pub mod cometbft;
pub mod fuzz_props;
pub mod store;
pub mod toy_program;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Path of the `sluice` binary of the profile these tests were built with.
pub fn sluice_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_engine_target(&["--bin", "sluice"], Path::new("sluice"))).clone()
}

/// Path of example `name` of sluice-engine (such as `counter_chain`),
/// built for the profile these tests were built with.
pub fn example_bin(name: &str) -> PathBuf {
    build_engine_target(&["--example", name], &Path::new("examples").join(name))
}

/// Builds one target of sluice-engine (`target` is `--bin NAME` or
/// `--example NAME`) for this test's profile, and returns its path, which is
/// `relative` under target/<profile>. Always builds: cargo makes it a no-op
/// when fresh, and a stale binary would test old code.
fn build_engine_target(target: &[&str], relative: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps layout");
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "--quiet", "-p", "sluice-engine"]).args(target);
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build {target:?} failed");
    let bin = profile_dir.join(relative);
    assert!(bin.exists(), "{target:?} missing at {}", bin.display());
    bin
}

/// Runs `sluice` with `args` and returns its output, whatever the status.
pub fn sluice(args: &[&str]) -> Output {
    Command::new(sluice_bin()).args(args).output().expect("spawn sluice")
}

/// Runs `sluice` expecting success and one JSON object on stdout.
pub fn sluice_json(args: &[&str]) -> serde_json::Value {
    let out = sluice(args);
    assert!(out.status.success(), "sluice {args:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sluice {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
