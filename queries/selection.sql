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
       OR rec.source_ip_bytes BETWEEN getvariable('ip_low') AND getvariable('ip_high'));

-- Without --sender/--country/--asn, `selected` is all of it; with them duckmarc narrows it
-- further (queries/selection_by_source.sql).
CREATE OR REPLACE TEMP VIEW selected AS SELECT * FROM selected_records;

-- `selected_tls_policies`: every policy of the SMTP TLS reports (RFC 8460) with its report's
-- reporter and period, narrowed by --domain (the policy domain and its subdomains),
-- --since/--until (the report period) and --reporter, as `selected` is.
CREATE OR REPLACE TEMP VIEW selected_tls_policies AS
SELECT p.*, r.org_name, r.begin_time, r.end_time
FROM tls_policies p
JOIN tls_reports r ON r.id = p.report
WHERE in_selection(p.policy_domain, r.begin_time, r.end_time, r.org_name);

-- `not_genuine_reports`: the ids of reports whose e-mail was shown not to be genuine
-- (reports.authenticity fail: a signature that does not verify; none: no signature at all).
-- Anyone can mail a report to a rua= address: such a report authorises nothing
-- (classes.sql) and raises no alert on its own (alert_views.sql).
CREATE OR REPLACE TEMP VIEW not_genuine_reports AS
SELECT id FROM reports WHERE authenticity IN ('fail', 'none');

-- `authenticity_by_reporter`: per reporter, the authenticity of its latest selected report
-- (reports.authenticity: pass / fail / none / unverified / file) and how many of its
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

-- `signatures_of(rows)`: one row per record of `rows` (`selected`, or alert_views.sql's
-- `alertable`) and DKIM key (signing domain and selector, from dkim_results; a record
-- signed twice with one key counts once), whether a signature with it passed, and whether
-- the signing domain is the policy domain's own: the domain itself, a subdomain or a parent
-- of it (relaxed alignment, RFC 9989 section 4.4.1, taken without the public suffix list).
-- A failing signature proves nothing about who made it: only `passed` ones show a key in use.
CREATE OR REPLACE TEMP MACRO signatures_of(rows) AS TABLE
SELECT s.policy_domain, s.report, s.record_no, s.source_ip, s.count, s.begin_time,
       s.end_time, s.reporter_id,
       lower(d.domain)                                         AS signing_domain,
       coalesce(lower(d.selector), '')                         AS selector,
       bool_or(lower(d.result) = 'pass')                       AS passed,
       any_value(lower(d.domain) = s.policy_domain
                 OR ends_with(lower(d.domain), '.' || s.policy_domain)
                 OR ends_with(s.policy_domain, '.' || lower(d.domain))) AS own_domain
FROM query_table(rows) s
JOIN dkim_results d ON d.report = s.report AND d.record_no = s.record_no
WHERE coalesce(d.domain, '') <> ''
GROUP BY s.policy_domain, s.report, s.record_no, s.source_ip, s.count, s.begin_time,
         s.end_time, s.reporter_id, lower(d.domain), coalesce(lower(d.selector), '');

-- `spread_by_day(rows)`: each row of `rows` (any relation with begin_time, end_time and count)
-- once per UTC day its report covers, as `day` with `day_count`, its share of count on that
-- day. A report covering several days is spread in proportion to the time it covers on each,
-- using differences of floored cumulative shares, so every message lands on exactly one day
-- and the daily totals add up to the report totals. Most reports cover one day and skip the
-- spreading, which is what makes this fast on millions of records. Callers pass only the
-- columns they need (`rows` is usually a CTE).
CREATE OR REPLACE TEMP MACRO spread_by_day(rows) AS TABLE
WITH spans AS (
    SELECT *,
           epoch(begin_time)::BIGINT                                          AS span_begin,
           greatest(epoch(end_time)::BIGINT, epoch(begin_time)::BIGINT + 1)   AS span_end,
           date_trunc('day', begin_time)                                      AS span_first_day,
           date_trunc('day', make_timestamp((span_end - 1) * 1000000))        AS span_last_day
    FROM query_table(rows)
),
days AS (
    SELECT *, unnest(generate_series(span_first_day, span_last_day, INTERVAL 1 DAY)) AS day
    FROM spans
    WHERE span_first_day < span_last_day
)
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day),
       span_first_day AS day, count AS day_count
FROM spans
WHERE span_first_day = span_last_day
UNION ALL
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day, day), day,
       (count * (least(span_end, epoch(day)::BIGINT + 86400) - span_begin)) // (span_end - span_begin)
         - (count * (greatest(span_begin, epoch(day)::BIGINT) - span_begin)) // (span_end - span_begin)
         AS day_count
FROM days;

-- `failing_records_of(rows)`: records of `rows` (a few, chosen from `selected`) with every
-- auth result in words, as `report failures` shows them; report, record_no and begin_time
-- are kept for the callers' ordering and left out of what they show.
CREATE OR REPLACE TEMP MACRO failing_records_of(rows) AS TABLE
WITH chosen AS (FROM query_table(rows)),
dkim AS (
    SELECT report, record_no,
           string_agg(coalesce(domain, '?') || coalesce('/' || selector, '') || '=' || coalesce(result, '?'),
                      ' ' ORDER BY idx) AS dkim_results
    FROM dkim_results SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
),
spf AS (
    SELECT report, record_no,
           string_agg(coalesce(scope || ':', '') || coalesce(domain, '?') || '=' || coalesce(result, '?'),
                      ' ' ORDER BY idx) AS spf_results
    FROM spf_results SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
),
reasons AS (
    SELECT report, record_no,
           string_agg(coalesce(type, '?') || coalesce(' (' || comment || ')', ''), '; ' ORDER BY idx) AS reasons
    FROM override_reasons SEMI JOIN chosen USING (report, record_no)
    GROUP BY ALL
)
SELECT
    strftime(s.begin_time, '%Y-%m-%d')   AS day,
    s.reporter,
    s.source_ip,
    s.count                              AS messages,
    s.header_from,
    s.envelope_from,
    s.disposition,
    s.dkim                               AS dkim_evaluated,
    s.spf                                AS spf_evaluated,
    dkim.dkim_results,
    spf.spf_results,
    reasons.reasons,
    s.diagnosis,
    s.policy_domain                      AS domain,
    s.report_id,
    s.report,
    s.record_no,
    s.begin_time
FROM chosen s
LEFT JOIN dkim    USING (report, record_no)
LEFT JOIN spf     USING (report, record_no)
LEFT JOIN reasons USING (report, record_no);
