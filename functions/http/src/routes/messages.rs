//! `GET /v1/messages`, `GET /v1/users/{id}/messages`, `GET /v1/messages/{id}` and the
//! engagement updates `PUT|DELETE /v1/messages/{id}/{seen|read|interacted|archived}`.

use std::sync::Arc;

use axum::extract::State;
use herald_core::message::{DeliveryStatus, Engagement, Message};
use herald_core::ports::{EngagementFilter, MessageQuery};
use serde_json::json;

use super::uuid_param;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, KnockPath, Owner};
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// Filters Knock has that this version does not implement yet.
const UNSUPPORTED: &[&str] = &["trigger_data"];

/// Knock's limit of `message_ids` per listing.
const MAX_MESSAGE_IDS: usize = 50;

/// The filters messages listings and the feed share: categories, tenant presence, time bounds.
pub fn shared_filters(q: &Query, query: &mut MessageQuery) -> Result<(), ApiError> {
    query.workflow_categories = q
        .list("workflow_categories")
        .into_iter()
        .map(str::to_string)
        .collect();
    query.has_tenant = q.flag("has_tenant")?;
    query.inserted_at = q.bounds("inserted_at")?;
    Ok(())
}

/// `GET /v1/messages`, or the messages of the user or object the path names.
pub async fn list(
    State(app): State<Arc<App>>,
    owner: Option<Owner>,
    q: Query,
) -> Result<Reply, ApiError> {
    let recipient = owner.map(|Owner(r)| r);
    q.refuse(UNSUPPORTED)?;
    let page = q.page()?;
    let mut query = MessageQuery {
        recipient,
        channel_key: q.get("channel_id").map(|c| app.channel_key(c)),
        workflow_key: q.get("source").map(str::to_string),
        tenant: q.get("tenant").map(str::to_string),
        ..Default::default()
    };
    for s in q.list("status") {
        let status = DeliveryStatus::parse(s)
            .ok_or_else(|| ApiError::invalid_param("status", "is not a delivery status"))?;
        query.statuses.push(status);
    }
    for s in q.list("engagement_status") {
        query.engagement.push(engagement_filter(s).ok_or_else(|| {
            ApiError::invalid_param("engagement_status", "is not an engagement status")
        })?);
    }
    if let Some(id) = q.get("workflow_run_id") {
        query.workflow_run_id = Some(uuid_param(id, "The workflow run")?);
    }
    let ids = q.list("message_ids");
    if ids.len() > MAX_MESSAGE_IDS {
        return Err(ApiError::invalid_param(
            "message_ids",
            "must list at most 50 ids",
        ));
    }
    for id in ids {
        query.message_ids.push(
            uuid::Uuid::parse_str(id)
                .map_err(|_| ApiError::invalid_param("message_ids", "must be message ids"))?,
        );
    }
    shared_filters(&q, &mut query)?;
    if let Some(id) = q.get("workflow_recipient_run_id") {
        query.recipient_run_id = Some(uuid_param(id, "The workflow recipient run")?);
    }
    let listed = app.engine.store().list_messages(&query, &page).await?;
    // Large data ends a page early; its cursor continues after the last message shown.
    let result = app.engine.with_message_data(listed).await?;
    Ok(Reply::ok(json!({
        "items": result.items.iter().map(|(m, data)| views::message(m, data, app.channels())).collect::<Vec<_>>(),
        "page_info": views::page_info(&result, page.page_size),
    })))
}

/// `read`, `unread`, `unseen`, `unarchived`… as a filter.
pub fn engagement_filter(name: &str) -> Option<EngagementFilter> {
    let (engagement, present) = match name.strip_prefix("un") {
        Some(rest) => (Engagement::parse(rest)?, false),
        None => (Engagement::parse(name)?, true),
    };
    Some(EngagementFilter {
        engagement,
        present,
    })
}

pub async fn get(
    State(app): State<Arc<App>>,
    caller: Caller,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let message = find(&app, &id).await?;
    caller.may_touch(&message.recipient)?;
    message_view(&app, &message).await
}

/// One message as Knock shows it, its data read.
async fn message_view(app: &App, message: &Message) -> Result<Reply, ApiError> {
    let data = app.engine.data_of(&message.data).await?;
    Ok(Reply::ok(views::message(message, &data, app.channels())))
}

/// The message `id` names, or Knock's 404.
async fn find(app: &App, id: &str) -> Result<Message, ApiError> {
    app.engine
        .store()
        .get_message(uuid_param(id, "The message")?)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The message `{id}`")))
}

