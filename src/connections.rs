//! The HTTP/1.1 server under the router: its own accept loop on hyper, so that connections are
//! a bounded resource.
//!
//! - At most `server.max_connections` are open. At the limit, a new connection makes room by
//!   closing the longest-idle one (connections that never sent a request go first), so idle
//!   connections cannot keep real clients out; when every connection is busy, new ones wait in
//!   the listen backlog.
//! - A request head must arrive within `server.header_read_timeout_secs` (counted from the
//!   connection's start, or from the first byte of a following request); a keep-alive
//!   connection with no request for `server.idle_timeout_secs` is closed. A request being
//!   handled has no time limit here.
//! - A request line or header block too large for hyper (its 400 KiB buffer, 100 headers, a
//!   64 KiB URI) is answered 400 with a DynamoDB-shaped body instead of hyper's bare 431/414,
//!   and what the client is still sending is read and dropped for a moment before the socket
//!   closes, so that the answer is not lost to a connection reset.
//! - Shutdown stops accepting, closes idle connections, lets requests in progress finish for up
//!   to `server.shutdown_grace_secs`, then returns (the caller flushes the engine).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};

/// The connection settings (`[server]`, with `max_connections` fitted to the open-file limit).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Arc::new(Registry::new());
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let limits = Arc::new(limits);
    let mut last_accept_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: the condition passes as connections close.
                    if last_accept_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                        tracing::warn!("accepting a connection failed: {e}");
                        last_accept_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Full: close the longest-idle connection and take its slot; if every
                // connection is busy, wait for one to finish.
                registry.evict_one();
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = registry.register();
        let router = router.clone();
        let limits = limits.clone();
        let stop = stop_rx.clone();
        let registry = registry.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let socket = match tls {
                None => Socket::Plain(stream),
                // The handshake is part of the request head: it gets the same time.
                Some(tls) => {
                    match tokio::time::timeout(limits.header_read_timeout, tls.accept(stream)).await
                    {
                        Ok(Ok(s)) => Socket::Tls(Box::new(s)),
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake failed: {e}");
                            registry.unregister(conn.id);
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            registry.unregister(conn.id);
                            return;
                        }
                    }
                }
            };
            serve_connection(socket, router, conn.clone(), &limits, stop, &registry.clock).await;
            registry.unregister(conn.id);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = registry.len();
    if open > 0 {
        tracing::info!(connections = open, "closing connections");
    }
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while registry.len() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = registry.len(),
            "requests still in progress after {:?}: not waiting for them",
            limits.shutdown_grace
        );
    }
}

/// One connection: hyper serves it while this task enforces the timeouts, eviction and
/// graceful shutdown.
async fn serve_connection(
    stream: Socket,
    router: Router,
    conn: Arc<Conn>,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
    clock: &Clock,
) {
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
        clock: clock.clone(),
        replacement: None,
    });
    let service_conn = conn.clone();
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::start(service_conn.clone(), service_clock.clone());
        let mut router = router.clone();
        async move {
            let response = tower_service::Service::call(&mut router, request.map(Body::new)).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own header-read timeout (below) tells a slow head from an idle keep-alive connection.
    builder.header_read_timeout(None).keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        let deadline = conn.deadline(limits, clock);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                let refused = conn.linger.lock().take();
                if let Some(socket) = refused {
                    linger(socket).await;
                }
                return;
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                if conn.expired(limits, clock) {
                    tracing::debug!(phase = conn.phase(), "closing a connection: timeout");
                    return;
                }
            }
            () = conn.wake.notified() => {
                // A connection that turned busy since it was picked stays.
                if conn.evicted.swap(false, Ordering::Relaxed) && conn.phase() != BUSY {
                    tracing::debug!("closing an idle connection to make room");
                    return;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                let _ = changed;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// After a refusal: ends the answer with FIN, then reads and drops what the client still sends
/// (a little while, a few MB), so that closing does not reset the connection under the answer.
async fn linger(socket: std::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if socket.set_nonblocking(true).is_err() {
        return;
    }
    let Ok(mut socket) = TcpStream::from_std(socket) else {
        return;
    };
    let _ = socket.shutdown().await;
    let mut scratch = vec![0u8; 64 * 1024];
    let mut seen = 0usize;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = socket.read(&mut scratch).await {
            seen = seen.saturating_add(n);
            if n == 0 || seen > 8 * 1024 * 1024 {
                break;
            }
        }
    })
    .await;
}

/// Waiting for (the rest of) a request head.
const HEAD: u8 = 0;
/// Handling a request (reading its body, running it).
const BUSY: u8 = 1;
/// Between requests.
const IDLE: u8 = 2;

