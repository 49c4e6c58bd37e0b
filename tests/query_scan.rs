//! Query and Scan: key conditions, ordering, paging, filters, Select, parallel scan and the
//! 1 MB page.

mod common;

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType, Select};
use aws_sdk_dynamodb::Client;
use common::*;

async fn seed(c: &Client) {
    pk_sk_table(c, "events").await;
    // Partition "p" holds sk = -5, 0, 1, 2, 10, 100 (numeric order differs from text order).
    for sk in ["-5", "0", "1", "2", "10", "100"] {
        c.put_item()
            .table_name("events")
            .item("pk", s("p"))
            .item("sk", n(sk))
            .item(
                "even",
                AttributeValue::Bool(sk.parse::<i64>().unwrap_or(1) % 2 == 0),
            )
            .send()
            .await
            .expect("put");
    }
    c.put_item()
        .table_name("events")
        .item("pk", s("other"))
        .item("sk", n("1"))
        .send()
        .await
        .expect("put");
}

fn sks(items: &[HashMap<String, AttributeValue>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i["sk"] {
            AttributeValue::N(v) => v.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn query_sks(
    c: &Client,
    cond: &str,
    values: &[(&str, AttributeValue)],
    forward: bool,
) -> Vec<String> {
    let mut req = c
        .query()
        .table_name("events")
        .key_condition_expression(cond)
        .scan_index_forward(forward);
    for (k, v) in values {
        req = req.expression_attribute_values(*k, v.clone());
    }
    let out = req.send().await.expect(cond);
    sks(out.items())
}

#[tokio::test]
async fn key_conditions_and_order() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    let p = (":p", s("p"));
    assert_eq!(
        query_sks(&c, "pk = :p", std::slice::from_ref(&p), true).await,
        ["-5", "0", "1", "2", "10", "100"]
    );
    assert_eq!(
        query_sks(&c, "pk = :p", std::slice::from_ref(&p), false).await,
        ["100", "10", "2", "1", "0", "-5"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk = :v",
            &[p.clone(), (":v", n("10"))],
            true
        )
        .await,
        ["10"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk < :v",
            &[p.clone(), (":v", n("2"))],
            true
        )
        .await,
        ["-5", "0", "1"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk <= :v",
            &[p.clone(), (":v", n("2"))],
            true
        )
        .await,
        ["-5", "0", "1", "2"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk > :v",
            &[p.clone(), (":v", n("2"))],
            true
        )
        .await,
        ["10", "100"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk >= :v",
            &[p.clone(), (":v", n("2"))],
            false
        )
        .await,
        ["100", "10", "2"]
    );
    assert_eq!(
        query_sks(
            &c,
            "pk = :p AND sk BETWEEN :a AND :b",
            &[p.clone(), (":a", n("0")), (":b", n("10"))],
            true
        )
        .await,
        ["0", "1", "2", "10"]
    );
    assert_eq!(
        query_sks(
            &c,
            "sk BETWEEN :a AND :b AND pk = :p",
            &[p.clone(), (":a", n("-5")), (":b", n("-5"))],
            true
        )
        .await,
        ["-5"],
        "conditions may come in any order"
    );
    assert_eq!(
        query_sks(
            &c,
            "(pk = :p) AND (sk > :v)",
            &[p.clone(), (":v", n("1.5"))],
            true
        )
        .await,
        ["2", "10", "100"]
    );
    assert!(query_sks(
        &c,
        "pk = :p AND sk BETWEEN :a AND :b",
        &[p.clone(), (":a", n("3")), (":b", n("9"))],
        true
    )
    .await
    .is_empty());
    assert!(query_sks(&c, "pk = :q", &[(":q", s("nobody"))], true)
        .await
        .is_empty());
}

#[tokio::test]
async fn string_and_binary_sort_keys() {
    let server = Server::start();
    let c = server.client();
    create_table(
        &c,
        "strs",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::S)),
    )
    .await;
    for sk in ["a", "ab", "abc", "b", "B", "a\u{0}z", "é"] {
        c.put_item()
            .table_name("strs")
            .item("pk", s("p"))
            .item("sk", s(sk))
            .send()
            .await
            .expect("put");
    }
    let out = c
        .query()
        .table_name("strs")
        .key_condition_expression("pk = :p AND begins_with(sk, :a)")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":a", s("a"))
        .send()
        .await
        .expect("query");
    let got: Vec<&str> = out
        .items()
        .iter()
        .map(|i| i["sk"].as_s().expect("s").as_str())
        .collect();
    assert_eq!(got, ["a", "a\u{0}z", "ab", "abc"]);
    let out = c
        .query()
        .table_name("strs")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .send()
        .await
        .expect("query");
    let got: Vec<&str> = out
        .items()
        .iter()
        .map(|i| i["sk"].as_s().expect("s").as_str())
        .collect();
    assert_eq!(
        got,
        ["B", "a", "a\u{0}z", "ab", "abc", "b", "é"],
        "UTF-8 byte order"
    );

    create_table(
        &c,
        "bins",
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::B)),
    )
    .await;
    for b in [
        vec![2u8],
        vec![0u8, 1],
        vec![0u8],
        vec![255u8],
        vec![1u8, 0],
    ] {
        c.put_item()
            .table_name("bins")
            .item("pk", s("p"))
            .item("sk", AttributeValue::B(Blob::new(b)))
            .send()
            .await
            .expect("put");
    }
    let out = c
        .query()
        .table_name("bins")
        .key_condition_expression("pk = :p AND begins_with(sk, :z)")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":z", AttributeValue::B(Blob::new(vec![0u8])))
        .send()
        .await
        .expect("query");
    let got: Vec<Vec<u8>> = out
        .items()
        .iter()
        .map(|i| i["sk"].as_b().expect("b").as_ref().to_vec())
        .collect();
    assert_eq!(got, [vec![0u8], vec![0u8, 1]]);
}

