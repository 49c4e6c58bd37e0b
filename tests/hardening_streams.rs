//! DynamoDB Streams as an attacker and a conformance suite use it: signed shard iterators
//! (forged, edited, foreign and restarted), every GetShardIterator validation, paging from
//! shards and streams that do not exist, DescribeStream's ShardFilter, and enabling or
//! disabling a stream twice. Each error is asserted exactly, then the server must still answer.

mod common;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{ShardFilter, ShardFilterType, ShardIteratorType};
use base64::Engine as _;
use common::*;

/// The server answers a plain request after whatever came before.
async fn still_answers(c: &aws_sdk_dynamodb::Client) {
    c.list_tables().send().await.expect("server still answers");
}

/// A table with a KEYS_ONLY stream and one record; its stream ARN and shard ids.
async fn stream_with_record(server: &Server, name: &str) -> (String, Vec<String>) {
    let c = server.client();
    let arn = stream_table(&c, name, false, StreamViewType::KeysOnly).await;
    c.put_item()
        .table_name(name)
        .item("pk", s("one"))
        .send()
        .await
        .expect("put");
    let st = streams_client_for(&server.endpoint());
    let desc = st
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe");
    let shards = desc
        .stream_description()
        .expect("desc")
        .shards()
        .iter()
        .map(|s| s.shard_id().expect("id").to_owned())
        .collect();
    (arn, shards)
}

async fn trim_horizon(st: &aws_sdk_dynamodbstreams::Client, arn: &str, shard: &str) -> String {
    st.get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator")
        .shard_iterator()
        .expect("token")
        .to_owned()
}

/// Records of every shard, from TRIM_HORIZON with the given iterators.
async fn records_from(st: &aws_sdk_dynamodbstreams::Client, iterators: &[String]) -> usize {
    let mut n = 0;
    for it in iterators {
        n += st
            .get_records()
            .shard_iterator(it)
            .send()
            .await
            .expect("records")
            .records()
            .len();
    }
    n
}

#[tokio::test]
async fn forged_edited_and_foreign_iterators_are_refused() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let (arn, shards) = stream_with_record(&server, "signed").await;
    let good = trim_horizon(&st, &arn, &shards[0]).await;
    assert!(good.starts_with(&format!("{arn}|1|")), "{good}");

    let refused = |token: String| {
        let st = st.clone();
        async move {
            assert_service_error(
                st.get_records().shard_iterator(token).send().await,
                "ValidationException",
                "Invalid ShardIterator",
            );
        }
    };
    // Every field edited: shard, position, issue time, the tag, the ARN, the version.
    let (head, blob) = good.rsplit_once('|').expect("ARN|1|blob");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = b64.decode(blob).expect("base64");
    for i in [1, 9, 17, 20, raw.len() - 1] {
        let mut edited = raw.clone();
        edited[i] ^= 0x01;
        refused(format!("{head}|{}", b64.encode(edited))).await;
    }
    refused(good.replacen("table/signed/", "table/signee/", 1)).await;
    refused(good.replacen("|1|", "|2|", 1)).await;
    // Made up from scratch, in the old unsigned form, and plain garbage.
    let unsigned = b64.encode(format!("v1|0|0|0|{arn}"));
    refused(unsigned).await;
    refused(format!("{arn}|1|{}", b64.encode([0u8; 50]))).await;
    refused("garbage".into()).await;
    still_answers(&c).await;

    // Another server (another data directory, another key) refuses this server's iterator,
    // even for a table and stream of the same name.
    let other = Server::start();
    let ost = streams_client_for(&other.endpoint());
    let (other_arn, other_shards) = stream_with_record(&other, "signed").await;
    let theirs = trim_horizon(&ost, &other_arn, &other_shards[0]).await;
    let forged = theirs.replacen(&other_arn, &arn, 1);
    refused(forged).await;
    // The genuine iterator still works.
    assert!(st
        .get_records()
        .shard_iterator(&good)
        .send()
        .await
        .expect("genuine iterator")
        .next_shard_iterator()
        .is_some());
}

