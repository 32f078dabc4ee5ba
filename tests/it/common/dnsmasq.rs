//! A real DNS server for the tests: Debian's dnsmasq on 127.0.0.1 with a throw-away
//! configuration on the command line, serving only the records a test gives it (NXDOMAIN
//! for every other reverse name); and a "server" that never answers.

use super::require_program;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dnsmasq {
    child: Child,
    /// `127.0.0.1:PORT`, for `--dns-server`.
    pub address: String,
}

/// What the server knows: names with their address (A/AAAA and the matching PTR, so the name
/// is forward-confirmed), PTR names with no address behind them (a PTR anyone could write),
/// TXT records (name, text), MX records (name, exchange), and domains it is the only
/// authority for: any other name in them does not exist (NXDOMAIN).
#[derive(Default)]
pub struct Zone<'a> {
    pub hosts: &'a [(&'a str, &'a str)],
    pub unconfirmed: &'a [(&'a str, &'a str)],
    pub txt: &'a [(&'a str, &'a str)],
    pub mx: &'a [(&'a str, &'a str)],
    pub local: &'a [&'a str],
}

impl Dnsmasq {
    pub fn start(zone: &Zone) -> Option<Dnsmasq> {
        let binary = require_program(&["dnsmasq"])?;
        // dnsmasq listens on TCP as well as UDP: a port free for UDP may be taken for TCP by
        // another test's server, and then dnsmasq exits at once. Another port, then.
        for _ in 0..5 {
            let port = free_udp_port();
            let mut command = Command::new(&binary);
            command.args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/in-addr.arpa/",
                "--local=/ip6.arpa/",
                "--pid-file=",
                "--user=root",
                "--log-facility=-",
            ]);
            for (name, address) in zone.hosts {
                command.arg(format!("--host-record={name},{address}"));
            }
            for (address, name) in zone.unconfirmed {
                command.arg(format!("--ptr-record={},{name}", reverse_name(address)));
            }
            // On the command line dnsmasq takes quotes literally; each comma starts another
            // string of the record (which resolvers join): texts here have none of their own,
            // and a text longer than a string's 255 bytes (a DKIM key) is cut into strings.
            for (name, text) in zone.txt {
                assert!(
                    !text.contains(','),
                    "a TXT text for dnsmasq without commas: {text}"
                );
                let strings: Vec<&str> = text
                    .as_bytes()
                    .chunks(255)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                command.arg(format!("--txt-record={name},{}", strings.join(",")));
            }
            for (name, exchange) in zone.mx {
                command.arg(format!("--mx-host={name},{exchange},10"));
            }
            for domain in zone.local {
                command.arg(format!("--local=/{domain}/"));
            }
            let token = probe_token(port);
            command.arg(format!("--txt-record={PROBE_NAME},{token}"));
            // The DNS tree walk ends at the top-level domain (RFC 9989 section 4.10), which on
            // the Internet has no DMARC record: NXDOMAIN there, not the refusal of a server
            // without upstreams.
            let tlds: std::collections::BTreeSet<&str> = zone
                .local
                .iter()
                .filter_map(|domain| domain.rsplit('.').next())
                .collect();
            for tld in tlds {
                command.arg(format!("--local=/_dmarc.{tld}/"));
            }
            let child = command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq");
            let mut server = Dnsmasq {
                child,
                address: format!("127.0.0.1:{port}"),
            };
            if server.wait_until_answering(&token) {
                return Some(server);
            }
        }
        panic!("dnsmasq exited at start on five ports in a row");
    }

    /// A server that knows only these names, each with its address (forward-confirmed).
    pub fn with_hosts(hosts: &[(&str, &str)]) -> Option<Dnsmasq> {
        Dnsmasq::start(&Zone {
            hosts,
            ..Zone::default()
        })
    }

    /// Asks this server for [`PROBE_NAME`] until the answer holds `token`; false if dnsmasq
    /// exited. That the port can no longer be bound does not tell: dnsmasq binds UDP, then
    /// exits if the TCP port is taken, and another process may hold the UDP port.
    fn wait_until_answering(&mut self, token: &str) -> bool {
        let started = Instant::now();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buffer = [0u8; 1500];
        loop {
            if self.child.try_wait().expect("dnsmasq's status").is_some() {
                return false;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "dnsmasq did not start"
            );
            let _ = socket.send_to(&probe_query(), &self.address);
            if let Ok(length) = socket.recv(&mut buffer) {
                let answer = &buffer[..length];
                if answer.windows(token.len()).any(|w| w == token.as_bytes()) {
                    return true;
                }
            }
        }
    }
}

/// A name only the tests' servers answer, with a text unique to one server.
const PROBE_NAME: &str = "probe.duckmarc-test";

fn probe_token(port: u16) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dnsmasq-{}-{port}-{nanos}", std::process::id())
}

/// A DNS query (RFC 1035 section 4.1) for the TXT record of [`PROBE_NAME`].
fn probe_query() -> Vec<u8> {
    // ID, flags (recursion desired), one question, no other records.
    let mut query = vec![0x64, 0x6d, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in PROBE_NAME.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    // The root, then type TXT (16), class IN (1).
    query.extend_from_slice(&[0, 0, 16, 0, 1]);
    query
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port on 127.0.0.1 that takes queries and never answers (a server that is down
/// without saying so), for as long as it lives.
pub struct Silent {
    socket: UdpSocket,
    pub address: String,
}

impl Silent {
    pub fn start() -> Silent {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap().to_string();
        Silent { socket, address }
    }

    /// How many of the queries received so far contain `text` (a name, as DNS writes it:
    /// one label, such as `_domainkey`). Reads them: each is counted once.
    pub fn queries_containing(&self, text: &[u8]) -> usize {
        self.socket.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 1500];
        let mut count = 0;
        while let Ok(length) = self.socket.recv(&mut buffer) {
            count += usize::from(buffer[..length].windows(text.len()).any(|w| w == text));
        }
        count
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `25.115.89.167.in-addr.arpa` for `167.89.115.25` (IPv4 only: the tests' PTRs are IPv4).
fn reverse_name(address: &str) -> String {
    let mut octets: Vec<&str> = address.split('.').collect();
    octets.reverse();
    format!("{}.in-addr.arpa", octets.join("."))
}
