//! Streaming, tolerant parser for DMARC aggregate reports.
//!
//! Elements are matched by local name (so the RFC 9990 namespace works as default or prefixed)
//! and by their path below `<feedback>`, in any order. Unknown elements and everything inside
//! them (`<extension>`, vendor elements) are ignored. Mismatched end tags close every element
//! up to the one they name, which recovers reports with unescaped `<` in a value and reports
//! wrapped in a stray, unclosed element. DTDs are never read and only the five predefined XML
//! entities and character references are resolved, so entity expansion bombs cannot grow.

mod elements;
mod fields;
mod finish;
mod values;

use super::bounds;
use super::encoding::decode_document;
use crate::model::{AggregateReport, DkimResult, OverrideReason, Record, RecordSink, SpfResult};
use elements::{Slot, Tag};
use encoding_rs::Encoding;
use quick_xml::errors::SyntaxError;
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;
use thiserror::Error;
use values::{non_empty, utf8, FirstFew, KeptAsWritten};

#[derive(Debug, Error, PartialEq)]
pub enum ParseError {
    #[error("not a DMARC aggregate report: {0}")]
    NotAggregate(String),
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("invalid report: {0}")]
    Invalid(String),
}

/// A report is 5 levels deep; anything past this is an attack on the parser's memory.
const MAX_NESTING: usize = 256;

/// DKIM or SPF results kept per record: real records carry a handful (one per signature).
const MAX_AUTH_RESULTS: usize = 100;

/// Parses one XML document holding a `<feedback>` element (the first, if it holds several).
pub fn parse_aggregate(bytes: &[u8]) -> Result<AggregateReport, ParseError> {
    parse_aggregates(bytes, None)
        .into_iter()
        .next()
        .expect("at least one outcome")
}

/// Parses every `<feedback>` element of one XML document: some generators concatenate a
/// day's reports into one file, and each must be stored or rejected on its own, never dropped.
/// `charset` is the MIME charset the document arrived with, if any (it beats the XML
/// declaration, RFC 7303). There is always at least one outcome. Each report's records go
/// into an `R` as they are read.
pub fn parse_aggregates<R: RecordSink>(
    bytes: &[u8],
    charset: Option<&'static Encoding>,
) -> Vec<Result<AggregateReport<R>, ParseError>> {
    let text = decode_document(bytes, charset);
    let mut reader = Reader::from_str(&text);
    // No trim_text: text is split around entity references, and trimming the pieces would
    // eat the spaces in "Smith &amp; Sons". Values are trimmed whole when an element closes.
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    config.expand_empty_elements = true;

    let mut outcomes = Vec::new();
    let mut builder = Builder::<R>::default();
    loop {
        // Matched as it is returned: mapping the error first copied every event into a new
        // `Result`, and that copy, reading what the reader had just written, stalled on the
        // store (a third of the parser's own time in `perf annotate`).
        let step = match reader.read_event() {
            Ok(Event::Start(start)) => builder.open(Tag::from_name(start.local_name().as_ref())),
            Ok(Event::End(end)) => {
                builder.close(Tag::from_name(end.local_name().as_ref()));
                Ok(())
            }
            Ok(Event::Text(t)) => {
                builder.text(&t);
                Ok(())
            }
            Ok(Event::CData(t)) => {
                builder.text(&t);
                Ok(())
            }
            Ok(Event::GeneralRef(r)) => {
                builder.text(resolve_reference(&r).as_bytes());
                Ok(())
            }
            Ok(Event::Eof) => break,
            Ok(_) => Ok(()),
            Err(e) => Err(read_error(e, reader.error_position())),
        };
        if let Err(error) = step {
            // Garbage after a complete report is not a reason to lose it.
            if builder.seen_feedback || outcomes.is_empty() {
                outcomes.push(Err(error));
            } else {
                log::debug!("ignoring XML error after </feedback>: {error}");
            }
            return outcomes;
        }
        if builder.finished() {
            outcomes.push(std::mem::take(&mut builder).into_report());
        }
    }
    if builder.seen_feedback || outcomes.is_empty() {
        outcomes.push(builder.into_report());
    }
    outcomes
}

