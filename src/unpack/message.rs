//! The e-mail messages of an input: walking their parts to the reports they hold, each
//! found as the content it is (`Unpacker::any_with_charset`).

use super::mail::{
    charset_of, feedback_facts, has_type_of, is_delivery_status, is_feedback_report,
    looks_like_message, mail_facts, part_name, transfer_decoded,
};
use super::{join, sniff, Content, Format, Unpacker};
use crate::model::Reason;
use crate::parse::detect;
use crate::parse::domain::canonical_domain;
use encoding_rs::Encoding;
use mail_parser::{MessageParser, PartType};
use std::borrow::Cow;

impl Unpacker<'_, '_> {
    pub(super) fn mail_bytes(&mut self, bytes: &[u8], location: String, depth: usize) {
        // Real reports arrive with blank lines before the headers (`sniff` looks past them);
        // a parser would take the first empty line for the end of an empty header block.
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
        let bytes = &bytes[start.unwrap_or(bytes.len())..];
        match MessageParser::default().parse(bytes) {
            Some(message) => self.mail(&message, location, depth),
            None => self.refuse(
                location,
                Reason::Damaged("unreadable e-mail message".into()),
            ),
        }
    }

    /// Finds the reports in a message; a message with none is skipped or rejected as a whole.
    fn mail(&mut self, message: &mail_parser::Message, location: String, depth: usize) {
        // The original message inside a feedback report is evidence, not a container:
        // its attachments were written by whoever failed DMARC.
        if is_feedback_report(message) {
            return self.feedback(message, &location);
        }
        // Nor is a bounce's returned message: whatever report it holds was going elsewhere.
        if is_delivery_status(message) {
            return self.push(location, Content::Mail(mail_facts(message)));
        }
        let found_before = self.count;
        let outer = self.report_domain.clone();
        if let Some(domain) = tls_report_domain(message) {
            self.report_domain = Some(domain);
        }
        self.mail_parts(message, &location, depth);
        self.report_domain = outer;
        if self.count == found_before {
            self.push(location, Content::Mail(mail_facts(message)));
        }
    }

    /// A feedback-report message: each report in it (one, unless it breaks RFC 5965).
    fn feedback(&mut self, message: &mail_parser::Message, location: &str) {
        let reports = feedback_facts(message);
        let several = reports.len() > 1;
        for (n, facts) in reports.into_iter().enumerate() {
            let here = match several {
                true => join(location, &format!("feedback {}", n + 1)),
                false => location.to_string(),
            };
            self.push(here, Content::Mail(facts));
        }
    }

    /// Looks at every leaf part of a message, including forwarded `message/rfc822` ones.
    /// Report-bearing parts are recognised by content, whatever their declared type.
    fn mail_parts(&mut self, message: &mail_parser::Message, location: &str, depth: usize) {
        if depth > self.limits.max_depth {
            let max = self.limits.max_depth;
            let reason = format!("containers nested deeper than {max} levels");
            return self.refuse(location.to_string(), Reason::OverLimit(reason));
        }
        // As many parts as a zip may hold members: 800,000 broken parts in one e-mail each
        // made a rejection line of their own.
        if message.parts.len() > self.limits.max_members {
            let max = self.limits.max_members;
            let reason = format!("e-mail holds more than {max} parts");
            return self.refuse(location.to_string(), Reason::OverLimit(reason));
        }
        for (index, part) in message.parts.iter().enumerate() {
            let here = join(location, &part_name(part, index));
            match &part.body {
                PartType::Message(inner) => {
                    let Some(inner) = on_its_own(inner) else {
                        continue; // nothing mail-parser can read: no part to look at
                    };
                    if is_feedback_report(&inner) {
                        self.feedback(&inner, &here)
                    } else if is_delivery_status(&inner) {
                        continue; // a forwarded bounce: see `mail`
                    } else {
                        self.mail_parts(&inner, &here, depth + 1)
                    }
                }
                // A bounce's or report's machine-readable part (message/delivery-status ...)
                // describes the message; it holds no report to unpack.
                PartType::Binary(_) if has_type_of(part, "message") => {}
                PartType::Binary(data) | PartType::InlineBinary(data) => {
                    self.mail_leaf(data, charset_of(part), here, depth);
                }
                PartType::Text(_) | PartType::Html(_) => {
                    // The message's own text (a "here is your report" note, Microsoft's HTML
                    // body) is a report only if it holds one: it never makes an input rejected.
                    let id = index as u32;
                    let body = message.text_body.contains(&id) || message.html_body.contains(&id);
                    let data = transfer_decoded(message, part);
                    if !body || detect::holds_feedback_element(&data) {
                        self.mail_leaf(&data, charset_of(part), here, depth);
                    }
                }
                PartType::Multipart(_) => {}
            }
        }
    }

    /// A message part: kept when it holds something report-like, silently passed over when it
    /// is ordinary message text.
    fn mail_leaf(
        &mut self,
        data: &[u8],
        charset: Option<&'static Encoding>,
        location: String,
        depth: usize,
    ) {
        let format = sniff(data);
        let report_like = match format {
            Format::Gzip | Format::Zip | Format::Json => true,
            Format::Xml => detect::mentions_a_report(data),
            Format::Mail | Format::Mbox => looks_like_message(data),
            Format::Empty | Format::Unknown => false,
        };
        if report_like {
            let owned = Cow::Owned(data.to_vec());
            self.any_with_charset(owned, charset, location, depth + 1);
        }
    }
}

/// A forwarded (`message/rfc822`) message as a message of its own. For one attached as it
/// is (7bit, not re-encoded), mail-parser gives its parts offsets into the outer message,
/// not into the forwarded one's bytes, so they would be read at the wrong place (a
/// forwarded failure report read as naming no domain); parsed again from its own bytes,
/// its offsets are its own.
fn on_its_own<'x>(inner: &'x mail_parser::Message<'_>) -> Option<mail_parser::Message<'x>> {
    MessageParser::default().parse(inner.raw_message())
}

/// The domain the `TLS-Report-Domain` header of a message names (RFC 8460 section 5.3: one
/// per message), as stored (A-labels, lower case); none when the header is missing, is no
/// domain name (an address, a URL, junk), or the message names several domains.
fn tls_report_domain(message: &mail_parser::Message) -> Option<String> {
    let mut named = message
        .header_values("TLS-Report-Domain")
        .map(|value| value.as_text().and_then(domain_name));
    let first = named.next()??;
    named
        .all(|other| other.as_ref() == Some(&first))
        .then_some(first)
}

/// `text` as a domain name, if it is one: labels of letters, digits and hyphens (A-labels
/// for an internationalised name), at least two.
fn domain_name(text: &str) -> Option<String> {
    let name = canonical_domain(text).ok()?;
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (name.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::domain_name;

    #[test]
    fn a_tls_report_domain_header_is_taken_only_when_it_is_a_domain_name() {
        assert_eq!(
            domain_name(" Example.COM. ").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            domain_name("почта.рф").as_deref(),
            Some("xn--80a1acny.xn--p1ai")
        );
        for junk in [
            "<example.com>",
            "tls@example.com",
            "https://example.com/",
            "!!!",
            "com",
            "",
        ] {
            assert_eq!(domain_name(junk), None, "{junk}");
        }
    }
}
