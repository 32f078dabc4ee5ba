#!/usr/bin/env python3
"""Writes sample_reports/: realistic DMARC aggregate reports in every container duckmarc reads.

The reports are our own (invented with documentation IP ranges and example domains), shaped
after what Google, Microsoft, Yahoo, Mail.Ru and RFC 9990 reporters really send. Run from the
repository root: python3 scripts/make_samples.py. Output is deterministic.
"""
import base64
import hashlib
import gzip
import io
import json
import os
import textwrap
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.message import MIMEMessage
from email.mime.text import MIMEText
from email.utils import formatdate

OUT = "sample_reports"
DAY = 86400
BEGIN = 1763856000  # 2025-11-23T00:00:00Z


def gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=(2025, 11, 24, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    return buf.getvalue()


def auth(kind, domain, result, selector=None, scope=None):
    extra = ""
    if selector:
        extra += f"<selector>{selector}</selector>"
    if scope:
        extra += f"<scope>{scope}</scope>"
    return f"<{kind}><domain>{domain}</domain>{extra}<result>{result}</result></{kind}>"


def record(ip, count, disposition, dkim, spf, header_from, auths, envelope_from=None, reason=None):
    reason_xml = ""
    if reason:
        reason_xml = f"<reason><type>{reason[0]}</type><comment>{reason[1]}</comment></reason>"
    env = f"<envelope_from>{envelope_from}</envelope_from>" if envelope_from else ""
    return f"""  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>{reason_xml}
      </policy_evaluated>
    </row>
    <identifiers>
      {env}<header_from>{header_from}</header_from>
    </identifiers>
    <auth_results>
      {''.join(auths)}
    </auth_results>
  </record>
"""


def feedback(org, email, report_id, begin, end, domain, p, records, ns="", version="", extra_policy="", adkim="r", aspf="r"):
    xmlns = f' xmlns="{ns}"' if ns else ""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback{xmlns}>
{version}  <report_metadata>
    <org_name>{org}</org_name>
    <email>{email}</email>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>{adkim}</adkim>
    <aspf>{aspf}</aspf>
    <p>{p}</p>
    <sp>{p}</sp>
    <pct>100</pct>{extra_policy}
  </policy_published>
{''.join(records)}</feedback>
""".encode()


# Our own infrastructure: mail servers 192.0.2.10/11 and 2001:db8:25::10, plus an ESP.
OWN = [
    record("192.0.2.10", 412, "none", "pass", "pass", "example.com",
           [auth("dkim", "example.com", "pass", "s2025"), auth("spf", "example.com", "pass", scope="mfrom")],
           envelope_from="example.com"),
    record("2001:db8:25::10", 97, "none", "pass", "pass", "example.com",
           [auth("dkim", "example.com", "pass", "s2025"), auth("spf", "example.com", "pass", scope="mfrom")],
           envelope_from="example.com"),
]
# An ESP (SendGrid's addresses) sending with our DKIM key and its own bounce domain.
ESP = record("167.89.115.25", 230, "none", "pass", "fail", "example.com",
             [auth("dkim", "example.com", "pass", "esp1"), auth("spf", "sendgrid.net", "pass", scope="mfrom")],
             envelope_from="sendgrid.net")
# A mailing list / forwarder: our DKIM survives, SPF is the forwarder's.
FORWARDED = record("203.0.113.77", 18, "none", "pass", "fail", "example.com",
                   [auth("dkim", "example.com", "pass", "s2025"), auth("spf", "lists.example.org", "pass", scope="mfrom")],
                   envelope_from="lists.example.org")
# An unregistered sender: an invoicing SaaS on Amazon SES, signing with its own domain and
# SES's, SPF for SES's bounce domain.
THIRD_PARTY = record("54.240.27.19", 41, "none", "fail", "fail", "example.com",
                     [auth("dkim", "invoices.example.net", "pass", "k1"), auth("dkim", "amazonses.com", "pass", "ug7n"),
                      auth("spf", "amazonses.com", "pass", scope="mfrom")],
                     envelope_from="amazonses.com")
# Spoofing: nothing authenticates.
SPOOF = record("203.0.113.200", 64, "quarantine", "fail", "fail", "example.com",
               [auth("spf", "example.com", "fail", scope="mfrom")], envelope_from="example.com")
SPOOF_V6 = record("2001:DB8:BAD:0:0:0:0:1", 9, "reject", "fail", "fail", "example.com",
                  [auth("spf", "example.com", "softfail", scope="mfrom")], envelope_from="example.com")


def boundary(text):
    return "=_" + hashlib.sha1(text.encode()).hexdigest()[:24]


def mail(subject, sender, parts, body="This is a DMARC aggregate report."):
    msg = MIMEMultipart("mixed", boundary=boundary(subject))
    msg["From"] = sender
    msg["To"] = "dmarc-rua@example.com"
    msg["Subject"] = subject
    msg["Date"] = formatdate(BEGIN + DAY + 3600, usegmt=True)
    msg["Message-ID"] = f"<{boundary(subject)}@{sender.split('@')[1]}>"
    msg.attach(MIMEText(body))
    for p in parts:
        msg.attach(p)
    return msg.as_bytes()


def attachment(data, maintype_sub, filename):
    part = MIMEApplication(data, _subtype=maintype_sub.split("/")[1])
    part.replace_header("Content-Type", f'{maintype_sub}; name="{filename}"')
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    day1, day2 = BEGIN, BEGIN + DAY

    # Google: zip attached to an e-mail, one report per day.
    google = feedback("google.com", "noreply-dmarc-support@google.com", "8817263549120345561",
                      day1, day1 + DAY - 1, "example.com", "quarantine",
                      OWN + [ESP, FORWARDED, THIRD_PARTY, SPOOF])
    zname = f"google.com!example.com!{day1}!{day1 + DAY - 1}.zip"
    write("google-zip.eml", mail("Report domain: example.com Submitter: google.com Report-ID: 8817263549120345561",
                                 "noreply-dmarc-support@google.com",
                                 [attachment(zipped(zname[:-4] + ".xml", google), "application/zip", zname)]))

    # Microsoft: gzip attachment, application/octet-stream with a .xml.gz name.
    ms = feedback("Outlook.com", "dmarcreport@microsoft.com", "a1b2c3d4e5f64718293a4b5c6d7e8f90",
                  day1, day1 + DAY, "example.com", "quarantine",
                  [OWN[0].replace("412", "155"), SPOOF.replace("64", "12"), SPOOF_V6])
    write("microsoft-gzip.eml", mail("Report Domain: example.com Submitter: protection.outlook.com Report-ID: <a1b2c3d4e5f64718293a4b5c6d7e8f90>",
                                     "dmarcreport@microsoft.com",
                                     [attachment(gz(ms), "application/octet-stream",
                                                 f"protection.outlook.com!example.com!{day1}!{day1 + DAY}.xml.gz")]))

    # Yahoo: a plain .xml.gz file.
    yahoo = feedback("Yahoo", "dmarchelp@yahooinc.com", "1763942400.581723", day1, day1 + DAY - 1,
                     "example.com", "quarantine", [OWN[0].replace("412", "88"), FORWARDED.replace("18", "4"),
                                                    ESP.replace("230", "61")])
    write(f"yahoo.com!example.com!{day1}!{day1 + DAY - 1}.xml.gz", gz(yahoo))

    # Mail.Ru: plain XML, declared in windows-1251 (as some Russian reporters do).
    mailru = feedback("Mail.Ru", "dmarc_support@corp.mail.ru", "31337000512763942400", day1, day1 + DAY,
                      "example.com", "quarantine", [OWN[0].replace("412", "23"), SPOOF.replace("64", "7")])
    mailru = mailru.replace(b'encoding="UTF-8"', b'encoding="windows-1251"')
    write(f"mail.ru!example.com!{day1}!{day1 + DAY}.xml", mailru)

    # RFC 9990 (DMARC 2.0 namespace), second domain, with np/testing/discovery_method.
    rfc9990 = feedback("GMX", "dmarc-noreply@gmx.net", "7c2f0a9e61b84e2d9d1f3a5b6c7d8e9f", day2, day2 + DAY - 1,
                       "example.org", "reject",
                       [record("192.0.2.11", 57, "none", "pass", "pass", "example.org",
                               [auth("dkim", "example.org", "pass", "mail"), auth("spf", "example.org", "pass", scope="mfrom")],
                               envelope_from="example.org"),
                        record("203.0.113.201", 5, "reject", "fail", "fail", "example.org",
                               [auth("dkim", "example.org", "fail", "mail"), auth("spf", "example.org", "fail", scope="mfrom")],
                               envelope_from="example.org")],
                       ns="urn:ietf:params:xml:ns:dmarc-2.0", version="  <version>1.0</version>\n",
                       extra_policy="\n    <np>reject</np>\n    <testing>n</testing>\n    <discovery_method>treewalk</discovery_method>")
    write(f"gmx.net!example.org!{day2}!{day2 + DAY - 1}.xml", rfc9990)

    # A small provider that reports three days at once, zipped.
    multi = feedback("mx.example.net", "postmaster@mx.example.net", "weekly-2025-47", day1, day1 + 3 * DAY - 1,
                     "example.com", "quarantine",
                     [OWN[0].replace("412", "30"), FORWARDED.replace("18", "3"),
                      SPOOF.replace("64", "6").replace("quarantine", "none").replace(
                          "</spf>\n      </policy_evaluated>",
                          "</spf><reason><type>local_policy</type><comment>pct sampling</comment></reason>\n      </policy_evaluated>")])
    write(f"mx.example.net!example.com!{day1}!{day1 + 3 * DAY - 1}.zip",
          zipped(f"mx.example.net!example.com!{day1}!{day1 + 3 * DAY - 1}.xml", multi))

    # Google again for day 2, forwarded by a colleague as message/rfc822 inside another message.
    google2 = feedback("google.com", "noreply-dmarc-support@google.com", "8817263549120399999",
                       day2, day2 + DAY - 1, "example.com", "quarantine",
                       [OWN[0].replace("412", "398"), OWN[1].replace("97", "101"), ESP.replace("230", "244"), SPOOF.replace("64", "51")])
    zname2 = f"google.com!example.com!{day2}!{day2 + DAY - 1}.zip"
    inner = mail("Report domain: example.com Submitter: google.com Report-ID: 8817263549120399999",
                 "noreply-dmarc-support@google.com",
                 [attachment(zipped(zname2[:-4] + ".xml", google2), "application/zip", zname2)])
    from email import message_from_bytes
    outer = MIMEMultipart("mixed", boundary=boundary("forwarded"))
    outer["From"] = "alice@example.com"
    outer["To"] = "postmaster@example.com"
    outer["Subject"] = "Fwd: Report domain: example.com Submitter: google.com"
    outer["Date"] = formatdate(day2 + DAY + 7200, usegmt=True)
    outer.attach(MIMEText("FYI, this one landed in my inbox."))
    outer.attach(MIMEMessage(message_from_bytes(inner)))
    write("forwarded-google.eml", outer.as_bytes())

    # The same Yahoo report again, as a zip: stored once (de-duplication).
    write("yahoo-again.zip", zipped("yahoo-report.xml", yahoo))

    # Failure (forensic) reports, written out whole: their layout is the point. One with
    # the original's headers only (text/rfc822-headers), one with the whole original message.
    write("failure-report.eml", FAILURE_HEADERS_ONLY.encode())
    write("failure-report-google-with-message.eml", FAILURE_WITH_MESSAGE.encode())

    # SMTP TLS reports (RFC 8460) from three reporters, in their usual containers.
    write_tls_reports()


def tls_report(org, contact, report_id, start, end, policies):
    return {"organization-name": org, "date-range": {"start-datetime": start, "end-datetime": end},
            "contact-info": contact, "report-id": report_id, "policies": policies}


def write_tls_reports():
    sts = ["version: STSv1", "mode: enforce", "mx: mx1.example.com", "mx: mx2.example.com", "max_age: 604800"]
    sts_policy = {"policy-type": "sts", "policy-string": sts, "policy-domain": "example.com",
                  "mx-host": ["mx1.example.com", "mx2.example.com"]}
    # Google: gzip JSON attached to a multipart/report; report-type=tlsrpt e-mail.
    google = tls_report("Google Inc.", "smtp-tls-reporting@google.com", "2025-11-23T00:00:00Z_example.com",
        "2025-11-23T00:00:00Z", "2025-11-23T23:59:59Z",
        [{"policy": sts_policy,
          "summary": {"total-successful-session-count": 12045, "total-failure-session-count": 12},
          "failure-details": [
            {"result-type": "certificate-expired", "sending-mta-ip": "209.85.220.41",
             "receiving-mx-hostname": "mx2.example.com", "receiving-ip": "192.0.2.25", "failed-session-count": 9},
            {"result-type": "certificate-expired", "sending-mta-ip": "2607:f8b0:4864:20::b2f",
             "receiving-mx-hostname": "mx2.example.com", "receiving-ip": "192.0.2.25", "failed-session-count": 3}]}])
    body = gzip.compress(json.dumps(google, indent=2).encode(), mtime=0)
    b64 = "\n".join(textwrap.wrap(base64.b64encode(body).decode(), 76))
    name = "google.com!example.com!1763856000!1763942399!001.json.gz"
    write("google-tls.eml", GOOGLE_TLS_MAIL.format(name=name, b64=b64).encode())
    # Microsoft: gzip JSON, one policy with a failure and one domain without a policy.
    microsoft = tls_report("Microsoft Corporation", "tlsrpt-noreply@microsoft.com", "133767616000000000+example.com",
        "2025-11-23T00:00:00Z", "2025-11-24T00:00:00Z",
        [{"policy": sts_policy,
          "summary": {"total-successful-session-count": 3310, "total-failure-session-count": 4},
          "failure-details": [
            {"result-type": "certificate-host-mismatch", "sending-mta-ip": "40.107.22.95",
             "receiving-mx-hostname": "mx2.example.com", "receiving-mx-helo": "mail.hosting.example",
             "receiving-ip": "192.0.2.25", "failed-session-count": 4,
             "additional-information": "https://aka.ms/tlsrpt-host-mismatch",
             "failure-reason-code": "certificate names mail.hosting.example"}]},
         {"policy": {"policy-type": "no-policy-found", "policy-domain": "lists.example.com"},
          "summary": {"total-successful-session-count": 220, "total-failure-session-count": 0}}])
    write("microsoft-tls.json.gz", gzip.compress(json.dumps(microsoft).encode(), mtime=0))
    # Mail.ru: plain JSON, policy fetch errors without sending addresses.
    mailru = tls_report("Mail.ru", "tls_support@corp.mail.ru", "0d4f6a52-9d1e-4c1b-8d61-1f0c2d3e4a5b@mail.ru",
        "2025-11-23T00:00:00Z", "2025-11-24T00:00:00Z",
        [{"policy": {"policy-type": "sts", "policy-domain": "example.org"},
          "summary": {"total-successful-session-count": 0, "total-failure-session-count": 2},
          "failure-details": [
            {"failed-session-count": 1, "failure-reason-code": "bad https response code: 404",
             "result-type": "sts-policy-fetch-error"},
            {"failed-session-count": 1, "failure-reason-code": "bad https response code: 404",
             "result-type": "sts-policy-fetch-error"}]}])
    write("mail.ru-tls.json", (json.dumps(mailru, indent=3, sort_keys=True) + "\n").encode())


GOOGLE_TLS_MAIL = """Date: Mon, 24 Nov 2025 03:53:20 -0800
TLS-Report-Domain: example.com
TLS-Report-Submitter: google.com
Message-ID: <6923c4e0.050a0220.a0566.1e8dtls@google.com>
Subject: Report Domain: example.com Submitter: google.com Report-ID: <2025.11.23T00.00.00Z+example.com@google.com>
From: noreply-smtp-tls-reporting@google.com
To: tls-reports@example.com
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3d4e5f60718"; report-type=tlsrpt

--000000000000a1b2c3d4e5f60718
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

This is an aggregate TLS report from google.com

--000000000000a1b2c3d4e5f60718
Content-Type: application/tlsrpt+gzip; name="{name}"
Content-Disposition: attachment; filename="{name}"
Content-Transfer-Encoding: base64

{b64}
--000000000000a1b2c3d4e5f60718--
"""

FAILURE_HEADERS_ONLY = """Content-Type: multipart/report; report-type="feedback-report";
 boundary="=_d5a69996b166bdb5b748a212"
MIME-Version: 1.0
From: dmarc-failures@mx.example.net
To: dmarc-ruf@example.com
Subject: DMARC failure report for example.com
Date: Sun, 23 Nov 2025 01:23:20 GMT
Message-ID: <ruf-20251123-0001@mx.example.net>

--=_d5a69996b166bdb5b748a212
Content-Type: text/plain; charset="us-ascii"
MIME-Version: 1.0
Content-Transfer-Encoding: 7bit

A message claiming to be from example.com failed DMARC. Its headers follow;
the reporter did not include the message itself.
--=_d5a69996b166bdb5b748a212
Content-Type: message/feedback-report
MIME-Version: 1.0

Feedback-Type: auth-failure
User-Agent: ExampleMTA-DMARC/2.1
Version: 1
Original-Mail-From: <billing@example.com>
Original-Rcpt-To: <customer@mx.example.net>
Arrival-Date: Sun, 23 Nov 2025 01:23:17 +0000
Source-IP: 203.0.113.200
Reported-Domain: example.com
Authentication-Results: mx.example.net; dmarc=fail (p=quarantine dis=quarantine)
 header.from=example.com; spf=fail smtp.mailfrom=example.com; dkim=none
Auth-Failure: dmarc
Delivery-Result: spam
Identity-Alignment: none

--=_d5a69996b166bdb5b748a212
Content-Type: text/rfc822-headers
MIME-Version: 1.0

Received: from unknown (HELO invoice-mailer) ([203.0.113.200])
	by mx.example.net with ESMTP; Sun, 23 Nov 2025 01:23:17 +0000
From: "Example Billing" <billing@example.com>
To: <customer@mx.example.net>
Subject: Your invoice is overdue
Date: Sun, 23 Nov 2025 02:23:12 +0100
Message-ID: <8c1f2a@invoice-mailer>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

--=_d5a69996b166bdb5b748a212--
"""

FAILURE_WITH_MESSAGE = """Content-Type: multipart/report; report-type=feedback-report;
 boundary="b1_ruf_example_org"
MIME-Version: 1.0
From: DMARC Failure Reports <noreply-dmarc-support@google.com>
To: dmarc-ruf@example.org
Subject: [DMARC failure report] example.org, 198.51.100.77
Date: Mon, 24 Nov 2025 09:12:40 +0000
Message-ID: <ruf-8f3e1c@google.com>

--b1_ruf_example_org
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

This is a DMARC failure report for a message received from 198.51.100.77
claiming to be from example.org.

--b1_ruf_example_org
Content-Type: message/feedback-report

Feedback-Type: auth-failure
User-Agent: Google-DMARC-Reporter/1.0
Version: 1
Original-Mail-From: <newsletter@bounce.example.org>
Arrival-Date: Mon, 24 Nov 2025 09:12:31 +0000
Source-IP: 198.51.100.77
Reported-Domain: example.org
Authentication-Results: mx.google.com; dkim=fail header.d=example.org
 header.s=news2024; spf=pass smtp.mailfrom=bounce.example.org;
 dmarc=fail (p=REJECT sp=REJECT dis=REJECT) header.from=example.org
DKIM-Domain: example.org
DKIM-Selector: news2024
Auth-Failure: dkim
Delivery-Result: reject
Identity-Alignment: none

--b1_ruf_example_org
Content-Type: message/rfc822

Received: from relay.list.example ([198.51.100.77])
        by mx.google.com with ESMTPS id 5a3c; Mon, 24 Nov 2025 01:12:31 -0800
DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=news2024; h=from:to:subject;
 bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=broken
From: Example Newsletter <news@example.org>
To: reader@gmail.com
Subject: =?utf-8?q?November_news_=E2=80=93_what=27s_new?=
Date: Mon, 24 Nov 2025 10:12:20 +0100
Message-ID: <news-2025-11@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
List-Id: <news.list.example>

Dear reader,

this month's news: a private message body that duckmarc stores only with
--keep-failure-bodies.

--b1_ruf_example_org--
"""

if __name__ == "__main__":
    main()
