//! The `duckmarc` command line, on the binary's side: one library call per subcommand (the
//! flags are in `commands.rs`). No library type sees a flag: flags become its options here.

mod args;
mod commands;
mod config;
mod output;

use anyhow::{Context, Result};
use clap::Parser;
use commands::{Cli, Command, ConfigAction, StatsFormat};
use config::{database_file, Config};
use duckmarc::check::{self, CheckOptions};
use duckmarc::enrich::{self, Namer};
use duckmarc::pipeline;
use duckmarc::render::{self, html};
use duckmarc::source::files::{self, Files};
use duckmarc::source::imap::Imap;
use duckmarc::source::watch::{Watch, WatchOptions};
use duckmarc::store::{Database, DbOptions, Mode};
use duckmarc::views::alerts::{self, Thresholds};
use duckmarc::views::filters::Filters;
use duckmarc::views::reports::{self, Comparison, Report};
use output::{
    exit_code_for, print_event, print_summary, progress_bar, say, EXIT_ALERTS, EXIT_DNS_ERRORS,
    EXIT_FATAL, EXIT_USAGE,
};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Parses the command line, runs it, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(code) => code,
        // `duckmarc report ... | head`: the reader has all it wanted. Nothing is wrong, and
        // saying so on stderr would only be noise (the usual behaviour of a Unix filter).
        Err(error) if closed_output(&error) => ExitCode::SUCCESS,
        Err(error) if error.chain().any(|cause| cause.is::<output::Usage>()) => {
            print_error(&format!("{error:#}"));
            ExitCode::from(EXIT_USAGE)
        }
        Err(error) => {
            // Most call sites strip DuckDB's generic code (store::duckdb_message); this
            // catches the rest (a full disk).
            print_error(&duckmarc::store::without_duckdb_code(&format!("{error:#}")));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

/// An error on stderr, its lines (a TOML or SQL diagnostic's caret under the column) kept as
/// lines, indented below the first; anything else a terminal would act on made visible.
fn print_error(message: &str) {
    let lines: Vec<_> = message.lines().map(render::printable).collect();
    eprintln!("duckmarc: error: {}", lines.join("\n  "));
}

/// Whether `error` is a write to stdout whose reader went away (JSON's and CSV's come
/// wrapped in their writers' errors).
fn closed_output(error: &anyhow::Error) -> bool {
    if !output::stdout_closed() {
        return false;
    }
    let broken = |kind: Option<std::io::ErrorKind>| kind == Some(std::io::ErrorKind::BrokenPipe);
    error.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().map(|e| e.kind());
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        let csv = cause
            .downcast_ref::<csv::Error>()
            .and_then(|e| match e.kind() {
                csv::ErrorKind::Io(e) => Some(e.kind()),
                _ => None,
            });
        broken(io) || broken(json) || broken(csv)
    })
}