fn read_error(error: quick_xml::Error, at: u64) -> ParseError {
    match error {
        // Every syntax error but this one is markup left open at the end of the input.
        quick_xml::Error::Syntax(ref kind) if *kind != SyntaxError::InvalidBangMarkup => {
            ParseError::Malformed(format!("document ends early (truncated?): {error}"))
        }
        _ => ParseError::Malformed(format!("{error} at byte {at}")),
    }
}

/// Only predefined entities and character references; anything else is kept literally.
fn resolve_reference(reference: &BytesRef) -> String {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return c.to_string();
    }
    let name = String::from_utf8_lossy(reference);
    match name.as_ref() {
        "amp" => "&".into(),
        "lt" => "<".into(),
        "gt" => ">".into(),
        "quot" => "\"".into(),
        "apos" => "'".into(),
        other => format!("&{other};"),
    }
}

/// One element the reader is inside.
struct OpenElement {
    tag: Tag,
    slot: Slot,
    /// Where its text starts in `Builder::text`; an element's value is all text inside it,
    /// so text before a stray unknown child element is not lost.
    text_start: usize,
    /// Only leaves hold values.
    has_children: bool,
}

/// Collects fields while the reader walks the tree.
#[derive(Default)]
struct Builder<R> {
    /// Open elements, outermost first.
    open: Vec<OpenElement>,
    seen_feedback: bool,
    closed_feedback: bool,
    /// Name of the first element, for the "not an aggregate report" message.
    root: Option<Tag>,
    /// The text of the open elements, as read (UTF-8: the document was decoded first).
    text: Vec<u8>,
    report: AggregateReport<R>,
    /// The first record's From domain: the policy domain of a report that leaves it empty.
    first_header_from: Option<String>,
    has_begin: bool,
    has_end: bool,
    record: Option<RecordBuilder>,
    /// The last record read, its lists kept for the next (two allocations less per record).
    recycled: Record,
    reason: OverrideReason,
    dkim: DkimResult,
    spf: SpfResult,
    bad_values: FirstFew,
    /// Names IDNA refused, stored lower-cased.
    refused_names: KeptAsWritten,
    /// Sources that are not IP addresses, stored as written.
    not_addresses: KeptAsWritten,
    /// `<policy_published>` elements seen.
    policies: usize,
    /// Records with neither a source nor a count, left out: they say nothing of any message.
    empty_records: u64,
    /// DKIM and SPF results past [`MAX_AUTH_RESULTS`] in a record, left out.
    extra_auth_results: u64,
    /// Records with more than one `<count>`, and whether `<begin>` or `<end>` came twice:
    /// the last is read, and said so.
    repeated_counts: u64,
    repeated_period: bool,
}

#[derive(Default)]
struct RecordBuilder {
    record: Record,
    has_count: bool,
}

impl<R: RecordSink> Builder<R> {
    fn finished(&self) -> bool {
        self.closed_feedback
    }

    fn open(&mut self, tag: Tag) -> Result<(), ParseError> {
        if self.open.len() >= MAX_NESTING {
            return Err(ParseError::Malformed(format!(
                "elements nested deeper than {MAX_NESTING} levels"
            )));
        }
        self.root.get_or_insert(tag);
        let parent = self.open.last_mut();
        let slot = parent.as_ref().map_or(Slot::Outside, |p| p.slot).child(tag);
        if let Some(parent) = parent {
            parent.has_children = true;
        }
        self.seen_feedback |= slot == Slot::Feedback;
        let slot = self.first_policy_only(slot);
        if slot == Slot::Record {
            self.record = Some(RecordBuilder::reusing(std::mem::take(&mut self.recycled)));
        }
        self.open.push(OpenElement {
            tag,
            slot,
            text_start: self.text.len(),
            has_children: false,
        });
        Ok(())
    }

