//! DMARC failure reports: the ARF `message/feedback-report` fields (RFC 5965, RFC 6591) and
//! the original message's headers; or, from reporters that send prose only (Exim), the same
//! facts read from the text. Every value is bounded like an aggregate report's.

use super::bounds;
use super::domain::canonical_domain;
use crate::model::{FailureReport, OriginalMessage, Reason, SourceIp};
use crate::unpack::MailFacts;
use mail_parser::{DateTime, MessageParser};
use memchr::memmem;
use std::borrow::Cow;
use std::collections::HashMap;

/// Most bytes of an original message's body kept with `--keep-failure-bodies`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Parses the failure report an e-mail holds; the original's body is kept only when asked.
pub fn parse_failure_report(mail: &MailFacts, keep_body: bool) -> Result<FailureReport, Reason> {
    let (fields, identity, original) = match &mail.feedback {
        Some(feedback) => (
            header_fields(feedback),
            feedback.as_slice(),
            mail.original.as_deref(),
        ),
        None => prose_fields(mail.text.as_bytes()),
    };
    let original = original.map(|bytes| original_message(bytes, keep_body));
    if let Some(long) = fields.values().find(|v| v.len() > bounds::MAX_VALUE_BYTES) {
        return Err(Reason::Invalid(format!(
            "failure report field of {} bytes is longer than {} bytes",
            long.len(),
            bounds::MAX_VALUE_BYTES
        )));
    }
    let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
    let from_domain = original
        .as_ref()
        .and_then(|o| o.from.as_deref())
        .and_then(|from| from.rsplit_once('@'))
        .map(|(_, domain)| domain.trim_end_matches('>').to_string());
    // RFC 5965 section 3.2 lets Reported-Domain repeat: the one of the original's From
    // domain is the one DMARC evaluated.
    let reported_domain = match field("reported-domain") {
        Some(domains) => reported_domain(&domains, from_domain.as_deref()),
        None => from_domain
            .map(|d| normalized_domain(&d))
            .unwrap_or_default(),
    };
    let source_ip = field("source-ip").map(|ip| SourceIp::parse(address_part(&ip)));
    if reported_domain.is_empty() && source_ip.is_none() {
        return Err(Reason::Invalid(
            "failure report names neither a reported domain nor a source IP".into(),
        ));
    }
    // Only `auth-failure` is a DMARC failure report (RFC 6591 section 3); complaints and
    // feedback loops (`abuse`, `fraud`, ...) are other ARF reports, skipped.
    let feedback_type = field("feedback-type")
        .unwrap_or_else(|| "auth-failure".into())
        .to_ascii_lowercase();
    if feedback_type != "auth-failure" {
        return Err(Reason::OtherFeedback(feedback_type));
    }
    let headers = original.as_ref().map_or("", |o| o.headers.as_str());
    // Without an Arrival-Date (optional, RFC 5965 section 3.2) or the original's headers,
    // two reports of one kind about one source read alike: the report mail's own Date tells
    // them apart (a forwarded copy keeps it).
    let earlier_key = format!("failure|{}", identity_digest(identity, headers));
    let (key, earlier_key) = match (field("arrival-date"), headers.is_empty(), mail.date) {
        (None, true, Some(date)) => (
            format!(
                "failure|{}",
                identity_digest(identity, &format!("{headers}\0date {date}"))
            ),
            Some(earlier_key),
        ),
        _ => (earlier_key, None),
    };
    Ok(FailureReport {
        key,
        earlier_key,
        reporter: mail.from.clone(),
        reported_at: mail.date.filter(|t| in_bounds(*t)),
        feedback_type,
        user_agent: field("user-agent"),
        arrival_date: field("arrival-date").and_then(|d| timestamp(&d)),
        source_ip,
        reported_domain,
        original_mail_from: field("original-mail-from"),
        original_rcpt_to: field("original-rcpt-to"),
        auth_failure: field("auth-failure").map(|v| v.to_ascii_lowercase()),
        delivery_result: field("delivery-result").map(|v| v.to_ascii_lowercase()),
        dkim_domain: field("dkim-domain").map(|v| normalized_domain(&v)),
        dkim_identity: field("dkim-identity"),
        dkim_selector: field("dkim-selector"),
        spf_dns: field("spf-dns"),
        identity_alignment: field("identity-alignment").map(|v| v.to_ascii_lowercase()),
        authentication_results: field("authentication-results"),
        original,
    })
}

