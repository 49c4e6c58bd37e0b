//! DynamoDB Streams through aws-sdk-dynamodbstreams against the real binary: records for every
//! view type, the stream lifecycle (enable, disable, re-enable), every iterator type, paging,
//! and the error types (ResourceNotFound, Validation, ExpiredIterator, TrimmedDataAccess).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as SAttr, OperationType, ShardIteratorType, StreamStatus,
};
use base64::Engine as _;
use common::*;

fn sv(v: &str) -> SAttr {
    SAttr::S(v.to_owned())
}

fn nv(v: &str) -> SAttr {
    SAttr::N(v.to_owned())
}

/// Put (INSERT), update (MODIFY), the same put twice (no record), delete (REMOVE), delete of a
/// missing item (no record), for each view type.
#[tokio::test]
async fn records_for_every_view_type() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    for view in [
        StreamViewType::KeysOnly,
        StreamViewType::NewImage,
        StreamViewType::OldImage,
        StreamViewType::NewAndOldImages,
    ] {
        let table = format!("views-{}", view.as_str().to_lowercase().replace('_', "-"));
        let arn = stream_table(&c, &table, true, view.clone()).await;
        let put = |v: &str| {
            c.put_item()
                .table_name(&table)
                .item("pk", s("a"))
                .item("sk", n("1"))
                .item("v", s(v))
        };
        put("one").send().await.expect("put");
        c.update_item()
            .table_name(&table)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .update_expression("SET v = :v")
            .expression_attribute_values(":v", s("two"))
            .send()
            .await
            .expect("update");
        put("two").send().await.expect("same item again");
        c.update_item()
            .table_name(&table)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .update_expression("SET v = :v")
            .expression_attribute_values(":v", s("two"))
            .send()
            .await
            .expect("update to equal value");
        c.delete_item()
            .table_name(&table)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .send()
            .await
            .expect("delete");
        c.delete_item()
            .table_name(&table)
            .key("pk", s("a"))
            .key("sk", n("1"))
            .send()
            .await
            .expect("delete missing");

        let mut records = read_stream(&st, &arn).await;
        records.sort_by_key(|(_, r)| seq_of(r));
        let events: Vec<_> = records
            .iter()
            .map(|(_, r)| r.event_name().cloned().expect("eventName"))
            .collect();
        assert_eq!(
            events,
            [
                OperationType::Insert,
                OperationType::Modify,
                OperationType::Remove
            ],
            "{view:?}"
        );
        let keys = HashMap::from([("pk".to_owned(), sv("a")), ("sk".to_owned(), nv("1"))]);
        let image = |v: &str| {
            let mut m = keys.clone();
            m.insert("v".into(), sv(v));
            m
        };
        let expected_new = [Some(image("one")), Some(image("two")), None];
        let expected_old = [None, Some(image("one")), Some(image("two"))];
        for (i, (_, r)) in records.iter().enumerate() {
            assert_eq!(r.event_source(), Some("aws:dynamodb"));
            assert_eq!(r.event_version(), Some("1.1"));
            assert_eq!(r.aws_region(), Some("us-east-1"));
            assert!(r.event_id().is_some_and(|id| !id.is_empty()));
            assert!(r.user_identity().is_none());
            let d = r.dynamodb().expect("dynamodb");
            assert_eq!(d.keys(), Some(&keys));
            assert_eq!(
                d.stream_view_type().map(|v| v.as_str()),
                Some(view.as_str())
            );
            assert!(d.size_bytes().is_some_and(|s| s > 0));
            let age = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs()
                - d.approximate_creation_date_time().expect("time").secs();
            assert!((0..120).contains(&age), "creation time {age} s ago");
            let shows_new = matches!(
                view,
                StreamViewType::NewImage | StreamViewType::NewAndOldImages
            );
            let shows_old = matches!(
                view,
                StreamViewType::OldImage | StreamViewType::NewAndOldImages
            );
            let want_new = expected_new[i].as_ref().filter(|_| shows_new);
            let want_old = expected_old[i].as_ref().filter(|_| shows_old);
            assert_eq!(d.new_image(), want_new, "{view:?} record {i} NewImage");
            assert_eq!(d.old_image(), want_old, "{view:?} record {i} OldImage");
        }
        // Record ids are unique.
        let mut ids: Vec<_> = records.iter().map(|(_, r)| r.event_id()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    }
}

