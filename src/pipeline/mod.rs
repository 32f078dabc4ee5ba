//! The loop every source feeds: inputs -> unpack -> parse -> transform -> store, and then
//! the source is told what became of each input.
//!
//! Three threads, data flowing one way. The caller's thread pulls batches from the
//! [`Source`] and hands them on; a parser thread unpacks and parses each batch on all cores
//! (rayon) and builds its rows; a writer thread appends the rows to one open transaction
//! and commits every few seconds, closing the database each time so other duckmarc
//! processes get their turn. Only after a commit is the source told what became of its
//! inputs ([`Source::committed`]): that is when it may move a file or an IMAP message.
//! `prepare.rs` turns one input into documents ready to store; `writer.rs` is the writer.

mod prepare;
mod writer;

pub use prepare::{each_document, Turn};

use crate::authenticity::{Organisations, Verifier};
use crate::enrich::dns::DnsOptions;
use crate::enrich::{self, EnrichOptions, Namer};
use crate::memory;
use crate::parse;
use crate::source::{Batch, Input, Pull, Source};
use crate::store::{
    Checkpoint, Database, DbOptions, DocumentOutcome, Event, InputHashes, Mode, PreparedInput,
};
use crate::unpack::Limits;
use anyhow::{anyhow, Result};
use prepare::prepare_input;
use rayon::prelude::*;
use std::cell::{Cell, OnceCell};
use std::sync::mpsc::{self, Receiver, SendError, SyncSender};
use std::sync::{Arc, RwLock};
use writer::write_batches;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub db: DbOptions,
    pub read: ReadOptions,
    /// Name the new sources after the reports are committed; `None`: leave it to
    /// `duckmarc enrich`.
    pub enrich: Option<EnrichOptions>,
}

/// How inputs are read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub limits: Limits,
    /// Store each report's XML too (gzip-compressed, in `reports.raw_xml_gz`). Off by default:
    /// compressing and storing it took a quarter of ingest time, and the inputs themselves
    /// stay where they are (or in the archive folder, or the IMAP folder they were moved to).
    pub keep_xml: bool,
    /// Store the body of the original message in failure reports (personal data).
    pub keep_failure_bodies: bool,
    /// Check report e-mails' signatures against this DNS (`None`: `--no-dns`, so each is
    /// `unverified`; src/authenticity.rs).
    pub authenticate: Option<DnsOptions>,
    /// Refuse aggregate reports whose authenticity is not `pass` (`--require-authentic`).
    pub require_authentic: bool,
    /// Reporters' domains known to be one organisation (the config's `reporter_domains`).
    pub organisations: Organisations,
}

