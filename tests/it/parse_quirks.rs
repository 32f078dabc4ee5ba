//! Real-world XML quirks the parser must accept, recover from, or reject with a reason.

use duckmarc::parse::{parse_aggregate, ParseError};

/// A minimal RFC 7489 report around `records`, with `policy` inside <policy_published>.
fn report(policy: &str, records: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>Example Org</org_name>
    <email>dmarc@example.net</email>
    <report_id>r-1</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.com</domain>{policy}</policy_published>
  {records}
</feedback>"#
    )
}

fn record(row: &str, rest: &str) -> String {
    format!("<record><row>{row}</row>{rest}</record>")
}

const ROW: &str = "<source_ip>192.0.2.1</source_ip><count>3</count>\
    <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>";

#[test]
fn rfc9990_default_namespace() {
    let xml = report(
        "<np>reject</np><testing>y</testing><discovery_method>treewalk</discovery_method>",
        &record(ROW, ""),
    )
    .replace(
        "<feedback>",
        r#"<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"><version>1.0</version>"#,
    );
    let parsed = parse_aggregate(xml.as_bytes()).unwrap();
    assert_eq!(parsed.schema_version.as_deref(), Some("1.0"));
    assert_eq!(parsed.policy.np.as_deref(), Some("reject"));
    assert_eq!(parsed.policy.testing.as_deref(), Some("y"));
    assert_eq!(parsed.policy.discovery_method.as_deref(), Some("treewalk"));
    assert_eq!(parsed.records[0].count, 3);
}

/// Puts every element of `xml` in namespace prefix `prefix`.
fn prefix_tags(xml: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut chars = xml.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '<' {
            continue;
        }
        if chars.peek() == Some(&'/') {
            out.push(chars.next().unwrap());
        }
        if chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            out.push_str(prefix);
            out.push(':');
        }
    }
    out
}

#[test]
fn rfc9990_prefixed_namespace() {
    let plain = report("<p>reject</p>", &record(ROW, ""));
    let prefixed = prefix_tags(&plain, "d").replace(
        "<d:feedback>",
        r#"<d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">"#,
    );
    let parsed = parse_aggregate(prefixed.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{prefixed}"));
    assert_eq!(parsed, parse_aggregate(plain.as_bytes()).unwrap());
    assert_eq!(parsed.policy.p.as_deref(), Some("reject"));
}

#[test]
fn any_element_order_and_whitespace() {
    let row = "<count>\n 7 \n</count><policy_evaluated><spf> pass </spf><dkim>fail</dkim>\
        <disposition>none</disposition></policy_evaluated><source_ip> 192.0.2.9 </source_ip>";
    let records = format!(
        "<record><auth_results><spf><result>pass</result><domain>example.com</domain></spf></auth_results>\
         <identifiers><header_from> Example.COM </header_from></identifiers><row>{row}</row></record>"
    );
    let xml = report("<p>none</p>", &records);
    let parsed = parse_aggregate(xml.as_bytes()).unwrap();
    let r = &parsed.records[0];
    assert_eq!((r.count, r.source.text.as_str()), (7, "192.0.2.9"));
    assert_eq!(r.spf.as_deref(), Some("pass"));
    assert_eq!(r.header_from.as_deref(), Some("example.com"));
    assert_eq!(r.spf_results[0].domain.as_deref(), Some("example.com"));
}

#[test]
fn capitalised_and_nonstandard_values_are_kept_lowercased() {
    let row = "<source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
        <disposition>Pass</disposition><dkim>PASS</dkim><spf>Unknown</spf></policy_evaluated>";
    let auth = "<auth_results><spf><domain>example.com</domain><result>HardFail</result></spf>\
        <dkim><domain>example.com</domain><result>error</result></dkim></auth_results>";
    let parsed = parse_aggregate(report("", &record(row, auth)).as_bytes()).unwrap();
    let r = &parsed.records[0];
    assert_eq!(r.disposition.as_deref(), Some("pass"));
    assert_eq!(r.dkim.as_deref(), Some("pass"));
    assert_eq!(r.spf.as_deref(), Some("unknown"));
    assert_eq!(r.spf_results[0].result.as_deref(), Some("hardfail"));
    assert_eq!(r.dkim_results[0].result.as_deref(), Some("error"));
    assert!(r.dmarc_pass());
}

#[test]
fn every_reason_dkim_and_spf_entry_is_kept() {
    let row = "<source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>\
        <disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>\
        <reason><type>forwarded</type></reason><reason><type>local_policy</type><comment>x</comment></reason>\
        </policy_evaluated>";
    let auth = "<auth_results>\
        <dkim><domain>a.example</domain><selector>s1</selector><result>pass</result></dkim>\
        <dkim><domain>b.example</domain><result>fail</result><human_result>bad sig</human_result></dkim>\
        <dkim><domain>c.example</domain><result>neutral</result></dkim>\
        <spf><domain>a.example</domain><scope>helo</scope><result>pass</result></spf>\
        <spf><domain>b.example</domain><scope>mfrom</scope><result>fail</result></spf>\
        </auth_results>";
    let parsed = parse_aggregate(report("", &record(row, auth)).as_bytes()).unwrap();
    let r = &parsed.records[0];
    assert_eq!(r.reasons.len(), 2);
    assert_eq!(r.reasons[1].comment.as_deref(), Some("x"));
    assert_eq!(r.dkim_results.len(), 3);
    assert_eq!(r.dkim_results[1].human_result.as_deref(), Some("bad sig"));
    assert_eq!(r.spf_results.len(), 2);
    assert_eq!(r.spf_results[0].scope.as_deref(), Some("helo"));
}

#[test]
fn extension_elements_are_ignored_even_with_known_names() {
    let records = format!(
        "{}<extension><domain>evil.example</domain><record><row><count>999</count></row></record></extension>",
        record(ROW, "<x:vendor xmlns:x='urn:x'><count>5</count></x:vendor>")
    );
    let parsed = parse_aggregate(report("", &records).as_bytes()).unwrap();
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.records[0].count, 3);
    assert_eq!(parsed.policy.domain, "example.com");
}

