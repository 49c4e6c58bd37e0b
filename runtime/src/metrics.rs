//! Per-function metrics, through the `metrics` facade (the server installs a Prometheus
//! recorder and serves them at `GET /metrics`): Lambda's Invocations, Errors, Throttles,
//! Duration and IteratorAge, plus records delivered, recursive loops stopped and
//! asynchronous events discarded (by reason).

use std::time::Duration;

pub const INVOCATIONS: &str = "tributary_function_invocations_total";
pub const ERRORS: &str = "tributary_function_errors_total";
pub const THROTTLES: &str = "tributary_function_throttles_total";
pub const DURATION: &str = "tributary_function_duration_seconds";
pub const ITERATOR_AGE: &str = "tributary_mapping_iterator_age_seconds";
pub const RECORDS: &str = "tributary_mapping_records_total";
pub const RECURSIVE_LOOPS: &str = "tributary_function_recursive_loops_stopped_total";
pub const ASYNC_DISCARDED: &str = "tributary_function_async_events_discarded_total";

pub(crate) fn invoked(function: &str, took: Duration, failed: bool) {
    let f = function.to_owned();
    metrics::counter!(INVOCATIONS, "function" => f.clone()).increment(1);
    if failed {
        metrics::counter!(ERRORS, "function" => f.clone()).increment(1);
    }
    metrics::histogram!(DURATION, "function" => f).record(took.as_secs_f64());
}

pub(crate) fn throttled(function: &str) {
    metrics::counter!(THROTTLES, "function" => function.to_owned()).increment(1);
}

/// How far behind its stream a mapping is: the age of the last record of its latest batch.
pub(crate) fn iterator_age(function: &str, mapping: &str, age: Duration) {
    metrics::gauge!(ITERATOR_AGE, "function" => function.to_owned(), "mapping" => mapping.to_owned())
        .set(age.as_secs_f64());
}

pub(crate) fn delivered(function: &str, mapping: &str, records: usize) {
    metrics::counter!(RECORDS, "function" => function.to_owned(), "mapping" => mapping.to_owned())
        .increment(records as u64);
}

pub(crate) fn recursive_loop(function: &str, records: usize) {
    metrics::counter!(RECURSIVE_LOOPS, "function" => function.to_owned()).increment(records as u64);
}

/// An asynchronous event given up: "RetriesExhausted", "EventAgeExceeded", "FunctionDeleted"
/// or "CannotRun".
pub(crate) fn async_discarded(function: &str, reason: &'static str) {
    metrics::counter!(ASYNC_DISCARDED, "function" => function.to_owned(), "reason" => reason)
        .increment(1);
}
