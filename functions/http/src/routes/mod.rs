//! Routing by method and path; one module per Knock resource.

mod batches;
mod feeds;
mod messages;
mod objects;
mod preferences;
mod runs;
mod subscriptions;
mod tenants;
mod users;
mod workflows;

use herald_core::recipient::RecipientRef;
use lambda_http::http::Method;
use lambda_http::Request;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::error::ApiError;
use crate::query::Query;
use crate::response::Reply;
use crate::App;

/// Every route, as `(method, path template)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/workflows/{key}/trigger"),
    ("POST", "/v1/workflows/{key}/cancel"),
    ("GET", "/v1/users/{user_id}"),
    ("PUT", "/v1/users/{user_id}"),
    ("GET", "/v1/users/{user_id}/messages"),
    ("GET", "/v1/users/{user_id}/feeds/{channel_id}"),
    ("GET", "/v1/users/{user_id}/subscriptions"),
    ("GET", "/v1/users/{user_id}/preferences"),
    ("GET", "/v1/users/{user_id}/preferences/{set_id}"),
    ("PUT", "/v1/users/{user_id}/preferences/{set_id}"),
    ("DELETE", "/v1/users/{user_id}/preferences/{set_id}"),
    ("GET", "/v1/objects/{collection}"),
    ("GET", "/v1/objects/{collection}/{object_id}"),
    ("PUT", "/v1/objects/{collection}/{object_id}"),
    ("DELETE", "/v1/objects/{collection}/{object_id}"),
    ("GET", "/v1/objects/{collection}/{object_id}/messages"),
    ("GET", "/v1/objects/{collection}/{object_id}/subscriptions"),
    ("POST", "/v1/objects/{collection}/{object_id}/subscriptions"),
    (
        "DELETE",
        "/v1/objects/{collection}/{object_id}/subscriptions",
    ),
    ("GET", "/v1/objects/{collection}/{object_id}/preferences"),
    (
        "GET",
        "/v1/objects/{collection}/{object_id}/preferences/{set_id}",
    ),
    (
        "PUT",
        "/v1/objects/{collection}/{object_id}/preferences/{set_id}",
    ),
    (
        "DELETE",
        "/v1/objects/{collection}/{object_id}/preferences/{set_id}",
    ),
    ("GET", "/v1/tenants"),
    ("GET", "/v1/tenants/{tenant_id}"),
    ("PUT", "/v1/tenants/{tenant_id}"),
    ("DELETE", "/v1/tenants/{tenant_id}"),
    ("POST", "/v1/messages/batch/{action}"),
    ("GET", "/v1/messages"),
    ("GET", "/v1/messages/{message_id}"),
    ("PUT", "/v1/messages/{message_id}/{status}"),
    ("DELETE", "/v1/messages/{message_id}/{status}"),
    ("GET", "/v1/workflow_recipient_runs"),
    ("GET", "/v1/workflow_recipient_runs/{id}"),
    ("GET", "/v1/batches"),
    ("POST", "/v1/batches/{id}/flush"),
];

