//! Which kind of document something is: decided here and only here.

use crate::model::DocumentKind;
use crate::unpack::MailFacts;

/// The kind of one document found by `unpack` (XML or JSON).
pub fn kind(bytes: &[u8]) -> DocumentKind {
    let first = without_bom(bytes).iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') | Some(b'[')
            if contains(bytes, b"organization-name") && contains(bytes, b"policies") =>
        {
            DocumentKind::SmtpTls
        }
        Some(b'{') | Some(b'[') => DocumentKind::Unknown,
        // XML: the aggregate parser says precisely what is wrong when it is not a report.
        _ => DocumentKind::Aggregate,
    }
}

/// `bytes` without a UTF-8 byte order mark in front: JSON must not have one, but a parser
/// may ignore it (RFC 8259 section 8.1), and some TLS reports come with one.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The kind of report an e-mail without an XML or JSON document is.
pub fn mail_kind(mail: &MailFacts) -> DocumentKind {
    let any = |needle: &str| mail.content_types.iter().any(|t| t.contains(needle));
    if mail.feedback.is_some() {
        DocumentKind::FailureReport
    } else if any("delivery-status") {
        // Before the subject: a bounce echoes the subject of what it returns ("Undeliverable:
        // DMARC failure report for ...").
        DocumentKind::Bounce
    } else if mail.subject.contains("forensic") || mail.subject.contains("failure report") {
        // Some MTAs (Exim) send failure reports without the ARF part, named in the subject.
        DocumentKind::FailureReport
    } else if any("tlsrpt") {
        DocumentKind::SmtpTls
    } else {
        DocumentKind::Unknown
    }
}

/// An XML attachment worth parsing as a report: it names a feedback element somewhere.
pub fn mentions_a_report(bytes: &[u8]) -> bool {
    contains(bytes, b"feedback")
}

/// `<feedback` or `<prefix:feedback` as an element start, not merely the word in prose.
pub fn holds_feedback_element(data: &[u8]) -> bool {
    let name_char = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    data.windows(8).enumerate().any(|(i, word)| {
        if !word.eq_ignore_ascii_case(b"feedback") {
            return false;
        }
        let before = &data[..i];
        let starts = match before.split_last() {
            Some((b'<', _)) => true,
            Some((b':', prefix)) => {
                let name = prefix.iter().rev().take_while(|b| name_char(b)).count();
                name > 0 && prefix.len() > name && prefix[prefix.len() - name - 1] == b'<'
            }
            _ => false,
        };
        let ends = data
            .get(i + 8)
            .is_none_or(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'));
        starts && ends
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_in_prose_is_not_an_element() {
        assert!(holds_feedback_element(b"<?xml?><feedback>"));
        assert!(holds_feedback_element(b"<d:feedback xmlns:d='x'>"));
        assert!(!holds_feedback_element(
            b"<p>Send us feedback about this report</p>"
        ));
        assert!(!holds_feedback_element(b"<p>a:feedback</p>"));
        assert!(!holds_feedback_element(b"<feedbacks>"));
    }

    #[test]
    fn tls_reports_are_told_from_other_json() {
        let tls = br#"{"organization-name":"Google Inc.","policies":[]}"#;
        assert_eq!(kind(tls), DocumentKind::SmtpTls);
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), tls].concat();
        assert_eq!(kind(&with_bom), DocumentKind::SmtpTls);
        assert_eq!(kind(b"{\"a\": 1}"), DocumentKind::Unknown);
        assert_eq!(kind(b"<?xml?><feedback/>"), DocumentKind::Aggregate);
    }

    #[test]
    fn report_less_mail_by_its_parts_and_subject() {
        let mail = |types: &[&str], subject: &str| MailFacts {
            content_types: types.iter().map(|t| t.to_string()).collect(),
            subject: subject.into(),
            ..MailFacts::default()
        };
        let tls = mail(&["multipart/report;report-type=tlsrpt"], "");
        assert_eq!(mail_kind(&tls), DocumentKind::SmtpTls);
        let exim = mail(&["text/plain"], "dmarc failure report for example.com");
        assert_eq!(mail_kind(&exim), DocumentKind::FailureReport);
        let arf = MailFacts {
            feedback: Some(b"Feedback-Type: auth-failure".to_vec()),
            ..mail(&["multipart/report"], "report")
        };
        assert_eq!(mail_kind(&arf), DocumentKind::FailureReport);
        let bounce = mail(&["message/delivery-status"], "undeliverable");
        assert_eq!(mail_kind(&bounce), DocumentKind::Bounce);
        // Exchange's bounce echoes the subject of a failure report it returns.
        let echo = mail(
            &[
                "multipart/report;report-type=delivery-status",
                "message/delivery-status",
            ],
            "undeliverable: dmarc failure report for example.com",
        );
        assert_eq!(mail_kind(&echo), DocumentKind::Bounce);
        assert_eq!(
            mail_kind(&mail(&["text/plain"], "hello")),
            DocumentKind::Unknown
        );
    }
}
