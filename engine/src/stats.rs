//! Live statistics of a table (item count and size): kept by the write path, shared by every
//! version of the table's metadata and by its indexes, shown by DescribeTable.

use std::sync::atomic::AtomicI64;

/// Live statistics of a table, shared by every version of its metadata.
#[derive(Default, Debug)]
pub struct TableStats {
    pub item_count: AtomicI64,
    pub size_bytes: AtomicI64,
}
