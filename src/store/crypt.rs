//! Secrets at rest: the SQLite column of a Secret (and its change-log rows) holds
//! `k1s:enc:v1:<base64 of nonce ‖ AES-256-GCM ciphertext>`, so that a copy of the
//! database file alone reveals nothing. The 32-byte key lives in a file of its own:
//! `<db>.key`, created with mode 0600 on first start, or one the user names. A column
//! without the prefix is read as plain JSON (a database from before encryption).

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use super::StoreError;

/// The prefix of an encrypted column.
pub const PREFIX: &str = "k1s:enc:v1:";

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeySource {
    /// `<db>.key`, created on first start.
    #[default]
    BesideDatabase,
    /// A file the user named; it must exist.
    File(PathBuf),
}

/// The key, ready to seal and open columns.
pub struct Cipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<key>)")
    }
}

/// `<db>.key`.
pub fn key_path_for(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".key");
    PathBuf::from(s)
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad_key(path: &Path, why: &str) -> StoreError {
    io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
    )
}

impl Cipher {
    /// Loads the key (creating `<db>.key` with mode 0600 when it is the default and
    /// missing). A key file holds 32 bytes, raw or as base64 text.
    pub fn load(db: &Path, source: &KeySource) -> Result<Cipher, StoreError> {
        let path = match source {
            KeySource::BesideDatabase => key_path_for(db),
            KeySource::File(p) => p.clone(),
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && *source == KeySource::BesideDatabase =>
            {
                create_key_file(&path)?
            }
            Err(e) => return Err(io(&path, e)),
        };
        let key = parse_key(&bytes).ok_or_else(|| {
            bad_key(
                &path,
                "an encryption key file must hold 32 bytes (raw, or base64 text)",
            )
        })?;
        Ok(Cipher::from_key(&key))
    }

    /// A cipher from a raw key (tests).
    pub fn from_key(key: &[u8; 32]) -> Cipher {
        Cipher {
            aead: Aes256Gcm::new(key.into()),
        }
    }

    /// Encrypts a column's text.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut all = nonce.to_vec();
        all.extend_from_slice(&ct);
        format!("{PREFIX}{}", STANDARD.encode(all))
    }

    /// The plain text of a column: decrypted when sealed, as it is otherwise.
    pub fn open(&self, column: &str) -> Result<String, StoreError> {
        let Some(b64) = column.strip_prefix(PREFIX) else {
            return Ok(column.to_string());
        };
        let fail = || StoreError::Decrypt;
        let all = STANDARD.decode(b64).map_err(|_| fail())?;
        if all.len() < 12 {
            return Err(fail());
        }
        let (nonce, ct) = all.split_at(12);
        let plain = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    if let Ok(k) = <[u8; 32]>::try_from(bytes) {
        return Some(k);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let raw = STANDARD.decode(text).ok()?;
    <[u8; 32]>::try_from(raw.as_slice()).ok()
}

fn create_key_file(path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let text = format!("{}\n", STANDARD.encode(key));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))?;
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_plain_columns_pass() {
        let c = Cipher::from_key(&[7; 32]);
        let sealed = c.seal(r#"{"data":{"p":"c2VjcmV0"}}"#);
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("c2VjcmV0"));
        assert_ne!(
            sealed,
            c.seal(r#"{"data":{"p":"c2VjcmV0"}}"#),
            "a fresh nonce each time"
        );
        assert_eq!(c.open(&sealed).unwrap(), r#"{"data":{"p":"c2VjcmV0"}}"#);
        assert_eq!(c.open("{\"plain\":1}").unwrap(), "{\"plain\":1}");
        let other = Cipher::from_key(&[8; 32]);
        assert!(matches!(other.open(&sealed), Err(StoreError::Decrypt)));
        assert!(matches!(
            c.open("k1s:enc:v1:AAAA"),
            Err(StoreError::Decrypt)
        ));
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k1s.db");
        let a = Cipher::load(&db, &KeySource::BesideDatabase).unwrap();
        let path = key_path_for(&db);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Cipher::load(&db, &KeySource::BesideDatabase).unwrap();
        assert_eq!(b.open(&a.seal("x")).unwrap(), "x");
        // A named file must exist, and hold a key.
        let named = dir.path().join("named.key");
        assert!(Cipher::load(&db, &KeySource::File(named.clone())).is_err());
        std::fs::write(&named, "short").unwrap();
        assert!(Cipher::load(&db, &KeySource::File(named.clone())).is_err());
        std::fs::write(&named, [1u8; 32]).unwrap();
        assert!(Cipher::load(&db, &KeySource::File(named)).is_ok());
    }
}
