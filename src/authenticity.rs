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
//!   mismatch    the mail passes, but for a domain of another organisation than the report
//!               names as its reporter (`<org_name>` when a domain name, else `<email>`) or
//!               is about (its policy domain: a report forwarded from the domain's own
//!               mailbox), or for a free mail provider's own domain: anyone can sign mail for
//!               a domain of their own and claim to be Google in the report
//!   none        an unsigned message
//!   unverified  DNS was off (`--no-dns`) or did not answer: not checked
//!   file        a bare file (XML, gzip, zip): no message to check
//! SPF is not evaluated: after delivery the connecting address is known only from Received
//! headers that anyone upstream can write.

use crate::enrich::dns::DnsOptions;
use crate::parse::domain::canonical_domain;
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
    Mismatch,
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
            Authenticity::Mismatch => "mismatch",
            Authenticity::None => "none",
            Authenticity::Unverified => "unverified",
            Authenticity::File => "file",
        }
    }
}

/// Whether a stored authenticity code says the report's e-mail was shown not to be genuine
/// (as selection.sql's `not_genuine_reports`): such a report vouches for nothing.
pub fn shown_not_genuine(code: &str) -> bool {
    [
        Authenticity::Fail,
        Authenticity::Mismatch,
        Authenticity::None,
    ]
    .iter()
    .any(|a| a.code() == code)
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

    /// What one e-mail shows (`message`: the whole message as received).
    pub fn check(&self, message: &[u8]) -> Seal {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return Seal::of(Authenticity::Fail);
        };
        if parsed.dkim_headers.is_empty() {
            return Seal::of(Authenticity::None);
        }
        if self.unanswered().paused() {
            return Seal::of(Authenticity::Unverified);
        }
        let checked = self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, self.evaluate(&parsed)).await })
            .unwrap_or(Authenticity::Unverified);
        self.unanswered().count(checked);
        Seal {
            authenticity: checked,
            from_domain: from_domain(&parsed),
        }
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
        let from_domain = from_domain(message);
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

/// The domain of the message's From address, lower-cased.
fn from_domain(message: &AuthenticatedMessage<'_>) -> String {
    message
        .from()
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default()
}

/// What a report's e-mail showed: the check's answer and the From domain it was for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seal {
    pub authenticity: Authenticity,
    from_domain: String,
}

/// Reporters whose report mail comes from a domain of another name than the one their
/// reports give: Yahoo mails from dmarc.yahoo.com, for Yahoo and AOL, reports whose contact
/// is at yahooinc.com or aol.com; Microsoft from microsoft.com, reports of `Outlook.com`.
const SAME_ORGANISATION: &[&[&str]] = &[
    &["yahoo.com", "yahooinc.com", "aol.com"],
    &["microsoft.com", "outlook.com", "hotmail.com"],
];

/// The domains known to belong to one reporting organisation each: the built-in ones and the
/// config's `reporter_domains`, by their organisational domains.
#[derive(Debug, Clone)]
pub struct Organisations(Vec<Vec<String>>);

impl Organisations {
    pub fn with(extra: &[Vec<String>]) -> Organisations {
        let built_in = SAME_ORGANISATION
            .iter()
            .map(|group| group.iter().map(|d| d.to_string()).collect::<Vec<_>>());
        let groups = built_in.chain(extra.iter().cloned());
        Organisations(
            groups
                .map(|group| group.iter().map(|d| organisation(d)).collect())
                .collect(),
        )
    }

    /// `domain` (an organisational domain) and the others of its organisation.
    fn of<'a>(&'a self, domain: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let group = self
            .0
            .iter()
            .find(|group| group.iter().any(|d| d == domain));
        std::iter::once(domain).chain(group.into_iter().flatten().map(String::as_str))
    }

    fn same(&self, a: &str, b: &str) -> bool {
        !a.is_empty()
            && (a == b
                || self
                    .0
                    .iter()
                    .any(|group| group.iter().any(|d| d == a) && group.iter().any(|d| d == b)))
    }
}

impl Default for Organisations {
    fn default() -> Organisations {
        Organisations::with(&[])
    }
}

impl Seal {
    pub fn of(authenticity: Authenticity) -> Seal {
        Seal {
            authenticity,
            from_domain: String::new(),
        }
    }

    /// The authenticity of a report this e-mail carried. RFC 9990 (section 3.5.2, Email)
    /// asks report mail for an aligned DMARC pass; duckmarc asks that pass to be for the
    /// reporter the report names, else it vouches for nothing the report says about itself
    /// (anyone can sign mail for a domain of their own). The reporter is the report's
    /// `<org_name>` when that is a domain (duckmarc knows reporters by it), else its
    /// `<email>` domain; a pass for the report's policy domain vouches too (a report
    /// forwarded from the domain owner's own mailbox).
    pub fn of_report(
        &self,
        email: Option<&str>,
        org_name: &str,
        policy_domain: &str,
        organisations: &Organisations,
    ) -> Authenticity {
        let org_name = org_name.trim().to_ascii_lowercase();
        let reporter = match is_domain_name(&org_name) {
            true => org_name.as_str(),
            false => email
                .and_then(|e| e.rsplit_once('@'))
                .map_or("", |(_, d)| d),
        };
        self.vouched_if(|signer| {
            [reporter, policy_domain]
                .iter()
                .any(|claimed| organisations.same(signer, &organisation(claimed)))
        })
    }

