//! I/O polling (being written).
