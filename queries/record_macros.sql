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

-- The middle of a period: the time a report that spans midnight (Mail.Ru's run from 21:00
-- UTC, Moscow's midnight) is mostly about, where one day must stand for the whole report.
CREATE OR REPLACE TEMP MACRO period_middle(begin_time, end_time) AS
    make_timestamp((epoch_us(begin_time) + epoch_us(end_time)) // 2);

-- The share (0 to 1) of a report's period [begin_time, end_time) that lies in [from_time,
-- to_time): how much of its mail counts there, as spread_by_day spreads it over days. A
-- period of no length ends where it begins, so it counts where a period ending then would
-- have its last instant: in (from_time, to_time].
CREATE OR REPLACE TEMP MACRO share_of_period(begin_time, end_time, from_time, to_time) AS
    CASE WHEN end_time <= begin_time
         THEN CAST(begin_time > from_time AND begin_time <= to_time AS DOUBLE)
         ELSE greatest(0, epoch(least(end_time, to_time)) - epoch(greatest(begin_time, from_time)))
              / (epoch(end_time) - epoch(begin_time)) END;

-- `spread_by_day(rows)`: each row of `rows` (any relation with report, record_no,
-- spread_group, begin_time, end_time and count) once per UTC day its report covers, as `day`
-- with `day_count`, its messages on that day. A report covering several days is spread in
-- proportion to the time it covers on each: each record's messages, rounded to whole
-- messages at a point of its own (so every message lands on exactly one day and the days add
-- up to the record), the points staggered along the records of its group (`spread_group`:
-- what the caller tells apart day by day, such as whether DMARC passed; the group's messages
-- lined up in record order). So a large record is on every day, in proportion; the records
-- of one message each of a group land on the days in proportion too, not all on the last;
-- and a report's single message lands on the day of its period's middle. (Spread record by
-- record, each floored on its own, a report from noon to noon showed its 300 single forged
-- messages on the second day and its sender's 1,000 passing ones half on each: 100%, then
-- 62.5% passing.) Most reports cover one day and skip the spreading, which is what makes
-- this fast on millions of records. Callers pass only the columns they need (`rows` is
-- usually a CTE).
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
    -- The seconds of the period before the day begins and ends (`covered_before`,
    -- `covered_by`), and the record's rounding point as a fraction of 2 * line_length: the
    -- middle of its place in the line (a line of one message rounds at a half).
    SELECT *,
           greatest(span_begin, epoch(day)::BIGINT) - span_begin              AS covered_before,
           least(span_end, epoch(day)::BIGINT + 86400) - span_begin           AS covered_by,
           (2 * line_from + line_length) % greatest(2 * line_length, 1)       AS rounding_point
    FROM (SELECT *, unnest(generate_series(span_first_day, span_last_day, INTERVAL 1 DAY)) AS day
          FROM lined_up)
)
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day, spread_group),
       span_first_day AS day, count AS day_count
FROM spans
WHERE span_first_day = span_last_day
UNION ALL
-- ceil(count * share + point) at the day's end less the same at its start, in integers
-- (ceil(a / d) = (a + d - 1) // d): share = covered / span, point = rounding_point / (2 *
-- line_length). Ceiling, not floor: a message whose point falls on midnight is the next
-- day's, as the instant is (a noon-to-noon report's lone message is on its second day).
SELECT * EXCLUDE (span_begin, span_end, span_first_day, span_last_day, spread_group,
                  line_from, line_length, covered_before, covered_by, rounding_point, day),
       day,
       CASE WHEN line_length = 0 THEN 0 ELSE CAST(
           (2 * line_length * count * covered_by + rounding_point * (span_end - span_begin)
            + 2 * line_length * (span_end - span_begin) - 1)
               // (2 * line_length * (span_end - span_begin))
         - (2 * line_length * count * covered_before + rounding_point * (span_end - span_begin)
            + 2 * line_length * (span_end - span_begin) - 1)
               // (2 * line_length * (span_end - span_begin))
       AS BIGINT) END                                                         AS day_count
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
    strftime(period_middle(s.begin_time, s.end_time), '%Y-%m-%d') AS day,
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