#[tokio::test]
async fn iterators_survive_a_restart() {
    let mut server = Server::start();
    let st = streams_client_for(&server.endpoint());
    let (arn, shards) = stream_with_record(&server, "durable").await;
    let mut iterators = Vec::new();
    for shard in &shards {
        iterators.push(trim_horizon(&st, &arn, shard).await);
    }
    server.restart();
    let st = streams_client_for(&server.endpoint());
    assert_eq!(records_from(&st, &iterators).await, 1);
}

#[tokio::test]
async fn get_shard_iterator_validations() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let (arn, shards) = stream_with_record(&server, "validated").await;
    let iterator = |kind: ShardIteratorType, seq: Option<&str>| {
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shards[0])
            .shard_iterator_type(kind)
            .set_sequence_number(seq.map(str::to_owned))
            .send()
    };
    let start = st
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("describe")
        .stream_description()
        .and_then(|d| d.shards().first())
        .and_then(|s| s.sequence_number_range())
        .and_then(|r| r.starting_sequence_number())
        .expect("starting sequence number")
        .to_owned();

    // A sequence number is required by AT/AFTER_SEQUENCE_NUMBER and forbidden otherwise.
    for kind in [
        ShardIteratorType::AtSequenceNumber,
        ShardIteratorType::AfterSequenceNumber,
    ] {
        assert_service_error(
            iterator(kind.clone(), None).await,
            "ValidationException",
            &format!(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and a \
                 SequenceNumber or (2) TRIM_HORIZON or LATEST and no SequenceNumber. Request \
                 specified {} and no SequenceNumber.",
                kind.as_str()
            ),
        );
        iterator(kind, Some(&start))
            .await
            .expect("with a sequence number");
    }
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        assert_service_error(
            iterator(kind.clone(), Some(&start)).await,
            "ValidationException",
            &format!("Request specified {} and a SequenceNumber.", kind.as_str()),
        );
    }

    // Malformed sequence numbers: 21 to 40 characters, decimal digits only.
    assert_service_error(
        iterator(ShardIteratorType::AtSequenceNumber, Some("12345")).await,
        "ValidationException",
        "1 validation error detected: Value '12345' at 'sequenceNumber' failed to satisfy constraint: Member must have length greater than or equal to 21",
    );
    let long = "1".repeat(41);
    assert_service_error(
        iterator(ShardIteratorType::AtSequenceNumber, Some(&long)).await,
        "ValidationException",
        &format!("1 validation error detected: Value '{long}' at 'sequenceNumber' failed to satisfy constraint: Member must have length less than or equal to 40"),
    );
    assert_service_error(
        iterator(
            ShardIteratorType::AtSequenceNumber,
            Some("10000000000000000000x"),
        )
        .await,
        "ValidationException",
        "Invalid SequenceNumber: 10000000000000000000x",
    );
    // Well formed but far past anything this stream will ever hold.
    for seq in [&format!("2{}", "0".repeat(38)), &"9".repeat(40)] {
        assert_service_error(
            iterator(ShardIteratorType::AfterSequenceNumber, Some(seq)).await,
            "ValidationException",
            &format!(
                "Invalid SequenceNumber: {seq} is not in shard {}",
                shards[0]
            ),
        );
    }

    // Shards and streams that do not exist; members out of bounds.
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id("shardId-00000000000000000000-ffffffff")
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await,
        "ResourceNotFoundException",
        "Requested resource not found: Shard does not exist: shardId-00000000000000000000-ffffffff",
    );
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(&arn)
            .shard_id("short")
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await,
        "ValidationException",
        "1 validation error detected: Value 'short' at 'shardId' failed to satisfy constraint: Member must have length greater than or equal to 28",
    );
    let malformed = "sdfadfsddafgdafsgjnadflkgnalngalsdfnlkasnlkasdfasdfasf";
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(malformed)
            .shard_id(&shards[0])
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await,
        "ValidationException",
        &format!("Invalid StreamArn: {malformed}"),
    );
    let gone = arn.replace("table/validated/", "table/nosuch/");
    assert_service_error(
        st.get_shard_iterator()
            .stream_arn(&gone)
            .shard_id(&shards[0])
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await,
        "ResourceNotFoundException",
        &format!("Requested resource not found: Stream: {gone} not found"),
    );
    // Several violations at once are reported together.
    let r = raw_call(
        server.addr,
        "DynamoDBStreams_20120810.GetShardIterator",
        r#"{"ShardIteratorType": "SIDEWAYS"}"#,
    );
    assert_eq!(r.status, 400);
    let msg = r.json["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("3 validation errors detected: "), "{msg}");
    assert!(msg.contains("Value 'SIDEWAYS' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]"), "{msg}");
    still_answers(&c).await;
}

