//! What duckmarc reads of an e-mail beyond its attachments: the facts of a message without a
//! report (for `parse` to decide what it is), and the MIME helpers the unpacker uses.

use encoding_rs::Encoding;
use mail_parser::{MessagePart, MimeHeaders};
use std::borrow::Cow;

/// What an e-mail without an XML or JSON document says about itself. Parts are passed on
/// as sent; what they mean is for `parse` to decide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailFacts {
    /// `type/subtype[;report-type=...]` of every part, lower-cased.
    pub content_types: Vec<String>,
    /// Lower-cased.
    pub subject: String,
    /// The first From address.
    pub from: String,
    /// The Date header, epoch seconds.
    pub date: Option<i64>,
    /// The `message/feedback-report` part (ARF), transfer-decoded.
    pub feedback: Option<Vec<u8>>,
    /// The original message (`message/rfc822`) or its headers (`text/rfc822-headers`) that a
    /// feedback report is about, transfer-decoded.
    pub original: Option<Vec<u8>>,
    /// The first plain-text part, at most [`MAX_MAIL_TEXT`] bytes: some reporters (Exim)
    /// write the whole failure report as prose.
    pub text: String,
}

/// Longest plain text kept of a report-less e-mail.
pub const MAX_MAIL_TEXT: usize = 64 * 1024;

/// A text part's bytes as sent, with only the transfer encoding (base64, quoted-printable)
/// undone. mail-parser has already turned the text into UTF-8 by its MIME charset; decoding
/// that again by the XML declaration was what garbled windows-1251 reports, so the document
/// decoder gets the original bytes and decodes them exactly once.
pub(super) fn transfer_decoded<'m>(
    message: &'m mail_parser::Message,
    part: &MessagePart,
) -> Cow<'m, [u8]> {
    let raw = message.raw_message();
    let (start, end) = (
        part.raw_body_offset() as usize,
        part.raw_end_offset() as usize,
    );
    let body = raw.get(start..end.min(raw.len())).unwrap_or_default();
    let encoding = part
        .content_transfer_encoding()
        .unwrap_or("")
        .to_ascii_lowercase();
    let decoded = match encoding.trim() {
        "base64" => mail_parser::decoders::base64::base64_decode(body),
        "quoted-printable" => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        _ => None,
    };
    decoded.map_or(Cow::Borrowed(body), Cow::Owned)
}

/// The MIME `charset` of a part, when it names an encoding we know.
pub(super) fn charset_of(part: &MessagePart) -> Option<&'static Encoding> {
    let label = part.content_type()?.attribute("charset")?;
    Encoding::for_label(label.trim().as_bytes())
}

pub(super) fn looks_like_message(data: &[u8]) -> bool {
    let head = &data[..data.len().min(64 * 1024)];
    memchr::memmem::find(head, b"\n\n").is_some()
        || memchr::memmem::find(head, b"\r\n\r\n").is_some()
}

pub(super) fn part_name(part: &MessagePart, index: usize) -> String {
    match part.attachment_name() {
        Some(name) => name.to_string(),
        None => format!("part {index}"),
    }
}

/// An RFC 6522 report of type feedback-report: a failure (or abuse) report in ARF.
pub(super) fn is_feedback_report(message: &mail_parser::Message) -> bool {
    message
        .parts
        .iter()
        .any(|part| has_type(part, "message", "feedback-report"))
}

/// A delivery status notification (RFC 3464; RFC 6533's for international mail): the message
/// or headers it returns are mail that could not be delivered, coming back. A report in
/// there is one this domain's own systems sent to someone else (a dead `rua=` address),
/// not one sent to it.
pub(super) fn is_delivery_status(message: &mail_parser::Message) -> bool {
    message.parts.iter().any(|part| {
        has_type(part, "message", "delivery-status")
            || has_type(part, "message", "global-delivery-status")
    })
}

pub(super) fn has_type_of(part: &MessagePart, ctype: &str) -> bool {
    part.content_type()
        .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case(ctype))
}

fn has_type(part: &MessagePart, ctype: &str, subtype: &str) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
    })
}

/// What a message says about itself, for `parse`.
pub(super) fn mail_facts(message: &mail_parser::Message) -> MailFacts {
    let content_types = message
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|ct| {
            let mut t = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
            if let Some(report_type) = ct.attribute("report-type") {
                t.push_str(";report-type=");
                t.push_str(report_type);
            }
            t.to_ascii_lowercase()
        })
        .collect();
    let mut text = message.body_text(0).unwrap_or_default().into_owned();
    if text.len() > MAX_MAIL_TEXT {
        let mut end = MAX_MAIL_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    MailFacts {
        content_types,
        subject: message.subject().unwrap_or("").to_ascii_lowercase(),
        from: message
            .from()
            .and_then(|from| from.first())
            .and_then(|address| address.address())
            .unwrap_or("")
            .to_ascii_lowercase(),
        date: message.date().map(|date| date.to_timestamp()),
        feedback: feedback_parts(message).into_iter().next(),
        original: original_parts(message).into_iter().next(),
        text,
    }
}

/// The facts of a feedback-report message, one per `message/feedback-report` part, each with
/// the original message in the same place among the originals (if there is one). RFC 5965
/// section 2 allows one report per message; a message with several is read whole rather
/// than losing all but the first.
pub(super) fn feedback_facts(message: &mail_parser::Message) -> Vec<MailFacts> {
    let facts = mail_facts(message);
    let feedback = feedback_parts(message);
    if feedback.len() < 2 {
        return vec![facts];
    }
    let mut originals = original_parts(message).into_iter();
    feedback
        .into_iter()
        .map(|part| MailFacts {
            feedback: Some(part),
            original: originals.next(),
            ..facts.clone()
        })
        .collect()
}

fn feedback_parts(message: &mail_parser::Message) -> Vec<Vec<u8>> {
    parts_of(message, "message", &["feedback-report"])
}

/// The original messages (`message/rfc822`), else their headers.
fn original_parts(message: &mail_parser::Message) -> Vec<Vec<u8>> {
    [
        ("message", &["rfc822", "global"][..]),
        ("text", &["rfc822-headers"][..]),
        ("message", &["rfc822-headers", "global-headers"][..]),
    ]
    .into_iter()
    .map(|(ctype, subtypes)| parts_of(message, ctype, subtypes))
    .find(|parts| !parts.is_empty())
    .unwrap_or_default()
}

/// Every part of the type, transfer-decoded.
fn parts_of(message: &mail_parser::Message, ctype: &str, subtypes: &[&str]) -> Vec<Vec<u8>> {
    message
        .parts
        .iter()
        .filter(|part| subtypes.iter().any(|sub| has_type(part, ctype, sub)))
        .map(|part| transfer_decoded(message, part).into_owned())
        .collect()
}
