//! The event-source mapping operations: Create/Get/List/Update/DeleteEventSourceMapping.
//! The settings and their validation live in the runtime (`MappingConfig::apply`).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value as Json};
use tributary_runtime::functions::FunctionError;
use tributary_runtime::mappings::config::{function_member, not_found};
use tributary_runtime::mappings::MappingConfig;
use tributary_runtime::names::NameUse;

use super::{
    blocking, function_arn, function_error, function_ref, json_ok, parse_body, Account, Body, Name,
    S,
};

fn mapping_json(state: &Account, m: &MappingConfig) -> Json {
    m.to_json(&function_arn(state, &m.function_name))
}

pub(super) async fn create_mapping(Extension(state): S, body: Body) -> Response {
    let created = parse_body(body, "CreateEventSourceMapping").and_then(|body| {
        MappingConfig::from_create_request(uuid::Uuid::new_v4().to_string(), &body)
            .map_err(function_error)
    });
    let c = match created {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mappings = state.mappings.clone();
    match blocking(move || mappings.create(c)).await {
        Ok(m) => json_ok(StatusCode::ACCEPTED, mapping_json(&state, &m)),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize)]
pub(super) struct MappingFilter {
    #[serde(rename = "FunctionName")]
    function: Option<String>,
    #[serde(rename = "EventSourceArn")]
    source: Option<String>,
}

pub(super) async fn list_mappings(
    Extension(state): S,
    query: Result<Query<MappingFilter>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return function_error(FunctionError::InvalidParameter(
            "Invalid query string".into(),
        ));
    };
    let f = match q
        .function
        .as_deref()
        .map(|f| function_ref(f, NameUse::Unqualified))
    {
        Some(Ok(f)) => Some(f.name),
        Some(Err(r)) => return r,
        None => None,
    };
    let mappings = state.mappings.clone();
    match blocking(move || mappings.list()).await {
        Ok(list) => {
            let items: Vec<Json> = list
                .iter()
                .filter(|m| f.as_ref().is_none_or(|f| &m.function_name == f))
                .filter(|m| q.source.as_ref().is_none_or(|s| &m.event_source_arn == s))
                .map(|m| mapping_json(&state, m))
                .collect();
            json_ok(StatusCode::OK, json!({"EventSourceMappings": items}))
        }
        Err(r) => r,
    }
}

/// A mapping UUID from the path; anything but a UUID names no mapping.
fn path_uuid(uuid: Name) -> Result<String, Response> {
    match uuid {
        Ok(Path(u)) if uuid::Uuid::parse_str(&u).is_ok() => Ok(u),
        _ => Err(function_error(not_found())),
    }
}

pub(super) async fn get_mapping(Extension(state): S, uuid: Name) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mappings = state.mappings.clone();
    match blocking(move || mappings.get(&uuid)?.ok_or_else(not_found)).await {
        Ok(m) => json_ok(StatusCode::OK, mapping_json(&state, &m)),
        Err(r) => r,
    }
}

pub(super) async fn update_mapping(Extension(state): S, uuid: Name, body: Body) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(body, "UpdateEventSourceMapping") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let function = match function_member(&body) {
        Ok(f) => f,
        Err(e) => return function_error(e),
    };
    let mappings = state.mappings.clone();
    let result = blocking(move || {
        mappings.update(&uuid, |m| {
            if let Some(f) = function {
                m.function_name = f;
            }
            m.apply(&body)
        })
    })
    .await;
    match result {
        Ok(m) => json_ok(StatusCode::ACCEPTED, mapping_json(&state, &m)),
        Err(r) => r,
    }
}

pub(super) async fn delete_mapping(Extension(state): S, uuid: Name) -> Response {
    let uuid = match path_uuid(uuid) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mappings = state.mappings.clone();
    match blocking(move || mappings.delete(&uuid)).await {
        Ok(m) => {
            let mut j = mapping_json(&state, &m);
            j["State"] = json!("Deleting");
            json_ok(StatusCode::ACCEPTED, j)
        }
        Err(r) => r,
    }
}
