//! Tags (TagResource, UntagResource, ListTagsOfResource) and time to live (UpdateTimeToLive,
//! DescribeTimeToLive, the sweep, and its stream records marked as done by the service).

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{StreamViewType, Tag, TimeToLiveSpecification, TimeToLiveStatus};
use aws_sdk_dynamodbstreams::types::OperationType;
use common::*;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().expect("tag")
}

#[tokio::test]
async fn tags_on_tables() {
    let server = Server::start();
    let c = server.client();
    pk_sk_table(&c, "tagged").await;
    let arn = c
        .describe_table()
        .table_name("tagged")
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.table_arn())
        .expect("arn")
        .to_owned();
    let list = || c.list_tags_of_resource().resource_arn(&arn).send();
    assert!(list().await.expect("list").tags().is_empty());
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "test"))
        .tags(tag("team", "storage"))
        .send()
        .await
        .expect("tag");
    c.tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "prod"))
        .send()
        .await
        .expect("retag");
    let tags = list().await.expect("list");
    let got: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(got, [("env", "prod"), ("team", "storage")]);
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("env")
        .tag_keys("absent")
        .send()
        .await
        .expect("untag");
    let got: Vec<_> = list()
        .await
        .expect("list")
        .tags()
        .iter()
        .map(|t| t.key().to_owned())
        .collect();
    assert_eq!(got, ["team"]);

    // Tags given at creation; they survive a restart.
    c.create_table()
        .table_name("born-tagged")
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .expect("def"),
        )
        .tags(tag("owner", "me"))
        .send()
        .await
        .expect("create");
    let mut server = server;
    server.restart();
    let c = server.client();
    let born = arn.replace("table/tagged", "table/born-tagged");
    let tags = c
        .list_tags_of_resource()
        .resource_arn(&born)
        .send()
        .await
        .expect("list");
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].key(), "owner");

    // Errors.
    let missing = arn.replace("table/tagged", "table/missing");
    assert_service_error(
        c.list_tags_of_resource()
            .resource_arn(&missing)
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    assert_service_error(
        c.tag_resource()
            .resource_arn("arn:aws:dynamodb:us-east-1:000000000000:nonsense")
            .tags(tag("a", "b"))
            .send()
            .await,
        "ValidationException",
        "Invalid TableArn",
    );
    assert_service_error(
        c.tag_resource().resource_arn(&arn).send().await,
        "ValidationException",
        "",
    );
}

#[tokio::test]
async fn time_to_live_deletes_expired_items_as_the_service() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("fast-ttl.toml");
    std::fs::write(&config, "[ttl]\nsweep_interval_secs = 0.2\n").expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("path")]);
    let c = server.client();
    let arn = stream_table(&c, "ttl", false, StreamViewType::OldImage).await;
    let describe = || c.describe_time_to_live().table_name("ttl").send();
    assert_eq!(
        describe()
            .await
            .expect("describe")
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status()),
        Some(&TimeToLiveStatus::Disabled)
    );
    let spec = |enabled: bool, attr: &str| {
        TimeToLiveSpecification::builder()
            .enabled(enabled)
            .attribute_name(attr)
            .build()
            .expect("spec")
    };
    let out = c
        .update_time_to_live()
        .table_name("ttl")
        .time_to_live_specification(spec(true, "expires"))
        .send()
        .await
        .expect("enable");
    assert_eq!(
        out.time_to_live_specification().map(|s| s.attribute_name()),
        Some("expires")
    );
    let d = describe().await.expect("describe");
    let d = d.time_to_live_description().expect("description");
    assert_eq!(d.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(d.attribute_name(), Some("expires"));
    assert_service_error(
        c.update_time_to_live()
            .table_name("ttl")
            .time_to_live_specification(spec(true, "expires"))
            .send()
            .await,
        "ValidationException",
        "TimeToLive is already enabled",
    );
    assert_service_error(
        c.update_time_to_live()
            .table_name("missing")
            .time_to_live_specification(spec(true, "expires"))
            .send()
            .await,
        "ResourceNotFoundException",
        "",
    );

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for (pk, expires) in [
        ("past", Some(n(&(now - 60).to_string()))),
        ("future", Some(n(&(now + 3600).to_string()))),
        ("ancient", Some(n(&(now - 6 * 365 * 24 * 3600).to_string()))),
        ("string", Some(s("0"))),
        ("none", None),
    ] {
        let mut put = c.put_item().table_name("ttl").item("pk", s(pk));
        if let Some(e) = expires {
            put = put.item("expires", e);
        }
        put.send().await.expect("put");
    }
    // Only "past" goes, within a few sweeps.
    let mut left = Vec::new();
    for _ in 0..100 {
        let scan = c.scan().table_name("ttl").send().await.expect("scan");
        left = scan
            .items()
            .iter()
            .map(|i| match &i["pk"] {
                aws_sdk_dynamodb::types::AttributeValue::S(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        left.sort();
        if left.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, ["ancient", "future", "none", "string"]);

    // The deletion is in the stream as a REMOVE by the service.
    let st = streams_client_for(&server.endpoint());
    let recs = read_stream(&st, &arn).await;
    let removes: Vec<_> = recs
        .iter()
        .filter(|(_, r)| r.event_name() == Some(&OperationType::Remove))
        .collect();
    assert_eq!(removes.len(), 1);
    let r = &removes[0].1;
    let who = r.user_identity().expect("userIdentity");
    assert_eq!(who.r#type(), Some("Service"));
    assert_eq!(who.principal_id(), Some("dynamodb.amazonaws.com"));
    assert!(r.dynamodb().and_then(|d| d.old_image()).is_some());
    assert!(recs
        .iter()
        .filter(|(_, r)| r.event_name() == Some(&OperationType::Insert))
        .all(|(_, r)| r.user_identity().is_none()));

    c.update_time_to_live()
        .table_name("ttl")
        .time_to_live_specification(spec(false, "expires"))
        .send()
        .await
        .expect("disable");
    assert_service_error(
        c.update_time_to_live()
            .table_name("ttl")
            .time_to_live_specification(spec(false, "expires"))
            .send()
            .await,
        "ValidationException",
        "TimeToLive is already disabled",
    );
}
