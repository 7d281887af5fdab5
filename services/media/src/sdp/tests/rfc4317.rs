//! rfc4317 tests.