#[tokio::test]
async fn paging_filters_select_and_projection() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    // Limit + ExclusiveStartKey pages through everything once, in order.
    let mut seen = Vec::new();
    let mut start = None;
    loop {
        let out = c
            .query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .limit(4)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("page");
        assert!(out.count() <= 4);
        seen.extend(sks(out.items()));
        match out.last_evaluated_key() {
            Some(k) => {
                assert_eq!(k.len(), 2, "LastEvaluatedKey holds the key attributes");
                start = Some(k.clone());
            }
            None => break,
        }
    }
    assert_eq!(seen, ["-5", "0", "1", "2", "10", "100"]);

    // A filter reduces Count but not ScannedCount.
    let out = c
        .query()
        .table_name("events")
        .key_condition_expression("pk = :p")
        .filter_expression("even = :t")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .expect("filtered");
    assert_eq!(out.count(), 4);
    assert_eq!(out.scanned_count(), 6);
    assert_eq!(sks(out.items()), ["0", "2", "10", "100"]);

    let out = c
        .query()
        .table_name("events")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .select(Select::Count)
        .send()
        .await
        .expect("count");
    assert_eq!(out.count(), 6);
    assert!(out.items().is_empty());

    let out = c
        .query()
        .table_name("events")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("p"))
        .projection_expression("sk")
        .send()
        .await
        .expect("projected");
    assert!(out
        .items()
        .iter()
        .all(|i| i.len() == 1 && i.contains_key("sk")));

    let out = c
        .scan()
        .table_name("events")
        .filter_expression("pk = :o")
        .expression_attribute_values(":o", s("other"))
        .send()
        .await
        .expect("scan");
    assert_eq!(out.count(), 1);
    assert_eq!(out.scanned_count(), 7);
    let out = c
        .scan()
        .table_name("events")
        .select(Select::Count)
        .send()
        .await
        .expect("scan count");
    assert_eq!(out.count(), 7);

    // Scan paging with Limit.
    let mut total = 0;
    let mut start = None;
    loop {
        let out = c
            .scan()
            .table_name("events")
            .limit(2)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan page");
        total += out.count();
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(total, 7);
}

