//! Read-only memory maps of immutable block files. The only module allowed
//! `unsafe` (memmap2's `Mmap::map` is unsafe because another process could
//! change the file under the map). `sonde tsdb import` also maps its input
//! file with it, as promtool does: a file truncated by someone else during
//! the import ends the process (SIGBUS), which its documentation says.

#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::error::TsdbError;

/// A file mapped read-only. Immutable after creation; shared across threads.
pub struct MappedFile {
    map: Option<Mmap>,
}

impl MappedFile {
    pub fn open(path: &Path) -> Result<Self, TsdbError> {
        let file = File::open(path).map_err(|e| TsdbError::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| TsdbError::io("stat", path, e))?
            .len();
        if len == 0 {
            // Mapping an empty file fails on some platforms.
            return Ok(MappedFile { map: None });
        }
        // SAFETY: block files are written once to a temporary directory,
        // fsynced and renamed into place, and never modified afterwards by
        // Sonde; they are only deleted (which keeps the mapping valid on
        // Unix). Another process truncating them would break this, as for
        // every mmap-based database.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| TsdbError::io("mmap", path, e))?;
        Ok(MappedFile { map: Some(map) })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
