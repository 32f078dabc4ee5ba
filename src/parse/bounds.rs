//! The bounds every value of a report is checked against where it is parsed. A report is
//! written by a stranger (anyone can mail one to a `rua=` address), so a value outside them
//! is never stored as it is. The README's "What `ingest` accepts" lists the same bounds.

/// Most messages one `<record>` may stand for: 10^10. A record is one source address with
/// one set of results over one report period; the busiest real sources send millions a day.
/// The bound also keeps `count × seconds of the period` (the daily spreading) and the sums
/// over millions of records far inside 64 bits. Above it the report is rejected: a forged
/// count would corrupt every total.
pub const MAX_COUNT: u64 = 10_000_000_000;

/// Earliest and latest report times accepted: the Unix epoch and 2100-01-01 UTC. Not a
/// tighter "plausible" window: RFC 9990's own example report is dated 1979, and real
/// reporters copy examples. Outside them the report is rejected: it cannot be placed in
/// time. A far-off begin *with* a recent end (`<begin>0</begin>`) is caught by the span.
pub const EARLIEST: i64 = 0;
pub const LATEST: i64 = 4_102_444_800;

/// Longest period one report may cover: 366 days. Receivers report daily, some weekly; a
/// longer period is a broken or hostile report, and would be spread over that many days.
pub const MAX_SPAN_SECONDS: i64 = 366 * 86_400;

/// `pct` is a percentage. Out of range it is stored as NULL with a note: the rest of the
/// report is still good data.
pub const MAX_PCT: u8 = 100;

/// Longest single value (an org_name, a domain, a comment): 64 KiB. Real values are short;
/// longer ones would only bloat keys and tables. The report is rejected.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Unreadable values named in one rejection message; more are counted, not listed.
pub const MAX_NAMED_BAD_VALUES: usize = 5;

/// Items of one list a report or input keeps (its notes, `<error>`s, an SMTP TLS policy's
/// strings or MX hosts; an input's rejections): real ones hold a handful, and a stranger's
/// thousands, joined into one database value, ran DuckDB out of memory and stopped the run.
pub const MAX_LIST_ITEMS: usize = 20;

/// Keeps the first [`MAX_LIST_ITEMS`] of `items`, then one item saying how many more there
/// were, made by `more`.
pub fn keep_first_items(items: &mut Vec<String>, more: impl FnOnce(usize) -> String) {
    if items.len() > MAX_LIST_ITEMS {
        let left_out = items.len() - MAX_LIST_ITEMS;
        items.truncate(MAX_LIST_ITEMS);
        items.push(more(left_out));
    }
}

/// Checks a report's period: both ends plausible, in order, and not too long apart.
pub fn check_period(begin: i64, end: i64) -> Result<(), String> {
    for (name, value) in [("begin", begin), ("end", end)] {
        if !(EARLIEST..LATEST).contains(&value) {
            return Err(format!(
                "date_range {name} {value} is not between 1970-01-01 and 2100-01-01"
            ));
        }
    }
    if end < begin {
        return Err(format!("date_range end {end} is before begin {begin}"));
    }
    if end - begin > MAX_SPAN_SECONDS {
        let days = (end - begin) / 86_400;
        return Err(format!(
            "date_range begin {begin} to end {end} covers {days} days (at most {} accepted)",
            MAX_SPAN_SECONDS / 86_400
        ));
    }
    Ok(())
}

/// A record's `<count>`: a non-negative integer up to [`MAX_COUNT`]. Some generators write
/// whole numbers as decimals (`5.0`, as they do epoch seconds): the same count, so read as it.
pub fn parse_count(value: &str) -> Result<u64, String> {
    let whole = match value.split_once('.') {
        Some((whole, zeros)) if !whole.is_empty() && zeros.bytes().all(|b| b == b'0') => whole,
        _ => value,
    };
    match whole.parse::<u64>() {
        Ok(count) if count <= MAX_COUNT => Ok(count),
        Ok(count) => Err(format!("count {count} is above the bound of {MAX_COUNT}")),
        Err(_) => Err(format!("count {value:?} is not a non-negative integer")),
    }
}

/// `<pct>`: `Ok(None)` when absent, `Err(note)` when present but not 0-100.
pub fn parse_pct(value: &str) -> Result<Option<u8>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<u8>() {
        Ok(pct) if pct <= MAX_PCT => Ok(Some(pct)),
        _ => Err(format!("pct {value:?} is not 0-100: stored as NULL")),
    }
}

/// Epoch seconds; some generators write `1538413632.0`.
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    match value.parse::<f64>() {
        // Saturating: far-out values are caught by check_period, not wrapped into range.
        Ok(seconds) if seconds.is_finite() => Ok(seconds as i64),
        _ => Err(format!("{value:?} is not a time in epoch seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert!(check_period(1_700_000_000, 1_700_086_399).is_ok());
        assert!(check_period(0, 1_700_086_399)
            .unwrap_err()
            .contains("begin 0"));
        assert!(check_period(302_832_000, 302_918_399).is_ok()); // RFC 9990's example
        assert!(check_period(-1, 86_399).unwrap_err().contains("begin -1"));
        assert!(check_period(1_700_000_000, 99_999_999_999_999)
            .unwrap_err()
            .contains("end"));
        assert!(check_period(1_700_086_399, 1_700_000_000)
            .unwrap_err()
            .contains("before"));
        assert!(check_period(1_600_000_000, 1_700_000_000)
            .unwrap_err()
            .contains("days"));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("10000000000"), Ok(MAX_COUNT));
        assert!(parse_count("10000000001").is_err());
        assert!(parse_count("18446744073709551616").is_err());
        assert!(parse_count("-1").is_err());
        assert_eq!(parse_count("5.0"), Ok(5));
        assert_eq!(parse_count("5."), Ok(5));
        assert!(parse_count("5.5").is_err());
        assert!(parse_count(".0").is_err());
        assert!(parse_count("1e3").is_err());
    }

    #[test]
    fn pct() {
        assert_eq!(parse_pct("100"), Ok(Some(100)));
        assert_eq!(parse_pct(""), Ok(None));
        assert!(parse_pct("4294967295").is_err());
        assert!(parse_pct("101").is_err());
    }
}
