//! The DNS answers `duckmarc check` reads (TXT, A, AAAA, MX), asked in waves: the checks
//! say which names they still need, this asks them concurrently (capped) within the run's
//! time budget, and the checks run again. Answers are cached in the database with their TTL
//! (table dns_cache), so a second run asks nothing. A server that does not answer leaves
//! its names `Failed`: the checks that need them say `unknown`, never a false error.

use crate::enrich::dns::{absent, txt_text, with_resolver, DnsOptions};
use anyhow::Result;
use duckdb::Connection;
use futures_util::stream::{self, StreamExt};
use hickory_resolver::TokioResolver;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Txt,
    A,
    Aaaa,
    Mx,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Txt => "TXT",
            Kind::A => "A",
            Kind::Aaaa => "AAAA",
            Kind::Mx => "MX",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        [Kind::Txt, Kind::A, Kind::Aaaa, Kind::Mx]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// What DNS said of one name and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// TXT: each record's strings joined; A/AAAA: addresses; MX: exchange names.
    Records(Vec<String>),
    /// NXDOMAIN, or no record of the kind.
    Missing,
    /// No answer (timeout, SERVFAIL, the budget spent): the checks say `unknown`.
    Failed(String),
}

/// A name asked (lower-cased, no trailing dot) and its kind.
pub type Query = (String, Kind);

/// How long a missing name is cached (its negative TTL is not kept by the resolver).
const MISSING_TTL: Duration = Duration::from_secs(300);
/// Cached answers live at least this long, and at most a day, whatever their TTL.
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(86_400);
/// When this many answers in a row all failed, the server is taken for down and no more
/// names are asked: one wave of timeouts, not one per name.
const FAILURES_BEFORE_GIVING_UP: usize = 8;

/// Every answer known in this run: from the cache, or asked now.
#[derive(Default)]
pub struct Dns {
    answers: HashMap<Query, Answer>,
    /// Asked in this run, with the TTL to cache them for.
    fresh: Vec<(Query, Answer, Duration)>,
    down: Option<String>,
}

impl Dns {
    /// The answers of the cache that have not expired at `now` (epoch seconds).
    pub fn from_cache(conn: &Connection, now: i64) -> Result<Dns> {
        let mut dns = Dns::default();
        let mut statement = conn.prepare(
            "SELECT name, kind, status, answers::VARCHAR[] FROM dns_cache
             WHERE expires_at > make_timestamp(? * 1000000)",
        )?;
        let rows = statement.query_map([now], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, duckdb::types::Value>(3)?,
            ))
        })?;
        for row in rows {
            let (name, kind, status, answers) = row?;
            let Some(kind) = Kind::parse(&kind) else {
                continue;
            };
            let answer = if status == "found" {
                Answer::Records(texts(answers))
            } else {
                Answer::Missing
            };
            dns.answers.insert((name, kind), answer);
        }
        Ok(dns)
    }

    pub fn get(&self, name: &str, kind: Kind) -> Option<&Answer> {
        self.answers.get(&(name.to_string(), kind))
    }

    /// Why names were left unasked, when the server stopped answering.
    pub fn warning(&self) -> Option<&str> {
        self.down.as_deref()
    }

    /// Asks `queries` (those not known yet) before `deadline`; what is not answered by then,
    /// or once the server is taken for down, becomes `Failed`.
    pub fn fetch(&mut self, queries: Vec<Query>, options: &DnsOptions, deadline: Instant) {
        let mut queries: Vec<Query> = queries
            .into_iter()
            .filter(|q| !self.answers.contains_key(q))
            .collect();
        queries.sort();
        queries.dedup();
        if queries.is_empty() {
            return;
        }
        let asked = match &self.down {
            Some(why) => Err(why.clone()),
            None => {
                let queries = &queries;
                with_resolver(options, |resolver| async move {
                    Ok(ask_all(&resolver, queries, options, deadline).await)
                })
            }
        };
        let answered = match asked {
            Ok(answered) => answered,
            Err(why) => queries
                .iter()
                .map(|q| (q.clone(), Answer::Failed(why.clone()), Duration::ZERO))
                .collect(),
        };
        let answered_count = answered.len();
        let failed = answered
            .iter()
            .filter(|(_, a, _)| matches!(a, Answer::Failed(_)))
            .count();
        if failed == answered_count && failed >= FAILURES_BEFORE_GIVING_UP.min(queries.len()) {
            self.down.get_or_insert_with(|| {
                format!(
                    "DNS: {failed} lookups in a row failed; the findings that need DNS are unknown"
                )
            });
        }
        for (query, answer, ttl) in answered {
            if !matches!(answer, Answer::Failed(_)) {
                self.fresh.push((query.clone(), answer.clone(), ttl));
            }
            self.answers.insert(query, answer);
        }
        // Names the budget left unasked.
        for query in queries {
            self.answers
                .entry(query)
                .or_insert_with(|| Answer::Failed("not asked within the time budget".into()));
        }
    }

    /// Stores what was asked in this run, with its TTL from `now` (epoch seconds).
    pub fn save(&self, conn: &Connection, now: i64) -> Result<()> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        crate::store::in_transaction(conn, |conn| {
            let mut delete = conn.prepare("DELETE FROM dns_cache WHERE name = ? AND kind = ?")?;
            let mut insert = conn.prepare(
                "INSERT INTO dns_cache VALUES (?, ?, ?, ?::VARCHAR[], make_timestamp(? * 1000000))",
            )?;
            for ((name, kind), answer, ttl) in &self.fresh {
                let (status, records) = match answer {
                    Answer::Records(records) => ("found", records.clone()),
                    _ => ("missing", Vec::new()),
                };
                let expires = now + ttl.as_secs() as i64;
                delete.execute(duckdb::params![name, kind.as_str()])?;
                insert.execute(duckdb::params![
                    name,
                    kind.as_str(),
                    status,
                    serde_json::to_string(&records)?,
                    expires
                ])?;
            }
            Ok(())
        })
    }

    /// Answers given directly (tests of the checks, which need no server).
    #[cfg(test)]
    pub fn with(answers: &[(&str, Kind, Answer)]) -> Dns {
        let mut dns = Dns::default();
        for (name, kind, answer) in answers {
            dns.answers
                .insert((name.to_string(), *kind), answer.clone());
        }
        dns
    }
}

