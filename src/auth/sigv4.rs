//! AWS Signature Version 4 verification (the server side of SigV4).
//!
//! [`parse`] extracts what a request claims (access key, credential scope, signed headers,
//! signature, time) from the `Authorization` header or from presigned query parameters;
//! [`Verifier::verify`] rebuilds the canonical request the way AWS does for non-S3 services
//! (double percent-encoding of the path, normalized path, sorted and re-encoded query,
//! trimmed header values) and checks the signature in constant time.
//!
//! The error types and messages follow what AWS's JSON services (DynamoDB, Lambda) return, so
//! that SDKs and tools surface the same errors they would against AWS.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{KeyInit, Mac};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The only algorithm accepted (SigV4A, `AWS4-ECDSA-P256-SHA256`, is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// AWS accepts requests whose time is within 15 minutes of its own clock, both ways.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// Longest validity of a presigned request (seven days), as AWS enforces.
const MAX_EXPIRES_SECS: u64 = 604_800;
/// The derived-key cache is cleared when it reaches this size; one entry per key and day is
/// small, so this bounds memory against clients sending many distinct scopes.
const CACHE_LIMIT: usize = 1024;

/// The parts of an HTTP request a signature covers, as received: `path` and `query` raw,
/// still percent-encoded as they were on the wire.
///
/// `headers` must include `host` (HTTP/1.1 requests always carry it).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The path as on the wire (`/`, `/2015-03-31/functions/arn%3Aaws...`).
    pub path: &'a str,
    /// The query string without the leading `?`, as on the wire.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a http::HeaderMap,
    /// The complete request body (after any transfer decoding, before content decoding).
    pub body: &'a [u8],
}

/// What a request claims about its signature, before the secret key is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// The date of the credential scope, `YYYYMMDD`.
    pub date: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope.
    pub service: String,
    /// The signed header names, as the client listed them (lowercase, sorted by the spec).
    pub signed_headers: Vec<String>,
    /// The signature, hex.
    pub signature: String,
    /// The request time, `YYYYMMDDTHHMMSSZ` (from `X-Amz-Date`, or the `Date` header converted).
    pub timestamp: String,
    /// The request time in seconds since the Unix epoch.
    pub request_time: i64,
    /// For presigned requests (signature in the query string): `X-Amz-Expires`, seconds.
    pub presigned: Option<u64>,
    /// `X-Amz-Security-Token` if the client sent one (it is signed as sent; not checked here).
    pub security_token: Option<String>,
}

impl Claim {
    /// The credential scope without the access key: `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }

    /// Checks the scope's region and service against the server's own, with AWS's messages.
    pub fn check_scope(&self, region: &str, service: &str) -> Result<(), SigError> {
        if self.region != region {
            return Err(SigError::WrongRegion {
                expected: region.to_owned(),
                got: self.region.clone(),
            });
        }
        if self.service != service {
            return Err(SigError::WrongService {
                expected: service.to_owned(),
            });
        }
        Ok(())
    }
}

/// Why a request's signature was refused. [`SigError::code`] is the AWS error type; `Display`
/// is AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// Neither an `Authorization` header nor an `X-Amz-Algorithm` query parameter.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The authorization information is malformed or incomplete; the message says what is wrong.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature does not match the one computed with the secret key.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,
    /// The request time is more than 15 minutes before the server's clock.
    #[error("Signature expired: {request} is now earlier than {limit} ({now} - 15 min.)")]
    Expired {
        /// The request time.
        request: String,
        /// `now` minus 15 minutes.
        limit: String,
        /// The server's time.
        now: String,
    },
    /// The request time is more than 15 minutes after the server's clock.
    #[error("Signature not yet current: {request} is still later than {limit} ({now} + 15 min.)")]
    NotYetCurrent {
        /// The request time.
        request: String,
        /// `now` plus 15 minutes.
        limit: String,
        /// The server's time.
        now: String,
    },
    /// A presigned request used after `X-Amz-Date` + `X-Amz-Expires`.
    #[error("Signature expired: {request} is now earlier than {limit} ({now} - {expires} sec.)")]
    PresignExpired {
        /// The request time.
        request: String,
        /// `now` minus the validity.
        limit: String,
        /// The server's time.
        now: String,
        /// `X-Amz-Expires`.
        expires: u64,
    },
    /// The date of the credential scope is not the date of the request time.
    #[error("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope}' != '{request}', from '{timestamp}'.")]
    ScopeDateMismatch {
        /// The scope's date.
        scope: String,
        /// The date of the request time.
        request: String,
        /// The request time.
        timestamp: String,
    },
    /// The credential scope does not end with `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{0}'.")]
    BadTerminator(String),
    /// The scope's region is not the server's.
    #[error("Credential should be scoped to a valid region, not '{got}'. ")]
    WrongRegion {
        /// The server's region.
        expected: String,
        /// The scope's region.
        got: String,
    },
    /// The scope's service is not the server's.
    #[error("Credential should be scoped to correct service: '{expected}'. ")]
    WrongService {
        /// The server's service name.
        expected: String,
    },
    /// `x-amz-content-sha256` is a hash that is not the body's.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// `UNSIGNED-PAYLOAD` with a body: only S3 accepts bodies that are not signed.
    #[error("UNSIGNED-PAYLOAD is not accepted for a request with a body: sign the payload (x-amz-content-sha256 or the body's SHA-256).")]
    UnsignedPayload,
    /// `x-amz-content-sha256` is neither a SHA-256 hex digest nor `UNSIGNED-PAYLOAD`.
    #[error("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.")]
    BadContentSha256,
}

impl SigError {
    /// The AWS error type (`__type` of a JSON error response).
    pub fn code(&self) -> &'static str {
        match self {
            SigError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigError::IncompleteSignature(_) => "IncompleteSignatureException",
            SigError::SignatureMismatch
            | SigError::Expired { .. }
            | SigError::NotYetCurrent { .. }
            | SigError::PresignExpired { .. }
            | SigError::ScopeDateMismatch { .. }
            | SigError::BadTerminator(_)
            | SigError::WrongRegion { .. }
            | SigError::WrongService { .. }
            | SigError::ContentSha256Mismatch
            | SigError::BadContentSha256
            | SigError::UnsignedPayload => "InvalidSignatureException",
        }
    }
}