    /// The authenticity of an SMTP TLS report this e-mail carried. Its `organization-name`
    /// is a company's name (`Google Inc.`, `Microsoft Corporation`), and the report is known
    /// by it (its key, `report tls`, alerts), so the pass must be for the organisation it
    /// names: a domain of the signer's organisation, or a name holding one of its domains'
    /// first label as a word (`google` of google.com). Its `contact-info` is the sender's
    /// own word and vouches for nothing. A pass for the policy domain vouches too (a report
    /// forwarded from the domain owner's own mailbox).
    pub fn of_tls_report(
        &self,
        org_name: &str,
        policy_domain: &str,
        organisations: &Organisations,
    ) -> Authenticity {
        let name = org_name.trim().to_ascii_lowercase();
        self.vouched_if(|signer| {
            let named = match is_domain_name(&name) {
                true => organisations.same(signer, &organisation(&name)),
                false => organisations
                    .of(signer)
                    .any(|domain| names_word(&name, domain)),
            };
            named || organisations.same(signer, &organisation(policy_domain))
        })
    }

    /// `Pass` when the message passed and the signer's organisation is one `claimed`
    /// accepts, `Mismatch` when it passed for another; else what the message showed.
    fn vouched_if(&self, claimed: impl Fn(&str) -> bool) -> Authenticity {
        if self.authenticity != Authenticity::Pass {
            return self.authenticity;
        }
        let signer = organisation(&self.from_domain);
        // Anyone can have a mailbox at a free mail provider's own domain, and mail from it
        // passes DMARC for it: only its own hosts (dmarc.yahoo.com, corp.mail.ru) vouch.
        let anyone_can_send = FREE_MAIL.contains(&signer.as_str()) && self.from_domain == signer;
        match !anyone_can_send && claimed(&signer) {
            true => Authenticity::Pass,
            false => Authenticity::Mismatch,
        }
    }
}

/// Whether `name` (lower-cased) holds the first label of `domain` as a word: `google inc.`
/// and google.com, `mail.ru` and mail.ru.
fn names_word(name: &str, domain: &str) -> bool {
    let label = domain.split('.').next().unwrap_or("");
    !label.is_empty()
        && name
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .any(|word| word == label)
}

/// Mailbox providers anyone can get an address at (their own domain, not their hosts').
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "ymail.com",
    "aol.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mail.ru",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "yandex.ru",
    "yandex.com",
    "gmx.net",
    "gmx.de",
    "gmx.com",
    "web.de",
    "t-online.de",
    "proton.me",
    "protonmail.com",
    "zoho.com",
    "qq.com",
    "163.com",
    "seznam.cz",
    "orange.fr",
    "free.fr",
    "libero.it",
    "comcast.net",
];

