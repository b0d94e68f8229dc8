//! Files with personal content (a credential's VC, a presentation, a proof bundle
//! with content, a FHIR export): created readable and writable by their owner only.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `contents` to `path`, created (or truncated) with mode 0600 on Unix; an
/// existing file's mode is set to 0600 before anything is written into it.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("{}", path.display()))?;
        }
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("{}", path.display()))?;
    file.write_all(contents.as_ref())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[cfg(unix)]
    #[test]
    fn personal_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // A new file.
        let fresh = dir.path().join("record.json");
        super::write(&fresh, b"{}").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(std::fs::read(&fresh).unwrap(), b"{}");
        // An existing world-readable file is closed before it is filled.
        let old = dir.path().join("vc.jwt");
        std::fs::write(&old, b"old and longer").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write(&old, b"new").unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"new");
    }
}