/// `Name: value` lines with folded continuations, names lower-cased; a repeated field
/// (`Original-Rcpt-To`, `Reported-Domain` may repeat, RFC 5965 section 3.2) keeps every
/// value, joined with ", ".
fn header_fields(bytes: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut current: Option<(String, String)> = None;
    let mut finish = |field: Option<(String, String)>| {
        if let Some((name, value)) = field {
            fields
                .entry(name)
                .and_modify(|values| {
                    values.push_str(", ");
                    values.push_str(&value);
                })
                .or_insert(value);
        }
    };
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        finish(current.take());
        if let Some((name, value)) = line.split_once(':') {
            current = Some((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    finish(current);
    fields
}

/// The address in a `Source-IP` value: OpenDMARC writes `192.0.2.1 (host.example)`; some
/// write SMTP's address literal (`[IPv6:2001:db8::9]`, RFC 5321 section 4.1.3) or an IPv4
/// address with its port (`192.0.2.57:25`). RFC 6591 section 3.1 asks for the bare address.
fn address_part(value: &str) -> &str {
    let token = value
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .find(|part| !part.is_empty())
        .unwrap_or(value);
    let token = token.trim_start_matches('[').trim_end_matches(']');
    let token = match token.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("ipv6:") => &token[5..],
        _ => token,
    };
    match token.rsplit_once(':') {
        Some((address, port))
            if address.parse::<std::net::Ipv4Addr>().is_ok()
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            address
        }
        _ => token,
    }
}

/// A domain of a field as stored (`domain.rs`: U-labels as A-labels), without what some
/// reporters write around it (`<example.com>`, `example.com;`), so `--domain` finds it. A
/// name IDNA cannot convert is kept as written: the report has no notes to say so in.
fn normalized_domain(domain: &str) -> String {
    let bare = domain.trim_matches(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ';'));
    canonical_domain(bare).unwrap_or_else(|kept| kept)
}

/// Of the reported domains (`a.example, b.example`), the one the From domain is or is below;
/// else the first.
fn reported_domain(domains: &str, from_domain: Option<&str>) -> String {
    let domains: Vec<String> = domains.split(',').map(normalized_domain).collect();
    let from = from_domain.map(normalized_domain);
    let covers = |d: &String| {
        from.as_deref()
            .is_some_and(|f| f == d || f.ends_with(&format!(".{d}")))
    };
    domains
        .iter()
        .find(|d| covers(d))
        .or(domains.first())
        .cloned()
        .unwrap_or_default()
}

