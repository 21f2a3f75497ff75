//! A listener that is plain TCP or TLS, for axum ([`axum::serve::Listener`]) and tonic
//! ([`Listener::into_incoming`] for `serve_with_incoming`).
//!
//! With TLS, a task accepts TCP connections and runs each handshake in a task of its own (bounded
//! in number and in time), so a slow or silent client never holds up the others; finished
//! connections are handed over through a bounded channel. The task ends when the listener is
//! dropped, which closes the port. Accepted sockets get TCP_NODELAY: answers are small writes.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;

use crate::{Certificates, TlsError};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; beyond it, accepting waits.
const MAX_HANDSHAKES: usize = 1024;

/// The application protocol a listener speaks, offered to clients by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (axum as the workspace builds it).
    Http1,
    /// gRPC, which is HTTP/2 only.
    Grpc,
}

impl Protocol {
    pub(crate) fn alpn(self) -> Vec<Vec<u8>> {
        match self {
            Protocol::Http1 => vec![b"http/1.1".to_vec()],
            Protocol::Grpc => vec![b"h2".to_vec()],
        }
    }
}

/// A bound port that yields plain or TLS connections.
#[derive(Debug)]
pub struct Listener {
    local: SocketAddr,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain(TcpListener),
    Tls(mpsc::Receiver<(Conn, SocketAddr)>),
}

impl Listener {
    /// Serves `tcp` with TLS when `tls` is given, else as plain TCP. Call it inside a tokio runtime.
    pub fn new(tcp: TcpListener, tls: Option<&Certificates>, protocol: Protocol) -> Result<Self, TlsError> {
        let local = tcp
            .local_addr()
            .map_err(|e| TlsError::Config(format!("listener address: {e}")))?;
        let inner = match tls {
            None => Inner::Plain(tcp),
            Some(certs) => {
                let acceptor = TlsAcceptor::from(certs.server_config(protocol)?);
                let (tx, rx) = mpsc::channel(64);
                tokio::spawn(accept_tls(tcp, acceptor, tx));
                Inner::Tls(rx)
            }
        };
        Ok(Self { local, inner })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `https` or `http`, for the address a server prints.
    pub fn scheme(&self) -> &'static str {
        match self.inner {
            Inner::Plain(_) => "http",
            Inner::Tls(_) => "https",
        }
    }

    /// The connections as a stream, for tonic's `serve_with_incoming`.
    pub fn into_incoming(self) -> Incoming {
        Incoming(self.inner)
    }
}

/// Accepts TCP connections and hands each over once its handshake is done.
async fn accept_tls(tcp: TcpListener, acceptor: TlsAcceptor, tx: mpsc::Sender<(Conn, SocketAddr)>) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        set_nodelay(&stream);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            drop(permit);
            match handshake {
                Ok(Ok(tls)) => {
                    let _ = tx.send((Conn::Tls(Box::new(tls)), peer)).await;
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "tls handshake failed");
                    metrics::counter!("murron_tls_handshake_failures_total").increment(1);
                }
                Err(_) => {
                    tracing::debug!(%peer, "tls handshake timed out");
                    metrics::counter!("murron_tls_handshake_failures_total").increment(1);
                }
            }
        });
    }
}

/// As axum does: a connection's own error is skipped; anything else (out of file descriptors) is
/// logged and waited out, so that the loop does not spin.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn set_nodelay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY");
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match &mut self.inner {
            Inner::Plain(tcp) => loop {
                match TcpListener::accept(tcp).await {
                    Ok((stream, peer)) => {
                        set_nodelay(&stream);
                        return (Conn::Plain(stream), peer);
                    }
                    Err(e) => accept_error(e).await,
                }
            },
            Inner::Tls(rx) => match rx.recv().await {
                Some(accepted) => accepted,
                None => {
                    // The accept task holds the sender until this receiver is dropped.
                    tracing::error!("tls accept task ended; no more connections");
                    std::future::pending().await
                }
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The connections of a [`Listener`] as a stream (tonic's `serve_with_incoming`).
#[derive(Debug)]
pub struct Incoming(Inner);

impl Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().0 {
            Inner::Plain(tcp) => tcp.poll_accept(cx).map(|accepted| {
                Some(accepted.map(|(stream, _)| {
                    set_nodelay(&stream);
                    Conn::Plain(stream)
                }))
            }),
            Inner::Tls(rx) => rx.poll_recv(cx).map(|next| next.map(|(conn, _)| Ok(conn))),
        }
    }
}

/// An accepted connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// The TCP stream under any TLS.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(feature = "tonic")]
impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.tcp().connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ca::TestCa;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connects with `ca` as the only root; answers the body of `GET /`, the certificate and ALPN.
    async fn get(addr: SocketAddr, ca: &str) -> io::Result<(String, Vec<u8>, Option<Vec<u8>>)> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("ca pem"))
            .expect("root");
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        let (_, session) = tls.get_ref();
        let cert = session
            .peer_certificates()
            .and_then(|c| c.first())
            .expect("cert")
            .to_vec();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        tls.read_to_string(&mut answer).await?;
        Ok((answer, cert, alpn))
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem").to_vec()
    }

    #[tokio::test]
    async fn https_serves_axum_and_a_new_connection_sees_a_renewed_certificate() {
        let dir = std::env::temp_dir().join(format!("murron-tls-listen-{}", std::process::id()));
        let ca = TestCa::new();
        let config = ca.write_pair(&dir);
        let cert = std::fs::read_to_string(&config.cert_file).expect("read");
        let certs = Certificates::load(&config).await.expect("load");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = Listener::new(tcp, Some(&certs), Protocol::Http1).expect("listener");
        assert_eq!(listener.scheme(), "https");
        let addr = listener.local_addr();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello over tls" }));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (answer, served, alpn) = get(addr, &ca.pem).await.expect("https");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello over tls"),
            "{answer}"
        );
        assert_eq!(served, der(&cert));
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

        // A client that trusts another CA is refused; the server keeps serving.
        assert!(get(addr, &TestCa::new().pem).await.is_err());

        // Renewed (here by a new CA, which the client trusts): the next connection presents the new
        // certificate, and the old CA no longer verifies it.
        let ca2 = TestCa::new();
        ca2.write_pair(&dir);
        let cert2 = std::fs::read_to_string(&config.cert_file).expect("read");
        let mut seen = Vec::new();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok((_, served, _)) = get(addr, &ca2.pem).await {
                seen = served;
                break;
            }
        }
        assert_eq!(seen, der(&cert2));
        assert!(
            get(addr, &ca.pem).await.is_err(),
            "the old certificate is no longer served"
        );
    }

    #[tokio::test]
    async fn without_tls_the_listener_is_plain_tcp() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = Listener::new(tcp, None, Protocol::Http1).expect("listener");
        assert_eq!(listener.scheme(), "http");
        let addr = listener.local_addr();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "plain" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.expect("read");
        assert!(answer.ends_with("plain"), "{answer}");
    }
}
