//! Where a node's or a CLI user's Ethereum key comes from: a raw private key (flag or
//! environment), or a geth-style encrypted keystore file (or a directory of them) with a
//! password file. Keys and passwords are never logged or echoed in errors. A keystore or
//! password file that other users may read is loaded with a warning naming it and its mode.

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use std::path::{Path, PathBuf};

/// One way to obtain the signing key.
#[derive(Clone)]
pub enum KeySource {
    /// A hex private key, with or without `0x`.
    PrivateKey(String),
    /// A keystore file, or a directory of keystore files from which the one for `address`
    /// (or the only one) is taken.
    Keystore {
        path: PathBuf,
        password_file: Option<PathBuf>,
        password: Option<String>,
        address: Option<Address>,
    },
}

impl std::fmt::Debug for KeySource {
    // Hand-written so that a key or password can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PrivateKey(_) => f.write_str("PrivateKey(<redacted>)"),
            Self::Keystore { path, address, .. } => f
                .debug_struct("Keystore")
                .field("path", path)
                .field("address", address)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("the private key is not 32 bytes of hex (64 hex digits, optional 0x)")]
    BadPrivateKey,
    #[error("cannot read keystore {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "keystore {path} needs a password: pass --password-file (or set REEL_KEYSTORE_PASSWORD)"
    )]
    NoPassword { path: PathBuf },
    #[error("cannot decrypt keystore {path}: wrong password or not a keystore file")]
    Decrypt { path: PathBuf },
    #[error("no keystore file in {dir}{}", .address.map(|a| format!(" for {a}")).unwrap_or_default())]
    NotFound {
        dir: PathBuf,
        address: Option<Address>,
    },
    #[error("{dir} holds {count} keystore files: pass --from <address> to pick one")]
    Ambiguous { dir: PathBuf, count: usize },
    #[error("keystore {path} holds the key of {actual}, not {expected}")]
    WrongAddress {
        path: PathBuf,
        expected: Address,
        actual: Address,
    },
}

impl KeySource {
    /// Loads the signer.
    pub fn load(&self) -> Result<PrivateKeySigner, KeyError> {
        match self {
            Self::PrivateKey(hex) => hex
                .trim()
                .parse::<PrivateKeySigner>()
                .map_err(|_| KeyError::BadPrivateKey),
            Self::Keystore {
                path,
                password_file,
                password,
                address,
            } => {
                let file = if path.is_dir() {
                    pick_keystore(path, *address)?
                } else {
                    path.clone()
                };
                warn_if_open(&file, "keystore file");
                let password = match (password, password_file) {
                    (Some(p), _) => p.clone(),
                    (None, Some(pf)) => {
                        warn_if_open(pf, "password file");
                        std::fs::read_to_string(pf)
                            .map_err(|source| KeyError::Io {
                                path: pf.clone(),
                                source,
                            })?
                            .trim_end_matches(['\r', '\n'])
                            .to_owned()
                    }
                    (None, None) => return Err(KeyError::NoPassword { path: file }),
                };
                if !file.is_file() {
                    return Err(KeyError::Io {
                        path: file,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                let signer = PrivateKeySigner::decrypt_keystore(&file, password)
                    .map_err(|_| KeyError::Decrypt { path: file.clone() })?;
                if let Some(expected) = address
                    && signer.address() != *expected
                {
                    return Err(KeyError::WrongAddress {
                        path: file,
                        expected: *expected,
                        actual: signer.address(),
                    });
                }
                Ok(signer)
            }
        }
    }
}

/// The permission bits of `path` that let its group or other users in (`mode & 0o077`),
/// with the whole mode (`& 0o777`) when there are any.
pub fn loose_permissions(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then_some(mode & 0o777)
}

/// Warns when a key or password file is open to other users (it is still used: refusing
/// would stop a node an operator cannot fix remotely; the warning says what to do).
fn warn_if_open(path: &Path, what: &str) {
    if let Some(mode) = loose_permissions(path) {
        tracing::warn!(
            target: "chain::keys",
            "{what} {} is readable by other users (mode {mode:o}): chmod 600 it",
            path.display()
        );
    }
}

/// The keystore file for `address` in `dir`, or the only file there. geth names files
/// `UTC--<time>--<address hex>` and also stores the address inside the JSON.
fn pick_keystore(dir: &Path, address: Option<Address>) -> Result<PathBuf, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    if let Some(a) = address {
        let want = hex_lower(a);
        let named = files.iter().find(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            name.contains(&want) || keystore_address(p).as_deref() == Some(want.as_str())
        });
        if let Some(found) = named {
            return Ok(found.clone());
        }
    }
    // Keystores written without the address (not geth's) can still be used when they are the
    // only file; the address is checked after decryption.
    match files.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(KeyError::NotFound {
            dir: dir.to_owned(),
            address,
        }),
        _ if address.is_some() => Err(KeyError::NotFound {
            dir: dir.to_owned(),
            address,
        }),
        many => Err(KeyError::Ambiguous {
            dir: dir.to_owned(),
            count: many.len(),
        }),
    }
}