/// A whole list as one page of Knock's `{items, page_info}` (a message has a handful of events
/// and at most eight attempts).
fn one_page(items: Vec<serde_json::Value>) -> Reply {
    let page_size = items.len();
    Reply::ok(json!({
        "items": items,
        "page_info": {"__typename": "PageInfo", "page_size": page_size, "after": null, "before": null},
    }))
}

/// `GET /v1/messages/{id}/content`: what was rendered (the email, the feed item, the request).
pub async fn content(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    Ok(Reply::ok(views::content(&find(&app, &id).await?)))
}

/// `GET /v1/messages/{id}/events`: what happened to the message, oldest first.
pub async fn events(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let message = find(&app, &id).await?;
    let events = app.engine.store().message_events(message.id).await?;
    Ok(one_page(
        events
            .iter()
            .map(|e| views::message_event(&message, e))
            .collect(),
    ))
}

/// `GET /v1/messages/{id}/delivery_logs`: each delivery attempt, oldest first.
pub async fn delivery_logs(
    State(app): State<Arc<App>>,
    KnockPath(id): KnockPath<String>,
) -> Result<Reply, ApiError> {
    let message = find(&app, &id).await?;
    let logs = app.engine.store().delivery_logs(message.id).await?;
    Ok(one_page(logs.iter().map(views::delivery_log).collect()))
}

/// `PUT /v1/messages/{id}/{status}`.
pub async fn engage(
    State(app): State<Arc<App>>,
    caller: Caller,
    KnockPath((id, status)): KnockPath<(String, String)>,
) -> Result<Reply, ApiError> {
    set_engagement(&app, &caller, &id, &status, true).await
}

/// `DELETE /v1/messages/{id}/{status}`.
pub async fn disengage(
    State(app): State<Arc<App>>,
    caller: Caller,
    KnockPath((id, status)): KnockPath<(String, String)>,
) -> Result<Reply, ApiError> {
    set_engagement(&app, &caller, &id, &status, false).await
}

async fn set_engagement(
    app: &App,
    caller: &Caller,
    id: &str,
    status: &str,
    present: bool,
) -> Result<Reply, ApiError> {
    let engagement = match status {
        "seen" | "read" | "interacted" | "archived" => Engagement::parse(status),
        _ => None,
    }
    .ok_or_else(|| ApiError::not_found(&format!("The message status `{status}`")))?;
    if !present && engagement == Engagement::Interacted {
        return Err(ApiError::not_found(
            "The route DELETE /v1/messages/{id}/interacted",
        ));
    }
    if let Caller::User(_) = caller {
        caller.may_touch(&find(app, id).await?.recipient)?;
    }
    let message = app
        .engine
        .set_engagement(uuid_param(id, "The message")?, engagement, present)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("The message `{id}`")))?;
    message_view(app, &message).await
}

/// Knock's limit of ids per batch status update.
const MAX_BATCH: usize = 50;

/// `POST /v1/messages/batch/{seen|unseen|read|unread|interacted|archived|unarchived}`: applies
/// the update to every listed message and returns those that exist.
pub async fn batch(
    State(app): State<Arc<App>>,
    caller: Caller,
    KnockPath(action): KnockPath<String>,
    JsonBody(body): JsonBody,
) -> Result<Reply, ApiError> {
    let filter = engagement_filter(&action)
        .filter(|f| f.engagement != Engagement::LinkClicked)
        .filter(|f| f.present || f.engagement != Engagement::Interacted)
        .ok_or_else(|| ApiError::not_found(&format!("The batch action `{action}`")))?;
    let ids = body
        .get("message_ids")
        .and_then(|v| v.as_array())
        .ok_or_else(|| ApiError::invalid_param("message_ids", "must be an array of message ids"))?;
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid_param(
            "message_ids",
            "must contain 1 to 50 message ids",
        ));
    }
    let mut uuids = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id
            .as_str()
            .ok_or_else(|| ApiError::invalid_param("message_ids", "must be strings"))?;
        // An id that names no message is skipped, as Knock does for batch updates.
        if let Ok(uuid) = uuid::Uuid::parse_str(id) {
            uuids.push(uuid);
        }
    }
    // A user's token may update only their own messages: all are checked before any changes.
    if let Caller::User(_) = caller {
        for uuid in &uuids {
            if let Some(m) = app.engine.store().get_message(*uuid).await? {
                caller.may_touch(&m.recipient)?;
            }
        }
    }
    let mut out = Vec::with_capacity(uuids.len());
    for uuid in uuids {
        if let Some(m) = app
            .engine
            .set_engagement(uuid, filter.engagement, filter.present)
            .await?
        {
            let data = app.engine.data_of(&m.data).await?;
            out.push(views::message(&m, &data, app.channels()));
        }
    }
    Ok(Reply::ok(serde_json::Value::Array(out)))
}