/// Extracts the claim from the `Authorization` header or, failing that, from presigned query
/// parameters. Checks the form only (and that the scope's date is the request's date); the
/// signature and the time are checked by [`Verifier::verify`].
pub fn parse(req: &SignedRequest<'_>) -> Result<Claim, SigError> {
    let auth = req.headers.get(http::header::AUTHORIZATION);
    let query = query_pairs(req.query.unwrap_or(""));
    let has_query_auth = query.iter().any(|(k, _)| k == "X-Amz-Algorithm");
    let claim = match (auth, has_query_auth) {
        (None, false) => return Err(SigError::MissingAuthenticationToken),
        // S3's rule; accepting both would leave it ambiguous which one was verified.
        (Some(_), true) => {
            return Err(SigError::IncompleteSignature(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".to_owned(),
            ))
        }
        (Some(value), false) => parse_header(
            &String::from_utf8_lossy(value.as_bytes()),
            req.headers,
        )?,
        (None, true) => parse_query(&query)?,
    };
    // Headers that change what the request does must be covered by the signature: an
    // operation (`x-amz-target`), how the body is read (`content-encoding`), its hash.
    for name in ["x-amz-target", "content-encoding", "x-amz-content-sha256"] {
        let signed = claim
            .signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
        if req.headers.contains_key(name) && !signed {
            return Err(SigError::IncompleteSignature(format!(
                "'{name}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    Ok(claim)
}

fn parse_header(auth: &str, headers: &http::HeaderMap) -> Result<Claim, SigError> {
    let auth = auth.trim();
    let (algorithm, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let time = header_time(headers)?;
    // AWS lists every missing part at once, then echoes the header.
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if time.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(request_time)) =
        (credential, signed_headers, signature, time)
    else {
        return Err(SigError::IncompleteSignature(format!(
            "{missing}Authorization={auth}"
        )));
    };
    if algorithm != ALGORITHM {
        return Err(SigError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let security_token = headers
        .get("x-amz-security-token")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    build_claim(
        credential,
        signed_headers,
        signature,
        request_time,
        None,
        security_token,
    )
}

fn parse_query(query: &[(String, String)]) -> Result<Claim, SigError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let names = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
        "X-Amz-Expires",
    ];
    let mut missing = String::new();
    for name in names {
        if get(name).is_none() {
            let _ = write!(
                missing,
                "AWS query-string parameters must include '{name}'. "
            );
        }
    }
    let (
        Some(algorithm),
        Some(credential),
        Some(signature),
        Some(signed_headers),
        Some(date),
        Some(expires),
    ) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Date"),
        get("X-Amz-Expires"),
    )
    else {
        missing.push_str("Re-examine the query-string parameters.");
        return Err(SigError::IncompleteSignature(missing));
    };
    if algorithm != ALGORITHM {
        return Err(SigError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let request_time = parse_amz_date(date).ok_or_else(|| bad_date(date))?;
    let expires: u64 = expires.parse().map_err(|_| {
        SigError::IncompleteSignature("X-Amz-Expires should be a number".to_owned())
    })?;
    if expires == 0 {
        return Err(SigError::IncompleteSignature(
            "X-Amz-Expires must be non-negative".to_owned(),
        ));
    }
    if expires > MAX_EXPIRES_SECS {
        return Err(SigError::IncompleteSignature(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".to_owned(),
        ));
    }
    build_claim(
        credential,
        signed_headers,
        signature,
        request_time,
        Some(expires),
        get("X-Amz-Security-Token").map(str::to_owned),
    )
}

fn build_claim(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    request_time: i64,
    presigned: Option<u64>,
    security_token: Option<String>,
) -> Result<Claim, SigError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    if *terminator != TERMINATOR {
        return Err(SigError::BadTerminator((*terminator).to_owned()));
    }
    let timestamp = format_amz_date(request_time);
    let request_date = timestamp.get(..8).unwrap_or_default();
    if *date != request_date {
        return Err(SigError::ScopeDateMismatch {
            scope: (*date).to_owned(),
            request: request_date.to_owned(),
            timestamp,
        });
    }
    let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    // Each listed name copies all of that header's values into the canonical request, so a
    // name listed many times would make it grow as (list length × value size).
    let mut seen = std::collections::HashSet::with_capacity(signed_headers.len());
    if let Some(dup) = signed_headers
        .iter()
        .find(|h| !seen.insert(h.to_ascii_lowercase()))
    {
        return Err(SigError::IncompleteSignature(format!(
            "SignedHeaders lists '{dup}' more than once."
        )));
    }
    // Without `host` a signature could be replayed against another endpoint; AWS refuses it.
    if !signed_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("host"))
    {
        return Err(SigError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }
    Ok(Claim {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
        timestamp,
        request_time,
        presigned,
        security_token,
    })
}

/// The request time from `X-Amz-Date` or else `Date`; `Ok(None)` if neither is present.
fn header_time(headers: &http::HeaderMap) -> Result<Option<i64>, SigError> {
    if let Some(value) = headers.get("x-amz-date") {
        let value = String::from_utf8_lossy(value.as_bytes());
        return parse_amz_date(value.trim())
            .map(Some)
            .ok_or_else(|| bad_date(&value));
    }
    if let Some(value) = headers.get(http::header::DATE) {
        let value = String::from_utf8_lossy(value.as_bytes());
        return parse_http_date(value.trim())
            .map(Some)
            .ok_or_else(|| bad_date(&value));
    }
    Ok(None)
}

fn bad_date(value: &str) -> SigError {
    SigError::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
    ))
}

/// Derived signing keys, cached, and the verification itself.
///
/// The key derivation is four HMACs; caching it per (access key, date, region, service) leaves
/// two SHA-256 of the request data and one HMAC on the hot path.
#[derive(Default)]
pub struct Verifier {
    /// `access_key/date/region/service/aws4_request` -> (secret, signing key). The secret is
    /// kept to notice a rotated secret for the same access key.
    keys: RwLock<HashMap<String, (String, [u8; 32])>>,
    /// Number of key derivations done (cache misses), for tests and metrics.
    derivations: AtomicU64,
}

// Written by hand so that secrets and signing keys never reach logs.
impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("cached_keys", &self.cached_keys())
            .field("derivations", &self.key_derivations())
            .finish()
    }
}

impl Verifier {
    /// An empty verifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies a claim returned by [`parse`] for `req`, with the secret key of the claim's
    /// access key and the server's current time. Checks the time, the payload hash and the
    /// signature.
    pub fn verify(
        &self,
        req: &SignedRequest<'_>,
        claim: &Claim,
        secret_access_key: &str,
        now_unix_secs: i64,
    ) -> Result<(), SigError> {
        check_time(claim, now_unix_secs)?;
        let canonical = canonical_request(req, claim)?;
        let scope = claim.scope();
        let string_to_sign = format!(
            "{ALGORITHM}\n{}\n{scope}\n{}",
            claim.timestamp,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = self.signing_key(&claim.access_key_id, &scope, claim, secret_access_key);
        let computed = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        if bool::from(computed.as_bytes().ct_eq(claim.signature.as_bytes())) {
            return Ok(());
        }
        // A presigned request (no payload hash header) may have been signed S3-style with
        // UNSIGNED-PAYLOAD. Accept that only for an empty body, where it signs the same thing.
        if claim.presigned.is_some()
            && req.body.is_empty()
            && content_sha256_header(req.headers).is_none()
        {
            let canonical = with_payload_hash(&canonical, UNSIGNED_PAYLOAD);
            let string_to_sign = format!(
                "{ALGORITHM}\n{}\n{scope}\n{}",
                claim.timestamp,
                hex::encode(Sha256::digest(canonical.as_bytes()))
            );
            let computed = hex::encode(hmac(&key, string_to_sign.as_bytes()));
            if bool::from(computed.as_bytes().ct_eq(claim.signature.as_bytes())) {
                return Ok(());
            }
        }
        Err(SigError::SignatureMismatch)
    }

    /// Number of signing-key derivations done so far (cache misses).
    pub fn key_derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    /// Number of cached signing keys.
    pub fn cached_keys(&self) -> usize {
        self.keys.read().len()
    }

    fn signing_key(
        &self,
        access_key_id: &str,
        scope: &str,
        claim: &Claim,
        secret: &str,
    ) -> [u8; 32] {
        let cache_key = format!("{access_key_id}/{scope}");
        if let Some((cached_secret, key)) = self.keys.read().get(&cache_key) {
            if bool::from(cached_secret.as_bytes().ct_eq(secret.as_bytes())) {
                return *key;
            }
        }
        self.derivations.fetch_add(1, Ordering::Relaxed);
        let key = derive_key(secret, &claim.date, &claim.region, &claim.service);
        let mut keys = self.keys.write();
        if keys.len() >= CACHE_LIMIT {
            keys.clear();
        }
        keys.insert(cache_key, (secret.to_owned(), key));
        key
    }
}

fn check_time(claim: &Claim, now: i64) -> Result<(), SigError> {
    let request = claim.request_time;
    if request > now.saturating_add(MAX_SKEW_SECS) {
        return Err(SigError::NotYetCurrent {
            request: claim.timestamp.clone(),
            limit: format_amz_date(now.saturating_add(MAX_SKEW_SECS)),
            now: format_amz_date(now),
        });
    }
    match claim.presigned {
        // A presigned request is valid from its date for its validity, not ±15 minutes.
        // What AWS's JSON services answer past it is not documented; this keeps their
        // "Signature expired" wording and type (InvalidSignatureException).
        Some(expires) => {
            let expires_i = i64::try_from(expires).unwrap_or(i64::MAX);
            if now > request.saturating_add(expires_i) {
                return Err(SigError::PresignExpired {
                    request: claim.timestamp.clone(),
                    limit: format_amz_date(now.saturating_sub(expires_i)),
                    now: format_amz_date(now),
                    expires,
                });
            }
        }
        None => {
            if request < now.saturating_sub(MAX_SKEW_SECS) {
                return Err(SigError::Expired {
                    request: claim.timestamp.clone(),
                    limit: format_amz_date(now.saturating_sub(MAX_SKEW_SECS)),
                    now: format_amz_date(now),
                });
            }
        }
    }
    Ok(())
}

fn content_sha256_header(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("x-amz-content-sha256")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

/// Replaces the last line (the payload hash) of a canonical request.
fn with_payload_hash(canonical: &str, hash: &str) -> String {
    let head = canonical.rsplit_once('\n').map_or("", |(head, _)| head);
    format!("{head}\n{hash}")
}

/// The payload hash line: the client's `x-amz-content-sha256` if sent (checked against the
/// body when it is a digest), else the body's SHA-256.
fn payload_hash(req: &SignedRequest<'_>) -> Result<String, SigError> {
    let body_hash = || hex::encode(Sha256::digest(req.body));
    match content_sha256_header(req.headers) {
        None => Ok(body_hash()),
        // An unsigned payload is S3's; here it would leave a body open to substitution.
        Some(value) if value == UNSIGNED_PAYLOAD && req.body.is_empty() => Ok(value),
        Some(value) if value == UNSIGNED_PAYLOAD => Err(SigError::UnsignedPayload),
        Some(value) if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if value.eq_ignore_ascii_case(&body_hash()) {
                Ok(value)
            } else {
                Err(SigError::ContentSha256Mismatch)
            }
        }
        // Streaming (aws-chunked) payloads are an S3 feature this server does not speak.
        Some(_) => Err(SigError::BadContentSha256),
    }
}

/// The canonical request, as AWS builds it for services other than S3.
fn canonical_request(req: &SignedRequest<'_>, claim: &Claim) -> Result<String, SigError> {
    let mut out = String::with_capacity(256 + req.path.len());
    out.push_str(req.method);
    out.push('\n');
    encode_into(&mut out, normalize_path(req.path).as_bytes(), true);
    out.push('\n');
    out.push_str(&canonical_query(
        req.query.unwrap_or(""),
        claim.presigned.is_some(),
    ));
    out.push('\n');
    for name in &claim.signed_headers {
        let name = name.to_ascii_lowercase();
        out.push_str(&name);
        out.push(':');
        // A signed header missing from the request gets an empty value: the signature then
        // fails, as it does on AWS, instead of a different error.
        for (i, value) in req.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            trim_all_into(&mut out, &String::from_utf8_lossy(value.as_bytes()));
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&claim.signed_headers.join(";"));
    out.push('\n');
    out.push_str(&payload_hash(req)?);
    Ok(out)
}

/// Removes `.` and `..` segments and empty segments (duplicate slashes), keeping a trailing
/// slash, as aws-sigv4 (`UriPathNormalizationMode::Enabled`) and botocore do.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

/// The canonical query: pairs decoded as a form (`+` is a space, as aws-sigv4 does), encoded
/// again with AWS's unreserved set, sorted by encoded name then value.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            let mut ek = String::with_capacity(k.len());
            encode_into(&mut ek, k.as_bytes(), false);
            let mut ev = String::with_capacity(v.len());
            encode_into(&mut ev, v.as_bytes(), false);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Decoded query pairs, in order; empty pieces are skipped, a piece without `=` has an empty
/// value.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes all but AWS's unreserved characters (and `/` for paths), uppercase hex.
fn encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Trims spaces at both ends and collapses runs of spaces to one (spaces only, like aws-sigv4).
fn trim_all_into(out: &mut String, value: &str) {
    let mut previous_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if previous_space {
                continue;
            }
            previous_space = true;
        } else {
            previous_space = false;
        }
        out.push(c);
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn derive_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn timestamp(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    // Four-digit years only (both formats have them); a huge `Date` year would overflow.
    if !(0..=9999).contains(&y) {
        return None;
    }
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC).
fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || s.get(8..9)? != "T" || s.get(15..16)? != "Z" {
        return None;
    }
    timestamp(
        digits(s.get(0..4)?)?,
        digits(s.get(4..6)?)?,
        digits(s.get(6..8)?)?,
        digits(s.get(9..11)?)?,
        digits(s.get(11..13)?)?,
        digits(s.get(13..15)?)?,
    )
}

/// The HTTP `Date` format (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<i64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let day = digits(parts.next()?)?;
    let month_name = parts.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month_name)?;
    let year = digits(parts.next()?)?;
    let mut hms = parts.next()?.split(':');
    let (h, mi, sec) = (
        digits(hms.next()?)?,
        digits(hms.next()?)?,
        digits(hms.next()?)?,
    );
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    timestamp(year, i64::try_from(month).ok()? + 1, day, h, mi, sec)
}

