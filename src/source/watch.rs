//! `duckmarc watch`: ingest what is in a directory, then every file that arrives.
//!
//! A file is taken only once it has stopped changing for a settle time, so a file written
//! slowly in chunks (an MTA delivering, an rsync) is read whole. Filesystem events (inotify
//! via `notify`) make arrival prompt; a periodic rescan catches anything an event missed
//! (network filesystems, overflowed event queues). After each batch commits, inputs can be
//! moved to an archive folder, and rejected ones to a rejected folder with the reason beside
//! them. A stop request (SIGINT/SIGTERM) is honoured between batches.

use super::files::{self, FileInput};
use super::{Batch, Input, Pull, Source};
use crate::store::{rejection_line, DocumentOutcome, Event};
use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub dirs: Vec<PathBuf>,
    /// Where stored (and duplicate or skipped) inputs are moved; `None` leaves them.
    pub archive: Option<PathBuf>,
    /// Where rejected inputs are moved, with `NAME.reason.txt` beside them.
    pub rejected: Option<PathBuf>,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
    /// How often the directories are rescanned in case an event was missed.
    pub rescan: Duration,
}

const TICK: Duration = Duration::from_millis(200);

/// How many settle times a rejected file stays where it is, unchanged, before it is moved to
/// the rejected folder. A writer that paused longer than the settle time (a slow link)
/// made a half-written file that was moved away at once: the writer then finished it there,
/// a good report beside a reason saying it was cut short, never stored. Held in place, a
/// file that changes again is read again, as without `--rejected`.
const REJECTED_AFTER_SETTLES: u32 = 10;

/// What we last saw of a pending file, and since when it has looked like that.
struct Pending {
    seen: Fingerprint,
    stable_since: Instant,
}

/// Size, modification time, permissions and owner: a file that still has them all has not
/// changed, and one that could not be read (permission denied) is read again once a `chmod`
/// or `chown` lets it be, not only after a restart. (Not the status-change time: a hard link
/// made by a backup, or `touch -a`, changes it for every file, with nothing new to read.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    size: u64,
    modified: Option<SystemTime>,
    access: (u32, u32, u32),
}

impl Fingerprint {
    fn of(path: &Path) -> Option<Fingerprint> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path).ok()?;
        Some(Fingerprint {
            size: metadata.len(),
            modified: metadata.modified().ok(),
            access: (metadata.mode(), metadata.uid(), metadata.gid()),
        })
    }
}

/// Whether a filesystem event can mean new content. Our own reads raise open, read and
/// close-after-read events; taking those as news made an unarchived folder re-read forever.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Remove(_) | EventKind::Other => false,
    }
}

/// A rejected file held in place before it is moved (`REJECTED_AFTER_SETTLES`).
struct HeldRejection {
    seen: Fingerprint,
    since: Instant,
    reason: String,
}

/// A watched set of folders, as a source: batches of files that have settled, until `stop`.
pub struct Watch<'a> {
    options: WatchOptions,
    stop: &'a AtomicBool,
    /// Kept alive: dropping it ends the events.
    _watcher: RecommendedWatcher,
    events: mpsc::Receiver<PathBuf>,
    pending: HashMap<PathBuf, Pending>,
    /// Files left in place (no archive), as they were when read: not read again unless they
    /// change. Pruned at each rescan, so it holds at most the files that are there.
    done: HashMap<PathBuf, Fingerprint>,
    /// Files handed to the pipeline and not yet committed, as they were when taken.
    in_flight: HashMap<String, (PathBuf, Option<Fingerprint>)>,
    /// Rejected files waiting, unchanged, to be moved to the rejected folder.
    held: HashMap<PathBuf, HeldRejection>,
    last_scan: Option<Instant>,
}

