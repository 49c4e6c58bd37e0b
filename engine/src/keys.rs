//! Order-preserving key encoding.
//!
//! An item's storage key is `hash(pk) (4 bytes, big endian) ‖ enc(pk) ‖ enc(sk)`:
//! - the hash prefix spreads partitions over the key space the way DynamoDB does, so a parallel
//!   Scan segment is one contiguous range and Query is a prefix scan of `hash ‖ enc(pk)`;
//! - `enc` keeps order: strings and binaries compare bytewise, numbers numerically, and every
//!   encoding is self-delimiting so `enc(pk) ‖ enc(sk)` sorts by pk then sk.

use crate::number::Number;
use crate::value::AttributeValue;

/// Terminator of a string/binary encoding; `0x00` inside the value is escaped as `0x00 0xFF`.
const STR_END: [u8; 2] = [0x00, 0x01];
const NUM_NEG: u8 = 0x01;
const NUM_ZERO: u8 = 0x02;
const NUM_POS: u8 = 0x03;
/// Bias that maps every allowed scientific exponent (-130..=125) onto one byte.
const EXP_BIAS: i32 = 130;

/// 32-bit FNV-1a hash of a partition key's encoding: stable across versions and platforms.
pub fn partition_hash(pk_encoded: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in pk_encoded {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Appends the order-preserving encoding of a key value (S, N or B). Other types are not
/// key types and encode as nothing; callers validate key types before encoding.
pub fn encode_value(out: &mut Vec<u8>, v: &AttributeValue) {
    match v {
        AttributeValue::S(s) => encode_bytes(out, s.as_bytes(), true),
        AttributeValue::B(b) => encode_bytes(out, b, true),
        AttributeValue::N(n) => encode_number(out, n),
        _ => {}
    }
}

/// The encoding of a string/binary prefix, for `begins_with` range scans (no terminator).
pub fn encode_prefix(out: &mut Vec<u8>, v: &AttributeValue) {
    match v {
        AttributeValue::S(s) => encode_bytes(out, s.as_bytes(), false),
        AttributeValue::B(b) => encode_bytes(out, b, false),
        _ => encode_value(out, v),
    }
}

fn encode_bytes(out: &mut Vec<u8>, b: &[u8], terminate: bool) {
    out.reserve(b.len() + 2);
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    if terminate {
        out.extend_from_slice(&STR_END);
    }
}

fn encode_number(out: &mut Vec<u8>, n: &Number) {
    if n.is_zero() {
        out.push(NUM_ZERO);
        return;
    }
    let exp = (n.exponent() + EXP_BIAS).clamp(0, 255) as u8;
    // Digits are stored as 1..=10 so the 0 terminator sorts below any digit.
    if n.is_negative() {
        out.push(NUM_NEG);
        out.push(!exp);
        out.extend(n.digits().iter().map(|d| !(d + 1)));
        out.push(0xFF);
    } else {
        out.push(NUM_POS);
        out.push(exp);
        out.extend(n.digits().iter().map(|d| d + 1));
        out.push(0x00);
    }
}

/// Storage key of an item from its key values.
pub fn item_key(pk: &AttributeValue, sk: Option<&AttributeValue>) -> Vec<u8> {
    let mut out = partition_prefix(pk);
    if let Some(sk) = sk {
        encode_value(&mut out, sk);
    }
    out
}

/// `hash ‖ enc(pk)`: the prefix every item of one partition shares.
pub fn partition_prefix(pk: &AttributeValue) -> Vec<u8> {
    let mut enc = Vec::with_capacity(32);
    encode_value(&mut enc, pk);
    let mut out = Vec::with_capacity(enc.len() + 4 + 16);
    out.extend_from_slice(&partition_hash(&enc).to_be_bytes());
    out.extend_from_slice(&enc);
    out
}

/// The hash range `[start, end)` of parallel-scan segment `segment` of `total`, as storage keys
/// (`end` is `None` for the last segment).
pub fn segment_bounds(segment: u32, total: u32) -> (Vec<u8>, Option<Vec<u8>>) {
    let bound = |s: u64| -> Option<Vec<u8>> {
        let v = (s << 32).div_ceil(u64::from(total));
        (v <= u64::from(u32::MAX)).then(|| (v as u32).to_be_bytes().to_vec())
    };
    let start = bound(u64::from(segment)).unwrap_or_else(|| vec![0xFF; 5]);
    (start, bound(u64::from(segment) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn num(s: &str) -> AttributeValue {
        AttributeValue::N(Number::parse(s).unwrap())
    }

    fn enc(v: &AttributeValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(&mut out, v);
        out
    }

    #[test]
    fn numbers_sort_numerically() {
        let vals = [
            "-1000", "-10.5", "-10", "-1", "-0.5", "-0.0001", "0", "1e-130", "0.001", "1", "1.5",
            "2", "10", "100", "9.99e125",
        ];
        let encs: Vec<_> = vals.iter().map(|s| enc(&num(s))).collect();
        for w in encs.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
    }

    #[test]
    fn composite_keys_sort_by_partition_then_sort() {
        let a = AttributeValue::S("a".into());
        let ab = AttributeValue::S("a\0b".into());
        let k1 = [enc(&a), enc(&num("10"))].concat();
        let k2 = [enc(&a), enc(&num("9"))].concat();
        assert!(k2 < k1);
        assert!([enc(&a), enc(&num("99999"))].concat() < [enc(&ab), enc(&num("-5"))].concat());
    }

    #[test]
    fn segments_cover_the_hash_space() {
        let (s0, e0) = segment_bounds(0, 3);
        assert_eq!(s0, vec![0, 0, 0, 0]);
        let (s1, _) = segment_bounds(1, 3);
        assert_eq!(e0, Some(s1));
        assert_eq!(segment_bounds(2, 3).1, None);
        assert_eq!(segment_bounds(0, 1).1, None);
    }

    fn arb_number() -> impl Strategy<Value = Number> {
        (any::<bool>(), "[1-9][0-9]{0,37}", -120i32..88).prop_map(|(neg, digits, exp)| {
            let s = format!("{}{}e{}", if neg { "-" } else { "" }, digits, exp);
            Number::parse(&s).unwrap()
        })
    }

    proptest! {
        #[test]
        fn number_encoding_preserves_order(a in arb_number(), b in arb_number()) {
            let (ea, eb) = (enc(&AttributeValue::N(a.clone())), enc(&AttributeValue::N(b.clone())));
            prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
        }

        #[test]
        fn string_encoding_preserves_order(a in ".{0,12}", b in ".{0,12}", x in ".{0,4}", y in ".{0,4}") {
            let (sa, sb) = (AttributeValue::S(a.clone()), AttributeValue::S(b.clone()));
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), enc(&sa).cmp(&enc(&sb)));
            // Self-delimiting: pk order dominates whatever sort key follows.
            let ka = [enc(&sa), enc(&AttributeValue::S(x))].concat();
            let kb = [enc(&sb), enc(&AttributeValue::S(y))].concat();
            if a != b {
                prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ka.cmp(&kb));
            }
        }

        #[test]
        fn binary_prefix_is_a_prefix(a in proptest::collection::vec(any::<u8>(), 0..16), b in proptest::collection::vec(any::<u8>(), 0..16)) {
            let full = [a.clone(), b].concat();
            let mut p = Vec::new();
            encode_prefix(&mut p, &AttributeValue::B(a));
            prop_assert!(enc(&AttributeValue::B(full)).starts_with(&p));
        }
    }
}
