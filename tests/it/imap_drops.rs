//! `duckmarc fetch` when the connection to Dovecot is lost in the middle of a FETCH, through
//! a proxy on 127.0.0.1 that cuts it where each test wants: nothing lost, nothing twice.

use crate::common::dovecot::Dovecot;
use crate::common::reports::*;
use crate::common::*;
use std::process::Output;

/// Where a proxied connection is cut: handed every line the server sends (a message's text
/// comes in lines too), it says yes to the line before which both sides are dropped.
type Cut = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// A TCP proxy to `port`. Each connection is cut where `cut_for` says (`None`: it passes):
/// a connection lost where the test wants.
fn proxy(port: u16, mut cut_for: impl FnMut() -> Option<Cut> + Send + 'static) -> u16 {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut up_in, mut up_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut up_in, &mut up_out));
            let mut cut = cut_for();
            let (down_in, mut down_out) = (server, client);
            std::thread::spawn(move || {
                // Whole lines only: the server waits for the client only after a line's end.
                let mut reader = std::io::BufReader::new(down_in.try_clone().unwrap());
                let mut line = Vec::new();
                while let Ok(1..) = reader.read_until(b'\n', &mut line) {
                    if cut.as_mut().is_some_and(|cut| cut(&line)) {
                        break;
                    }
                    if down_out.write_all(&line).is_err() {
                        break;
                    }
                    line.clear();
                }
                let _ = down_out.shutdown(std::net::Shutdown::Both);
                let _ = down_in.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    own
}

/// The first connection cut before the first line `cut_before` says yes to; later ones pass.
fn first_connection(
    cut_before: impl FnMut(&[u8]) -> bool + Send + 'static,
) -> impl FnMut() -> Option<Cut> + Send + 'static {
    let mut cut = Some(Box::new(cut_before) as Cut);
    move || cut.take()
}

/// `fetch` through `proxy` on `port`, in batches of `batch_size`.
fn fetch_through(scratch: &Scratch, dovecot: &Dovecot, port: u16, batch_size: &str) -> Output {
    let mut args = dovecot.args("none");
    let at = args.iter().position(|a| a == "--port").unwrap();
    args[at + 1] = port.to_string();
    scratch.run([&args[..], &["--batch-size".into(), batch_size.into()]].concat())
}

#[test]
fn a_connection_dropped_mid_fetch_loses_nothing_and_counts_nothing_twice() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    let messages = 40;
    let mut size = 0;
    for i in 0..messages {
        let report = gzip(report_xml(&format!("drop-{i}"), 40, 3).as_bytes());
        let message =
            mail_with_attachment("Content-Type: application/gzip; name=\"r.xml.gz\"", &report);
        size += message.len();
        dovecot.deliver(&format!("drop-{i}"), &message);
    }
    // The first connection breaks within a message, after about half the mailbox has been
    // sent (between two, or before a FETCH's end, the message is asked for again at once:
    // the next test).
    let mut sent = 0;
    let port = proxy(
        dovecot.port,
        first_connection(move |line| {
            sent += line.len();
            let response = line.starts_with(b"* ") || line.windows(4).any(|w| w == b" OK ");
            sent > size / 2 && !response
        }),
    );
    let output = fetch_through(&scratch, &dovecot, port, "5");
    assert_eq!(
        output.status.code(),
        Some(1),
        "the broken run fails: {}",
        stderr(&output)
    );
    let stored = scratch.stats()["reports"].as_u64().unwrap();
    assert!(
        0 < stored && stored < messages as u64,
        "committed batches stay: {stored}"
    );
    let output = fetch_through(&scratch, &dovecot, port, "5");
    assert_success(&output);
    let stats = scratch.stats();
    assert_eq!(
        totals(&stats),
        [40, 1600, 4800, 2400],
        "each message once: {stats}"
    );
    assert_eq!(stats["rejected_inputs"], 0);
}

/// A connection lost between two messages of a FETCH (a server restarted, or one that hangs
/// up on a message it cannot read) ends the FETCH's responses without an error: the
/// messages not received are not taken for read, whatever the checkpoint (no --move-to).
/// They are asked for again on a new connection, the first alone, in the same run.
#[test]
fn a_connection_dropped_between_two_messages_loses_none_of_the_rest() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    deliver_reports(&dovecot, "between", 6);
    // The first connection breaks right before the third message's response.
    let mut fetches = 0;
    let port = proxy(
        dovecot.port,
        first_connection(move |line| {
            let fetch = line.starts_with(b"* ") && line.windows(8).any(|w| w == b" FETCH (");
            fetches += usize::from(fetch);
            fetches > 2
        }),
    );
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_success(&output);
    // The message the connection ended at is named.
    assert!(
        stderr(&output).contains("connection ended before message UID 3"),
        "{}",
        stderr(&output)
    );
    assert_eq!(totals(&scratch.stats())[0], 6, "every message, once");
    assert_success(&fetch_through(&scratch, &dovecot, port, "100"));
    let stats = scratch.stats();
    assert_eq!(totals(&stats)[0], 6, "nothing twice: {stats}");
    assert_eq!(stats["rejected_inputs"], 0);
}