impl<'a> Watch<'a> {
    pub fn new(options: &WatchOptions, stop: &'a AtomicBool) -> Result<Watch<'a>> {
        // Events name absolute paths; relative folders would never match them, and an archive
        // inside a watched folder would then be ingested (and moved) again and again.
        let options = absolute_paths(options)?;
        let (sender, events) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Some(event) = event.ok().filter(|e| may_change_content(&e.kind)) {
                    for path in event.paths {
                        // The receiver is gone only when we are shutting down.
                        let _ = sender.send(path);
                    }
                }
            })
            .context("cannot start the file watcher")?;
        for dir in &options.dirs {
            watcher
                .watch(dir, RecursiveMode::Recursive)
                .with_context(|| format!("cannot watch {}", dir.display()))?;
        }
        log::info!("watching {} director(ies)", options.dirs.len());
        Ok(Watch {
            options,
            stop,
            _watcher: watcher,
            events,
            pending: HashMap::new(),
            done: HashMap::new(),
            in_flight: HashMap::new(),
            held: HashMap::new(),
            last_scan: None,
        })
    }
}

impl Source for Watch<'_> {
    fn pull(&mut self) -> Result<Pull> {
        if self.stop.load(Ordering::SeqCst) {
            log::info!("stop requested: the last batch was committed");
            return Ok(Pull::Finished);
        }
        if self
            .last_scan
            .is_none_or(|t| t.elapsed() >= self.options.rescan)
        {
            self.done.retain(|path, _| path.exists());
            for path in scan(&self.options) {
                note(&mut self.pending, &self.done, path);
            }
            self.last_scan = Some(Instant::now());
        }
        while let Ok(path) = self.events.try_recv() {
            if path.is_file() && !is_excluded(&path, &self.options) {
                note(&mut self.pending, &self.done, path);
            }
        }
        self.move_held_rejections();
        let ready = settled_files(&mut self.pending, self.options.settle);
        if ready.is_empty() {
            return Ok(Pull::Drained);
        }
        let mut inputs = Vec::new();
        for path in ready {
            self.held.remove(&path);
            let input = Input::file(path.clone());
            self.in_flight
                .insert(input.origin.clone(), (path.clone(), Fingerprint::of(&path)));
            inputs.push(input);
        }
        Ok(Pull::Batch(Batch {
            inputs,
            checkpoint: None,
        }))
    }

    fn wait(&mut self) -> Result<()> {
        std::thread::sleep(TICK);
        Ok(())
    }

    /// Moves each committed file to the archive or rejected folder, or remembers it.
    fn committed(&mut self, events: &[Event]) -> Result<()> {
        let rejections = rejections_by_input(events);
        for (origin, reasons) in rejections {
            let Some((path, fingerprint)) = self.in_flight.remove(&origin) else {
                continue;
            };
            let target = if reasons.is_empty() {
                self.options.archive.as_deref()
            } else {
                self.options.rejected.as_deref()
            };
            let reason = (!reasons.is_empty()).then(|| reasons.join("\n"));
            match target {
                Some(_) if let (Some(reason), Some(seen)) = (&reason, fingerprint) => {
                    // Not read again unless it changes; moved once it has stayed so.
                    self.done.insert(path.clone(), seen);
                    let since = Instant::now();
                    let reason = reason.clone();
                    self.held.insert(
                        path,
                        HeldRejection {
                            seen,
                            since,
                            reason,
                        },
                    );
                }
                // Replaced since it was taken (a writer reusing names): what is there now was
                // never read, so it stays, to be read when it settles.
                Some(_) if fingerprint.is_some() && Fingerprint::of(&path) != fingerprint => {
                    log::info!("{origin} changed after it was read: left to be read again");
                }
                Some(dir) => {
                    if let Err(error) = move_into(&path, dir, reason.as_deref()) {
                        log::warn!("cannot move {origin}: {error:#}");
                    }
                }
                None => {
                    if let Some(fingerprint) = fingerprint {
                        self.done.insert(path, fingerprint);
                    }
                }
            }
        }
        Ok(())
    }
}

impl Watch<'_> {
    /// Moves the rejected files that stayed unchanged for `REJECTED_AFTER_SETTLES` settle
    /// times to the rejected folder; forgets those that changed or went (a change makes them
    /// pending again, to be read anew).
    fn move_held_rejections(&mut self) {
        let Some(dir) = self.options.rejected.clone() else {
            return;
        };
        let wait = self.options.settle * REJECTED_AFTER_SETTLES;
        self.held.retain(|path, held| {
            if Fingerprint::of(path) != Some(held.seen) {
                return false;
            }
            if held.since.elapsed() < wait {
                return true;
            }
            if let Err(error) = move_into(path, &dir, Some(&held.reason)) {
                log::warn!("cannot move {}: {error:#}", path.display());
            }
            self.done.remove(path);
            false
        });
    }
}

