//! Runtime tests of `pin-init`: every test checks observable behavior (values, addresses, drop
//! order and counts) and fails if the behavior is wrong.

mod basic;
mod errors;
mod functions;
mod self_ref;
mod util;
