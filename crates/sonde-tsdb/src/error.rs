//! Errors of the storage engine. Messages give the operation, the file and
//! (for corruption) the byte offset, and say what would make it work.

use std::path::{Path, PathBuf};

use sonde_model::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "corrupt WAL segment {path} at offset {offset}: {reason}; \
         records after it would be lost: open with the WAL repair option to truncate there"
    )]
    WalCorruption {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("corrupt block {path}: {reason}")]
    BlockCorruption { path: PathBuf, reason: String },
    #[error("invalid storage option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    #[error("the database is closed")]
    Closed,
    /// [`crate::options::CancelOpen`] stopped an open; nothing on disk was
    /// changed.
    #[error(
        "opening {dir} was cancelled {at}; nothing on disk was changed, \
         the next open replays the whole WAL"
    )]
    Cancelled { dir: PathBuf, at: String },
}

impl TsdbError {
    pub fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        TsdbError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this is a write refused for lack of room: the disk is full
    /// (`ENOSPC`), a quota is exhausted (`EDQUOT`) or a file size limit is
    /// reached (`EFBIG`). These put the database in read-only mode.
    pub fn is_disk_full(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            TsdbError::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
            ),
            _ => false,
        }
    }

    pub fn block(path: &Path, reason: impl Into<String>) -> Self {
        TsdbError::BlockCorruption {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl From<TsdbError> for StorageError {
    fn from(e: TsdbError) -> Self {
        match e {
            TsdbError::Io { .. } => StorageError::Io(e.to_string()),
            TsdbError::Closed => StorageError::ReadOnly(e.to_string()),
            _ => StorageError::Other(e.to_string()),
        }
    }
}
