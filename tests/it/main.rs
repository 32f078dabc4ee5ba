//! Every integration test, in one binary: DuckDB is linked once, not once per file.
//! Each module drives the real `duckmarc` binary; helpers are in `common`.

mod alerts;
mod alerts_policy;
mod alerts_rhythm;
mod alerts_scenario;
mod alerts_sources;
mod alerts_tls;
mod alerts_webhook;
mod amplifiers;
mod changes;
mod check;
mod check_rules;
mod check_zone;
mod common;

mod containers;
mod corpus;
mod daily;
mod export;
mod failure_and_tls;
mod faults;
mod fixtures;
mod hostile;
mod html;
mod html_layout;
mod identity;
mod imap;
mod imap_drops;
mod ledger;
mod oauth;
mod parse_quirks;
mod readiness;
mod readiness_policy;
mod readiness_trend;
mod report_authenticity;
mod report_output;
mod reports;
mod robustness;
mod scenarios;
mod senders;
mod site;
mod tls_authenticity;
mod tls_reports;
mod watch;
