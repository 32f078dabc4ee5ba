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
}

/// Runs `sql` (which may hold several statements; the last one's result is returned).
pub fn run(conn: &Connection, sql: &str) -> Result<Table> {
    let statements = split_statements(sql);
    let Some((last, before)) = statements.split_last() else {
        return Ok(Table::default());
    };
    for statement in before {
        conn.execute_batch(statement)
            .map_err(|e| sql_error(e, statement))?;
    }
    let mut stmt = conn.prepare(last).map_err(|e| sql_error(e, last))?;
    let mut rows = stmt.query([])?;
    let mut table_rows = Vec::new();
    while let Some(row) = rows.next()? {
        let width = row.as_ref().column_count();
        let cells = (0..width)
            .map(|i| row.get::<_, Value>(i).map(to_json))
            .collect::<Result<Vec<_>, _>>()?;
        table_rows.push(cells);
    }
    drop(rows);
    Ok(Table {
        columns: stmt.column_names(),
        rows: table_rows,
    })
}

/// Splits on `;` outside quotes and comments, dropping empty statements.
fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '-') if chars.peek() == Some(&'-') => {
                // a line comment: keep it out of the statement text
                for next in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
                current.push('\n');
                continue;
            }
            (None, ';') => {
                statements.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    statements.push(current);
    statements.retain(|s| !s.trim().is_empty());
    statements
}

/// DuckDB's own message (which points at the error in the SQL), without the generic
/// "Error code 1: Unknown error code" the C API adds.
fn sql_error(error: duckdb::Error, sql: &str) -> anyhow::Error {
    let message = match error {
        duckdb::Error::DuckDBFailure(_, Some(message)) => message,
        other => other.to_string(),
    };
    let first_line = sql.trim().lines().next().unwrap_or("");
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

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let sql = "SET VARIABLE a = 'x;y'; -- a comment; with a semicolon\nSELECT 1;\n";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts[0].contains("'x;y'"));
        assert!(parts[1].contains("SELECT 1"));
    }
}