/// Each input's rejected documents as `location: reason`, inputs in the order of their first
/// event. An input's events need not be together: one stored in parts (a zip of many large
/// reports) can have another input's events between its parts.
fn rejections_by_input(events: &[Event]) -> Vec<(String, Vec<String>)> {
    let mut rejections: Vec<(String, Vec<String>)> = Vec::new();
    let mut position = HashMap::new();
    for event in events {
        let at = *position.entry(event.origin.as_str()).or_insert_with(|| {
            rejections.push((event.origin.clone(), Vec::new()));
            rejections.len() - 1
        });
        if let DocumentOutcome::Rejected(reason) = &event.outcome {
            rejections[at]
                .1
                .push(rejection_line(&event.location, reason));
        }
    }
    rejections
}

fn absolute_paths(options: &WatchOptions) -> Result<WatchOptions> {
    let absolute = |path: &Path| {
        std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
    };
    Ok(WatchOptions {
        dirs: options
            .dirs
            .iter()
            .map(|d| absolute(d))
            .collect::<Result<_>>()?,
        archive: options.archive.as_deref().map(absolute).transpose()?,
        rejected: options.rejected.as_deref().map(absolute).transpose()?,
        ..options.clone()
    })
}

/// Every file currently in the watched directories, archive folders excluded.
fn scan(options: &WatchOptions) -> Vec<PathBuf> {
    files::collect(&options.dirs)
        .into_iter()
        .filter_map(|input| match input {
            FileInput::File { path, .. } => Some(path),
            FileInput::Unreadable { .. } => None,
        })
        .filter(|path| !is_excluded(path, options))
        .collect()
}

/// Hidden files and our own archive folders (when they sit inside a watched directory).
fn is_excluded(path: &Path, options: &WatchOptions) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    let archived = [&options.archive, &options.rejected]
        .into_iter()
        .flatten()
        .any(|dir| path.starts_with(dir));
    hidden || archived || path.to_string_lossy().ends_with(".reason.txt")
}

/// Starts watching `path` settle, unless it is pending already or read and unchanged since.
fn note(
    pending: &mut HashMap<PathBuf, Pending>,
    done: &HashMap<PathBuf, Fingerprint>,
    path: PathBuf,
) {
    let unchanged = done
        .get(&path)
        .is_some_and(|read| Fingerprint::of(&path) == Some(*read));
    if unchanged || pending.contains_key(&path) {
        return;
    }
    pending.insert(
        path,
        Pending {
            // Forces one observation before the file can be taken.
            seen: Fingerprint {
                size: u64::MAX,
                modified: None,
                access: (u32::MAX, u32::MAX, u32::MAX),
            },
            stable_since: Instant::now(),
        },
    );
}

/// Files unchanged (their `Fingerprint`) for `settle`; they leave `pending`.
fn settled_files(pending: &mut HashMap<PathBuf, Pending>, settle: Duration) -> Vec<PathBuf> {
    let mut ready = Vec::new();
    pending.retain(|path, pending| {
        let Some(now) = Fingerprint::of(path) else {
            return false; // gone (moved away or deleted)
        };
        if now != pending.seen {
            *pending = Pending {
                seen: now,
                stable_since: Instant::now(),
            };
            return true;
        }
        if pending.stable_since.elapsed() >= settle {
            ready.push(path.clone());
            return false;
        }
        true
    });
    ready.sort();
    ready
}

/// Moves `path` into `dir` under a free name; writes `NAME.reason.txt` beside it if given.
fn move_into(path: &Path, dir: &Path, reason: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let target = match free_name(path, dir, &name)? {
        Some(target) => target,
        None => {
            // A move cut short after its copy (a crash): the copy is complete, finish it.
            std::fs::remove_file(path)?;
            return Ok(());
        }
    };
    if std::fs::rename(path, &target).is_err() {
        // Across filesystems: copy under a hidden temporary name (never mistaken for an
        // input, never a half-written archive file), rename it into place, then remove.
        let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
        std::fs::copy(path, &partial)?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &target)?;
        std::fs::remove_file(path)?;
    }
    if let Some(reason) = reason {
        let mut note = target.as_os_str().to_owned();
        note.push(".reason.txt");
        std::fs::write(PathBuf::from(note), format!("{reason}\n"))?;
    }
    Ok(())
}

