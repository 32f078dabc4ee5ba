//! A DMARC aggregate report (RFC 7489, the pre-RFC draft, RFC 9990) as parsed.
//!
//! Result-like values (`pass`, `fail`, `quarantine`...) are kept as lower-cased strings rather
//! than closed enums: receivers send non-standard values (`hardfail`, `unknown`, `error`,
//! disposition `pass`) and we store them as they are instead of dropping them.

use compact_str::{CompactString, ToCompactString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A value inside a record (a domain, a result, an address). Most fit in 24 bytes and are
/// then stored inline, without an allocation: a report of thousands of records holds a
/// dozen of them per record, and allocating and freeing them was a large part of ingest.
pub type Text = CompactString;

/// `value` lower-cased, as a [`Text`].
pub fn lower_text(value: &str) -> Text {
    let mut text = Text::from(value);
    text.make_ascii_lowercase();
    text
}

/// One DMARC aggregate report (`<feedback>`), RFC 7489, the pre-RFC draft or RFC 9990, with
/// its records in `R`: as [`Record`]s by default, or already taken apart into the rows they
/// are stored as (see [`RecordSink`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateReport<R = Vec<Record>> {
    /// `<version>`: "1.0" for RFC 9990 reports, absent for most RFC 7489 ones.
    pub schema_version: Option<String>,
    pub org_name: String,
    pub email: Option<String>,
    pub extra_contact_info: Option<String>,
    pub report_id: String,
    /// Seconds since the Unix epoch, UTC.
    pub begin: i64,
    pub end: i64,
    pub errors: Vec<String>,
    pub generator: Option<String>,
    pub policy: PolicyPublished,
    pub records: R,
    /// What duckmarc changed while reading the report (a value out of range stored as NULL).
    pub notes: Vec<String>,
}

impl<R: RecordSink> AggregateReport<R> {
    /// The identity used for de-duplication: the same report sent as XML, gzip, zip or e-mail
    /// yields the same key. `report_id` alone is not unique across reporters.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.org_name, self.report_id, self.policy.domain, self.begin, self.end
        )
    }

    pub fn message_count(&self) -> u64 {
        self.records.messages()
    }
}