/// Whether a report's `<org_name>` is a domain name (`google.com`, `Mail.Ru`), not a company
/// name that happens to hold a dot (`Seznam.cz a.s.`).
fn is_domain_name(name: &str) -> bool {
    name.contains('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && psl::domain(name.as_bytes()).is_some_and(|d| d.suffix().is_known())
}

/// A domain's organisational domain (the public suffix list), lower-cased.
fn organisation(domain: &str) -> String {
    // A-labels, as the reports' own domains are stored (an internationalised mailbox's From).
    let domain = canonical_domain(domain).unwrap_or_else(|kept| kept);
    psl::domain_str(&domain).unwrap_or(&domain).to_string()
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

/// What an e-mail message shows, checked by `verifier` (unverified without one).
pub fn of_message(message: &[u8], verifier: Option<&Verifier>) -> Seal {
    verifier.map_or(Seal::of(Authenticity::Unverified), |verifier| {
        verifier.check(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed_for(from_domain: &str) -> Seal {
        Seal {
            authenticity: Authenticity::Pass,
            from_domain: from_domain.to_string(),
        }
    }

    /// A TLS report is known by its organization-name: only a signer that name names vouches
    /// for it, whatever address its contact-info gives.
    #[test]
    fn a_tls_report_is_vouched_for_by_the_organisation_it_names() {
        let known = Organisations::default();
        let of =
            |from: &str, name: &str| passed_for(from).of_tls_report(name, "example.com", &known);
        for (from, name) in [
            ("google.com", "Google Inc."),
            ("google.com", "Google LLC"),
            ("microsoft.com", "Microsoft Corporation"),
            ("corp.mail.ru", "Mail.ru"),
            ("socketlabs.com", "socketlabs.com"),
            ("example.com", "Google Inc."), // forwarded from the domain's own mailbox
        ] {
            assert_eq!(of(from, name), Authenticity::Pass, "{from} {name}");
        }
        for (from, name) in [
            ("evil.example", "Google Inc."),
            ("google-reports.example", "Google Inc."),
            ("evil.example", "google.com"),
            ("gmail.com", "Google Inc."),
        ] {
            assert_eq!(of(from, name), Authenticity::Mismatch, "{from} {name}");
        }
    }

    #[test]
    fn a_pass_vouches_only_for_a_report_of_the_signers_organisation() {
        let google = Some("noreply-dmarc-support@google.com");
        let known = Organisations::default();
        let of = |seal: &Seal, email, org| seal.of_report(email, org, "example.com", &known);
        assert_eq!(
            of(&passed_for("google.com"), google, "google.com"),
            Authenticity::Pass
        );
        // Mimecast mails from a subdomain of the organisation its contact is at.
        let mimecast = Some("no-reply@au-1.mimecastreport.com");
        let seal = passed_for("au-1.mimecastreport.com");
        assert_eq!(of(&seal, mimecast, "Mimecast"), Authenticity::Pass);
        // Yahoo mails from dmarc.yahoo.com, its contact at yahooinc.com, AOL's reports too.
        let seal = passed_for("dmarc.yahoo.com");
        assert_eq!(
            of(&seal, Some("dmarchelp@yahooinc.com"), "Yahoo"),
            Authenticity::Pass
        );
        assert_eq!(
            of(&seal, Some("postmaster@aol.com"), "AOL"),
            Authenticity::Pass
        );
        let outlook = Some("dmarcreport@microsoft.com");
        let seal = passed_for("microsoft.com");
        assert_eq!(of(&seal, outlook, "Outlook.com"), Authenticity::Pass);
        assert_eq!(of(&seal, outlook, "Enterprise Outlook"), Authenticity::Pass);
        let mail_ru = Some("dmarc_support@corp.mail.ru");
        let seal = passed_for("corp.mail.ru");
        assert_eq!(of(&seal, mail_ru, "Mail.Ru"), Authenticity::Pass);
        // Anyone's own domain passes for itself; it names no one else as the reporter,
        // neither by its contact nor by its name.
        let seal = passed_for("attacker.example");
        let own_contact = Some("reports@attacker.example");
        assert_eq!(of(&seal, google, "google.com"), Authenticity::Mismatch);
        assert_eq!(of(&seal, None, "google.com"), Authenticity::Mismatch);
        assert_eq!(of(&seal, own_contact, "google.com"), Authenticity::Mismatch);
        assert_eq!(of(&seal, None, "Google"), Authenticity::Mismatch);
        let own_name = passed_for("attacker.net");
        assert_eq!(of(&own_name, None, "attacker.net"), Authenticity::Pass);
        assert_eq!(of(&seal, own_contact, "Attacker Inc"), Authenticity::Pass);
        // A free mailbox at a reporter's own domain passes DMARC for it, and proves nothing.
        for (mailbox, contact, name) in [
            ("yahoo.com", "dmarchelp@yahooinc.com", "Yahoo"),
            ("hotmail.com", "dmarcreport@microsoft.com", "Outlook.com"),
            ("mail.ru", "x@mail.ru", "Mail.Ru"),
        ] {
            let seal = passed_for(mailbox);
            assert_eq!(
                of(&seal, Some(contact), name),
                Authenticity::Mismatch,
                "{mailbox}"
            );
        }
        // A company name with a dot in it is no domain: the contact's domain is the reporter.
        let seal = passed_for("seznam.cz");
        let seznam = Some("postmaster@seznam.cz");
        assert_eq!(of(&seal, seznam, "Seznam.cz a.s."), Authenticity::Mismatch);
        let seal = passed_for("reports.seznam.cz");
        assert_eq!(of(&seal, seznam, "Seznam.cz a.s."), Authenticity::Pass);
        let seal = passed_for("example.de");
        let example = Some("dmarc@example.de");
        assert_eq!(of(&seal, example, "Example.de GmbH"), Authenticity::Pass);
        let yahoo_look_alike = passed_for("yahoo.example");
        assert_eq!(
            of(&yahoo_look_alike, Some("dmarchelp@yahooinc.com"), "Yahoo"),
            Authenticity::Mismatch
        );
        // The domain owner's own mailbox forwarding a report about its domain.
        let seal = passed_for("Example.COM.");
        assert_eq!(of(&seal, google, "google.com"), Authenticity::Pass);
        // A reporter the user names in the config's reporter_domains.
        let user = Organisations::with(&[vec!["Reports.Example".into(), "mailer.example".into()]]);
        let seal = passed_for("out.mailer.example");
        let contact = Some("dmarc@reports.example");
        let with_user = seal.of_report(contact, "Example Reports", "example.com", &user);
        assert_eq!(with_user, Authenticity::Pass);
        assert_eq!(
            of(&seal, contact, "Example Reports"),
            Authenticity::Mismatch
        );
        // Anything but a pass is what it was.
        let failed = Seal::of(Authenticity::Fail);
        assert_eq!(of(&failed, google, "google.com"), Authenticity::Fail);
        let unchecked = Seal::of(Authenticity::Unverified);
        assert_eq!(
            of(&unchecked, google, "google.com"),
            Authenticity::Unverified
        );
    }
}
