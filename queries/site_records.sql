-- The static site (`duckmarc html --site`): the records of the senders that get a page of
-- their own, each with its sender's name as domain_senders.sql names it (an unnamed source
-- is its own sender, by its address). duckmarc fills the temp table site_senders (domain,
-- sender) from domain_senders.sql first.
CREATE OR REPLACE TEMP VIEW site_records AS
SELECT r.*
FROM (SELECT s.*, coalesce(n.sender, s.source_ip) AS sender
      FROM selected s
      LEFT JOIN source_names n USING (source_ip)) r
SEMI JOIN site_senders p ON p.domain = r.policy_domain AND p.sender = r.sender;
