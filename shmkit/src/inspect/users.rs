//! Who uses an object: the live processes that map it or hold it open, found in `/proc`.
//!
//! A process uses an object if a line of `/proc/<pid>/maps` names the object's device and inode,
//! or one of its descriptors (`/proc/<pid>/fd/*`) is the object. Matching by device and inode,
//! not by path, ignores mappings of an older object that had the same name and was removed
//! (`/dev/shm/x (deleted)`), and finds mappings whatever path they were made through.
//!
//! Reading another process's `maps` and `fd` takes `ptrace` read access: the same user and a
//! dumpable process, or `CAP_SYS_PTRACE` (root, usually; some supervisors, such as a sandbox's
//! init, refuse even root). Processes that refuse are remembered with their user id, and an
//! object lists them as *uninspected* when they could have opened it: they run as root or as the
//! object's owner, its mode lets group or others in, or they created it.
//!
//! Processes exit and start during the scan, so the result is a snapshot: a process starting to
//! use an object after its `/proc` entries were read is not seen.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{ErrorKind, Result};
use crate::sys::{self, FileId};

/// A process whose `/proc` entries could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Uninspected {
    pid: u32,
    /// The user owning its `/proc` entry (its effective user, or root if it is not dumpable).
    uid: Option<u32>,
}

/// The result of one pass over `/proc` for a set of objects.
#[derive(Debug, Default)]
pub(crate) struct UserScan {
    users: HashMap<FileId, BTreeSet<u32>>,
    uninspected: Vec<Uninspected>,
}

impl UserScan {
    /// Reads `/proc/<pid>/maps` and `/proc/<pid>/fd` of every process, recording which of
    /// `objects` each maps or has open.
    pub(crate) fn run(objects: &HashSet<FileId>) -> Result<UserScan> {
        let mut scan = UserScan::default();
        if objects.is_empty() {
            return Ok(scan);
        }
        for entry in sys::list_dir(Path::new("/proc"))? {
            let Some(pid) = entry.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            scan.scan_process(pid, objects);
        }
        for users in scan.users.values_mut() {
            // A process seen through a descriptor or mapping may have exited since: keep the
            // live ones (zombies have neither mappings nor descriptors, but are cheap to drop).
            users.retain(|&pid| sys::is_alive(pid));
        }
        Ok(scan)
    }

    fn scan_process(&mut self, pid: u32, objects: &HashSet<FileId>) {
        let dir = Path::new("/proc").join(pid.to_string());
        let mut refused = false;
        match sys::read_file(&dir.join("maps")) {
            Ok(maps) => {
                for id in parse_maps(&maps) {
                    if objects.contains(&id) {
                        self.users.entry(id).or_default().insert(pid);
                    }
                }
            }
            Err(e) if gone(e.kind()) => return,
            Err(_) => refused = true,
        }
        let fd_dir = dir.join("fd");
        match sys::list_dir(&fd_dir) {
            Ok(fds) => {
                for fd in fds {
                    let link = fd_dir.join(&fd);
                    // Only descriptors of /dev/shm files are worth a stat.
                    let Ok(target) = sys::read_link(&link) else {
                        continue;
                    };
                    if !target.as_bytes().starts_with(b"/dev/shm/") {
                        continue;
                    }
                    if let Ok(st) = sys::stat(&link)
                        && objects.contains(&st.id)
                    {
                        self.users.entry(st.id).or_default().insert(pid);
                    }
                }
            }
            Err(e) if gone(e.kind()) => return,
            Err(_) => refused = true,
        }
        if refused {
            let uid = sys::lstat(&dir).ok().map(|st| st.uid);
            self.uninspected.push(Uninspected { pid, uid });
        }
    }

    /// The live processes seen mapping or holding `id` open, in increasing order.
    pub(crate) fn users_of(&self, id: FileId) -> Vec<u32> {
        self.users
            .get(&id)
            .map(|pids| pids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The processes that could not be inspected and could use an object owned by `owner` with
    /// permission bits `mode`, created by `creator` (see the module docs).
    pub(crate) fn uninspected_for(&self, owner: u32, mode: u32, creator: Option<u32>) -> Vec<u32> {
        self.uninspected
            .iter()
            .filter(|p| {
                Some(p.pid) == creator
                    || mode & 0o066 != 0
                    || match p.uid {
                        Some(uid) => uid == owner || uid == 0,
                        None => true,
                    }
            })
            .filter(|p| sys::is_alive(p.pid))
            .map(|p| p.pid)
            .collect()
    }
}

/// Whether a `/proc` read failed because the process is gone.
fn gone(kind: ErrorKind) -> bool {
    kind == ErrorKind::NotFound
}

/// The files mapped in a `/proc/<pid>/maps` text: the device and inode of each line
/// (`address perms offset major:minor inode path`); anonymous mappings (inode 0) and lines
/// that do not parse are skipped.
pub(crate) fn parse_maps(maps: &[u8]) -> impl Iterator<Item = FileId> + '_ {
    maps.split(|&b| b == b'\n').filter_map(|line| {
        let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty()).skip(3);
        let dev = fields.next()?;
        let ino = fields.next()?;
        let (major, minor) = OsStr::from_bytes(dev).to_str()?.split_once(':')?;
        let id = FileId {
            dev_major: u32::from_str_radix(major, 16).ok()?,
            dev_minor: u32::from_str_radix(minor, 16).ok()?,
            ino: OsStr::from_bytes(ino).to_str()?.parse().ok()?,
        };
        (id.ino != 0).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let maps = b"55d0c0a00000-55d0c0a02000 r--p 00000000 103:02 1311  /usr/bin/cat\n\
            7f00aa000000-7f00aa001000 rw-s 00000000 00:1a 4242                       /dev/shm/x (deleted)\n\
            7ffd0000-7ffd1000 rw-p 00000000 00:00 0                          [stack]\n\
            garbage\n\
            1-2 r 0 zz:1 5 /nope\n";
        let ids: Vec<FileId> = parse_maps(maps).collect();
        assert_eq!(
            ids,
            [
                FileId {
                    dev_major: 0x103,
                    dev_minor: 2,
                    ino: 1311
                },
                FileId {
                    dev_major: 0,
                    dev_minor: 0x1a,
                    ino: 4242
                },
            ]
        );
    }

    #[test]
    fn uninspected_processes_count_when_they_could_open_the_object() {
        let me = std::process::id();
        let scan = UserScan {
            users: HashMap::new(),
            uninspected: vec![Uninspected {
                pid: me,
                uid: Some(1000),
            }],
        };
        assert_eq!(scan.uninspected_for(1000, 0o600, None), [me]);
        assert!(scan.uninspected_for(1001, 0o600, None).is_empty());
        assert_eq!(scan.uninspected_for(1001, 0o640, None), [me]);
        assert_eq!(scan.uninspected_for(1001, 0o600, Some(me)), [me]);
        let root = UserScan {
            users: HashMap::new(),
            uninspected: vec![Uninspected {
                pid: me,
                uid: Some(0),
            }],
        };
        assert_eq!(root.uninspected_for(1001, 0o600, None), [me]);
    }
}
