//! What web browsers may do. A page the user visits can send requests to a server on the
//! user's machine (a simple `POST` with `Content-Type: text/plain` needs no preflight) and,
//! through DNS rebinding, read the answers. So two checks hold in every auth mode:
//! - **Host**: on a loopback listen address, a request's `Host` must name this server
//!   (`localhost`, `127.0.0.1`, `[::1]` or the listen address, with its port) or one of
//!   `server.allowed_hosts`; a rebinding page's requests carry its own host name. On other
//!   listen addresses, `server.allowed_hosts` restricts hosts when it lists any.
//! - **Origin**: a request carrying `Origin` (every browser request that can change
//!   anything does) is refused unless `server.cors_origins` allows that origin (`*`: any);
//!   `cors.rs` answers preflights and adds the CORS headers for allowed ones.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The accepted Host headers and browser origins.
#[derive(Debug, Clone)]
pub struct Browser {
    /// None: any host.
    hosts: Option<Vec<String>>,
    /// `*` in the list: any origin.
    origins: Vec<String>,
}

impl Browser {
    pub fn new(listen: SocketAddr, allowed_hosts: &[String], cors_origins: &[String]) -> Browser {
        let mut hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let port = listen.port();
        if listen.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
            hosts.push(format!("[::1]:{port}"));
            hosts.push(listen.to_string());
            if port == 80 {
                hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(str::to_owned));
            }
        } else if !hosts.is_empty() && !listen.ip().is_unspecified() {
            hosts.push(listen.to_string());
        }
        let restrict = listen.ip().is_loopback() || !allowed_hosts.is_empty();
        Browser {
            hosts: restrict.then_some(hosts),
            origins: cors_origins.to_vec(),
        }
    }

    /// Whether a request naming `host` (None: no Host header, not a browser) may proceed.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        match (&self.hosts, host) {
            (None, _) | (_, None) => true,
            (Some(hosts), Some(host)) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
        }
    }

    /// Whether a browser page of `origin` may call the server.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// Whether every origin is allowed (answers then say `Access-Control-Allow-Origin: *`).
    pub fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }
}

/// Middleware: refuses requests whose Host does not name this server, and requests from
/// browser origins that `server.cors_origins` does not allow.
pub async fn check_host(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    if !state.browser.host_allowed(host) {
        let message = format!(
            "Host '{}' does not name this server ({}); list it in server.allowed_hosts to accept it",
            host.unwrap_or_default(),
            state.local_addr
        );
        return refuse(request.uri().path(), &message);
    }
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("\u{fffd}");
        if !state.browser.origin_allowed(origin) {
            let message = format!(
                "Requests from browser origin '{origin}' are not allowed; list it in server.cors_origins to accept it"
            );
            return refuse(request.uri().path(), &message);
        }
    }
    next.run(request).await
}

/// 403 in the protocol's shape (Lambda paths start with their API version).
fn refuse(path: &str, message: &str) -> Response {
    tracing::debug!("refused: {message}");
    if path.starts_with("/20") {
        super::lambda::forbidden(message)
    } else {
        super::dynamodb::error_response(
            StatusCode::FORBIDDEN,
            "com.amazon.coral.service#AccessDeniedException",
            message,
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Browser;

    #[test]
    fn loopback_accepts_its_own_names_only() {
        let b = Browser::new("127.0.0.1:8000".parse().expect("addr"), &[], &[]);
        for ok in [
            "localhost:8000",
            "127.0.0.1:8000",
            "[::1]:8000",
            "LOCALHOST:8000",
        ] {
            assert!(b.host_allowed(Some(ok)), "{ok}");
        }
        for bad in [
            "evil.example:8000",
            "localhost:8001",
            "localhost",
            "127.0.0.1.nip.io:8000",
        ] {
            assert!(!b.host_allowed(Some(bad)), "{bad}");
        }
        assert!(b.host_allowed(None));
    }

    #[test]
    fn allowed_hosts_extend_and_restrict() {
        let hosts = ["db.example.com:8000".to_owned()];
        let b = Browser::new("127.0.0.1:8000".parse().expect("addr"), &hosts, &[]);
        assert!(b.host_allowed(Some("db.example.com:8000")));
        let any = Browser::new("0.0.0.0:8000".parse().expect("addr"), &[], &[]);
        assert!(any.host_allowed(Some("whatever:1")));
        let some = Browser::new("0.0.0.0:8000".parse().expect("addr"), &hosts, &[]);
        assert!(!some.host_allowed(Some("whatever:1")));
        assert!(some.host_allowed(Some("db.example.com:8000")));
    }

    #[test]
    fn origins() {
        let none = Browser::new("127.0.0.1:8000".parse().expect("addr"), &[], &[]);
        assert!(!none.origin_allowed("http://evil.example"));
        assert!(!none.origin_allowed("null"));
        let one = Browser::new(
            "127.0.0.1:8000".parse().expect("addr"),
            &[],
            &["http://localhost:3000".to_owned()],
        );
        assert!(one.origin_allowed("http://localhost:3000"));
        assert!(!one.origin_allowed("http://localhost:3001"));
        let any = Browser::new(
            "127.0.0.1:8000".parse().expect("addr"),
            &[],
            &["*".to_owned()],
        );
        assert!(any.origin_allowed("https://anything.example") && any.any_origin());
    }
}