/// Exim's prose report: `Sender Domain: ...` lines, then the original's headers after a line
/// announcing "a copy of the headers". Its names are mapped to the ARF ones.
fn prose_fields(text: &[u8]) -> (HashMap<String, String>, &[u8], Option<&[u8]>) {
    let marker = b"copy of the headers";
    let (facts, headers) = match memmem::find(text, marker) {
        Some(at) => {
            let line_end = text[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map(|n| at + n + 1);
            (&text[..at], line_end.map(|end| &text[end..]))
        }
        None => (text, None),
    };
    // Indented `Name: value` lines, one fact each.
    let prose: HashMap<String, String> = String::from_utf8_lossy(facts)
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut fields = HashMap::new();
    for (theirs, ours) in [
        ("sender domain", "reported-domain"),
        ("sender ip address", "source-ip"),
        ("received date", "arrival-date"),
    ] {
        if let Some(value) = prose.get(theirs) {
            fields.insert(ours.to_string(), value.clone());
        }
    }
    let aligned = |name: &str| {
        prose
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    };
    let alignment = match (aligned("spf alignment"), aligned("dkim alignment")) {
        (true, true) => "spf,dkim",
        (true, false) => "spf",
        (false, true) => "dkim",
        (false, false) => "none",
    };
    fields.insert("identity-alignment".into(), alignment.into());
    fields.insert("auth-failure".into(), "dmarc".into());
    // "DMARC Results: None, Accept": the policy applied, then what was done.
    if let Some((_, action)) = prose.get("dmarc results").and_then(|r| r.split_once(',')) {
        fields.insert("delivery-result".into(), action.trim().to_string());
    }
    (fields, facts, headers)
}

/// The original message's headers (and, when asked, its body).
fn original_message(bytes: &[u8], keep_body: bool) -> OriginalMessage {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let bytes = &bytes[start.unwrap_or(bytes.len())..];
    let body_start = header_block_end(bytes);
    let header_block = &bytes[..body_start];
    let ended = ended(header_block);
    let Some(message) = MessageParser::default().parse_headers(ended.as_ref()) else {
        return OriginalMessage {
            headers: bounded_text(header_block, bounds::MAX_VALUE_BYTES),
            ..OriginalMessage::default()
        };
    };
    let address = |list: Option<&mail_parser::Address>| {
        list.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(|a| bounded_text(a.as_bytes(), bounds::MAX_VALUE_BYTES))
    };
    OriginalMessage {
        from: address(message.from()),
        to: address(message.to()),
        subject: message
            .subject()
            .map(|s| bounded_text(s.as_bytes(), bounds::MAX_VALUE_BYTES)),
        message_id: message
            .message_id()
            .map(|s| bounded_text(s.as_bytes(), bounds::MAX_VALUE_BYTES)),
        date: message
            .date()
            .map(DateTime::to_timestamp)
            .filter(|t| in_bounds(*t)),
        headers: bounded_text(header_block, bounds::MAX_VALUE_BYTES),
        body: keep_body.then(|| bounded_text(&bytes[body_start..], MAX_BODY_BYTES)),
    }
}

/// Where the header block ends: after the first empty line, or the end.
fn header_block_end(bytes: &[u8]) -> usize {
    let crlf = memmem::find(bytes, b"\r\n\r\n").map(|at| at + 4);
    let lf = memmem::find(bytes, b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(bytes.len()),
    }
}

/// `header_block` ending in a blank line: a `text/rfc822-headers` part is often the bare
/// header lines, its last line end belonging to the MIME boundary, and mail-parser drops a
/// last Subject or Message-ID that no line end closes.
fn ended(header_block: &[u8]) -> Cow<'_, [u8]> {
    if header_block.ends_with(b"\n\n") || header_block.ends_with(b"\n\r\n") {
        return Cow::Borrowed(header_block);
    }
    let lines = header_block.trim_ascii_end();
    Cow::Owned([lines, b"\r\n\r\n"].concat())
}

/// UTF-8 text (invalid bytes replaced), trimmed and cut at `max` bytes.
fn bounded_text(bytes: &[u8], max: usize) -> String {
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
    text.truncate(text.trim_end().len());
    text
}

/// RFC 5322 date-time, as ARF uses (RFC 5965 section 3.1), or the ISO 8601 form some
/// reporters write (`2026-12-06T07:55:00Z`); `None` when unreadable or outside the accepted
/// years.
fn timestamp(value: &str) -> Option<i64> {
    DateTime::parse_rfc822(value)
        .or_else(|| DateTime::parse_rfc3339(value.trim()))
        .filter(DateTime::is_valid)
        .map(|d| d.to_timestamp())
        .filter(|t| in_bounds(*t))
}

fn in_bounds(seconds: i64) -> bool {
    (bounds::EARLIEST..bounds::LATEST).contains(&seconds)
}

