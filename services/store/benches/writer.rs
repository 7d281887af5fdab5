//! Placeholder until the writer benchmark lands.
fn main() {}
