-- The duckmarc database. All times are UTC TIMESTAMPs.
-- Every table is created here and only here; duckmarc runs this file on every open.

-- One row per distinct aggregate report. The same report received as XML, gzip, zip or
-- e-mail is stored once: report_key is org_name|report_id|domain|begin|end (epoch seconds),
-- as the report wrote them; a key that differs from a stored one only in case is a copy.
-- org_name is the reporter's name as its first report wrote it: a later report writing it in
-- another case is stored under that name (its key keeps its own).
CREATE TABLE IF NOT EXISTS reports (
    id                  BIGINT PRIMARY KEY,
    report_key          VARCHAR NOT NULL UNIQUE,
    org_name            VARCHAR NOT NULL,
    email               VARCHAR,
    extra_contact_info  VARCHAR,
    report_id           VARCHAR NOT NULL,
    domain              VARCHAR NOT NULL,   -- policy_published/domain, lower-cased
    begin_time          TIMESTAMP NOT NULL,
    end_time            TIMESTAMP NOT NULL,
    adkim               VARCHAR,            -- r / s (NULL: not reported, DMARC default r)
    aspf                VARCHAR,
    p                   VARCHAR,
    sp                  VARCHAR,
    np                  VARCHAR,            -- RFC 9990
    pct                 INTEGER,
    fo                  VARCHAR,
    testing             VARCHAR,            -- RFC 9990 t=y/n
    discovery_method    VARCHAR,            -- RFC 9990 psl / treewalk
    schema_version      VARCHAR,
    generator           VARCHAR,
    errors              VARCHAR,            -- report_metadata/error entries, one per line
    origin              VARCHAR NOT NULL,   -- the input it was first stored from
    ingested_at         TIMESTAMP NOT NULL,
    raw_xml_gz          BLOB USING COMPRESSION uncompressed, -- the original XML, gzip-compressed (only with --keep-xml)
    notes               VARCHAR,            -- what duckmarc changed while reading it (a pct out of range stored as NULL), one per line
    -- Whether the report's own e-mail passed DMARC for the reporter's domain (RFC 9990,
    -- "Report Delivery", Email): pass / fail / mismatch (passes for another organisation than the reporter) / none (an unsigned message) / unverified (DNS off or failed) /
    -- file (a bare file: no message to check). Only `pass` reports name sources.
    authenticity        VARCHAR NOT NULL DEFAULT 'file',
    -- The policy domain's organisational domain by the public suffix list (RFC 9989 section
    -- 4.10 finds it by a DNS tree walk instead; reports do not say how the receiver found
    -- it): a DKIM or SPF domain at or below it aligns with the policy domain under relaxed
    -- alignment (section 4.4), a sibling subdomain's too. NULL for a public suffix (a PSD's
    -- reports cover other organisations) or a name the list cannot place.
    org_domain          VARCHAR,
    -- Its size as stored: its records and the messages they count. A copy sent again is
    -- compared by them (RFC 9990 section 3.5.4 has a resent report reuse its identifiers)
    -- without counting the stored records again.
    record_count        BIGINT,
    message_count       BIGINT
);

-- One row per <record>. Totals must be weighted by count, never by rows.
CREATE TABLE IF NOT EXISTS records (
    report          BIGINT NOT NULL,        -- reports.id
    record_no       INTEGER NOT NULL,       -- position in the report, from 0
    source_ip       VARCHAR NOT NULL,       -- canonical text (RFC 5952 for IPv6)
    source_ip_bytes BLOB,                   -- 16 bytes, IPv4 as ::ffff:a.b.c.d; NULL if unparsable
    count           BIGINT NOT NULL,
    disposition     VARCHAR,                -- none / quarantine / reject / pass ..., lower-cased
    dkim            VARCHAR,                -- policy_evaluated: pass / fail ..., lower-cased (worked out from the auth results where missing: reports.notes)
    spf             VARCHAR,
    header_from     VARCHAR,
    envelope_from   VARCHAR,
    envelope_to     VARCHAR,
    -- Recomputed by duckmarc from auth_results, adkim/aspf and the public suffix list, to
    -- explain failures. The receiver's dkim/spf above stay authoritative for every total.
    dkim_aligned    BOOLEAN NOT NULL,
    spf_aligned     BOOLEAN NOT NULL,
    diagnosis       VARCHAR NOT NULL,       -- see README: aligned, forwarded, spf_other_domain ...
    own_dkim_failed BOOLEAN NOT NULL DEFAULT false, -- a DKIM signature of the From domain's organisation did not verify (fail, permerror, temperror, neutral, policy)
    -- What a stricter policy would do with it (queries/classes.sql), from override_reasons and
    -- header_from, worked out at ingest (src/transform/coverage.rs):
    kept_override   BOOLEAN NOT NULL DEFAULT false, -- forwarded / trusted_forwarder / mailing_list / local_policy
    forwarding_override BOOLEAN NOT NULL DEFAULT false, -- a forwarder or list override, or local_policy with arc=pass
    from_subdomain  BOOLEAN NOT NULL DEFAULT false -- header_from is a subdomain of the policy domain (sp/np cover it)
);

