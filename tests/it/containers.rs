//! Every container and e-mail shape through the CLI: each input below holds one report whose
//! report_id names the case, and all of them must be stored.

use crate::common::reports::*;
use crate::common::*;
use std::collections::BTreeSet;

fn xml(case: &str) -> Vec<u8> {
    report_xml(case, 2, 5).into_bytes()
}

/// (file name, bytes) for every way a report arrives.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| inputs.push((name.to_string(), bytes));

    add("plain.xml", xml("plain"));
    add(
        "bom.xml",
        [b"\xEF\xBB\xBF".as_slice(), &xml("utf8-bom")].concat(),
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in String::from_utf8(xml("utf16-bom"))
        .unwrap()
        .replace("UTF-8", "UTF-16")
        .encode_utf16()
    {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    add("utf16.xml", utf16);
    let latin1 = String::from_utf8(xml("latin1"))
        .unwrap()
        .replace("UTF-8", "ISO-8859-1")
        .replace("Test Org", "M\u{fc}ller");
    add("latin1.xml", latin1.chars().map(|c| c as u8).collect());
    add("named-wrongly.txt", gzip(&xml("gzip-any-name")));
    let two_members = [
        gzip(&xml("gzip-multi")[..40]),
        gzip(&xml("gzip-multi")[40..]),
    ]
    .concat();
    add("multi.xml.gz", two_members);
    add(
        "trailing.xml.gz",
        [gzip(&xml("gzip-trailing")), b"\0\0\0junk".to_vec()].concat(),
    );
    add("double.xml.gz.gz", gzip(&gzip(&xml("gzip-in-gzip"))));
    add(
        "two.zip",
        zip(&[
            ("a.xml", &xml("zip-member-a")),
            ("b.xml", &xml("zip-member-b")),
        ]),
    );
    add(
        "nested.zip",
        zip(&[("inner.xml.gz", &gzip(&xml("gzip-in-zip")))]),
    );

    let gz = |case: &str| gzip(&xml(case));
    add(
        "gzip.eml",
        mail_with_attachment(
            "Content-Type: application/gzip; name=\"r.xml.gz\"",
            &gz("mail-application-gzip"),
        ),
    );
    add("xgzip.eml", mail_with_attachment(
        "Content-Type: application/x-gzip\r\nContent-Disposition: attachment; filename=\"r.xml.gz\"",
        &gz("mail-x-gzip")));
    add(
        "zip.eml",
        mail_with_attachment(
            "Content-Type: application/zip; name=\"r.zip\"",
            &zip(&[("r.xml", &xml("mail-zip"))]),
        ),
    );
    add(
        "octet.eml",
        mail_with_attachment(
            "Content-Type: application/octet-stream; name=\"example.com!r.xml.gz\"",
            &gz("mail-octet-stream"),
        ),
    );
    add("textxml.eml", mail_with_attachment(
        "Content-Type: text/xml; charset=utf-8\r\nContent-Disposition: attachment; filename=\"r.xml\"",
        &xml("mail-text-xml")));
    add("rfc2231.eml", mail_with_attachment(
        "Content-Type: application/gzip\r\nContent-Disposition: attachment;\r\n \
         filename*0*=UTF-8''google.com%21example.com%211700000000;\r\n filename*1=\"!1700086399.xml.gz\"",
        &gz("mail-rfc2231-name")));
    add("body.eml", mail_whole_body(&gz("mail-whole-body")));
    let inner = mail_with_attachment(
        "Content-Type: application/zip; name=\"f.zip\"",
        &zip(&[("f.xml", &xml("mail-forwarded-rfc822"))]),
    );
    add("forwarded.eml", forwarded(&inner));
    let mbox = [
        b"From dmarc@a.example Mon Nov 23 00:00:00 2026\n".as_slice(),
        &mail_with_attachment("Content-Type: application/gzip", &gz("mbox-first")),
        b"\nFrom dmarc@b.example Mon Nov 23 00:00:01 2026\n",
        &mail_with_attachment("Content-Type: application/gzip", &gz("mbox-second")),
    ]
    .concat();
    add("reports.mbox", mbox);
    inputs
}

#[test]
fn every_container_and_mail_shape_is_stored() {
    let scratch = Scratch::new();
    let mut expected = BTreeSet::new();
    for (name, bytes) in inputs() {
        scratch.write(&format!("in/{name}"), &bytes);
    }
    for case in [
        "plain",
        "utf8-bom",
        "utf16-bom",
        "latin1",
        "gzip-any-name",
        "gzip-multi",
        "gzip-trailing",
        "gzip-in-gzip",
        "zip-member-a",
        "zip-member-b",
        "gzip-in-zip",
        "mail-application-gzip",
        "mail-x-gzip",
        "mail-zip",
        "mail-octet-stream",
        "mail-text-xml",
        "mail-rfc2231-name",
        "mail-whole-body",
        "mail-forwarded-rfc822",
        "mbox-first",
        "mbox-second",
    ] {
        expected.insert(case.to_string());
    }
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_success(&output);
    let stored: BTreeSet<String> = scratch
        .query("SELECT report_id FROM reports")
        .iter()
        .map(|row| row["report_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, expected, "{}", stderr(&output));
    let orgs = scratch.query("SELECT org_name FROM reports WHERE report_id = 'latin1'");
    assert_eq!(orgs[0]["org_name"], "M\u{fc}ller");
    let names = scratch.query("SELECT count(*) AS n FROM ingest_ledger WHERE outcome = 'stored'");
    assert_eq!(names[0]["n"], 19, "one ledger row per input file");
}

#[test]
fn the_same_report_in_every_container_counts_once() {
    let scratch = Scratch::new();
    let report = xml("same");
    scratch.write("in/a.xml", &report);
    scratch.write("in/b.xml.gz", &gzip(&report));
    scratch.write("in/c.zip", &zip(&[("c.xml", &report)]));
    scratch.write(
        "in/d.eml",
        &mail_with_attachment("Content-Type: application/gzip", &gzip(&report)),
    );
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_success(&output);
    assert_eq!(
        stderr(&output).matches("duplicate: ").count(),
        3,
        "{}",
        stderr(&output)
    );
    assert_eq!(totals(&scratch.stats()), [1, 2, 10, 5]);
}

#[test]
fn bombs_are_refused_and_good_reports_beside_them_are_kept() {
    let scratch = Scratch::new();
    let zeros = vec![b' '; 8 * 1024 * 1024];
    scratch.write("in/bomb.xml.gz", &gzip(&zeros));
    scratch.write("in/bomb.zip", &zip(&[("bomb.xml", &zeros)]));
    let mut deep = xml("too-deep");
    for _ in 0..12 {
        deep = gzip(&deep);
    }
    scratch.write("in/deep.gz", &deep);
    scratch.write("in/good.xml", &xml("good"));
    let output = scratch
        .command()
        .args(["ingest", "--max-document-bytes", "1000000"])
        .arg(scratch.path("in"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let says = stderr(&output);
    assert!(
        says.contains("bomb.xml.gz: gzip: document larger than the limit of 1000000 bytes"),
        "{says}"
    );
    assert!(
        says.contains("bomb.zip > bomb.xml: zip: document larger than the limit"),
        "{says}"
    );
    assert!(
        says.contains("deep.gz: containers nested deeper than 8 levels"),
        "{says}"
    );
    assert_eq!(totals(&scratch.stats())[0], 1, "the good report is stored");
}

#[test]
fn a_bad_file_is_named_with_its_reason_and_does_not_stop_the_batch() {
    let scratch = Scratch::new();
    scratch.write("in/1-good.xml", &xml("one"));
    scratch.write("in/2-broken.xml", &xml("broken")[..300]);
    scratch.write("in/3-binary.bin", b"\x00\x01\x02\x03 not a report");
    scratch.write("in/4-good.xml.gz", &gzip(&xml("two")));
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_eq!(output.status.code(), Some(3));
    let says = stderr(&output);
    let broken = says
        .lines()
        .find(|l| l.contains("2-broken.xml"))
        .expect("broken file named");
    assert!(
        broken.starts_with("rejected: ") && broken.contains("truncated"),
        "{broken}"
    );
    assert!(
        says.contains("3-binary.bin: unrecognised content"),
        "{says}"
    );
    assert_eq!(totals(&scratch.stats())[0], 2);
    let ledger =
        scratch.query("SELECT outcome, count(*) AS n FROM ingest_ledger GROUP BY ALL ORDER BY 1");
    assert_eq!(ledger[0]["outcome"], "rejected");
    assert_eq!(ledger[0]["n"], 2);
}

/// The report's XML as stored in `reports.raw_xml_gz`, gunzipped; `None` when not stored.
fn stored_xml(db: &std::path::Path) -> Option<Vec<u8>> {
    let conn = duckdb::Connection::open(db).unwrap();
    let gz: Option<Vec<u8>> = conn
        .query_row("SELECT raw_xml_gz FROM reports", [], |row| row.get(0))
        .unwrap();
    gz.map(|gz| {
        let mut xml = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut xml).unwrap();
        xml
    })
}

#[test]
fn the_original_xml_is_kept_only_when_asked() {
    let report = xml("keep");
    let plain = Scratch::new();
    let input = plain.write("in/a.xml.gz", &gzip(&report));
    assert_success(&plain.ingest(&[&input]));
    assert_eq!(stored_xml(&plain.db()), None);

    let keeping = Scratch::new();
    let input = keeping.write("in/a.xml.gz", &gzip(&report));
    assert_success(&keeping.run(["ingest".as_ref(), "--keep-xml".as_ref(), input.as_os_str()]));
    assert_eq!(stored_xml(&keeping.db()), Some(report));
}

#[test]
fn a_database_from_before_keep_xml_takes_reports_without_xml() {
    let scratch = Scratch::new();
    // The reports table as the first release created it: the XML was required.
    let old = duckdb::Connection::open(scratch.db()).unwrap();
    old.execute_batch(
        "CREATE TABLE reports (id BIGINT PRIMARY KEY, report_key VARCHAR NOT NULL UNIQUE,
           org_name VARCHAR NOT NULL, email VARCHAR, extra_contact_info VARCHAR,
           report_id VARCHAR NOT NULL, domain VARCHAR NOT NULL, begin_time TIMESTAMP NOT NULL,
           end_time TIMESTAMP NOT NULL, adkim VARCHAR, aspf VARCHAR, p VARCHAR, sp VARCHAR,
           np VARCHAR, pct INTEGER, fo VARCHAR, testing VARCHAR, discovery_method VARCHAR,
           schema_version VARCHAR, generator VARCHAR, errors VARCHAR, origin VARCHAR NOT NULL,
           ingested_at TIMESTAMP NOT NULL,
           raw_xml_gz BLOB NOT NULL USING COMPRESSION uncompressed)",
    )
    .unwrap();
    drop(old);
    let input = scratch.write("in/a.xml", &xml("old-db"));
    assert_success(&scratch.ingest(&[&input]));
    assert_eq!(totals(&scratch.stats()), [1, 2, 10, 5]);
    assert_eq!(stored_xml(&scratch.db()), None);
}

/// A bounce (RFC 3464) returning `returned` (a whole message, or only its headers), with
/// `subject`.
fn bounce(subject: &str, returned_type: &str, returned: &[u8]) -> Vec<u8> {
    [
        format!(
            "From: MAILER-DAEMON@mx.example.com\r\nTo: dmarc@example.com\r\nSubject: {subject}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\r\n\r\n\
             --dsn\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
             --dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
             Final-Recipient: rfc822; rua@other.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
             --dsn\r\nContent-Type: {returned_type}\r\n\r\n"
        )
        .as_bytes(),
        returned,
        b"\r\n--dsn--\r\n",
    ]
    .concat()
}

/// A bounce of a report this domain's own systems sent to a dead address returns that report:
/// it is not one sent to the domain, and the whole bounce is skipped, whatever it returns and
/// whatever its subject echoes.
#[test]
fn bounces_of_reports_are_skipped_whole() {
    let scratch = Scratch::new();
    let aggregate = mail_with_attachment(
        "Content-Type: application/gzip; name=\"r.xml.gz\"",
        &gzip(&xml("returned-aggregate")),
    );
    let failure = b"From: dmarc@example.com\r\nTo: ruf@other.example\r\n\
        Subject: DMARC failure report for other.example\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
        --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
        Auth-Failure: dmarc\r\nReported-Domain: other.example\r\nSource-IP: 198.51.100.23\r\n\r\n--b--\r\n";
    let headers = b"From: dmarc@example.com\r\nTo: ruf@other.example\r\n\
        Subject: DMARC failure report for other.example\r\n";
    let inputs = [
        bounce(
            "Undelivered Mail Returned to Sender",
            "message/rfc822",
            &aggregate,
        ),
        bounce(
            "Undeliverable: DMARC failure report",
            "message/rfc822",
            failure,
        ),
        bounce(
            "Undeliverable: DMARC failure report for other.example",
            "text/rfc822-headers",
            headers,
        ),
    ];
    let files: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(n, bytes)| scratch.write(&format!("bounce{n}.eml"), bytes))
        .collect();
    let output = scratch.ingest(&files);
    assert_success(&output);
    let says = stderr(&output);
    assert_eq!(
        says.matches("delivery status notification (bounce)")
            .count(),
        3,
        "{says}"
    );
    let stored = scratch.query(
        "SELECT (SELECT count(*) FROM reports) AS reports,
                (SELECT count(*) FROM failure_reports) AS failures",
    );
    assert_eq!(stored[0]["reports"], 0, "{says}");
    assert_eq!(stored[0]["failures"], 0, "{says}");
}

/// What a desktop adds around a report: a zip made on a Mac (`__MACOSX/._report.xml`,
/// `.DS_Store`), an e-mail or JSON file saved with a UTF-8 byte order mark. Each was
/// rejected (exit 3, on every run); each now gives its report and nothing else.
#[test]
fn what_a_desktop_adds_around_a_report_is_passed_over() {
    let scratch = Scratch::new();
    let mac = zip(&[
        ("report.xml", &xml("mac")),
        ("__MACOSX/._report.xml", b"\x00\x05\x16\x07 AppleDouble"),
        (".DS_Store", b"\x00\x00\x00\x01Bud1"),
        ("reports/thumbs.db", b"\xd0\xcf\x11\xe0"),
        ("Icon\r", b""),
    ]);
    scratch.write("in/mac.zip", &mac);
    let bom = |bytes: &[u8]| [&[0xEF, 0xBB, 0xBF][..], bytes].concat();
    let mail = mail_with_attachment(
        "Content-Type: application/gzip; name=\"r.xml.gz\"",
        &gzip(&xml("bom-mail")),
    );
    scratch.write("in/bom.eml", &bom(&mail));
    let tls = r#"{"organization-name":"X","date-range":{"start-datetime":"2023-01-10T00:00:00Z","end-datetime":"2023-01-10T23:59:59Z"},"report-id":"bom-json","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]}"#;
    scratch.write("in/bom.json", &bom(tls.as_bytes()));
    let output = scratch.ingest(&[scratch.path("in")]);
    assert_success(&output);
    assert_eq!(totals(&scratch.stats())[0], 2, "{}", stderr(&output));
    assert_eq!(
        scratch.query("SELECT count(*) AS n FROM tls_reports")[0]["n"],
        1
    );
    assert!(!stderr(&output).contains("rejected"), "{}", stderr(&output));
}

/// A zip holding a report and a note beside it (a README, a PDF): the report is stored and
/// the note passed over, as an e-mail's other parts are, where the zip was rejected (exit
/// 3) on every run. A zip with nothing but notes is still rejected, and so is any other
/// member that is no report (it may be one in a form duckmarc cannot read).
#[test]
fn a_zip_with_a_readme_beside_its_report_is_not_rejected() {
    let scratch = Scratch::new();
    let readme = b"\x00PDF-ish bytes, no report\n";
    let with_report = zip(&[("report.xml", &xml("readme")), ("README.pdf", readme)]);
    let with_report = scratch.write("with.zip", &with_report);
    for _ in 0..2 {
        let output = scratch.ingest(&[&with_report]);
        assert_success(&output);
        assert!(!stderr(&output).contains("rejected"), "{}", stderr(&output));
    }
    assert_eq!(totals(&scratch.stats())[0], 1);

    // Anything else that is no report may be one duckmarc cannot read: still rejected.
    let other = zip(&[("a.xml", &xml("other")), ("b.xml.bz2", b"BZh91AY&SY")]);
    let output = scratch.ingest(&[&scratch.write("other.zip", &other)]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("b.xml.bz2"), "{}", stderr(&output));

    let only = scratch.write("only.zip", &zip(&[("README.pdf", readme)]));
    let output = scratch.ingest(&[&only]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("README.pdf: unrecognised content"),
        "{}",
        stderr(&output)
    );
}

/// A UTF-8 report with a non-ASCII name, attached with `charset=us-ascii` (a sender's
/// mistake): read as the UTF-8 it is, so the same report as a file is a duplicate, not a
/// second report under a garbled name and policy domain.
#[test]
fn a_wrong_charset_label_on_a_utf8_report_does_not_make_a_second_report() {
    let scratch = Scratch::new();
    let xml = report_xml("charset", 2, 5)
        .replacen("<org_name>", "<org_name>Bücher ", 1)
        .replace(
            "<domain>example.com</domain>",
            "<domain>bücher.example</domain>",
        );
    assert!(xml.contains("Bücher") && xml.contains("<domain>bücher.example</domain>"));
    let file = scratch.write("a.xml", xml.as_bytes());
    let mail = mail_with_attachment(
        "Content-Type: text/xml; charset=us-ascii; name=\"r.xml\"",
        xml.as_bytes(),
    );
    let mail = scratch.write("b.eml", &mail);
    let output = scratch.ingest(&[file, mail]);
    assert_success(&output);
    assert_eq!(totals(&scratch.stats())[0], 1, "{}", stderr(&output));
    let stored = scratch.query("SELECT org_name, domain FROM reports");
    assert!(
        stored[0]["org_name"]
            .as_str()
            .unwrap()
            .starts_with("Bücher"),
        "{stored:?}"
    );
    assert_eq!(stored[0]["domain"], "xn--bcher-kva.example", "{stored:?}");
}
