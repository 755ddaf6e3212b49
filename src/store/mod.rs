//! The store: every object (Pods, ReplicaSets, HPAs) as a row in one SQLite file,
//! mirrored in memory for reads, with a change log and a broadcast of changes.
//!
//! Only this module knows SQL. Writes go to SQLite first (WAL, `synchronous=FULL`, so an
//! acknowledged write survives a crash), then to the in-memory mirror, then to watchers.
//! Reads never touch SQLite: they are served from the mirror, which is why a GET never
//! waits behind a write's fsync.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::broadcast;

/// The kinds of object K1s stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `v1` Pod.
    Pod,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `autoscaling` HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
}

impl Kind {
    /// The Kubernetes kind name, also the value of the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "Pod" => Some(Kind::Pod),
            "ReplicaSet" => Some(Kind::ReplicaSet),
            "HorizontalPodAutoscaler" => Some(Kind::HorizontalPodAutoscaler),
            _ => None,
        }
    }
}

/// A stored object: the whole Kubernetes object as JSON, with `metadata.resourceVersion`
/// kept equal to [`Object::resource_version`].
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its kind.
    pub kind: Kind,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The store-wide counter value of its last write.
    pub resource_version: u64,
    /// The full object (apiVersion, kind, metadata, spec, status).
    pub body: Value,
}

impl Object {
    /// `metadata.deletionTimestamp` is set: the object is on its way out.
    pub fn is_deleting(&self) -> bool {
        self.body
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }

    /// `metadata.labels` as a map (non-string values, which admission never lets in, are skipped).
    pub fn labels(&self) -> BTreeMap<String, String> {
        labels_of(&self.body)
    }
}

