//! Lambda's Invoke protocol: the invocation and log types (`X-Amz-Invocation-Type`,
//! `X-Amz-Log-Type`) with Lambda's messages, the payload and response limits, what a
//! synchronous invocation answers (the handler's response, or an unhandled failure's
//! `errorMessage`/`errorType`) and the log tail. The HTTP layer reads the headers and body
//! and writes the status and headers; errors are [`FunctionError`]s.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::json;

use crate::functions::FunctionError;
use crate::names::validation_message;
use crate::{Invocation, LogLine, RuntimeError};

/// Largest Invoke payload: synchronous (6 MB) and asynchronous (1 MB), as Lambda has them.
pub const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
pub const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Largest synchronous response a handler may return (Lambda: 6 MB).
pub const RESPONSE_MAX: usize = 6 * 1024 * 1024;
/// Bytes of the invocation's log returned with `X-Amz-Log-Type: Tail`.
pub const LOG_TAIL: usize = 4096;

/// `X-Amz-Invocation-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    /// The header's value (absent: RequestResponse), or Lambda's ValidationException.
    pub fn parse(header: Option<&str>) -> Result<InvocationType, FunctionError> {
        match header.unwrap_or("RequestResponse") {
            "RequestResponse" => Ok(InvocationType::RequestResponse),
            "Event" => Ok(InvocationType::Event),
            "DryRun" => Ok(InvocationType::DryRun),
            other => Err(FunctionError::Validation(validation_message(&[format!(
                "Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )]))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }

    /// The largest payload this type takes.
    pub fn payload_max(self) -> usize {
        match self {
            InvocationType::RequestResponse | InvocationType::DryRun => SYNC_PAYLOAD_MAX,
            InvocationType::Event => ASYNC_PAYLOAD_MAX,
        }
    }

    /// Lambda's error for a payload of `len` bytes over [`Self::payload_max`].
    pub fn payload_too_large(self, len: usize) -> FunctionError {
        FunctionError::RequestTooLarge(format!(
            "{len} byte payload is too large for the {} invocation type (limit {} bytes)",
            self.as_str(),
            self.payload_max()
        ))
    }
}

/// `X-Amz-Log-Type`: whether the log's tail is wanted (`Tail`), or Lambda's
/// ValidationException.
pub fn log_tail_wanted(header: Option<&str>) -> Result<bool, FunctionError> {
    match header {
        None | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(FunctionError::Validation(validation_message(&[format!(
            "Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]"
        )]))),
    }
}

/// A payload must be JSON (an empty one is allowed).
pub fn check_payload(payload: &[u8]) -> Result<(), FunctionError> {
    if payload.is_empty() {
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map(|_| ())
        .map_err(|e| {
            FunctionError::InvalidRequestContent(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            ))
        })
}

/// What a synchronous invocation answers with status 200.
pub struct Answer {
    pub body: String,
    /// `X-Amz-Function-Error` (`Unhandled`) when the function failed.
    pub function_error: Option<&'static str>,
    pub logs: Vec<LogLine>,
}

fn unhandled(message: String, error_type: &str, logs: Vec<LogLine>) -> Answer {
    Answer {
        body: json!({"errorMessage": message, "errorType": error_type}).to_string(),
        function_error: Some("Unhandled"),
        logs,
    }
}

/// The answer to a synchronous invocation: the handler's response, or its failure (an
/// error, a response over [`RESPONSE_MAX`], a timeout, running out of memory, a trap) as
/// an unhandled function error. Other errors are the request's ([`FunctionError`]).
pub fn answer(outcome: Result<Invocation, FunctionError>) -> Result<Answer, FunctionError> {
    match outcome {
        Ok(inv) => Ok(match inv.result {
            Ok(out) if out.len() > RESPONSE_MAX => unhandled(
                format!(
                    "Response payload size ({} bytes) exceeded maximum allowed payload size ({RESPONSE_MAX} bytes).",
                    out.len()
                ),
                "Function.ResponseSizeTooLarge",
                inv.logs,
            ),
            Ok(out) => Answer {
                body: out,
                function_error: None,
                logs: inv.logs,
            },
            Err(msg) => unhandled(msg, "HandlerError", inv.logs),
        }),
        Err(FunctionError::Runtime(e)) => {
            let ty = match e {
                RuntimeError::Timeout(_) => "Sandbox.Timedout",
                RuntimeError::OutOfMemory(_) => "Runtime.OutOfMemory",
                _ => "Runtime.ExitError",
            };
            Ok(unhandled(e.to_string(), ty, Vec::new()))
        }
        Err(e) => Err(e),
    }
}

/// The last [`LOG_TAIL`] bytes of an invocation's log, base64 (`X-Amz-Log-Result`).
pub fn log_tail(logs: &[LogLine]) -> String {
    let text: String = logs
        .iter()
        .map(|l| format!("{}\t{}\n", l.level, l.message))
        .collect();
    let mut start = text.len().saturating_sub(LOG_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    B64.encode(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_limits() {
        assert_eq!(
            InvocationType::parse(None).ok(),
            Some(InvocationType::RequestResponse)
        );
        assert_eq!(InvocationType::Event.payload_max(), ASYNC_PAYLOAD_MAX);
        assert!(matches!(
            InvocationType::parse(Some("Later")),
            Err(FunctionError::Validation(_))
        ));
        assert!(matches!(log_tail_wanted(Some("Tail")), Ok(true)));
        assert!(log_tail_wanted(Some("Head")).is_err());
        assert!(check_payload(b"").is_ok() && check_payload(b"{\"a\":1}").is_ok());
        assert!(matches!(
            check_payload(b"{"),
            Err(FunctionError::InvalidRequestContent(_))
        ));
    }
}