#[tokio::test]
async fn stream_lifecycle_and_listing() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    pk_sk_table(&c, "plain").await;
    let d = c
        .describe_table()
        .table_name("plain")
        .send()
        .await
        .expect("describe");
    assert!(d.table().and_then(|t| t.latest_stream_arn()).is_none());
    assert!(st
        .list_streams()
        .send()
        .await
        .expect("list")
        .streams()
        .is_empty());
    // Changes before a stream exists are not in it.
    c.put_item()
        .table_name("plain")
        .item("pk", s("before"))
        .item("sk", n("0"))
        .send()
        .await
        .expect("put");

    let enable = |view: StreamViewType| {
        c.update_table().table_name("plain").stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(view)
                .build()
                .expect("spec"),
        )
    };
    let disable = || {
        c.update_table().table_name("plain").stream_specification(
            StreamSpecification::builder()
                .stream_enabled(false)
                .build()
                .expect("spec"),
        )
    };
    let out = enable(StreamViewType::NewImage)
        .send()
        .await
        .expect("enable");
    let first = out
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("arn")
        .to_owned();
    let label = out
        .table_description()
        .and_then(|t| t.latest_stream_label())
        .expect("label")
        .to_owned();
    assert!(
        first.ends_with(&format!("table/plain/stream/{label}")),
        "{first}"
    );
    wait_active(&c, "plain").await;
    assert_service_error(
        enable(StreamViewType::KeysOnly).send().await,
        "ValidationException",
        "Table already has an enabled stream",
    );
    c.put_item()
        .table_name("plain")
        .item("pk", s("during"))
        .item("sk", n("1"))
        .send()
        .await
        .expect("put");
    disable().send().await.expect("disable");
    wait_active(&c, "plain").await;
    assert_service_error(
        disable().send().await,
        "ValidationException",
        "Table has no stream to disable: TableName: plain",
    );
    let d = c
        .describe_table()
        .table_name("plain")
        .send()
        .await
        .expect("describe");
    let t = d.table().expect("table");
    // Disabled: no StreamSpecification any more, the latest stream is still named.
    assert_eq!(t.latest_stream_arn(), Some(first.as_str()));
    assert!(t.stream_specification().is_none(), "{t:?}");
    c.put_item()
        .table_name("plain")
        .item("pk", s("while-disabled"))
        .item("sk", n("2"))
        .send()
        .await
        .expect("put");

    // The disabled stream: DISABLED, closed shards, exactly the one record.
    let desc = st
        .describe_stream()
        .stream_arn(&first)
        .send()
        .await
        .expect("describe stream");
    let desc = desc.stream_description().expect("desc");
    assert_eq!(desc.stream_status(), Some(&StreamStatus::Disabled));
    assert_eq!(desc.table_name(), Some("plain"));
    assert_eq!(desc.stream_label(), Some(label.as_str()));
    assert_eq!(desc.key_schema().len(), 2);
    assert!(!desc.shards().is_empty());
    for sh in desc.shards() {
        let range = sh.sequence_number_range().expect("range");
        assert!(range.starting_sequence_number().is_some());
        assert!(range.ending_sequence_number().is_some(), "closed shard");
    }
    let recs = read_stream(&st, &first).await;
    let pks: Vec<_> = recs
        .iter()
        .map(|(_, r)| r.dynamodb().and_then(|d| d.keys()).expect("keys")["pk"].clone())
        .collect();
    assert_eq!(pks, [sv("during")]);

    // Re-enabling gives a new stream with a new ARN.
    let out = enable(StreamViewType::KeysOnly)
        .send()
        .await
        .expect("re-enable");
    let second = out
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .expect("arn")
        .to_owned();
    assert_ne!(first, second);
    wait_active(&c, "plain").await;
    c.put_item()
        .table_name("plain")
        .item("pk", s("after"))
        .item("sk", n("3"))
        .send()
        .await
        .expect("put");
    let recs = read_stream(&st, &second).await;
    assert_eq!(recs.len(), 1);
    let d = recs[0].1.dynamodb().expect("dynamodb");
    assert_eq!(d.keys().expect("keys")["pk"], sv("after"));
    assert!(d.new_image().is_none(), "KEYS_ONLY");
    let desc = st
        .describe_stream()
        .stream_arn(&second)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        desc.stream_description().and_then(|d| d.stream_status()),
        Some(&StreamStatus::Enabled)
    );

    // ListStreams: both streams of the table, paging with Limit.
    stream_table(&c, "other", false, StreamViewType::NewImage).await;
    let all = st.list_streams().send().await.expect("list");
    assert_eq!(all.streams().len(), 3);
    let of_plain = st
        .list_streams()
        .table_name("plain")
        .send()
        .await
        .expect("list");
    let arns: Vec<_> = of_plain
        .streams()
        .iter()
        .map(|s| s.stream_arn().expect("arn"))
        .collect();
    assert_eq!(arns, [first.as_str(), second.as_str()]);
    assert!(of_plain
        .streams()
        .iter()
        .all(|s| s.table_name() == Some("plain")));
    let page1 = st.list_streams().limit(2).send().await.expect("page 1");
    assert_eq!(page1.streams().len(), 2);
    let cursor = page1.last_evaluated_stream_arn().expect("more").to_owned();
    let page2 = st
        .list_streams()
        .limit(2)
        .exclusive_start_stream_arn(cursor)
        .send()
        .await
        .expect("page 2");
    assert_eq!(page2.streams().len(), 1);
    assert!(page2.last_evaluated_stream_arn().is_none());
    assert_service_error(
        st.list_streams().table_name("missing").send().await,
        "ResourceNotFoundException",
        "missing",
    );
    assert_service_error(
        st.list_streams().limit(0).send().await,
        "ValidationException",
        "greater than or equal to 1",
    );

    // Streams survive a restart with their records.
    let mut server = server;
    server.restart();
    let st = streams_client_for(&server.endpoint());
    assert_eq!(read_stream(&st, &second).await.len(), 1);
    assert_eq!(read_stream(&st, &first).await.len(), 1);
}

