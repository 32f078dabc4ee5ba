//! Sender names: a map from the base domains of PTR names (`sendgrid.net`, `google.com`) to a
//! sender's name and type, as parsedmarc's `base_reverse_dns_map.csv`, and a map of the SPF
//! and DKIM domains e-mail service providers use (`mailgun.org`, `amazonses.com`:
//! `esp_domains.csv`), both bundled (see data/README.md); the user's own entries win over
//! both.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

static BUNDLED_MAP: &str = include_str!("../../data/base_reverse_dns_map.csv");
static BUNDLED_ESP_DOMAINS: &str = include_str!("../../data/esp_domains.csv");
/// Suffixes that the public suffix list does not know but that act as one (hosting
/// providers' customer zones), from parsedmarc: `.123hjemmeside.dk`, `-applefibernet.com`.
static BUNDLED_PSL_OVERRIDES: &str = include_str!("../../data/psl_overrides.txt");

/// A sender as the map names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: String,
    /// `Email Provider`, `Marketing`, `SaaS`, `ISP` ... (empty when the map has none).
    pub kind: String,
}

pub struct SenderMap {
    by_base_domain: HashMap<String, Sender>,
    /// Domains providers authenticate their customers' mail with (SPF, DKIM).
    by_auth_domain: HashMap<String, Sender>,
    overrides: Vec<String>,
}

/// Which of the maps a CSV file fills (keyed by PTR base domains, provider domains, or
/// both), and so the column its domains are in.
#[derive(Clone, Copy)]
enum Keyed {
    PtrBaseDomain,
    AuthDomain,
    /// The user's files: their rows win in both maps.
    Either,
}

impl SenderMap {
    /// The bundled map, then each of `extra` (CSV files with the header
    /// `base_reverse_dns,name,type`) over it.
    pub fn load(extra: &[impl AsRef<Path>]) -> Result<SenderMap> {
        let mut map = SenderMap {
            by_base_domain: HashMap::with_capacity(40_000),
            by_auth_domain: HashMap::new(),
            // Kept as the domain each names: `.123hjemmeside.dk` and parsedmarc's
            // `-applefibernet.com` alike (base_domain matches whole labels).
            overrides: BUNDLED_PSL_OVERRIDES
                .lines()
                .map(|line| line.trim().to_ascii_lowercase())
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(|line| line.trim_start_matches(['.', '-']).to_string())
                .collect(),
        };
        map.add_csv(
            BUNDLED_MAP.as_bytes(),
            "the bundled sender map",
            Keyed::PtrBaseDomain,
        )?;
        map.add_csv(
            BUNDLED_ESP_DOMAINS.as_bytes(),
            "the bundled map of provider domains",
            Keyed::AuthDomain,
        )?;
        for path in extra {
            let path = path.as_ref();
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read sender map {}", path.display()))?;
            map.add_csv(&bytes, &path.display().to_string(), Keyed::Either)?;
        }
        Ok(map)
    }

