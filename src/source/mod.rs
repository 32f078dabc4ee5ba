//! Where inputs come from. Every source feeds the same loop ([`crate::pipeline::run`]): it
//! yields batches of inputs, may save its position in the batch's transaction (a
//! [`Checkpoint`]), and is told after each commit what became of its inputs, which is the
//! only moment it may move or delete anything.

pub mod files;
pub mod imap;
pub mod oauth;
pub mod watch;

use crate::store::{Checkpoint, Event};
use anyhow::Result;
use std::path::PathBuf;

/// One input: a file, an IMAP message.
#[derive(Debug)]
pub struct Input {
    /// Where it came from, as the user should see it: a path, an `imap://` URL.
    pub origin: String,
    pub data: InputData,
}

impl Input {
    /// A file, named by its path.
    pub fn file(path: PathBuf) -> Input {
        Input {
            origin: path.display().to_string(),
            data: InputData::File(path),
        }
    }
}

#[derive(Debug)]
pub enum InputData {
    /// Read on the parser threads, so reading overlaps with parsing.
    File(PathBuf),
    Bytes(Vec<u8>),
    /// Could not even be listed; the reason says why.
    Unreadable(String),
}

/// Inputs stored in one go, with the source's position after them.
#[derive(Debug, Default)]
pub struct Batch {
    pub inputs: Vec<Input>,
    pub checkpoint: Option<Checkpoint>,
}

/// What a source has for the pipeline.
pub enum Pull {
    Batch(Batch),
    /// Nothing more for now: the pipeline commits and reports everything so far, then calls
    /// [`Source::wait`].
    Drained,
    /// Nothing more ever (the inputs are done, or a stop was requested).
    Finished,
}

pub trait Source {
    fn pull(&mut self) -> Result<Pull>;

    /// Blocks until there may be more to pull (a new file, new mail) or a stop is requested.
    fn wait(&mut self) -> Result<()> {
        Ok(())
    }

    /// What became of inputs of a committed transaction, in input order.
    fn committed(&mut self, _events: &[Event]) -> Result<()> {
        Ok(())
    }
}
