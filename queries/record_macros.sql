-- Table macros the reports share over `selected`, from a database (selection.sql) or from
-- Parquet exports (parquet_views.sql) alike.

-- The last instant a report's period covers. Its end is exclusive: a day's report may end
-- at the next midnight (Microsoft's run 00:00 to 00:00; Google's to 23:59:59), so a period
-- ending at midnight was last seen the day before; a period of no length covers its begin.
-- spread_by_day below ends each period the same way.
CREATE OR REPLACE TEMP MACRO last_instant(begin_time, end_time) AS
    greatest(begin_time, end_time - INTERVAL 1 SECOND);

-- The last day a period covers, from its end alone (as last_instant, for periods that are
-- not empty).
CREATE OR REPLACE TEMP MACRO period_day(end_time) AS CAST(end_time - INTERVAL 1 SECOND AS DATE);

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
