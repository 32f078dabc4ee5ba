//! Building test inputs: reports, and the containers they travel in.

use base64::Engine;
use std::io::Write;

/// A small valid report whose identity is `report_id`, with `records` records of `count`
/// messages each (every other one passing DMARC).
pub fn report_xml(report_id: &str, records: usize, count: u64) -> String {
    let mut body = String::new();
    for i in 0..records {
        let verdict = if i % 2 == 0 { "pass" } else { "fail" };
        body.push_str(&format!(
            "<record><row><source_ip>192.0.2.{}</source_ip><count>{count}</count>\
             <policy_evaluated><disposition>none</disposition><dkim>{verdict}</dkim><spf>fail</spf>\
             </policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>\
             <auth_results><dkim><domain>example.com</domain><result>{verdict}</result></dkim>\
             <spf><domain>example.com</domain><result>fail</result></spf></auth_results></record>",
            i % 250 + 1
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback><report_metadata>\
         <org_name>Test Org</org_name><email>dmarc@test.example</email><report_id>{report_id}</report_id>\
         <date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain><p>none</p></policy_published>{body}</feedback>\n"
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn base64_lines(data: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A multipart message with a text part and one attachment given by its MIME headers.
pub fn mail_with_attachment(part_headers: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: noreply-dmarc-support@google.com\r\nTo: dmarc@example.com\r\n\
         Subject: Report domain: example.com\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n\
         --b1\r\n{part_headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        base64_lines(data)
    )
    .into_bytes()
}

/// A message whose whole body is the (gzip) report, as Yahoo and others send it.
pub fn mail_whole_body(gzipped: &[u8]) -> Vec<u8> {
    format!(
        "From: dmarc@yahoo.com\r\nSubject: Report\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(gzipped)
    )
    .into_bytes()
}

/// `inner` forwarded by a person as a `message/rfc822` attachment.
pub fn forwarded(inner: &[u8]) -> Vec<u8> {
    format!(
        "From: alice@example.com\r\nSubject: Fwd: report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nFYI\r\n\
         --outer\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--outer--\r\n",
        String::from_utf8_lossy(inner)
    )
    .into_bytes()
}

/// One `<record>`: source, messages, the receiver's DKIM and SPF verdicts, the From domain,
/// the DKIM and SPF results, and an override reason.
pub struct Row<'a> {
    pub ip: &'a str,
    pub count: u64,
    pub dkim: &'a str,
    pub spf: &'a str,
    pub from: &'a str,
    pub dkim_domain: &'a str,
    pub spf_domain: &'a str,
    pub reason: Option<&'a str>,
    /// The DKIM selector (s=), when the report gives one.
    pub selector: Option<&'a str>,
}

impl Row<'_> {
    /// Mail from `ip` signed and bounced by example.com itself, with DKIM and SPF results
    /// `dkim` and `spf` (which are also the row's DMARC verdicts).
    pub fn own<'a>(ip: &'a str, count: u64, dkim: &'a str, spf: &'a str) -> Row<'a> {
        Row {
            ip,
            count,
            dkim,
            spf,
            from: "example.com",
            dkim_domain: "example.com",
            spf_domain: "example.com",
            reason: None,
            selector: None,
        }
    }

    /// Mail from `ip` that fails DMARC: DKIM and SPF pass only for spoof.example.
    pub fn spoof(ip: &str, count: u64) -> Row<'_> {
        Row {
            ip,
            count,
            dkim: "fail",
            spf: "fail",
            from: "example.com",
            dkim_domain: "spoof.example",
            spf_domain: "spoof.example",
            reason: None,
            selector: None,
        }
    }
}

/// A report from `org` for the day starting at `begin` (epoch seconds) about example.com.
pub fn dmarc_report(org: &str, id: &str, begin: u64, policy: &str, rows: &[Row]) -> String {
    dmarc_report_of_period(org, id, (begin, begin + 86_399), policy, rows)
}

/// A report from `org` for the period `(begin, end)` (epoch seconds) about example.com.
pub fn dmarc_report_of_period(
    org: &str,
    id: &str,
    (begin, end): (u64, u64),
    policy: &str,
    rows: &[Row],
) -> String {
    let records: String = rows
        .iter()
        .map(|r| {
            let result = |verdict: &str| if verdict == "pass" { "pass" } else { "fail" };
            let reason = r
                .reason
                .map(|t| format!("<reason><type>{t}</type></reason>"))
                .unwrap_or_default();
            let selector = r
                .selector
                .map(|s| format!("<selector>{s}</selector>"))
                .unwrap_or_default();
            format!(
                "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>{}</dkim><spf>{}</spf>{reason}</policy_evaluated></row>\
                 <identifiers><header_from>{}</header_from></identifiers><auth_results>\
                 <dkim><domain>{}</domain>{selector}<result>{}</result></dkim>\
                 <spf><domain>{}</domain><result>{}</result></spf></auth_results></record>",
                r.ip, r.count, r.dkim, r.spf, r.from, r.dkim_domain, result(r.dkim),
                r.spf_domain, result(r.spf)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>{id}</report_id>\
         <date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>\
         <policy_published><domain>example.com</domain>{policy}</policy_published>{records}</feedback>"
    )
}