#[tokio::test]
async fn iterator_types_paging_and_errors() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let arn = stream_table(&c, "iters", true, StreamViewType::NewImage).await;
    // Ten versions of one item: all in one shard, in order.
    for i in 0..10 {
        c.put_item()
            .table_name("iters")
            .item("pk", s("k"))
            .item("sk", n("1"))
            .item("v", n(&i.to_string()))
            .send()
            .await
            .expect("put");
    }
    let recs = read_stream(&st, &arn).await;
    assert_eq!(recs.len(), 10);
    let shard = recs[0].0.clone();
    assert!(recs.iter().all(|(s, _)| *s == shard), "one item, one shard");
    let seqs: Vec<u128> = recs.iter().map(|(_, r)| seq_of(r)).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let versions: Vec<_> = recs
        .iter()
        .map(|(_, r)| r.dynamodb().and_then(|d| d.new_image()).expect("image")["v"].clone())
        .collect();
    assert_eq!(
        versions,
        (0..10).map(|i| nv(&i.to_string())).collect::<Vec<_>>()
    );
    let seq_str = |i: usize| seqs[i].to_string();

    let iterator = |kind: ShardIteratorType, seq: Option<String>| {
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(kind)
            .set_sequence_number(seq)
    };
    let token =
        |out: aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorOutput| {
            out.shard_iterator().expect("iterator").to_owned()
        };

    // AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
    let at = token(
        iterator(ShardIteratorType::AtSequenceNumber, Some(seq_str(3)))
            .send()
            .await
            .expect("at"),
    );
    let page = st
        .get_records()
        .shard_iterator(at)
        .limit(2)
        .send()
        .await
        .expect("records");
    let got: Vec<u128> = page.records().iter().map(seq_of).collect();
    assert_eq!(got, [seqs[3], seqs[4]]);
    // Paging continues where the page ended.
    let next = page.next_shard_iterator().expect("next").to_owned();
    let page = st
        .get_records()
        .shard_iterator(next)
        .limit(1)
        .send()
        .await
        .expect("records");
    assert_eq!(
        page.records().iter().map(seq_of).collect::<Vec<_>>(),
        [seqs[5]]
    );
    let after = token(
        iterator(ShardIteratorType::AfterSequenceNumber, Some(seq_str(8)))
            .send()
            .await
            .expect("after"),
    );
    let page = st
        .get_records()
        .shard_iterator(after)
        .send()
        .await
        .expect("records");
    assert_eq!(
        page.records().iter().map(seq_of).collect::<Vec<_>>(),
        [seqs[9]]
    );
    // An open shard always has a next iterator, even when caught up.
    let caught_up = page.next_shard_iterator().expect("open shard").to_owned();
    let empty = st
        .get_records()
        .shard_iterator(caught_up.clone())
        .send()
        .await
        .expect("records");
    assert!(empty.records().is_empty());

    // LATEST sees only what comes after it.
    let latest = token(
        iterator(ShardIteratorType::Latest, None)
            .send()
            .await
            .expect("latest"),
    );
    let page = st
        .get_records()
        .shard_iterator(latest.clone())
        .send()
        .await
        .expect("records");
    assert!(page.records().is_empty());
    c.put_item()
        .table_name("iters")
        .item("pk", s("k"))
        .item("sk", n("1"))
        .item("v", n("10"))
        .send()
        .await
        .expect("put");
    let page = st
        .get_records()
        .shard_iterator(latest)
        .send()
        .await
        .expect("records");
    assert_eq!(page.records().len(), 1);
    let page = st
        .get_records()
        .shard_iterator(caught_up)
        .send()
        .await
        .expect("records");
    assert_eq!(
        page.records().len(),
        1,
        "a caught-up iterator sees new records"
    );

    // Errors.
    let missing_arn = arn.replace("table/iters/", "table/nosuch/");
    assert_service_error(
        st.describe_stream().stream_arn(&missing_arn).send().await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id("shardId-00000000000000000000-deadbeef")
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await,
        "ResourceNotFoundException",
        "Shard does not exist",
    );
    assert_service_error(
        iterator(ShardIteratorType::AtSequenceNumber, None)
            .send()
            .await,
        "ValidationException",
        "SequenceNumber",
    );
    assert_service_error(
        iterator(
            ShardIteratorType::AtSequenceNumber,
            Some("not-a-number-of-21-chars".into()),
        )
        .send()
        .await,
        "ValidationException",
        "Invalid SequenceNumber",
    );
    let trim = token(
        iterator(ShardIteratorType::TrimHorizon, None)
            .send()
            .await
            .expect("trim horizon"),
    );
    assert_service_error(
        st.get_records().shard_iterator(&trim).limit(0).send().await,
        "ValidationException",
        "greater than or equal to 1",
    );
    assert_service_error(
        st.get_records()
            .shard_iterator(&trim)
            .limit(1001)
            .send()
            .await,
        "ValidationException",
        "less than or equal to 1000",
    );
    assert_service_error(
        st.get_records().shard_iterator("garbage").send().await,
        "ValidationException",
        "Invalid ShardIterator",
    );
    // Iterators are signed: one edited to look 16 minutes old is refused, not expired (the
    // expiry itself is covered by the engine's unit tests).
    let (head, blob) = trim.rsplit_once('|').expect("ARN|1|blob");
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(blob)
        .expect("blob is base64");
    raw[10] ^= 0x01;
    let edited = format!(
        "{head}|{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    assert_service_error(
        st.get_records().shard_iterator(edited).send().await,
        "ValidationException",
        "Invalid ShardIterator",
    );
    // Deleting the table makes its stream unknown.
    c.delete_table()
        .table_name("iters")
        .send()
        .await
        .expect("delete");
    assert_service_error(
        st.get_records().shard_iterator(&trim).send().await,
        "ResourceNotFoundException",
        "Requested resource not found",
    );
}

