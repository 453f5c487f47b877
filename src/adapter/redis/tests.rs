//! Adapter-level tests: encode → decode round trips and decoder rules.
