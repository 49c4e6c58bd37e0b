//! DynamoDB's limits and input validation: item size, key sizes and types, nesting depth,
//! numbers and sets, expression size.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};
use common::*;

#[tokio::test]
async fn item_size_limit() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "limits").await;
    let put = |item: HashMap<String, AttributeValue>| {
        c.put_item().table_name("limits").set_item(Some(item))
    };
    let base = |pk: &str| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), n("1"))]);

    // 400 KB counts attribute names and values. Just under is fine, just over is rejected.
    let mut ok = base("big");
    ok.insert("d".into(), s(&"x".repeat(400 * 1024 - 20)));
    put(ok).send().await.expect("item just under 400 KB");
    let got = c
        .get_item()
        .table_name("limits")
        .key("pk", s("big"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.item().expect("item")["d"].as_s().expect("S").len(),
        400 * 1024 - 20
    );
    let mut over = base("big2");
    over.insert("d".into(), s(&"x".repeat(400 * 1024)));
    assert_service_error(
        put(over).send().await,
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    );
    // The name counts too.
    let mut over = base("big3");
    over.insert("n".repeat(300), s(&"x".repeat(400 * 1024 - 200)));
    assert_service_error(
        put(over).send().await,
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    );
    // Many attributes adding up.
    let mut over = base("big4");
    for i in 0..5 {
        over.insert(format!("part{i}"), b(&vec![1u8; 90 * 1024]));
    }
    assert_service_error(
        put(over).send().await,
        "ValidationException",
        "Item size has exceeded the maximum allowed size",
    );
    let got = c
        .get_item()
        .table_name("limits")
        .key("pk", s("big4"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert!(got.item().is_none(), "a rejected item is not stored");
    // An update that grows an item past the limit.
    assert_service_error(
        c.update_item()
            .table_name("limits")
            .key("pk", s("big"))
            .key("sk", n("1"))
            .update_expression("SET more = :m")
            .expression_attribute_values(":m", s(&"y".repeat(1024)))
            .send()
            .await,
        "ValidationException",
        "Item size to update has exceeded the maximum allowed size",
    );
}

#[tokio::test]
async fn key_validation() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "keys").await;
    let put = |item: HashMap<String, AttributeValue>| {
        c.put_item().table_name("keys").set_item(Some(item))
    };
    let key = |pk: AttributeValue, sk: AttributeValue| {
        HashMap::from([("pk".to_string(), pk), ("sk".to_string(), sk)])
    };

    assert_service_error(
        put(key(s(""), n("1"))).send().await,
        "ValidationException",
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
    );
    assert_service_error(
        put(key(n("1"), n("1"))).send().await,
        "ValidationException",
        "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N",
    );
    assert_service_error(
        put(key(s("a"), s("1"))).send().await,
        "ValidationException",
        "Type mismatch for key sk expected: N actual: S",
    );
    assert_service_error(
        put(HashMap::from([("pk".to_string(), s("x"))]))
            .send()
            .await,
        "ValidationException",
        "One or more parameter values were invalid: Missing the key sk in the item",
    );
    assert_service_error(
        put(HashMap::from([("sk".to_string(), n("1"))]))
            .send()
            .await,
        "ValidationException",
        "Missing the key pk in the item",
    );

    // Partition keys up to 2048 bytes.
    put(key(s(&"k".repeat(2048)), n("1")))
        .send()
        .await
        .expect("2048-byte partition key");
    assert_service_error(
        put(key(s(&"k".repeat(2049)), n("1"))).send().await,
        "ValidationException",
        "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    );
    // Multi-byte characters count as their UTF-8 bytes (1024 × 2 bytes = 2048 is fine, one more is not).
    put(key(s(&"é".repeat(1024)), n("1")))
        .send()
        .await
        .expect("2048 bytes of two-byte characters");
    assert_service_error(
        put(key(s(&format!("{}a", "é".repeat(1024))), n("1")))
            .send()
            .await,
        "ValidationException",
        "Size of hashkey has exceeded the maximum size limit",
    );

    // Keys in GetItem/DeleteItem/UpdateItem: exactly the schema's attributes, of the right types.
    put(key(s("p"), n("1"))).send().await.expect("put");
    assert_service_error(
        c.get_item()
            .table_name("keys")
            .key("pk", s("p"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.get_item()
            .table_name("keys")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .key("extra", s("x"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.get_item()
            .table_name("keys")
            .key("pk", s("p"))
            .key("sk", s("1"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.get_item()
            .table_name("keys")
            .key("pk", s("p"))
            .key("other", n("1"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.delete_item()
            .table_name("keys")
            .key("pk", s("p"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.update_item()
            .table_name("keys")
            .key("pk", s("p"))
            .key("sk", n("1"))
            .key("v", n("1"))
            .update_expression("SET a = :a")
            .expression_attribute_values(":a", n("1"))
            .send()
            .await,
        "ValidationException",
        "The provided key element does not match the schema",
    );
    assert_service_error(
        c.delete_item()
            .table_name("keys")
            .key("pk", s(""))
            .key("sk", n("1"))
            .send()
            .await,
        "ValidationException",
        "The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
    );
    assert_service_error(
        c.get_item()
            .table_name("keys")
            .key("pk", s(""))
            .key("sk", n("1"))
            .send()
            .await,
        "ValidationException",
        "The AttributeValue for a key attribute cannot contain an empty string value",
    );
    // The item written above is intact.
    let got = c
        .get_item()
        .table_name("keys")
        .key("pk", s("p"))
        .key("sk", n("1"))
        .send()
        .await
        .expect("get");
    assert_eq!(got.item(), Some(&key(s("p"), n("1"))));
}

#[tokio::test]
async fn sort_key_limits() {
    let server = Server::start();
    let c = server.client();
    create_table(
        &c,
        "sortlimit",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::B)),
    )
    .await;
    c.put_item()
        .table_name("sortlimit")
        .item("pk", s("p"))
        .item("sk", b(&[7u8; 1024]))
        .send()
        .await
        .expect("1024-byte sort key");
    assert_service_error(
        c.put_item()
            .table_name("sortlimit")
            .item("pk", s("p"))
            .item("sk", b(&[7u8; 1025]))
            .send()
            .await,
        "ValidationException",
        "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
    );
    assert_service_error(
        c.put_item()
            .table_name("sortlimit")
            .item("pk", s("p"))
            .item("sk", b(&[]))
            .send()
            .await,
        "ValidationException",
        "The AttributeValue for a key attribute cannot contain an empty binary value. Key: sk",
    );
}

#[tokio::test]
async fn numbers_sets_and_nesting() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "values").await;
    let put = |name: &str, v: AttributeValue| {
        c.put_item()
            .table_name("values")
            .item("pk", s("v"))
            .item("sk", n("1"))
            .item(name, v)
    };
    // Numbers: 38 significant digits, magnitudes 1E-130 .. 9.99..E+125.
    for ok in [
        "12345678901234567890123456789012345678",
        "-12345678901234567890123456789012345678",
        "0.00000000000000000000000000000000000000000000001",
        "1.2345678901234567890123456789012345678E+100",
        "1E-130",
        "-1E-130",
        "9.9999999999999999999999999999999999999E+125",
        "1000000000000000000000000000000000000000000000000000",
        "00012",
    ] {
        put("n", n(ok))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e:?}"));
    }
    assert_service_error(
        put("n", n("123456789012345678901234567890123456789"))
            .send()
            .await,
        "ValidationException",
        "Attempting to store more than 38 significant digits in a Number",
    );
    assert_service_error(
        put("n", n("1.23456789012345678901234567890123456789"))
            .send()
            .await,
        "ValidationException",
        "38 significant digits",
    );
    assert_service_error(
        put("n", n("1E+126")).send().await,
        "ValidationException",
        "Number overflow",
    );
    assert_service_error(
        put("n", n("-1E+126")).send().await,
        "ValidationException",
        "Number overflow",
    );
    assert_service_error(
        put("n", n("1E-131")).send().await,
        "ValidationException",
        "Number underflow",
    );
    for bad in ["abc", "", "1.2.3", "--1", "1e", "NaN", "Infinity", "0x10"] {
        assert_service_error(put("n", n(bad)).send().await, "ValidationException", "");
    }
    assert_service_error(
        put("ns", ns(&["1", "abc"])).send().await,
        "ValidationException",
        "",
    );
    assert_service_error(
        put("ns", ns(&["1", "123456789012345678901234567890123456789"]))
            .send()
            .await,
        "ValidationException",
        "38 significant digits",
    );

    // Sets: never empty, never with duplicates (numbers compare by value).
    assert_service_error(
        put("set", AttributeValue::Ss(vec![])).send().await,
        "ValidationException",
        "One or more parameter values were invalid: An string set  may not be empty",
    );
    assert_service_error(
        put("set", AttributeValue::Ns(vec![])).send().await,
        "ValidationException",
        "One or more parameter values were invalid: An number set  may not be empty",
    );
    assert_service_error(
        put("set", AttributeValue::Bs(vec![])).send().await,
        "ValidationException",
        "One or more parameter values were invalid: Binary sets should not be empty",
    );
    assert_service_error(
        put("ss", ss(&["a", "a"])).send().await,
        "ValidationException",
        "Input collection [a, a] contains duplicates",
    );
    assert_service_error(
        put("ns", ns(&["1", "1.0"])).send().await,
        "ValidationException",
        "contains duplicates",
    );
    assert_service_error(
        put("bs", bs(&[b"\x01", b"\x01"])).send().await,
        "ValidationException",
        "contains duplicates",
    );
    // Empty strings and binaries are fine outside keys.
    put("empty_s", s(""))
        .send()
        .await
        .expect("empty string attribute");
    put("empty_b", b(&[]))
        .send()
        .await
        .expect("empty binary attribute");
    assert_service_error(
        put("null", AttributeValue::Null(false)).send().await,
        "ValidationException",
        "Null attribute value types must have the value of true",
    );

    // Nesting: 32 levels in all (the attribute plus 31 nested documents) is the maximum.
    let nest = |wraps: usize, map: bool| {
        let mut v = s("leaf");
        for _ in 0..wraps {
            v = if map { m(&[("k", v)]) } else { l(vec![v]) };
        }
        v
    };
    put("deep", nest(31, false))
        .send()
        .await
        .expect("31 list wraps");
    put("deep", nest(31, true))
        .send()
        .await
        .expect("31 map wraps");
    for map in [false, true] {
        assert_service_error(
            put("deep", nest(32, map)).send().await,
            "ValidationException",
            "Nesting Levels have exceeded supported limits",
        );
    }
    assert_service_error(
        c.update_item()
            .table_name("values")
            .key("pk", s("v"))
            .key("sk", n("1"))
            .update_expression("SET deeper = :d")
            .expression_attribute_values(":d", nest(40, true))
            .send()
            .await,
        "ValidationException",
        "Nesting Levels have exceeded supported limits",
    );

    // Expressions are limited to 4 KB.
    let long = format!(
        "attribute_exists(a){}",
        " OR attribute_exists(a)".repeat(200)
    );
    assert_service_error(
        c.put_item()
            .table_name("values")
            .item("pk", s("v"))
            .item("sk", n("1"))
            .condition_expression(long)
            .send()
            .await,
        "ValidationException",
        "Expression size has exceeded the maximum allowed size",
    );
}
