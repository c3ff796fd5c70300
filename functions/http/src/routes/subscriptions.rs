//! Subscriptions: `POST|DELETE|GET /v1/objects/{collection}/{id}/subscriptions` and
//! `GET /v1/users/{id}/subscriptions`.

use herald_core::recipient::RecipientRef;
use herald_core::subscription::Subscription;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::query::Query;
use crate::response::Reply;
use crate::{views, App};

/// Renders subscriptions with their object and recipient as stored now.
async fn render(app: &App, subs: &[Subscription]) -> Result<Vec<Value>, ApiError> {
    let store = app.engine.store();
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        let object_collection = s.object.collection.as_deref().unwrap_or_default();
        let object = store.get_object(object_collection, &s.object.id).await?;
        let object = views::recipient_entity(&s.object, None, object.as_ref());
        let recipient = match &s.recipient.collection {
            None => {
                let user = store.get_user(&s.recipient.id).await?;
                views::recipient_entity(&s.recipient, user.as_ref(), None)
            }
            Some(c) => {
                let obj = store.get_object(c, &s.recipient.id).await?;
                views::recipient_entity(&s.recipient, None, obj.as_ref())
            }
        };
        out.push(views::subscription(s, object, recipient));
    }
    Ok(out)
}

pub async fn add(app: &App, collection: &str, id: &str, body: &Value) -> Result<Reply, ApiError> {
    let object = RecipientRef::object(collection, id);
    let subs = app.engine.subscribe(&object, body).await?;
    Ok(Reply::ok(Value::Array(render(app, &subs).await?)))
}

pub async fn delete(
    app: &App,
    collection: &str,
    id: &str,
    body: &Value,
) -> Result<Reply, ApiError> {
    let object = RecipientRef::object(collection, id);
    let subs = app.engine.unsubscribe(&object, body).await?;
    Ok(Reply::ok(Value::Array(render(app, &subs).await?)))
}

pub async fn list_for_object(
    app: &App,
    collection: &str,
    id: &str,
    q: &Query,
) -> Result<Reply, ApiError> {
    q.refuse(&["mode", "recipients", "objects", "include"])?;
    let page = q.page()?;
    let object = RecipientRef::object(collection, id);
    let result = app.engine.store().list_subscribers(&object, &page).await?;
    Ok(Reply::ok(json!({
        "entries": render(app, &result.items).await?,
        "page_info": views::page_info(&result, page.page_size),
    })))
}

pub async fn list_for_user(app: &App, user: &str, q: &Query) -> Result<Reply, ApiError> {
    q.refuse(&["objects", "include"])?;
    let page = q.page()?;
    let result = app
        .engine
        .store()
        .list_subscriptions_of(&RecipientRef::user(user), &page)
        .await?;
    Ok(Reply::ok(json!({
        "entries": render(app, &result.items).await?,
        "page_info": views::page_info(&result, page.page_size),
    })))
}
