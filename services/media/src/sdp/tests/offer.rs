//! offer tests.
