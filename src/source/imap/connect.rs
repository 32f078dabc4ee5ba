//! Opening an IMAP session: TCP, implicit TLS or STARTTLS (rustls, the system's trust store
//! plus an optional private CA), the greeting, and login by password or by OAuth2 token.

use super::{Auth, ImapOptions, Tls};
use crate::source::oauth::{self, Mechanism, Sasl, Tokens};
use anyhow::{anyhow, bail, Context, Result};
use async_imap::{Client, Session};
use std::fmt::Debug;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// Any byte stream the IMAP client can run over: TCP, or TLS over TCP.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}
pub(super) type BoxedStream = Box<dyn Stream>;
pub(super) type ImapSession = Session<BoxedStream>;

pub(super) async fn connect(imap: &mut ImapOptions) -> Result<ImapSession> {
    let address = format!("{}:{}", imap.host, imap.port);
    let tcp = TcpStream::connect(&address)
        .await
        .with_context(|| format!("cannot connect to IMAP server {address}"))?;
    let stream: BoxedStream = match imap.tls {
        Tls::Implicit => Box::new(tls_wrap(tcp, imap).await?),
        Tls::None => Box::new(tcp),
        Tls::Starttls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("the server refused STARTTLS")?;
            Box::new(tls_wrap(client.into_inner(), imap).await?)
        }
    };
    let mut client = Client::new(stream);
    if imap.tls != Tls::Starttls {
        read_greeting(&mut client).await?;
    }
    let user = &imap.user;
    let failed = |why: String| anyhow!("IMAP login as {user} at {address} failed: {why}");
    match &mut imap.auth {
        Auth::Token { mechanism, tokens } => {
            let server = (imap.host.as_str(), imap.port);
            authenticate(client, user, server, *mechanism, tokens)
                .await
                .map_err(&failed)
        }
        Auth::Password(password) => client
            .login(user, password.expose())
            .await
            .map_err(|(error, _)| failed(error.to_string())),
    }
}

/// SASL with an access token; a refused token is replaced by a fresh one and tried once
/// more on the same connection (it may have expired, or been revoked since it was issued).
async fn authenticate<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    mut client: Client<T>,
    user: &str,
    server: (&str, u16),
    mechanism: Mechanism,
    tokens: &mut Tokens,
) -> Result<Session<T>, String> {
    let mut why = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokens.refused();
            log::info!("the server refused the access token; fetching a new one");
        }
        let token = tokens.token().map_err(|e| format!("{e:#}"))?;
        let mut refusal = None;
        let sasl = Sasl::new(mechanism, user, &token, server, &mut refusal);
        match client.authenticate(oauth::sasl_name(mechanism), sasl).await {
            Ok(session) => return Ok(session),
            Err((error, returned)) => {
                // The server's JSON error says more than its NO, which says "failed".
                why = match refusal {
                    Some(details) => format!(
                        "the server refused the access token, and a newly fetched one too ({details})"
                    ),
                    None => format!("{} refused: {error}", oauth::sasl_name(mechanism)),
                };
                client = returned;
            }
        }
    }
    Err(why)
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut Client<T>,
) -> Result<()> {
    client
        .read_response()
        .await
        .context("no IMAP greeting")?
        .ok_or_else(|| anyhow!("the server closed the connection before greeting"))?;
    Ok(())
}

async fn tls_wrap(
    tcp: TcpStream,
    imap: &ImapOptions,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok(); // skip the odd unparsable system certificate
    }
    if let Some(ca_file) = &imap.ca_file {
        let pem = std::fs::read(ca_file)
            .with_context(|| format!("cannot read CA file {}", ca_file.display()))?;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .with_context(|| format!("invalid PEM in {}", ca_file.display()))?;
        if certs.is_empty() {
            bail!("no certificate in CA file {}", ca_file.display());
        }
        for cert in certs {
            roots.add(cert)?;
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(imap.host.clone())
        .with_context(|| format!("{:?} is not a valid server name", imap.host))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {} failed", imap.host))
}