#[tokio::test]
async fn query_and_scan_errors() {
    let server = Server::start();
    let c = server.client();
    seed(&c).await;
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("sk = :v")
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Query condition missed key schema element: pk",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p AND even = :t")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", n("1"))
            .send()
            .await,
        "ValidationException",
        "type",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p AND begins_with(sk, :v)")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p AND sk > :a AND sk < :b")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":a", n("1"))
            .expression_attribute_values(":b", n("5"))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk > :p")
            .expression_attribute_values(":p", s("p"))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .filter_expression("sk > :v")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "Filter Expression can only contain non-primary key attributes",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":unused", s("p"))
            .send()
            .await,
        "ValidationException",
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .select(Select::Count)
            .projection_expression("sk")
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p OR sk = :v")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":v", n("1"))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.query().table_name("events").send().await,
        "ValidationException",
        "KeyConditionExpression",
    );
    assert_service_error(
        c.scan()
            .table_name("events")
            .segment(3)
            .total_segments(3)
            .send()
            .await,
        "ValidationException",
        "Segment",
    );
    assert_service_error(
        c.scan().table_name("events").segment(0).send().await,
        "ValidationException",
        "TotalSegments",
    );
    assert_service_error(
        c.scan().table_name("events").limit(0).send().await,
        "ValidationException",
        "Member must have value greater than or equal to 1",
    );
    assert_service_error(
        c.query()
            .table_name("events")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .limit(0)
            .send()
            .await,
        "ValidationException",
        "Member must have value greater than or equal to 1",
    );
    assert_service_error(
        c.scan()
            .table_name("events")
            .segment(0)
            .total_segments(0)
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.scan()
            .table_name("events")
            .exclusive_start_key("pk", s("p"))
            .send()
            .await,
        "ValidationException",
        "The provided starting key is invalid",
    );
    assert_service_error(
        c.scan().table_name("nope_table").send().await,
        "ResourceNotFoundException",
        "",
    );
}

#[tokio::test]
async fn parallel_scan_and_page_size_limit() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "big").await;
    let payload = "x".repeat(100 * 1024);
    for i in 0..40 {
        c.put_item()
            .table_name("big")
            .item("pk", s(&format!("item{i}")))
            .item("sk", n("0"))
            .item("data", s(&payload))
            .send()
            .await
            .expect("put");
    }
    // A page stops once about 1 MB was read (each item is a little over 100 KB).
    let first = c.scan().table_name("big").send().await.expect("scan");
    assert!(
        first.count() >= 9 && first.count() <= 11,
        "count {}",
        first.count()
    );
    assert_eq!(first.count(), first.scanned_count());
    assert!(first.last_evaluated_key().is_some());
    // The limit is on data read, not returned: a filter that matches nothing still stops there.
    let filtered = c
        .scan()
        .table_name("big")
        .filter_expression("attribute_exists(nope)")
        .send()
        .await
        .expect("filtered scan");
    assert_eq!(filtered.count(), 0);
    assert!(
        filtered.scanned_count() >= 9 && filtered.scanned_count() <= 11,
        "{}",
        filtered.scanned_count()
    );
    assert!(filtered.last_evaluated_key().is_some());
    // Query pages the same way.
    for i in 0..12 {
        c.put_item()
            .table_name("big")
            .item("pk", s("one-partition"))
            .item("sk", n(&i.to_string()))
            .item("data", s(&payload))
            .send()
            .await
            .expect("put");
    }
    let q = c
        .query()
        .table_name("big")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("one-partition"))
        .send()
        .await
        .expect("query");
    assert!(
        q.count() >= 9 && q.count() <= 11,
        "query count {}",
        q.count()
    );
    assert!(q.last_evaluated_key().is_some());
    let mut keys = BTreeSet::new();
    let mut start = None;
    loop {
        let out = c
            .scan()
            .table_name("big")
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("page");
        for i in out.items() {
            let key = format!(
                "{}/{}",
                i["pk"].as_s().expect("pk"),
                i["sk"].as_n().expect("sk")
            );
            assert!(keys.insert(key), "duplicate");
        }
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    assert_eq!(
        keys.len(),
        52,
        "40 items plus the 12 of the query partition"
    );

    // Segments are disjoint and cover the table.
    let mut union = BTreeSet::new();
    for seg in 0..4 {
        let mut start = None;
        loop {
            let out = c
                .scan()
                .table_name("big")
                .segment(seg)
                .total_segments(4)
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("segment");
            for i in out.items() {
                let key = format!(
                    "{}/{}",
                    i["pk"].as_s().expect("pk"),
                    i["sk"].as_n().expect("sk")
                );
                assert!(union.insert(key), "item in two segments");
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => break,
            }
        }
    }
    assert_eq!(union, keys);
}

