//! How a value read from a report becomes what is stored: its text checked as UTF-8,
//! empty as absent, results lower-cased, domains as A-labels.

use super::super::bounds;
use super::super::domain::{canonical_domain, invalid_domain_note};
use crate::model::Text;

/// The text of an element. It is always UTF-8 (the document was decoded before parsing, and
/// it is cut only where events begin and at ASCII spaces), so the check is the fast one of
/// `from_utf8`; `from_utf8_lossy`'s own check, a character at a time, took 3% of parsing.
pub(super) fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// A domain as stored (`parse/domain.rs`): `example.com.` is example.com, not a subdomain
/// of it, and `bücher.example` is `xn--bcher-kva.example`. A name IDNA cannot convert is
/// kept lower-cased, and noted.
pub(super) fn domain(value: &str, what: &str, refused: &mut KeptAsWritten) -> Option<Text> {
    // Nearly every value is ASCII: lower-cased in place, as every other value.
    if value.is_ascii() {
        return non_empty_lower(value.trim_end_matches('.'));
    }
    let stored = canonical_domain(value).unwrap_or_else(|kept| {
        refused.note(invalid_domain_note(what, &kept));
        kept
    });
    non_empty(&stored)
}

/// What a report got wrong, the first few named and the rest counted: a report of thousands
/// of bad values must not make thousands of messages.
#[derive(Default)]
pub(super) struct FirstFew {
    pub(super) named: Vec<String>,
    pub(super) more: usize,
}

impl FirstFew {
    pub(super) fn push(&mut self, what: String) {
        if self.named.len() < bounds::MAX_NAMED_BAD_VALUES {
            self.named.push(what);
        } else {
            self.more += 1;
        }
    }
}

/// Values a report got wrong but that were kept as written (names IDNA refuses, sources that
/// are not addresses), each named once: a few named, the rest counted.
#[derive(Default)]
pub(super) struct KeptAsWritten(FirstFew);

impl KeptAsWritten {
    pub(super) fn note(&mut self, note: String) {
        if !self.0.named.contains(&note) {
            self.0.push(note);
        }
    }

    /// The notes, then how many more `what` there were.
    pub(super) fn into_notes(self, notes: &mut Vec<String>, what: &str) {
        let FirstFew { named, more } = self.0;
        notes.extend(named);
        if more > 0 {
            notes.push(format!("and {more} more {what}"));
        }
    }
}

pub(super) fn non_empty<T: for<'a> From<&'a str>>(value: &str) -> Option<T> {
    (!value.is_empty()).then(|| T::from(value))
}

pub(super) fn non_empty_lower<T: for<'a> From<&'a str> + std::ops::DerefMut<Target = str>>(
    value: &str,
) -> Option<T> {
    let mut text: T = non_empty(value)?;
    text.make_ascii_lowercase();
    Some(text)
}