/// Dispatches `req` to its route.
pub async fn route(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let segments: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query = Query::parse(req.uri().query());
    let method = req.method();
    match (method, seg.as_slice()) {
        (&Method::POST, ["v1", "workflows", key, "trigger"]) => {
            workflows::trigger(app, key, &json_body(req)?).await
        }
        (&Method::POST, ["v1", "workflows", key, "cancel"]) => {
            workflows::cancel(app, key, &json_body(req)?).await
        }
        (&Method::GET, ["v1", "users", id]) => users::get(app, id).await,
        (&Method::PUT, ["v1", "users", id]) => users::identify(app, id, &json_body(req)?).await,
        (&Method::GET, ["v1", "users", id, "messages"]) => {
            messages::list(app, Some(RecipientRef::user(*id)), &query).await
        }
        (&Method::GET, ["v1", "users", id, "subscriptions"]) => {
            subscriptions::list_for_user(app, id, &query).await
        }
        (&Method::GET, ["v1", "users", id, "preferences"]) => {
            preferences::list(app, &RecipientRef::user(*id)).await
        }
        (method, ["v1", "users", id, "preferences", set]) => {
            preference_route(app, method, RecipientRef::user(*id), set, req, &query).await
        }
        (&Method::GET, ["v1", "objects", collection]) => {
            objects::list(app, collection, &query).await
        }
        (&Method::GET, ["v1", "objects", c, id]) => objects::get(app, c, id).await,
        (&Method::PUT, ["v1", "objects", c, id]) => {
            objects::set(app, c, id, &json_body(req)?).await
        }
        (&Method::DELETE, ["v1", "objects", c, id]) => objects::delete(app, c, id).await,
        (&Method::GET, ["v1", "objects", c, id, "messages"]) => {
            messages::list(app, Some(RecipientRef::object(*c, *id)), &query).await
        }
        (&Method::GET, ["v1", "objects", c, id, "subscriptions"]) => {
            subscriptions::list_for_object(app, c, id, &query).await
        }
        (&Method::POST, ["v1", "objects", c, id, "subscriptions"]) => {
            subscriptions::add(app, c, id, &json_body(req)?).await
        }
        (&Method::DELETE, ["v1", "objects", c, id, "subscriptions"]) => {
            subscriptions::delete(app, c, id, &json_body(req)?).await
        }
        (&Method::GET, ["v1", "objects", c, id, "preferences"]) => {
            preferences::list(app, &RecipientRef::object(*c, *id)).await
        }
        (method, ["v1", "objects", c, id, "preferences", set]) => {
            preference_route(app, method, RecipientRef::object(*c, *id), set, req, &query).await
        }
        (&Method::GET, ["v1", "tenants"]) => tenants::list(app, &query).await,
        (&Method::GET, ["v1", "tenants", id]) => tenants::get(app, id, &query).await,
        (&Method::PUT, ["v1", "tenants", id]) => {
            tenants::set(app, id, &json_body(req)?, &query).await
        }
        (&Method::DELETE, ["v1", "tenants", id]) => tenants::delete(app, id).await,
        (&Method::POST, ["v1", "messages", "batch", action]) => {
            messages::batch(app, action, &json_body(req)?).await
        }
        (&Method::GET, ["v1", "users", id, "feeds", channel]) => {
            feeds::list(app, id, channel, &query).await
        }
        (&Method::GET, ["v1", "messages"]) => messages::list(app, None, &query).await,
        (&Method::GET, ["v1", "messages", id]) => messages::get(app, id).await,
        (&Method::PUT, ["v1", "messages", id, status]) => {
            messages::engage(app, id, status, true).await
        }
        (&Method::DELETE, ["v1", "messages", id, status]) => {
            messages::engage(app, id, status, false).await
        }
        (&Method::GET, ["v1", "workflow_recipient_runs"]) => runs::list(app, &query).await,
        (&Method::GET, ["v1", "workflow_recipient_runs", id]) => runs::get(app, id).await,
        (&Method::GET, ["v1", "batches"]) => batches::list(app, &query).await,
        (&Method::POST, ["v1", "batches", id, "flush"]) => batches::flush(app, id).await,
        _ => Err(ApiError::not_found(&format!(
            "The route {method} {}",
            req.uri().path()
        ))),
    }
}

/// `GET|PUT|DELETE …/preferences/{set_id}` of a user or an object.
async fn preference_route(
    app: &App,
    method: &Method,
    owner: RecipientRef,
    set_id: &str,
    req: &Request,
    query: &Query,
) -> Result<Reply, ApiError> {
    match *method {
        Method::GET => preferences::get(app, &owner, set_id, query).await,
        Method::PUT => preferences::set(app, &owner, set_id, &json_body(req)?).await,
        Method::DELETE => preferences::delete(app, &owner, set_id).await,
        _ => Err(ApiError::not_found(&format!(
            "The route {method} {}",
            req.uri().path()
        ))),
    }
}

/// The request body as JSON; an empty body is an empty object.
fn json_body(req: &Request) -> Result<Value, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes).map_err(ApiError::invalid_json)
}

/// Parses a UUID path parameter; anything else names no resource.
fn uuid_param(id: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(&format!("{what} `{id}`")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_core::definition::WorkflowSet;
    use herald_core::{Engine, SystemClock};
    use herald_embedded::{SqliteStore, TokioWaker};
    use lambda_http::Body;

    use super::*;

    #[tokio::test]
    async fn every_listed_route_is_routed() {
        let store = Arc::new(SqliteStore::in_memory().expect("store"));
        let (waker, _rx) = TokioWaker::new(Arc::new(SystemClock));
        let engine = Engine::new(
            store,
            Arc::new(waker),
            Arc::new(SystemClock),
            Arc::new(WorkflowSet::default()),
        );
        let app = App::new(engine, "k");
        let id = uuid::Uuid::new_v4().to_string();
        for (method, template) in ROUTES {
            let path = template
                .replace("{key}", "some-workflow")
                .replace("{user_id}", "u1")
                .replace("{channel_id}", "in-app")
                .replace("{message_id}", &id)
                .replace("{status}", "read")
                .replace("{collection}", "projects")
                .replace("{object_id}", "p1")
                .replace("{set_id}", "default")
                .replace("{tenant_id}", "acme")
                .replace("{action}", "read")
                .replace("{id}", &id);
            let req = lambda_http::http::Request::builder()
                .method(*method)
                .uri(path.as_str())
                .body(Body::from("{}"))
                .expect("request");
            if let Err(e) = route(&app, &req).await {
                assert!(
                    !e.message.starts_with("The route"),
                    "{method} {template} is not routed"
                );
            }
        }
    }
}
