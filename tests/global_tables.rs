//! Global tables end to end: real `tributary` regions and real nats-server processes on free
//! ports. Writes in any region reach the others; conflicting writers converge to the
//! last-writer-wins state; a killed region and a restarted NATS server lose nothing; a replica
//! added to a table that holds 50,000 items ends with exactly the same items; a replica turns
//! ACTIVE only once its region holds every item, even when both regions restart meanwhile; a
//! replica in a region that never joined waits, with the reason, until that region joins.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, CreateReplicationGroupMemberAction, DeleteReplicationGroupMemberAction,
    PutRequest, ReplicationGroupUpdate, ScalarAttributeType, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use common::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];

/// A config file declaring global table `table` (key `pk:S`) in the three regions.
fn declared_config(dir: &std::path::Path, table: &str) -> String {
    let path = dir.join(format!("{table}.toml"));
    std::fs::write(
        &path,
        format!(
            "[replication]\npeers = {REGIONS:?}\n\n[[replication.tables]]\nname = \"{table}\"\npartition_key = \"pk:S\"\n"
        ),
    )
    .expect("config");
    path.display().to_string()
}

fn start_regions(nats: &NatsServer, extra: &[&str]) -> Vec<Server> {
    let url = nats.url();
    REGIONS
        .iter()
        .map(|r| {
            let mut args = vec!["--nats", url.as_str()];
            args.extend_from_slice(extra);
            Server::start_in(r, &args)
        })
        .collect()
}

/// Every item of a table, by partition key, in a comparable form.
async fn scan_all(c: &Client, table: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let item = normalize_item(item);
            let pk = match item.get("pk") {
                Some(AttributeValue::S(s)) => s.clone(),
                other => panic!("no pk: {other:?}"),
            };
            let fields = item
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v:?}")))
                .collect();
            out.insert(pk, fields);
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

