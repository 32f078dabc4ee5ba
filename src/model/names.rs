//! Who a source address is, as duckmarc works it out after ingest (see `enrich`).

/// One source address, named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceName {
    /// Canonical text, as `records.source_ip`.
    pub source_ip: String,
    /// The PTR name, lower-cased, and whether it resolves back to the address.
    pub ptr: Option<String>,
    pub ptr_confirmed: bool,
    /// The PTR name's base domain (public suffix list).
    pub base_domain: Option<String>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    pub as_domain: Option<String>,
    pub country: Option<String>,
    /// From the sender map; `None` is unknown, never a guess.
    pub sender: Option<String>,
    pub sender_type: Option<String>,
    /// What named it: `ptr`, `spf` or `network` (src/enrich/mod.rs).
    pub named_by: Option<&'static str>,
    pub dns: DnsState,
}

/// The reverse DNS state of an address: what was asked and when, for the cache's TTL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsState {
    /// `ok` (a PTR name), `nxdomain` (none), `failed` (no answer: asked again next run),
    /// `skipped` (not asked: --no-dns, or the run's DNS budget ran out).
    pub status: DnsStatus,
    /// Epoch seconds of the answer; `None` when never asked.
    pub checked_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DnsStatus {
    Ok,
    NxDomain,
    Failed,
    #[default]
    Skipped,
}

impl DnsStatus {
    /// Stable code (`source_names.dns_status`).
    pub fn code(self) -> &'static str {
        match self {
            DnsStatus::Ok => "ok",
            DnsStatus::NxDomain => "nxdomain",
            DnsStatus::Failed => "failed",
            DnsStatus::Skipped => "skipped",
        }
    }

    pub fn from_code(code: &str) -> DnsStatus {
        match code {
            "ok" => DnsStatus::Ok,
            "nxdomain" => DnsStatus::NxDomain,
            "failed" => DnsStatus::Failed,
            _ => DnsStatus::Skipped,
        }
    }
}