    /// A report has one `<policy_published>` (RFC 9990 appendix A: maxOccurs 1, a report per
    /// policy domain); the fields of a second (another domain's, in the wild) would be mixed
    /// into the first's one by one: it is ignored, and noted.
    fn first_policy_only(&mut self, slot: Slot) -> Slot {
        if slot != Slot::Policy {
            return slot;
        }
        self.policies += 1;
        match self.policies {
            1 => slot,
            _ => Slot::Ignored,
        }
    }

    fn text(&mut self, text: &[u8]) {
        // Text outside <feedback> or inside unknown elements is never read: not kept either.
        if self.open.last().is_some_and(|e| e.slot.keeps_text()) {
            self.text.extend_from_slice(text);
        }
    }

    /// Closes `tag` and every element opened inside it that was left unclosed.
    fn close(&mut self, tag: Tag) {
        let Some(position) = self.open.iter().rposition(|e| e.tag == tag) else {
            return; // an end tag without a start: nothing to close
        };
        while self.open.len() > position {
            let element = self.open.pop().expect("open.len() > position");
            if element.slot.keeps_text() {
                // Moved out and back so the value can be borrowed without a copy.
                let text = std::mem::take(&mut self.text);
                let value = utf8(text[element.text_start..].trim_ascii());
                if !element.has_children && value.len() > bounds::MAX_VALUE_BYTES {
                    self.bad_value(format!(
                        "{} is longer than {} bytes",
                        element.tag.name(),
                        bounds::MAX_VALUE_BYTES
                    ));
                } else {
                    self.finish_element(element.slot, &value);
                }
                self.text = text;
            }
            self.text.truncate(element.text_start);
            if element.slot == Slot::Feedback {
                self.closed_feedback = true;
            }
        }
    }

    fn finish_element(&mut self, slot: Slot, value: &str) {
        match slot {
            Slot::Version => self.report.schema_version = non_empty(value),
            Slot::MetadataField(field) => self.metadata_field(field, value),
            Slot::Begin => {
                self.repeated_period |= self.has_begin;
                self.has_begin = true;
                match bounds::parse_timestamp(value) {
                    Ok(begin) => self.report.begin = begin,
                    Err(e) => self.bad_value(format!("begin {e}")),
                }
            }
            Slot::End => {
                self.repeated_period |= self.has_end;
                self.has_end = true;
                match bounds::parse_timestamp(value) {
                    Ok(end) => self.report.end = end,
                    Err(e) => self.bad_value(format!("end {e}")),
                }
            }
            Slot::PolicyField(field) => self.policy_field(field, value),
            Slot::Record => {
                if let Some(record) = self.record.take() {
                    // RFC 9990 appendix A: a row has its source_ip and count (minOccurs 1).
                    // One with neither counted as a failing message from nowhere: an
                    // e-mail of empty <record/>s made millions of them.
                    if record.record.source.text.is_empty() && !record.has_count {
                        self.empty_records += 1;
                        self.recycled = record.record;
                        return;
                    }
                    if self.first_header_from.is_none() {
                        self.first_header_from =
                            record.record.header_from.as_deref().map(Into::into);
                    }
                    let record = record.record_or_default_count();
                    self.report.records.push(&record);
                    self.recycled = record;
                }
            }
            Slot::Count => self.record_count(value),
            _ => self.record_field(slot, value),
        }
    }
}

impl RecordBuilder {
    /// A builder for a new record, in the lists of `old` (emptied).
    fn reusing(old: Record) -> Self {
        let Record {
            mut reasons,
            mut dkim_results,
            mut spf_results,
            ..
        } = old;
        reasons.clear();
        dkim_results.clear();
        spf_results.clear();
        RecordBuilder {
            record: Record {
                reasons,
                dkim_results,
                spf_results,
                ..Record::default()
            },
            has_count: false,
        }
    }