fn texts(value: duckdb::types::Value) -> Vec<String> {
    match value {
        duckdb::types::Value::List(items) => items
            .into_iter()
            .filter_map(|item| match item {
                duckdb::types::Value::Text(text) => Some(text),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

async fn ask_all(
    resolver: &TokioResolver,
    queries: &[Query],
    options: &DnsOptions,
    deadline: Instant,
) -> Vec<(Query, Answer, Duration)> {
    let mut pending = stream::iter(queries.iter().cloned())
        .map(|query| async move {
            let (answer, ttl) = ask(resolver, &query).await;
            (query, answer, ttl)
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut answered = Vec::with_capacity(queries.len());
    let mut failures_in_a_row = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, pending.next()).await {
            Ok(Some(found)) => {
                failures_in_a_row = match found.1 {
                    Answer::Failed(_) => failures_in_a_row + 1,
                    _ => 0,
                };
                answered.push(found);
                if failures_in_a_row >= FAILURES_BEFORE_GIVING_UP {
                    break;
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    answered
}

/// One lookup, and how long its answer may be cached.
async fn ask(resolver: &TokioResolver, (name, kind): &Query) -> (Answer, Duration) {
    let fqdn = format!("{name}.");
    let found = match kind {
        Kind::Txt => resolver.txt_lookup(fqdn).await.map(|found| {
            let texts = found.iter().map(txt_text).collect();
            (texts, found.as_lookup().valid_until())
        }),
        Kind::A => resolver.ipv4_lookup(fqdn).await.map(|found| {
            let texts = found.iter().map(|a| a.0.to_string()).collect();
            (texts, found.as_lookup().valid_until())
        }),
        Kind::Aaaa => resolver.ipv6_lookup(fqdn).await.map(|found| {
            let texts = found.iter().map(|a| a.0.to_string()).collect();
            (texts, found.as_lookup().valid_until())
        }),
        Kind::Mx => resolver.mx_lookup(fqdn).await.map(|found| {
            let texts = found
                .iter()
                .map(|mx| {
                    mx.exchange()
                        .to_utf8()
                        .trim_end_matches('.')
                        .to_ascii_lowercase()
                })
                .collect();
            (texts, found.as_lookup().valid_until())
        }),
    };
    match found {
        Ok((records, valid_until)) => {
            let ttl = valid_until.saturating_duration_since(Instant::now());
            (Answer::Records(records), ttl.clamp(MIN_TTL, MAX_TTL))
        }
        Err(error) if absent(&error) => (Answer::Missing, MISSING_TTL),
        Err(error) => (Answer::Failed(error.to_string()), Duration::ZERO),
    }
}
