//! Sender names: a map from base domains (`sendgrid.net`, `google.com`) to a sender's name and
//! type, as parsedmarc's `base_reverse_dns_map.csv` (bundled, see data/README.md), plus the
//! user's own entries, which win.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

static BUNDLED_MAP: &str = include_str!("../../data/base_reverse_dns_map.csv");
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
    overrides: Vec<String>,
}

impl SenderMap {
    /// The bundled map, then each of `extra` (CSV files with the header
    /// `base_reverse_dns,name,type`) over it.
    pub fn load(extra: &[impl AsRef<Path>]) -> Result<SenderMap> {
        let mut map = SenderMap {
            by_base_domain: HashMap::with_capacity(40_000),
            overrides: BUNDLED_PSL_OVERRIDES
                .lines()
                .map(|line| line.trim().to_ascii_lowercase())
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .collect(),
        };
        map.add_csv(BUNDLED_MAP.as_bytes(), "the bundled sender map")?;
        for path in extra {
            let path = path.as_ref();
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read sender map {}", path.display()))?;
            map.add_csv(&bytes, &path.display().to_string())?;
        }
        Ok(map)
    }

    fn add_csv(&mut self, bytes: &[u8], name: &str) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .with_context(|| format!("{name}: no header line"))?
            .clone();
        let column = |wanted: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(wanted));
        let (Some(domain), Some(sender)) = (column("base_reverse_dns"), column("name")) else {
            bail!("{name}: the header must name the columns base_reverse_dns,name[,type]");
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
            self.by_base_domain.insert(base, sender);
        }
        Ok(())
    }

    /// The base domain of a host name: its registrable domain by the public suffix list, or
    /// the override it ends with.
    pub fn base_domain(&self, host: &str) -> Option<String> {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Some(found) = self.overrides.iter().find(|o| host.ends_with(o.as_str())) {
            return Some(found.trim_matches(['.', '-']).to_string());
        }
        let domain = psl::domain(host.as_bytes())?;
        Some(String::from_utf8_lossy(domain.as_bytes()).into_owned())
    }

    /// The sender a host name or domain belongs to, by its base domain.
    pub fn sender_of(&self, host: &str) -> Option<&Sender> {
        self.by_base_domain.get(&self.base_domain(host)?)
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
    fn psl_overrides_make_customer_zones_base_domains() {
        let map = SenderMap::load(&[] as &[&Path]).unwrap();
        assert_eq!(
            map.base_domain("shop.123hjemmeside.dk").unwrap(),
            "123hjemmeside.dk"
        );
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
