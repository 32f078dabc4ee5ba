//! What the commands print: one line per document that was not simply stored, a summary,
//! a progress bar on terminals. Names and reasons come from inputs (zip members, attachment
//! names, report values), so they pass through [`render::printable`] first.

use duckmarc::pipeline::IngestSummary;
use duckmarc::render;
use duckmarc::store::{DocumentOutcome, Event};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit codes, documented in the README.
pub const EXIT_FATAL: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_REJECTED: u8 = 3;
pub const EXIT_ALERTS: u8 = 4;
pub const EXIT_DNS_ERRORS: u8 = 5;

/// A command line (with the config it reads) that cannot work as given, found after clap
/// parsed it: exit 2, as clap's own errors, not 1 (something failed while running).
#[derive(Debug)]
pub struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// A progress bar on stderr, only when it is a terminal (never in cron or under systemd).
pub fn progress_bar(inputs: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(inputs);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} inputs, {per_sec}, {eta} left")
            .expect("a valid template"),
    );
    bar
}

/// One line on stderr for every document that was not simply stored.
pub fn print_event(event: &Event, quiet: bool) {
    let place = event.place();
    let place = render::printable(&place);
    match &event.outcome {
        DocumentOutcome::Stored {
            replaced, warnings, ..
        } if replaced.is_some() || !warnings.is_empty() => {
            for note in replaced.iter().chain(warnings) {
                eprintln!("warning: {place}: {}", render::printable(note));
            }
        }
        DocumentOutcome::Stored { .. } => log::info!("stored: {place}"),
        DocumentOutcome::Rejected(reason) => {
            eprintln!(
                "rejected: {place}: {}",
                render::printable(&reason.to_string())
            )
        }
        _ if quiet => {}
        DocumentOutcome::Duplicate { differs: None } => {
            eprintln!("duplicate: {place}: report already stored")
        }
        DocumentOutcome::Duplicate {
            differs: Some(difference),
        } => eprintln!("warning: {place}: {difference}"),
        DocumentOutcome::AlreadySeen => log::info!("already seen: {place}"),
        DocumentOutcome::Skipped(reason) => {
            eprintln!(
                "skipped: {place}: {}",
                render::printable(&reason.to_string())
            )
        }
    }
}

/// A line on stdout. A reader gone away (`duckmarc ... | head`) is an error, which `main`
/// takes as the end of the output, not a failure; `println!` would panic instead.
pub fn say(line: impl std::fmt::Display) -> std::io::Result<()> {
    writeln!(stdout(), "{line}")
}

/// Set once a write to stdout found its reader gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output, noting when its reader has gone away: only that ends a run quietly. A
/// broken pipe elsewhere (an IMAP server hanging up mid-fetch) is a failure to report.
pub struct Stdout(std::io::StdoutLock<'static>);

pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// Whether a write to stdout found its reader gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

impl Stdout {
    fn noted<T>(result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(error) = &result {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::SeqCst);
            }
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Stdout::noted(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Stdout::noted(self.0.flush())
    }
}

/// The closing line on stdout; `-q` leaves it out, so cron mails only problems. The inputs
/// are stored by now: with nowhere to print it (`ingest | true`), the exit code still says
/// how the run went, so the line is left unsaid rather than turned into an error.
pub fn print_summary(summary: &IngestSummary, db: &std::path::Path, quiet: bool) {
    if quiet {
        return;
    }
    let _ = say(format_args!(
        "{} inputs: {} new reports ({} records, {} messages), {} duplicate reports, \
         {} inputs already seen, {} skipped, {} rejected; database {}",
        summary.inputs,
        summary.new_reports,
        summary.new_records,
        summary.new_messages,
        summary.duplicate_reports,
        summary.already_seen_inputs,
        summary.skipped,
        summary.rejected,
        db.display()
    ));
}

pub fn exit_code_for(summary: &IngestSummary) -> ExitCode {
    if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    }
}
