//! negotiate tests.
