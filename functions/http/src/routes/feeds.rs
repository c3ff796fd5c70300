//! `GET /v1/users/{id}/feeds/{channel_id}`: the in-app feed, with `meta` counts. The channel is
//! named by its id (Knock's form, the `id` in `channels.json`) or by the `channel_key` the
//! workflows use.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::State;
use herald_core::message::{Engagement, Message};
use herald_core::ports::{ArchivedFilter, EngagementFilter, MessageQuery};
use herald_core::recipient::RecipientRef;
use herald_core::user::User;
use serde_json::{json, Map, Value};

use super::messages::engagement_filter;
use crate::error::ApiError;
use crate::extract::KnockPath;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

const UNSUPPORTED: &[&str] = &["trigger_data"];

pub async fn list(
    State(app): State<Arc<App>>,
    KnockPath((user_id, channel)): KnockPath<(String, String)>,
    q: Query,
) -> Result<Reply, ApiError> {
    q.refuse(UNSUPPORTED)?;
    let page = q.page()?;
    let archived = match q.get("archived") {
        None | Some("exclude") => ArchivedFilter::Exclude,
        Some("include") => ArchivedFilter::Include,
        Some("only") => ArchivedFilter::Only,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "archived",
                "must be exclude, include or only",
            ))
        }
    };
    let mut base = MessageQuery {
        recipient: Some(RecipientRef::user(user_id)),
        channel_key: Some(app.channel_key(&channel)),
        workflow_key: q.get("source").map(str::to_string),
        tenant: q.get("tenant").map(str::to_string),
        archived: Some(archived),
        ..Default::default()
    };
    super::messages::shared_filters(&q, &mut base)?;
    let mut listed = base.clone();
    match q.get("status") {
        None | Some("all") => {}
        Some(s) => listed.engagement.push(
            engagement_filter(s)
                .filter(|f| matches!(f.engagement, Engagement::Seen | Engagement::Read))
                .ok_or_else(|| {
                    ApiError::invalid_param("status", "must be unread, read, unseen, seen or all")
                })?,
        ),
    }
    let store = app.engine.store().as_ref();
    let result = app
        .engine
        .with_message_data(store.list_messages(&listed, &page).await?)
        .await?;
    let count_without = |engagement| {
        let mut q = base.clone();
        q.archived = Some(ArchivedFilter::Exclude);
        q.engagement.push(EngagementFilter {
            engagement,
            present: false,
        });
        q
    };
    let total_count = store.count_messages(&listed).await?;
    let unread_count = store
        .count_messages(&count_without(Engagement::Read))
        .await?;
    let unseen_count = store
        .count_messages(&count_without(Engagement::Seen))
        .await?;
    // The page's actors and recipients, read in one call for the whole page.
    let ids: Vec<String> = result
        .items
        .iter()
        .flat_map(|(m, _)| m.actors.iter().chain(std::iter::once(&m.recipient)))
        .filter(|r| r.is_user())
        .map(|r| r.id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let users: HashMap<String, User> = store
        .get_users(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let entries: Vec<Value> = result
        .items
        .iter()
        .map(|(m, data)| item(&users, m, data))
        .collect();
    Ok(Reply::ok(json!({
        "entries": entries,
        "meta": {
            "__typename": "FeedMetadata",
            "total_count": total_count,
            "unread_count": unread_count,
            "unseen_count": unseen_count,
        },
        "page_info": views::page_info(&result, page.page_size),
        "vars": {},
    })))
}

fn item(users: &HashMap<String, User>, m: &Message, data: &Map<String, Value>) -> Value {
    let actors: Vec<Value> = m.actors.iter().map(|a| entity(users, a)).collect();
    views::feed_item(m, data, &actors, &entity(users, &m.recipient))
}

/// A recipient as a full record: the stored user, or a bare `{id}` if it was never identified.
fn entity(users: &HashMap<String, User>, r: &RecipientRef) -> Value {
    if r.is_user() {
        if let Some(u) = users.get(&r.id) {
            return views::user(u);
        }
    }
    let mut map = Map::new();
    map.insert("id".into(), json!(r.id));
    if let Some(c) = &r.collection {
        map.insert("collection".into(), json!(c));
        map.insert("__typename".into(), json!("Object"));
    } else {
        map.insert("__typename".into(), json!("User"));
    }
    Value::Object(map)
}