/// A server that hangs up at the same message every time (Dovecot at a message file it cannot
/// read) held back every message after it, run after run. Asked for alone and lost again, the
/// message is passed over as a rejected input, named, once a later one came through; the
/// next run neither asks for it again nor counts anything twice.
#[test]
fn a_message_the_server_never_sends_does_not_hold_back_the_rest() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    deliver_reports(&dovecot, "poison", 6);
    let port = proxy(dovecot.port, cutting_every_connection_before(&[3]));
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("passed over as unreadable"),
        "{}",
        stderr(&output)
    );
    let stats = scratch.stats();
    assert_eq!(totals(&stats)[0], 5, "every other message: {stats}");
    assert_eq!(stats["rejected_inputs"], 1);
    let rejected =
        scratch.query("SELECT origin, reason FROM ingest_ledger WHERE outcome = 'rejected'");
    let text = |column: &str| rejected[0][column].as_str().unwrap_or_default().to_string();
    assert!(
        text("origin").ends_with(";UID=3")
            && text("reason").contains("ended the connection at this message"),
        "{rejected:?}"
    );
    // Not asked for again (it would be rejected again: exit code 3).
    assert_success(&fetch_through(&scratch, &dovecot, port, "100"));
    let stats = scratch.stats();
    assert_eq!(totals(&stats)[0], 5, "nothing twice: {stats}");
    assert_eq!(stats["rejected_inputs"], 1);
}

/// Two messages cut at twice with none coming through between: the server may be unable to
/// send any message (its storage down), and passing them over would lose them all. The run
/// ends (exit 1) with nothing rejected; the last message cut at twice, with none after it to
/// come through, is not passed over either, until a later message does come through.
#[test]
fn messages_the_server_may_not_be_able_to_send_are_not_passed_over() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    deliver_reports(&dovecot, "outage", 4);
    let port = proxy(dovecot.port, cutting_every_connection_before(&[3, 4]));
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the server may be unable to send any"),
        "{}",
        stderr(&output)
    );
    let stats = scratch.stats();
    assert_eq!(
        (totals(&stats)[0], stats["rejected_inputs"].as_u64()),
        (2, Some(0)),
        "{stats}"
    );
    // Only the last message cut at: nothing after it shows the server can send mail.
    let port = proxy(dovecot.port, cutting_every_connection_before(&[4]));
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_success(&output);
    assert!(
        stderr(&output).contains("asked for again by the next pass"),
        "{}",
        stderr(&output)
    );
    let stats = scratch.stats();
    assert_eq!(
        (totals(&stats)[0], stats["rejected_inputs"].as_u64()),
        (3, Some(0)),
        "{stats}"
    );
    // A later message comes through: UID 4 is passed over, UID 5 stored.
    deliver_report(&dovecot, "outage-4");
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let stats = scratch.stats();
    assert_eq!(
        (totals(&stats)[0], stats["rejected_inputs"].as_u64()),
        (4, Some(1)),
        "{stats}"
    );
}

/// Every connection cut before the FETCH response of each message `numbers` (sequence number
/// and UID alike in a folder nothing was removed from).
fn cutting_every_connection_before(
    numbers: &'static [u32],
) -> impl FnMut() -> Option<Cut> + Send + 'static {
    move || {
        Some(Box::new(move |line: &[u8]| {
            numbers
                .iter()
                .any(|n| line.starts_with(format!("* {n} FETCH (").as_bytes()))
        }) as Cut)
    }
}

/// `count` gzipped reports, one message each, named `{name}-{i}`.
fn deliver_reports(dovecot: &Dovecot, name: &str, count: usize) {
    for i in 0..count {
        deliver_report(dovecot, &format!("{name}-{i}"));
    }
}

/// A gzipped report of its own, in a message of its own.
fn deliver_report(dovecot: &Dovecot, id: &str) {
    let report = gzip(report_xml(id, 2, 3).as_bytes());
    let message =
        mail_with_attachment("Content-Type: application/gzip; name=\"r.xml.gz\"", &report);
    dovecot.deliver(id, &message);
}
