//! Order-preserving key encoding.
//!
//! An item's storage key is `hash(pk) (4 bytes, big endian) ‖ enc(pk) ‖ enc(sk)`:
//! - the hash prefix spreads partitions over the key space the way DynamoDB does, so a parallel
//!   Scan segment is one contiguous range and Query is a prefix scan of `hash ‖ enc(pk)`;
//! - `enc` keeps order: strings and binaries compare bytewise, numbers numerically, and every
//!   encoding is self-delimiting so `enc(pk) ‖ enc(sk)` sorts by pk then sk.
//!
//! A multi-attribute key (a GSI whose partition or sort key has up to four attributes) is the
//! concatenation of its attributes' encodings in key-schema order: `hash(enc(p1) ‖ … ‖ enc(pn))
//! ‖ enc(p1) ‖ … ‖ enc(pn) ‖ enc(s1) ‖ … ‖ enc(sm)`. Being self-delimiting, the concatenation sorts
//! by s1, then s2, …, so a Query with equality on the leading sort attributes and a range on
//! the next one is still one contiguous range. With one attribute each this is exactly the
//! single-attribute key, so existing data keeps its keys.
//!
//! Size: with DynamoDB's limits (2,048 bytes per partition attribute, 1,024 per sort attribute,
//! checked before any key is built) and escaping that at most doubles a value, the longest
//! index entry key is about 30 KB, below fjall's 65,535-byte key limit ([`MAX_INDEX_ENTRY_KEY`]).

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
    partition_prefix_of(std::iter::once(pk))
}

/// `hash(enc(p1) ‖ … ‖ enc(pn)) ‖ enc(p1) ‖ … ‖ enc(pn)`: the prefix of one partition of a key
/// whose partition key has several attributes (values in key-schema order).
pub fn partition_prefix_of<'a>(pks: impl IntoIterator<Item = &'a AttributeValue>) -> Vec<u8> {
    let mut enc = Vec::with_capacity(32);
    for pk in pks {
        encode_value(&mut enc, pk);
    }
    let mut out = Vec::with_capacity(enc.len() + 4 + 16);
    out.extend_from_slice(&partition_hash(&enc).to_be_bytes());
    out.extend_from_slice(&enc);
    out
}

/// The key of an index entry's index part: the partition prefix of `pks` followed by the
/// encodings of `sks`, both in key-schema order.
pub fn composite_key<'a>(
    pks: impl IntoIterator<Item = &'a AttributeValue>,
    sks: impl IntoIterator<Item = &'a AttributeValue>,
) -> Vec<u8> {
    let mut out = partition_prefix_of(pks);
    for sk in sks {
        encode_value(&mut out, sk);
    }
    out
}

/// Upper bound of an encoded key value of `len` bytes (strings and binaries; numbers are
/// shorter): every byte may be escaped, plus the terminator.
pub const fn max_encoded_len(len: usize) -> usize {
    2 * len + STR_END.len()
}

/// The longest possible index entry key: four partition attributes, four sort attributes and
/// the table key, all at DynamoDB's size limits. Must stay below fjall's 65,535-byte limit.
pub const MAX_INDEX_ENTRY_KEY: usize = 4
    + 4 * max_encoded_len(crate::key_schema::MAX_HASH_KEY_BYTES)
    + 4 * max_encoded_len(crate::key_schema::MAX_RANGE_KEY_BYTES)
    + 4
    + max_encoded_len(crate::key_schema::MAX_HASH_KEY_BYTES)
    + max_encoded_len(crate::key_schema::MAX_RANGE_KEY_BYTES);

