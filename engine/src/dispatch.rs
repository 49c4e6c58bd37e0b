//! One entry point for every DynamoDB operation, taking the operation name and the JSON body
//! exactly as on the wire. The HTTP API calls it, and so do WebAssembly handlers, through the
//! runtime's host function `dynamodb.call`.

use crate::error::Result;
use crate::ops::{self, Outcome};
use crate::request::Request;
use crate::store::Engine;

impl Engine {
    /// Runs `operation` on a request body. `None` when the operation is unknown.
    pub fn call(&self, operation: &str, body: &[u8]) -> Option<Result<Outcome>> {
        let op: fn(&Engine, &Request) -> Result<Outcome> = match operation {
            "CreateTable" => |e, r| ops::tables::create_table(e, r).map(Outcome::read),
            "DescribeTable" => |e, r| ops::tables::describe_table(e, r).map(Outcome::read),
            "ListTables" => |e, r| ops::tables::list_tables(e, r).map(Outcome::read),
            "UpdateTable" => |e, r| ops::tables::update_table(e, r).map(Outcome::read),
            "DeleteTable" => |e, r| ops::tables::delete_table(e, r).map(Outcome::read),
            "PutItem" => ops::items::put_item,
            "GetItem" => ops::items::get_item,
            "UpdateItem" => ops::items::update_item,
            "DeleteItem" => ops::items::delete_item,
            "Query" => ops::read::query,
            "Scan" => ops::read::scan,
            "BatchGetItem" => ops::batch::batch_get_item,
            "BatchWriteItem" => ops::batch::batch_write_item,
            "TransactWriteItems" => ops::transact::transact_write_items,
            "TransactGetItems" => ops::transact::transact_get_items,
            "TagResource" => ops::tags::tag_resource,
            "UntagResource" => ops::tags::untag_resource,
            "ListTagsOfResource" => {
                |e, r| ops::tags::list_tags_of_resource(e, r).map(Outcome::read)
            }
            "UpdateTimeToLive" => |e, r| ops::ttl::update_time_to_live(e, r).map(Outcome::read),
            "DescribeTimeToLive" => |e, r| ops::ttl::describe_time_to_live(e, r).map(Outcome::read),
            _ => return None,
        };
        Some(
            self.operation()
                .and_then(|_op| Request::parse(body).and_then(|req| op(self, &req))),
        )
    }

    /// Runs a DynamoDB Streams operation. `None` when the operation is unknown.
    pub fn call_streams(&self, operation: &str, body: &[u8]) -> Option<Result<Outcome>> {
        let op: fn(&Engine, &Request) -> Result<serde_json::Value> = match operation {
            "ListStreams" => ops::streams::list_streams,
            "DescribeStream" => ops::streams::describe_stream,
            "GetShardIterator" => ops::streams::get_shard_iterator,
            "GetRecords" => ops::streams::get_records,
            _ => return None,
        };
        Some(
            self.operation().and_then(|_op| {
                Request::parse(body).and_then(|req| op(self, &req).map(Outcome::read))
            }),
        )
    }
}