/// What identifies one report whatever wraps it: the reporter's own words, line ends and
/// trailing blanks aside.
fn identity_digest(report: &[u8], headers: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    for text in [String::from_utf8_lossy(report).as_ref(), headers] {
        for line in text.lines() {
            hasher.update(line.trim_end().as_bytes());
            hasher.update(b"\n");
        }
        hasher.update(b"\0");
    }
    hasher.finalize().to_hex()[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arf(feedback: &str, original: Option<&str>) -> MailFacts {
        MailFacts {
            from: "reports@receiver.example".into(),
            feedback: Some(feedback.as_bytes().to_vec()),
            original: original.map(|o| o.as_bytes().to_vec()),
            ..MailFacts::default()
        }
    }

    const FEEDBACK: &str = "Feedback-Type: auth-failure\r\nUser-Agent: Lua/1.0\r\n\
        Arrival-Date: Tue, 30 Apr 2019 02:09:00 +0000\r\nSource-IP: 10.10.10.10\r\n\
        Authentication-Results: dmarc=fail (p=none;\r\n  dis=none) header.from=example.com\r\n\
        Auth-Failure: dmarc\r\nReported-Domain: Example.COM\r\n";

    #[test]
    fn reported_domains_lose_what_is_written_around_them() {
        for written in [
            "Example.COM",
            " <example.com> ",
            "example.com;",
            "example.com.",
        ] {
            assert_eq!(reported_domain(written, None), "example.com", "{written}");
        }
        let several = reported_domain("<a.example>, example.com", Some("news.example.com"));
        assert_eq!(several, "example.com");
    }

    #[test]
    fn arf_fields_and_original_headers() {
        let original = "From: Someone <someone@example.com>\nTo: a@b.example\n\
            Subject: Invoice\nMessage-ID: <1@x>\nDate: Mon, 1 Oct 2018 11:20:27 +0200\n\n\
            secret body\n";
        let report = parse_failure_report(&arf(FEEDBACK, Some(original)), false).unwrap();
        assert_eq!(report.reported_domain, "example.com");
        assert_eq!(report.source_ip.unwrap().text.as_str(), "10.10.10.10");
        for (written, read) in [
            ("192.0.2.1 (host.example)", "192.0.2.1"),
            ("IPv6:2001:db8::9", "2001:db8::9"),
            ("[IPv6:2001:DB8::9]", "2001:db8::9"),
            ("192.0.2.57:25", "192.0.2.57"),
            ("2001:db8::25", "2001:db8::25"),
        ] {
            let ip = crate::model::SourceIp::parse(address_part(written));
            assert_eq!(ip.text.as_str(), read, "{written}");
            assert!(ip.bytes.is_some(), "{written}");
        }
        assert_eq!(report.arrival_date, Some(1_556_590_140));
        assert_eq!(timestamp("2019-04-30T02:09:00Z"), Some(1_556_590_140));
        assert_eq!(timestamp("2019-04-30T04:09:00+02:00"), Some(1_556_590_140));
        assert_eq!(
            report.authentication_results.as_deref(),
            Some("dmarc=fail (p=none; dis=none) header.from=example.com")
        );
        let original_message = report.original.as_ref().unwrap();
        assert_eq!(original_message.subject.as_deref(), Some("Invoice"));
        assert_eq!(
            original_message.from.as_deref(),
            Some("someone@example.com")
        );
        assert_eq!(original_message.date, Some(1_538_385_627));
        assert!(original_message.body.is_none());
        assert!(!original_message.headers.contains("secret"));
        let kept = parse_failure_report(&arf(FEEDBACK, Some(original)), true).unwrap();
        assert_eq!(kept.original.unwrap().body.as_deref(), Some("secret body"));
    }

    /// A header-only original whose last line has no line end keeps its last header,
    /// whichever it is.
    #[test]
    fn the_last_original_header_is_read_without_a_line_end() {
        let headers = [
            "From: a@example.com",
            "Subject: Invoice",
            "Message-ID: <1@x>",
        ];
        for last in 0..headers.len() {
            let mut lines = headers.to_vec();
            lines.rotate_left(last + 1);
            let original = lines.join("\r\n");
            let report = parse_failure_report(&arf(FEEDBACK, Some(&original)), false).unwrap();
            let message = report.original.unwrap();
            assert_eq!(message.subject.as_deref(), Some("Invoice"), "{original}");
            assert_eq!(message.message_id.as_deref(), Some("1@x"), "{original}");
            assert_eq!(message.from.as_deref(), Some("a@example.com"), "{original}");
        }
    }

    #[test]
    fn the_same_report_differently_wrapped_has_one_key() {
        let crlf = parse_failure_report(&arf(FEEDBACK, None), false).unwrap();
        let lf = parse_failure_report(&arf(&FEEDBACK.replace("\r\n", "\n"), None), false);
        assert_eq!(crlf.key, lf.unwrap().key);
        let other = FEEDBACK.replace("10.10.10.10", "10.10.10.11");
        assert_ne!(
            crlf.key,
            parse_failure_report(&arf(&other, None), false).unwrap().key
        );
    }

    #[test]
    fn a_report_that_names_nothing_is_refused() {
        let empty = arf("Feedback-Type: auth-failure\n", None);
        assert!(matches!(
            parse_failure_report(&empty, false),
            Err(Reason::Invalid(_))
        ));
        let long = format!("Reported-Domain: {}\n", "a".repeat(70_000));
        assert!(matches!(
            parse_failure_report(&arf(&long, None), false),
            Err(Reason::Invalid(_))
        ));
    }
}
