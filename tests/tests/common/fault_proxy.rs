//! A fault-injecting TCP proxy for an HTTP/1.1 service (the S3 server), to test how the sink rides
//! out a misbehaving object store. Every new connection meets the fault set at the time; setting a
//! fault closes the live connections, so the client's next request meets it too.
//!
//! - `Pass` forwards bytes both ways.
//! - `Status(code)` reads one request and answers `code` with an S3 error document, then closes.
//! - `Reset` reads the request head and resets the connection (RST, not FIN).
//! - `Stall` reads the request and never answers, until the fault changes.
//! - `Slow(bytes_per_sec)` forwards, throttled in each direction.
//! - `Refuse(method, code)` answers `code` to requests of that method and forwards the others, one
//!   request per connection (it asks the server to close after answering), so the client's next
//!   request meets the filter again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Status(u16),
    Reset,
    Stall,
    Slow(u64),
    Refuse(&'static str, u16),
}

struct Shared {
    fault: Mutex<Fault>,
    /// Bumped on every change; live connections watch it and close.
    generation: watch::Sender<u64>,
    /// Connections that met a fault other than `Pass`.
    injected: AtomicU64,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`, to use as the S3 endpoint.
    pub url: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::Pass),
            generation: watch::channel(0).0,
            injected: AtomicU64::new(0),
        });
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    // Subscribed before the fault is read: a change in between closes this
                    // connection instead of leaving it on the old fault.
                    let changed = shared.generation.subscribe();
                    let fault = *shared.fault.lock().expect("fault lock");
                    if fault != Fault::Pass {
                        shared.injected.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::spawn(serve(client, upstream.clone(), fault, changed));
                }
            }
        });
        FaultProxy { url, shared, accept }
    }

    /// Sets the fault for new connections and closes the live ones.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().expect("fault lock") = fault;
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// How many connections met a fault so far.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

async fn serve(mut client: TcpStream, upstream: String, fault: Fault, mut changed: watch::Receiver<u64>) {
    let work = async {
        match fault {
            Fault::Pass => {
                if let Ok(mut up) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                }
            }
            Fault::Slow(rate) => {
                if let Ok(up) = TcpStream::connect(&upstream).await {
                    let (cr, cw) = client.split();
                    let (ur, uw) = tokio::io::split(up);
                    let _ = tokio::join!(throttled_copy(cr, uw, rate), throttled_copy(ur, cw, rate));
                }
            }
            Fault::Status(code) => {
                if read_request(&mut client).await.is_some() {
                    answer(&mut client, code).await;
                }
            }
            Fault::Refuse(method, code) => {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                if request.starts_with(format!("{method} ").as_bytes()) {
                    answer(&mut client, code).await;
                } else if let Ok(mut up) = TcpStream::connect(&upstream).await
                    && up.write_all(&closing(request)).await.is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                }
            }
            Fault::Reset => {
                let mut head = [0u8; 256];
                let _ = client.read(&mut head).await;
                let _ = client.set_zero_linger();
            }
            Fault::Stall => {
                let _ = read_request(&mut client).await;
                std::future::pending::<()>().await;
            }
        }
    };
    // A fault change ends the connection whatever it is doing.
    tokio::select! {
        _ = work => {}
        _ = changed.changed() => {}
    }
}

/// Answers `code` with an S3 error document and closes.
async fn answer(client: &mut TcpStream, code: u16) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code>\
         <Message>injected by the test's fault proxy</Message></Error>",
        if code == 503 { "SlowDown" } else { "InternalError" }
    );
    let head = format!(
        "HTTP/1.1 {code} Injected\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let _ = client.write_all(format!("{head}{body}").as_bytes()).await;
    let _ = client.shutdown().await;
}

/// `request` with `connection: close` added to its head, so the server closes after answering it.
fn closing(request: Vec<u8>) -> Vec<u8> {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return request;
    };
    let mut out = request[..end + 2].to_vec();
    out.extend_from_slice(b"connection: close\r\n");
    out.extend_from_slice(&request[end + 2..]);
    out
}

/// Reads one request (head and `content-length` body) and returns its bytes; `None` when the client
/// closed first.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut remaining = length.saturating_sub(buf.len() - head_end);
    while remaining > 0 {
        let n = client.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        remaining = remaining.saturating_sub(n);
    }
    Some(buf)
}

/// Copies `from` to `to` at about `rate` bytes per second, in 1 KiB steps.
async fn throttled_copy(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, rate: u64) {
    let mut chunk = [0u8; 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate.max(1) as f64)).await;
    }
    let _ = to.shutdown().await;
}
