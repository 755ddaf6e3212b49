//! The store: every object (Pods, ReplicaSets, HPAs) as a row in one SQLite file,
//! mirrored in memory for reads, with a change log and a broadcast of changes.
//!
//! Only this module knows SQL. Writes go to SQLite first (WAL, `synchronous=FULL`, so an
//! acknowledged write survives a crash), then to the in-memory mirror, then to watchers.
//! Reads never touch SQLite: they are served from the mirror, which is why a GET never
//! waits behind a write's fsync.

mod crypt;
mod object;

pub use crypt::{KeySource, key_path_for};
pub use object::{Body, Kind, MetaExt, Stored};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::broadcast;

/// One change of a batch ([`Store::apply`]).
pub enum Op {
    /// Create an object (its metadata carries name and uid).
    Create(Box<Body>),
    /// Read-modify-write: the closure returns whether it changed anything.
    Update(Kind, String, Box<dyn FnOnce(&mut Body) -> bool + Send>),
    /// Remove an object, only if it has this uid when one is given.
    Delete(Kind, String, Option<String>),
    /// Fail the whole batch with `NotFound` unless this object exists with this uid
    /// (a controller writing pods for an owner that may just have been deleted).
    Require(Kind, String, String),
}

impl Op {
    /// Creates `obj`.
    pub fn create<T: Stored>(obj: T) -> Op {
        Op::Create(Box::new(obj.into_body()))
    }

    /// Read-modify-write of the `T` named `name`; `f` returns whether it changed anything.
    pub fn update<T: Stored>(
        name: impl Into<String>,
        f: impl FnOnce(&mut T) -> bool + Send + 'static,
    ) -> Op {
        Op::Update(
            T::STORED_KIND,
            name.into(),
            Box::new(move |b: &mut Body| T::from_body_mut(b).is_some_and(f)),
        )
    }

    /// Removes the `T` named `name` (only if it has `uid`, when given).
    pub fn delete<T: Stored>(name: impl Into<String>, uid: Option<String>) -> Op {
        Op::Delete(T::STORED_KIND, name.into(), uid)
    }

    /// Requires the `T` named `name` to exist with `uid`.
    pub fn require<T: Stored>(name: impl Into<String>, uid: impl Into<String>) -> Op {
        Op::Require(T::STORED_KIND, name.into(), uid.into())
    }
}

/// Who made a change: lets a component skip the echo of its own writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client, through the API.
    Api,
    /// The node agent (pod status, finished deletions).
    Node,
    /// The ReplicaSet controller (pods it creates or deletes, ReplicaSet status).
    ReplicaSets,
    /// The HPA controller (ReplicaSet scale, HPA status).
    Autoscaler,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Changed (spec, status or deletion mark).
    Modified,
    /// Removed for good.
    Deleted,
}

impl ChangeType {
    /// The change log's (and the Kubernetes watch's) name: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }

    /// The change of a change-log `change` value.
    pub fn parse(s: &str) -> Option<ChangeType> {
        [ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What the change log holds after a resourceVersion ([`Store::changes_since`]).
#[derive(Debug)]
pub enum ChangesSince {
    /// The changes after it, oldest first, and the newest version they cover.
    Changes {
        /// `(what happened, the object after it)`, each body with its resourceVersion.
        changes: Vec<(ChangeType, Body)>,
        /// The store's resourceVersion when read.
        upto: u64,
    },
    /// The log was trimmed past it: the oldest version it still holds.
    Expired {
        /// The oldest logged resourceVersion.
        oldest: u64,
    },
}

/// One entry of the change log, as broadcast to watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub change: ChangeType,
    /// Who did it.
    pub source: Source,
    /// The object after the change (for `Deleted`, its last state).
    pub object: Arc<Body>,
}

impl Change {
    /// The changed object as a `T`, if it is one.
    pub fn object_as<T: Stored>(&self) -> Option<&T> {
        T::from_body(&self.object)
    }
}

/// Store failures. User-facing ones (`AlreadyExists`, `NotFound`) are mapped by the API.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An object of that kind and name exists.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        /// Kind name.
        kind: &'static str,
        /// Object name.
        name: String,
    },
    /// No object of that kind and name.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        /// Kind name.
        kind: &'static str,
        /// Object name.
        name: String,
    },
    /// Another server holds the database.
    #[error("database {path} is in use by another K1s server")]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer K1s.
    #[error("database schema version {found} is newer than this K1s supports ({supported})")]
    TooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Opening the file or its lock failed.
    #[error("cannot open {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stored body is not valid JSON (the file was edited by hand).
    #[error("corrupt object in database: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// An encrypted Secret cannot be read with this key.
    #[error(
        "cannot decrypt a Secret in the database: is this the encryption key file it was written with?"
    )]
    Decrypt,
    /// A blocking task was cancelled (the server is shutting down).
    #[error("store task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The current schema version. Each entry of `MIGRATIONS` takes the file one version up.
