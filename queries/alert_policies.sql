-- Each report's published policy as one text, for `alerts` to see it change.
CREATE OR REPLACE TEMP VIEW policies AS
SELECT domain, end_time,
       'p=' || coalesce(p, '-') || ' sp=' || coalesce(sp, '-')
       || ' pct=' || coalesce(CAST(pct AS VARCHAR), '-') || ' t=' || coalesce(testing, '-')
       || ' adkim=' || coalesce(adkim, '-') || ' aspf=' || coalesce(aspf, '-') AS policy
FROM reports;
