//! A real Dovecot IMAP server on 127.0.0.1 with a throw-away configuration, for the tests.

use super::{require_program, Scratch};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "dmarc";
pub const PASSWORD: &str = "s3cret-test";

pub struct Dovecot {
    child: Child,
    binary: PathBuf,
    pub base: PathBuf,
    /// Plain IMAP (also used for STARTTLS).
    pub port: u16,
    /// IMAP over implicit TLS.
    pub tls_port: u16,
    /// The test CA that signed the server certificate.
    pub ca_file: PathBuf,
    pub password_file: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) {
    let output = command.output().expect("run helper program");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn open_up(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A CA and a server certificate for 127.0.0.1, made with openssl for this test only.
fn make_certificates(dir: &Path) {
    let openssl = || {
        let mut c = Command::new("openssl");
        c.current_dir(dir);
        c
    };
    run(openssl().args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=duckmarc test CA",
    ]));
    run(openssl().args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(openssl().args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]));
}

impl Dovecot {
    /// Starts Dovecot, or returns None (after a notice) when it is not installed.
    pub fn start(scratch: &Scratch) -> Option<Dovecot> {
        Dovecot::start_with(scratch, None)
    }

    /// Starts Dovecot that also takes OAuth2 access tokens (XOAUTH2, OAUTHBEARER), checking
    /// each with a POST to `introspection_url` (RFC 7662): `active` must be true and
    /// `username` the user.
    pub fn start_with_oauth(scratch: &Scratch, introspection_url: &str) -> Option<Dovecot> {
        Dovecot::start_with(scratch, Some(introspection_url))
    }

