//! Files and directories named on the command line.

use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// A file to ingest, or a path that could not be listed.
#[derive(Debug)]
pub enum FileInput {
    File { path: PathBuf, size: u64 },
    Unreadable { origin: String, reason: String },
}

/// Expands `paths` into files, walking directories recursively in a stable (sorted) order.
/// Hidden files inside directories (editor swap files, `.DS_Store`) are left out; a hidden
/// file named explicitly is read. So is a pipe named explicitly (`/dev/stdin`, `<(zcat ..)`),
/// while one met inside a directory is skipped: reading it could wait forever.
pub fn collect(paths: &[PathBuf]) -> Vec<FileInput> {
    let mut inputs = Vec::new();
    for root in paths {
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !is_hidden(e.path()));
        for entry in walker {
            match entry {
                Ok(entry) if entry.file_type().is_file() || named_non_directory(&entry) => inputs
                    .push(FileInput::File {
                        size: entry.metadata().map_or(0, |m| m.len()),
                        path: entry.into_path(),
                    }),
                Ok(_) => {}
                Err(e) => inputs.push(FileInput::Unreadable {
                    origin: e.path().unwrap_or(root).display().to_string(),
                    reason: io_reason(&e.to_string()),
                }),
            }
        }
    }
    inputs
}

fn named_non_directory(entry: &walkdir::DirEntry) -> bool {
    entry.depth() == 0 && !entry.file_type().is_dir()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// walkdir prefixes its messages with the path, which our callers print already.
fn io_reason(message: &str) -> String {
    match message.rsplit_once(": ") {
        Some((_, reason)) => reason.to_string(),
        None => message.to_string(),
    }
}
