//! The parsers' rows as a table DuckDB reads: `INSERT INTO records SELECT * FROM
//! duckmarc_rows(?)`, each report's small Arrow batch read in place, with its report id put
//! before its columns.
//!
//! Why not the Appender: it takes one batch at a time, and a fresh 2,048-row chunk per batch
//! whatever its length, so the reports' seventy-odd-row batches had to be concatenated
//! first (a copy of every row), then converted into chunks (a second), which the Appender
//! copied into a buffer of its own (a third) before inserting from it. Here DuckDB fills its
//! chunks straight from the reports' batches, and their strings are not even copied into the
//! chunks (`fill_bytes`): the insert copies each value once, into the table.

use anyhow::{anyhow, Result};
use duckdb::arrow::array::{
    Array, BinaryArray, BooleanArray, GenericByteArray, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use duckdb::arrow::datatypes::ByteArrayType;
use duckdb::arrow::datatypes::{DataType, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::core::{DataChunkHandle, FlatVector, LogicalTypeHandle, LogicalTypeId};
use duckdb::ffi::{
    duckdb_string_t, duckdb_string_t__bindgen_ty_1, duckdb_string_t__bindgen_ty_1__bindgen_ty_1,
    duckdb_string_t__bindgen_ty_1__bindgen_ty_2,
};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};
use duckdb::Connection;
use std::collections::HashMap;
use std::error::Error;
use std::ops::Range;
use std::os::raw::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

/// The name of the table function, registered on every connection that writes.
const FUNCTION: &str = "duckmarc_rows";

/// Some reports' rows for one table: each report's id and its batch (every batch with the
/// same columns).
type Rows = Vec<(i64, RecordBatch)>;

/// Rows handed to a query by a number (a table function takes only SQL values). The entry
/// lives as long as its [`Registration`]; a bound scan holds its own reference.
static REGISTERED: LazyLock<Mutex<HashMap<u64, Arc<Rows>>>> = LazyLock::new(Default::default);
static NEXT: AtomicU64 = AtomicU64::new(1);

fn registered() -> std::sync::MutexGuard<'static, HashMap<u64, Arc<Rows>>> {
    REGISTERED.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn register_function(conn: &Connection) -> Result<()> {
    conn.register_table_function::<ReportRowsScan>(FUNCTION)?;
    Ok(())
}

/// Inserts `rows` into `table`'s columns `report`, then the batches' columns.
pub fn insert(conn: &Connection, table: &str, rows: Rows) -> Result<()> {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    let columns = column_list(first);
    let sql = format!("INSERT INTO {table} (report, {columns}) SELECT * FROM {FUNCTION}(?)");
    insert_as(conn, &sql, rows)
}

/// Inserts `batch` into `table`'s columns of the batch's names (no report id): a few
/// thousand names at a time cost a third of what DuckDB's Appender took to convert and copy
/// them.
pub fn insert_batch(conn: &Connection, table: &str, batch: RecordBatch) -> Result<()> {
    let columns = column_list(&batch);
    let sql =
        format!("INSERT INTO {table} ({columns}) SELECT * EXCLUDE (report) FROM {FUNCTION}(?)");
    insert_as(conn, &sql, vec![(0, batch)])
}

/// The batch's columns by name: a table with more columns than duckmarc writes (a newer
/// duckmarc's, or a user's own) takes its rows all the same, the rest at their defaults.
fn column_list(batch: &RecordBatch) -> String {
    let schema = batch.schema();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    names.join(", ")
}

fn insert_as(conn: &Connection, sql: &str, rows: Rows) -> Result<()> {
    let registration = Registration::new(rows);
    conn.prepare_cached(sql)?.execute([registration.0])?;
    Ok(())
}

/// Rows registered until dropped.
struct Registration(u64);

impl Registration {
    fn new(rows: Rows) -> Self {
        let token = NEXT.fetch_add(1, Ordering::Relaxed);
        registered().insert(token, Arc::new(rows));
        Registration(token)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registered().remove(&self.0);
    }
}

struct ReportRowsScan;

struct Bound {
    rows: Arc<Rows>,
}

/// Where the scan is: the batch, and the row in it, that the next chunk starts at.
struct Position(Mutex<(usize, usize)>);

impl VTab for ReportRowsScan {
    type BindData = Bound;
    type InitData = Position;

    fn bind(bind: &BindInfo) -> Result<Bound, Box<dyn Error>> {
        let token = bind.get_parameter(0).to_uint64();
        let rows = registered()
            .get(&token)
            .cloned()
            .ok_or_else(|| anyhow!("{FUNCTION}: no rows registered as {token}"))?;
        bind.add_result_column("report", LogicalTypeHandle::from(LogicalTypeId::Bigint));
        let Some((_, first)) = rows.first() else {
            return Err(anyhow!("{FUNCTION}: no batches").into());
        };
        for field in first.schema().fields() {
            bind.add_result_column(field.name(), logical_type(field.data_type())?);
        }
        Ok(Bound { rows })
    }

    fn init(_: &InitInfo) -> Result<Position, Box<dyn Error>> {
        Ok(Position(Mutex::new((0, 0))))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn Error>> {
        let rows = &func.get_bind_data().rows;
        let mut position = func
            .get_init_data()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let capacity = output.flat_vector(0).capacity();
        let mut filled = 0;
        while filled < capacity {
            let (batch_no, start) = *position;
            let Some((report, batch)) = rows.get(batch_no) else {
                break;
            };
            let take = (batch.num_rows() - start).min(capacity - filled);
            fill_ids(&mut output.flat_vector(0), filled, take, *report);
            for (column, array) in batch.columns().iter().enumerate() {
                let mut vector = output.flat_vector(column + 1);
                fill(&mut vector, filled, array.as_ref(), start..start + take)?;
            }
            filled += take;
            *position = if start + take == batch.num_rows() {
                (batch_no + 1, 0)
            } else {
                (batch_no, start + take)
            };
        }
        output.set_len(filled);
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::UBigint)])
    }
}

