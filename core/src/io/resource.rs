//! Bus resources (being written).

/// A resource (being written).
pub struct Resource;