fn format_amz_date(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation,
        SigningSettings,
    };
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    use std::time::{Duration, UNIX_EPOCH};

    const AKID: &str = "AKIDTEST";
    const SECRET: &str = "test-secret";
    /// 2026-12-01T10:15:00Z
    const T: i64 = 1_796_120_100;

    struct Signed {
        req: http::Request<Vec<u8>>,
    }

    impl Signed {
        fn parts(&self) -> (String, Option<String>) {
            (
                self.req.uri().path().to_owned(),
                self.req.uri().query().map(str::to_owned),
            )
        }

        fn check(&self, secret: &str, now: i64) -> Result<(), SigError> {
            check_with(&Verifier::new(), &self.req, secret, now)
        }
    }

    fn check_with(
        verifier: &Verifier,
        req: &http::Request<Vec<u8>>,
        secret: &str,
        now: i64,
    ) -> Result<(), SigError> {
        let signed = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            headers: req.headers(),
            body: req.body(),
        };
        let claim = parse(&signed)?;
        claim.check_scope("us-east-1", &claim.service)?;
        verifier.verify(&signed, &claim, secret, now)
    }

    /// Signs with aws-sigv4 as an SDK would; `uri` is the full URL (its path and query are
    /// what goes on the wire), `headers` are sent as given (host included).
    fn aws_sign(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        unsigned: bool,
        settings: SigningSettings,
        service: &str,
    ) -> Signed {
        let identity: Identity = Credentials::new(AKID, SECRET, None, None, "test").into();
        let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(T).unwrap());
        let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable_body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(body)
        };
        let signable =
            SignableRequest::new(method, uri, headers.iter().copied(), signable_body).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let uri: http::Uri = uri.parse().unwrap();
        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri.path_and_query().unwrap().as_str());
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut req = builder.body(body.to_vec()).unwrap();
        instructions.apply_to_request_http1x(&mut req);
        Signed { req }
    }

    fn dynamodb() -> Signed {
        aws_sign(
            "POST",
            "https://dynamodb.us-east-1.amazonaws.com/",
            &[
                ("host", "dynamodb.us-east-1.amazonaws.com"),
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ],
            br#"{"TableName":"t","Key":{"pk":{"S":"a"}}}"#,
            false,
            SigningSettings::default(),
            "dynamodb",
        )
    }

    fn presigned_settings(expires: u64) -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        settings
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_amz_date(T), "20261201T101500Z");
        assert_eq!(parse_amz_date("20261201T101500Z"), Some(T));
        assert_eq!(parse_http_date("Tue, 01 Dec 2026 10:15:00 GMT"), Some(T));
        assert_eq!(parse_amz_date("20261301T101500Z"), None);
        assert_eq!(parse_amz_date("20260229T000000Z"), None);
        assert_eq!(parse_amz_date("2026-12-01T10:15Z"), None);
        // Found by fuzz::dates_never_panic: a huge year used to overflow (a panic in debug).
        assert_eq!(
            parse_http_date("Tue, 01 Jan 300000000000 00:00:00 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        // Every day over a few centuries formats back to itself.
        let mut t = -2_208_988_800; // 1900-01-01
        while t < 7_258_118_400 {
            // 2200-01-01
            assert_eq!(parse_amz_date(&format_amz_date(t)), Some(t));
            t += 86_400 + 3_661;
        }
    }

    #[test]
    fn dynamodb_post_verifies() {
        let signed = dynamodb();
        assert_eq!(signed.check(SECRET, T), Ok(()));
        // Within the 15-minute skew both ways.
        assert_eq!(signed.check(SECRET, T + 899), Ok(()));
        assert_eq!(signed.check(SECRET, T - 899), Ok(()));
    }

    #[test]
    fn lambda_path_and_query_verify() {
        let signed = aws_sign(
            "POST",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn/invocations?Qualifier=%24LATEST&b=x%20y&a=2&a=1&weird=%2F%2B%3D%26~_.-&empty=",
            &[
                ("host", "lambda.us-east-1.amazonaws.com"),
                ("X-Amz-Invocation-Type", "RequestResponse"),
                ("X-Custom-Spaces", "  several   spaces  inside "),
                ("x-multi", "one"),
                ("x-multi", "two  three"),
            ],
            b"{}",
            false,
            SigningSettings::default(),
            "lambda",
        );
        assert_eq!(signed.check(SECRET, T), Ok(()));
        // Tampering with the path or the query breaks it.
        let mut tampered = signed.req.clone();
        *tampered.uri_mut() = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Aother/invocations?Qualifier=%24LATEST&b=x%20y&a=2&a=1&weird=%2F%2B%3D%26~_.-&empty=".parse().unwrap();
        assert_eq!(
            check_with(&Verifier::new(), &tampered, SECRET, T),
            Err(SigError::SignatureMismatch)
        );
        let (path, query) = signed.parts();
        let mut tampered = signed.req.clone();
        *tampered.uri_mut() = format!("{path}?{}", query.unwrap().replace("a=2", "a=3"))
            .parse()
            .unwrap();
        assert_eq!(
            check_with(&Verifier::new(), &tampered, SECRET, T),
            Err(SigError::SignatureMismatch)
        );
    }

    /// UNSIGNED-PAYLOAD verifies without a body; with one it is refused (only S3 accepts
    /// bodies that are not signed: here the body could be swapped under the signature).
    #[test]
    fn unsigned_payload_only_without_a_body() {
        for (body, expected) in [
            (&b""[..], Ok(())),
            (&b"anything"[..], Err(SigError::UnsignedPayload)),
        ] {
            let mut settings = SigningSettings::default();
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            let signed = aws_sign(
                "PUT",
                "https://example.amazonaws.com/a/b",
                &[("host", "example.amazonaws.com")],
                body,
                true,
                settings,
                "dynamodb",
            );
            assert_eq!(
                signed.req.headers()["x-amz-content-sha256"],
                "UNSIGNED-PAYLOAD"
            );
            assert_eq!(signed.check(SECRET, T), expected);
        }
    }

    /// Headers that change what a request does must be signed when present.
    #[test]
    fn target_and_encoding_must_be_signed() {
        let mut signed = dynamodb();
        signed
            .req
            .headers_mut()
            .insert("content-encoding", http::HeaderValue::from_static("gzip"));
        let e = signed
            .check(SECRET, T)
            .expect_err("unsigned content-encoding");
        assert_eq!(e.code(), "IncompleteSignatureException");
        assert!(e.to_string().contains("'content-encoding'"), "{e}");
    }

    #[test]
    fn content_sha256_header_checked_against_body() {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let signed = aws_sign(
            "POST",
            "https://dynamodb.us-east-1.amazonaws.com/",
            &[("host", "dynamodb.us-east-1.amazonaws.com")],
            b"{}",
            false,
            settings,
            "dynamodb",
        );
        assert_eq!(signed.check(SECRET, T), Ok(()));
        let mut tampered = signed.req.clone();
        *tampered.body_mut() = b"{ }".to_vec();
        let err = check_with(&Verifier::new(), &tampered, SECRET, T).unwrap_err();
        assert_eq!(err, SigError::ContentSha256Mismatch);
        assert_eq!(err.code(), "InvalidSignatureException");
    }

    #[test]
    fn presigned_get_verifies_and_expires() {
        let signed = aws_sign(
            "GET",
            "https://dynamodb.us-east-1.amazonaws.com/path?x=1",
            &[("host", "dynamodb.us-east-1.amazonaws.com")],
            b"",
            false,
            presigned_settings(300),
            "dynamodb",
        );
        assert!(signed.req.headers().get("authorization").is_none());
        assert_eq!(signed.check(SECRET, T), Ok(()));
        assert_eq!(signed.check(SECRET, T + 300), Ok(()));
        let err = signed.check(SECRET, T + 301).unwrap_err();
        assert!(matches!(err, SigError::PresignExpired { .. }), "{err:?}");
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.to_string(),
            "Signature expired: 20261201T101500Z is now earlier than 20261201T101501Z (20261201T102001Z - 300 sec.)"
        );
        let err = signed.check(SECRET, T - 901).unwrap_err();
        assert!(matches!(err, SigError::NotYetCurrent { .. }), "{err:?}");
        assert_eq!(signed.check("wrong", T), Err(SigError::SignatureMismatch));
    }

    #[test]
    fn presigned_unsigned_payload_verifies() {
        // S3-style presigning signs UNSIGNED-PAYLOAD without sending a header.
        let signed = aws_sign(
            "GET",
            "https://dynamodb.us-east-1.amazonaws.com/",
            &[("host", "dynamodb.us-east-1.amazonaws.com")],
            b"",
            true,
            presigned_settings(60),
            "dynamodb",
        );
        assert_eq!(signed.check(SECRET, T), Ok(()));
        // With a body added, the unsigned form is not accepted.
        let mut tampered = signed.req.clone();
        *tampered.body_mut() = b"x".to_vec();
        assert_eq!(
            check_with(&Verifier::new(), &tampered, SECRET, T),
            Err(SigError::SignatureMismatch)
        );
    }

    #[test]
    fn session_token_is_accepted() {
        let identity: Identity =
            Credentials::new(AKID, SECRET, Some("tok/en+=".into()), None, "test").into();
        let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(T).unwrap());
        for settings in [SigningSettings::default(), presigned_settings(60)] {
            let params: aws_sigv4::http_request::SigningParams = v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("dynamodb")
                .time(time)
                .settings(settings)
                .build()
                .unwrap()
                .into();
            let headers = [("host", "localhost:8000")];
            let signable = SignableRequest::new(
                "POST",
                "http://localhost:8000/",
                headers.iter().copied(),
                SignableBody::Bytes(b"{}"),
            )
            .unwrap();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            let mut req = http::Request::builder()
                .method("POST")
                .uri("/")
                .header("host", "localhost:8000")
                .body(b"{}".to_vec())
                .unwrap();
            instructions.apply_to_request_http1x(&mut req);
            assert_eq!(check_with(&Verifier::new(), &req, SECRET, T), Ok(()));
            let signed = SignedRequest {
                method: "POST",
                path: req.uri().path(),
                query: req.uri().query(),
                headers: req.headers(),
                body: req.body(),
            };
            assert_eq!(
                parse(&signed).unwrap().security_token.as_deref(),
                Some("tok/en+=")
            );
        }
    }

    #[test]
    fn tampering_is_detected() {
        let signed = dynamodb();
        let v = Verifier::new();

        let mut req = signed.req.clone();
        req.body_mut().push(b' ');
        assert_eq!(
            check_with(&v, &req, SECRET, T),
            Err(SigError::SignatureMismatch)
        );

        let mut req = signed.req.clone();
        req.headers_mut().insert(
            "x-amz-target",
            http::HeaderValue::from_static("DynamoDB_20120810.DeleteItem"),
        );
        assert_eq!(
            check_with(&v, &req, SECRET, T),
            Err(SigError::SignatureMismatch)
        );

        let mut req = signed.req.clone();
        req.headers_mut().remove("x-amz-target");
        assert_eq!(
            check_with(&v, &req, SECRET, T),
            Err(SigError::SignatureMismatch)
        );

        let mut req = signed.req.clone();
        *req.uri_mut() = "/other".parse().unwrap();
        assert_eq!(
            check_with(&v, &req, SECRET, T),
            Err(SigError::SignatureMismatch)
        );

        let mut req = signed.req.clone();
        *req.method_mut() = http::Method::PUT;
        assert_eq!(
            check_with(&v, &req, SECRET, T),
            Err(SigError::SignatureMismatch)
        );

        let err = signed.check("wrong-secret", T).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(err.to_string(), "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
    }

    #[test]
    fn time_window() {
        let signed = dynamodb();
        let err = signed.check(SECRET, T + 30 * 60).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.to_string(),
            "Signature expired: 20261201T101500Z is now earlier than 20261201T103000Z (20261201T104500Z - 15 min.)"
        );
        let err = signed.check(SECRET, T - 30 * 60).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.to_string(),
            "Signature not yet current: 20261201T101500Z is still later than 20261201T100000Z (20261201T094500Z + 15 min.)"
        );
    }

    fn header_req(auth: Option<&str>, extra: &[(&str, &str)]) -> Result<Claim, SigError> {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        if let Some(auth) = auth {
            headers.insert("authorization", auth.parse().unwrap());
        }
        for (k, v) in extra {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse(&SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        })
    }

    #[test]
    fn malformed_authorization() {
        let date = [("x-amz-date", "20261201T101500Z")];
        let err = header_req(None, &date).unwrap_err();
        assert_eq!(err.code(), "MissingAuthenticationTokenException");
        assert_eq!(err.to_string(), "Request is missing Authentication Token");

        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/dynamodb/aws4_request";
        let err = header_req(Some(auth), &date).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert_eq!(err.to_string(), format!("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={auth}"));

        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        let err = header_req(Some(auth), &[]).unwrap_err();
        assert_eq!(err.to_string(), format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"));
        // A `Date` header is enough.
        let claim = header_req(Some(auth), &[("date", "Tue, 01 Dec 2026 10:15:00 GMT")]).unwrap();
        assert_eq!(claim.request_time, T);
        assert_eq!(claim.scope(), "20261201/us-east-1/dynamodb/aws4_request");

        let err = header_req(Some(&auth.replace("SHA256", "SHA512")), &date).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert_eq!(
            err.to_string(),
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"
        );

        let err = header_req(Some(&auth.replace("/aws4_request", "")), &date).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(err
            .to_string()
            .starts_with("Credential must have exactly 5"));

        let err = header_req(Some(&auth.replace("aws4_request", "aws5")), &date).unwrap_err();
        assert_eq!(err, SigError::BadTerminator("aws5".into()));
        assert_eq!(err.code(), "InvalidSignatureException");

        let err = header_req(Some(&auth.replace("20261201", "20261202")), &date).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(err.to_string(), "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261202' != '20261201', from '20261201T101500Z'.");

        let err = header_req(Some(&auth.replace("host;", "")), &date).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");

        let err = header_req(Some(auth), &[("x-amz-date", "2026-12-01")]).unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");

        let claim = header_req(Some(auth), &date).unwrap();
        assert_eq!(
            claim
                .check_scope("eu-west-1", "dynamodb")
                .unwrap_err()
                .to_string(),
            "Credential should be scoped to a valid region, not 'us-east-1'. "
        );
        assert_eq!(
            claim
                .check_scope("us-east-1", "lambda")
                .unwrap_err()
                .to_string(),
            "Credential should be scoped to correct service: 'lambda'. "
        );
    }

    #[test]
    fn malformed_presigned() {
        static HEADERS: std::sync::OnceLock<http::HeaderMap> = std::sync::OnceLock::new();
        fn req(query: &str) -> SignedRequest<'_> {
            SignedRequest {
                method: "GET",
                path: "/",
                query: Some(query),
                headers: HEADERS.get_or_init(http::HeaderMap::new),
                body: b"",
            }
        }
        let err = parse(&req(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261201T101500Z",
        ))
        .unwrap_err();
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert_eq!(err.to_string(), "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Expires'. Re-examine the query-string parameters.");
        let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fdynamodb%2Faws4_request&X-Amz-Date=20261201T101500Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=";
        let query = format!("{full}604800");
        let claim = parse(&req(&query)).unwrap();
        assert_eq!(claim.presigned, Some(604_800));
        assert_eq!(claim.access_key_id, "AKID");
        for bad in ["604801", "0", "-1", "x"] {
            let query = format!("{full}{bad}");
            let err = parse(&req(&query)).unwrap_err();
            assert_eq!(err.code(), "IncompleteSignatureException", "{bad}");
        }
    }

    /// The example of AWS's documentation ("Create a signed AWS API request"): IAM ListUsers.
    #[test]
    fn aws_documentation_example() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers.insert("host", http::HeaderValue::from_static("iam.amazonaws.com"));
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20150830T123600Z"),
        );
        headers.insert("authorization", http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"));
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            body: b"",
        };
        let claim = parse(&req).unwrap();
        let canonical = canonical_request(&req, &claim).unwrap();
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(derive_key(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830",
                "us-east-1",
                "iam"
            )),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let v = Verifier::new();
        assert_eq!(
            v.verify(
                &req,
                &claim,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn signing_keys_are_cached() {
        let v = Verifier::new();
        let signed = dynamodb();
        for _ in 0..3 {
            assert_eq!(check_with(&v, &signed.req, SECRET, T), Ok(()));
        }
        assert_eq!(v.key_derivations(), 1);
        assert_eq!(v.cached_keys(), 1);
        // A rotated secret for the same key is derived again (and the old one fails).
        assert_eq!(
            check_with(&v, &signed.req, "rotated", T),
            Err(SigError::SignatureMismatch)
        );
        assert_eq!(v.key_derivations(), 2);
        assert_eq!(v.cached_keys(), 1);
        // The cache stays bounded.
        for i in 0..CACHE_LIMIT + 10 {
            let _ = v.signing_key(
                &format!("AK{i}"),
                "20261201/r/s/aws4_request",
                &parse(&SignedRequest {
                    method: "POST",
                    path: "/",
                    query: None,
                    headers: signed.req.headers(),
                    body: signed.req.body(),
                })
                .unwrap(),
                SECRET,
            );
        }
        assert!(v.cached_keys() <= CACHE_LIMIT);
    }

    #[test]
    fn path_normalization_and_encoding() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("//a//b/", "/a/b/"),
            ("/a/./b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/../", "/"),
            ("/a%3Ab c", "/a%253Ab%20c"),
            ("/~_.-", "/~_.-"),
        ];
        for (path, expected) in cases {
            let mut out = String::new();
            encode_into(&mut out, normalize_path(path).as_bytes(), true);
            assert_eq!(out, expected, "{path}");
        }
        assert_eq!(
            canonical_query("b=2&a=x+y&a=1&c&&%7e=%41", false),
            "a=1&a=x%20y&b=2&c=&~=A"
        );
        assert_eq!(canonical_query("X-Amz-Signature=ab&a=1", true), "a=1");
        let mut out = String::new();
        trim_all_into(&mut out, "  a   b c  ");
        assert_eq!(out, "a b c");
    }

    const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'/');

    /// Random paths, queries and header values signed by aws-sigv4 all verify.
    #[test]
    fn random_requests_verify() {
        let alphabet: &[u8] = b"aZ09-_.~%2F+ !$&'()*,;=:@/";
        let mut seed: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for _ in 0..100 {
            let mut word = |n: u64| -> String {
                let len = next() % n;
                (0..len)
                    .map(|_| {
                        let i = usize::try_from(next()).unwrap() % alphabet.len();
                        char::from(alphabet[i])
                    })
                    .collect()
            };
            let raw_path = word(12);
            let raw_query = word(12);
            let value = word(12).replace(['%', '/'], "x");
            let path: String =
                percent_encoding::utf8_percent_encode(&raw_path, PATH_SET).to_string();
            let query: String = raw_query
                .split('&')
                .map(|p| {
                    percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join("&");
            let uri = format!("https://h.example.com/{path}?{query}");
            if uri.parse::<http::Uri>().is_err() {
                continue;
            }
            let presign = next() % 2 == 0;
            let settings = if presign {
                presigned_settings(60)
            } else {
                SigningSettings::default()
            };
            let signed = aws_sign(
                "POST",
                &uri,
                &[("host", "h.example.com"), ("x-value", value.as_str())],
                path.as_bytes(),
                false,
                settings,
                "dynamodb",
            );
            assert_eq!(signed.check(SECRET, T), Ok(()), "{uri} {value:?}");
            checked += 1;
        }
        assert!(checked > 80, "{checked}");
    }
}

/// Hostile-input tests: nothing a client sends may panic, hang or take super-linear time.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// 2026-12-01T10:15:00Z
    const T: i64 = 1_796_120_100;

    /// A byte valid in a header value (visible ASCII, space, tab, and any byte >= 0x80).
    fn sanitize(b: u8) -> u8 {
        if b == b'\t' || (b >= 0x20 && b != 0x7f) {
            b
        } else {
            b'x'
        }
    }

    fn value_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|bytes| bytes.into_iter().map(sanitize).collect())
    }

    fn text(fragments: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::sample::select(fragments).prop_map(str::to_owned),
                1 => "[ -~]{0,6}",
                1 => any::<char>().prop_map(String::from),
            ],
            0..max,
        )
        .prop_map(|parts| parts.concat())
    }

    const WORDS: &[&str] = &[
        "host",
        "x-amz-date",
        "content-type",
        "x-amz-content-sha256",
        "X-Amz-Target",
        "",
        " ",
        "=",
        ",",
        ";",
        "/",
        "aws4_request",
        "20261201",
        "us-east-1",
        "dynamodb",
        "AKID",
        "%",
        "%zz",
        "%ff",
        "%2F",
        "\u{e9}",
    ];

    fn amz_date() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (T - 100_000_000..T + 100_000_000).prop_map(format_amz_date),
            1 => any::<i64>().prop_map(format_amz_date),
            1 => "[0-9TZ]{0,20}",
            1 => "[0-9]{8}T[0-9]{6}Z",
            1 => ".{0,20}",
        ]
    }

    fn http_date() -> impl Strategy<Value = String> {
        let num = |valid: std::ops::Range<i64>| {
            prop_oneof![
                4 => valid.prop_map(|n| format!("{n:02}")),
                1 => any::<i64>().prop_map(|n| n.to_string()),
                1 => "[0-9]{0,30}",
            ]
        };
        let year = prop_oneof![
            1 => (1900i64..2200).prop_map(|n| n.to_string()),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => "[0-9]{0,30}",
        ];
        let month = prop_oneof![
            4 => proptest::sample::select(&["Jan", "Feb", "Dec"][..]).prop_map(str::to_owned),
            1 => "[A-Za-z]{0,4}",
        ];
        prop_oneof![
            4 => (num(1..32), month, year, num(0..24), num(0..60), num(0..61)).prop_map(
                |(d, month, y, h, m, s)| format!("Tue, {d} {month} {y} {h}:{m}:{s} GMT")
            ),
            1 => ".{0,40}",
        ]
    }

    /// A near-valid `Authorization` header for `date` (`YYYYMMDD`), or random text.
    fn authorization(date: String) -> impl Strategy<Value = Vec<u8>> {
        let algorithm = prop_oneof![
            4 => Just(ALGORITHM.to_owned()),
            1 => ".{0,20}",
        ];
        let credential = prop_oneof![
            2 => Just(format!("AKID/{date}/us-east-1/dynamodb/aws4_request")),
            1 => proptest::collection::vec(text(WORDS, 3), 0..8).prop_map(|p| p.join("/")),
        ];
        let name = prop_oneof![
            3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
            1 => "[ -~]{0,10}",
            1 => ".{0,4}",
        ];
        let signed = prop_oneof![
            proptest::collection::vec(name.clone(), 0..20).prop_map(|mut names| {
                names.push("host".to_owned());
                names.join(";")
            }),
            proptest::collection::vec(name, 0..20).prop_map(|names| names.join(";")),
            (0usize..3000).prop_map(|n| ";".repeat(n)),
        ];
        let signature = prop_oneof!["[0-9a-f]{64}", ".{0,70}"];
        prop_oneof![
            3 => (algorithm, credential, signed, signature, text(WORDS, 4)).prop_map(
                |(a, c, sh, s, junk)| {
                    format!("{a} Credential={c}, SignedHeaders={sh}, Signature={s}{junk}")
                        .into_bytes()
                }
            ),
            1 => text(WORDS, 30).prop_map(String::into_bytes),
            1 => value_bytes(200),
        ]
    }

    fn header_map() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        let name = prop_oneof![
            3 => proptest::sample::select(&[
                "host",
                "content-type",
                "x-amz-content-sha256",
                "x-amz-security-token",
                "x-amz-target",
                "x-amz-meta",
            ][..])
            .prop_map(str::to_owned),
            1 => "[a-z0-9-]{1,12}",
            1 => proptest::sample::select(&["x-amz-date", "date", "authorization"][..])
                .prop_map(str::to_owned),
        ];
        let value = prop_oneof![
            Just(b"UNSIGNED-PAYLOAD".to_vec()),
            "[0-9a-fA-F]{64}".prop_map(String::into_bytes),
            value_bytes(40),
        ];
        proptest::collection::vec((name, value), 0..8)
    }

    fn query() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            3 => proptest::sample::select(&[
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Signature",
                "X-Amz-SignedHeaders",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-Security-Token",
                "X-Amz-%41lgorithm",
            ][..])
            .prop_map(str::to_owned),
            1 => text(WORDS, 3),
        ];
        let value = prop_oneof![
            Just(ALGORITHM.to_owned()),
            Just("AKID%2F20261201%2Fus-east-1%2Fdynamodb%2Faws4_request".to_owned()),
            Just("20261201T101500Z".to_owned()),
            Just("host".to_owned()),
            "[0-9]{0,25}",
            "-[0-9]{1,5}",
            text(WORDS, 6),
        ];
        proptest::collection::vec((key, value, 0u8..4), 0..12).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v, form)| match form {
                    0 => k,
                    1 => format!("{k}="),
                    _ => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join("&")
        })
    }

    fn path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            proptest::sample::select(
                &["", ".", "..", "%2e", "%2E%2e", "a", "%ff", "%zz", "%", "~", " "][..]
            )
            .prop_map(str::to_owned),
            ".{0,8}",
            (0usize..2000).prop_map(|n| "x".repeat(n)),
        ];
        (any::<bool>(), proptest::collection::vec(segment, 0..12))
            .prop_map(|(slash, segs)| format!("{}{}", if slash { "/" } else { "" }, segs.join("/")))
    }

    fn now() -> impl Strategy<Value = i64> {
        prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            Just(T),
            T - 2_000_000..T + 2_000_000,
            any::<i64>(),
        ]
    }

    #[derive(Debug, Clone)]
    struct Input {
        method: String,
        path: String,
        query: Option<String>,
        authorization: Option<Vec<u8>>,
        amz_date: Option<String>,
        date: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        secret: String,
        now: i64,
    }

    fn input() -> impl Strategy<Value = Input> {
        let auth_and_date = amz_date().prop_flat_map(|amz| {
            let scope_date = amz.get(..8).unwrap_or("20261201").to_owned();
            (
                Just(amz),
                proptest::option::weighted(0.9, authorization(scope_date)),
            )
        });
        (
            prop_oneof![Just("POST".to_owned()), Just("GET".to_owned()), ".{0,8}"],
            path(),
            proptest::option::weighted(0.3, query()),
            auth_and_date,
            proptest::bool::weighted(0.9),
            proptest::option::weighted(0.3, http_date()),
            header_map(),
            proptest::collection::vec(any::<u8>(), 0..64),
            ".{0,20}",
            now(),
        )
            .prop_map(
                |(
                    method,
                    path,
                    query,
                    (amz, authorization),
                    with_amz,
                    date,
                    headers,
                    body,
                    secret,
                    now,
                )| {
                    Input {
                        method,
                        path,
                        query,
                        authorization,
                        amz_date: with_amz.then_some(amz),
                        date,
                        headers,
                        body,
                        secret,
                        now,
                    }
                },
            )
    }

    fn build_headers(input: &Input) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("localhost"));
        for (name, value) in &input.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        let mut set = |name: &'static str, value: &[u8]| {
            let value: Vec<u8> = value.iter().copied().map(sanitize).collect();
            if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                headers.insert(name, value);
            }
        };
        if let Some(auth) = &input.authorization {
            set("authorization", auth);
        }
        if let Some(amz) = &input.amz_date {
            set("x-amz-date", amz.as_bytes());
        }
        if let Some(date) = &input.date {
            set("date", date.as_bytes());
        }
        headers
    }

    /// Parses and, when that succeeds, verifies; returns whether `parse` succeeded.
    fn exercise(input: &Input) -> bool {
        let headers = build_headers(input);
        let req = SignedRequest {
            method: &input.method,
            path: &input.path,
            query: input.query.as_deref(),
            headers: &headers,
            body: &input.body,
        };
        let Ok(claim) = parse(&req) else {
            return false;
        };
        let verifier = Verifier::new();
        let _ = claim.scope();
        let _ = claim.check_scope("us-east-1", "dynamodb");
        for now in [input.now, i64::MIN, i64::MAX, 0, claim.request_time] {
            let result = verifier.verify(&req, &claim, &input.secret, now);
            if let Err(e) = result {
                let _ = (e.code(), e.to_string());
            }
        }
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn hostile_requests_never_panic(input in input()) {
            exercise(&input);
        }

        #[test]
        fn arbitrary_authorization_bytes_never_panic(
            auth in value_bytes(300),
            amz in proptest::option::of(amz_date()),
            date in proptest::option::of(http_date()),
            now in now(),
        ) {
            let input = Input {
                method: "POST".to_owned(),
                path: "/".to_owned(),
                query: None,
                authorization: Some(auth),
                amz_date: amz,
                date,
                headers: Vec::new(),
                body: Vec::new(),
                secret: "s".to_owned(),
                now,
            };
            exercise(&input);
        }

        #[test]
        fn presigned_queries_never_panic(
            query in query(),
            path in path(),
            headers in header_map(),
            now in now(),
        ) {
            // A complete presigned query with one part randomised or repeated.
            let full = format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fdynamodb%2Faws4_request&X-Amz-Date=20261201T101500Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60&{query}"
            );
            for query in [query.clone(), full] {
                let input = Input {
                    method: "GET".to_owned(),
                    path: path.clone(),
                    query: Some(query),
                    authorization: None,
                    amz_date: None,
                    date: None,
                    headers: headers.clone(),
                    body: Vec::new(),
                    secret: "s".to_owned(),
                    now,
                };
                exercise(&input);
            }
        }

        /// Well-formed claims over random requests: `parse` succeeds, `verify` never panics.
        #[test]
        fn near_valid_requests_verify_without_panic(
            t in T - 100_000_000..T + 100_000_000,
            names in proptest::collection::vec("[ -~]{0,10}|x-amz-content-sha256|content-type", 0..30),
            signature in ".{1,70}",
            path in path(),
            query in "[a-z0-9=&%+]{0,40}",
            headers in header_map(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            secret in ".{0,20}",
            now in now(),
        ) {
            let date = format_amz_date(t);
            let signature = signature.replace([',', ' ', '\t'], "x");
            let mut seen = std::collections::HashSet::from(["host".to_owned()]);
            let names: Vec<String> = names
                .into_iter()
                // Names a client could sign: not empty, no separators or whitespace (an empty
                // name twice, or " x" beside "x", is a duplicate parse rightly refuses).
                .filter(|n| {
                    !n.is_empty()
                        && !n.contains([',', ';'])
                        && !n.contains(char::is_whitespace)
                        && seen.insert(n.to_ascii_lowercase())
                })
                .collect();
            let auth = format!(
                "{ALGORITHM} Credential=AKID/{}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;{}, Signature={signature}",
                &date[..8],
                names.join(";")
            );
            let input = Input {
                method: "POST".to_owned(),
                path,
                query: Some(query),
                authorization: Some(auth.into_bytes()),
                amz_date: Some(date),
                date: None,
                // Headers that must be signed when present are left out unless they are.
                headers: headers
                    .into_iter()
                    .filter(|(k, _)| k != "authorization" && k != "x-amz-date")
                    .filter(|(k, _)| {
                        !["x-amz-target", "content-encoding", "x-amz-content-sha256"]
                            .contains(&k.as_str())
                            || seen.contains(&k.to_ascii_lowercase())
                    })
                    .collect(),
                body,
                secret,
                now,
            };
            prop_assert!(exercise(&input));
        }

        #[test]
        fn dates_never_panic(amz in amz_date(), date in http_date(), t in any::<i64>()) {
            let _ = parse_amz_date(&amz);
            let _ = parse_http_date(&date);
            let formatted = format_amz_date(t);
            if (-62_167_219_200..253_402_300_800).contains(&t) {
                // Years 0000 to 9999 round-trip.
                prop_assert_eq!(parse_amz_date(&formatted), Some(t));
            }
        }
    }

    /// A request signed like the DynamoDB example, with the given pieces.
    fn timed(auth: &str, headers: &[(String, String)], path: &str, query: Option<&str>) {
        let mut map = http::HeaderMap::new();
        map.insert("host", http::HeaderValue::from_static("localhost"));
        map.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20261201T101500Z"),
        );
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        if !auth.is_empty() {
            map.insert("authorization", http::HeaderValue::from_str(auth).unwrap());
        }
        let req = SignedRequest {
            method: "POST",
            path,
            query,
            headers: &map,
            body: b"{}",
        };
        let start = Instant::now();
        if let Ok(claim) = parse(&req) {
            let v = Verifier::new();
            assert_eq!(
                v.verify(&req, &claim, "secret", T),
                Err(SigError::SignatureMismatch)
            );
        }
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    }

    const SCOPE: &str = "AKID/20261201/us-east-1/dynamodb/aws4_request";

    #[test]
    fn huge_authorization_header_is_fast() {
        let mb = 1 << 20;
        let cases = [
            format!("{ALGORITHM} {}", ",".repeat(mb)),
            format!("{ALGORITHM} {}", "Credential=a/".repeat(mb / 13)),
            format!(
                "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host, Signature={}",
                "0".repeat(mb)
            ),
            format!(
                "{ALGORITHM} Credential={}{SCOPE}, SignedHeaders=host, Signature=00",
                "A".repeat(mb)
            ),
            format!(
                "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host{}, Signature=00",
                ";".repeat(mb)
            ),
            format!(
                "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host;{}, Signature=00",
                "x".repeat(mb)
            ),
            "a".repeat(mb),
            " ".repeat(mb) + "x",
        ];
        for auth in &cases {
            timed(auth, &[], "/", None);
        }
    }

    #[test]
    fn ten_thousand_signed_headers_are_fast() {
        let names: Vec<String> = (0..10_000).map(|i| format!("x-h{i}")).collect();
        let headers: Vec<(String, String)> = names
            .iter()
            .map(|n| (n.clone(), format!("  value   of {n}  ")))
            .collect();
        let auth = format!(
            "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host;{}, Signature=00",
            names.join(";")
        );
        timed(&auth, &headers, "/", None);
        // One header listed over and over with a large value: refused (duplicates), where
        // building the canonical request would have taken (list length × value size).
        let auth = format!(
            "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host;{}, Signature=00",
            vec!["x-h"; 250_000].join(";")
        );
        let big = [("x-h".to_owned(), "v".repeat(100 * 1024))];
        timed(&auth, &big, "/", None);
        let mut map = http::HeaderMap::new();
        map.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20261201T101500Z"),
        );
        map.insert("authorization", http::HeaderValue::from_str(&auth).unwrap());
        let err = parse(&SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &map,
            body: b"",
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "SignedHeaders lists 'x-h' more than once.");
        // Names that are not valid header names.
        let names: Vec<String> = (0..10_000).map(|i| format!("a b\u{e9}{i}")).collect();
        let auth = format!(
            "{ALGORITHM} Credential={SCOPE}, SignedHeaders=host;{}, Signature=00",
            names.join(";")
        );
        timed(&auth, &[], "/", None);
    }

    #[test]
    fn huge_paths_and_queries_are_fast() {
        let auth = format!("{ALGORITHM} Credential={SCOPE}, SignedHeaders=host, Signature=00");
        let kb100 = 100 * 1024;
        let paths = [
            format!("/{}", "x".repeat(kb100)),
            "/a/..".repeat(kb100 / 5),
            "/..".repeat(kb100 / 3),
            "/".repeat(kb100),
            "/%2e%2e".repeat(kb100 / 7),
            "%ff".repeat(kb100 / 3),
            "/./".repeat(kb100 / 3),
        ];
        for path in &paths {
            timed(&auth, &[], path, None);
        }
        let queries = [
            "a=1&".repeat(kb100 / 4),
            "%zz".repeat(kb100 / 3),
            "%ff%".repeat(kb100 / 4),
            "&".repeat(kb100),
            "X-Amz-Signature=1&".repeat(kb100 / 18),
        ];
        for query in &queries {
            timed(&auth, &[], "/", Some(query));
        }
        // Presigned: 100 KB of repeated parameters.
        let presigned = format!(
            "{}X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261201%2Fus-east-1%2Fdynamodb%2Faws4_request&X-Amz-Date=20261201T101500Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60",
            "X-Amz-Date=x&".repeat(kb100 / 13)
        );
        timed("", &[], "/", Some(&presigned));
    }
}