/// Milliseconds since the server started: what connections' timestamps count in.
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn instant(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// What the accept loop and a connection's task know about it.
struct Conn {
    id: u64,
    phase: AtomicU8,
    /// When the current phase started (HEAD: connection start or first byte of the head;
    /// IDLE: last response activity), in `Clock` milliseconds.
    since: AtomicU64,
    /// Requests served so far.
    served: AtomicU64,
    /// Set by the accept loop to ask the connection to close if it is still idle.
    evicted: AtomicBool,
    /// Wakes the connection's task: eviction, or a phase change that brings the deadline closer.
    wake: Notify,
    /// A second handle on the socket, taken when a request head was refused: the connection's
    /// task lingers on it after hyper lets go (see [`linger`]).
    linger: Mutex<Option<std::net::TcpStream>>,
}

impl Conn {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    fn deadline(&self, limits: &Limits, clock: &Clock) -> Instant {
        let since = clock.instant(self.since.load(Ordering::Relaxed));
        match self.phase() {
            HEAD => since + limits.header_read_timeout,
            IDLE => since + limits.idle_timeout,
            _ => Instant::now() + limits.idle_timeout,
        }
    }

    fn expired(&self, limits: &Limits, clock: &Clock) -> bool {
        self.phase() != BUSY && Instant::now() >= self.deadline(limits, clock)
    }

    /// Bytes arrived: the first byte after a response starts the next head's clock.
    fn on_read(&self, clock: &Clock) {
        if self.phase() == IDLE {
            self.since.store(clock.now_ms(), Ordering::Relaxed);
            self.phase.store(HEAD, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// Bytes of a response left: a client reading a large answer slowly is not idle.
    fn on_write(&self, clock: &Clock) {
        if self.phase() == IDLE {
            self.since.store(clock.now_ms(), Ordering::Relaxed);
        }
    }
}

/// Marks a connection busy while its request is handled (until the response is produced, or
/// the handling is dropped with the connection).
struct Busy {
    conn: Arc<Conn>,
    clock: Clock,
}

impl Busy {
    fn start(conn: Arc<Conn>, clock: Clock) -> Busy {
        conn.phase.store(BUSY, Ordering::Relaxed);
        conn.served.fetch_add(1, Ordering::Relaxed);
        Busy { conn, clock }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn
            .since
            .store(self.clock.now_ms(), Ordering::Relaxed);
        self.conn.phase.store(IDLE, Ordering::Relaxed);
    }
}

/// The open connections.
struct Registry {
    clock: Clock,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn new() -> Registry {
        Registry {
            clock: Clock(Instant::now()),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn register(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(self.clock.now_ms()),
            served: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
            linger: Mutex::new(None),
        });
        self.open.lock().insert(conn.id, conn.clone());
        conn
    }

    fn unregister(&self, id: u64) {
        self.open.lock().remove(&id);
    }

    fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// Asks the longest-idle connection to close: first those that never sent a request, then
    /// those idle the longest. False when every connection is busy.
    fn evict_one(&self) -> bool {
        let open = self.open.lock();
        let victim = open
            .values()
            .filter(|c| c.phase() != BUSY && !c.evicted.load(Ordering::Relaxed))
            .min_by_key(|c| {
                (
                    c.served.load(Ordering::Relaxed) > 0,
                    c.since.load(Ordering::Relaxed),
                )
            });
        match victim {
            Some(c) => {
                c.evicted.store(true, Ordering::Relaxed);
                c.wake.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The connection's socket as hyper sees it: reads and writes update the connection's phase,
/// and hyper's own answers to oversized heads (431, 414: empty bodies) are replaced by a
/// DynamoDB-shaped 400.
struct Tracked {
    inner: Socket,
    conn: Arc<Conn>,
    clock: Clock,
    /// A replacement answer being written, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

/// A client connection: plain TCP, or TLS over it (`[tls]`).
enum Socket {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Socket {
    /// The TCP connection underneath.
    fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(s) => s,
            Socket::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The status lines hyper writes for a request head it cannot take.
const HYPER_REFUSALS: [&[u8]; 2] = [
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    b"HTTP/1.1 414 URI Too Long\r\n",
];

/// A 400 in DynamoDB's shape for a request line or header block over the limits.
fn oversized_head_answer() -> Vec<u8> {
    let body = serde_json::json!({
        "__type": "com.amazon.coral.service#SerializationException",
        "Message": "The request line or headers are too large",
    })
    .to_string();
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
         content-length: {}\r\nx-amz-crc32: {}\r\nx-amzn-requestid: {}\r\nserver: Server\r\n\
         connection: close\r\n\r\n{body}",
        body.len(),
        crc32fast::hash(body.as_bytes()),
        crate::api::dynamodb::request_id(),
    )
    .into_bytes()
}

impl Tracked {
    /// Writes what is left of a replacement answer; Ready(Ok) once it is all written.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = self.replacement.as_mut() {
            let rest = bytes.get(*written..).unwrap_or_default();
            if rest.is_empty() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut self.inner).poll_read(cx, buf));
        if result.is_ok() && buf.filled().len() > before {
            self.conn.on_read(&self.clock);
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(cx))?;
        // hyper writes a refusal as the whole of one write (its buffer is flat: see
        // `is_write_vectored`), ending with the blank line of an empty-bodied head.
        if HYPER_REFUSALS.iter().any(|line| buf.starts_with(line)) {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                self.replacement = Some((oversized_head_answer(), 0));
                if let Ok(fd) = std::os::fd::AsFd::as_fd(self.inner.tcp()).try_clone_to_owned() {
                    *self.conn.linger.lock() = Some(std::net::TcpStream::from(fd));
                }
                // The refusal counts as written; the replacement goes out in its place.
                let _ = self.poll_replacement(cx)?;
                return Poll::Ready(Ok(end + 4));
            }
        }
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        if n > 0 {
            self.conn.on_write(&self.clock);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// hyper then flattens each response into one buffer, so a refusal's head is seen whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}
