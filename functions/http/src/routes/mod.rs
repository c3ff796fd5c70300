//! The route table and its fallback; one module per Knock resource.

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

use std::sync::Arc;

use axum::http::{Method, Uri};
use axum::routing::{on, MethodFilter};
use axum::Router;

use crate::error::ApiError;
use crate::App;

/// Declares every route once: the router and the list of `(method, path)` the template test
/// checks against `template.yaml`.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every route, as `(method, path template)`.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// The routes, not yet authenticated or given their state.
        pub fn routes() -> Router<Arc<App>> {
            Router::new()
                $(.route($path, on(MethodFilter::$method, $handler)))*
                .fallback(not_found)
                .method_not_allowed_fallback(not_found)
        }
    };
}

routes! {
    POST "/v1/workflows/{key}/trigger" => workflows::trigger,
    POST "/v1/workflows/{key}/cancel" => workflows::cancel,
    GET "/v1/users/{user_id}" => users::get,
    PUT "/v1/users/{user_id}" => users::identify,
    GET "/v1/users/{user_id}/messages" => messages::list,
    GET "/v1/users/{user_id}/feeds/{channel_id}" => feeds::list,
    GET "/v1/users/{user_id}/subscriptions" => subscriptions::list_for_user,
    GET "/v1/users/{user_id}/preferences" => preferences::list,
    GET "/v1/users/{user_id}/preferences/{set_id}" => preferences::get,
    PUT "/v1/users/{user_id}/preferences/{set_id}" => preferences::set,
    DELETE "/v1/users/{user_id}/preferences/{set_id}" => preferences::delete,
    GET "/v1/objects/{collection}" => objects::list,
    GET "/v1/objects/{collection}/{object_id}" => objects::get,
    PUT "/v1/objects/{collection}/{object_id}" => objects::set,
    DELETE "/v1/objects/{collection}/{object_id}" => objects::delete,
    GET "/v1/objects/{collection}/{object_id}/messages" => messages::list,
    GET "/v1/objects/{collection}/{object_id}/subscriptions" => subscriptions::list_for_object,
    POST "/v1/objects/{collection}/{object_id}/subscriptions" => subscriptions::add,
    DELETE "/v1/objects/{collection}/{object_id}/subscriptions" => subscriptions::delete,
    GET "/v1/objects/{collection}/{object_id}/preferences" => preferences::list,
    GET "/v1/objects/{collection}/{object_id}/preferences/{set_id}" => preferences::get,
    PUT "/v1/objects/{collection}/{object_id}/preferences/{set_id}" => preferences::set,
    DELETE "/v1/objects/{collection}/{object_id}/preferences/{set_id}" => preferences::delete,
    GET "/v1/tenants" => tenants::list,
    GET "/v1/tenants/{tenant_id}" => tenants::get,
    PUT "/v1/tenants/{tenant_id}" => tenants::set,
    DELETE "/v1/tenants/{tenant_id}" => tenants::delete,
    POST "/v1/messages/batch/{action}" => messages::batch,
    GET "/v1/messages" => messages::list,
    GET "/v1/messages/{message_id}" => messages::get,
    GET "/v1/messages/{message_id}/content" => messages::content,
    GET "/v1/messages/{message_id}/events" => messages::events,
    GET "/v1/messages/{message_id}/delivery_logs" => messages::delivery_logs,
    PUT "/v1/messages/{message_id}/{status}" => messages::engage,
    DELETE "/v1/messages/{message_id}/{status}" => messages::disengage,
    GET "/v1/workflow_recipient_runs" => runs::list,
    GET "/v1/workflow_recipient_runs/{id}" => runs::get,
    GET "/v1/batches" => batches::list,
    POST "/v1/batches/{id}/flush" => batches::flush,
}

/// Knock's 404 for a route it does not have.
async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(&format!("The route {method} {}", uri.path()))
}

/// Parses a UUID path parameter; anything else names no resource.
fn uuid_param(id: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found(&format!("{what} `{id}`")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use herald_core::definition::WorkflowSet;
    use herald_core::{Engine, SystemClock};
    use herald_embedded::{SqliteStore, TokioWaker};
    use tower::ServiceExt;

    use super::ROUTES;
    use crate::App;

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
        let router = crate::router(App::new(engine, ["k"]));
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
            let req = axum::http::Request::builder()
                .method(*method)
                .uri(path.as_str())
                .header("authorization", "Bearer k")
                .body(Body::from("{}"))
                .expect("request");
            let resp = router.clone().oneshot(req).await.expect("infallible");
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("The route"),
                "{method} {template} is not routed"
            );
        }
    }
}
