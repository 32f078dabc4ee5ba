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

-- `spread_by_day(rows)`: each row of `rows` (any relation with report, record_no,
-- spread_group, begin_time, end_time and count) once per UTC day its report covers, as `day`
-- with `day_count`, its messages on that day. A report covering several days is spread in
-- proportion to the time it covers on each, group by group of its rows (`spread_group`:
-- what the caller tells apart day by day, such as whether DMARC passed): a group's messages
-- are lined up in record order and each day takes the part of the line its time covers
-- (floored cumulative shares). So every message lands on exactly one day, each group's days
-- add up to the group and differ from its share by under one message, and a report's
-- records of one message each are spread over its days in proportion too. (Spread record by
-- record instead, each of them landed whole on the report's last day: a report from noon to
-- noon showed its 300 single forged messages on the second day and its sender's 1,000
-- passing ones half on each.) Most reports cover one day and skip the spreading, which is
-- what makes this fast on millions of records. Callers pass only the columns they need
-- (`rows` is usually a CTE).
CREATE OR REPLACE TEMP MACRO spread_by_day(rows) AS TABLE
WITH spans AS (
    SELECT *,
           epoch(begin_time)::BIGINT                                          AS span_begin,
           greatest(epoch(end_time)::BIGINT, epoch(begin_time)::BIGINT + 1)   AS span_end,
           date_trunc('day', begin_time)                                      AS span_first_day,
           date_trunc('day', make_timestamp((span_end - 1) * 1000000))        AS span_last_day
    FROM query_table(rows)
),
lined_up AS (
    -- Where each record's messages start in its group's line, and the line's length.
    SELECT *,
           coalesce(sum(count) OVER (PARTITION BY report, spread_group ORDER BY record_no
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                                                                              AS line_from,
           sum(count) OVER (PARTITION BY report, spread_group)                AS line_length
    FROM spans
    WHERE span_first_day < span_last_day
),
days AS (
    -- The part of the line each day takes: [day_from, day_to).
    SELECT *,
           line_length * (greatest(span_begin, epoch(day)::BIGINT) - span_begin)
               // (span_end - span_begin)                                     AS day_from,
           line_length * (least(span_end, epoch(day)::BIGINT + 86400) - span_begin)
               // (span_end - span_begin)                                     AS day_to
    FROM (SELECT *, unnest(generate_series(span_first_day, span_last_day, INTERVAL 1 DAY)) AS day
          FROM lined_up)
)
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day, spread_group),
       span_first_day AS day, count AS day_count
FROM spans
WHERE span_first_day = span_last_day
UNION ALL
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day, spread_group,
                  line_from, line_length, day_from, day_to, day),
       day,
       CAST(greatest(0, least(line_from + count, day_to) - greatest(line_from, day_from))
            AS BIGINT)                                                        AS day_count
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
