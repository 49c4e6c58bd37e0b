//! Request authentication. Every request signed with any SigV4 credentials is accepted for
//! now; this is the seam where signature verification will go.

use axum::http::HeaderMap;

/// Who sent a request, as far as authentication could tell.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The access key id from the SigV4 Authorization header, if any.
    pub access_key: Option<String>,
}

/// An authentication failure, reported as DynamoDB reports it.
#[derive(Debug)]
pub struct AuthError {
    pub code: &'static str,
    pub message: String,
}

/// Decides whether a request may proceed.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<Caller, AuthError>;
}

/// Accepts every request; records the access key when the request is SigV4-signed.
pub struct AcceptAll;

impl Authenticator for AcceptAll {
    fn authenticate(&self, headers: &HeaderMap, _body: &[u8]) -> Result<Caller, AuthError> {
        let access_key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .map(str::to_owned);
        Ok(Caller { access_key })
    }
}