/// The first free name for `path` in `dir` (NAME, NAME.1, ...); `None` when `dir` already
/// holds a file with the same name and the same bytes.
fn free_name(path: &Path, dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let mut target = dir.join(name);
    let mut n = 1;
    while target.exists() {
        if n == 1 && same_bytes(path, &target)? {
            return Ok(None);
        }
        target = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    Ok(Some(target))
}

fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    if std::fs::metadata(a)?.len() != std::fs::metadata(b)?.len() {
        return Ok(false);
    }
    Ok(std::fs::read(a)? == std::fs::read(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;

    fn event(origin: &str, location: &str, outcome: DocumentOutcome, first: bool) -> Event {
        Event {
            origin: origin.into(),
            input_hash: String::new(),
            location: location.into(),
            outcome,
            first_of_input: first,
        }
    }

    /// A file replaced under its name while its batch was stored is not archived: the
    /// archive would hold content never read.
    #[test]
    fn a_file_replaced_before_its_commit_is_not_archived() {
        let dir = tempfile::tempdir().unwrap();
        let (inbox, archive) = (dir.path().join("in"), dir.path().join("archive"));
        std::fs::create_dir_all(&inbox).unwrap();
        let options = WatchOptions {
            dirs: vec![inbox.clone()],
            archive: Some(archive.clone()),
            rejected: None,
            settle: Duration::from_millis(10),
            rescan: Duration::from_secs(60),
        };
        let stop = AtomicBool::new(false);
        let mut watch = Watch::new(&options, &stop).unwrap();
        let (read, replaced) = (inbox.join("read.xml"), inbox.join("replaced.xml"));
        for path in [&read, &replaced] {
            std::fs::write(path, "report A").unwrap();
            let input = Input::file(path.clone());
            let seen = Fingerprint::of(path);
            watch
                .in_flight
                .insert(input.origin.clone(), (path.clone(), seen));
        }
        std::fs::write(&replaced, "report B, longer").unwrap();
        let stored = |path: &Path| {
            let origin = Input::file(path.to_path_buf()).origin;
            let outcome = DocumentOutcome::AlreadySeen;
            event(&origin, "", outcome, true)
        };
        watch
            .committed(&[stored(&read), stored(&replaced)])
            .unwrap();
        assert!(!read.exists() && archive.join("read.xml").exists());
        assert_eq!(
            std::fs::read_to_string(&replaced).unwrap(),
            "report B, longer"
        );
    }

    /// A `chmod` changes a file's fingerprint: one that could not be read is read again.
    #[test]
    fn a_change_of_permissions_changes_the_fingerprint() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xml");
        std::fs::write(&path, "report").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let before = Fingerprint::of(&path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let readable = Fingerprint::of(&path);
        assert_ne!(readable, before);
        // A hard link elsewhere (a backup snapshot) is nothing new.
        std::fs::hard_link(&path, dir.path().join("snapshot.xml")).unwrap();
        assert_eq!(Fingerprint::of(&path), readable);
    }

    /// A zip stored in parts, with another input's events between its parts: its rejected
    /// member is its own, and the other input is clean.
    #[test]
    fn rejections_belong_to_their_input_between_its_parts() {
        let stored = || DocumentOutcome::Stored {
            records: 1,
            messages: 1,
            replaced: None,
            warnings: Vec::new(),
        };
        let rejected = DocumentOutcome::Rejected(Reason::Malformed("cut short".into()));
        let events = [
            event("big.zip", "a.xml", stored(), true),
            event("small.xml", "", stored(), true),
            event("big.zip", "b.xml", rejected, false),
        ];
        let rejections = rejections_by_input(&events);
        assert_eq!(rejections.len(), 2);
        assert_eq!(rejections[0].0, "big.zip");
        assert_eq!(rejections[0].1.len(), 1);
        assert!(
            rejections[0].1[0].starts_with("b.xml: "),
            "{:?}",
            rejections[0]
        );
        assert_eq!(rejections[1], ("small.xml".to_string(), Vec::new()));
    }
}