    fn add_csv(&mut self, bytes: &[u8], name: &str, keyed: Keyed) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .with_context(|| format!("{name}: no header line"))?
            .clone();
        let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
        let key = match keyed {
            Keyed::AuthDomain => "domain",
            Keyed::PtrBaseDomain | Keyed::Either => "base_reverse_dns",
        };
        let (Some(domain), Some(sender)) = (column(key), column("name")) else {
            bail!("{name}: the header must name the columns {key},name[,type]");
        };
        let kind = column("type");
        for (line, row) in reader.records().enumerate() {
            let row = row.with_context(|| format!("{name}: line {}", line + 2))?;
            let base = row.get(domain).unwrap_or("").to_ascii_lowercase();
            let sender_name = row.get(sender).unwrap_or("");
            if base.is_empty() || sender_name.is_empty() {
                continue;
            }
            let sender = Sender {
                name: sender_name.to_string(),
                kind: kind.and_then(|k| row.get(k)).unwrap_or("").to_string(),
            };
            match keyed {
                Keyed::PtrBaseDomain => self.by_base_domain.insert(base, sender),
                Keyed::AuthDomain => self.by_auth_domain.insert(base, sender),
                Keyed::Either => {
                    self.by_auth_domain.insert(base.clone(), sender.clone());
                    self.by_base_domain.insert(base, sender)
                }
            };
        }
        Ok(())
    }

    /// The base domain of a host name: its registrable domain by the public suffix list, or
    /// the override it is in. An override is matched by whole labels: parsedmarc's
    /// `-applefibernet.com` (meant for an ISP's hosts in domains such as
    /// `static-applefibernet.com`) also matched `spoof-applefibernet.com`, which anyone can
    /// register, so a confirmed PTR there took the ISP's name. Such an ISP's hosts now go by
    /// their own registrable domain, unnamed by the map: a name missing, not a wrong one.
    pub fn base_domain(&self, host: &str) -> Option<String> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let within = |zone: &str| {
            host.strip_suffix(zone)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        };
        if let Some(found) = self.overrides.iter().find(|o| within(o)) {
            return Some(found.clone());
        }
        let domain = psl::domain(host.as_bytes())?;
        Some(String::from_utf8_lossy(domain.as_bytes()).into_owned())
    }

    /// The sender a host name or domain belongs to, by its base domain.
    pub fn sender_of(&self, host: &str) -> Option<&Sender> {
        self.by_base_domain.get(&self.base_domain(host)?)
    }

    /// The provider whose SPF record authorises mail from `domain` (an SPF domain that passed):
    /// the domain, or its base domain, in the map of provider domains only. The PTR map is no
    /// help here: anyone can publish SPF for a domain of their own, so only domains known to
    /// be a provider's say whose the address is.
    pub fn sender_of_spf_domain(&self, domain: &str) -> Option<&Sender> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let base = self.base_domain(&domain);
        self.by_auth_domain
            .get(&domain)
            .or_else(|| base.as_ref().and_then(|b| self.by_auth_domain.get(b)))
    }

    /// The type of the sender called `name` in either map (`Email Provider`, `Marketing` ...),
    /// for the warning about listing shared infrastructure as authorised.
    pub fn kind_of_name(&self, name: &str) -> Option<&str> {
        self.senders()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.kind.as_str())
            .filter(|k| !k.is_empty())
    }

    /// Whether either map names a sender `name` (case aside).
    pub fn has_name(&self, name: &str) -> bool {
        self.names().any(|known| known.eq_ignore_ascii_case(name))
    }

    /// The maps' names that contain `fragment` (case aside), sorted, at most `most`: what a
    /// user may have meant by a name no map has.
    pub fn names_containing(&self, fragment: &str, most: usize) -> Vec<&str> {
        let fragment = fragment.to_lowercase();
        let mut found: Vec<&str> = self
            .names()
            .filter(|name| name.to_lowercase().contains(&fragment))
            .collect();
        found.sort_unstable();
        found.dedup();
        found.truncate(most);
        found
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.senders().map(|s| s.name.as_str())
    }

    /// Every sender of both maps (a sender once per domain it is mapped from).
    fn senders(&self) -> impl Iterator<Item = &Sender> {
        self.by_auth_domain
            .values()
            .chain(self.by_base_domain.values())
    }

    pub fn len(&self) -> usize {
        self.by_base_domain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_base_domain.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_map_names_providers_by_base_domain() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        assert!(map.len() > 38_000, "{}", map.len());
        let sendgrid = map.sender_of("o1.ptr2345.sendgrid.net").unwrap();
        assert_eq!(sendgrid.name, "Twilio SendGrid");
        assert_eq!(map.sender_of("amazonses.com").unwrap().name, "Amazon SES");
        assert_eq!(
            map.base_domain("mail-sor-f41.google.com.").unwrap(),
            "google.com"
        );
        assert_eq!(
            map.base_domain("mail.example.co.uk").unwrap(),
            "example.co.uk"
        );
        assert!(map.sender_of("mx.example.com").is_none());
    }

    #[test]
    fn provider_domains_name_spf_domains_the_ptr_map_does_not_know() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        assert_eq!(
            map.sender_of_spf_domain("mailgun.org").unwrap().name,
            "Mailgun"
        );
        assert_eq!(
            map.sender_of_spf_domain("bounces.mcsv.net").unwrap().name,
            "Intuit Mailchimp"
        );
        assert_eq!(
            map.sender_of_spf_domain("em.sendgrid.net").unwrap().name,
            "Twilio SendGrid"
        );
        assert!(map.sender_of_spf_domain("example.com").is_none());
        assert_eq!(map.kind_of_name("twilio sendgrid"), Some("Marketing"));
    }

    /// A provider is one sender whether its PTR name or its SPF domain named the source:
    /// the maps spelt 13 providers two ways ("Intuit Mailchimp", "Mailchimp"), so a listed
    /// name covered only the addresses named one way (review S).
    #[test]
    fn a_provider_has_one_name_in_both_maps() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        for line in BUNDLED_ESP_DOMAINS.lines().skip(1) {
            let domain = line.split(',').next().unwrap();
            if let Some(by_ptr) = map.by_base_domain.get(domain) {
                let by_spf = map.sender_of_spf_domain(domain).unwrap();
                assert_eq!(by_spf.name, by_ptr.name, "{domain}");
            }
        }
    }

    #[test]
    fn psl_overrides_make_customer_zones_base_domains() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        assert_eq!(
            map.base_domain("shop.123hjemmeside.dk").unwrap(),
            "123hjemmeside.dk"
        );
    }

    /// A name that merely ends in an override's text is not in its zone: anyone can register
    /// `spoof-applefibernet.com` or `notigobusiness.com.ni` (review: a confirmed PTR there
    /// was named "Apple Fibernet, ISP").
    #[test]
    fn an_override_is_matched_by_whole_labels() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        for (host, base) in [
            ("mx.spoof-applefibernet.com", "spoof-applefibernet.com"),
            ("mail.notigobusiness.com.ni", "notigobusiness.com.ni"),
            ("mail.tigobusiness.com.ni", "tigobusiness.com.ni"),
            ("shop.evil123hjemmeside.dk", "evil123hjemmeside.dk"),
        ] {
            assert_eq!(map.base_domain(host).unwrap(), base, "{host}");
        }
        assert!(map.sender_of("mx.spoof-applefibernet.com").is_none());
    }

    #[test]
    fn users_entries_win_over_the_bundled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine.csv");
        std::fs::write(&mine, "base_reverse_dns,name,type\nsendgrid.net,Our newsletter (SendGrid),Marketing\nexample.com,Our own servers,\n").unwrap();
        let map = SenderMap::load(&[&mine]).unwrap();
        assert_eq!(
            map.sender_of("sendgrid.net").unwrap().name,
            "Our newsletter (SendGrid)"
        );
        assert_eq!(map.sender_of("mx1.example.com").unwrap().kind, "");
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "domain,who\nx.example,X\n").unwrap();
        let error = SenderMap::load(&[&bad]).err().unwrap().to_string();
        assert!(error.contains("bad.csv"), "{error}");
    }
}
