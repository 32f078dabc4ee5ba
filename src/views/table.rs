//! Running SQL and holding its result as a plain table for the renderers.

use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::Connection;
use serde_json::Value as Json;

/// A query result: column names and rows of JSON-compatible cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Json>>,
}

impl Table {
    /// The rows as JSON objects keyed by column name.
    pub fn to_objects(&self) -> Vec<serde_json::Map<String, Json>> {
        self.rows
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(row.iter().cloned())
                    .collect()
            })
            .collect()
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The rows split by the values of `columns` (in the order first seen), each part with
    /// every column; a key column missing from the table counts as null.
    pub fn group_by(&self, columns: &[&str]) -> Vec<(Vec<Json>, Table)> {
        let indexes: Vec<Option<usize>> = columns.iter().map(|c| self.column(c)).collect();
        let mut groups: Vec<(Vec<Json>, Table)> = Vec::new();
        let mut position: std::collections::HashMap<String, usize> = Default::default();
        for row in &self.rows {
            let key: Vec<Json> = indexes
                .iter()
                .map(|i| i.map_or(Json::Null, |i| row[i].clone()))
                .collect();
            let slot = *position
                .entry(Json::Array(key.clone()).to_string())
                .or_insert_with(|| {
                    groups.push((key, self.with_rows(Vec::new())));
                    groups.len() - 1
                });
            groups[slot].1.rows.push(row.clone());
        }
        groups
    }

    /// The same columns holding `rows`.
    pub fn with_rows(&self, rows: Vec<Vec<Json>>) -> Table {
        Table {
            columns: self.columns.clone(),
            rows,
        }
    }

    /// The value of `column` in `row` (null when either is not there).
    pub fn get(&self, row: usize, column: &str) -> Json {
        self.column(column)
            .and_then(|i| self.rows.get(row).map(|r| r[i].clone()))
            .unwrap_or(Json::Null)
    }
}

/// Runs `sql` (which may hold several statements; the last one's result is returned).
/// DuckDB splits the statements itself, so comments and quotes holding `;` are no trap.
pub fn run(conn: &Connection, sql: &str) -> Result<Table> {
    if !has_statement(sql) {
        return Ok(Table::default());
    }
    let started = std::time::Instant::now();
    let mut stmt = conn.prepare(sql).map_err(|e| sql_error(e, sql))?;
    let mut rows = stmt.query([]).map_err(|e| sql_error(e, sql))?;
    let mut table_rows = Vec::new();
    // A column of no type but NULL (`SELECT NULL`, in a user's `query`) is one duckdb-rs
    // cannot read a value of (it panicked): its cells are null.
    let mut untyped: Option<Vec<bool>> = None;
    while let Some(row) = rows.next()? {
        let statement = row.as_ref();
        let untyped = untyped.get_or_insert_with(|| {
            (0..statement.column_count())
                .map(|i| statement.column_type(i) == duckdb::arrow::datatypes::DataType::Null)
                .collect()
        });
        let cells = untyped
            .iter()
            .enumerate()
            .map(|(i, &null)| match null {
                true => Ok(Json::Null),
                false => row.get::<_, Value>(i).map(to_json),
            })
            .collect::<Result<Vec<_>, _>>()?;
        table_rows.push(cells);
    }
    drop(rows);
    // -vv shows what each query took (the first line of every file in queries/ says what it is).
    let heading: String = sql
        .trim_start()
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(70)
        .collect();
    log::debug!(
        "{:.3} s, {} rows: {heading}",
        started.elapsed().as_secs_f64(),
        table_rows.len()
    );
    Ok(Table {
        columns: stmt.column_names(),
        rows: table_rows,
    })
}

/// False for text that is only blanks and comments (DuckDB refuses to prepare nothing).
fn has_statement(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after
                .split_once('\n')
                .map_or("", |(_, next)| next)
                .trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after
                .split_once("*/")
                .map_or("", |(_, next)| next)
                .trim_start();
        } else {
            return !rest.trim_start_matches(';').trim().is_empty();
        }
    }
}

/// DuckDB's own message (which points at the error in the SQL), without the generic
/// "Error code 1: Unknown error code" the C API adds.
fn sql_error(error: duckdb::Error, sql: &str) -> anyhow::Error {
    let message = crate::store::duckdb_message(error);
    let first_line = sql
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or("");
    anyhow::anyhow!("SQL failed ({first_line}): {message}")
}

fn to_json(value: Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::TinyInt(i) => i.into(),
        Value::SmallInt(i) => i.into(),
        Value::Int(i) => i.into(),
        Value::BigInt(i) => i.into(),
        Value::UTinyInt(i) => i.into(),
        Value::USmallInt(i) => i.into(),
        Value::UInt(i) => i.into(),
        Value::UBigInt(i) => i.into(),
        // sum(BIGINT) is a HUGEINT in DuckDB; totals of report counts fit in i64.
        Value::HugeInt(i) => {
            i64::try_from(i).map_or_else(|_| Json::String(i.to_string()), Json::from)
        }
        Value::Float(f) => round_float(f64::from(f)),
        Value::Double(f) => round_float(f),
        Value::Decimal(d) => d.to_string().parse::<f64>().map_or(Json::Null, round_float),
        Value::Text(s) => Json::String(s),
        Value::List(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Value::Timestamp(unit, value) => timestamp_to_json(unit, value),
        Value::Date32(days) => chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map_or(Json::Null, |d| Json::String(d.to_string())),
        other => Json::String(format!("{other:?}")),
    }
}

/// UTC, ISO 8601 with a `Z`: DuckDB here has no time zones, and every time we store is UTC.
fn timestamp_to_json(unit: TimeUnit, value: i64) -> Json {
    let micros = match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000),
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value / 1_000,
    };
    chrono::DateTime::from_timestamp_micros(micros).map_or(Json::Null, |t| {
        Json::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    })
}

/// Rates are shown to four decimals; more digits are noise in a report.
fn round_float(f: f64) -> Json {
    if !f.is_finite() {
        return Json::Null;
    }
    serde_json::Number::from_f64((f * 10_000.0).round() / 10_000.0).map_or(Json::Null, Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    #[test]
    fn semicolons_in_comments_and_quotes_are_not_statement_ends() {
        let sql = "/* a; b */ SET VARIABLE a = 'x;y'; -- c; d\nSELECT getvariable('a') AS v;\n";
        let table = run(&memory(), sql).unwrap();
        assert_eq!(table.rows, vec![vec![Json::from("x;y")]]);
    }

    #[test]
    fn comments_alone_are_no_statement() {
        assert_eq!(
            run(&memory(), "-- nothing\n/* here */ ;").unwrap(),
            Table::default()
        );
    }
}
