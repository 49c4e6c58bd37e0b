// Keeps `CustomerTotals` (pk Customer S; Orders N = number of orders, Total N = sum of Amount)
// up to date from the stream of `Orders` (pk OrderId S; Customer S, Amount N), whose stream
// view type is NEW_AND_OLD_IMAGES.
//
// A componentize-js component of the `trigger` world (runtime/wit/trigger.wit):
//   handle(event) gets the Lambda DynamoDB-stream event JSON; returning "" acknowledges the
//   batch, throwing fails it (the mapping retries it from its checkpoint).
//
// Every change becomes UpdateItem `ADD Orders :count, Total :amount` on the customer's item:
// INSERT adds the new image, REMOVE subtracts the old one, MODIFY subtracts the old and adds
// the new (the customer or the amount may have changed). A customer whose order count drops to
// 0 is deleted from the aggregate (conditionally, so a concurrent insert is never lost).
// Amounts are never converted to JavaScript numbers: DynamoDB adds the decimal strings
// exactly, and subtracting only needs the sign flipped.

import { call } from 'tributary:function/dynamodb@0.1.0';
import { log } from 'tributary:function/logging@0.1.0';

const AGGREGATE = 'CustomerTotals';

// `call` returns the response JSON; an api-error (`{code, message}`) is thrown by the bindings.
function dynamodb(operation, request) {
  try {
    return JSON.parse(call(operation, JSON.stringify(request)));
  } catch (e) {
    const err = e && e.payload ? e.payload : e;
    const code = err && err.code ? err.code : 'Error';
    const message = err && err.message !== undefined ? err.message : String(err);
    const wrapped = new Error(`${operation} on ${request.TableName}: ${code}: ${message}`);
    wrapped.code = code;
    throw wrapped;
  }
}

// "12.5" -> "-12.5", "-3" -> "3"; zero stays as it is.
function negate(n) {
  if (n.startsWith('-')) return n.slice(1);
  if (n.startsWith('+')) n = n.slice(1);
  return /^[0.]*(e.*)?$/i.test(n) ? n : '-' + n;
}

// The contribution of one image: {customer, amount} or null when the image has no customer.
function contribution(image) {
  if (!image || !image.Customer || image.Customer.S === undefined) return null;
  const amount = image.Amount && image.Amount.N !== undefined ? image.Amount.N : '0';
  return { customer: image.Customer.S, amount };
}

function add(customer, count, amount) {
  const out = dynamodb('UpdateItem', {
    TableName: AGGREGATE,
    Key: { Customer: { S: customer } },
    UpdateExpression: 'ADD #orders :count, #total :amount',
    ExpressionAttributeNames: { '#orders': 'Orders', '#total': 'Total' },
    ExpressionAttributeValues: { ':count': { N: String(count) }, ':amount': { N: amount } },
    ReturnValues: 'UPDATED_NEW',
  });
  const orders = out.Attributes && out.Attributes.Orders ? out.Attributes.Orders.N : undefined;
  if (count < 0 && orders !== undefined && Number(orders) <= 0) {
    // The customer has no orders left: drop the row, unless an insert got there first.
    try {
      dynamodb('DeleteItem', {
        TableName: AGGREGATE,
        Key: { Customer: { S: customer } },
        ConditionExpression: '#orders <= :zero',
        ExpressionAttributeNames: { '#orders': 'Orders' },
        ExpressionAttributeValues: { ':zero': { N: '0' } },
      });
    } catch (e) {
      if (e.code !== 'ConditionalCheckFailedException') throw e;
    }
  }
}

export function handle(event) {
  const records = JSON.parse(event).Records || [];
  const counts = { INSERT: 0, MODIFY: 0, REMOVE: 0, skipped: 0 };
  let updates = 0;
  for (const record of records) {
    const ddb = record.dynamodb || {};
    const before = record.eventName === 'INSERT' ? null : contribution(ddb.OldImage);
    const after = record.eventName === 'REMOVE' ? null : contribution(ddb.NewImage);
    if (record.eventName in counts) counts[record.eventName]++;
    if (!before && !after) {
      counts.skipped++; // no Customer in the images (or not the stream this handler expects)
      continue;
    }
    if (before && after && before.customer === after.customer && before.amount === after.amount) {
      continue; // a change of some other attribute
    }
    if (before && after && before.customer === after.customer) {
      // Same customer, new amount: add the new amount before taking the old one away, so the
      // row never looks empty in between.
      add(after.customer, 1, after.amount);
      add(before.customer, -1, negate(before.amount));
      updates += 2;
      continue;
    }
    if (after) {
      add(after.customer, 1, after.amount);
      updates++;
    }
    if (before) {
      add(before.customer, -1, negate(before.amount));
      updates++;
    }
  }
  log(
    'info',
    `aggregate: ${records.length} records (${counts.INSERT} inserts, ${counts.MODIFY} modifies, ` +
      `${counts.REMOVE} removes, ${counts.skipped} skipped), ${updates} updates of ${AGGREGATE}`,
  );
  return '';
}