    /// RFC 7489 requires `<count>`; a record without one still stands for at least one message.
    fn record_or_default_count(self) -> Record {
        let mut record = self.record;
        if !self.has_count {
            record.count = 1;
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second `<policy_published>` (another domain's) is not mixed into the first.
    #[test]
    fn only_the_first_policy_published_is_read() {
        let xml = br#"<feedback><report_metadata><org_name>o</org_name><report_id>r</report_id>
            <date_range><begin>1700000000</begin><end>1700086400</end></date_range>
            </report_metadata>
            <policy_published><domain>example.com</domain><p>reject</p><sp>none</sp></policy_published>
            <policy_published><domain>news.example.com</domain><p>none</p></policy_published>
            <record><row><source_ip>192.0.2.1</source_ip><count>1</count></row>
            <identifiers><header_from>example.com</header_from></identifiers></record>
            </feedback>"#;
        let report = parse_aggregate(xml).expect("a valid report");
        let policy = &report.policy;
        assert_eq!(
            (
                policy.domain.as_str(),
                policy.p.as_deref(),
                policy.sp.as_deref()
            ),
            ("example.com", Some("reject"), Some("none"))
        );
        assert_eq!(
            report.notes,
            [
                "2 <policy_published> elements: the first is read, the others ignored (a report \
              has one)"
            ]
        );
    }

    /// Thousands of made-up names make a few notes, not thousands (each was searched for in
    /// all the notes before it: a report of 40,000 took 23 s to read).
    #[test]
    fn names_idna_refuses_are_named_a_few_times_then_counted() {
        let records: String = (0..40)
            .map(|i| {
                format!(
                    "<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row>\
                     <identifiers><header_from>bad{i} name.рф</header_from></identifiers></record>"
                )
            })
            .collect();
        let xml = format!(
            "<feedback><report_metadata><org_name>o</org_name><report_id>r</report_id>\
             <date_range><begin>1700000000</begin><end>1700086400</end></date_range>\
             </report_metadata><policy_published><domain>xn--p1ai.example</domain>\
             </policy_published>{records}</feedback>"
        );
        let report = parse_aggregate(xml.as_bytes()).expect("a valid report");
        assert_eq!(report.records.len(), 40);
        assert_eq!(
            report.notes.len(),
            bounds::MAX_NAMED_BAD_VALUES + 1,
            "{:?}",
            report.notes
        );
        assert_eq!(
            report.notes.last().map(String::as_str),
            Some("and 35 more names that are not valid internationalised domain names")
        );
    }

    /// A known name counts only where the schema puts it: a `<domain>` in the metadata is not
    /// the policy domain, an `<org_name>` in the policy is not the reporter, and a record's
    /// `<source_ip>` outside `<row>` (or below an unknown element) is not its source.
    #[test]
    fn known_names_in_unexpected_places_are_ignored() {
        let xml = br#"<feedback>
            <report_metadata><org_name>Real Org</org_name><domain>wrong.example</domain>
              <report_id>r1</report_id>
              <date_range><begin>1700000000</begin><end>1700086400</end></date_range>
            </report_metadata>
            <policy_published><domain>example.com</domain><org_name>Wrong Org</org_name>
              <p>none</p></policy_published>
            <record><source_ip>198.51.100.9</source_ip>
              <row><vendor><source_ip>203.0.113.7</source_ip></vendor>
                <source_ip>192.0.2.1</source_ip><count>3</count></row>
              <identifiers><header_from>example.com</header_from></identifiers>
            </record>
        </feedback>"#;
        let report = parse_aggregate(xml).expect("a valid report");
        assert_eq!(report.org_name, "Real Org");
        assert_eq!(report.policy.domain, "example.com");
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.records[0].source.text.as_str(), "192.0.2.1");
        assert_eq!(report.records[0].count, 3);
    }
}
