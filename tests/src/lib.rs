//! Shared helpers for the end-to-end tests live beside the tests in `tests/tests/`.
