-- `selected` narrowed by who the source is, when --sender, --country or --asn is given
-- (run after selection.sql; kept apart so reports without them pay nothing for it):
--   sender        sender name from source_names, case-insensitive; 'unknown' for sources
--                 nothing names; an unnamed source's address, the name `report senders`
--                 gives it
--   country       ISO 3166 code of the source;  asn  its autonomous system number
CREATE OR REPLACE TEMP VIEW selected AS
SELECT *
FROM selected_records rec
WHERE (getvariable('sender') IS NULL
       OR CASE WHEN lower(getvariable('sender')) = 'unknown'
               THEN rec.source_ip NOT IN (SELECT source_ip FROM source_names WHERE sender IS NOT NULL)
               ELSE rec.source_ip IN (SELECT source_ip FROM source_names
                                      WHERE lower(sender) = lower(getvariable('sender')))
                    OR (rec.source_ip = lower(getvariable('sender'))
                        AND rec.source_ip NOT IN (SELECT source_ip FROM source_names
                                                  WHERE sender IS NOT NULL))
          END)
  AND (getvariable('country') IS NULL
       OR rec.source_ip IN (SELECT source_ip FROM source_names
                            WHERE country = upper(getvariable('country'))))
  AND (getvariable('asn') IS NULL
       OR rec.source_ip IN (SELECT source_ip FROM source_names WHERE asn = getvariable('asn')));
