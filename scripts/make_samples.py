#!/usr/bin/env python3
"""Writes sample_reports/: realistic DMARC aggregate reports in every container duckmarc reads.

The reports are our own (invented with documentation IP ranges and example domains), shaped
after what Google, Microsoft, Yahoo, Mail.Ru and RFC 9990 reporters really send. Run from the
repository root: python3 scripts/make_samples.py. Output is deterministic.
"""
import hashlib
import gzip
import io
import os
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.message import MIMEMessage
from email.mime.nonmultipart import MIMENonMultipart
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
ESP = record("198.51.100.25", 230, "none", "pass", "fail", "example.com",
             [auth("dkim", "example.com", "pass", "esp1"), auth("spf", "bounces.esp.example.net", "pass", scope="mfrom")],
             envelope_from="bounces.esp.example.net")
# A mailing list / forwarder: our DKIM survives, SPF is the forwarder's.
FORWARDED = record("203.0.113.77", 18, "none", "pass", "fail", "example.com",
                   [auth("dkim", "example.com", "pass", "s2025"), auth("spf", "lists.example.org", "pass", scope="mfrom")],
                   envelope_from="lists.example.org")
# An unregistered sender: invoicing SaaS signing with its own domain, SPF for its own bounce domain.
THIRD_PARTY = record("198.51.100.140", 41, "none", "fail", "fail", "example.com",
                     [auth("dkim", "invoices.example.net", "pass", "k1"), auth("spf", "invoices.example.net", "pass", scope="mfrom")],
                     envelope_from="invoices.example.net")
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

    # A failure (forensic) report: not an aggregate report, skipped with a reason.
    ruf = MIMEMultipart("report", boundary=boundary("ruf"), report_type="feedback-report")
    ruf["From"] = "dmarc-failures@mx.example.net"
    ruf["To"] = "dmarc-ruf@example.com"
    ruf["Subject"] = "DMARC failure report for example.com"
    ruf["Date"] = formatdate(day1 + 5000, usegmt=True)
    ruf.attach(MIMEText("A message claiming to be from example.com failed DMARC."))
    fb = MIMENonMultipart("message", "feedback-report")
    fb.set_payload("Feedback-Type: auth-failure\nVersion: 1\nAuth-Failure: dmarc\nSource-IP: 203.0.113.200\n")
    ruf.attach(fb)
    write("failure-report.eml", ruf.as_bytes())


if __name__ == "__main__":
    main()