#[tokio::test]
async fn paging_from_shards_and_streams_that_do_not_exist() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let (arn, shards) = stream_with_record(&server, "paged").await;
    let (other_arn, _) = stream_with_record(&server, "paged2").await;
    let describe_after = |start: &str| {
        st.describe_stream()
            .stream_arn(&arn)
            .exclusive_start_shard_id(start)
            .send()
    };
    // Shard ids sort in shard order; paging goes on after any id, existing or not.
    let ids = |out: aws_sdk_dynamodbstreams::operation::describe_stream::DescribeStreamOutput| {
        out.stream_description()
            .expect("desc")
            .shards()
            .iter()
            .map(|s| s.shard_id().expect("id").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(describe_after(&shards[0]).await.expect("after first")),
        shards[1..]
    );
    assert!(ids(
        describe_after("zzzzzzzzzzzzzzzzzzzzzzzzsfasdgagadfadfgagkjsdfsfsdjfjks")
            .await
            .expect("after a shard that does not exist")
    )
    .is_empty());
    assert_eq!(
        ids(describe_after("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .await
            .expect("before all")),
        shards
    );
    assert_service_error(
        describe_after("shardId-1").await,
        "ValidationException",
        "1 validation error detected: Value 'shardId-1' at 'exclusiveStartShardId' failed to satisfy constraint: Member must have length greater than or equal to 28",
    );

    // ListStreams: a malformed ExclusiveStartStreamArn is refused; a well-formed one that
    // names no stream (deleted since) pages on after it.
    let malformed = "kossaapaaasdafsdaasdasdasdasasdasfadfadfasdasdas";
    assert_service_error(
        st.list_streams()
            .exclusive_start_stream_arn(malformed)
            .send()
            .await,
        "ValidationException",
        &format!("Invalid ExclusiveStartStreamArn: {malformed}"),
    );
    let between = arn.replace("table/paged/", "table/paged1/");
    let after = st
        .list_streams()
        .exclusive_start_stream_arn(&between)
        .send()
        .await
        .expect("list after a stream that does not exist");
    let arns: Vec<_> = after
        .streams()
        .iter()
        .map(|s| s.stream_arn().expect("arn"))
        .collect();
    assert_eq!(arns, [other_arn.as_str()]);
    let all = st.list_streams().limit(1).send().await.expect("page 1");
    assert_eq!(all.last_evaluated_stream_arn(), Some(arn.as_str()));
    c.delete_table()
        .table_name("paged")
        .send()
        .await
        .expect("delete");
    // The last page's cursor still works after its stream went away with its table.
    let rest = st
        .list_streams()
        .exclusive_start_stream_arn(&arn)
        .send()
        .await
        .expect("page 2");
    assert_eq!(rest.streams().len(), 1);
    still_answers(&c).await;
}

#[tokio::test]
async fn describe_stream_shard_filter() {
    let server = Server::start();
    let c = server.client();
    let st = streams_client_for(&server.endpoint());
    let (arn, shards) = stream_with_record(&server, "filtered").await;
    let children_of = |shard: &str| {
        st.describe_stream()
            .stream_arn(&arn)
            .shard_filter(
                ShardFilter::builder()
                    .r#type(ShardFilterType::ChildShards)
                    .shard_id(shard)
                    .build(),
            )
            .send()
    };
    // The log's shards never split: a shard of the stream has no children.
    for shard in &shards {
        let out = children_of(shard).await.expect("children");
        let desc = out.stream_description().expect("desc");
        assert!(desc.shards().is_empty(), "{desc:?}");
        assert!(desc.last_evaluated_shard_id().is_none());
        assert_eq!(desc.stream_arn(), Some(arn.as_str()));
    }
    assert_service_error(
        children_of("shardId-00000000000000000000-ffffffff").await,
        "ResourceNotFoundException",
        "Requested resource not found: Shard does not exist: shardId-00000000000000000000-ffffffff",
    );
    let raw = |filter: &str| {
        raw_call(
            server.addr,
            "DynamoDBStreams_20120810.DescribeStream",
            &format!(r#"{{"StreamArn": "{arn}", "ShardFilter": {filter}}}"#),
        )
    };
    let r = raw(r#"{"Type": "PARENT_SHARDS", "ShardId": "shardId-00000000000000000000-00000000"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazonaws.dynamodb.v20120810#ValidationException"
    );
    assert_eq!(
        r.json["message"],
        "1 validation error detected: Value 'PARENT_SHARDS' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set: [CHILD_SHARDS]"
    );
    let r = raw(r#"{"Type": "CHILD_SHARDS"}"#);
    assert_eq!(
        r.json["message"],
        "ShardFilter ShardId is required when its Type is CHILD_SHARDS"
    );
    let r = raw(r#"{"Type": "CHILD_SHARDS", "ShardId": "x"}"#);
    assert_eq!(
        r.json["message"],
        "1 validation error detected: Value 'x' at 'shardFilter.shardId' failed to satisfy constraint: Member must have length greater than or equal to 28"
    );
    let r = raw(r#""CHILD_SHARDS""#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["__type"],
        "com.amazon.coral.service#SerializationException"
    );
    still_answers(&c).await;
}

#[tokio::test]
async fn enabling_or_disabling_a_stream_twice() {
    let server = Server::start();
    let c = server.client();
    let name = "toggled";
    stream_table(&c, name, false, StreamViewType::NewImage).await;
    let update = |enabled: bool, view: Option<StreamViewType>| {
        c.update_table().table_name(name).stream_specification(
            StreamSpecification::builder()
                .stream_enabled(enabled)
                .set_stream_view_type(view)
                .build()
                .expect("spec"),
        )
    };
    assert_service_error(
        update(true, Some(StreamViewType::NewImage)).send().await,
        "ValidationException",
        "Table already has an enabled stream: TableName: toggled",
    );
    assert_service_error(
        update(true, None).send().await,
        "ValidationException",
        "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required",
    );
    assert_service_error(
        update(false, Some(StreamViewType::NewImage)).send().await,
        "ValidationException",
        "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType must not be specified",
    );
    update(false, None).send().await.expect("disable");
    wait_active(&c, name).await;
    assert_service_error(
        update(false, None).send().await,
        "ValidationException",
        "Table has no stream to disable: TableName: toggled",
    );
    let t = c
        .describe_table()
        .table_name(name)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    assert!(t.stream_specification().is_none(), "{t:?}");
    assert!(t.latest_stream_arn().is_some());
    // A table created without a stream has none to disable either.
    pk_sk_table(&c, "never").await;
    assert_service_error(
        c.update_table()
            .table_name("never")
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(false)
                    .build()
                    .expect("spec"),
            )
            .send()
            .await,
        "ValidationException",
        "Table has no stream to disable: TableName: never",
    );
    // CreateTable words the view-type rules its own way.
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        r#"{"TableName": "created", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": true}}"#,
    );
    assert_eq!(
        r.json["message"],
        "One or more parameter values were invalid: Table is being created with a stream enabled, UpdateViewType is required"
    );
    let r = raw_call(
        server.addr,
        "DynamoDB_20120810.CreateTable",
        r#"{"TableName": "created", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": false, "StreamViewType": "KEYS_ONLY"}}"#,
    );
    assert_eq!(
        r.json["message"],
        "One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should not be specified"
    );
    still_answers(&c).await;
}