/// The SQL type of the Arrow types the parsers build.
fn logical_type(data_type: &DataType) -> Result<LogicalTypeHandle> {
    let id = match data_type {
        DataType::Int64 => LogicalTypeId::Bigint,
        DataType::Int32 => LogicalTypeId::Integer,
        DataType::Boolean => LogicalTypeId::Boolean,
        DataType::Utf8 => LogicalTypeId::Varchar,
        DataType::Binary => LogicalTypeId::Blob,
        DataType::Timestamp(TimeUnit::Microsecond, None) => LogicalTypeId::Timestamp,
        other => return Err(anyhow!("{FUNCTION}: no column type for {other}")),
    };
    Ok(LogicalTypeHandle::from(id))
}

fn fill_ids(vector: &mut FlatVector, at: usize, count: usize, id: i64) {
    // SAFETY: a BIGINT vector holds i64s, and `at + count` is within its capacity.
    let ids = unsafe { vector.as_mut_slice::<i64>() };
    ids[at..at + count].fill(id);
}

/// Writes rows `from` of `array` into `vector`, from its row `at` on.
fn fill(vector: &mut FlatVector, at: usize, array: &dyn Array, from: Range<usize>) -> Result<()> {
    match array.data_type() {
        DataType::Int64 => {
            let values = downcast::<Int64Array>(array, FUNCTION)?;
            fill_values(vector, at, &values.values()[from.clone()])
        }
        DataType::Int32 => {
            let values = downcast::<Int32Array>(array, FUNCTION)?;
            fill_values(vector, at, &values.values()[from.clone()])
        }
        // DuckDB's TIMESTAMP is microseconds since the epoch, as an i64.
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let values = downcast::<TimestampMicrosecondArray>(array, FUNCTION)?;
            fill_values(vector, at, &values.values()[from.clone()])
        }
        DataType::Boolean => {
            let values = downcast::<BooleanArray>(array, FUNCTION)?;
            // SAFETY: a BOOLEAN vector holds one byte per row, 0 or 1, as `bool` does.
            let out = unsafe { vector.as_mut_slice::<bool>() };
            for (row, from) in from.clone().enumerate() {
                out[at + row] = values.value(from);
            }
        }
        DataType::Utf8 => fill_bytes(vector, at, downcast::<StringArray>(array, FUNCTION)?, &from),
        DataType::Binary => {
            fill_bytes(vector, at, downcast::<BinaryArray>(array, FUNCTION)?, &from)
        }
        other => return Err(anyhow!("{FUNCTION}: no column type for {other}")),
    }
    if array.null_count() > 0 {
        for (row, from) in from.enumerate() {
            if array.is_null(from) {
                vector.set_null(at + row);
            }
        }
    }
    Ok(())
}

