//! Whether a report is genuine. Anyone can mail an aggregate report to a `rua=` address, so
//! RFC 9990 ("Report Delivery", Email) has report mail "conform to the DMARC mechanism,
//! thereby resulting in an aligned pass" for the reporter's domain. For a report that
//! arrived as e-mail, duckmarc verifies the message's DKIM signatures and evaluates DMARC
//! for its From domain with a real verifier (`mail-auth`), asking DNS for the keys and the
//! DMARC record (`reports.authenticity`):
//!   pass        DMARC passes for the From domain by DKIM (RFC 9989 section 4.4.1); where
//!               the domain publishes no DMARC record DMARC does not apply (section 4.10.2),
//!               and a passing signature of the From domain itself (`d=` equal) is asked for
//!   fail        signed, but no signature passes and aligns (a changed body, another domain's
//!               signature, a revoked key)
//!   none        an unsigned message
//!   unverified  DNS was off (`--no-dns`) or did not answer: not checked
//!   file        a bare file (XML, gzip, zip): no message to check
//! SPF is not evaluated: after delivery the connecting address is known only from Received
//! headers that anyone upstream can write.

use crate::enrich::dns::DnsOptions;
use anyhow::{Context, Result};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, SpfOutput};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What was found out about a report's message (`reports.authenticity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Authenticity {
    Pass,
    Fail,
    None,
    Unverified,
    #[default]
    File,
}

impl Authenticity {
    /// Stable code (`reports.authenticity`).
    pub fn code(self) -> &'static str {
        match self {
            Authenticity::Pass => "pass",
            Authenticity::Fail => "fail",
            Authenticity::None => "none",
            Authenticity::Unverified => "unverified",
            Authenticity::File => "file",
        }
    }
}

/// Checks report messages against DNS: one resolver and runtime for a whole run, shared by
/// the parsing threads.
pub struct Verifier {
    runtime: tokio::runtime::Runtime,
    authenticator: MessageAuthenticator,
    timeout: Duration,
    unanswered: Mutex<Unanswered>,
}

/// After this many checks in a row that DNS did not answer, the checks pause for
/// [`PAUSE_AFTER_UNANSWERED`] and report e-mails are `unverified` meanwhile. Each such check
/// waits out the timeout: a DNS server down, or an mbox whose messages name domains whose
/// servers never answer, would otherwise cost that for every message (hours for 10,000).
const MAX_UNANSWERED: usize = 3;
const PAUSE_AFTER_UNANSWERED: Duration = Duration::from_secs(300);

/// Checks DNS did not answer, in a row, and since when the checks are paused.
#[derive(Default)]
struct Unanswered {
    in_a_row: usize,
    paused_since: Option<Instant>,
}

impl Unanswered {
    fn paused(&mut self) -> bool {
        match self.paused_since {
            Some(since) if since.elapsed() < PAUSE_AFTER_UNANSWERED => true,
            Some(_) => {
                *self = Unanswered::default();
                false
            }
            None => false,
        }
    }

    fn count(&mut self, answer: Authenticity) {
        if answer != Authenticity::Unverified {
            self.in_a_row = 0;
            return;
        }
        self.in_a_row += 1;
        if self.in_a_row == MAX_UNANSWERED {
            log::warn!(
                "DNS did not answer {MAX_UNANSWERED} report e-mail checks in a row: report \
                 e-mails are stored unverified for the next {} minutes",
                PAUSE_AFTER_UNANSWERED.as_secs() / 60
            );
            self.paused_since = Some(Instant::now());
        }
    }
}

impl Verifier {
    /// A verifier asking the DNS server of `options` (the system's resolvers when none).
    pub fn new(options: &DnsOptions) -> Result<Verifier> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the DNS runtime")?;
        let _inside = runtime.enter();
        let mut resolver_options = ResolverOpts::default();
        resolver_options.timeout = options.timeout;
        resolver_options.attempts = 1;
        let authenticator = match options.server {
            Some(server) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                MessageAuthenticator::new(
                    ResolverConfig::from_parts(None, vec![], servers),
                    resolver_options,
                )
            }
            None => MessageAuthenticator::new_system_conf(),
        }
        .context("cannot set up DNS for checking report signatures")?;
        Ok(Verifier {
            runtime,
            authenticator,
            // The key and the DMARC record, each perhaps after a retry.
            timeout: options.timeout * 4,
            unanswered: Mutex::default(),
        })
    }

    /// The authenticity of one e-mail (`message`: the whole message as received).
    pub fn check(&self, message: &[u8]) -> Authenticity {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return Authenticity::Fail;
        };
        if parsed.dkim_headers.is_empty() {
            return Authenticity::None;
        }
        if self.unanswered().paused() {
            return Authenticity::Unverified;
        }
        let checked = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, self.evaluate(&parsed)).await })
            .unwrap_or(Authenticity::Unverified);
        self.unanswered().count(checked);
        checked
    }

    fn unanswered(&self) -> std::sync::MutexGuard<'_, Unanswered> {
        // A panic while it was held leaves two plain counters: nothing to repair.
        self.unanswered.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn evaluate(&self, message: &AuthenticatedMessage<'_>) -> Authenticity {
        let dkim = self.authenticator.verify_dkim(message).await;
        let temporary = |result: &DkimResult| matches!(result, DkimResult::TempError(_));
        if dkim.iter().all(|output| temporary(output.result())) {
            return Authenticity::Unverified;
        }
        let from_domain = message
            .from()
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_ascii_lowercase())
            .unwrap_or_default();
        let spf = SpfOutput::default();
        let dmarc = self
            .authenticator
            .verify_dmarc(
                DmarcParameters::new(message, &dkim, &from_domain, &spf)
                    .with_domain_suffix_fn(|domain| psl::domain_str(domain).unwrap_or(domain)),
            )
            .await;
        match dmarc.dkim_result() {
            DmarcResult::Pass => Authenticity::Pass,
            DmarcResult::TempError(_) => Authenticity::Unverified,
            // No DMARC record for the reporter's domain: DMARC does not apply, and only a
            // passing signature of the From domain itself vouches for the message.
            DmarcResult::None if signed_by(&dkim, &from_domain) => Authenticity::Pass,
            _ => Authenticity::Fail,
        }
    }
}

/// Whether a passing signature's `d=` is `from_domain` itself (strict alignment: no public
/// suffix list guess at an organisation the domain's owner never declared).
fn signed_by(dkim: &[mail_auth::DkimOutput<'_>], from_domain: &str) -> bool {
    dkim.iter().any(|output| {
        output.result() == &DkimResult::Pass
            && output.signature().is_some_and(|signature| {
                signature
                    .d
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(from_domain.trim_end_matches('.'))
            })
    })
}

/// The authenticity of an e-mail message, checked by `verifier` (unverified without one).
pub fn of_message(message: &[u8], verifier: Option<&Verifier>) -> Authenticity {
    verifier.map_or(Authenticity::Unverified, |verifier| verifier.check(message))
}