#[tokio::test]
async fn paging_backwards_with_filters_and_counts() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "many").await;
    // 2 < 10 < 100 numerically; put them in an order that is neither numeric nor textual.
    let sks: Vec<i64> = (0..50).map(|i| (i * 37) % 50 - 10).collect();
    for sk in &sks {
        c.put_item()
            .table_name("many")
            .item("pk", s("p"))
            .item("sk", n(&sk.to_string()))
            .item("odd", boolean(sk % 2 != 0))
            .send()
            .await
            .expect("put");
    }
    let mut want: Vec<i64> = sks.clone();
    want.sort();
    want.reverse();

    // Backwards, 7 at a time, until exhausted: every item once, in descending numeric order.
    let mut seen = Vec::new();
    let mut start = None;
    let mut pages = 0;
    loop {
        let out = c
            .query()
            .table_name("many")
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s("p"))
            .scan_index_forward(false)
            .limit(7)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(pages < 20, "paging does not terminate");
        assert!(out.count() <= 7);
        seen.extend(
            out.items()
                .iter()
                .map(|i| i["sk"].as_n().expect("N").parse::<i64>().expect("int")),
        );
        match out.last_evaluated_key() {
            Some(k) => {
                assert_eq!(k.keys().count(), 2);
                start = Some(k.clone());
            }
            None => break,
        }
    }
    assert_eq!(seen, want);

    // Limit counts items read before the filter: ScannedCount = Limit, Count <= Limit,
    // and paging with the filter still returns every match exactly once.
    let mut odd = Vec::new();
    let mut start = None;
    loop {
        let out = c
            .query()
            .table_name("many")
            .key_condition_expression("pk = :p AND sk >= :lo")
            .filter_expression("odd = :t")
            .expression_attribute_values(":p", s("p"))
            .expression_attribute_values(":lo", n("0"))
            .expression_attribute_values(":t", boolean(true))
            .limit(5)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("page");
        assert!(out.scanned_count() <= 5);
        assert!(out.count() <= out.scanned_count());
        odd.extend(
            out.items()
                .iter()
                .map(|i| i["sk"].as_n().expect("N").parse::<i64>().expect("int")),
        );
        match out.last_evaluated_key() {
            Some(k) => {
                assert_eq!(
                    out.scanned_count(),
                    5,
                    "a page with LastEvaluatedKey read Limit items"
                );
                start = Some(k.clone());
            }
            None => break,
        }
    }
    let want_odd: Vec<i64> = {
        let mut v: Vec<i64> = sks
            .iter()
            .copied()
            .filter(|x| *x >= 0 && x % 2 != 0)
            .collect();
        v.sort();
        v
    };
    assert_eq!(odd, want_odd);

    // Select COUNT with a filter counts matches; ScannedCount counts what was read.
    let out = c
        .query()
        .table_name("many")
        .key_condition_expression("pk = :p")
        .filter_expression("odd = :t")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":t", boolean(true))
        .select(Select::Count)
        .send()
        .await
        .expect("count");
    assert_eq!(
        out.count() as usize,
        sks.iter().filter(|x| *x % 2 != 0).count()
    );
    assert_eq!(out.scanned_count(), 50);
    assert!(out.items().is_empty());

    // Scan with Select COUNT and a filter.
    let out = c
        .scan()
        .table_name("many")
        .filter_expression("sk < :z")
        .expression_attribute_values(":z", n("0"))
        .select(Select::Count)
        .send()
        .await
        .expect("scan count");
    assert_eq!(out.count(), 10);
    assert_eq!(out.scanned_count(), 50);

    // Scan paging with a filter returns every match once.
    let mut got = BTreeSet::new();
    let mut start = None;
    loop {
        let out = c
            .scan()
            .table_name("many")
            .filter_expression("odd = :f")
            .expression_attribute_values(":f", boolean(false))
            .limit(9)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan page");
        assert!(out.scanned_count() <= 9);
        for i in out.items() {
            assert!(
                got.insert(i["sk"].as_n().expect("N").parse::<i64>().expect("int")),
                "duplicate"
            );
        }
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    let want_even: BTreeSet<i64> = sks.iter().copied().filter(|x| x % 2 == 0).collect();
    assert_eq!(got, want_even);

    // Select SPECIFIC_ATTRIBUTES with a projection; ALL_ATTRIBUTES returns whole items.
    let out = c
        .query()
        .table_name("many")
        .key_condition_expression("pk = :p AND sk = :v")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":v", n("3"))
        .select(Select::SpecificAttributes)
        .projection_expression("odd")
        .send()
        .await
        .expect("specific");
    assert_eq!(out.items(), [item(&[("odd", boolean(true))])]);
    let out = c
        .query()
        .table_name("many")
        .key_condition_expression("pk = :p AND sk = :v")
        .expression_attribute_values(":p", s("p"))
        .expression_attribute_values(":v", n("3"))
        .select(Select::AllAttributes)
        .send()
        .await
        .expect("all");
    assert_eq!(
        out.items(),
        [item(&[
            ("pk", s("p")),
            ("sk", n("3")),
            ("odd", boolean(true))
        ])]
    );
}
