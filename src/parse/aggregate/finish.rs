//! The checks a whole report must pass once its document has been read.

use super::bounds;
use super::values::FirstFew;
use super::{Builder, ParseError, MAX_AUTH_RESULTS};
use crate::model::{AggregateReport, RecordSink};

impl<R: RecordSink> Builder<R> {
    pub(super) fn into_report(mut self) -> Result<AggregateReport<R>, ParseError> {
        if !self.seen_feedback {
            let root = self
                .root
                .map_or("nothing".to_string(), |r| format!("{r:?}"));
            return Err(ParseError::NotAggregate(format!(
                "no <feedback> element (document starts with {root})"
            )));
        }
        // A truncated report would silently under-count; better to reject it whole.
        if !self.closed_feedback {
            return Err(ParseError::Malformed(
                "document ends before </feedback> (truncated?)".into(),
            ));
        }
        if !self.bad_values.named.is_empty() {
            let FirstFew { named, more } = &self.bad_values;
            let more = if *more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(ParseError::Invalid(format!(
                "unreadable value(s): {}{more}",
                named.join(", ")
            )));
        }
        if !self.has_begin || !self.has_end {
            return Err(ParseError::Invalid("missing date_range begin/end".into()));
        }
        bounds::check_period(self.report.begin, self.report.end).map_err(ParseError::Invalid)?;
        if self.report.report_id.is_empty() && self.report.records.is_empty() {
            return Err(ParseError::Invalid("no report_id and no records".into()));
        }
        if self.report.policy.domain.is_empty() {
            self.take_policy_domain_from_records()?;
        }
        let notes = &mut self.report.notes;
        self.refused_names.into_notes(
            notes,
            "names that are not valid internationalised domain names",
        );
        self.not_addresses
            .into_notes(notes, "sources that are not IP addresses");
        if self.policies > 1 {
            self.report.notes.push(format!(
                "{} <policy_published> elements: the first is read, the others ignored (a \
                 report has one)",
                self.policies
            ));
        }
        if self.empty_records > 0 {
            self.report.notes.push(format!(
                "{} records with neither a source_ip nor a count, left out: they count no message",
                self.empty_records
            ));
        }
        if self.repeated_counts > 0 {
            self.report.notes.push(format!(
                "{} records with more than one <count>: the last of each is read",
                self.repeated_counts
            ));
        }
        if self.repeated_period {
            self.report.notes.push(
                "<date_range> written more than once: the last <begin> and <end> are read".into(),
            );
        }
        if self.extra_auth_results > 0 {
            self.report.notes.push(format!(
                "{} DKIM or SPF results past the first {MAX_AUTH_RESULTS} of a record, left out",
                self.extra_auth_results
            ));
        }
        let report = &mut self.report;
        bounds::keep_first_items(&mut report.errors, |more| {
            format!("and {more} more <error> elements, not kept")
        });
        bounds::keep_first_items(&mut report.notes, |more| format!("and {more} more notes"));
        Ok(self.report)
    }

    /// A report whose `<policy_published><domain>` is empty would be a blank policy domain:
    /// the organisational domain of its From domain stands in for it (where receivers find
    /// the policy for most mail, RFC 9989 section 4.10), with a note saying so.
    fn take_policy_domain_from_records(&mut self) -> Result<(), ParseError> {
        let Some(from) = self.first_header_from.as_deref() else {
            return Err(ParseError::Invalid(
                "policy_published/domain is empty and no record names a From domain".into(),
            ));
        };
        let domain = crate::transform::alignment::organizational_domain(from).to_string();
        self.report.notes.push(format!(
            "policy_published/domain was empty: {domain} taken from the records' header_from"
        ));
        self.report.policy.domain = domain;
        Ok(())
    }
}