impl ReadOptions {
    fn keep(&self) -> parse::Keep {
        parse::Keep {
            raw: self.keep_xml,
            failure_bodies: self.keep_failure_bodies,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct IngestSummary {
    pub inputs: u64,
    pub new_reports: u64,
    pub new_records: u64,
    pub new_messages: u64,
    pub duplicate_reports: u64,
    pub already_seen_inputs: u64,
    pub skipped: u64,
    pub rejected: u64,
}

impl IngestSummary {
    fn count(&mut self, event: &Event) {
        if event.first_of_input {
            self.inputs += 1;
        }
        match &event.outcome {
            // A copy stored in place of a forged one is no new report: the report was known
            // (the warning says which copy it replaced).
            DocumentOutcome::Stored {
                replaced: Some(_), ..
            } => self.duplicate_reports += 1,
            DocumentOutcome::Stored {
                records, messages, ..
            } => {
                self.new_reports += 1;
                self.new_records += records;
                self.new_messages += messages;
            }
            DocumentOutcome::Duplicate { .. } => self.duplicate_reports += 1,
            DocumentOutcome::AlreadySeen => self.already_seen_inputs += 1,
            DocumentOutcome::Skipped(_) => self.skipped += 1,
            DocumentOutcome::Rejected(_) => self.rejected += 1,
        }
    }
}

/// Hashes of the inputs an earlier run settled, and whether an earlier run left sources to
/// name: read once before a run starts parsing. Read-only: cheaper to open (no schema to
/// check, no checkpoint on close).
fn settled_inputs(db: &DbOptions) -> Result<(InputHashes, bool)> {
    if !db.path.exists() {
        return Ok((InputHashes::new(), false));
    }
    let db = Database::open(db, Mode::ReadOnly)?;
    Ok((db.settled_input_hashes()?, db.naming_pending()))
}

/// What the caller's thread hands to the parser thread, and the parser to the writer.
enum Work<T> {
    Batch(T, Option<Checkpoint>),
    /// Commit everything so far and say so: the source has nothing more for now.
    Flush,
}

/// What the writer tells the caller's thread.
enum Report {
    Committed(Vec<Event>),
    Flushed,
}

/// Runs `source` to its end, calling `on_event` for every document as its batch commits.
pub fn run(
    source: &mut dyn Source,
    options: &IngestOptions,
    mut on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    // The user's own data files are checked before anything is read (a bad --ip-db stops the
    // run, naming the file); the bundled data is loaded only once a commit stored something,
    // so a run that stores nothing (an hourly cron over old files) does not pay for it.
    let namer = OnceCell::new();
    if let Some(enrich) = options.enrich.as_ref().filter(|e| e.uses_own_files()) {
        let _ = namer.set(Namer::load(enrich)?);
    }
    let (settled, left_unnamed) = settled_inputs(&options.db)?;
    // Set when a commit stored something, or when an earlier run stored reports and died (a
    // kill -9, a crash) or failed before naming their sources: naming runs when the source is
    // drained or done.
    let unnamed = Cell::new(left_unnamed);
    let name_sources = || {
        let Some(enrich) = options.enrich.as_ref().filter(|_| unnamed.take()) else {
            return;
        };
        let loaded = match namer.get() {
            Some(loaded) => loaded,
            None => match Namer::load(enrich) {
                Ok(loaded) => namer.get_or_init(|| loaded),
                Err(error) => {
                    log::warn!("naming sources: {error:#}; run `duckmarc enrich` later");
                    return;
                }
            },
        };
        name_new_sources(&options.db, loaded, enrich);
    };
    let settled = Arc::new(RwLock::new(settled));
    let parsers = parser_pool()?;
    let parsers = &parsers;
    let verifier = report_verifier(&options.read);
    let verifier = verifier.as_ref();
    // Capacity 1: at most one batch waits at each stage, which bounds memory to a few
    // batches whatever the number of inputs.
    let (to_parser, parser_work) = mpsc::sync_channel::<Work<Vec<Input>>>(1);
    let (to_writer, writer_work) = mpsc::sync_channel::<Work<Group>>(1);
    let (to_caller, reports) = mpsc::channel::<Report>();
    let mut summary = IngestSummary::default();
    std::thread::scope(|scope| {
        let parser_settled = Arc::clone(&settled);
        scope.spawn(move || {
            parse_batches(
                parsers,
                parser_work,
                to_writer,
                &options.read,
                verifier,
                &parser_settled,
            )
        });
        // Named, so `top -H` and `perf report --comm writer` tell it from the parsers.
        let writer = std::thread::Builder::new()
            .name("writer".into())
            .spawn_scoped(scope, move || {
                write_batches(writer_work, to_caller, options)
            })
            .map_err(|e| anyhow!("cannot start the writer thread: {e}"))?;
        // Owned here, so an error below drops it and the parser thread stops.
        let to_parser = to_parser;
        let mut deliver = |report: Report, source: &mut dyn Source| -> Result<bool> {
            match report {
                Report::Committed(events) => {
                    let mut known = settled.write().expect("no thread panicked holding it");
                    for event in &events {
                        if matches!(event.outcome, DocumentOutcome::Stored { .. }) {
                            unnamed.set(true);
                        }
                        summary.count(event);
                        on_event(event);
                        if !matches!(event.outcome, DocumentOutcome::Rejected(_)) {
                            known.extend(blake3::Hash::from_hex(&event.input_hash).ok());
                        }
                    }
                    drop(known);
                    source.committed(&events)?;
                    Ok(false)
                }
                Report::Flushed => Ok(true),
            }
        };
        let pulled = (|| -> Result<()> {
            loop {
                while let Ok(report) = reports.try_recv() {
                    deliver(report, source)?;
                }
                match source.pull()? {
                    Pull::Batch(Batch { inputs, checkpoint }) => {
                        if to_parser.send(Work::Batch(inputs, checkpoint)).is_err() {
                            return Ok(()); // the writer stopped: its error is reported below
                        }
                    }
                    Pull::Drained => {
                        if to_parser.send(Work::Flush).is_err() {
                            return Ok(());
                        }
                        loop {
                            let Ok(report) = reports.recv() else {
                                return Ok(());
                            };
                            if deliver(report, source)? {
                                break;
                            }
                        }
                        name_sources();
                        source.wait()?;
                    }
                    Pull::Finished => return Ok(()),
                }
            }
        })();
        drop(to_parser);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the writer thread panicked")));
        // Whatever was committed before an error is still reported.
        for report in reports.try_iter() {
            deliver(report, source)?;
        }
        pulled.and(written)
    })?;
    name_sources();
    Ok(summary)
}

/// What checks report e-mails this run: none with DNS off (each is `unverified`), nor when
/// the resolver cannot be set up (one warning; the reports are still stored).
fn report_verifier(read: &ReadOptions) -> Option<Verifier> {
    let dns = read.authenticate.as_ref()?;
    Verifier::new(dns)
        .map_err(|error| log::warn!("{error:#}: report e-mails are stored unverified"))
        .ok()
}

/// Names the sources the run stored, after its commits. It never fails the run: a database
/// busy or a DNS server down is one warning, and the next run (or `duckmarc enrich`) tries
/// again.
fn name_new_sources(db: &DbOptions, namer: &Namer, options: &EnrichOptions) {
    // What the ingest pipeline freed goes back to the system before naming allocates: the
    // two would otherwise add up to the run's peak.
    memory::give_back_freed_memory();
    match enrich::run(db, namer, options) {
        Ok(summary) => {
            if let Some(warning) = summary.warning {
                log::warn!("{warning}");
            }
            log::info!(
                "named {} sources ({} with a sender name, {} reverse DNS answers)",
                summary.named,
                summary.with_sender,
                summary.dns_lookups
            );
        }
        Err(error) => log::warn!("naming sources: {error:#}; run `duckmarc enrich` later"),
    }
}

/// A batch's rows, and an input's, are handed to the writer in parts of about this size. A
/// batch is counted in inputs (256 files), and a hostile input of 1.4 MB can hold a million
/// records (120 MB of rows): held for a whole batch, six of them took 2.1 GB; a 39 MB zip of
/// ten, held whole, 2.3 GB.
const MAX_PART_ROW_BYTES: usize = 64 * 1024 * 1024;

/// How much lower than the writer's the parsers' priority is (a nice value). The writer is
/// what a run waits for: the parsers are ahead of it and then wait for it anyway, and on two
/// cores two parsers and the writer take turns. Yielding to it took 9% off ingest's time
/// (farm-bench, 8 alternating runs on 10,000 reports: 5.85 -> 5.23 s median).
const PARSER_NICENESS: i32 = 5;

/// The threads that unpack and parse, one per core, each yielding to the writer.
fn parser_pool() -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .thread_name(|n| format!("parser-{n}"))
        .start_handler(|_| lower_this_threads_priority(PARSER_NICENESS))
        .build()
        .map_err(|e| anyhow!("cannot start the parser threads: {e}"))
}

/// On Linux a thread has a priority of its own: this one's, not the process's, is lowered.
/// Where that fails (not allowed) the thread runs as it is; elsewhere nothing is changed.
#[cfg(target_os = "linux")]
fn lower_this_threads_priority(niceness: i32) {
    // SAFETY: plain system calls on the calling thread's own id; no memory is passed.
    let done = unsafe {
        let thread = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, niceness)
    };
    if done != 0 {
        log::debug!(
            "parser priority left as it is: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority(_niceness: i32) {}

fn parse_batches(
    parsers: &rayon::ThreadPool,
    work: Receiver<Work<Vec<Input>>>,
    to_writer: SyncSender<Work<Group>>,
    read: &ReadOptions,
    verifier: Option<&Verifier>,
    settled: &RwLock<InputHashes>,
) {
    for item in work {
        let sent = match item {
            Work::Batch(inputs, checkpoint) => parse_batch(
                parsers, inputs, checkpoint, &to_writer, read, verifier, settled,
            ),
            Work::Flush => to_writer.send(Work::Flush),
        };
        if sent.is_err() {
            return; // the writer failed and stopped listening
        }
    }
}

/// Parses a batch on every core and sends its rows to the writer in parts of at most about
/// [`MAX_PART_ROW_BYTES`], each in the batch's order; the checkpoint goes with the last part.
/// The parsers hand inputs over in small groups as they are done, and wait while a few groups
/// are not yet taken: only those and the part being filled are held, however large the
/// batch's inputs are.
fn parse_batch(
    parsers: &rayon::ThreadPool,
    inputs: Vec<Input>,
    checkpoint: Option<Checkpoint>,
    to_writer: &SyncSender<Work<Group>>,
    read: &ReadOptions,
    verifier: Option<&Verifier>,
    settled: &RwLock<InputHashes>,
) -> Result<(), SendError<Work<Group>>> {
    let settled = settled.read().expect("no thread panicked holding it");
    let settled = &*settled;
    let (done, prepared) = mpsc::sync_channel(parsers.current_num_threads());
    // `move`: should the writer fail, the receiver is dropped on the way out, so the parsers
    // stop waiting to hand over and the scope can end.
    std::thread::scope(move |scope| {
        // On its own thread, so that this one, outside rayon's pool, gathers the parts.
        scope.spawn(move || {
            // Sends are refused only when the writer failed: the run is ending anyway.
            let hand_over = |group: Group| {
                if !group.inputs.is_empty() {
                    let _ = done.send(group);
                }
            };
            parsers.install(|| {
                inputs
                    .into_par_iter()
                    .enumerate()
                    .fold(Group::default, |mut group, (index, input)| {
                        // Parts of an input go at once, with what the group held before them.
                        let mut hand_over_part = |part, stored| {
                            let mut due = std::mem::take(&mut group);
                            due.push(index, part, Some(Box::new(stored)));
                            hand_over(due);
                        };
                        let (input, turn) =
                            prepare_input(input, read, verifier, settled, &mut hand_over_part);
                        group.push(index, input, turn.map(|turn| Box::new(turn) as Release));
                        if group.is_full() {
                            hand_over(std::mem::take(&mut group));
                        }
                        group
                    })
                    .for_each(hand_over)
            });
        });
        let mut part = Group::default();
        for group in prepared.iter() {
            part.append(group);
            if part.is_due() {
                to_writer.send(Work::Batch(std::mem::take(&mut part), None))?;
            }
        }
        to_writer.send(Work::Batch(part, checkpoint))
    })
}

/// Prepared inputs with their place in the batch, the memory of their rows and what is to be
/// released once they are stored. A parser hands its inputs over in groups (one at a time,
/// the hand-overs cost a tenth of a second per 10,000 inputs already stored: 0.16 -> 0.26 s
/// for a re-run), and the writer takes them in parts.
#[derive(Default)]
struct Group {
    inputs: Vec<(usize, PreparedInput)>,
    row_bytes: usize,
    /// Held until the writer has stored the rows, then dropped: the [`Turn`] of an input
    /// holding large documents, the signal a parser sending an input in parts waits on.
    releases: Vec<Release>,
}

type Release = Box<dyn Send>;

impl Group {
    fn push(&mut self, index: usize, input: PreparedInput, release: Option<Release>) {
        self.row_bytes += input.row_bytes();
        self.inputs.push((index, input));
        self.releases.extend(release);
    }

    fn append(&mut self, other: Group) {
        self.row_bytes += other.row_bytes;
        self.inputs.extend(other.inputs);
        self.releases.extend(other.releases);
    }

    /// Full at 16 inputs or 8 MB of rows, so a large input still goes at once. Rows with
    /// something to release go at once too: a parser waits for it.
    fn is_full(&self) -> bool {
        self.inputs.len() >= 16 || self.row_bytes > 8 << 20 || !self.releases.is_empty()
    }

    /// Whether the writer should take it now, as a part of its batch.
    fn is_due(&self) -> bool {
        self.row_bytes > MAX_PART_ROW_BYTES || !self.releases.is_empty()
    }

    /// The inputs in the batch's order, and what to release once they are stored.
    fn in_order(mut self) -> (Vec<PreparedInput>, Vec<Release>) {
        // Stable: the parts of one input keep their order.
        self.inputs.sort_by_key(|(index, _)| *index);
        let inputs = self.inputs.into_iter().map(|(_, input)| input).collect();
        (inputs, self.releases)
    }
}
