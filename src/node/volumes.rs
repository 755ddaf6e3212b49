//! A pod's volumes on the host: K1s-owned directories per pod, bind-mounted into its
//! container. ConfigMap files and disk `emptyDir`s live under `<db dir>/pods/<uid>/`;
//! Secret files and `medium: Memory` `emptyDir`s under a tmpfs (`/run/k1s/<instance>`
//! when `/run` is one, else `/dev/shm/k1s-<instance>`), so a Secret never touches the
//! host's disk. Projected files are written atomically as the kubelet does: a new
//! `..<timestamp>` directory, `..data` swapped to it by a rename, each top-level name a
//! symlink through `..data`, so a reader never sees half an update.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;

use super::config::{Files, VolumeContent};
use super::spec::first_container;
use crate::runtime::MountSpec;

/// Where this instance keeps its pods' volumes.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// On disk: `<db dir>/pods`.
    pub disk: PathBuf,
    /// In memory: `<tmpfs>/pods`, `None` when no tmpfs was found.
    pub memory: Option<PathBuf>,
}

impl Dirs {
    /// The directories for the database at `db` and this instance.
    pub fn new(db: &Path, instance: &str) -> Dirs {
        let base = db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let memory = [
            (PathBuf::from("/run"), format!("k1s/{instance}")),
            (PathBuf::from("/dev/shm"), format!("k1s-{instance}")),
        ]
        .into_iter()
        .find(|(mount, _)| is_tmpfs(mount))
        .map(|(mount, sub)| mount.join(sub).join("pods"));
        Dirs {
            disk: base.join("pods"),
            memory,
        }
    }

    /// A pod's volume directory.
    fn volume(&self, uid: &str, name: &str, memory: bool) -> Result<PathBuf, String> {
        let root = if memory {
            self.memory
                .as_ref()
                .ok_or("no tmpfs (/run or /dev/shm) to keep secret and memory volumes in")?
        } else {
            &self.disk
        };
        Ok(root.join(uid).join("volumes").join(name))
    }

