//! Control plane through the AWS SDK: CreateTable, DescribeTable, ListTables, UpdateTable,
//! DeleteTable and their errors, asserted against DynamoDB's documented behaviour.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, SseSpecification, SseStatus, SseType, StreamSpecification, StreamViewType,
    TableStatus,
};
use aws_sdk_dynamodb::Client;
use common::*;

fn key(name: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .expect("key")
}

fn def(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(t)
        .build()
        .expect("def")
}

fn throughput(r: i64, w: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(r)
        .write_capacity_units(w)
        .build()
        .expect("throughput")
}

/// DeleteTable is asynchronous in DynamoDB: the table may be described as DELETING for a
/// while, then DescribeTable answers ResourceNotFoundException.
async fn wait_deleted(c: &Client, name: &str) {
    for _ in 0..200 {
        match c.describe_table().table_name(name).send().await {
            Ok(d) => assert_eq!(
                d.table().and_then(|t| t.table_status()),
                Some(&TableStatus::Deleting),
                "a deleted table is DELETING until it is gone"
            ),
            Err(e) => {
                assert_eq!(e.code(), Some("ResourceNotFoundException"), "{e:?}");
                assert!(e.message().unwrap_or_default().contains(name), "{e:?}");
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("table {name} was never deleted");
}

#[tokio::test]
async fn create_and_describe_every_key_type() {
    let server = Server::start();
    let c = server.client();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for ty in [
        ScalarAttributeType::S,
        ScalarAttributeType::N,
        ScalarAttributeType::B,
    ] {
        let name = unique_name(&format!("hash_only_{}", ty.as_str()));
        create_table(&c, &name, ("id", ty.clone()), None).await;
        let d = c
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .expect("describe");
        let t = d.table().expect("table");
        assert_eq!(t.table_name(), Some(name.as_str()));
        assert_eq!(t.table_status(), Some(&TableStatus::Active));
        assert_eq!(t.item_count(), Some(0));
        assert_eq!(t.table_size_bytes(), Some(0));
        let arn = t.table_arn().expect("TableArn");
        assert!(arn.starts_with("arn:aws:dynamodb:us-east-1:"), "{arn}");
        assert!(arn.ends_with(&format!(":table/{name}")), "{arn}");
        assert!(t.table_id().is_some(), "TableId is described");
        let created = t.creation_date_time().expect("CreationDateTime").secs();
        assert!(
            (created - now).abs() < 120,
            "CreationDateTime {created} is about now ({now})"
        );
        assert_eq!(t.key_schema(), [key("id", KeyType::Hash)]);
        assert_eq!(t.attribute_definitions(), [def("id", ty.clone())]);
        assert_eq!(
            t.billing_mode_summary().and_then(|b| b.billing_mode()),
            Some(&BillingMode::PayPerRequest)
        );
        // On-demand tables describe a throughput of zero.
        let pt = t.provisioned_throughput().expect("ProvisionedThroughput");
        assert_eq!(pt.read_capacity_units(), Some(0));
        assert_eq!(pt.write_capacity_units(), Some(0));
    }

    let name = unique_name("composite");
    create_table(
        &c,
        &name,
        ("pk", ScalarAttributeType::S),
        Some(("sk", ScalarAttributeType::N)),
    )
    .await;
    let d = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe");
    let t = d.table().expect("table");
    assert_eq!(
        t.key_schema(),
        [key("pk", KeyType::Hash), key("sk", KeyType::Range)]
    );
    let mut defs = t.attribute_definitions().to_vec();
    defs.sort_by(|a, b| a.attribute_name().cmp(b.attribute_name()));
    assert_eq!(
        defs,
        [
            def("pk", ScalarAttributeType::S),
            def("sk", ScalarAttributeType::N)
        ]
    );

    // An item written shows up in ItemCount / TableSizeBytes eventually (DynamoDB refreshes
    // them about every six hours, so only their presence is asserted).
    c.put_item()
        .table_name(&name)
        .item("pk", s("a"))
        .item("sk", n("1"))
        .send()
        .await
        .expect("put");
    let t = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    assert!(t.item_count().is_some() && t.table_size_bytes().is_some());
}

#[tokio::test]
async fn list_tables_pages_in_name_order() {
    let server = Server::start();
    let c = server.client();
    let mut created = Vec::new();
    for prefix in [
        "delta", "alpha", "echo", "charlie", "bravo", "foxtrot", "golf",
    ] {
        let name = unique_name(prefix);
        c.create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await
            .expect("create");
        created.push(name);
    }
    created.sort();

    let all = c.list_tables().send().await.expect("list");
    assert_eq!(
        all.table_names(),
        created.as_slice(),
        "ListTables lists every table in name order"
    );
    assert!(all.last_evaluated_table_name().is_none());

    let mut names = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = c
            .list_tables()
            .limit(3)
            .set_exclusive_start_table_name(start.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(page.table_names().len() <= 3, "Limit is honoured");
        names.extend(page.table_names().iter().cloned());
        match page.last_evaluated_table_name() {
            Some(last) => {
                assert_eq!(Some(last), page.table_names().last().map(String::as_str));
                start = Some(last.to_owned());
            }
            None => break,
        }
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(names, created, "pages cover every table once, in order");
    assert!(pages >= 3);

    // ExclusiveStartTableName need not name an existing table: listing starts after it.
    let after = c
        .list_tables()
        .exclusive_start_table_name("bravo")
        .send()
        .await
        .expect("list");
    let want: Vec<String> = created
        .iter()
        .filter(|n| n.as_str() > "bravo")
        .cloned()
        .collect();
    assert_eq!(after.table_names(), want.as_slice());

    assert_service_error(
        c.list_tables().limit(0).send().await,
        "ValidationException",
        "Member must have value greater than or equal to 1",
    );
}

#[tokio::test]
async fn delete_table() {
    let server = Server::start();
    let c = server.client();
    let name = unique_name("doomed");
    pk_sk_table(&c, &name).await;
    c.put_item()
        .table_name(&name)
        .item("pk", s("a"))
        .item("sk", n("1"))
        .send()
        .await
        .expect("put");
    let del = c
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .expect("delete");
    let desc = del.table_description().expect("TableDescription");
    assert_eq!(desc.table_name(), Some(name.as_str()));
    assert_eq!(desc.table_status(), Some(&TableStatus::Deleting));
    wait_deleted(&c, &name).await;
    assert!(!c
        .list_tables()
        .send()
        .await
        .expect("list")
        .table_names()
        .contains(&name));
    assert_service_error(
        c.delete_table().table_name(&name).send().await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    assert_service_error(
        c.get_item()
            .table_name(&name)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    assert_service_error(
        c.describe_table().table_name("never_existed").send().await,
        "ResourceNotFoundException",
        "Requested resource not found: Table: never_existed not found",
    );

    // The name can be used again and the new table starts empty.
    pk_sk_table(&c, &name).await;
    let scan = c.scan().table_name(&name).send().await.expect("scan");
    assert_eq!(
        scan.count(),
        0,
        "a re-created table does not see the old items"
    );
}

#[tokio::test]
async fn create_table_errors() {
    let server = Server::start();
    let c = server.client();
    let dup = unique_name("dup_table");
    pk_sk_table(&c, &dup).await;
    let create = |name: &str| {
        c.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
    };
    assert_service_error(create(&dup).send().await, "ResourceInUseException", &dup);

    // Table name rules: 3..=255 characters of [a-zA-Z0-9_.-].
    assert_service_error(
        create("ab").send().await,
        "ValidationException",
        "Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
    );
    assert_service_error(
        create(&"x".repeat(256)).send().await,
        "ValidationException",
        "Member must have length less than or equal to 255",
    );
    for bad in ["has space", "bad$name", "slash/name", "ünïcode"] {
        assert_service_error(
            create(bad).send().await,
            "ValidationException",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        );
    }
    // The edges of the rules are fine.
    for good in ["a.b", &"Z".repeat(255), "A-_.9"] {
        create(good)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{good}: {e:?}"));
    }

    // A key without a definition.
    assert_service_error(
        c.create_table()
            .table_name("nodef")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("other", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "One or more parameter values were invalid",
    );
    // A definition no key uses.
    assert_service_error(
        c.create_table()
            .table_name("extradef")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .attribute_definitions(def("unused", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
    );
    // PROVISIONED (also the default billing mode) without throughput; PAY_PER_REQUEST with it.
    assert_service_error(
        c.create_table()
            .table_name("nothroughput")
            .billing_mode(BillingMode::Provisioned)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
    );
    assert_service_error(
        c.create_table()
            .table_name("default_billing")
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "ReadCapacityUnits and WriteCapacityUnits must both be specified",
    );
    assert_service_error(
        c.create_table()
            .table_name("ppr_throughput")
            .billing_mode(BillingMode::PayPerRequest)
            .provisioned_throughput(throughput(5, 5))
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
    );
    // Schema shape: RANGE without HASH, two HASH keys, no key at all.
    assert_service_error(
        c.create_table()
            .table_name("rangefirst")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Range))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.create_table()
            .table_name("twohash")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("a", KeyType::Hash))
            .key_schema(key("b", KeyType::Hash))
            .attribute_definitions(def("a", ScalarAttributeType::S))
            .attribute_definitions(def("b", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "",
    );
    // Zero throughput is below the minimum of 1.
    assert_service_error(
        c.create_table()
            .table_name("zerothroughput")
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(throughput(0, 5))
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .send()
            .await,
        "ValidationException",
        "",
    );

    // None of the failed requests created anything.
    let names = c
        .list_tables()
        .send()
        .await
        .expect("list")
        .table_names()
        .to_vec();
    let mut want = vec![
        dup.clone(),
        "A-_.9".to_string(),
        "Z".repeat(255),
        "a.b".to_string(),
    ];
    want.sort();
    assert_eq!(names, want);
}

#[tokio::test]
async fn provisioned_streams_sse_and_update_table() {
    let server = Server::start();
    let c = server.client();
    let name = unique_name("prov");
    let created = c
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(5, 7))
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(def("pk", ScalarAttributeType::S))
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        )
        .sse_specification(
            SseSpecification::builder()
                .enabled(true)
                .sse_type(SseType::Kms)
                .build(),
        )
        .send()
        .await
        .expect("create");
    let desc = created.table_description().expect("TableDescription");
    assert!(
        matches!(
            desc.table_status(),
            Some(TableStatus::Creating) | Some(TableStatus::Active)
        ),
        "{:?}",
        desc.table_status()
    );
    wait_active(&c, &name).await;
    let t = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    let pt = t.provisioned_throughput().expect("throughput");
    assert_eq!(pt.read_capacity_units(), Some(5));
    assert_eq!(pt.write_capacity_units(), Some(7));
    // A table created PROVISIONED may or may not carry a BillingModeSummary; if it does, it says so.
    if let Some(mode) = t.billing_mode_summary().and_then(|b| b.billing_mode()) {
        assert_eq!(mode, &BillingMode::Provisioned);
    }
    let spec = t.stream_specification().expect("stream spec");
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    let stream_arn = t.latest_stream_arn().expect("LatestStreamArn");
    assert!(
        stream_arn.starts_with("arn:aws:dynamodb:us-east-1:"),
        "{stream_arn}"
    );
    assert!(
        stream_arn.contains(&format!(":table/{name}/stream/")),
        "{stream_arn}"
    );
    let label = t.latest_stream_label().expect("LatestStreamLabel");
    assert!(
        stream_arn.ends_with(label),
        "the stream ARN ends with the label"
    );
    let sse = t.sse_description().expect("SSEDescription");
    assert_eq!(sse.status(), Some(&SseStatus::Enabled));
    assert_eq!(sse.sse_type(), Some(&SseType::Kms));

    // A stream specification that enables a stream without a view type is invalid.
    assert_service_error(
        c.create_table()
            .table_name(unique_name("badstream"))
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .attribute_definitions(def("pk", ScalarAttributeType::S))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .build()
                    .expect("spec"),
            )
            .send()
            .await,
        "ValidationException",
        "",
    );

    // UpdateTable: throughput.
    let u = c
        .update_table()
        .table_name(&name)
        .provisioned_throughput(throughput(10, 3))
        .send()
        .await
        .expect("update throughput");
    assert_eq!(
        u.table_description().and_then(|t| t.table_name()),
        Some(name.as_str())
    );
    wait_active(&c, &name).await;
    let t = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    let pt = t.provisioned_throughput().expect("pt");
    assert_eq!(pt.read_capacity_units(), Some(10));
    assert_eq!(pt.write_capacity_units(), Some(3));
    assert_service_error(
        c.update_table()
            .table_name(&name)
            .provisioned_throughput(throughput(10, 3))
            .send()
            .await,
        "ValidationException",
        "The provisioned throughput for the table will not change",
    );

    // UpdateTable: to on-demand.
    c.update_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("to on-demand");
    wait_active(&c, &name).await;
    let t = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    // Throughput cannot be given to an on-demand table.
    assert_service_error(
        c.update_table()
            .table_name(&name)
            .provisioned_throughput(throughput(1, 1))
            .send()
            .await,
        "ValidationException",
        "",
    );
    // And back to provisioned, which needs throughput.
    assert_service_error(
        c.update_table()
            .table_name(&name)
            .billing_mode(BillingMode::Provisioned)
            .send()
            .await,
        "ValidationException",
        "",
    );
    c.update_table()
        .table_name(&name)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(throughput(2, 2))
        .send()
        .await
        .expect("to provisioned");
    wait_active(&c, &name).await;
    let t = c
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::Provisioned)
    );
    assert_eq!(
        t.provisioned_throughput()
            .and_then(|p| p.read_capacity_units()),
        Some(2)
    );

    // Nothing to update.
    assert_service_error(
        c.update_table().table_name(&name).send().await,
        "ValidationException",
        "",
    );
    assert_service_error(
        c.update_table()
            .table_name("missing_table")
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );
}
