//! TransactWriteItems' idempotency: the ClientRequestTokens seen recently, each with the hash
//! of the request it came with. The engine keeps them (`Engine::transaction_token`); the
//! transaction operation decides what a repeat means.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Remembered ClientRequestTokens: token -> (request hash, when).
#[derive(Default)]
pub struct Tokens(HashMap<String, (u64, Instant)>);

impl Tokens {
    /// `Some(true)`: same request seen within `ttl`; `Some(false)`: the token was used for a
    /// different request; `None`: unknown (or expired) token.
    pub fn check(&mut self, token: &str, hash: u64, ttl: Duration) -> Option<bool> {
        self.0.retain(|_, (_, at)| at.elapsed() < ttl);
        self.0.get(token).map(|(h, _)| *h == hash)
    }

    pub fn remember(&mut self, token: &str, hash: u64) {
        self.0.insert(token.to_owned(), (hash, Instant::now()));
    }
}
