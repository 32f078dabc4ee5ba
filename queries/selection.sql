-- `selected`: every record joined with its report, narrowed by the command-line filters.
-- Every report below reads from it. duckmarc sets the variables before running a report;
-- an unset variable is NULL and means "no filter". In your own `duckmarc query` files you can
-- use `selected` too, or SET VARIABLE domain = 'example.com'; first.
--   domain        policy domain, or any subdomain of it (compared as text: no wildcards)
--   since, until  UTC dates (inclusive): reports whose period overlaps them. A report that
--                 ends exactly at midnight covers nothing of the day that starts then.
--   reporter      reporting organisation (org_name), case-insensitive
--   ip_low/high   16-byte address range (an address or CIDR block given with --ip)
-- (in_selection, the filter on reports, is in queries/filters.sql.)
-- Who a source is lives in source_names (join it on source_ip; a source without a sender
-- there is 'unknown'); it is not joined here, so reports that do not need it stay fast.
CREATE OR REPLACE TEMP VIEW selected_records AS
SELECT
    rec.*,
    rep.org_name           AS reporter,
    rep.report_id,
    rep.domain             AS policy_domain,
    rep.begin_time,
    rep.end_time,
    rep.p,
    rep.sp,
    rep.pct,
    rep.testing,
    rep.reporter_id,
    coalesce(rec.dkim = 'pass' OR rec.spf = 'pass', false) AS dmarc_pass
FROM records rec
-- reporter_id stands for the reporter (the id of its first report): distinct counts per
-- reporter or of reporters per day group on this number much faster than on the name.
JOIN (SELECT r.*, f.reporter_id
      FROM reports r
      JOIN (SELECT org_name, min(id) AS reporter_id FROM reports GROUP BY org_name) f USING (org_name)) rep
  ON rep.id = rec.report
WHERE in_selection(rep.domain, rep.begin_time, rep.end_time, rep.org_name)
  AND (getvariable('ip_low') IS NULL
       OR rec.source_ip_bytes BETWEEN getvariable('ip_low') AND getvariable('ip_high'))
  -- A record of no message (RFC 9990 allows <count>0) says nothing of any mail: its address
  -- was made a sender, a new source alert and an unauthorised sender of 0 messages.
  AND rec.count > 0;

-- Without --sender/--country/--asn, `selected` is all of it; with them duckmarc narrows it
-- further (queries/selection_by_source.sql).
CREATE OR REPLACE TEMP VIEW selected AS SELECT * FROM selected_records;

-- `report_heads`: the reports the filters on reports select (domain, period, reporter), one
-- row each, whether or not any of their records is selected: a report whose records all
-- count 0 tells of no mail, but it came, from its reporter, for its domain.
CREATE OR REPLACE TEMP VIEW report_heads AS
SELECT id AS report, org_name AS reporter, domain AS policy_domain, begin_time, end_time
FROM reports
WHERE in_selection(domain, begin_time, end_time, org_name);

-- `selected_tls_policies`: every policy of the SMTP TLS reports (RFC 8460) with its report's
-- reporter and period, narrowed by --domain (the policy domain and its subdomains),
-- --since/--until (the report period) and --reporter (its organization-name, or the domain
-- of its contact address: filters.sql's tls_reporter), as `selected` is.
CREATE OR REPLACE TEMP VIEW selected_tls_policies AS
SELECT p.*, r.org_name, r.begin_time, r.end_time
FROM tls_policies p
JOIN tls_reports r ON r.id = p.report
WHERE in_selection(p.policy_domain, r.begin_time, r.end_time,
                   tls_reporter(r.org_name, r.contact_info));

-- `not_genuine_reports`: the ids of reports whose e-mail was shown not to be genuine
-- (reports.authenticity fail: a signature that does not verify; mismatch: mail that passes
-- for another organisation than the reporter the report names; none: no signature at all).
-- Anyone can mail a report to a rua= address: such a report authorises nothing
-- (classes.sql) and raises no alert on its own (alert_views.sql).
CREATE OR REPLACE TEMP VIEW not_genuine_reports AS
SELECT id FROM reports WHERE authenticity IN ('fail', 'mismatch', 'none');

-- `authenticity_by_reporter`: per reporter, the authenticity of its latest selected report
-- (reports.authenticity: pass / fail / mismatch / none / unverified / file) and how many of its
-- selected reports passed.
CREATE OR REPLACE TEMP VIEW authenticity_by_reporter AS
SELECT org_name AS reporter,
       arg_max(authenticity, (end_time, id))           AS authenticity,
       count(*) FILTER (WHERE authenticity = 'pass')   AS authentic_reports
FROM reports
WHERE in_selection(domain, begin_time, end_time, org_name)
GROUP BY org_name;

-- `resent_by_reporter`: per reporter, the copies of its selected reports that came again
-- with other counts (table resent_reports; the first copy is the one stored).
CREATE OR REPLACE TEMP VIEW resent_by_reporter AS
SELECT r.org_name AS reporter, count(*) AS resent_with_other_counts
FROM resent_reports x
JOIN reports r ON r.id = x.report
WHERE in_selection(r.domain, r.begin_time, r.end_time, r.org_name)
GROUP BY r.org_name;

-- `in_organisation(domain, org_domain)`: whether `domain` is the organisational domain
-- `org_domain` (reports.org_domain) or a name below it.
CREATE OR REPLACE TEMP MACRO in_organisation(domain, org_domain) AS
    domain = org_domain OR ends_with(domain, '.' || org_domain);

-- `signatures_of(rows)`: one row per record of `rows` (`selected`, or alert_views.sql's
-- `alertable`) and DKIM key (signing domain and selector, from dkim_results; a record
-- signed twice with one key counts once), whether a signature with it passed, and whether
-- the signing domain is the policy domain's own: the domain itself or in its organisation
-- (reports.org_domain: the organisational domain or below it, as a sibling subdomain is),
-- so that a passing signature aligns under relaxed alignment (RFC 9989 section 4.4.1). A
-- public suffix's reports (PSD DMARC) have no organisation: keys below it are others'.
-- A failing signature proves nothing about who made it: only `passed` ones show a key in use.
CREATE OR REPLACE TEMP MACRO signatures_of(rows) AS TABLE
SELECT s.policy_domain, s.report, s.record_no, s.source_ip, s.count, s.begin_time,
       s.end_time, s.reporter_id,
       lower(d.domain)                                         AS signing_domain,
       coalesce(lower(d.selector), '')                         AS selector,
       bool_or(lower(d.result) = 'pass')                       AS passed,
       any_value(lower(rtrim(d.domain, '.')) = s.policy_domain
                 OR coalesce(in_organisation(lower(rtrim(d.domain, '.')), r.org_domain), false))
                                                               AS own_domain
FROM query_table(rows) s
JOIN reports r ON r.id = s.report
JOIN dkim_results d ON d.report = s.report AND d.record_no = s.record_no
WHERE coalesce(d.domain, '') <> ''
GROUP BY s.policy_domain, s.report, s.record_no, s.source_ip, s.count, s.begin_time,
         s.end_time, s.reporter_id, lower(d.domain), coalesce(lower(d.selector), '');