/// `metadata.labels` of an object body.
pub fn labels_of(body: &Value) -> BTreeMap<String, String> {
    body.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// One change of a batch ([`Store::apply`]).
pub enum Op {
    /// Create an object (its body carries name and uid).
    Create(Kind, Value),
    /// Read-modify-write: the closure returns whether it changed anything.
    Update(Kind, String, Box<dyn FnOnce(&mut Value) -> bool + Send>),
    /// Remove an object, only if it has this uid when one is given.
    Delete(Kind, String, Option<String>),
    /// Fail the whole batch with `NotFound` unless this object exists with this uid
    /// (a controller writing pods for an owner that may just have been deleted).
    Require(Kind, String, String),
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

/// One entry of the change log, as broadcast to watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub change: ChangeType,
    /// Who did it.
    pub source: Source,
    /// The object after the change (for `Deleted`, its last state).
    pub object: Object,
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

/// How many change-log entries are kept at least (SPEC §9: watches from older versions get 410).
pub const CHANGE_LOG_KEEP: u64 = 10_000;

struct Mirror {
    objects: BTreeMap<(Kind, String), Object>,
    resource_version: u64,
}

struct Inner {
    conn: Mutex<Connection>,
    mirror: RwLock<Mirror>,
    changes: broadcast::Sender<Change>,
    instance_id: String,
    path: PathBuf,
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
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before we acknowledge it. NORMAL could lose the last
        // transactions on power loss, which would break "nothing acknowledged is lost".
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn)?;
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
                conn.prepare("SELECT kind, name, uid, resource_version, body FROM objects")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            for row in rows {
                let (kind, name, uid, rv, body) = row?;
                let Some(kind) = Kind::parse(&kind) else {
                    continue;
                };
                let rv = rv.max(0) as u64;
                max_rv = max_rv.max(rv);
                let body: Value = serde_json::from_str(&body)?;
                objects.insert(
                    (kind, name.clone()),
                    Object {
                        kind,
                        name,
                        uid,
                        resource_version: rv,
                        body,
                    },
                );
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

    /// One object, from memory.
    pub fn get(&self, kind: Kind, name: &str) -> Option<Object> {
        self.read().objects.get(&(kind, name.to_string())).cloned()
    }

    /// All objects of a kind, by name, from memory.
    pub fn list(&self, kind: Kind) -> Vec<Object> {
        self.read()
            .objects
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Maps the objects of a kind in place (by name), keeping the `Some`s: no object is
    /// copied unless `f` copies it. Lists on the request path use this.
    pub fn scan<T>(&self, kind: Kind, mut f: impl FnMut(&Object) -> Option<T>) -> Vec<T> {
        self.read()
            .objects
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .filter_map(|(_, o)| f(o))
            .collect()
    }

    /// Creates an object; fails with `AlreadyExists` when the name is taken (so of two
    /// concurrent creates of one name exactly one wins). `body.metadata.uid` must be set.
    pub async fn create(
        &self,
        kind: Kind,
        body: Value,
        source: Source,
    ) -> Result<Object, StoreError> {
        let mut done = self.apply(vec![Op::Create(kind, body)], source).await?;
        done.pop().ok_or_else(|| StoreError::NotFound {
            kind: kind.as_str(),
            name: String::new(),
        })
    }

    /// Read-modify-write of one object. `f` gets the current body and returns whether it
    /// changed anything; an unchanged body writes nothing. `NotFound` when absent.
    pub async fn update<F>(
        &self,
        kind: Kind,
        name: &str,
        source: Source,
        f: F,
    ) -> Result<Object, StoreError>
    where
        F: FnOnce(&mut Value) -> bool + Send + 'static,
    {
        let current = self.get(kind, name);
        let mut done = self
            .apply(
                vec![Op::Update(kind, name.to_string(), Box::new(f))],
                source,
            )
            .await?;
        match done.pop() {
            Some(o) => Ok(o),
            // Unchanged: the object as it is (re-read: it may have moved on meanwhile).
            None => self
                .get(kind, name)
                .or(current)
                .ok_or_else(|| StoreError::NotFound {
                    kind: kind.as_str(),
                    name: name.to_string(),
                }),
        }
    }

    /// Removes an object for good. With `uid`, only if it still is that object (a pod
    /// deleted and created again under the same name is not removed by a late deleter).
    /// Returns the removed object, or `None` when there was nothing (matching) to remove.
    pub async fn delete(
        &self,
        kind: Kind,
        name: &str,
        uid: Option<&str>,
        source: Source,
    ) -> Result<Option<Object>, StoreError> {
        let op = Op::Delete(kind, name.to_string(), uid.map(str::to_string));
        Ok(self.apply(vec![op], source).await?.pop())
    }

    /// Applies several changes in one transaction: all of them or none. A `Create` of a
    /// taken name fails the whole batch with `AlreadyExists`; an `Update` of a missing
    /// object, or a `Require` not met, fails it with `NotFound`; a `Delete` of a missing
    /// (or other-uid) object is skipped. Returns the objects written, in order (unchanged updates and skipped
    /// deletes are left out).
    pub async fn apply(&self, ops: Vec<Op>, source: Source) -> Result<Vec<Object>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_blocking(ops, source)).await?
    }

    fn apply_blocking(&self, ops: Vec<Op>, source: Source) -> Result<Vec<Object>, StoreError> {
        let mut conn = self.conn();
        // Work on a private view of the touched keys so that a later op sees an earlier
        // one's result, and nothing is visible to readers before the commit.
        let mut view: BTreeMap<(Kind, String), Option<Object>> = BTreeMap::new();
        let mut rv = self.read().resource_version;
        let mut changes: Vec<(ChangeType, Object)> = Vec::new();
        let current =
            |view: &BTreeMap<(Kind, String), Option<Object>>, kind: Kind, name: &str| match view
                .get(&(kind, name.to_string()))
            {
                Some(o) => o.clone(),
                None => self.get(kind, name),
            };
        for op in ops {
            match op {
                Op::Create(kind, mut body) => {
                    let name = str_at(&body, "/metadata/name");
                    if current(&view, kind, &name).is_some() {
                        return Err(StoreError::AlreadyExists {
                            kind: kind.as_str(),
                            name,
                        });
                    }
                    rv += 1;
                    set_rv(&mut body, rv);
                    let obj = Object {
                        kind,
                        uid: str_at(&body, "/metadata/uid"),
                        name: name.clone(),
                        resource_version: rv,
                        body,
                    };
                    view.insert((kind, name), Some(obj.clone()));
                    changes.push((ChangeType::Added, obj));
                }
                Op::Update(kind, name, f) => {
                    let Some(cur) = current(&view, kind, &name) else {
                        return Err(StoreError::NotFound {
                            kind: kind.as_str(),
                            name,
                        });
                    };
                    let mut body = cur.body.clone();
                    if !f(&mut body) {
                        continue;
                    }
                    rv += 1;
                    set_rv(&mut body, rv);
                    let obj = Object {
                        resource_version: rv,
                        body,
                        ..cur
                    };
                    view.insert((kind, name), Some(obj.clone()));
                    changes.push((ChangeType::Modified, obj));
                }
                Op::Require(kind, name, uid) => {
                    if current(&view, kind, &name).is_none_or(|o| o.uid != uid) {
                        return Err(StoreError::NotFound {
                            kind: kind.as_str(),
                            name,
                        });
                    }
                }
                Op::Delete(kind, name, uid) => {
                    let Some(cur) = current(&view, kind, &name) else {
                        continue;
                    };
                    if uid.as_ref().is_some_and(|u| *u != cur.uid) {
                        continue;
                    }
                    rv += 1;
                    let mut body = cur.body.clone();
                    set_rv(&mut body, rv);
                    let obj = Object {
                        resource_version: rv,
                        body,
                        ..cur
                    };
                    view.insert((kind, name), None);
                    changes.push((ChangeType::Deleted, obj));
                }
            }
        }
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let tx = conn.transaction()?;
        for (change, obj) in &changes {
            let text = obj.body.to_string();
            let k = obj.kind.as_str();
            match change {
                ChangeType::Added => {
                    tx.execute(
                        "INSERT INTO objects (kind, name, uid, resource_version, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![k, obj.name, obj.uid, obj.resource_version as i64, text],
                    )?;
                }
                ChangeType::Modified => {
                    tx.execute(
                        "UPDATE objects SET resource_version = ?3, body = ?4 WHERE kind = ?1 AND name = ?2",
                        params![k, obj.name, obj.resource_version as i64, text],
                    )?;
                }
                ChangeType::Deleted => {
                    tx.execute(
                        "DELETE FROM objects WHERE kind = ?1 AND name = ?2",
                        params![k, obj.name],
                    )?;
                }
            }
            let label = match change {
                ChangeType::Added => "ADDED",
                ChangeType::Modified => "MODIFIED",
                ChangeType::Deleted => "DELETED",
            };
            log_change(&tx, obj.resource_version, obj.kind, &obj.name, label, &text)?;
        }
        tx.commit()?;
        let mut written = Vec::with_capacity(changes.len());
        for (change, obj) in changes {
            self.publish(change, source, obj.clone(), &mut conn);
            written.push(obj);
        }
        Ok(written)
    }

    /// Applies a committed change to the mirror and tells watchers. Called with the
    /// connection lock held so that mirror order equals commit order.
    fn publish(&self, change: ChangeType, source: Source, object: Object, conn: &mut Connection) {
        {
            let mut m = self.inner.mirror.write().unwrap_or_else(|e| e.into_inner());
            m.resource_version = object.resource_version;
            let key = (object.kind, object.name.clone());
            if change == ChangeType::Deleted {
                m.objects.remove(&key);
            } else {
                m.objects.insert(key, object.clone());
            }
        }
        let rv = object.resource_version;
        if rv.is_multiple_of(1000) {
            // Trim the change log now and then rather than on every write.
            let _ = conn.execute(
                "DELETE FROM changes WHERE resource_version <= ?1",
                params![rv.saturating_sub(CHANGE_LOG_KEEP) as i64],
            );
        }
        let _ = self.inner.changes.send(Change {
            change,
            source,
            object,
        });
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

fn str_at(body: &Value, ptr: &str) -> String {
    body.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn set_rv(body: &mut Value, rv: u64) {
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, uid: &str) -> Value {
        json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"uid":uid,"labels":{"a":"b"}},"spec":{}})
    }

    #[tokio::test]
    async fn create_get_update_delete_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k1s.db");
        let id;
        {
            let store = Store::open(&path).unwrap();
            id = store.instance_id().to_string();
            let o = store
                .create(Kind::Pod, pod("a", "u1"), Source::Api)
                .await
                .unwrap();
            assert_eq!(o.resource_version, 1);
            assert_eq!(o.body["metadata"]["resourceVersion"], "1");
            let err = store.create(Kind::Pod, pod("a", "u2"), Source::Api).await;
            assert!(matches!(err, Err(StoreError::AlreadyExists { .. })));
            store
                .update(Kind::Pod, "a", Source::Node, |b| {
                    b["status"] = json!({"phase":"Running"});
                    true
                })
                .await
                .unwrap();
            store
                .create(Kind::Pod, pod("b", "u3"), Source::Api)
                .await
                .unwrap();
            assert!(
                store
                    .delete(Kind::Pod, "b", Some("other"), Source::Api)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                store
                    .delete(Kind::Pod, "b", Some("u3"), Source::Api)
                    .await
                    .unwrap()
                    .is_some()
            );
            // a second server on the same file is refused while the first holds it
            assert!(matches!(Store::open(&path), Err(StoreError::Locked { .. })));
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.instance_id(), id);
        let a = store.get(Kind::Pod, "a").unwrap();
        assert_eq!(a.body["status"]["phase"], "Running");
        assert_eq!(a.labels().get("a").map(String::as_str), Some("b"));
        assert!(store.get(Kind::Pod, "b").is_none());
        assert_eq!(store.resource_version(), 4);
        assert_eq!(store.list(Kind::Pod).len(), 1);
        assert!(store.list(Kind::ReplicaSet).is_empty());
    }

    #[tokio::test]
    async fn concurrent_creates_of_one_name_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create(Kind::Pod, pod("same", &format!("u{i}")), Source::Api)
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
        store
            .create(Kind::Pod, pod("taken", "u0"), Source::Api)
            .await
            .unwrap();
        let ops = vec![
            Op::Create(Kind::Pod, pod("new", "u1")),
            Op::Update(
                Kind::Pod,
                "taken".into(),
                Box::new(|b: &mut Value| {
                    b["metadata"]["deletionTimestamp"] = json!("now");
                    true
                }),
            ),
            Op::Create(Kind::Pod, pod("taken", "u2")),
        ];
        assert!(matches!(
            store.apply(ops, Source::Api).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(store.get(Kind::Pod, "new").is_none());
        assert!(!store.get(Kind::Pod, "taken").unwrap().is_deleting());
        let ops = vec![
            Op::Create(Kind::ReplicaSet, pod("rs", "u3")),
            Op::Update(
                Kind::Pod,
                "taken".into(),
                Box::new(|b: &mut Value| {
                    b["metadata"]["deletionTimestamp"] = json!("now");
                    true
                }),
            ),
            Op::Delete(Kind::Pod, "absent".into(), None),
        ];
        let written = store.apply(ops, Source::Api).await.unwrap();
        assert_eq!(written.len(), 2);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(store.get(Kind::Pod, "taken").unwrap().is_deleting());
        assert!(store.get(Kind::ReplicaSet, "rs").is_some());
    }

    #[tokio::test]
    async fn watchers_see_changes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k1s.db")).unwrap();
        let mut rx = store.watch();
        store
            .create(Kind::Pod, pod("a", "u"), Source::Api)
            .await
            .unwrap();
        store
            .delete(Kind::Pod, "a", None, Source::Node)
            .await
            .unwrap();
        let c1 = rx.recv().await.unwrap();
        let c2 = rx.recv().await.unwrap();
        assert_eq!(c1.change, ChangeType::Added);
        assert_eq!((c2.change, c2.source), (ChangeType::Deleted, Source::Node));
        assert!(c2.object.resource_version > c1.object.resource_version);
    }
}