-- Every DKIM and SPF result and every policy override reason, never collapsed.
CREATE TABLE IF NOT EXISTS dkim_results (
    report BIGINT NOT NULL, record_no INTEGER NOT NULL, idx INTEGER NOT NULL,
    domain VARCHAR, selector VARCHAR, result VARCHAR, human_result VARCHAR
);
CREATE TABLE IF NOT EXISTS spf_results (
    report BIGINT NOT NULL, record_no INTEGER NOT NULL, idx INTEGER NOT NULL,
    domain VARCHAR, scope VARCHAR, result VARCHAR, human_result VARCHAR
);
CREATE TABLE IF NOT EXISTS override_reasons (
    report BIGINT NOT NULL, record_no INTEGER NOT NULL, idx INTEGER NOT NULL,
    type VARCHAR, comment VARCHAR
);

-- Every input ever seen and what became of it. outcome: stored (at least one new report),
-- duplicate (only reports already stored), skipped (a kind of report duckmarc does not store),
-- rejected. An input skipped for its kind is read again by a duckmarc that stores that kind.
CREATE TABLE IF NOT EXISTS ingest_ledger (
    input_hash        VARCHAR NOT NULL,     -- BLAKE3 of the input's bytes
    origin            VARCHAR NOT NULL,     -- file path or imap://folder/uid
    seen_at           TIMESTAMP NOT NULL,
    outcome           VARCHAR NOT NULL,
    reason            VARCHAR,              -- for people: what was wrong, where
    new_reports       INTEGER NOT NULL,
    duplicate_reports INTEGER NOT NULL,
    kind              VARCHAR,              -- aggregate / smtp_tls / failure_report / bounce / unknown
    code              VARCHAR               -- for scripts: unsupported_kind, malformed, invalid_value ... (see README)
);

-- IMAP: per account and folder, the UIDVALIDITY seen and the highest UID stored, saved in the
-- same transaction as the reports of that batch.
CREATE TABLE IF NOT EXISTS imap_checkpoints (
    account      VARCHAR PRIMARY KEY,        -- imap://user@host:port/folder
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL
);

