//! What `enrich` asks DNS about each domain's policy, and the answers (`dmarc_records`,
//! `domain_existence`; queries/policy.sql reads them).

use crate::parse::dmarc_record::DmarcRecord;
use anyhow::Result;
use duckdb::{params, Connection};

const DUE: &str = include_str!("../../queries/policy_due.sql");

/// The names to ask about this run.
#[derive(Debug, Default)]
pub struct PolicyDue {
    /// Policy domains whose DMARC record is due.
    pub domains: Vec<String>,
    /// From domains below a policy domain whose existence is due.
    pub names: Vec<String>,
}

/// A DMARC record as DNS answered it: `status` found / invalid / none / several.
pub struct PolicyAnswer {
    pub domain: String,
    pub status: &'static str,
    pub record: Option<String>,
    pub tags: DmarcRecord,
    /// Where the tree walk found the record, when not at the domain's own `_dmarc` name.
    pub found_at: Option<String>,
    /// The first name the walk passed over for holding several DMARC records.
    pub several_at: Option<String>,
    /// `found_at` is a public suffix: the record is its registry's, not the owner's.
    pub found_at_public_suffix: Option<bool>,
}

/// What is due: answers older than the cutoffs (epoch seconds) are asked again.
pub fn policy_due(
    conn: &Connection,
    policy_cutoff: i64,
    existence_cutoff: i64,
) -> Result<PolicyDue> {
    conn.execute_batch(&format!(
        "SET VARIABLE policy_cutoff = make_timestamp({}::BIGINT);
         SET VARIABLE existence_cutoff = make_timestamp({}::BIGINT);
         {DUE}",
        policy_cutoff * 1_000_000,
        existence_cutoff * 1_000_000
    ))?;
    let names = |view: &str| -> Result<Vec<String>> {
        let mut statement = conn.prepare(&format!("SELECT domain FROM {view}"))?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    Ok(PolicyDue {
        domains: names("policy_domains_due")?,
        names: names("from_domains_due")?,
    })
}

/// Replaces the stored answers for the names answered, in one transaction.
pub fn save_policies(
    conn: &Connection,
    records: &[PolicyAnswer],
    existence: &[(String, &'static str)],
    now: i64,
) -> Result<()> {
    super::in_transaction(conn, |conn| {
        let mut delete = conn.prepare("DELETE FROM dmarc_records WHERE domain = ?")?;
        let mut insert = conn.prepare(
            "INSERT INTO dmarc_records (domain, status, record, p, sp, np, pct, testing, adkim,
                                        aspf, checked_at, found_at, several_at,
                                        found_at_public_suffix)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, make_timestamp(?::BIGINT), ?, ?, ?)",
        )?;
        for answer in records {
            let tags = &answer.tags;
            delete.execute([&answer.domain])?;
            insert.execute(params![
                answer.domain,
                answer.status,
                answer.record,
                tags.p,
                tags.sp,
                tags.np,
                tags.pct,
                tags.testing,
                tags.adkim,
                tags.aspf,
                now * 1_000_000,
                answer.found_at,
                answer.several_at,
                answer.found_at_public_suffix
            ])?;
        }
        let mut delete = conn.prepare("DELETE FROM domain_existence WHERE domain = ?")?;
        let mut insert =
            conn.prepare("INSERT INTO domain_existence VALUES (?, ?, make_timestamp(?::BIGINT))")?;
        for (name, status) in existence {
            delete.execute([name])?;
            insert.execute(params![name, status, now * 1_000_000])?;
        }
        Ok(())
    })
}
