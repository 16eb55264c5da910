//! Placeholder until the commit log lands.
