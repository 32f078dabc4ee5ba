//! The single writer of a run: parts of batches appended to one open transaction, committed
//! every few seconds or when the source is drained.

use super::{Group, IngestOptions, Report, Work};
use crate::store::{
    self, Checkpoint, Database, Event, KnownReports, Mode, OpenInputs, PreparedInput,
};
use anyhow::{anyhow, Result};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How long a writer keeps one transaction, and the database with it, open across batches
/// before it commits and closes the database so other duckmarc processes get their turn.
/// Large transactions are what make DuckDB fast: full row groups are compressed and written
/// once, straight into the file, instead of going through the write-ahead log first.
const HOLD: Duration = Duration::from_secs(3);

pub(super) fn write_batches(
    work: Receiver<Work<Group>>,
    to_caller: Sender<Report>,
    options: &IngestOptions,
) -> Result<()> {
    let mut writer = Writer::new(options);
    loop {
        // The database is not held past HOLD while the parsers are slow (a slow disk, a
        // pipe, one huge input): what there is gets committed and others get a turn.
        let next = match writer.hold_left() {
            Some(left) => work.recv_timeout(left),
            None => work.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(Work::Batch(part, checkpoint)) => {
                // Released at the end of this arm, once the rows are stored.
                let (mut prepared, _releases) = part.in_order();
                // Inputs stored before need no database: a re-run does not even open it.
                writer.pending.push(store::take_already_seen(&mut prepared));
                if !prepared.is_empty() || checkpoint.is_some() {
                    writer.append(prepared, checkpoint)?;
                }
                if writer.hold_left() == Some(Duration::ZERO) {
                    writer.commit(&to_caller)?;
                }
            }
            Ok(Work::Flush) => {
                writer.commit(&to_caller)?;
                let _ = to_caller.send(Report::Flushed);
            }
            Err(RecvTimeoutError::Timeout) => writer.commit(&to_caller)?,
            Err(RecvTimeoutError::Disconnected) if !writer.open_inputs.is_empty() => {
                // The parsers stopped in the middle of an input (they panicked): committed, its
                // first parts would be reported stored and `watch` would archive the file
                // with the rest unread. Dropping the writer rolls the transaction back.
                return Err(anyhow!(
                    "parsing stopped in the middle of an input: nothing of this batch was stored"
                ));
            }
            Err(RecvTimeoutError::Disconnected) => return writer.commit(&to_caller),
        }
    }
}

/// The single writer of a run: batches are appended to one open transaction, and their
/// documents reported once it commits.
struct Writer<'a> {
    options: &'a IngestOptions,
    open: Option<OpenDatabase>,
    /// Reports in the database, kept current as batches are appended and across openings.
    known: Option<KnownReports>,
    /// Inputs appended in part: no commit until their last part is appended.
    open_inputs: OpenInputs,
    /// Documents since the last commit, to report once it is done.
    pending: Vec<Vec<Event>>,
}

struct OpenDatabase {
    db: Database,
    since: Instant,
}

impl<'a> Writer<'a> {
    fn new(options: &'a IngestOptions) -> Self {
        Writer {
            options,
            open: None,
            known: None,
            open_inputs: OpenInputs::default(),
            pending: Vec::new(),
        }
    }

    /// Appends a batch (and the source's checkpoint) to the open transaction, first opening
    /// the database and beginning a transaction if none is open.
    fn append(
        &mut self,
        prepared: Vec<PreparedInput>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<()> {
        let open = match &mut self.open {
            Some(open) => open,
            None => {
                store::let_waiting_processes_in(&self.options.db.path);
                let db = Database::open(&self.options.db, Mode::ReadWrite)?;
                db.limit_memory_for_ingest()?;
                db.begin()?;
                self.known = Some(db.known_reports(self.known.take())?);
                self.open.insert(OpenDatabase {
                    db,
                    since: Instant::now(),
                })
            }
        };
        let started = Instant::now();
        let conn = &open.db.conn;
        let known = self
            .known
            .as_mut()
            .expect("read when the database was opened");
        let appended =
            store::append_batch(conn, prepared, known, &mut self.open_inputs).and_then(|events| {
                if let Some(checkpoint) = &checkpoint {
                    store::save_checkpoint(conn, checkpoint)?;
                }
                Ok(events)
            });
        log::debug!("batch appended in {:?}", started.elapsed());
        match appended {
            Ok(events) => self.pending.push(events),
            Err(error) => {
                // Closing rolls the transaction back; the known keys held its reports.
                self.open = None;
                self.known = None;
                self.open_inputs = OpenInputs::default();
                return Err(error);
            }
        }
        Ok(())
    }

    /// How much longer the open database may be held; `None` when none is open, or while an
    /// input is appended in parts (it is held until the last part).
    fn hold_left(&self) -> Option<Duration> {
        let open = self.open.as_ref().filter(|_| self.open_inputs.is_empty())?;
        Some(HOLD.saturating_sub(open.since.elapsed()))
    }

    /// Commits the open transaction (if any) and closes the database, letting a waiting
    /// process in; then reports every document since the last commit.
    fn commit(&mut self, to_caller: &Sender<Report>) -> Result<()> {
        if let Some(OpenDatabase { db, .. }) = self.open.take() {
            let started = Instant::now();
            db.commit()?;
            drop(db);
            log::debug!("committed and closed in {:?}", started.elapsed());
        }
        let events: Vec<Event> = self.pending.drain(..).flatten().collect();
        if !events.is_empty() {
            // The caller is gone only when it failed; its error is the one to report.
            let _ = to_caller.send(Report::Committed(events));
        }
        Ok(())
    }
}