const _: () = assert!(MAX_INDEX_ENTRY_KEY < u16::MAX as usize);

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

    #[test]
    fn one_attribute_composite_key_is_the_single_attribute_key() {
        let pk = AttributeValue::S("p".into());
        let sk = num("7");
        assert_eq!(composite_key([&pk], [&sk]), item_key(&pk, Some(&sk)));
        assert_eq!(partition_prefix_of([&pk]), partition_prefix(&pk));
    }

    #[test]
    fn longest_keys_fit_in_fjall() {
        let big = |n: usize| AttributeValue::B(vec![0u8; n]);
        let (p, s) = (
            big(crate::key_schema::MAX_HASH_KEY_BYTES),
            big(crate::key_schema::MAX_RANGE_KEY_BYTES),
        );
        let mut k = composite_key([&p, &p, &p, &p], [&s, &s, &s, &s]);
        k.extend(item_key(&p, Some(&s)));
        assert!(k.len() <= MAX_INDEX_ENTRY_KEY, "{}", k.len());
    }

    /// A key attribute value of one of the three key types.
    fn arb_key_value() -> impl Strategy<Value = AttributeValue> {
        prop_oneof![
            ".{0,6}".prop_map(AttributeValue::S),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(AttributeValue::B),
            arb_number().prop_map(AttributeValue::N),
        ]
    }

    /// Two tuples of values with the same types position by position (as a key schema has).
    fn arb_tuple_pair() -> impl Strategy<Value = (Vec<AttributeValue>, Vec<AttributeValue>)> {
        proptest::collection::vec(0u8..3, 1..5).prop_flat_map(|types| {
            let one = |t: u8| -> BoxedStrategy<AttributeValue> {
                match t {
                    0 => ".{0,4}".prop_map(AttributeValue::S).boxed(),
                    1 => proptest::collection::vec(any::<u8>(), 0..4)
                        .prop_map(AttributeValue::B)
                        .boxed(),
                    _ => arb_number().prop_map(AttributeValue::N).boxed(),
                }
            };
            let tuple = types.iter().map(|t| one(*t)).collect::<Vec<_>>();
            (tuple.clone(), tuple)
        })
    }

    fn cmp_tuple(a: &[AttributeValue], b: &[AttributeValue]) -> std::cmp::Ordering {
        for (x, y) in a.iter().zip(b) {
            let o = match (x, y) {
                (AttributeValue::S(x), AttributeValue::S(y)) => x.as_bytes().cmp(y.as_bytes()),
                (AttributeValue::B(x), AttributeValue::B(y)) => x.cmp(y),
                (AttributeValue::N(x), AttributeValue::N(y)) => x.cmp(y),
                _ => unreachable!("same types by construction"),
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    }

    proptest! {
        #[test]
        fn composite_sort_keys_sort_attribute_by_attribute((a, b) in arb_tuple_pair(), pk in arb_key_value()) {
            // Same partition: the entries sort as the tuples of sort values do.
            let (ka, kb) = (composite_key([&pk], a.iter()), composite_key([&pk], b.iter()));
            prop_assert_eq!(cmp_tuple(&a, &b), ka.cmp(&kb));
        }

        #[test]
        fn leading_sort_values_are_a_key_prefix((a, _b) in arb_tuple_pair(), pk in arb_key_value(), cut in 0usize..5) {
            // Equality on the first `cut` sort attributes selects keys sharing one prefix.
            let cut = cut.min(a.len());
            let full = composite_key([&pk], a.iter());
            let prefix = composite_key([&pk], a[..cut].iter());
            prop_assert!(full.starts_with(&prefix));
        }

        #[test]
        fn partition_tuples_are_distinct_prefixes((a, b) in arb_tuple_pair(), s in arb_key_value()) {
            // Different partition tuples never share a partition prefix (self-delimiting).
            let (pa, pb) = (partition_prefix_of(a.iter()), partition_prefix_of(b.iter()));
            let ka = composite_key(a.iter(), [&s]);
            if cmp_tuple(&a, &b) != std::cmp::Ordering::Equal {
                prop_assert!(!ka.starts_with(&pb) || pa == pb);
                prop_assert_ne!(&pa[4..], &pb[4..]);
            } else {
                prop_assert_eq!(pa, pb);
            }
        }

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