    /// Removes everything K1s wrote for the pod `uid`.
    pub fn remove_pod(&self, uid: &str) {
        if uid.is_empty() || uid.contains('/') {
            return;
        }
        for root in std::iter::once(&self.disk).chain(self.memory.iter()) {
            let dir = root.join(uid);
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "removing a pod's volumes failed");
            }
        }
        // The instance's tmpfs directory goes with its last pod (only when empty; a
        // write racing this recreates it: see `write_volumes`).
        if let Some(mem) = &self.memory {
            let _ = std::fs::remove_dir(mem);
            if let Some(instance) = mem.parent() {
                let _ = std::fs::remove_dir(instance);
            }
        }
    }

    /// Removes the directories of pods whose uid is not in `live`.
    pub fn sweep(&self, live: &HashSet<String>) {
        for root in std::iter::once(&self.disk).chain(self.memory.iter()) {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            for e in entries.flatten() {
                let uid = e.file_name().to_string_lossy().into_owned();
                if !live.contains(&uid) {
                    self.remove_pod(&uid);
                }
            }
        }
    }

    /// Writes the pod's volumes (projected files only when they changed) and answers
    /// the bind mounts of its first container.
    pub fn write(&self, pod: &Pod, volumes: &[VolumeContent]) -> Result<Vec<MountSpec>, String> {
        self.write_volumes(pod, volumes)?;
        self.mounts(pod, volumes)
    }

    fn pod_uid(pod: &Pod) -> Result<&str, String> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if uid.is_empty() || uid.contains('/') {
            return Err("the pod has no uid".into());
        }
        Ok(uid)
    }

    /// Writes the pod's volumes: projected files only when they changed, empty
    /// directories once. A running container sees the new files at once.
    pub fn write_volumes(&self, pod: &Pod, volumes: &[VolumeContent]) -> Result<(), String> {
        // Once more if another pod's removal took an (empty) parent away meanwhile.
        self.write_volumes_once(pod, volumes)
            .or_else(|_| self.write_volumes_once(pod, volumes))
    }

    fn write_volumes_once(&self, pod: &Pod, volumes: &[VolumeContent]) -> Result<(), String> {
        let uid = Dirs::pod_uid(pod)?;
        for v in volumes {
            let dir = self.volume(uid, v.name(), v.memory())?;
            let io_err = |e: io::Error| format!("writing volume \"{}\": {e}", v.name());
            match v {
                VolumeContent::Projected { files, .. } => {
                    write_atomic(&dir, files).map_err(io_err)?;
                }
                VolumeContent::Empty { .. } => {
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir).map_err(io_err)?;
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                            .map_err(io_err)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The bind mounts of the pod's first container (a projected `subPath` is copied
    /// now, once per container).
    fn mounts(&self, pod: &Pod, volumes: &[VolumeContent]) -> Result<Vec<MountSpec>, String> {
        let uid = Dirs::pod_uid(pod)?;
        let mut mounts = Vec::new();
        let Some(c) = first_container(pod) else {
            return Ok(mounts);
        };
        for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
            let Some(v) = volumes.iter().find(|v| v.name() == m.name) else {
                return Err(format!("volume \"{}\" cannot be mounted by K1s", m.name));
            };
            let mut source = self.volume(uid, v.name(), v.memory())?;
            let projected = matches!(v, VolumeContent::Projected { .. });
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                source = source.join(sub);
                if !projected && !source.exists() {
                    std::fs::create_dir_all(&source)
                        .map_err(|e| format!("creating subPath \"{sub}\": {e}"))?;
                }
                if projected {
                    // A subPath of projected files is a copy made when the container
                    // is created, at a path of its own that outlives the next swap
                    // (it does not update, as in Kubernetes).
                    let missing =
                        |_| format!("subPath \"{sub}\" not found in volume \"{}\"", m.name);
                    let content = std::fs::read(&source).map_err(missing)?;
                    let mode = std::fs::metadata(&source)
                        .map_err(missing)?
                        .permissions()
                        .mode();
                    let vol = self.volume(uid, v.name(), v.memory())?;
                    let pod_dir = vol.parent().and_then(Path::parent).unwrap_or(&vol);
                    let copy = pod_dir
                        .join("volume-subpaths")
                        .join(v.name())
                        .join(i.to_string());
                    let err = |e: io::Error| format!("copying subPath \"{sub}\": {e}");
                    if let Some(parent) = copy.parent() {
                        std::fs::create_dir_all(parent).map_err(err)?;
                    }
                    std::fs::write(&copy, content).map_err(err)?;
                    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode & 0o777))
                        .map_err(err)?;
                    source = copy;
                }
            }
            mounts.push(MountSpec {
                source: source.to_string_lossy().into_owned(),
                target: m.mount_path.clone(),
                read_only: projected || m.read_only == Some(true),
            });
        }
        Ok(mounts)
    }
}

/// Whether `path` is the mount point of a tmpfs (from `/proc/self/mountinfo`).
fn is_tmpfs(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    // The last mount at a path is the one in effect.
    info.lines()
        .filter_map(|l| {
            let mut parts = l.split(" - ");
            let left = parts.next()?;
            let right = parts.next()?;
            let mount_point = left.split_whitespace().nth(4)?;
            let fstype = right.split_whitespace().next()?;
            Some((mount_point.to_string(), fstype.to_string()))
        })
        .rfind(|(m, _)| *m == want)
        .is_some_and(|(_, t)| t == "tmpfs")
}

/// The files as they are now (through `..data`), or `None` when there are none yet.
fn current(dir: &Path) -> Option<Files> {
    let data = dir.join("..data");
    std::fs::symlink_metadata(&data).ok()?;
    let mut out = Files::new();
    fn walk(base: &Path, rel: &str, out: &mut Files) -> io::Result<()> {
        for e in std::fs::read_dir(base.join(rel))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = e.metadata()?;
            if meta.is_dir() {
                walk(base, &r, out)?;
            } else {
                let content = std::fs::read(base.join(&r))?;
                out.insert(r, (content, meta.permissions().mode() & 0o777));
            }
        }
        Ok(())
    }
    walk(&data, "", &mut out).ok()?;
    Some(out)
}