/// `duckmarc check` in a terminal; CSV and JSON carry `fix` and `subject` too.
const CHECK_COLUMNS: &[(&str, &str)] = &[
    ("domain", "domain"),
    ("record", "record"),
    ("severity", "severity"),
    ("code", "code"),
    ("message", "message"),
];

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_micros()
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    duckmarc::store::clock_override()?;
    let config = Config::load(cli.config.as_deref())?;
    let mut db = DbOptions::new(
        database_file(cli.db.clone().or(config.db.clone()))?,
        Duration::from_secs(cli.lock_timeout.or(config.lock_timeout).unwrap_or(60)),
    );
    if let Some(limit) = cli.memory_limit.clone().or(config.memory_limit.clone()) {
        db.read_memory_limit = limit;
    }
    match cli.command {
        Command::Ingest { paths, read } => {
            let options = read.ingest_options(db, &config);
            let inputs = files::collect(&paths);
            let progress = progress_bar(inputs.len() as u64, cli.quiet);
            let mut source = Files::new(inputs);
            let summary = pipeline::run(&mut source, &options, |event| {
                if event.first_of_input {
                    progress.inc(1);
                }
                progress.suspend(|| print_event(event, cli.quiet));
            })?;
            progress.finish_and_clear();
            // A first run that finds nothing still leaves a database, empty: the page a cron
            // job makes next says "no reports yet" instead of failing every hour.
            if !options.db.path.exists() {
                Database::open(&options.db, Mode::ReadWrite)?;
            }
            print_summary(&summary, &options.db.path, cli.quiet);
            Ok(exit_code_for(&summary))
        }
        Command::Watch {
            dirs,
            archive,
            rejected,
            settle,
            rescan,
            read,
        } => {
            db.wait_while_busy = true;
            let options = read.ingest_options(db, &config);
            let watch = WatchOptions {
                dirs,
                archive,
                rejected,
                settle: Duration::from_secs_f64(settle),
                rescan: Duration::from_secs_f64(rescan),
            };
            let stop = stop_on_signals()?;
            let mut source = Watch::new(&watch, &stop)?;
            let summary =
                pipeline::run(&mut source, &options, |event| print_event(event, cli.quiet))?;
            print_summary(&summary, &options.db.path, cli.quiet);
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch(args) => {
            db.wait_while_busy = args.watch;
            let options = args.read.ingest_options(db, &config);
            let watch = args.watch;
            let imap = args.resolve(&config.imap)?;
            let stop = stop_on_signals()?;
            let mut source = Imap::new(imap, options.db.clone(), watch.then_some(&*stop))?;
            let summary =
                pipeline::run(&mut source, &options, |event| print_event(event, cli.quiet))?;
            print_summary(&summary, &options.db.path, cli.quiet);
            Ok(exit_code_for(&summary))
        }
        Command::Enrich { refresh, naming } => {
            if !db.path.exists() {
                anyhow::bail!(
                    "no database at {} yet: run `duckmarc ingest PATH...` first",
                    db.path.display()
                );
            }
            let options = naming.options(&config, refresh);
            let summary = enrich::run(&db, &Namer::load(&options)?, &options)?;
            if let Some(warning) = &summary.warning {
                eprintln!("warning: {}", render::printable(warning));
            }
            if !cli.quiet {
                say(format_args!(
                    "named {} sources ({} with a sender name), {} reverse DNS answers; database {}",
                    summary.named,
                    summary.with_sender,
                    summary.dns_lookups,
                    db.path.display()
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Alerts {
            filters,
            format,
            webhook,
            webhook_file,
            drop_threshold,
            min_messages,
            silent_days,
            stopped_hours,
            complete_hours,
            selector_share,
            tls_failure_threshold,
            tls_min_failures,
        } => {
            let thresholds = Thresholds {
                selector_share,
                tls_failure: tls_failure_threshold,
                tls_min_failures,
                drop: drop_threshold,
                min_messages,
                silent_days,
                stopped_hours,
                complete_hours,
            };
            let filters = filters.resolve(&config)?;
            let webhook = config::webhook_url(webhook, webhook_file.as_deref(), &config)?;
            // One alerts run of a scope at a time, from finding to recording: the database
            // is let go while the webhook answers, and a second run then found and posted
            // the same alerts again. Scopes keep their own state, so they need not wait.
            let scope = blake3::hash(filters.scope().as_bytes()).to_hex();
            let _turn = duckmarc::store::run_turn(
                &db.path,
                &format!("alerts-{}", &scope[..12]),
                "another `duckmarc alerts` run of the same scope (waiting for its webhook?)",
                db.lock_timeout,
            )?;
            let database = Database::open(&db, Mode::ReadWrite)?;
            // To the microsecond, as reports' ingested_at: a report stored in the same second
            // as the run, before or after it, is told apart.
            let now = duckmarc::store::now_micros();
            let run = alerts::find(&database.conn, &filters, &thresholds, now)?;
            let found = &run.alerts;
            // Nothing to raise prints nothing on stdout: cron mails what a job prints, and the
            // README's cron line means a mail only when there is news.
            let printed = match (found.rows.is_empty(), format) {
                (true, render::Format::Table) => {
                    if !cli.quiet {
                        eprintln!("(no alerts: nothing new since the last run)");
                    }
                    Ok(())
                }
                _ => render::write(found, format, None, &mut output::stdout()),
            };
            if let (Some(url), false) = (&webhook, found.rows.is_empty()) {
                // The webhook is the delivery: a reader of stdout gone away
                // (`alerts --webhook URL | head -1`) does not keep the alerts from it.
                if !output::stdout_closed() {
                    printed?;
                }
                // The database is not held while the webhook answers (or does not); what
                // arrives meanwhile is judged by the next run.
                drop(database);
                render::webhook::post(url, &found.to_objects())?;
                alerts::record(&Database::open(&db, Mode::ReadWrite)?.conn, &run, now)?;
            } else {
                // Printed is delivered: alerts nobody could read are raised again.
                printed?;
                alerts::record(&database.conn, &run, now)?;
            }
            Ok(if found.rows.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_ALERTS)
            })
        }
        Command::Check {
            domains,
            filters,
            format,
            refresh,
            dns_server,
            dns_budget,
        } => {
            let mut filters = filters.resolve(&config)?;
            let now = duckmarc::store::now_seconds();
            // The traffic of the last 30 days, unless --since says otherwise.
            filters.since = filters.since.or_else(|| {
                chrono::DateTime::from_timestamp(now - 30 * 86_400, 0).map(|t| t.date_naive())
            });
            let options = CheckOptions {
                domains,
                filters,
                dns: duckmarc::enrich::dns::DnsOptions {
                    server: dns_server.or(config.dns_server),
                    budget: Duration::from_secs(dns_budget),
                    concurrency: 32,
                    ..Default::default()
                },
                refresh,
                // Keyed as the domains they are looked up for: A-labels.
                dkim_selectors: config
                    .dkim_selectors
                    .iter()
                    .map(|(domain, selectors)| Ok((args::parse_domain(domain)?, selectors.clone())))
                    .collect::<Result<_>>()
                    .context("dkim_selectors")?,
            };
            let database = Database::open(&db, Mode::ReadWrite)?;
            let checked = check::run(&database.conn, &options, now)?;
            if let Some(warning) = &checked.warning {
                eprintln!("warning: {}", render::printable(warning));
            }
            render::write_or_say(
                &checked.table(),
                format,
                Some(CHECK_COLUMNS),
                "no domain to check: none the filters select had reports in the period (30 days \
                 unless --since says otherwise); name one as an argument (`duckmarc check \
                 example.com`), or widen --since",
                &mut output::stdout(),
            )?;
            Ok(if checked.has_errors() {
                ExitCode::from(EXIT_DNS_ERRORS)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Config {
            action: ConfigAction::Check,
        } => {
            let findings = match config::listed_sender_map(&config)? {
                Some(map) => {
                    let mut findings = config::shared_sender_rules(&config, &map);
                    findings.extend(config::unknown_sender_names(&config, &map));
                    findings
                }
                None => Vec::new(),
            };
            for finding in &findings {
                say(render::printable(finding))?;
            }
            if !cli.quiet {
                let rules = config.authorised.len();
                // A file saved where duckmarc does not look must not pass for one read.
                match config::file_read(cli.config.as_deref()) {
                    Some(path) => say(format_args!(
                        "configuration read from {}: {rules} [[authorised]] tables, {} entries \
                         to look at",
                        path.display(),
                        findings.len()
                    ))?,
                    None => say(format_args!(
                        "no configuration file (none at {}): the defaults apply",
                        config::default_path()
                            .map_or("the per-user path".into(), |p| p.display().to_string())
                    ))?,
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { json, format } => {
            let database = Database::open(&db, Mode::ReadOnly)?;
            let stats = duckmarc::views::stats(&database.conn)?;
            let mut out = output::stdout();
            match format.unwrap_or(if json {
                StatsFormat::Json
            } else {
                StatsFormat::Table
            }) {
                StatsFormat::Json => {
                    let object = stats.to_objects().into_iter().next().unwrap_or_default();
                    serde_json::to_writer_pretty(&mut out, &object)?;
                    writeln!(out)?;
                }
                StatsFormat::Prometheus => render::write_prometheus(&stats, &mut out)?,
                StatsFormat::Table => render::write_key_values(&stats, &mut out)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            report,
            filters,
            readiness,
            format,
            compare_since,
            compare_until,
        } => {
            let compare = Comparison {
                since: compare_since,
                until: compare_until,
            };
            if report != Report::Changes && compare != Comparison::default() {
                return Err(output::usage(
                    "--compare-since and --compare-until are for `report changes` only",
                ));
            }
            if let (Some(since), Some(until)) = (compare.since, compare.until) {
                if since > until {
                    return Err(output::usage(format!(
                        "--compare-since {since} is after --compare-until {until}"
                    )));
                }
            }
            let filters = readiness.resolve(filters, &config)?;
            // Said, not ignored: the rows would pass for those of the sender asked for.
            let by_source = filters.sender.is_some() || filters.country.is_some();
            if report == Report::Tls && (by_source || filters.asn.is_some()) {
                return Err(output::usage(
                    "report tls takes no --sender, --country or --asn: SMTP TLS reports name \
                     sending MTAs only by address (use --ip)",
                ));
            }
            let database = Database::open(&db, Mode::ReadOnly)?;
            let table = match report {
                Report::Changes => reports::changes(&database.conn, &filters, &compare)?.1,
                _ => reports::run(&database.conn, report, &filters)?,
            };
            let columns = Some(report.terminal_columns());
            render::write(&table, format, columns, &mut output::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Html {
            output,
            site,
            filters,
            readiness,
        } => {
            let database = Database::open(&db, Mode::ReadOnly)?;
            let filters: Filters = readiness.resolve(filters, &config)?;
            if let Some(output) = output {
                let dashboard = reports::dashboard(&database.conn, &filters)?;
                let page = html::page(&dashboard, &filters.describe())?;
                render::write_atomically(&output, page.as_bytes())?;
                log::info!("wrote {}", output.display());
            }
            if let Some(dir) = site {
                let site_data = duckmarc::views::site::site(&database.conn, &filters)?;
                let pages = render::site::write(&site_data, &dir, &filters.describe())?;
                log::info!("wrote {pages} pages to {}", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { parquet } => {
            let database = Database::open(&db, Mode::ReadWrite)?;
            let summary = duckmarc::render::parquet::export(&database, &parquet)?;
            if summary.files == 0 {
                log::info!("nothing new to export to {}", parquet.display());
            } else {
                log::info!(
                    "exported {} reports ({} records) in {} files to {}",
                    summary.reports,
                    summary.records,
                    summary.files,
                    parquet.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            file,
            filters,
            readiness,
            format,
            parquet,
        } => {
            let sql = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let filters = readiness.resolve(filters, &config)?;
            // Over Parquet exports no database is opened: DuckDB in memory reads the files.
            let database = if parquet.is_empty() {
                let database = Database::open(&db, Mode::ReadOnly)?;
                reports::select(&database.conn, &filters)?;
                database
            } else {
                let database = Database {
                    conn: duckdb::Connection::open_in_memory()?,
                };
                let dirs: Vec<String> = parquet.iter().map(|d| d.display().to_string()).collect();
                reports::select_parquet(&database.conn, &filters, &dirs)?;
                database
            };
            let table = duckmarc::views::table::run(&database.conn, &sql)?;
            render::write(&table, format, None, &mut output::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A flag set by SIGINT or SIGTERM, for long-running commands to stop between batches.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}
