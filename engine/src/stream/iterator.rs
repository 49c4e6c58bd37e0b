//! DynamoDB Streams shard iterators: self-contained tokens (stream ARN, shard, position, issue
//! time) so the server keeps no iterator state, authenticated with HMAC-SHA256 so a forged or
//! edited iterator is refused.
//!
//! The key is 32 random bytes made the first time one is needed and kept in the catalog
//! keyspace, so iterators stay valid across a restart. Wire form, in the shape DynamoDB Streams
//! uses: `<stream ARN>|1|<base64url(shard u16 ‖ position u64 ‖ issued ms u64 ‖ tag)>`, all
//! big-endian; the tag covers the ARN and the fields.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{EngineError, Result};
use crate::store::Engine;

/// Where the key lives in the catalog keyspace.
const KEY_ENTRY: &str = "streams/iterator_key";
const KEY_LEN: usize = 32;
const FIELDS_LEN: usize = 2 + 8 + 8;
const TAG_LEN: usize = 32;
const VERSION: &str = "1";

/// The secret shard iterators are signed with.
pub struct IteratorKey([u8; KEY_LEN]);

impl IteratorKey {
    /// The data directory's key, made (and persisted) on first use.
    pub fn of(engine: &Engine) -> Result<IteratorKey> {
        if let Some(key) = Self::stored(engine)? {
            return Ok(key);
        }
        // Two first requests must not each make a key: the loser's iterators would be refused.
        let _ddl = engine.ddl_lock();
        if let Some(key) = Self::stored(engine)? {
            return Ok(key);
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| {
            EngineError::Internal(format!("no randomness for the iterator key: {e}"))
        })?;
        let mut batch = engine
            .db_batch()?
            .durability(Some(fjall::PersistMode::SyncAll));
        batch.insert(&engine.catalog()?, KEY_ENTRY, key.to_vec());
        batch.commit()?;
        Ok(IteratorKey(key))
    }

    fn stored(engine: &Engine) -> Result<Option<IteratorKey>> {
        match engine.catalog()?.get(KEY_ENTRY)? {
            Some(v) => {
                let key: [u8; KEY_LEN] = v.as_ref().try_into().map_err(|_| {
                    EngineError::Internal("corrupt shard iterator key in the catalog".into())
                })?;
                Ok(Some(IteratorKey(key)))
            }
            None => Ok(None),
        }
    }

    /// The MAC of an iterator's ARN and fields (`None` only if HMAC refused the key, which
    /// it does for no length).
    fn mac(&self, arn: &str, fields: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).ok()?;
        mac.update(arn.as_bytes());
        mac.update(fields);
        Some(mac)
    }
}

/// The position a shard iterator reads from next.
#[derive(Debug, PartialEq)]
pub struct ShardIterator {
    pub arn: String,
    pub shard: u16,
    pub position: u64,
    pub issued_ms: u64,
}

impl ShardIterator {
    pub fn encode(&self, key: &IteratorKey) -> Result<String> {
        let mut blob = Vec::with_capacity(FIELDS_LEN + TAG_LEN);
        blob.extend_from_slice(&self.shard.to_be_bytes());
        blob.extend_from_slice(&self.position.to_be_bytes());
        blob.extend_from_slice(&self.issued_ms.to_be_bytes());
        let tag = key
            .mac(&self.arn, &blob)
            .ok_or_else(|| EngineError::Internal("HMAC refused the iterator key".into()))?
            .finalize()
            .into_bytes();
        blob.extend_from_slice(&tag);
        Ok(format!("{}|{VERSION}|{}", self.arn, B64.encode(blob)))
    }

    /// The iterator a token stands for; `None` when it is malformed or was not made with
    /// `key` (forged or edited).
    pub fn decode(token: &str, key: &IteratorKey) -> Option<ShardIterator> {
        let (rest, blob) = token.rsplit_once('|')?;
        let (arn, version) = rest.rsplit_once('|')?;
        if version != VERSION {
            return None;
        }
        let blob = B64.decode(blob).ok()?;
        if blob.len() != FIELDS_LEN + TAG_LEN {
            return None;
        }
        let (fields, tag) = blob.split_at(FIELDS_LEN);
        key.mac(arn, fields)?.verify_slice(tag).ok()?;
        let shard = u16::from_be_bytes(fields.get(..2)?.try_into().ok()?);
        let position = u64::from_be_bytes(fields.get(2..10)?.try_into().ok()?);
        let issued_ms = u64::from_be_bytes(fields.get(10..18)?.try_into().ok()?);
        Some(ShardIterator {
            arn: arn.to_owned(),
            shard,
            position,
            issued_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_any_edit() {
        let key = IteratorKey([7; KEY_LEN]);
        let it = ShardIterator {
            arn: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2026-01-01T00:00:00.000"
                .into(),
            shard: 3,
            position: 42,
            issued_ms: 1_700_000_000_000,
        };
        let token = it.encode(&key).expect("encode");
        assert!(token.starts_with(&format!("{}|1|", it.arn)), "{token}");
        assert_eq!(ShardIterator::decode(&token, &key), Some(it));

        // Another data directory's key, another ARN, any flipped character: refused.
        assert_eq!(
            ShardIterator::decode(&token, &IteratorKey([8; KEY_LEN])),
            None
        );
        let other_table = token.replacen("table/t/", "table/u/", 1);
        assert_eq!(ShardIterator::decode(&other_table, &key), None);
        let blob_at = token.rfind('|').expect("separator") + 1;
        for i in blob_at..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes).expect("ascii");
            if edited != token {
                assert_eq!(ShardIterator::decode(&edited, &key), None, "byte {i}");
            }
        }
        for garbage in ["", "|", "a|1|", "a|2|AAAA", "garbage", "x|1|!!!"] {
            assert_eq!(ShardIterator::decode(garbage, &key), None, "{garbage}");
        }
    }
}
