//! What each value of a report means: where it goes in the report or record, checked and
//! normalised as it is read.

use super::bounds;
use super::elements::{Slot, Tag};
use super::values::{domain, non_empty, non_empty_lower};
use super::{Builder, MAX_AUTH_RESULTS};
use crate::model::{PolicyPublished, RecordSink};

impl<R: RecordSink> Builder<R> {
    pub(super) fn metadata_field(&mut self, field: Tag, value: &str) {
        let meta = &mut self.report;
        match field {
            Tag::OrgName => meta.org_name = value.to_string(),
            Tag::Email => meta.email = non_empty(value),
            Tag::ExtraContactInfo => meta.extra_contact_info = non_empty(value),
            Tag::ReportId => meta.report_id = value.to_string(),
            Tag::Error => meta.errors.extend(non_empty(value)),
            Tag::Generator => meta.generator = non_empty(value),
            _ => {}
        }
    }

    /// Notes a value that makes the report unusable; the first few are named.
    pub(super) fn bad_value(&mut self, what: String) {
        self.bad_values.push(what);
    }

    pub(super) fn policy_field(&mut self, field: Tag, value: &str) {
        if field == Tag::Pct {
            match bounds::parse_pct(value) {
                Ok(pct) => self.report.policy.pct = pct,
                Err(note) => self.report.notes.push(note),
            }
            return;
        }
        let policy: &mut PolicyPublished = &mut self.report.policy;
        let lowered = non_empty_lower(value);
        match field {
            Tag::Domain => {
                policy.domain = domain(value, "policy_published/domain", &mut self.refused_names)
                    .map_or_else(String::new, Into::into)
            }
            Tag::Adkim => policy.adkim = lowered,
            Tag::Aspf => policy.aspf = lowered,
            Tag::P => policy.p = lowered,
            Tag::Sp => policy.sp = lowered,
            Tag::Np => policy.np = lowered,
            Tag::Fo => policy.fo = lowered,
            Tag::Testing => policy.testing = lowered,
            Tag::DiscoveryMethod => policy.discovery_method = lowered,
            _ => {}
        }
    }

    /// A value below `<record>` (other than `<count>`).
    pub(super) fn record_field(&mut self, slot: Slot, value: &str) {
        use Slot::*;
        let Some(builder) = self.record.as_mut() else {
            return;
        };
        let record = &mut builder.record;
        // Lower-cased only where needed: this runs for every element of every record.
        let lowered = || non_empty_lower(value);
        let refused = &mut self.refused_names;
        let mut as_domain = |what| domain(value, what, refused);
        match slot {
            SourceIp => {
                record.source = crate::model::SourceIp::parse(value);
                if record.source.bytes.is_none() {
                    self.not_addresses
                        .note(not_an_address_note(&record.source.text));
                }
            }
            Disposition => record.disposition = lowered(),
            EvaluatedDkim => record.dkim = lowered(),
            EvaluatedSpf => record.spf = lowered(),
            ReasonType => self.reason.kind = lowered(),
            ReasonComment => self.reason.comment = non_empty(value),
            Reason => record.reasons.push(std::mem::take(&mut self.reason)),
            // `example.com.` is example.com, not a subdomain of it.
            Identifier(Tag::HeaderFrom) => record.header_from = as_domain("header_from"),
            Identifier(Tag::EnvelopeFrom) => record.envelope_from = as_domain("envelope_from"),
            Identifier(Tag::EnvelopeTo) => record.envelope_to = as_domain("envelope_to"),
            AuthDkimField(Tag::Domain) => self.dkim.domain = as_domain("dkim domain"),
            // A selector is a name in the DNS too: as written, but for U-labels.
            AuthDkimField(Tag::Selector) if !value.is_ascii() => {
                self.dkim.selector = as_domain("dkim selector")
            }
            AuthDkimField(Tag::Selector) => self.dkim.selector = non_empty(value),
            AuthDkimField(Tag::Result) => self.dkim.result = lowered(),
            AuthDkimField(Tag::HumanResult) => self.dkim.human_result = non_empty(value),
            AuthDkim if record.dkim_results.len() >= MAX_AUTH_RESULTS => {
                self.extra_auth_results += 1
            }
            AuthDkim => record.dkim_results.push(std::mem::take(&mut self.dkim)),
            AuthSpfField(Tag::Domain) => self.spf.domain = as_domain("spf domain"),
            AuthSpfField(Tag::Scope) => self.spf.scope = lowered(),
            AuthSpfField(Tag::Result) => self.spf.result = lowered(),
            AuthSpfField(Tag::HumanResult) => self.spf.human_result = non_empty(value),
            AuthSpf if record.spf_results.len() >= MAX_AUTH_RESULTS => self.extra_auth_results += 1,
            AuthSpf => record.spf_results.push(std::mem::take(&mut self.spf)),
            _ => {}
        }
    }

    pub(super) fn record_count(&mut self, value: &str) {
        match bounds::parse_count(value) {
            Ok(count) => {
                if let Some(builder) = self.record.as_mut() {
                    self.repeated_counts += u64::from(builder.has_count);
                    builder.record.count = count;
                    builder.has_count = true;
                }
            }
            Err(e) => self.bad_value(e),
        }
    }
}

/// RFC 9990 (the `row` element) has `<source_ip>` an IPv4 or IPv6 address (RFC 3986 section
/// 3.2.2). Anything else (a host name, `192.000.2.1`) is kept as written, so its messages
/// still count, but it can have no network, PTR name or country: said once per report.
fn not_an_address_note(source: &str) -> String {
    format!(
        "source_ip {source:?} is not an IP address: its records are kept as written, \
         with no network, name or country"
    )
}
