//! The static site on disk (`duckmarc html --site DIR`): where each page lives, the links
//! between pages, and writing them so that a web server serving DIR never serves half a site.
//!
//! Layout: `DIR/index.html`; a directory per policy domain with its page, `index.html`, and a
//! page per sender, `<sender>.html`. Domain and sender names come from reports written by
//! strangers, so a name becomes a file name as it is only when it is plainly safe (lower-case
//! letters, digits, dots and hyphens, not `index`, no `..`, at most 64 bytes); anything else
//! is reduced to such characters and made unique by a hash of the whole name.
//!
//! Each page is written to a temporary file and renamed into place (`write_atomically`),
//! senders first, then domains, then the index, so every link of a page already published
//! resolves; then the pages of the previous run that this one did not write (vanished
//! senders and domains) are removed. `DIR/.duckmarc-site` lists the pages written: duckmarc
//! removes only pages it wrote, and refuses a directory holding other files.

use super::html::site;
use super::write_atomically;
use crate::views::site::Site;
use crate::views::table::Table;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The list of pages the last run wrote, relative to DIR.
const MANIFEST: &str = ".duckmarc-site";
/// The longest name kept as it is.
const NAME_BYTES: usize = 64;

/// The page a link starts from: the index, or a page inside a domain's directory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Root,
    Domain,
}

/// Every page of the site by name, and the period the site covers.
pub struct Sitemap {
    domains: HashMap<String, String>,
    senders: HashMap<(String, String), String>,
    /// "2026-11-01 to 2026-11-30", for the titles.
    pub days: String,
}

impl Sitemap {
    pub fn new(site: &Site) -> Sitemap {
        let mut domains = HashMap::new();
        let mut senders = HashMap::new();
        for domain in &site.domains {
            domains.insert(domain.domain.clone(), file_name(&domain.domain));
            for sender in &domain.sender_pages {
                let key = (domain.domain.clone(), sender.sender.clone());
                senders.insert(key, file_name(&sender.sender));
            }
        }
        Sitemap {
            domains,
            senders,
            days: super::days_covered(&site.dashboard.overview)
                .unwrap_or_else(|| "no reports".into()),
        }
    }

    /// "2026-11-01 to 2026-11-30 (UTC)", for the page headings.
    pub fn period(&self) -> String {
        format!("{} (UTC)", self.days)
    }

    /// Every page's path, relative to DIR.
    fn page_paths(&self) -> impl Iterator<Item = String> + '_ {
        let domains = self.domains.keys().filter_map(|d| self.domain_path(d));
        let senders = self
            .senders
            .keys()
            .filter_map(|(domain, sender)| self.sender_path(domain, sender));
        domains.chain(senders).chain(["index.html".to_string()])
    }

    /// The path of a domain's page, relative to DIR.
    fn domain_path(&self, domain: &str) -> Option<String> {
        self.domains
            .get(domain)
            .map(|dir| format!("{dir}/index.html"))
    }

    fn sender_path(&self, domain: &str, sender: &str) -> Option<String> {
        let dir = self.domains.get(domain)?;
        let file = self
            .senders
            .get(&(domain.to_string(), sender.to_string()))?;
        Some(format!("{dir}/{file}.html"))
    }

    /// The links of a page at `place`; `domain`: the domain of the page, for the cells of
    /// tables that have no domain column (a domain's senders).
    pub fn links<'a>(&'a self, place: Place, domain: Option<&'a str>) -> SiteLinks<'a> {
        SiteLinks {
            map: self,
            place,
            domain,
        }
    }

    /// The first breadcrumb: the index, seen from `place`.
    pub fn root_crumb(&self, place: Place) -> crate::render::html::parts::Crumb {
        crate::render::html::parts::Crumb {
            text: "All domains".into(),
            href: Some(relative(place, "index.html")),
        }
    }
}

/// `path` (relative to DIR) as a link from a page at `place`.
fn relative(place: Place, path: &str) -> String {
    match place {
        Place::Root => path.to_string(),
        Place::Domain => format!("../{path}"),
    }
}

pub struct SiteLinks<'a> {
    map: &'a Sitemap,
    place: Place,
    domain: Option<&'a str>,
}

impl crate::render::html::parts::Links for SiteLinks<'_> {
    fn href(&self, column: &str, data: &Table, row: usize) -> Option<String> {
        let text = |column: &str| super::cell_text(&data.get(row, column));
        let row_domain = || match data.column("domain") {
            Some(_) => text("domain"),
            None => self.domain.unwrap_or_default().to_string(),
        };
        let path = match column {
            "domain" | "policy_domain" => self.map.domain_path(&text(column))?,
            "sender" => self.map.sender_path(&row_domain(), &text(column))?,
            "dns_errors" if data.get(row, column).as_u64().is_some_and(|n| n > 0) => {
                if self.place == Place::Domain {
                    return Some("#dns-findings".into());
                }
                format!("{}#dns-findings", self.map.domain_path(&text("domain"))?)
            }
            _ => return None,
        };
        Some(relative(self.place, &path))
    }
}

