//! The data folder holds the API key and every user's data, so only its owner may read it: the
//! folder is created `0700` and its files `0600` (SQLite gives its `-wal` and `-shm` files the
//! database file's mode), whatever the umask. What an earlier version left readable to others
//! is made private at start.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) readable by its owner only; an existing one that others
/// may read is made so too (see [`restrict`]).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    tighten(dir, 0o700);
    Ok(())
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

/// Makes an existing file readable by its owner only, if others may read it now; a missing one
/// is created empty so.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            tighten(path, 0o600);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Sets `mode` on `path` when its group or others have any access. Failing that (a folder
/// another user owns, a read-only mount) is a warning, not a reason to refuse to start.
fn tighten(path: &Path, mode: u32) {
    let open_to_others = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    if !open_to_others {
        return;
    }
    if let Err(e) = std::fs::set_permissions(path, Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "others may read this; it could not be made private");
    }
}