fn hex_lower(a: Address) -> String {
    format!("{a:x}").trim_start_matches("0x").to_owned()
}

/// The `address` field of a keystore JSON, lower-case hex without 0x.
fn keystore_address(path: &Path) -> Option<String> {
    // Keystore files are small; anything large is not one and is not read whole.
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > 64 * 1024 {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(
        json.get("address")?
            .as_str()?
            .trim_start_matches("0x")
            .to_lowercase(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    #[test]
    fn private_key_with_and_without_prefix() {
        let a = KeySource::PrivateKey(KEY.into()).load().unwrap();
        let b = KeySource::PrivateKey(KEY.trim_start_matches("0x").into())
            .load()
            .unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(
            format!("{:?}", KeySource::PrivateKey(KEY.into())),
            "PrivateKey(<redacted>)"
        );
        assert!(matches!(
            KeySource::PrivateKey("0x1234".into()).load(),
            Err(KeyError::BadPrivateKey)
        ));
        // the error never repeats the key
        let err = KeySource::PrivateKey("zz-secret-zz".into())
            .load()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn keystore_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_core_rng();
        let key = alloy::primitives::B256::from_slice(&alloy::hex::decode(KEY).unwrap());
        let (signer, name) =
            PrivateKeySigner::encrypt_keystore(dir.path(), &mut rng, key, "hunter2", None).unwrap();
        let pw = dir.path().join("..").join(format!("pw-{name}"));
        std::fs::write(&pw, "hunter2\n").unwrap();
        let file = dir.path().join(&name);

        let by_file = KeySource::Keystore {
            path: file.clone(),
            password_file: Some(pw.clone()),
            password: None,
            address: None,
        };
        assert_eq!(by_file.load().unwrap().address(), signer.address());

        // a directory with one file, with and without the expected address
        let by_dir = KeySource::Keystore {
            path: dir.path().into(),
            password_file: Some(pw.clone()),
            password: None,
            address: Some(signer.address()),
        };
        assert_eq!(by_dir.load().unwrap().address(), signer.address());
        let other = Address::repeat_byte(7);
        let wrong = KeySource::Keystore {
            path: dir.path().into(),
            password_file: Some(pw.clone()),
            password: None,
            address: Some(other),
        };
        assert!(matches!(wrong.load(), Err(KeyError::WrongAddress { .. })));
        // a geth-style file named after its address is picked among several
        let geth_name = format!("UTC--2026-11-23T00-00-00Z--{}", hex_lower(signer.address()));
        std::fs::copy(dir.path().join(&name), dir.path().join(&geth_name)).unwrap();
        std::fs::write(dir.path().join("unrelated"), "{}").unwrap();
        assert_eq!(by_dir.load().unwrap().address(), signer.address());
        let any = KeySource::Keystore {
            path: dir.path().into(),
            password_file: Some(pw.clone()),
            password: None,
            address: None,
        };
        assert!(matches!(
            any.load(),
            Err(KeyError::Ambiguous { count: 3, .. })
        ));

        let bad_pw = KeySource::Keystore {
            path: file.clone(),
            password_file: None,
            password: Some("nope".into()),
            address: None,
        };
        assert!(matches!(bad_pw.load(), Err(KeyError::Decrypt { .. })));
        let no_pw = KeySource::Keystore {
            path: file,
            password_file: None,
            password: None,
            address: None,
        };
        let err = no_pw.load().unwrap_err();
        assert!(err.to_string().contains("--password-file"), "{err}");
        std::fs::remove_file(pw).unwrap();
    }

    #[test]
    fn open_key_and_password_files_are_noticed_and_still_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand_core_rng();
        let key = alloy::primitives::B256::from_slice(&alloy::hex::decode(KEY).unwrap());
        let (signer, name) =
            PrivateKeySigner::encrypt_keystore(dir.path(), &mut rng, key, "hunter2", None).unwrap();
        let file = dir.path().join(&name);
        let pw = dir.path().join("password");
        std::fs::write(&pw, "hunter2\n").unwrap();
        let set = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        set(&pw, 0o644);
        set(&file, 0o640);
        assert_eq!(loose_permissions(&pw), Some(0o644));
        assert_eq!(loose_permissions(&file), Some(0o640));
        let src = KeySource::Keystore {
            path: file.clone(),
            password_file: Some(pw.clone()),
            password: None,
            address: None,
        };
        // A warning, not a refusal.
        assert_eq!(src.load().unwrap().address(), signer.address());
        set(&pw, 0o600);
        set(&file, 0o400);
        assert_eq!(loose_permissions(&pw), None);
        assert_eq!(loose_permissions(&file), None);
        assert_eq!(src.load().unwrap().address(), signer.address());
    }

    fn rand_core_rng() -> impl alloy::signers::k256::elliptic_curve::rand_core::CryptoRngCore {
        alloy::signers::k256::elliptic_curve::rand_core::OsRng
    }
}