/// Waits until every region holds the same items; returns them.
async fn converged(
    servers: &[&Server],
    table: &str,
    within: Duration,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let deadline = Instant::now() + within;
    loop {
        let mut scans = Vec::new();
        for s in servers {
            scans.push(scan_all(&s.client(), table).await);
        }
        if scans.windows(2).all(|w| w[0] == w[1]) {
            return scans.swap_remove(0);
        }
        if Instant::now() > deadline {
            let sizes: Vec<usize> = scans.iter().map(BTreeMap::len).collect();
            let diff: Vec<_> = scans[0]
                .iter()
                .filter(|(k, v)| scans.iter().any(|s| s.get(*k) != Some(*v)))
                .take(5)
                .collect();
            panic!("regions did not converge in {within:?}: item counts {sizes:?}, e.g. {diff:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn wait_for<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// DescribeTable's Replicas: (region, status), sorted; None when the table is missing.
async fn replicas(c: &Client, table: &str) -> Option<Vec<(String, String)>> {
    let d = c.describe_table().table_name(table).send().await.ok()?;
    let t = d.table()?;
    let mut out: Vec<(String, String)> = t
        .replicas()
        .iter()
        .map(|r| {
            (
                r.region_name().unwrap_or_default().to_owned(),
                r.replica_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    Some(out)
}

fn create_replica(region: &str) -> ReplicationGroupUpdate {
    ReplicationGroupUpdate::builder()
        .create(
            CreateReplicationGroupMemberAction::builder()
                .region_name(region)
                .build()
                .expect("action"),
        )
        .build()
}

async fn put(c: &Client, table: &str, pk: &str, v: &str) {
    c.put_item()
        .table_name(table)
        .item("pk", s(pk))
        .item("v", s(v))
        .send()
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_share_a_table_made_global_with_update_table() {
    let nats = NatsServer::start();
    let regions = start_regions(&nats, &[]);
    let [a, b, c] = [&regions[0], &regions[1], &regions[2]];
    let (ca, cb, cc) = (a.client(), b.client(), c.client());
    create_table(&ca, "Orders", ("pk", ScalarAttributeType::S), None).await;
    for i in 0..20 {
        put(&ca, "Orders", &format!("before-{i}"), "a").await;
    }
    // A table is not global until it has replicas.
    let d = ca
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .expect("describe");
    assert!(d.table().expect("table").global_table_version().is_none());

    let out = ca
        .update_table()
        .table_name("Orders")
        .replica_updates(create_replica("eu-west-1"))
        .replica_updates(create_replica("ap-south-1"))
        .send()
        .await
        .expect("add replicas");
    let t = out.table_description().expect("description");
    assert_eq!(t.global_table_version(), Some("2019.11.21"));
    let mut listed: Vec<&str> = t
        .replicas()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    listed.sort();
    assert_eq!(listed, ["ap-south-1", "eu-west-1"]);

    let active = |regions: &[&str]| {
        regions
            .iter()
            .map(|r| (r.to_string(), "ACTIVE".to_string()))
            .collect::<Vec<_>>()
    };
    wait_for("replicas ACTIVE", Duration::from_secs(60), || async {
        replicas(&ca, "Orders").await == Some(active(&["ap-south-1", "eu-west-1"]))
    })
    .await;
    // The table and its schema appeared in the new regions, with the items it held.
    wait_for(
        "the table in eu-west-1",
        Duration::from_secs(60),
        || async { replicas(&cb, "Orders").await == Some(active(&["ap-south-1", "us-east-1"])) },
    )
    .await;
    let d = cc
        .describe_table()
        .table_name("Orders")
        .send()
        .await
        .expect("describe in ap-south-1");
    let t = d.table().expect("table");
    assert_eq!(t.key_schema()[0].attribute_name(), "pk");
    assert_eq!(t.global_table_version(), Some("2019.11.21"));
    assert_eq!(
        converged(&[a, b, c], "Orders", Duration::from_secs(60))
            .await
            .len(),
        20
    );

    // Writes in any region appear in every other; so do deletes.
    put(&cb, "Orders", "from-eu", "b").await;
    put(&cc, "Orders", "from-ap", "c").await;
    put(&ca, "Orders", "before-0", "updated in us-east-1").await;
    cc.delete_item()
        .table_name("Orders")
        .key("pk", s("before-1"))
        .send()
        .await
        .expect("delete");
    let items = converged(&[a, b, c], "Orders", Duration::from_secs(60)).await;
    assert_eq!(items.len(), 21);
    assert!(items["before-0"]["v"].contains("updated in us-east-1"));
    assert!(items.contains_key("from-eu") && items.contains_key("from-ap"));
    assert!(!items.contains_key("before-1"));

    // Replication latency per origin region is in the metrics (recorded just after the
    // change is applied, so it may trail the data by a moment).
    let latency_of_both = || {
        let (_, m) = http_get(b.addr, "/metrics").expect("metrics");
        m.contains("tributary_replication_latency_seconds_count{origin=\"us-east-1\"}")
            && m.contains("tributary_replication_latency_seconds_count{origin=\"ap-south-1\"}")
    };
    wait_for(
        "replication latency metrics for both origins",
        Duration::from_secs(10),
        || async { latency_of_both() },
    )
    .await;

    // Deleting a replica deletes the table in that region.
    ca.update_table()
        .table_name("Orders")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    DeleteReplicationGroupMemberAction::builder()
                        .region_name("ap-south-1")
                        .build()
                        .expect("action"),
                )
                .build(),
        )
        .send()
        .await
        .expect("remove a replica");
    wait_for(
        "the table gone from ap-south-1",
        Duration::from_secs(60),
        || async { replicas(&cc, "Orders").await.is_none() },
    )
    .await;
    wait_for("eu-west-1 told", Duration::from_secs(60), || async {
        replicas(&cb, "Orders").await == Some(active(&["us-east-1"]))
    })
    .await;
    put(&cb, "Orders", "after-removal", "b").await;
    let items = converged(&[a, b], "Orders", Duration::from_secs(60)).await;
    assert!(items.contains_key("after-removal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_updates_are_validated() {
    let nats = NatsServer::start();
    let a = Server::start_in("us-east-1", &["--nats", &nats.url()]);
    let c = a.client();
    create_table(&c, "Tab1", ("pk", ScalarAttributeType::S), None).await;
    let err = c
        .update_table()
        .table_name("Tab1")
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .delete(
                    DeleteReplicationGroupMemberAction::builder()
                        .region_name("eu-west-1")
                        .build()
                        .expect("action"),
                )
                .build(),
        )
        .send()
        .await;
    assert_service_error(err, "ValidationException", "not part of the global table");
    c.update_table()
        .table_name("Tab1")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await
        .expect("create");
    let err = c
        .update_table()
        .table_name("Tab1")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await;
    assert_service_error(err, "ValidationException", "already existed");
    let err = c
        .update_table()
        .table_name("Missing")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await;
    assert_service_error(err, "ResourceNotFoundException", "Missing");

    // Without NATS there is nothing to replicate to.
    let alone = Server::start();
    let c = alone.client();
    create_table(&c, "Tab2", ("pk", ScalarAttributeType::S), None).await;
    let err = c
        .update_table()
        .table_name("Tab2")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await;
    assert_service_error(err, "ValidationException", "--nats");
}

/// A tiny deterministic generator (xorshift), one per writer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One acknowledged write: the key, the value written (None: a delete) and when it ran.
struct Op {
    key: String,
    value: Option<String>,
    start: Instant,
    end: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_writers_in_three_regions_converge_to_the_last_writer() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = declared_config(tmp.path(), "Hot");
    let nats = NatsServer::start();
    let regions = start_regions(&nats, &["--config", &config]);
    let ops = Arc::new(Mutex::new(Vec::<Op>::new()));
    let stop_at = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for (r, server) in regions.iter().enumerate() {
        for w in 0..3 {
            let c = server.client();
            let ops = ops.clone();
            let writer = format!("{}-{w}", REGIONS[r]);
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((r * 3 + w) as u64 + 1));
                let mut n = 0;
                while Instant::now() < stop_at {
                    n += 1;
                    let key = format!("k{}", rng.next() % 300);
                    let start = Instant::now();
                    let value = if rng.next().is_multiple_of(5) {
                        let out = c
                            .delete_item()
                            .table_name("Hot")
                            .key("pk", s(&key))
                            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                            .send()
                            .await
                            .expect("delete");
                        if out.attributes().is_none() {
                            // Nothing to delete here: no change, so nothing is replicated
                            // (as in DynamoDB, where such a delete has no stream record).
                            continue;
                        }
                        Ok::<_, aws_sdk_dynamodb::Error>(None)
                    } else {
                        let v = format!("{writer}-{n}");
                        c.put_item()
                            .table_name("Hot")
                            .item("pk", s(&key))
                            .item("v", s(&v))
                            .send()
                            .await
                            .map(|_| Some(v))
                            .map_err(aws_sdk_dynamodb::Error::from)
                    };
                    let value = value.expect("write");
                    let end = Instant::now();
                    ops.lock().expect("ops").push(Op {
                        key,
                        value,
                        start,
                        end,
                    });
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let servers: Vec<&Server> = regions.iter().collect();
    let items = converged(&servers, "Hot", Duration::from_secs(90)).await;
    let ops = ops.lock().expect("ops");
    assert!(ops.len() > 300, "only {} writes", ops.len());
    // Last writer wins: the state of each key comes from a write that no other write to the
    // key followed in real time (all regions run on this machine's clock; 5 ms of slack for
    // the clock's millisecond steps).
    let mut by_key: HashMap<&str, Vec<&Op>> = HashMap::new();
    for op in ops.iter() {
        by_key.entry(&op.key).or_default().push(op);
    }
    let slack = Duration::from_millis(5);
    let (mut present, mut deleted) = (0, 0);
    for (key, writes) in &by_key {
        let state = items.get(*key).map(|i| i["v"].clone());
        match &state {
            Some(_) => present += 1,
            None => deleted += 1,
        }
        let winner_ok = writes.iter().any(|w| {
            let same = match (&w.value, &state) {
                (None, None) => true,
                (Some(v), Some(s)) => s.contains(&format!("\"{v}\"")),
                _ => false,
            };
            same && writes.iter().all(|o| o.start <= w.end + slack)
        });
        assert!(
            winner_ok,
            "key {key}: final state {state:?} is not the last write of {:?}",
            writes.iter().map(|w| &w.value).collect::<Vec<_>>()
        );
    }
    assert!(
        present > 0 && deleted > 0,
        "present {present}, deleted {deleted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_region_and_a_restarted_nats_lose_no_acknowledged_write() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = declared_config(tmp.path(), "Acct");
    let mut nats = NatsServer::start();
    let mut regions = start_regions(&nats, &["--config", &config]);
    // Each key has one writer, which counts up: the newest acknowledged value must survive
    // everywhere (a write cut off by the kill may or may not have been applied).
    let acked = Arc::new(Mutex::new(HashMap::<String, (u64, u64)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (r, server) in regions.iter().enumerate() {
        for w in 0..2 {
            let endpoint = server.endpoint();
            let (acked, stop) = (acked.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let c = client_for(&endpoint);
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let key = format!("{}-{w}-{}", REGIONS[r], n % 50);
                    let attempt = c
                        .put_item()
                        .table_name("Acct")
                        .item("pk", s(&key))
                        .item("n", AttributeValue::N(n.to_string()))
                        .send();
                    acked
                        .lock()
                        .expect("acked")
                        .entry(key.clone())
                        .or_insert((0, 0))
                        .1 = n;
                    let ok = tokio::time::timeout(Duration::from_secs(5), attempt).await;
                    if matches!(ok, Ok(Ok(_))) {
                        acked.lock().expect("acked").entry(key).or_insert((0, 0)).0 = n;
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    regions[2].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restart();
    tokio::time::sleep(Duration::from_secs(1)).await;
    regions[2].start_again();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.expect("writer");
    }
    let servers: Vec<&Server> = regions.iter().collect();
    let items = converged(&servers, "Acct", Duration::from_secs(120)).await;
    let acked = acked.lock().expect("acked");
    assert!(acked.len() > 100, "only {} keys written", acked.len());
    for (key, (ok, attempted)) in acked.iter() {
        let stored: u64 = items
            .get(key)
            .and_then(|i| i.get("n"))
            .and_then(|v| v.split('"').nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            stored >= *ok && stored <= *attempted,
            "{key}: stored {stored}, last acknowledged {ok}, last attempted {attempted}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_added_to_a_table_of_50000_items_under_writes_gets_them_all() {
    let nats = NatsServer::start();
    let a = Server::start_in("us-east-1", &["--nats", &nats.url()]);
    let b = Server::start_in("eu-west-1", &["--nats", &nats.url()]);
    let ca = a.client();
    create_table(&ca, "Big", ("pk", ScalarAttributeType::S), None).await;
    let mut loaders = Vec::new();
    for part in 0..4 {
        let c = a.client();
        loaders.push(tokio::spawn(async move {
            for chunk in 0..500 {
                let writes = (0..25)
                    .map(|i| {
                        let n = part * 12_500 + chunk * 25 + i;
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .item("pk", s(&format!("item-{n:05}")))
                                    .item("v", AttributeValue::N(n.to_string()))
                                    .build()
                                    .expect("put"),
                            )
                            .build()
                    })
                    .collect::<Vec<_>>();
                let out = c
                    .batch_write_item()
                    .request_items("Big", writes)
                    .send()
                    .await
                    .expect("batch");
                assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
    // Writes go on while the replica is added and backfilled.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (c, stop) = (a.client(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = format!("item-{:05}", (n * 7919) % 60_000);
                if n.is_multiple_of(10) {
                    c.delete_item()
                        .table_name("Big")
                        .key("pk", s(&key))
                        .send()
                        .await
                        .expect("delete");
                } else {
                    put(&c, "Big", &key, &format!("live-{n}")).await;
                }
            }
            n
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    ca.update_table()
        .table_name("Big")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await
        .expect("add replica");
    wait_for("the replica ACTIVE", Duration::from_secs(180), || async {
        replicas(&ca, "Big").await == Some(vec![("eu-west-1".to_string(), "ACTIVE".to_string())])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let live_writes = writer.await.expect("writer");
    assert!(
        live_writes > 10,
        "only {live_writes} writes during the backfill"
    );
    let items = converged(&[&a, &b], "Big", Duration::from_secs(120)).await;
    assert!(items.len() > 49_000, "{} items", items.len());
    assert!(a.log_text().contains("backfill sent"), "{}", a.log_text());
}

/// DescribeTable's entry for one replica region: (status, status description).
async fn replica_state(c: &Client, table: &str, region: &str) -> Option<(String, Option<String>)> {
    let d = c.describe_table().table_name(table).send().await.ok()?;
    let r = d
        .table()?
        .replicas()
        .iter()
        .find(|r| r.region_name() == Some(region))?
        .clone();
    Some((
        r.replica_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        r.replica_status_description().map(str::to_owned),
    ))
}

/// DescribeTable's TableStatus (None when the table is missing or the region down).
async fn table_status(c: &Client, table: &str) -> Option<String> {
    let d = c.describe_table().table_name(table).send().await.ok()?;
    Some(d.table()?.table_status()?.as_str().to_owned())
}

/// How many items a table holds (None when the region does not answer).
async fn count(c: &Client, table: &str) -> Option<usize> {
    let mut n = 0;
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .ok()?;
        n += page.count() as usize;
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return Some(n),
        }
    }
}

async fn load(server: &Server, table: &str, items: usize) {
    let mut loaders = Vec::new();
    for part in 0..4 {
        let c = server.client();
        let table = table.to_owned();
        loaders.push(tokio::spawn(async move {
            let keys: Vec<usize> = (0..items).filter(|n| n % 4 == part).collect();
            for chunk in keys.chunks(25) {
                let writes = chunk
                    .iter()
                    .map(|n| {
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .item("pk", s(&format!("item-{n:05}")))
                                    .item("v", AttributeValue::N(n.to_string()))
                                    .build()
                                    .expect("put"),
                            )
                            .build()
                    })
                    .collect::<Vec<_>>();
                let out = c
                    .batch_write_item()
                    .request_items(&table, writes)
                    .send()
                    .await
                    .expect("batch");
                assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
            }
        }));
    }
    for l in loaders {
        l.await.expect("loader");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_in_a_region_that_never_joined_waits_with_the_reason_until_it_joins() {
    let nats = NatsServer::start();
    let a = Server::start_in("us-east-1", &["--nats", &nats.url()]);
    let ca = a.client();
    create_table(&ca, "Typo", ("pk", ScalarAttributeType::S), None).await;
    load(&a, "Typo", 300).await;
    ca.update_table()
        .table_name("Typo")
        .replica_updates(create_replica("eu-wset-1"))
        .send()
        .await
        .expect("add a replica in a region nothing runs");
    let added = Instant::now();
    let warning = "replica region eu-wset-1 has never joined";
    wait_for("the warning", Duration::from_secs(20), || async {
        a.log_text().contains(warning)
    })
    .await;
    // Well past the 5 s after which such a replica used to turn ACTIVE.
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(added.elapsed())).await;
    let (status, why) = replica_state(&ca, "Typo", "eu-wset-1")
        .await
        .expect("the replica");
    assert_eq!(status, "CREATING");
    assert_eq!(
        why.as_deref(),
        Some("Waiting for region eu-wset-1 to join (no tributary region with that name has connected to NATS)")
    );
    assert_eq!(a.log_text().matches(warning).count(), 1, "{}", a.log_text());

    // The region starts after all: the replica is backfilled and turns ACTIVE.
    let b = Server::start_in("eu-wset-1", &["--nats", &nats.url()]);
    let cb = b.client();
    wait_for("the replica ACTIVE", Duration::from_secs(60), || async {
        replica_state(&ca, "Typo", "eu-wset-1").await == Some(("ACTIVE".into(), None))
    })
    .await;
    assert_eq!(count(&cb, "Typo").await, Some(300));
    wait_for("ACTIVE in eu-wset-1", Duration::from_secs(30), || async {
        table_status(&cb, "Typo").await.as_deref() == Some("ACTIVE")
    })
    .await;
    assert_eq!(
        replica_state(&cb, "Typo", "us-east-1").await,
        Some(("ACTIVE".into(), None))
    );
    put(&cb, "Typo", "from-the-late-region", "b").await;
    assert_eq!(
        converged(&[&a, &b], "Typo", Duration::from_secs(60))
            .await
            .len(),
        301
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_turns_active_only_once_its_region_holds_every_item_across_restarts() {
    const ITEMS: usize = 4000;
    let nats = NatsServer::start();
    let mut a = Server::start_in("us-east-1", &["--nats", &nats.url()]);
    let mut b = Server::start_in("eu-west-1", &["--nats", &nats.url()]);
    create_table(&a.client(), "Full", ("pk", ScalarAttributeType::S), None).await;
    load(&a, "Full", ITEMS).await;

    // Whenever any region says the new replica is ACTIVE, it must hold every item already.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (ea, eb, stop) = (a.endpoint(), b.endpoint(), stop.clone());
        tokio::spawn(async move {
            let (ca, cb) = (client_for(&ea), client_for(&eb));
            let (mut seen_active, mut violations) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let in_a = replica_state(&ca, "Full", "eu-west-1").await;
                let in_b = table_status(&cb, "Full").await;
                let active_a = in_a.as_ref().is_some_and(|(s, _)| s == "ACTIVE");
                let active_b = in_b.as_deref() == Some("ACTIVE");
                if active_a || active_b {
                    seen_active += 1;
                    if let Some(n) = count(&cb, "Full").await {
                        if n != ITEMS {
                            violations.push((in_a, in_b, n));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (seen_active, violations)
        })
    };

    a.client()
        .update_table()
        .table_name("Full")
        .replica_updates(create_replica("eu-west-1"))
        .send()
        .await
        .expect("add replica");
    // The source region dies right after adding the replica, the new one while it receives
    // the items; both start again and the replica still ends ACTIVE with every item.
    a.kill();
    a.start_again();
    let cb = b.client();
    wait_for(
        "the table in eu-west-1",
        Duration::from_secs(60),
        || async { table_status(&cb, "Full").await.is_some() },
    )
    .await;
    b.kill();
    b.start_again();
    let ca = a.client();
    wait_for("the replica ACTIVE", Duration::from_secs(90), || async {
        replica_state(&ca, "Full", "eu-west-1").await == Some(("ACTIVE".into(), None))
            && table_status(&cb, "Full").await.as_deref() == Some("ACTIVE")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen_active, violations) = watcher.await.expect("watcher");
    assert!(seen_active > 0, "the watcher never saw the replica ACTIVE");
    assert!(
        violations.is_empty(),
        "ACTIVE before eu-west-1 held all {ITEMS} items: {violations:?}"
    );
    assert_eq!(count(&cb, "Full").await, Some(ITEMS));
    assert!(
        b.log_text().contains("backfill received"),
        "{}",
        b.log_text()
    );
}