/// Records older than the retention period are trimmed; reading before the trim horizon is
/// TrimmedDataAccessException, TRIM_HORIZON moves forward.
#[tokio::test]
async fn trimming_and_trimmed_data_access() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("short-retention.toml");
    // Records live about 1.8 s; the trimmer runs every 200 ms.
    std::fs::write(
        &config,
        "[change_log]\nretention_hours = 0.0005\ntrim_interval_secs = 0.2\n",
    )
    .expect("config");
    let server = Server::start_with(&["--config", config.to_str().expect("path")]);
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let arn = stream_table(&c, "trimmed", false, StreamViewType::KeysOnly).await;
    let put = |v: &str| {
        c.put_item()
            .table_name("trimmed")
            .item("pk", s("k"))
            .item("v", s(v))
    };
    put("old").send().await.expect("put");
    let recs = read_stream(&st, &arn).await;
    assert_eq!(recs.len(), 1);
    let (shard, old) = (recs[0].0.clone(), seq_of(&recs[0].1));
    let early = st
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator")
        .shard_iterator()
        .expect("token")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    put("new").send().await.expect("put");
    assert_service_error(
        st.get_records().shard_iterator(&early).send().await,
        "TrimmedDataAccessException",
        "trimmed",
    );
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(old.to_string())
            .send()
            .await,
        "TrimmedDataAccessException",
        "trimmed",
    );
    let recs = read_stream(&st, &arn).await;
    assert_eq!(recs.len(), 1, "only the new record is left");
    assert!(seq_of(&recs[0].1) > old);
}