/// Where a parser puts a report's records as it reads them. A `Vec<Record>` keeps them as
/// they are; the store takes each apart into rows at once, so a report of a million records
/// is not held twice (as records and as rows) while it is read.
pub trait RecordSink: Default {
    /// One record, read in full (lent: the parser reuses its lists for the next record).
    fn push(&mut self, record: &Record);
    /// How many records it holds.
    fn len(&self) -> usize;
    /// The messages of its records (the sum of their counts).
    fn messages(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecordSink for Vec<Record> {
    fn push(&mut self, record: &Record) {
        Vec::push(self, record.clone());
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn messages(&self) -> u64 {
        self.iter().map(|r| r.count).sum()
    }
}

/// `<policy_published>`: the DMARC record the receiver found for the domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyPublished {
    pub domain: String,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    /// RFC 9990: policy for non-existent subdomains.
    pub np: Option<String>,
    /// 0-100 (checked where parsed).
    pub pct: Option<u8>,
    pub fo: Option<String>,
    /// RFC 9990 `t=` tag (`y`/`n`).
    pub testing: Option<String>,
    /// RFC 9990: `psl` or `treewalk`.
    pub discovery_method: Option<String>,
}

/// One `<record>`: a group of messages from one source with identical results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub source: SourceIp,
    pub count: u64,
    pub disposition: Option<Text>,
    /// `policy_evaluated/dkim`: the receiver's DMARC verdict for DKIM (aligned pass or not).
    pub dkim: Option<Text>,
    /// `policy_evaluated/spf`: the receiver's DMARC verdict for SPF (aligned pass or not).
    pub spf: Option<Text>,
    pub reasons: Vec<OverrideReason>,
    pub header_from: Option<Text>,
    pub envelope_from: Option<Text>,
    pub envelope_to: Option<Text>,
    pub dkim_results: Vec<DkimResult>,
    pub spf_results: Vec<SpfResult>,
}

impl Record {
    /// DMARC passes when either evaluated mechanism passes (RFC 7489 section 6.6.2).
    pub fn dmarc_pass(&self) -> bool {
        self.dkim.as_deref() == Some("pass") || self.spf.as_deref() == Some("pass")
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverrideReason {
    pub kind: Option<Text>,
    pub comment: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DkimResult {
    pub domain: Option<Text>,
    pub selector: Option<Text>,
    pub result: Option<Text>,
    pub human_result: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpfResult {
    pub domain: Option<Text>,
    pub scope: Option<Text>,
    pub result: Option<Text>,
    pub human_result: Option<Text>,
}

/// A sending address in canonical form, so `2001:DB8:0:0::1`, `2001:db8::1` and
/// `::ffff:192.0.2.1`/`192.0.2.1` each name one sender.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SourceIp {
    /// Canonical text (RFC 5952 for IPv6), or the trimmed original when it is not an address.
    pub text: Text,
    /// 16 bytes, IPv4 as IPv4-mapped IPv6, so ranges compare bytewise; `None` if unparsable.
    pub bytes: Option<[u8; 16]>,
}

impl SourceIp {
    pub fn parse(raw: &str) -> SourceIp {
        let raw = raw.trim();
        let trimmed = raw.trim_start_matches('[').trim_end_matches(']');
        // Most sources are dotted IPv4, whose canonical text is what was written (the parser
        // takes no leading zeros, no other forms): kept, not formatted again.
        if let Ok(v4) = trimmed.parse::<Ipv4Addr>() {
            return SourceIp {
                text: Text::from(trimmed),
                bytes: Some(ip_to_bytes(IpAddr::V4(v4))),
            };
        }
        // A few generators write the connection's port too (`192.0.2.1:25`,
        // `[2001:db8::1]:25`): the address is still the sender's.
        let address = trimmed
            .parse::<IpAddr>()
            .or_else(|_| raw.parse::<SocketAddr>().map(|socket| socket.ip()));
        match address {
            Ok(ip) => {
                let ip = canonical_ip(ip);
                SourceIp {
                    text: ip.to_compact_string(),
                    bytes: Some(ip_to_bytes(ip)),
                }
            }
            Err(_) => SourceIp {
                text: lower_text(trimmed),
                bytes: None,
            },
        }
    }
}

/// IPv4-mapped IPv6 addresses are reported by some receivers; they are the IPv4 sender.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub fn ip_to_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_keeps_its_text_and_odd_forms_are_not_addresses() {
        let ip = SourceIp::parse(" 192.0.2.1 ");
        assert_eq!((ip.text.as_str(), ip.bytes.is_some()), ("192.0.2.1", true));
        assert_eq!(SourceIp::parse("::FFFF:192.0.2.1"), ip);
        // Leading zeros (octal to some parsers) and short forms are not taken as addresses.
        for odd in ["192.000.2.1", "192.2.1", "0xc0.0.2.1"] {
            let odd = SourceIp::parse(odd);
            assert_eq!(odd.bytes, None, "{odd:?}");
        }
    }

    #[test]
    fn ipv6_written_two_ways_is_one_source() {
        assert_eq!(
            SourceIp::parse("2001:DB8:0:0:0:0:0:1"),
            SourceIp::parse(" 2001:db8::1 ")
        );
        assert_eq!(SourceIp::parse("2001:db8::1").text, "2001:db8::1");
    }

    #[test]
    fn ipv4_mapped_is_the_ipv4_sender() {
        let mapped = SourceIp::parse("::ffff:192.0.2.7");
        assert_eq!(mapped.text, "192.0.2.7");
        assert_eq!(mapped, SourceIp::parse("192.0.2.7"));
    }

    #[test]
    fn an_address_with_its_port_is_the_address() {
        assert_eq!(
            SourceIp::parse("192.0.2.1:25"),
            SourceIp::parse("192.0.2.1")
        );
        assert_eq!(
            SourceIp::parse("[2001:db8::1]:25"),
            SourceIp::parse("2001:db8::1")
        );
    }

    #[test]
    fn garbage_is_kept_trimmed() {
        let ip = SourceIp::parse("  Not-An-IP ");
        assert_eq!(ip.text, "not-an-ip");
        assert!(ip.bytes.is_none());
    }
}
