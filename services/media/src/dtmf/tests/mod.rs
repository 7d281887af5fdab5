//! Tests of the DTMF cores, one file per form.

mod digit;
mod inband;
mod info;
mod rfc4733;
