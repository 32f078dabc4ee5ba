//! Writes a deterministic synthetic corpus of DMARC aggregate reports for benchmarks.
//!
//! `cargo run --release --example gen_corpus -- OUT_DIR REPORTS [SEED [SOURCES DOMAINS]]`
//!
//! By default nearly every record comes from an address of its own (about 200,000 for 10,000
//! reports) and there are four domains. With SOURCES and DOMAINS the records come from a pool
//! of that many addresses, a few of them sending most of the mail, for that many domains:
//! `2530 20` is the shape of the held-out corpus issue 34 measures (few sources, many
//! records each).
//!
//! A realistic mix: Google (zip in an e-mail), Microsoft (gzip in an e-mail), Yahoo (.xml.gz),
//! Mail.Ru (zip), small receivers (plain XML); reports of 1 to 3,000 records (about 70 on
//! average); IPv4 and IPv6 senders; passing, forwarded, third-party and spoofed sources.
//! The same seed always gives the same bytes.

use base64::Engine;
use std::io::Write;
use std::path::{Path, PathBuf};

/// SplitMix64: tiny, fast, and stable forever (unlike a library RNG's stream).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const DOMAINS: [&str; 4] = [
    "example.com",
    "example.org",
    "shop.example.net",
    "example.co.uk",
];
const DAY: u64 = 86_400;
const START: u64 = 1_735_689_600; // 2025-01-01

/// Mostly small reports, some large, and one in a hundred of a few thousand records (a big
/// receiver's day for a busy domain).
fn record_count(rng: &mut Rng) -> u64 {
    match rng.below(100) {
        0..=71 => 1 + rng.below(30),
        72..=96 => 30 + rng.below(170),
        97..=98 => 200 + rng.below(800),
        _ => 1_000 + rng.below(2_000),
    }
}

/// Where records come from: fresh random addresses, or a pool of `sources` addresses.
#[derive(Clone, Copy)]
struct Shape {
    sources: Option<u64>,
    domains: u64,
}

impl Shape {
    fn source_ip(self, rng: &mut Rng) -> String {
        let Some(sources) = self.sources else {
            return source_ip(rng);
        };
        // Skewed: the smaller of two draws, so low numbers (the big senders) come more often.
        let n = rng.below(sources).min(rng.below(sources));
        if n % 10 == 9 {
            format!("2001:db8:{:x}::{:x}", n / 65536, n % 65536)
        } else {
            format!("198.{}.{}.{}", 18 + n / 65536, (n / 256) % 256, n % 256)
        }
    }

    fn domain(self, rng: &mut Rng) -> String {
        let n = rng.below(self.domains) as usize;
        match DOMAINS.get(n) {
            Some(domain) => domain.to_string(),
            None => format!("example{n}.net"),
        }
    }
}

fn source_ip(rng: &mut Rng) -> String {
    if rng.below(10) == 0 {
        format!("2001:db8:{:x}::{:x}", rng.below(4096), rng.below(65536))
    } else {
        format!(
            "198.{}.{}.{}",
            18 + rng.below(2),
            rng.below(256),
            1 + rng.below(254)
        )
    }
}

fn record(rng: &mut Rng, shape: Shape, domain: &str, out: &mut String) {
    let (dkim, spf, dkim_domain, spf_domain) = match rng.below(10) {
        0..=5 => ("pass", "pass", domain, domain),
        6 => ("pass", "fail", domain, "bounces.esp.example"),
        7 => ("pass", "fail", domain, "lists.example.org"),
        8 => ("fail", "fail", "thirdparty.example", "thirdparty.example"),
        _ => ("fail", "fail", domain, domain),
    };
    let disposition = if dkim == "pass" || spf == "pass" {
        "none"
    } else {
        "quarantine"
    };
    let big_sender = rng.below(20) == 0;
    let count = 1 + rng.below(if big_sender { 5000 } else { 20 });
    let ip = shape.source_ip(rng);
    out.push_str(&format!(
        "  <record>\n    <row>\n      <source_ip>{ip}</source_ip>\n      <count>{count}</count>\n\
         <policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated>\n\
         </row>\n    <identifiers><header_from>{domain}</header_from></identifiers>\n    <auth_results>\n\
         <dkim><domain>{dkim_domain}</domain><selector>s1</selector><result>{dkim}</result></dkim>\n\
         <spf><domain>{spf_domain}</domain><result>{}</result></spf>\n    </auth_results>\n  </record>\n",
        if spf_domain == domain { spf } else { "pass" }
    ));
}

