//! The IP database: ASN, AS name, AS domain and country of an address, from an MMDB file.
//! duckmarc bundles IPinfo Lite (from PyPI's parsedmarc 11.1.0 wheel, CC BY-SA 4.0); users
//! can point at their own in the IPinfo, MaxMind (GeoLite2/GeoIP2 ASN, Country, City) or
//! DB-IP layouts, which differ only in field names.

use anyhow::{Context, Result};
use maxminddb::Reader;
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;

/// IPinfo Lite, as bundled in the binary (see data/README.md).
static BUNDLED: &[u8] = include_bytes!("../../data/ipinfo_lite.mmdb");

/// What the IP database knows of one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFacts {
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    /// Lower-cased.
    pub as_domain: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// One record in any of the supported layouts; every field optional.
#[derive(Deserialize, Default)]
struct Record<'a> {
    // IPinfo
    #[serde(borrow)]
    asn: Option<AsnField<'a>>,
    as_name: Option<&'a str>,
    as_domain: Option<&'a str>,
    country_code: Option<&'a str>,
    // MaxMind and DB-IP
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow)]
    country: Option<CountryField<'a>>,
}

/// IPinfo writes `"AS15169"`; others a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum AsnField<'a> {
    Number(u32),
    Text(&'a str),
}

/// MaxMind: `{"iso_code": "US", ...}`; IPinfo: the country's name (ignored, `country_code`
/// has the code).
#[derive(Deserialize)]
#[serde(untagged)]
enum CountryField<'a> {
    Nested { iso_code: Option<&'a str> },
    Name(#[allow(dead_code)] &'a str),
}

pub struct IpDatabase {
    /// The bundled database is read where the binary has it, never copied.
    reader: Reader<Cow<'static, [u8]>>,
    /// Where it came from, for messages: a path, or "bundled IPinfo Lite".
    pub name: String,
}

impl IpDatabase {
    /// The bundled IPinfo Lite database.
    pub fn bundled() -> Result<IpDatabase> {
        let reader = Reader::from_source(Cow::Borrowed(BUNDLED))
            .context("the bundled IP database is damaged (rebuild duckmarc)")?;
        Ok(IpDatabase {
            reader,
            name: "bundled IPinfo Lite".into(),
        })
    }

    /// A database file the user gave (`--ip-db`); a missing or corrupt file is an error that
    /// names it.
    pub fn open(path: &Path) -> Result<IpDatabase> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read IP database {}", path.display()))?;
        let reader = Reader::from_source(Cow::Owned(bytes)).map_err(|e| {
            anyhow::anyhow!("{} is not a usable MMDB IP database: {e}", path.display())
        })?;
        Ok(IpDatabase {
            reader,
            name: path.display().to_string(),
        })
    }

    /// What the database says of `ip`; empty when it knows nothing (documentation and
    /// private ranges) or the record is unreadable.
    pub fn lookup(&self, ip: IpAddr) -> IpFacts {
        let record = self
            .reader
            .lookup(ip)
            .and_then(|found| found.decode::<Record>())
            .ok()
            .flatten()
            .unwrap_or_default();
        let asn = match record.asn {
            Some(AsnField::Number(n)) => Some(n),
            Some(AsnField::Text(text)) => {
                text.trim_start_matches(['A', 'S', 'a', 's']).parse().ok()
            }
            None => record.autonomous_system_number,
        };
        let nested_country = match record.country {
            Some(CountryField::Nested { iso_code }) => iso_code,
            _ => None,
        };
        let text = |value: Option<&str>| {
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
        };
        IpFacts {
            asn,
            as_name: text(record.as_name.or(record.autonomous_system_organization)),
            as_domain: text(record.as_domain).map(|d| d.to_ascii_lowercase()),
            country: text(record.country_code.or(nested_country)).map(|c| c.to_ascii_uppercase()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_database_names_real_providers_and_not_documentation_ranges() {
        let db = IpDatabase::bundled().unwrap();
        let google = db.lookup("209.85.220.41".parse().unwrap());
        assert_eq!(google.asn, Some(15169));
        assert_eq!(google.as_domain.as_deref(), Some("google.com"));
        assert!(google.country.is_some());
        let v6 = db.lookup("2607:f8b0:4864:20::b2f".parse().unwrap());
        assert_eq!(v6.asn, Some(15169));
        assert_eq!(db.lookup("192.0.2.1".parse().unwrap()), IpFacts::default());
    }

    #[test]
    fn a_file_that_is_not_an_mmdb_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        let error = IpDatabase::open(&path).err().unwrap().to_string();
        assert!(error.contains("broken.mmdb"), "{error}");
        let missing = IpDatabase::open(&dir.path().join("missing.mmdb"))
            .err()
            .unwrap();
        assert!(format!("{missing:#}").contains("missing.mmdb"));
    }
}
