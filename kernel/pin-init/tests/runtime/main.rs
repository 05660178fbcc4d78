//! Runtime tests of `pin-init`: every test checks observable behavior (values, addresses, drop
//! order and counts) and fails if the behavior is wrong.

// Test helpers are neither public API nor documented items.
#![allow(missing_docs, unreachable_pub)]

mod basic;
mod errors;
mod functions;
mod self_ref;
mod util;