-- SMTP TLS reports (RFC 8460): one row per distinct report (report_key is
-- tls|org_name|report_id|begin|end), one per policy, one per failure detail; never collapsed.
CREATE SEQUENCE IF NOT EXISTS tls_report_ids;
CREATE TABLE IF NOT EXISTS tls_reports (
    id              BIGINT PRIMARY KEY,
    report_key      VARCHAR NOT NULL UNIQUE,
    org_name        VARCHAR NOT NULL,
    contact_info    VARCHAR,
    report_id       VARCHAR NOT NULL,
    begin_time      TIMESTAMP NOT NULL,
    end_time        TIMESTAMP NOT NULL,
    origin          VARCHAR NOT NULL,
    ingested_at     TIMESTAMP NOT NULL,
    notes           VARCHAR,            -- what duckmarc changed while reading it, one per line
    authenticity    VARCHAR NOT NULL DEFAULT 'unverified'   -- as reports.authenticity
);
CREATE TABLE IF NOT EXISTS tls_policies (
    report              BIGINT NOT NULL,    -- tls_reports.id
    policy_no           INTEGER NOT NULL,
    policy_type         VARCHAR NOT NULL,   -- sts / tlsa / no-policy-found
    policy_domain       VARCHAR NOT NULL,   -- lower-cased
    policy_strings      VARCHAR[] NOT NULL,
    mx_hosts            VARCHAR[] NOT NULL,
    successful_sessions BIGINT NOT NULL,
    failed_sessions     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tls_failures (
    report                 BIGINT NOT NULL,
    policy_no              INTEGER NOT NULL,
    idx                    INTEGER NOT NULL,
    result_type            VARCHAR NOT NULL,   -- starttls-not-supported, certificate-expired ...
    sending_mta_ip         VARCHAR,
    receiving_mx_hostname  VARCHAR,
    receiving_mx_helo      VARCHAR,
    receiving_ip           VARCHAR,
    failed_sessions        BIGINT NOT NULL,
    additional_information VARCHAR,
    failure_reason_code    VARCHAR,
    sending_mta_ip_bytes   BLOB                -- as records.source_ip_bytes, for --ip
);

-- DMARC failure (forensic) reports (RFC 6591): one row per report, the ARF fields and the
-- original message's headers. original_body only with --keep-failure-bodies (personal data).
CREATE SEQUENCE IF NOT EXISTS failure_report_ids;
CREATE TABLE IF NOT EXISTS failure_reports (
    id                     BIGINT PRIMARY KEY,
    report_key             VARCHAR NOT NULL UNIQUE, -- digest of the reporter's fields and the original's headers
    reporter               VARCHAR NOT NULL,        -- the report e-mail's From address
    reported_at            TIMESTAMP,               -- the report e-mail's Date
    feedback_type          VARCHAR NOT NULL,        -- auth-failure ...
    user_agent             VARCHAR,
    arrival_date           TIMESTAMP,               -- when the receiver got the original
    source_ip              VARCHAR,                 -- canonical text, as records.source_ip
    source_ip_bytes        BLOB,                    -- as records.source_ip_bytes
    reported_domain        VARCHAR NOT NULL,        -- lower-cased
    original_mail_from     VARCHAR,
    original_rcpt_to       VARCHAR,
    auth_failure           VARCHAR,                 -- dmarc / dkim / spf ...
    delivery_result        VARCHAR,                 -- delivered / spam / policy / reject ...
    dkim_domain            VARCHAR,
    dkim_identity          VARCHAR,
    dkim_selector          VARCHAR,
    spf_dns                VARCHAR,
    identity_alignment     VARCHAR,
    authentication_results VARCHAR,
    header_from            VARCHAR,                 -- the original's From address
    header_to              VARCHAR,
    subject                VARCHAR,
    message_id             VARCHAR,
    message_date           TIMESTAMP,
    original_headers       VARCHAR,
    original_body          VARCHAR,
    origin                 VARCHAR NOT NULL,
    ingested_at            TIMESTAMP NOT NULL
);

-- Who each source address is, worked out after ingest (`duckmarc enrich`): reverse DNS with
-- forward confirmation, the IP database (ASN, AS name and domain, country) and the sender map.
-- One row per distinct records.source_ip that has been named (kept unique by `enrich`, which
-- replaces rows in one transaction; no index, so replacing 200,000 rows takes a moment).
CREATE TABLE IF NOT EXISTS source_names (
    source_ip       VARCHAR NOT NULL,       -- as records.source_ip
    ptr             VARCHAR,                -- PTR name, lower-cased
    ptr_confirmed   BOOLEAN NOT NULL,       -- the PTR name resolves back to the address
    base_domain     VARCHAR,                -- the PTR name's base domain (public suffix list)
    asn             INTEGER,
    as_name         VARCHAR,
    as_domain       VARCHAR,
    country         VARCHAR,                -- ISO 3166-1 alpha-2
    sender          VARCHAR,                -- from the sender map; NULL: unknown
    sender_type     VARCHAR,                -- Email Provider, Marketing, SaaS, ISP ...
    named_by        VARCHAR,                -- ptr / spf / network (see README: who a source is)
    dns_status      VARCHAR NOT NULL,       -- ok / nxdomain / failed / skipped
    dns_checked_at  TIMESTAMP,              -- when reverse DNS answered (TTL: 7 days, NXDOMAIN 1 day)
    named_at        TIMESTAMP NOT NULL
);

-- How far naming has come: every address in the records of reports up to this id has a
-- row in source_names, so naming looks only at later reports' records (and, with reverse
-- DNS on, at the named addresses whose answer is due). One row, written in the transaction
-- that stores the names; whatever drops names must drop this row too.
CREATE TABLE IF NOT EXISTS naming_mark (
    named_through   BIGINT NOT NULL         -- reports.id
);

-- Copies of a stored report (same reporter, Report-ID, domain and period) whose counts
-- differ from the copy kept: RFC 9990 section 3.5.4 has a resent report reuse its
-- identifiers, so the first copy stays, and these are named (`report reporters`).
CREATE TABLE IF NOT EXISTS resent_reports (
    report      BIGINT NOT NULL,            -- reports.id of the copy kept
    origin      VARCHAR NOT NULL,           -- the input the differing copy came in
    records     BIGINT NOT NULL,
    messages    BIGINT NOT NULL,
    seen_at     TIMESTAMP NOT NULL
);

