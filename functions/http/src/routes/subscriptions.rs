//! Subscriptions: `POST|DELETE|GET /v1/objects/{collection}/{id}/subscriptions` and
//! `GET /v1/users/{id}/subscriptions`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use herald_core::object::Object;
use herald_core::recipient::RecipientRef;
use herald_core::subscription::Subscription;
use herald_core::user::User;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath, Owner};
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// Renders subscriptions with their object and recipient as stored now, read in one call per
/// kind for the whole page.
async fn render(app: &App, subs: &[Subscription]) -> Result<Vec<Value>, ApiError> {
    let store = app.engine.store();
    let refs = subs.iter().flat_map(|s| [&s.object, &s.recipient]);
    let (users, objects): (Vec<&RecipientRef>, Vec<&RecipientRef>) =
        refs.partition(|r| r.is_user());
    let user_ids: Vec<String> = users.iter().map(|r| r.id.clone()).collect();
    let object_refs: Vec<RecipientRef> = objects.into_iter().cloned().collect();
    let users: HashMap<String, User> = store
        .get_users(&user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let objects: HashMap<(String, String), Object> = store
        .get_objects(&object_refs)
        .await?
        .into_iter()
        .map(|o| ((o.collection.clone(), o.id.clone()), o))
        .collect();
    let entity = |r: &RecipientRef| match &r.collection {
        None => views::recipient_entity(r, users.get(&r.id), None),
        Some(c) => views::recipient_entity(r, None, objects.get(&(c.clone(), r.id.clone()))),
    };
    Ok(subs
        .iter()
        .map(|s| views::subscription(s, entity(&s.object), entity(&s.recipient)))
        .collect())
}

pub async fn add(
    State(app): State<Arc<App>>,
    Owner(object): Owner,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    let subs = app.engine.subscribe(&object, &body).await?;
    Ok(Reply::ok(Value::Array(render(&app, &subs).await?)))
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Owner(object): Owner,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    let subs = app.engine.unsubscribe(&object, &body).await?;
    Ok(Reply::ok(Value::Array(render(&app, &subs).await?)))
}

pub async fn list_for_object(
    State(app): State<Arc<App>>,
    Owner(object): Owner,
    q: Query,
) -> Result<Reply, ApiError> {
    q.refuse(&["mode", "recipients", "objects", "include"])?;
    let page = q.page()?;
    let result = app.engine.store().list_subscribers(&object, &page).await?;
    Ok(Reply::ok(json!({
        "entries": render(&app, &result.items).await?,
        "page_info": views::page_info(&result, page.page_size),
    })))
}

pub async fn list_for_user(
    State(app): State<Arc<App>>,
    KnockPath(user): KnockPath<String>,
    q: Query,
) -> Result<Reply, ApiError> {
    q.refuse(&["objects", "include"])?;
    let page = q.page()?;
    let result = app
        .engine
        .store()
        .list_subscriptions_of(&RecipientRef::user(user), &page)
        .await?;
    Ok(Reply::ok(json!({
        "entries": render(&app, &result.items).await?,
        "page_info": views::page_info(&result, page.page_size),
    })))
}