/// Writes `files` into `dir` atomically (Kubernetes' AtomicWriter): unchanged files
/// write nothing; otherwise a new timestamped directory, `..data` renamed onto a
/// symlink to it, top-level symlinks `name → ..data/name` added or removed, the old
/// directory removed. Returns whether anything changed.
pub fn write_atomic(dir: &Path, files: &Files) -> io::Result<bool> {
    if current(dir).as_ref() == Some(files) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let old = std::fs::read_link(dir.join("..data")).ok();
    let stamp = format!(
        "..{}.{}",
        jiff::Timestamp::now().strftime("%Y_%m_%d_%H_%M_%S"),
        crate::util::random_hex(9)
    );
    let ts_dir = dir.join(&stamp);
    std::fs::create_dir(&ts_dir)?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    for (rel, (content, mode)) in files {
        let path = ts_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    let tops: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{top}"), &link)?;
        }
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !tops.contains(&name) {
            std::fs::remove_file(e.path())?;
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str, u32)]) -> Files {
        pairs
            .iter()
            .map(|(p, c, m)| (p.to_string(), (c.as_bytes().to_vec(), *m)))
            .collect()
    }

    #[test]
    fn the_atomic_writer_swaps_data_and_keeps_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("vol");
        assert!(write_atomic(&dir, &files(&[("a", "1", 0o644), ("d/b", "2", 0o600)])).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(dir.join("d/b")).unwrap(), "2");
        assert_eq!(
            std::fs::read_link(dir.join("a")).unwrap(),
            Path::new("..data/a")
        );
        let first = std::fs::read_link(dir.join("..data")).unwrap();
        assert!(first.to_string_lossy().starts_with("..20"), "{first:?}");
        let mode = std::fs::metadata(dir.join("d/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Unchanged: nothing written.
        assert!(!write_atomic(&dir, &files(&[("a", "1", 0o644), ("d/b", "2", 0o600)])).unwrap());
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), first);
        // Changed: a new directory, the old one gone, a removed key's link gone.
        assert!(write_atomic(&dir, &files(&[("a", "3", 0o644)])).unwrap());
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "3");
        assert!(std::fs::symlink_metadata(dir.join("d")).is_err());
        assert!(!dir.join(&first).exists());
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}"); // a, ..data, ..<stamp>
    }

    #[test]
    fn pod_directories_are_removed_and_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            disk: tmp.path().join("disk"),
            memory: Some(tmp.path().join("mem")),
        };
        let pod: Pod = serde_json::from_str(
            r#"{"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [{"name": "c", "image": "i",
                "volumeMounts": [{"name": "s", "mountPath": "/s"}, {"name": "e", "mountPath": "/e", "subPath": "x"}]}]}}"#,
        )
        .unwrap();
        let vols = vec![
            VolumeContent::Projected {
                name: "s".into(),
                memory: true,
                files: files(&[("k", "v", 0o644)]),
            },
            VolumeContent::Empty {
                name: "e".into(),
                memory: false,
            },
        ];
        let mounts = dirs.write(&pod, &vols).unwrap();
        assert_eq!(
            mounts[0].source,
            tmp.path().join("mem/u1/volumes/s").to_string_lossy()
        );
        assert!(mounts[0].read_only);
        assert_eq!(
            mounts[1].source,
            tmp.path().join("disk/u1/volumes/e/x").to_string_lossy()
        );
        assert!(!mounts[1].read_only);
        std::fs::create_dir_all(tmp.path().join("disk/u2")).unwrap();
        dirs.sweep(&["u1".to_string()].into());
        assert!(tmp.path().join("disk/u1").exists());
        assert!(!tmp.path().join("disk/u2").exists());
        dirs.remove_pod("u1");
        assert!(!tmp.path().join("disk/u1").exists() && !tmp.path().join("mem/u1").exists());
        // The memory root goes with its last pod.
        assert!(!tmp.path().join("mem").exists());
    }
}
