//! Small helpers several modules share, below all of them: the wall clock in unix
//! seconds, random hex tokens, and files only this user may read.

use std::path::Path;

use crate::NodeError;

/// Seconds since the unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `bytes` random bytes, hex-encoded: session ids, result tokens, worker secrets.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source at all.
    let _ = getrandom::fill(&mut b);
    alloy_primitives::hex::encode(b)
}

/// The permission bits of `path` that let the group or others in (`mode & 0o077`), if any.
pub(crate) fn loose_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then_some(mode & 0o777)
}

/// Creates `dir` (and its missing parents) readable by this user only (0700). A directory
/// that already exists is left as it is, with a warning if others may enter it.
pub(crate) fn private_dir(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        if let Some(mode) = loose_mode(dir) {
            tracing::warn!(target: "node::files", dir = %dir.display(), mode = format!("{mode:o}"),
                "the data directory is open to other users; chmod 700 it");
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| NodeError::io(format!("creating {}", dir.display()), e))
}

/// Creates `path` empty with mode 0600 if it does not exist (so that what is written to it
/// later, and files derived from it, are private); warns if an existing one is open to
/// other users.
pub(crate) fn private_file(path: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Some(mode) = loose_mode(path) {
                tracing::warn!(target: "node::files", file = %path.display(), mode = format!("{mode:o}"),
                    "a private file is readable by other users; chmod 600 it");
            }
            Ok(())
        }
        Err(e) => Err(NodeError::io(format!("creating {}", path.display()), e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_dirs_and_files_are_created_0700_and_0600() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        let f = dir.join("tickets");
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(loose_mode(&f), None);
        // An existing file is kept (and only warned about).
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&f).unwrap();
        assert_eq!(loose_mode(&f), Some(0o644));
        private_dir(&dir).unwrap();
    }
}
