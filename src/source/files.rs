//! Files and directories named on the command line.

use super::{Batch, Input, InputData, Pull, Source};
use anyhow::Result;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Inputs parsed together (the first batch smaller, so writing starts early), and the most
/// input bytes read into memory at once.
const BATCH_INPUTS: usize = 256;
const FIRST_BATCH_INPUTS: usize = 64;
const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Listed files, in batches bounded by count and by total size.
pub struct Files {
    inputs: std::vec::IntoIter<FileInput>,
    batches: usize,
}

impl Files {
    pub fn new(inputs: Vec<FileInput>) -> Files {
        Files {
            inputs: inputs.into_iter(),
            batches: 0,
        }
    }
}

impl Source for Files {
    fn pull(&mut self) -> Result<Pull> {
        // The first batch is small, so the writer starts while the parsers go on.
        let limit = if self.batches == 0 {
            FIRST_BATCH_INPUTS
        } else {
            BATCH_INPUTS
        };
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < limit && bytes < BATCH_BYTES {
            let Some(input) = self.inputs.as_slice().first() else {
                break;
            };
            let size = input.size();
            if !batch.is_empty() && bytes + size > BATCH_BYTES {
                break;
            }
            bytes += size;
            batch.extend(self.inputs.next().map(FileInput::into_input));
        }
        if batch.is_empty() {
            return Ok(Pull::Finished);
        }
        self.batches += 1;
        Ok(Pull::Batch(Batch {
            inputs: batch,
            checkpoint: None,
        }))
    }
}

/// A file to ingest, or a path that could not be listed.
#[derive(Debug)]
pub enum FileInput {
    File { path: PathBuf, size: u64 },
    Unreadable { origin: String, reason: String },
}

impl FileInput {
    fn size(&self) -> u64 {
        match self {
            FileInput::File { size, .. } => *size,
            FileInput::Unreadable { .. } => 0,
        }
    }

    fn into_input(self) -> Input {
        match self {
            FileInput::File { path, .. } => Input::file(path),
            FileInput::Unreadable { origin, reason } => Input {
                origin,
                data: InputData::Unreadable(reason),
            },
        }
    }
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