const SCHEMA_VERSION: i64 = 1;
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE objects (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        uid TEXT NOT NULL,
        resource_version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, name)
     );
     CREATE TABLE changes (
        resource_version INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        change TEXT NOT NULL,
        body TEXT NOT NULL
     );",
];

/// How many change-log entries are kept at least (a watch from an older version gets 410).
pub const CHANGE_LOG_KEEP: u64 = 10_000;

struct Mirror {
    objects: BTreeMap<(Kind, String), Body>,
    resource_version: u64,
}

struct Inner {
    conn: Mutex<Connection>,
    mirror: RwLock<Mirror>,
    changes: broadcast::Sender<Change>,
    instance_id: String,
    path: PathBuf,
    // Seals the SQLite column of Secrets (crypt.rs).
    cipher: crypt::Cipher,
    // Held for the life of the store: a second server on the same file fails to take it.
    _lock: File,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (creating if missing) the database at `path`, migrates it, takes its lock and
    /// loads every object into memory.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_key(path, &KeySource::BesideDatabase)
    }

    /// [`Store::open`] with the encryption key from `key` (Secrets are encrypted in
    /// the file; `<db>.key` is created on first start when `key` is the default).
    pub fn open_with_key(path: &Path, key: &KeySource) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let lock_path = lock_path_for(path);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
            });
        }
        let cipher = crypt::Cipher::load(path, key)?;
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Freed pages are zeroed: an overwritten Secret row leaves nothing behind.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // FULL: a commit is on disk before we acknowledge it. NORMAL could lose the last
        // transactions on power loss, which would break "nothing acknowledged is lost".
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn)?;
        seal_plain_secrets(&mut conn, &cipher)?;
        let instance_id = {
            let existing: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'instance_id'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match existing {
                Some(id) => id,
                None => {
                    let id = crate::util::random_hex(16);
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('instance_id', ?1)",
                        params![id],
                    )?;
                    id
                }
            }
        };
        let mut objects = BTreeMap::new();
        let mut max_rv: u64 = conn
            .query_row(
                "SELECT COALESCE(MAX(resource_version), 0) FROM changes",
                [],
                |r| r.get::<_, i64>(0),
            )?
            .max(0) as u64;
        {
            let mut stmt =
                conn.prepare("SELECT kind, name, resource_version, body FROM objects")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (kind, name, rv, text) = row?;
                let Some(kind) = Kind::parse(&kind) else {
                    continue;
                };
                let rv = rv.max(0) as u64;
                max_rv = max_rv.max(rv);
                let mut body = Body::from_json(kind, &cipher.open(&text)?)?;
                body.meta_mut().resource_version = Some(rv.to_string());
                objects.insert((kind, name), body);
            }
        }
        let (changes, _) = broadcast::channel(4096);
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                mirror: RwLock::new(Mirror {
                    objects,
                    resource_version: max_rv,
                }),
                changes,
                instance_id,
                path: path.to_path_buf(),
                cipher,
                _lock: lock,
            }),
        })
    }

    /// This server's instance id, created with the database; it marks our containers.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The newest resourceVersion written.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    /// Subscribes to every change from now on.
    pub fn watch(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Every object of `kind` (by name) and the resourceVersion they are current at,
    /// read together: a watch that starts from this snapshot skips the broadcast
    /// changes up to that version and misses none after it.
    pub fn snapshot(&self, kind: Kind) -> (Vec<Body>, u64) {
        let m = self.read();
        let objects = m
            .objects
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .map(|(_, b)| b.clone())
            .collect();
        (objects, m.resource_version)
    }

    /// The logged changes (of `kind`, or of every kind) after resourceVersion `after`,
    /// oldest first, for a watch that resumes there: `Expired` when the log no longer reaches back that far (the client
    /// relists). Every change returned has been broadcast already, and `upto` is the
    /// newest version covered: a watcher subscribed before this call skips broadcast
    /// changes up to `upto` and misses none after it.
    pub async fn changes_since(
        &self,
        after: u64,
        kind: Option<Kind>,
    ) -> Result<ChangesSince, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.changes_since_blocking(after, kind)).await?
    }

    fn changes_since_blocking(
        &self,
        after: u64,
        only: Option<Kind>,
    ) -> Result<ChangesSince, StoreError> {
        // The connection lock orders this read after every commit whose change has been
        // published (publish runs with the lock held).
        let conn = self.conn();
        let upto = self.read().resource_version;
        if after >= upto {
            return Ok(ChangesSince::Changes {
                changes: Vec::new(),
                upto,
            });
        }
        let oldest: Option<i64> =
            conn.query_row("SELECT MIN(resource_version) FROM changes", [], |r| {
                r.get(0)
            })?;
        let oldest = oldest.map_or(upto + 1, |o| o.max(0) as u64);
        if oldest > after + 1 {
            return Ok(ChangesSince::Expired { oldest });
        }
        let mut stmt = conn.prepare(
            "SELECT resource_version, kind, change, body FROM changes \
             WHERE resource_version > ?1 AND (?2 IS NULL OR kind = ?2) \
             ORDER BY resource_version",
        )?;
        let rows = stmt.query_map(params![after as i64, only.map(Kind::as_str)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut changes = Vec::new();
        for row in rows {
            let (rv, kind, change, text) = row?;
            let (Some(kind), Some(change)) = (Kind::parse(&kind), ChangeType::parse(&change))
            else {
                continue;
            };
            let mut body = Body::from_json(kind, &self.inner.cipher.open(&text)?)?;
            body.meta_mut().resource_version = Some(rv.max(0).to_string());
            changes.push((change, body));
        }
        Ok(ChangesSince::Changes { changes, upto })
    }

    /// One object, from memory.
    pub fn get<T: Stored>(&self, name: &str) -> Option<T> {
        self.get_body(T::STORED_KIND, name)
            .and_then(|b| T::from_body(&b).cloned())
    }

    /// One object of any kind, from memory.
    pub fn get_body(&self, kind: Kind, name: &str) -> Option<Body> {
        self.read().objects.get(&(kind, name.to_string())).cloned()
    }

    /// All objects of a kind, by name, from memory.
    pub fn list<T: Stored>(&self) -> Vec<T> {
        self.scan(|o: &T| Some(o.clone()))
    }

    /// The names of all objects of a kind.
    pub fn names(&self, kind: Kind) -> Vec<String> {
        self.read()
            .objects
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .map(|((_, n), _)| n.clone())
            .collect()
    }

    /// Maps the objects of a kind in place (by name), keeping the `Some`s: no object is
    /// copied unless `f` copies it. Lists on the request path use this.
    pub fn scan<T: Stored, R>(&self, mut f: impl FnMut(&T) -> Option<R>) -> Vec<R> {
        let kind = T::STORED_KIND;
        self.read()
            .objects
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .filter_map(|(_, b)| T::from_body(b).and_then(&mut f))
            .collect()
    }

    /// Creates an object; fails with `AlreadyExists` when the name is taken (so of two
    /// concurrent creates of one name exactly one wins). `metadata.uid` must be set.
    pub async fn create<T: Stored>(&self, obj: T, source: Source) -> Result<T, StoreError> {
        let name = obj.name().to_string();
        let mut done = self.apply(vec![Op::create(obj)], source).await?;
        done.pop()
            .and_then(|b| T::from_body(&b).cloned())
            .ok_or(StoreError::NotFound {
                kind: T::STORED_KIND.as_str(),
                name,
            })
    }

    /// Read-modify-write of one object. `f` gets the current object and returns whether
    /// it changed anything; an unchanged object writes nothing. `NotFound` when absent.
    pub async fn update<T: Stored>(
        &self,
        name: &str,
        source: Source,
        f: impl FnOnce(&mut T) -> bool + Send + 'static,
    ) -> Result<T, StoreError> {
        let current = self.get::<T>(name);
        let mut done = self.apply(vec![Op::update::<T>(name, f)], source).await?;
        match done.pop().and_then(|b| T::from_body(&b).cloned()) {
            Some(o) => Ok(o),
            // Unchanged: the object as it is (re-read: it may have moved on meanwhile).
            None => self
                .get::<T>(name)
                .or(current)
                .ok_or_else(|| StoreError::NotFound {
                    kind: T::STORED_KIND.as_str(),
                    name: name.to_string(),
                }),
        }
    }

    /// Removes an object for good. With `uid`, only if it still is that object (a pod
    /// deleted and created again under the same name is not removed by a late deleter).
    /// Returns the removed object, or `None` when there was nothing (matching) to remove.
    pub async fn delete<T: Stored>(
        &self,
        name: &str,
        uid: Option<&str>,
        source: Source,
    ) -> Result<Option<T>, StoreError> {
        let op = Op::delete::<T>(name, uid.map(str::to_string));
        Ok(self
            .apply(vec![op], source)
            .await?
            .pop()
            .and_then(|b| T::from_body(&b).cloned()))
    }

    /// Applies several changes in one transaction: all of them or none. A `Create` of a
    /// taken name fails the whole batch with `AlreadyExists`; an `Update` of a missing
    /// object, or a `Require` not met, fails it with `NotFound`; a `Delete` of a missing
    /// (or other-uid) object is skipped. Returns the objects written, in order (unchanged
    /// updates and skipped deletes are left out).
    pub async fn apply(&self, ops: Vec<Op>, source: Source) -> Result<Vec<Body>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_blocking(ops, source)).await?
    }

    fn apply_blocking(&self, ops: Vec<Op>, source: Source) -> Result<Vec<Body>, StoreError> {
        let mut conn = self.conn();
        // Work on a private view of the touched keys so that a later op sees an earlier
        // one's result, and nothing is visible to readers before the commit.
        let mut view: BTreeMap<(Kind, String), Option<Body>> = BTreeMap::new();
        let mut rv = self.read().resource_version;
        let mut changes: Vec<(ChangeType, Body)> = Vec::new();
        let current =
            |view: &BTreeMap<(Kind, String), Option<Body>>, kind: Kind, name: &str| match view
                .get(&(kind, name.to_string()))
            {
                Some(o) => o.clone(),
                None => self.get_body(kind, name),
            };
        for op in ops {
            match op {
                Op::Create(body) => {
                    let mut body = *body;
                    let kind = body.kind();
                    let name = body.name().to_string();
                    if current(&view, kind, &name).is_some() {
                        return Err(StoreError::AlreadyExists {
                            kind: kind.as_str(),
                            name,
                        });
                    }
                    rv += 1;
                    body.meta_mut().resource_version = Some(rv.to_string());
                    view.insert((kind, name), Some(body.clone()));
                    changes.push((ChangeType::Added, body));
                }
                Op::Update(kind, name, f) => {
                    let Some(mut body) = current(&view, kind, &name) else {
                        return Err(StoreError::NotFound {
                            kind: kind.as_str(),
                            name,
                        });
                    };
                    let (uid, before) = (body.uid().to_string(), body.name().to_string());
                    if !f(&mut body) {
                        continue;
                    }
                    // Identity is the store's: a closure cannot rename or re-uid a row.
                    let meta = body.meta_mut();
                    meta.name = Some(before);
                    meta.uid = Some(uid);
                    rv += 1;
                    meta.resource_version = Some(rv.to_string());
                    view.insert((kind, name), Some(body.clone()));
                    changes.push((ChangeType::Modified, body));
                }
                Op::Require(kind, name, uid) => {
                    if current(&view, kind, &name).is_none_or(|o| o.uid() != uid) {
                        return Err(StoreError::NotFound {
                            kind: kind.as_str(),
                            name,
                        });
                    }
                }
                Op::Delete(kind, name, uid) => {
                    let Some(mut body) = current(&view, kind, &name) else {
                        continue;
                    };
                    if uid.as_ref().is_some_and(|u| u != body.uid()) {
                        continue;
                    }
                    rv += 1;
                    body.meta_mut().resource_version = Some(rv.to_string());
                    view.insert((kind, name), None);
                    changes.push((ChangeType::Deleted, body));
                }
            }
        }
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let tx = conn.transaction()?;
        for (change, obj) in &changes {
            // The SQLite column is one of the two places JSON is allowed (the other: HTTP).
            let text = self.column(obj)?;
            let (k, name, uid, rv) = (
                obj.kind().as_str(),
                obj.name(),
                obj.uid(),
                obj.resource_version() as i64,
            );
            match change {
                ChangeType::Added => {
                    tx.execute(
                        "INSERT INTO objects (kind, name, uid, resource_version, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![k, name, uid, rv, text],
                    )?;
                }
                ChangeType::Modified => {
                    tx.execute(
                        "UPDATE objects SET resource_version = ?3, body = ?4 WHERE kind = ?1 AND name = ?2",
                        params![k, name, rv, text],
                    )?;
                }
                ChangeType::Deleted => {
                    tx.execute(
                        "DELETE FROM objects WHERE kind = ?1 AND name = ?2",
                        params![k, name],
                    )?;
                }
            }
            // Read back by the Kubernetes API's watch ([`Store::changes_since`]): a
            // resourceVersion older than what the log keeps gets 410 Expired.
            log_change(&tx, rv as u64, obj.kind(), name, change.as_str(), &text)?;
        }
        tx.commit()?;
        let written = changes.iter().map(|(_, o)| o.clone()).collect();
        self.publish(changes, source, &mut conn);
        Ok(written)
    }

    /// Applies a committed transaction to the mirror, all of it at once, then tells
    /// watchers. Called with the connection lock held so that mirror order equals
    /// commit order. All at once matters: a reader woken by the first change of a
    /// batch (a ReplicaSet deleted) must not see the mirror without the batch's other
    /// changes (its pods' owner references removed).
    fn publish(&self, changes: Vec<(ChangeType, Body)>, source: Source, conn: &mut Connection) {
        let Some(last) = changes.last().map(|(_, o)| o.resource_version()) else {
            return;
        };
        let first = changes.first().map_or(last, |(_, o)| o.resource_version());
        {
            let mut m = self.inner.mirror.write().unwrap_or_else(|e| e.into_inner());
            m.resource_version = last;
            for (change, object) in &changes {
                let key = (object.kind(), object.name().to_string());
                if *change == ChangeType::Deleted {
                    m.objects.remove(&key);
                } else {
                    m.objects.insert(key, object.clone());
                }
            }
        }
        if (first..=last).any(|rv| rv.is_multiple_of(1000)) {
            // Trim the change log now and then rather than on every write.
            let _ = conn.execute(
                "DELETE FROM changes WHERE resource_version <= ?1",
                params![last.saturating_sub(CHANGE_LOG_KEEP) as i64],
            );
        }
        for (change, object) in changes {
            let _ = self.inner.changes.send(Change {
                change,
                source,
                // Shared: the channel keeps thousands of changes and every receiver
                // clones what it takes; a Pod inline would cost kilobytes per slot.
                object: Arc::new(object),
            });
        }
    }

    /// The SQLite column of an object: its JSON, sealed for a Secret.
    fn column(&self, obj: &Body) -> Result<String, StoreError> {
        let text = obj.to_json()?;
        Ok(if obj.kind() == Kind::Secret {
            self.inner.cipher.seal(&text)
        } else {
            text
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Mirror> {
        self.inner.mirror.read().unwrap_or_else(|e| e.into_inner())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lock_path_for(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// Seals the Secret rows a K1s from before encryption wrote in plain JSON (objects
/// and change log), in one transaction.
fn seal_plain_secrets(conn: &mut Connection, cipher: &crypt::Cipher) -> Result<(), StoreError> {
    let like = format!("{}%", crypt::PREFIX);
    let tx = conn.transaction()?;
    let mut sealed = 0;
    for (table, key) in [("objects", "name"), ("changes", "resource_version")] {
        let rows: Vec<(rusqlite::types::Value, String)> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {key}, body FROM {table} WHERE kind = 'Secret' AND body NOT LIKE ?1"
            ))?;
            stmt.query_map(params![like], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (k, body) in rows {
            tx.execute(
                &format!("UPDATE {table} SET body = ?1 WHERE kind = 'Secret' AND {key} = ?2"),
                params![cipher.seal(&body), k],
            )?;
            sealed += 1;
        }
    }
    tx.commit()?;
    if sealed > 0 {
        // The plain pages leave the write-ahead log too.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn log_change(
    tx: &rusqlite::Transaction<'_>,
    rv: u64,
    kind: Kind,
    name: &str,
    change: &str,
    body: &str,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO changes (resource_version, kind, name, change, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![rv as i64, kind.as_str(), name, change, body],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::{Pod, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, uid: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(uid.into()),
                labels: Some([("a".to_string(), "b".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn mark(p: &mut Pod) -> bool {
        p.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        true
    }

    #[tokio::test]
    async fn create_get_update_delete_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k1s.db");
        let id;
        {
            let store = Store::open(&path).unwrap();
            id = store.instance_id().to_string();
            let o = store.create(pod("a", "u1"), Source::Api).await.unwrap();
            assert_eq!(o.resource_version(), 1);
            assert_eq!(o.metadata.resource_version.as_deref(), Some("1"));
            let err = store.create(pod("a", "u2"), Source::Api).await;
            assert!(matches!(err, Err(StoreError::AlreadyExists { .. })));
            store
                .update("a", Source::Node, |p: &mut Pod| {
                    p.status = Some(PodStatus {
                        phase: Some("Running".into()),
                        ..Default::default()
                    });
                    true
                })
                .await
                .unwrap();
            store.create(pod("b", "u3"), Source::Api).await.unwrap();
            assert!(
                store
                    .delete::<Pod>("b", Some("other"), Source::Api)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                store
                    .delete::<Pod>("b", Some("u3"), Source::Api)
                    .await
                    .unwrap()
                    .is_some()
            );
            // a second server on the same file is refused while the first holds it
            assert!(matches!(Store::open(&path), Err(StoreError::Locked { .. })));
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.instance_id(), id);
        let a = store.get::<Pod>("a").unwrap();
        assert_eq!(a.status.and_then(|s| s.phase).as_deref(), Some("Running"));
        assert_eq!(
            a.metadata.labels.unwrap().get("a").map(String::as_str),
            Some("b")
        );
        assert!(store.get::<Pod>("b").is_none());
        assert_eq!(store.resource_version(), 4);
        assert_eq!(store.list::<Pod>().len(), 1);
        assert!(store.list::<ReplicaSet>().is_empty());
    }

    #[tokio::test]
    async fn secrets_are_sealed_in_the_file_and_old_plain_rows_still_read() {
        use k8s_openapi::ByteString;
        use k8s_openapi::api::core::v1::Secret;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k1s.db");
        let secret = |name: &str, uid: &str| Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(uid.into()),
                ..Default::default()
            },
            data: Some([("p".to_string(), ByteString(b"sup3r-s3cret-value".to_vec()))].into()),
            ..Default::default()
        };
        {
            let store = Store::open(&path).unwrap();
            store.create(secret("a", "u1"), Source::Api).await.unwrap();
            // A row as a K1s from before encryption wrote it.
            let plain = Body::Secret(secret("old", "u2")).to_json().unwrap();
            store
                .conn()
                .execute(
                    "INSERT INTO objects (kind, name, uid, resource_version, body) VALUES ('Secret', 'old', 'u2', 9, ?1)",
                    params![plain],
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        for name in ["a", "old"] {
            let s = store.get::<Secret>(name).unwrap();
            assert_eq!(s.data.unwrap()["p"].0, b"sup3r-s3cret-value");
        }
        drop(store);
        // Neither the value nor its base64 is anywhere in the database's files.
        let b64 = "c3VwM3Itc2VjcmV0LXZhbHVl";
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("sup3r-s3cret-value") && !text.contains(b64));
        }
        // Another key cannot read them.
        std::fs::write(crypt::key_path_for(&path), [9u8; 32]).unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Decrypt)));
    }

    #[tokio::test]
    async fn concurrent_creates_of_one_name_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create(pod("same", &format!("u{i}")), Source::Api)
                    .await
                    .is_ok()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap() {
                wins += 1;
            }
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn a_batch_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k1s.db");
        let store = Store::open(&path).unwrap();
        store.create(pod("taken", "u0"), Source::Api).await.unwrap();
        let ops = vec![
            Op::create(pod("new", "u1")),
            Op::update::<Pod>("taken", mark),
            Op::create(pod("taken", "u2")),
        ];
        assert!(matches!(
            store.apply(ops, Source::Api).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(store.get::<Pod>("new").is_none());
        assert!(!store.get::<Pod>("taken").unwrap().is_deleting());
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("rs".into()),
                uid: Some("u3".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let ops = vec![
            Op::create(rs),
            Op::update::<Pod>("taken", mark),
            Op::delete::<Pod>("absent", None),
        ];
        let written = store.apply(ops, Source::Api).await.unwrap();
        assert_eq!(written.len(), 2);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.get::<Pod>("taken").unwrap().is_deleting());
        assert!(store.get::<ReplicaSet>("rs").is_some());
    }

    #[tokio::test]
    async fn an_update_cannot_change_identity() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        store.create(pod("a", "u1"), Source::Api).await.unwrap();
        let p = store
            .update("a", Source::Api, |p: &mut Pod| {
                p.metadata.name = Some("b".into());
                p.metadata.uid = Some("u2".into());
                true
            })
            .await
            .unwrap();
        assert_eq!((p.name(), p.uid()), ("a", "u1"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_visible_whole_to_whoever_its_first_change_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        for i in 0..200 {
            let (old, new) = (format!("old{i}"), format!("new{i}"));
            store.create(pod(&old, "u"), Source::Api).await.unwrap();
            let mut rx = store.watch();
            // A reader on its own thread, woken by the batch's first change, looks at
            // the mirror at once (as a controller woken by a ReplicaSet's deletion does).
            let (s, n) = (store.clone(), new.clone());
            let reader = std::thread::spawn(move || {
                let first = rx.blocking_recv().unwrap();
                (first.change, s.get::<Pod>(&n).is_some())
            });
            let ops = vec![Op::delete::<Pod>(old, None), Op::create(pod(&new, "u2"))];
            store.apply(ops, Source::Api).await.unwrap();
            let (change, saw_second) = reader.join().unwrap();
            assert_eq!(change, ChangeType::Deleted);
            assert!(
                saw_second,
                "try {i}: the batch's second change was not visible yet"
            );
        }
    }

    #[tokio::test]
    async fn watchers_see_changes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let mut rx = store.watch();
        store.create(pod("a", "u"), Source::Api).await.unwrap();
        store.delete::<Pod>("a", None, Source::Node).await.unwrap();
        let c1 = rx.recv().await.unwrap();
        let c2 = rx.recv().await.unwrap();
        assert_eq!(c1.change, ChangeType::Added);
        assert_eq!((c2.change, c2.source), (ChangeType::Deleted, Source::Node));
        assert!(c2.object.resource_version() > c1.object.resource_version());
        assert_eq!(c2.object_as::<Pod>().map(|p| p.name()), Some("a"));
    }

    #[tokio::test]
    async fn the_change_log_replays_changes_after_a_version_or_says_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        store.create(pod("a", "u1"), Source::Api).await.unwrap(); // 1
        store.update("a", Source::Node, mark).await.unwrap(); // 2
        store.create(pod("b", "u2"), Source::Api).await.unwrap(); // 3
        store.delete::<Pod>("a", None, Source::Node).await.unwrap(); // 4
        let ChangesSince::Changes { changes, upto } = store.changes_since(1, None).await.unwrap()
        else {
            panic!("expired")
        };
        assert_eq!(upto, 4);
        let seen: Vec<(ChangeType, &str, u64)> = changes
            .iter()
            .map(|(c, b)| (*c, b.name(), b.resource_version()))
            .collect();
        assert_eq!(
            seen,
            [
                (ChangeType::Modified, "a", 2),
                (ChangeType::Added, "b", 3),
                (ChangeType::Deleted, "a", 4)
            ]
        );
        assert!(changes[0].1.is_deleting());
        let ChangesSince::Changes { changes, .. } =
            store.changes_since(4, Some(Kind::Pod)).await.unwrap()
        else {
            panic!("expired")
        };
        assert!(changes.is_empty());
        let other = store
            .changes_since(1, Some(Kind::ReplicaSet))
            .await
            .unwrap();
        assert!(matches!(other, ChangesSince::Changes { changes, upto: 4 } if changes.is_empty()));
        let (objects, rv) = store.snapshot(Kind::Pod);
        assert_eq!((objects.len(), rv), (1, 4));
        // the log trimmed up to 2: resuming at 1 is no longer possible, at 2 it is
        store
            .conn()
            .execute("DELETE FROM changes WHERE resource_version <= 2", [])
            .unwrap();
        assert!(matches!(
            store.changes_since(1, None).await.unwrap(),
            ChangesSince::Expired { oldest: 3 }
        ));
        assert!(matches!(
            store.changes_since(0, None).await.unwrap(),
            ChangesSince::Expired { .. }
        ));
        let ChangesSince::Changes { changes, .. } =
            store.changes_since(2, Some(Kind::Pod)).await.unwrap()
        else {
            panic!("expired")
        };
        assert_eq!(changes.len(), 2);
    }
}