-- The DMARC record of each policy domain as DNS answered it (`enrich`, unless --no-dns): the
-- policy in force that `report readiness` judges (queries/policy.sql). status: found / none
-- (no DMARC record at _dmarc.DOMAIN or above it) / several (more than one at a name, which
-- receivers discard, RFC 9989 section 4.10, and none found above: no policy) / invalid (a p,
-- sp or np value that is not valid: read as p=none and nothing else, section 4.10.1). A
-- lookup that failed is not stored: asked again next run. The tags are parsed from the
-- record where it is read; NULL: the record does not have the tag. A domain without a
-- record of its own has the one the DNS tree walk finds above it (RFC 9989 section 4.10).
CREATE TABLE IF NOT EXISTS dmarc_records (
    domain      VARCHAR NOT NULL,           -- policy domain, lower-cased
    status      VARCHAR NOT NULL,
    record      VARCHAR,                    -- the TXT record as published
    p           VARCHAR,
    sp          VARCHAR,
    np          VARCHAR,
    pct         INTEGER,
    testing     VARCHAR,                    -- t=y / t=n
    adkim       VARCHAR,
    aspf        VARCHAR,
    checked_at  TIMESTAMP NOT NULL,
    found_at    VARCHAR,                    -- the name above the domain where the tree walk
                                            -- found the record (its sp, else p, is the
                                            -- domain's p and sp here); NULL: at the domain
    several_at  VARCHAR,                    -- the first name the walk passed over for holding
                                            -- several DMARC records (receivers discard them,
                                            -- section 4.10); NULL: none
    found_at_public_suffix BOOLEAN          -- found_at is a public suffix (`uk`, `gov.uk`, or psd=y): its
                                            -- record is the registry's (a PSD record, RFC 9989
                                            -- section 3.2.15), not the domain owner's
);

-- Whether a From domain below a policy domain exists in DNS (RFC 9989 section 3.2.13: a name
-- for which DNS answers NXDOMAIN does not exist), for the np tag. status: exists / nxdomain.
-- Only asked by `enrich` with DNS on; a name never asked counts as existing.
CREATE TABLE IF NOT EXISTS domain_existence (
    domain      VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,
    checked_at  TIMESTAMP NOT NULL
);

-- `duckmarc alerts` remembers what it has seen and raised, to compare each run with the last:
-- known sources and senders, each domain's published policy, alerts already raised.
CREATE TABLE IF NOT EXISTS alert_seen (
    kind     VARCHAR NOT NULL,   -- source / sender / policy, or an alert kind
    item     VARCHAR NOT NULL,   -- the address, sender name, domain or alert subject
    value    VARCHAR,            -- a policy, or what an alert was raised for (a day)
    seen_at  TIMESTAMP NOT NULL,
    scope    VARCHAR NOT NULL DEFAULT '', -- the run's filters ('' for none): state is kept per scope
    domain   VARCHAR,                     -- a raised alert's domain ('' for none; NULL: recorded before domains were kept)
    as_of    DATE                         -- a policy from reports: the last day they cover
);
CREATE TABLE IF NOT EXISTS alert_runs (
    run_at   TIMESTAMP NOT NULL,
    alerts   INTEGER NOT NULL,
    scope    VARCHAR NOT NULL DEFAULT ''
);

-- `duckmarc export --parquet DIR`: per export directory, the reports exported (ids up to
-- last_report) and the range being written (pending_to; NULL when none), so an export that was
-- cut short is written again under the same file names instead of beside what it left.
-- export_id is also written in the directory (`.duckmarc-export`), so a directory removed or
-- emptied since, or holding another database's export, is told from this one's.
CREATE TABLE IF NOT EXISTS parquet_exports (
    directory    VARCHAR PRIMARY KEY,
    last_report  BIGINT NOT NULL,
    pending_to   BIGINT,
    export_id    VARCHAR
);

-- `duckmarc check`: DNS answers with their TTL, so a second run asks nothing until they
-- expire (`--refresh` asks again). status: found (answers holds the records) / missing
-- (NXDOMAIN or no record of the kind). Failures are never cached.
CREATE TABLE IF NOT EXISTS dns_cache (
    name        VARCHAR NOT NULL,           -- lower-cased, no trailing dot
    kind        VARCHAR NOT NULL,           -- TXT / A / AAAA / MX
    status      VARCHAR NOT NULL,
    answers     VARCHAR[] NOT NULL,         -- TXT: each record's strings joined; MX: the exchanges
    expires_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (name, kind)
);
-- The findings of the latest `duckmarc check` of each domain (`report readiness` names the
-- DNS change they give, the HTML page counts their errors).
CREATE TABLE IF NOT EXISTS check_findings (
    domain      VARCHAR NOT NULL,
    record      VARCHAR NOT NULL,           -- dmarc / spf / dkim / mta-sts / tlsrpt
    severity    VARCHAR NOT NULL,           -- error / warning / info / unknown
    code        VARCHAR NOT NULL,
    message     VARCHAR NOT NULL,
    fix         VARCHAR,
    subject     VARCHAR,                    -- the source, sender, selector or include it is about
    checked_at  TIMESTAMP NOT NULL
);

-- Changes a newer duckmarc made once to data stored by an older one (by name, when).
CREATE TABLE IF NOT EXISTS data_upgrades (
    name        VARCHAR PRIMARY KEY,
    applied_at  TIMESTAMP NOT NULL
);