#[test]
fn missing_optional_and_empty_elements() {
    let row = "<source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated/>";
    let parsed = parse_aggregate(
        report(
            "<adkim></adkim><p/>",
            &record(row, "<identifiers/><auth_results/>"),
        )
        .replace("<email>dmarc@example.net</email>", "")
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(parsed.email, None);
    assert_eq!(parsed.policy.adkim, None);
    assert_eq!(parsed.policy.p, None);
    let r = &parsed.records[0];
    assert_eq!(
        (r.count, r.dkim.clone(), r.header_from.clone()),
        (2, None, None)
    );
    assert!(!r.dmarc_pass());
}

#[test]
fn ip_addresses_are_canonical() {
    let rows = ["2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.44", " 192.0.2.45 "]
        .map(|ip| record(&ROW.replace("192.0.2.1", ip), ""))
        .join("");
    let parsed = parse_aggregate(report("", &rows).as_bytes()).unwrap();
    let ips: Vec<&str> = parsed
        .records
        .iter()
        .map(|r| r.source.text.as_str())
        .collect();
    assert_eq!(ips, ["2001:db8::1", "192.0.2.44", "192.0.2.45"]);
}

#[test]
fn stray_wrapper_around_feedback_is_recovered() {
    let xml = report("", &record(ROW, "")).replace(
        "<feedback>",
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><feedback>"#,
    );
    assert_eq!(parse_aggregate(xml.as_bytes()).unwrap().records.len(), 1);
}

#[test]
fn unescaped_markup_in_a_value_is_recovered() {
    let xml = report(
        "",
        &record(
            ROW,
            "<identifiers><header_from>bad<xml.net</header_from></identifiers>",
        ),
    );
    let parsed = parse_aggregate(xml.as_bytes()).unwrap();
    assert_eq!(parsed.records[0].header_from.as_deref(), Some("bad"));
    assert_eq!(parsed.records[0].count, 3);
}

#[test]
fn unescaped_ampersand_and_entities() {
    let xml = report("", &record(ROW, "")).replace("Example Org", "Smith & Sons &amp; Co &#x41;");
    assert_eq!(
        parse_aggregate(xml.as_bytes()).unwrap().org_name,
        "Smith & Sons & Co A"
    );
}

#[test]
fn invalid_utf8_byte_is_replaced_not_fatal() {
    let mut xml = report(
        "",
        &record(
            ROW,
            "<identifiers><header_from>bad_byte</header_from></identifiers>",
        ),
    )
    .into_bytes();
    let at = xml.windows(8).position(|w| w == b"bad_byte").unwrap() + 8;
    xml.insert(at, 0x91);
    let parsed = parse_aggregate(&xml).unwrap();
    assert_eq!(
        parsed.records[0].header_from.as_deref(),
        Some("bad_byte\u{FFFD}")
    );
}

#[test]
fn entity_expansion_bomb_is_not_expanded() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>"#;
    let xml = report("", &record(ROW, ""))
        .replace(r#"<?xml version="1.0" encoding="UTF-8"?>"#, bomb)
        .replace("Example Org", "&lol9;");
    let parsed = parse_aggregate(xml.as_bytes()).unwrap();
    assert_eq!(parsed.org_name, "&lol9;", "custom entities stay literal");
}

#[test]
fn truncated_document_is_rejected_with_a_reason() {
    let xml = report("", &record(ROW, ""));
    let cut = &xml[..xml.len() / 2];
    let error = parse_aggregate(cut.as_bytes()).unwrap_err();
    assert!(matches!(error, ParseError::Malformed(_)), "{error}");
}

#[test]
fn not_a_report_is_named() {
    let error = parse_aggregate(b"<html><body>hi</body></html>").unwrap_err();
    assert!(
        error.to_string().contains("no <feedback> element"),
        "{error}"
    );
}

#[test]
fn bad_count_is_rejected_with_the_value() {
    let xml = report("", &record(&ROW.replace("<count>3", "<count>three"), ""));
    let error = parse_aggregate(xml.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("three"), "{error}");
}

#[test]
fn old_draft_and_utf16_are_read() {
    let xml = report("", &record(ROW, ""));
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in xml.replace("UTF-8", "UTF-16").encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(
        parse_aggregate(&utf16).unwrap(),
        parse_aggregate(xml.as_bytes()).unwrap()
    );
}

#[test]
fn absurd_nesting_is_refused() {
    let deep = format!("<feedback>{}</feedback>", "<a>".repeat(100_000));
    let error = parse_aggregate(deep.as_bytes()).unwrap_err();
    assert!(
        error.to_string().contains("nested deeper than 256"),
        "{error}"
    );
}

/// A `<source_ip>` that is not an address keeps its messages, stored as written, and the
/// report says so once per value (a host name, an address with leading zeros, an empty one).
#[test]
fn a_source_that_is_not_an_address_is_kept_and_noted_once() {
    let row = |ip: &str| record(&ROW.replace("192.0.2.1", ip), "");
    let records = [
        row("mail.example.net"),
        row("mail.example.net"),
        row("192.000.2.1"),
        row(""),
        row("192.0.2.1"),
    ]
    .concat();
    let parsed = parse_aggregate(report("", &records).as_bytes()).unwrap();
    assert_eq!(parsed.records.len(), 5);
    assert_eq!(parsed.records[0].source.text.as_str(), "mail.example.net");
    let named: Vec<&str> = parsed
        .notes
        .iter()
        .filter_map(|note| note.strip_suffix(" is not an IP address: its records are kept as written, with no network, name or country"))
        .collect();
    assert_eq!(
        named,
        [
            "source_ip \"mail.example.net\"",
            "source_ip \"192.000.2.1\"",
            "source_ip \"\""
        ],
        "{:?}",
        parsed.notes
    );
}

/// A `<count>` or `<date_range>` written twice took the last one silently: the last is
/// still read (a record stands for its messages), and the report's notes say so.
#[test]
fn a_count_or_period_written_twice_is_noted() {
    let row = format!("{ROW}<count>7</count>");
    let xml = report("<p>none</p>", &record(&row, "")).replacen(
        "</date_range>",
        "</date_range><date_range><begin>1700000100</begin><end>1700086399</end></date_range>",
        1,
    );
    let parsed = parse_aggregate(xml.as_bytes()).expect("read");
    assert_eq!(parsed.begin, 1_700_000_100);
    let notes = parsed.notes.join("\n");
    assert!(
        notes.contains("1 records with more than one <count>: the last of each is read"),
        "{notes}"
    );
    assert!(
        notes.contains("<date_range> written more than once"),
        "{notes}"
    );
    let counts: Vec<u64> = parsed.records.iter().map(|r| r.count).collect();
    assert_eq!(counts, [7]);
}
