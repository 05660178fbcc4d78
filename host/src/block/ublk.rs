//! The ublk front end (stub).

use std::sync::Arc;

use super::dispatch::Queue;
use super::genhd::{DiskParams, Started};
use crate::errno::Errno;

pub(super) fn start(_params: DiskParams, _queue: Arc<Queue>) -> Result<Box<dyn Started>, Errno> {
    Err(Errno::EOPNOTSUPP)
}