/// `array` as the Arrow array type its data type says it is; `what` names it in the error.
pub(super) fn downcast<'a, T: 'static>(array: &'a dyn Array, what: &str) -> Result<&'a T> {
    array.as_any().downcast_ref::<T>().ok_or_else(|| {
        anyhow!(
            "{what}: a column of {} is not of the type expected",
            array.data_type()
        )
    })
}

/// Puts the strings or blobs of rows `from` into `vector` (NULLs are marked by `fill`)
/// without copying them: each value is a `duckdb_string_t` pointing into the batch, which
/// the bound scan holds until the query is done, as DuckDB's own Arrow scan does. The
/// insert copies them into the table. Copied through the C API instead (which validates
/// every string as UTF-8 again, though Arrow's already are), they were a sixth of the
/// writer's time (perf: `duckdb_vector_assign_string_element_len` and below).
fn fill_bytes<T: ByteArrayType>(
    vector: &mut FlatVector,
    at: usize,
    values: &GenericByteArray<T>,
    from: &Range<usize>,
) where
    T::Native: AsRef<[u8]>,
{
    // SAFETY: a VARCHAR or BLOB vector holds `duckdb_string_t`s, and `func` never fills past
    // its capacity.
    let out = unsafe { vector.as_mut_slice::<duckdb_string_t>() };
    for (row, from) in from.clone().enumerate() {
        if values.is_valid(from) {
            out[at + row] = string_in_place(values.value(from).as_ref());
        }
    }
}

/// The bytes DuckDB keeps inside a string value instead of pointing to them (`string_t`).
const INLINED: usize = 12;

/// `value` as DuckDB's string value: up to 12 bytes inside it (zero-padded: DuckDB compares
/// inlined strings as 16 bytes), longer ones as their first four bytes and a pointer.
fn string_in_place(value: &[u8]) -> duckdb_string_t {
    // Arrow's offsets are i32: no value in a batch is 4 GiB long.
    let length = value.len() as u32;
    let value_of = if value.len() <= INLINED {
        let mut inlined = [0; INLINED];
        inlined[..value.len()].copy_from_slice(value);
        duckdb_string_t__bindgen_ty_1 {
            inlined: duckdb_string_t__bindgen_ty_1__bindgen_ty_2 {
                length,
                inlined: inlined.map(|b| b as c_char),
            },
        }
    } else {
        let mut prefix = [0; 4];
        prefix.copy_from_slice(&value[..4]);
        duckdb_string_t__bindgen_ty_1 {
            pointer: duckdb_string_t__bindgen_ty_1__bindgen_ty_1 {
                length,
                prefix: prefix.map(|b| b as c_char),
                // DuckDB only reads through it.
                ptr: value.as_ptr().cast_mut().cast(),
            },
        }
    };
    duckdb_string_t { value: value_of }
}

fn fill_values<T: Copy>(vector: &mut FlatVector, at: usize, values: &[T]) {
    // SAFETY: the vector's type was declared from the same Arrow type in `bind`, so it holds
    // `T`s; `at + values.len()` is within its capacity (`func` never takes more).
    let out = unsafe { vector.as_mut_slice::<T>() };
    out[at..at + values.len()].copy_from_slice(values);
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckdb::arrow::array::ArrayRef;

    /// A report's batch of `rows` rows of every column type, every seventh value NULL.
    fn batch(first: i32, rows: i32) -> RecordBatch {
        let values = first..first + rows;
        let null_or = |n: i32| (n % 7 != 0).then_some(n);
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "n",
                Arc::new(values.clone().map(Some).collect::<Int32Array>()),
            ),
            (
                "big",
                Arc::new(
                    values
                        .clone()
                        .map(|n| null_or(n).map(i64::from))
                        .collect::<Int64Array>(),
                ),
            ),
            (
                "text",
                Arc::new(
                    values
                        .clone()
                        .map(|n| {
                            null_or(n).map(|n| {
                                // Short and long: DuckDB keeps the first inside its value.
                                if n % 2 == 0 {
                                    format!("v{n}")
                                } else {
                                    format!("a value long enough not to be inlined {n}")
                                }
                            })
                        })
                        .collect::<StringArray>(),
                ),
            ),
            (
                "bytes",
                Arc::new(
                    values
                        .clone()
                        .map(|n| null_or(n).map(|n| n.to_le_bytes()))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(|b| b.as_ref().map(|b| b.as_slice()))
                        .collect::<BinaryArray>(),
                ),
            ),
            (
                "flag",
                Arc::new(
                    values
                        .map(|n| null_or(n).map(|n| n % 2 == 0))
                        .collect::<BooleanArray>(),
                ),
            ),
        ];
        RecordBatch::try_from_iter(columns).expect("columns of one length")
    }

    /// An in-memory database with the scan registered and the table `create` makes.
    fn with_table(create: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        register_function(&conn).unwrap();
        conn.execute_batch(create).unwrap();
        conn
    }

    #[test]
    fn a_batch_for_a_table_without_report_ids_keeps_its_timestamps() {
        let conn = with_table("CREATE TABLE u (n INTEGER, seen TIMESTAMP)");
        let at = [Some(1_700_000_000_123_456), None, Some(-1)];
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("n", Arc::new(Int32Array::from(vec![0, 1, 2]))),
            (
                "seen",
                Arc::new(TimestampMicrosecondArray::from(at.to_vec())),
            ),
        ];
        insert_batch(&conn, "u", RecordBatch::try_from_iter(columns).unwrap()).unwrap();
        let stored: Vec<(i32, Option<i64>)> = conn
            .prepare("SELECT n, epoch_us(seen) FROM u ORDER BY n")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(stored, vec![(0, at[0]), (1, None), (2, at[2])]);
    }

    #[test]
    fn every_row_of_reports_crossing_chunk_boundaries_is_inserted_as_it_was() {
        let conn = with_table("CREATE TABLE t (report BIGINT, n INTEGER, big BIGINT, text VARCHAR, bytes BLOB, flag BOOLEAN)");
        // 1,000 + 3,000 + 1 + 2,047 rows: chunks of 2,048 begin and end inside reports.
        let reports = vec![
            (10, batch(0, 1000)),
            (11, batch(1000, 3000)),
            (12, batch(4000, 1)),
            (13, batch(4001, 2047)),
        ];
        let probe = Arc::clone(reports[0].1.column(0));
        insert(&conn, "t", reports).unwrap();
        let mut wrong = conn
            .prepare(
                "SELECT count(*) FROM t WHERE
                   report <> CASE WHEN n < 1000 THEN 10 WHEN n < 4000 THEN 11 WHEN n = 4000 THEN 12 ELSE 13 END
                   OR (n % 7 = 0) <> (big IS NULL OR text IS NULL OR bytes IS NULL OR flag IS NULL)
                   OR (n % 7 = 0) <> (big IS NULL AND text IS NULL AND bytes IS NULL AND flag IS NULL)
                   OR big <> n
                   OR text <> CASE WHEN n % 2 = 0 THEN 'v' || n
                                   ELSE 'a value long enough not to be inlined ' || n END
                   OR flag <> (n % 2 = 0)
                   OR octet_length(bytes) <> 4",
            )
            .unwrap();
        let wrong: i64 = wrong.query_row([], |row| row.get(0)).unwrap();
        let (rows, distinct): (i64, i64) = conn
            .query_row("SELECT count(*), count(DISTINCT n) FROM t", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((rows, distinct, wrong), (6048, 6048, 0));
        // The bytes as written (little-endian), for one row.
        let bytes: Vec<u8> = conn
            .query_row("SELECT bytes FROM t WHERE n = 4001", [], |row| row.get(0))
            .unwrap();
        assert_eq!(bytes, 4001i32.to_le_bytes());
        // Nothing holds the rows once they are stored: not the registry, not DuckDB. (The
        // registry itself is shared with the other tests running at the same time: whether
        // it is empty says nothing of these rows.)
        assert_eq!(
            Arc::strong_count(&probe),
            1,
            "the rows are released after the insert"
        );
    }

    /// Strings of every length around DuckDB's 12 inlined bytes, and multi-byte ones, are
    /// stored as written: equal to the same text typed in SQL, one group per text.
    #[test]
    fn strings_kept_inside_or_pointed_to_are_stored_as_written() {
        let conn = with_table("CREATE TABLE t (report BIGINT, s VARCHAR)");
        let texts: Vec<String> = (0..=14)
            .map(|len| "x".repeat(len))
            .chain(["é".repeat(6), "é".repeat(7), "ab€".into()])
            .collect();
        let column: ArrayRef = Arc::new(texts.iter().map(Some).collect::<StringArray>());
        let batch = RecordBatch::try_from_iter([("s", column)]).unwrap();
        insert(&conn, "t", vec![(1, batch.clone()), (2, batch)]).unwrap();
        for text in &texts {
            let (copies, length): (i64, i64) = conn
                .query_row(
                    "SELECT count(*), any_value(octet_length(encode(s))) FROM t WHERE s = ?",
                    [text],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .unwrap();
            assert_eq!((copies, length), (2, text.len() as i64), "{text:?}");
        }
        let groups: i64 = conn
            .query_row(
                "SELECT count(*) FROM (SELECT DISTINCT s FROM t)",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(groups, texts.len() as i64);
    }
}