    fn start_with(scratch: &Scratch, introspection_url: Option<&str>) -> Option<Dovecot> {
        let binary = require_program(&["dovecot"])?;
        require_program(&["openssl"])?;
        let base = scratch.path("dovecot");
        for dir in ["run", "state", "home"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        // Dovecot's unprivileged processes must reach the mail directories.
        open_up(scratch.dir.path(), 0o755);
        open_up(&base, 0o755);
        open_up(&base.join("home"), 0o777);
        make_certificates(&base);
        for key in ["server.key", "server.pem"] {
            open_up(&base.join(key), 0o644);
        }
        std::fs::write(
            base.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();
        let password_file = scratch.write("imap-password", format!("{PASSWORD}\n").as_bytes());
        let (port, tls_port) = (free_port(), free_port());
        let Accounts {
            mail_user,
            mail_group,
            internal_user,
            internal_group,
            login_user,
        } = accounts();
        let b = base.display();
        let oauth = match introspection_url {
            Some(url) => {
                std::fs::write(
                    base.join("oauth2.conf.ext"),
                    format!(
                        "introspection_mode = post\nintrospection_url = {url}\n\
                         force_introspection = yes\nusername_attribute = username\n\
                         active_attribute = active\nactive_value = true\n"
                    ),
                )
                .unwrap();
                format!(
                    "auth_mechanisms = plain login xoauth2 oauthbearer\n\
                     passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  \
                     args = {b}/oauth2.conf.ext\n}}\n"
                )
            }
            None => "auth_mechanisms = plain login\n".into(),
        };
        // Folders as Gmail and Exchange show them: "/" between levels.
        let namespace = "namespace inbox {\n  inbox = yes\n  separator = /\n}\n";
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {b}/run\nstate_dir = {b}/state\n\
             log_path = {b}/dovecot.log\nssl = yes\nssl_cert = <{b}/server.pem\nssl_key = <{b}/server.key\n\
             disable_plaintext_auth = no\nauth_failure_delay = 0\n{oauth}{namespace}\
             mail_location = maildir:{b}/home/%u/Maildir\n\
             default_internal_user = {internal_user}\ndefault_login_user = {login_user}\n\
             default_internal_group = {internal_group}\n\
             passdb {{\n  driver = passwd-file\n  mechanisms = plain login\n  args = scheme=PLAIN username_format=%u {b}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_user} gid={mail_group} home={b}/home/%u allow_all_users=yes\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n  \
             inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  \
             unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n"
        );
        std::fs::write(base.join("dovecot.conf"), config).unwrap();
        let child = spawn(&binary, &base);
        let dovecot = Dovecot {
            child,
            binary,
            ca_file: base.join("ca.pem"),
            base,
            port,
            tls_port,
            password_file,
        };
        dovecot.wait_until_listening();
        Some(dovecot)
    }

    /// Stops the server (dropping every connection), waits `down`, and starts it again.
    pub fn restart(&mut self, down: Duration) {
        self.stop();
        std::thread::sleep(down);
        self.child = spawn(&self.binary, &self.base);
        self.wait_until_listening();
    }

    /// Ends the server and every process it started (its process group), so open client
    /// connections drop as they would in a real outage.
    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let up = [self.port, self.tls_port]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("dovecot did not start: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.base.join("dovecot.log")).unwrap_or_default()
    }

    /// The Maildir of `folder` ("INBOX" or a folder name, ASCII; levels split by "/").
    pub fn maildir(&self, folder: &str) -> PathBuf {
        let root = self.base.join("home").join(USER).join("Maildir");
        if folder == "INBOX" {
            root
        } else {
            root.join(format!(".{}", folder.replace('/', ".")))
        }
    }

    /// Runs doveadm against this server's configuration as the test user, e.g. to create a
    /// folder by its UTF-8 name or save a message into it.
    pub fn doveadm(&self, args: &[&str], stdin: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(self.base.join("dovecot.conf"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run doveadm");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "doveadm {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Delivers a message the way an MDA does: a new file in the Maildir's `new/`.
    pub fn deliver(&self, name: &str, message: &[u8]) {
        let root = self.maildir("INBOX");
        for dir in ["", "cur", "new", "tmp"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).unwrap();
            open_up(&path, 0o777);
        }
        let tmp = root.join("tmp").join(name);
        std::fs::write(&tmp, message).unwrap();
        open_up(&tmp, 0o666);
        std::fs::rename(&tmp, root.join("new").join(name)).unwrap();
    }

    /// How many messages a folder holds.
    pub fn count(&self, folder: &str) -> usize {
        ["cur", "new"]
            .iter()
            .map(|d| std::fs::read_dir(self.maildir(folder).join(d)).map_or(0, |r| r.count()))
            .sum()
    }

    /// `duckmarc fetch` arguments for this server, logging in with the password.
    pub fn args(&self, tls: &str) -> Vec<String> {
        let mut args = self.server_args(tls);
        args.extend([
            "--password-file".into(),
            self.password_file.display().to_string(),
        ]);
        args
    }

    /// `duckmarc fetch` arguments for this server and user, without a way to log in.
    pub fn server_args(&self, tls: &str) -> Vec<String> {
        let port = if tls == "implicit" {
            self.tls_port
        } else {
            self.port
        };
        vec![
            "fetch".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--tls".into(),
            tls.into(),
            "--user".into(),
            USER.into(),
        ]
    }
}

struct Accounts {
    mail_user: String,
    mail_group: String,
    internal_user: String,
    internal_group: String,
    login_user: String,
}

/// As root: the unprivileged accounts Debian's package creates, and nobody for the mail;
/// otherwise everything runs as the current user.
fn accounts() -> Accounts {
    let id = |args: &[&str]| {
        let out = Command::new("id").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    if id(&["-u"]) == "0" {
        Accounts {
            mail_user: "nobody".into(),
            mail_group: "nogroup".into(),
            internal_user: "dovecot".into(),
            internal_group: "dovecot".into(),
            login_user: "dovenull".into(),
        }
    } else {
        let (user, group) = (id(&["-un"]), id(&["-gn"]));
        Accounts {
            mail_user: user.clone(),
            mail_group: group.clone(),
            internal_user: user.clone(),
            internal_group: group,
            login_user: user,
        }
    }
}

fn spawn(binary: &Path, base: &Path) -> Child {
    Command::new(binary)
        .process_group(0)
        .arg("-F")
        .arg("-c")
        .arg(base.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dovecot")
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
