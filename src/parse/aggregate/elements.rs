//! The vocabulary of an aggregate report: the element names duckmarc reads (`Tag`, with the
//! misspellings real reporters use) and what an element means where it opens (`Slot`), so
//! the parser decides each element's meaning once, whatever the depth.

/// The element names we understand. Everything else is `Other` and hides its subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    Other,
}

impl Tag {
    /// The element name as written in reports, for messages.
    pub(super) fn name(self) -> String {
        let mut name = String::from("<");
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        }
        name.push('>');
        name
    }

    pub(super) fn from_name(name: &[u8]) -> Tag {
        match Tag::from_lower(name) {
            // Names are almost always lower case already: only a name not found is looked at
            // again, lower-cased (looking for capitals in every name first took 4% of parsing).
            Tag::Other if name.iter().any(u8::is_ascii_uppercase) => {
                Tag::from_lower(&name.to_ascii_lowercase())
            }
            tag => tag,
        }
    }

    fn from_lower(name: &[u8]) -> Tag {
        match name {
            b"feedback" => Tag::Feedback,
            b"version" => Tag::Version,
            b"report_metadata" => Tag::ReportMetadata,
            b"org_name" => Tag::OrgName,
            b"email" => Tag::Email,
            b"extra_contact_info" => Tag::ExtraContactInfo,
            b"report_id" => Tag::ReportId,
            // KDDI (au) names the period <data_range>: the known misspellings of structural
            // elements that real reporters use are read as what they mean (README: "What
            // `ingest` accepts").
            b"date_range" | b"data_range" => Tag::DateRange,
            b"begin" => Tag::Begin,
            b"end" => Tag::End,
            b"error" => Tag::Error,
            b"generator" => Tag::Generator,
            b"policy_published" => Tag::PolicyPublished,
            b"domain" => Tag::Domain,
            b"adkim" => Tag::Adkim,
            b"aspf" => Tag::Aspf,
            b"p" => Tag::P,
            b"sp" => Tag::Sp,
            b"np" => Tag::Np,
            b"pct" => Tag::Pct,
            b"fo" => Tag::Fo,
            b"testing" => Tag::Testing,
            b"discovery_method" => Tag::DiscoveryMethod,
            b"record" => Tag::Record,
            b"row" => Tag::Row,
            b"source_ip" => Tag::SourceIp,
            b"count" => Tag::Count,
            b"policy_evaluated" => Tag::PolicyEvaluated,
            b"disposition" => Tag::Disposition,
            b"dkim" => Tag::Dkim,
            b"spf" => Tag::Spf,
            b"reason" => Tag::Reason,
            b"type" => Tag::Type,
            b"comment" => Tag::Comment,
            b"identifiers" => Tag::Identifiers,
            b"header_from" => Tag::HeaderFrom,
            b"envelope_from" => Tag::EnvelopeFrom,
            b"envelope_to" => Tag::EnvelopeTo,
            b"auth_results" => Tag::AuthResults,
            b"selector" => Tag::Selector,
            b"result" => Tag::Result,
            b"human_result" => Tag::HumanResult,
            b"scope" => Tag::Scope,
            _ => Tag::Other,
        }
    }
}

/// What an open element means, decided when it opens from its parent's meaning and its own
/// name, so closing it is one match whatever the depth. A known name in an unexpected place,
/// an unknown name and everything below either are `Ignored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// Not inside `<feedback>` (yet): a stray wrapper or what follows a report.
    Outside,
    Feedback,
    Version,
    Metadata,
    /// `org_name`, `email`, `extra_contact_info`, `report_id`, `error`, `generator`.
    MetadataField(Tag),
    DateRange,
    Begin,
    End,
    Policy,
    /// `domain`, `adkim`, `aspf`, `p`, `sp`, `np`, `pct`, `fo`, `testing`, `discovery_method`.
    PolicyField(Tag),
    Record,
    Row,
    SourceIp,
    Count,
    Evaluated,
    Disposition,
    EvaluatedDkim,
    EvaluatedSpf,
    Reason,
    ReasonType,
    ReasonComment,
    Identifiers,
    /// `header_from`, `envelope_from`, `envelope_to`.
    Identifier(Tag),
    AuthResults,
    AuthDkim,
    /// `domain`, `selector`, `result`, `human_result` of a DKIM result.
    AuthDkimField(Tag),
    AuthSpf,
    /// `domain`, `scope`, `result`, `human_result` of an SPF result.
    AuthSpfField(Tag),
    Ignored,
}

impl Slot {
    /// The meaning of a `tag` element opened inside this one.
    pub(super) fn child(self, tag: Tag) -> Slot {
        use Slot::*;
        use Tag as T;
        match (self, tag) {
            (Outside, T::Feedback) => Feedback,
            (Outside, _) => Outside,
            (Feedback, T::Version) => Version,
            (Feedback, T::ReportMetadata) => Metadata,
            (Feedback, T::PolicyPublished) => Policy,
            (Feedback, T::Record) => Record,
            (Metadata, T::DateRange) => DateRange,
            (
                Metadata,
                T::OrgName | T::Email | T::ExtraContactInfo | T::ReportId | T::Error | T::Generator,
            ) => MetadataField(tag),
            (DateRange, T::Begin) => Begin,
            (DateRange, T::End) => End,
            (
                Policy,
                T::Domain
                | T::Adkim
                | T::Aspf
                | T::P
                | T::Sp
                | T::Np
                | T::Pct
                | T::Fo
                | T::Testing
                | T::DiscoveryMethod,
            ) => PolicyField(tag),
            (Record, T::Row) => Row,
            (Record, T::Identifiers) => Identifiers,
            (Record, T::AuthResults) => AuthResults,
            (Row, T::SourceIp) => SourceIp,
            (Row, T::Count) => Count,
            (Row, T::PolicyEvaluated) => Evaluated,
            (Evaluated, T::Disposition) => Disposition,
            (Evaluated, T::Dkim) => EvaluatedDkim,
            (Evaluated, T::Spf) => EvaluatedSpf,
            (Evaluated, T::Reason) => Reason,
            (Reason, T::Type) => ReasonType,
            (Reason, T::Comment) => ReasonComment,
            (Identifiers, T::HeaderFrom | T::EnvelopeFrom | T::EnvelopeTo) => Identifier(tag),
            (AuthResults, T::Dkim) => AuthDkim,
            (AuthResults, T::Spf) => AuthSpf,
            (AuthDkim, T::Domain | T::Selector | T::Result | T::HumanResult) => AuthDkimField(tag),
            (AuthSpf, T::Domain | T::Scope | T::Result | T::HumanResult) => AuthSpfField(tag),
            _ => Ignored,
        }
    }

    /// Text is kept only where a value may be read: inside `<feedback>`, below no unknown
    /// element.
    pub(super) fn keeps_text(self) -> bool {
        !matches!(self, Slot::Outside | Slot::Ignored)
    }
}
