//! `duckmarc fetch` when the connection to Dovecot is lost in the middle of a FETCH, through
//! a proxy on 127.0.0.1 that cuts it where each test wants: nothing lost, nothing twice.

use crate::common::dovecot::Dovecot;
use crate::common::reports::*;
use crate::common::*;
use std::process::Output;

/// A TCP proxy to `port`. On its first connection it hands `cut_before` every line the
/// server sends (a message's text comes in lines too) and drops both sides before the first
/// line it says yes to: a connection lost where the test wants. Later connections pass.
fn proxy(port: u16, cut_before: impl FnMut(&[u8]) -> bool + Send + 'static) -> u16 {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    let mut cut_before = Some(cut_before);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut up_in, mut up_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut up_in, &mut up_out));
            let mut cut = cut_before.take();
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
    // The first connection breaks after about half the mailbox has been sent.
    let mut sent = 0;
    let port = proxy(dovecot.port, move |line| {
        sent += line.len();
        sent > size / 2
    });
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
#[test]
fn a_connection_dropped_between_two_messages_loses_none_of_the_rest() {
    let scratch = Scratch::new();
    let Some(dovecot) = Dovecot::start(&scratch) else {
        return;
    };
    for i in 0..6 {
        let report = gzip(report_xml(&format!("between-{i}"), 2, 3).as_bytes());
        let message =
            mail_with_attachment("Content-Type: application/gzip; name=\"r.xml.gz\"", &report);
        dovecot.deliver(&format!("between-{i}"), &message);
    }
    // The first connection breaks right before the third message's response.
    let mut fetches = 0;
    let port = proxy(dovecot.port, move |line| {
        let fetch = line.starts_with(b"* ") && line.windows(8).any(|w| w == b" FETCH (");
        fetches += usize::from(fetch);
        fetches > 2
    });
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    // What came is stored; the message the connection ended at is named.
    assert!(
        stderr(&output).contains("connection ended before message UID 3"),
        "{}",
        stderr(&output)
    );
    assert_eq!(totals(&scratch.stats())[0], 2, "the two messages received");
    let output = fetch_through(&scratch, &dovecot, port, "100");
    assert_success(&output);
    assert_eq!(totals(&scratch.stats())[0], 6, "every message, once");
}