/// A file name for a name from a report: the name itself when it is plainly safe, else its
/// safe characters and a hash of the whole name (so two names never share a file).
pub fn file_name(name: &str) -> String {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
    let safe = !name.is_empty()
        && name.len() <= NAME_BYTES
        && name.bytes().all(plain)
        && !name.starts_with('.')
        && !name.contains("..")
        && !name.starts_with("index");
    if safe {
        return name.to_string();
    }
    let kept: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii() && plain(c as u8) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let kept = kept.trim_start_matches('.').replace("..", "_");
    let hash = blake3::hash(name.as_bytes()).to_hex();
    format!("{kept}~{}", &hash[..12])
}

/// Writes the whole site into `dir` (created when missing).
pub fn write(site: &Site, dir: &Path, scope: &str) -> Result<usize> {
    let previous = previous_pages(dir)?;
    let map = Sitemap::new(site);
    // The manifest names every page this run may write before it writes one: a run cut short
    // (killed, a full disk) leaves a site the next run recognises and finishes, not a
    // directory of pages it refuses as someone else's.
    let planned: String = previous
        .iter()
        .cloned()
        .chain(map.page_paths())
        .map(|p| format!("{p}\n"))
        .collect();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomically(&dir.join(MANIFEST), planned.as_bytes())?;
    let mut written = BTreeSet::new();
    let mut put = |path: String, page: String| -> Result<()> {
        let full = dir.join(&path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_atomically(&full, page.as_bytes())?;
        written.insert(path);
        Ok(())
    };
    for domain in &site.domains {
        for sender in &domain.sender_pages {
            let path = map
                .sender_path(&domain.domain, &sender.sender)
                .context("a sender without a page")?;
            put(
                path,
                site::sender_page(&domain.domain, sender, &map, scope)?,
            )?;
        }
        let path = map
            .domain_path(&domain.domain)
            .context("a domain without a page")?;
        put(path, site::domain_page(domain, &map, scope)?)?;
    }
    put("index.html".into(), site::index(site, &map, scope))?;
    remove_vanished(dir, &previous, &written)?;
    let manifest: String = written.iter().map(|p| format!("{p}\n")).collect();
    write_atomically(&dir.join(MANIFEST), manifest.as_bytes())?;
    Ok(written.len())
}

/// The pages the previous run wrote. A directory that holds files but no manifest is not a
/// duckmarc site: it is refused rather than mixed with the site.
fn previous_pages(dir: &Path) -> Result<BTreeSet<String>> {
    let manifest = dir.join(MANIFEST);
    match std::fs::read_to_string(&manifest) {
        Ok(text) => Ok(text
            .lines()
            .filter(|line| is_page_path(line))
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
            if occupied {
                bail!(
                    "{}: not empty and not a duckmarc site (no {MANIFEST}); choose a new or empty directory",
                    dir.display()
                );
            }
            Ok(BTreeSet::new())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", manifest.display())),
    }
}

/// A manifest line duckmarc could have written: `index.html` or `name/name.html`, no `..`
/// and nothing absolute, so an edited manifest cannot make duckmarc remove other files.
fn is_page_path(line: &str) -> bool {
    let parts: Vec<&str> = line.split('/').collect();
    line.ends_with(".html")
        && parts.len() <= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.starts_with('.') && !p.contains('\\'))
}

/// Removes the pages of the previous run that this one did not write, and the directories
/// of vanished domains once empty.
fn remove_vanished(
    dir: &Path,
    previous: &BTreeSet<String>,
    written: &BTreeSet<String>,
) -> Result<()> {
    for path in previous.difference(written) {
        let full = dir.join(path);
        match std::fs::remove_file(&full) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", full.display())),
        }
        if let Some((domain, _)) = path.split_once('/') {
            // Fails, as it should, while the directory still holds pages.
            let _ = std::fs::remove_dir(dir.join(domain));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_others_become_safe_and_distinct() {
        assert_eq!(file_name("example.com"), "example.com");
        assert_eq!(file_name("192.0.2.1"), "192.0.2.1");
        for hostile in [
            "../etc/passwd",
            "<script>",
            "index",
            "Google",
            "a/b",
            ".hidden",
            "",
        ] {
            let name = file_name(hostile);
            assert!(name.contains('~'), "{hostile:?} -> {name}");
            assert!(!name.contains('/') && !name.contains("..") && !name.starts_with('.'));
        }
        assert_ne!(file_name("a/b"), file_name("a_b"));
        assert_ne!(file_name("Google"), file_name("google~x"));
        let long = "x".repeat(300);
        assert!(file_name(&long).len() < 60);
        assert_eq!(
            file_name("2001:db8::1").split('~').next(),
            Some("2001_db8__1")
        );
    }

    #[test]
    fn manifest_lines_name_only_pages_inside_the_site() {
        assert!(is_page_path("index.html"));
        assert!(is_page_path("example.com/google.html"));
        for outside in [
            "../x.html",
            "/etc/x.html",
            "a/b/c.html",
            "a/../x.html",
            "x.txt",
            ".duckmarc-site",
        ] {
            assert!(!is_page_path(outside), "{outside}");
        }
    }
}
