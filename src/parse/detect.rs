//! Which kind of document something is: decided here and only here.

use crate::model::{DocumentKind, Reason};
use crate::unpack::MailFacts;

/// The kind of one document found by `unpack` (XML or JSON).
pub fn kind(bytes: &[u8]) -> DocumentKind {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
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

/// Why an e-mail without an aggregate report was not stored.
pub fn classify_mail(mail: &MailFacts) -> Reason {
    let any = |needle: &str| mail.content_types.iter().any(|t| t.contains(needle));
    if any("tlsrpt") {
        Reason::Unsupported(DocumentKind::SmtpTls)
    } else if any("feedback-report")
        || mail.subject.contains("forensic")
        || mail.subject.contains("failure report")
    {
        // Some MTAs (Exim) send failure reports without the ARF part, named in the subject.
        Reason::Unsupported(DocumentKind::FailureReport)
    } else if any("delivery-status") {
        Reason::Unsupported(DocumentKind::Bounce)
    } else {
        Reason::NotAReport("e-mail holds no DMARC aggregate report".into())
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
    haystack.windows(needle.len()).any(|w| w == needle)
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
        assert_eq!(kind(b"{\"a\": 1}"), DocumentKind::Unknown);
        assert_eq!(kind(b"<?xml?><feedback/>"), DocumentKind::Aggregate);
    }

    #[test]
    fn report_less_mail_by_its_parts_and_subject() {
        let mail = |types: &[&str], subject: &str| MailFacts {
            content_types: types.iter().map(|t| t.to_string()).collect(),
            subject: subject.into(),
        };
        let tls = mail(&["multipart/report;report-type=tlsrpt"], "");
        assert_eq!(
            classify_mail(&tls),
            Reason::Unsupported(DocumentKind::SmtpTls)
        );
        let exim = mail(&["text/plain"], "dmarc failure report for example.com");
        assert_eq!(
            classify_mail(&exim),
            Reason::Unsupported(DocumentKind::FailureReport)
        );
        assert!(!classify_mail(&mail(&["text/plain"], "hello")).is_skip());
    }
}