fn report(rng: &mut Rng, shape: Shape, index: u64, org: &str) -> (String, Vec<u8>) {
    let domain = shape.domain(rng);
    let begin = START + rng.below(365) * DAY;
    let end = begin + DAY - 1;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n  <report_metadata>\n    <org_name>{org}</org_name>\n\
         <email>noreply-dmarc@{org}</email>\n    <report_id>bench-{index}-{}</report_id>\n\
         <date_range><begin>{begin}</begin><end>{end}</end></date_range>\n  </report_metadata>\n\
         <policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>quarantine</sp><pct>100</pct></policy_published>\n",
        rng.next()
    );
    for _ in 0..record_count(rng) {
        record(rng, shape, &domain, &mut xml);
    }
    xml.push_str("</feedback>\n");
    (format!("{org}!{domain}!{begin}!{end}"), xml.into_bytes())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn zip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(data).unwrap();
    writer.finish().unwrap().into_inner()
}

fn mail(content_type: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: noreply-dmarc@example.net\r\nTo: dmarc@example.com\r\nSubject: Report domain: {filename}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nDMARC aggregate report.\r\n--b\r\n\
         Content-Type: {content_type}; name=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

fn write(dir: &Path, index: u64, name: &str, bytes: &[u8]) {
    // 1,000 files a folder keeps directories listable.
    let folder = dir.join(format!("{:04}", index / 1000));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(name), bytes).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(count)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen_corpus OUT_DIR REPORTS [SEED [SOURCES DOMAINS]]");
        std::process::exit(2);
    };
    let number = |n: usize| args.get(n).and_then(|s| s.parse::<u64>().ok());
    let seed = number(3).unwrap_or(1);
    let shape = Shape {
        sources: number(4).filter(|&n| n > 0),
        domains: number(5).filter(|&n| n > 0).unwrap_or(DOMAINS.len() as u64),
    };
    let out = PathBuf::from(out);
    let mut rng = Rng(seed);
    let (mut records, mut bytes) = (0u64, 0u64);
    for index in 0..count {
        let kind = rng.below(5);
        let org = [
            "google.com",
            "Outlook.com",
            "Yahoo",
            "Mail.Ru",
            "mx.example.net",
        ][kind as usize];
        let (stem, xml) = report(&mut rng, shape, index, org);
        records += xml.windows(8).filter(|w| w == b"<record>").count() as u64;
        let (name, file) = match kind {
            0 => (
                format!("{index}.eml"),
                mail(
                    "application/zip",
                    &format!("{stem}.zip"),
                    &zip(&format!("{stem}.xml"), &xml),
                ),
            ),
            1 => (
                format!("{index}.eml"),
                mail("application/gzip", &format!("{stem}.xml.gz"), &gzip(&xml)),
            ),
            2 => (format!("{index}-{stem}.xml.gz"), gzip(&xml)),
            3 => (
                format!("{index}-{stem}.zip"),
                zip(&format!("{stem}.xml"), &xml),
            ),
            _ => (format!("{index}-{stem}.xml"), xml),
        };
        bytes += file.len() as u64;
        write(&out, index, &name, &file);
    }
    println!(
        "{count} reports, {records} records, {bytes} bytes in {}",
        out.display()
    );
}
