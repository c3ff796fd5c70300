//! The data folder holds the API key and every user's data, so only its owner may read it: the
//! folder is created `0700` and its files `0600` (SQLite gives its `-wal` and `-shm` files the
//! database file's mode), whatever the umask.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) readable by its owner only; an existing folder is left
/// as it is.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes a new file `path` holding `contents`, readable by its owner only.
pub fn create_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes an existing file readable by its owner only (one an earlier version created `0644`);
/// a missing one is created empty so.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}
