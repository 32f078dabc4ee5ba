//! What the reports can be narrowed to (the command-line filters), and who is authorised to
//! send for which domain, as plain data the SQL views read.

use crate::model::{canonical_ip, ip_to_bytes};
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use std::net::IpAddr;

/// What every report can be narrowed to; `None` is no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// A policy domain and its subdomains.
    pub domain: Option<String>,
    /// Reports overlapping this UTC day or later.
    pub since: Option<NaiveDate>,
    /// Reports overlapping this UTC day or earlier.
    pub until: Option<NaiveDate>,
    /// A reporting organisation (org_name, case-insensitive).
    pub reporter: Option<String>,
    pub ip: Option<IpRange>,
    /// A sender name (`unknown` for unnamed sources), case-insensitive.
    pub sender: Option<String>,
    /// An ISO 3166 country code.
    pub country: Option<String>,
    pub asn: Option<u32>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Who is allowed to send for which domain (the config's `[[authorised]]`); not a filter,
    /// but it decides each record's class.
    pub authorised: Vec<AuthorisedRule>,
    /// The listed sender names in none of the sender maps (likely misspelt: no source can
    /// be named so), lower-cased; not a filter.
    pub unmapped_senders: Vec<String>,
    /// The UTC days of reports a domain needs before `report readiness` calls it `ready`
    /// ([`DEFAULT_MIN_DAYS`] if `None`); not a filter either.
    pub min_days: Option<u32>,
}

/// A month: fewer days cannot show the senders that mail monthly (invoices, payroll), whose
/// mail p=reject would then reject unseen.
pub const DEFAULT_MIN_DAYS: u32 = 30;

impl Filters {
    /// The filters that narrow what is read, as one text (`domain=example.com asn=15169`;
    /// empty without any): `alerts` keeps its state per scope.
    pub fn scope(&self) -> String {
        let parts = [
            ("domain", self.domain.as_ref().map(|d| d.to_lowercase())),
            ("since", self.since.map(|d| d.to_string())),
            ("until", self.until.map(|d| d.to_string())),
            ("reporter", self.reporter.as_ref().map(|r| r.to_lowercase())),
            ("ip", self.ip.as_ref().map(|r| r.text.clone())),
            ("sender", self.sender.as_ref().map(|s| s.to_lowercase())),
            ("country", self.country.as_ref().map(|c| c.to_lowercase())),
            ("asn", self.asn.map(|a| a.to_string())),
        ];
        parts
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One authorised sender: by name, PTR base domain, DKIM signing domain or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorisedRule {
    /// `None`: every domain; else the domain and its subdomains.
    pub domain: Option<String>,
    pub kind: AuthorisedBy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorisedBy {
    Sender(String),
    BaseDomain(String),
    Dkim(String),
    Network(IpRange),
}

impl Filters {
    /// A human description, e.g. "domain example.com, since 2025-11-01".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(domain) = &self.domain {
            parts.push(format!("domain {domain}"));
        }
        if let Some(reporter) = &self.reporter {
            parts.push(format!("reporter {reporter}"));
        }
        if let Some(since) = self.since {
            parts.push(format!("since {since}"));
        }
        if let Some(until) = self.until {
            parts.push(format!("until {until}"));
        }
        if let Some(ip) = &self.ip {
            parts.push(format!("source {}", ip.text));
        }
        if let Some(sender) = &self.sender {
            parts.push(format!("sender {sender}"));
        }
        if let Some(country) = &self.country {
            parts.push(format!("country {country}"));
        }
        if let Some(asn) = self.asn {
            parts.push(format!("AS{asn}"));
        }
        if parts.is_empty() {
            "all reports".into()
        } else {
            parts.join(", ")
        }
    }
}

/// An inclusive range of 16-byte addresses (IPv4 as IPv4-mapped), as stored in
/// `records.source_ip_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRange {
    pub low: [u8; 16],
    pub high: [u8; 16],
    /// As the user wrote it.
    pub text: String,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let written: IpAddr = address
            .trim()
            .parse()
            .with_context(|| format!("{address:?} is not an IP address"))?;
        let ip = canonical_ip(written);
        // The prefix counts bits of the address as written: ::ffff:192.0.2.0/120 is the
        // IPv4 block 192.0.2.0/24.
        let written_width = if written.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix {
            Some(p) => p
                .trim()
                .parse()
                .with_context(|| format!("bad prefix length {p:?}"))?,
            None => written_width,
        };
        if prefix > written_width {
            bail!("prefix length /{prefix} is longer than the {written_width} bits of {written}");
        }
        let mapped_bits = written_width - if ip.is_ipv4() { 32 } else { 128 };
        if prefix < mapped_bits {
            bail!("{text} reaches beyond the IPv4-mapped range ::ffff:0:0/96");
        }
        let prefix = prefix - mapped_bits;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let bits = u128::from_be_bytes(ip_to_bytes(ip));
        let host_bits = width - prefix;
        let mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        Ok(IpRange {
            low: (bits & !mask).to_be_bytes(),
            high: (bits | mask).to_be_bytes(),
            text: text.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_cidr_covers_its_block_only() {
        let range = IpRange::parse("192.0.2.0/24").unwrap();
        let inside = ip_to_bytes("192.0.2.255".parse().unwrap());
        let outside = ip_to_bytes("192.0.3.0".parse().unwrap());
        assert!(range.low <= inside && inside <= range.high);
        assert!(outside > range.high);
    }

    #[test]
    fn single_addresses_and_ipv6() {
        let one = IpRange::parse("2001:DB8::1").unwrap();
        assert_eq!(one.low, one.high);
        let block = IpRange::parse("2001:db8::/32").unwrap();
        assert!(block.low <= one.low && one.high <= block.high);
        assert!(IpRange::parse("192.0.2.1/33").is_err());
        let mapped = IpRange::parse("::ffff:192.0.2.0/120").unwrap();
        assert_eq!(
            (mapped.low, mapped.high),
            (
                IpRange::parse("192.0.2.0/24").unwrap().low,
                IpRange::parse("192.0.2.0/24").unwrap().high
            )
        );
        assert!(IpRange::parse("::ffff:192.0.2.0/90").is_err());
        assert!(IpRange::parse("example.com").is_err());
    }
}
