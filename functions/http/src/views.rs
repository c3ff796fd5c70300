//! Domain values rendered in Knock's JSON shapes (the `@knocklabs/node` types are the contract).

use chrono::{DateTime, SecondsFormat, Utc};
use herald_core::batch::Batch;
use herald_core::definition::Channels;
use herald_core::message::{
    redact_header, Content, DeliveryLog, Engagement, Message, MessageContent, MessageEvent,
};
use herald_core::object::Object;
use herald_core::ports::Page;
use herald_core::preference::PreferenceSet;
use herald_core::recipient::RecipientRef;
use herald_core::run::{RecipientRun, RunEvent};
use herald_core::subscription::Subscription;
use herald_core::user::User;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Knock's timestamp format.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Value {
    t.map(ts).map(Value::String).unwrap_or(Value::Null)
}

/// A `User`.
pub fn user(u: &User) -> Value {
    let mut v = u.to_value();
    if let Value::Object(map) = &mut v {
        for key in [
            "name",
            "email",
            "phone_number",
            "avatar",
            "timezone",
            "created_at",
        ] {
            map.entry(key).or_insert(Value::Null);
        }
        map.insert("__typename".into(), json!("User"));
        map.insert("updated_at".into(), json!(ts(u.updated_at)));
    }
    v
}

/// `page_info`.
pub fn page_info<T>(page: &Page<T>, page_size: usize) -> Value {
    json!({
        "__typename": "PageInfo",
        "page_size": page_size,
        "after": page.after.as_deref().map(crate::cursor::encode),
        "before": page.before.as_deref().map(crate::cursor::encode),
    })
}

/// Adds `seen_at`, `read_at`… (and Knock's alias `clicked_at`) to an item.
fn with_engagements(mut item: Value, m: &Message) -> Value {
    for e in Engagement::ALL {
        item[e.timestamp_field()] = opt_ts(m.engaged_at(e));
    }
    item["clicked_at"] = opt_ts(m.engaged_at(Engagement::LinkClicked));
    item
}

/// A `Message` with its `data` (read from the payloads it names); `channels` give its channel's
/// id, name and provider.
pub fn message(m: &Message, data: &Map<String, Value>, channels: &Channels) -> Value {
    let engagement_statuses: Vec<&str> = m.engagements.iter().map(|(e, _)| e.as_str()).collect();
    let channel = channels.channel(&m.channel_key);
    let channel_id = channel.map_or(m.channel_key.clone(), |c| c.id.to_string());
    let item = json!({
        "__typename": "Message",
        "id": m.id.to_string(),
        "channel_id": channel_id,
        "channel": {
            "id": channel_id,
            "key": m.channel_key,
            "name": channel.and_then(|c| c.name.clone()).unwrap_or_else(|| m.channel_key.clone()),
            "type": m.channel_type.as_str(),
            "provider": channel.map_or("knock", |c| c.provider.as_str()),
            "created_at": ts(m.inserted_at),
            "updated_at": ts(m.inserted_at),
        },
        "recipient": m.recipient.to_wire(),
        "actors": m.actors.iter().map(|a| a.to_wire()).collect::<Vec<_>>(),
        "tenant": m.tenant,
        "status": m.status.as_str(),
        "engagement_statuses": engagement_statuses,
        "scheduled_at": null,
        "data": data,
        "metadata": {},
        "recipient_snapshot": null,
        "source": source(m, "NotificationSource"),
        "workflow": m.workflow_key,
        "inserted_at": ts(m.inserted_at),
        "updated_at": ts(m.updated_at),
    });
    with_engagements(item, m)
}

/// An in-app message's blocks: its body, and its action URL if it has one.
fn blocks(content: &MessageContent) -> Vec<Value> {
    let mut blocks = vec![json!({
        "type": "markdown",
        "name": "body",
        "content": content.markdown,
        "rendered": content.html,
    })];
    if let Some(url) = &content.action_url {
        blocks.push(json!({"type": "text", "name": "action_url", "content": url, "rendered": url}));
    }
    blocks
}

/// A `MessageContent`: the rendered email, feed item or webhook request.
pub fn content(m: &Message) -> Value {
    let data = match &m.content {
        Content::Email(e) => json!({
            "__typename": "MessageEmailContent",
            "from": e.from,
            "to": e.to,
            "subject_line": e.subject,
            "html_body": e.html_body,
            "text_body": e.text_body,
            "cc": null,
            "bcc": null,
            "reply_to": null,
        }),
        Content::InApp(c) => json!({
            "__typename": "MessageInAppFeedContent",
            "blocks": blocks(c),
        }),
        // Knock's union has no webhook variant: Herald's own, secrets in headers masked.
        Content::Webhook(w) => json!({
            "__typename": "MessageWebhookContent",
            "method": w.method,
            "url": w.url,
            "headers": w.headers.iter().map(|(k, v)| (k.clone(), Value::String(redact_header(k, v)))).collect::<serde_json::Map<_, _>>(),
            "body": w.body,
        }),
    };
    json!({
        "__typename": "MessageContent",
        "message_id": m.id.to_string(),
        "inserted_at": ts(m.inserted_at),
        "data": data,
    })
}

/// A `MessageEvent`.
pub fn message_event(m: &Message, e: &MessageEvent) -> Value {
    json!({
        "__typename": "MessageEvent",
        "id": e.id.to_string(),
        "inserted_at": ts(e.inserted_at),
        "recipient": m.recipient.to_wire(),
        "type": e.kind,
        "data": e.data,
    })
}

/// A `MessageDeliveryLog`.
pub fn delivery_log(log: &DeliveryLog) -> Value {
    json!({
        "__typename": "MessageDeliveryLog",
        "id": log.id.to_string(),
        "environment_id": "herald",
        "inserted_at": ts(log.inserted_at),
        "service_name": log.service_name,
        "request": log.request,
        "response": log.response,
        "attempt": log.attempt,
        "duration_ms": log.duration_ms,
    })
}

fn source(m: &Message, typename: &str) -> Value {
    json!({
        "__typename": typename,
        "key": m.workflow_key,
        "version_id": m.workflow_version.as_deref().unwrap_or(&m.workflow_key),
        "categories": m.categories,
        "step_ref": m.step_ref,
        "type": "workflow",
        "workflow_run_id": m.workflow_run_id.to_string(),
        "workflow_recipient_run_id": m.recipient_run_id.to_string(),
    })
}

/// An in-app `FeedItem` with its `data`; `actors` and `recipient` are full records. After a
/// batch it lists the batch's activities and totals, as Knock's do.
pub fn feed_item(
    m: &Message,
    data: &Map<String, Value>,
    actors: &[Value],
    recipient: &Value,
) -> Value {
    let blocks = m.content.in_app().map(blocks).unwrap_or_default();
    let activity = |id: &str, actor: Value, data: &Value, at: &Value| {
        json!({
            "__typename": "Activity",
            "id": id,
            "actor": actor,
            "recipient": recipient,
            "data": data,
            "inserted_at": at,
            "updated_at": at,
        })
    };
    // A batch's actor is shown as the full record when the item has it.
    let full = |actor: &Value| {
        let id = actor.get("id");
        actors
            .iter()
            .find(|a| a.get("id") == id && id.is_some())
            .cloned()
            .unwrap_or_else(|| actor.clone())
    };
    let (activities, total_activities, total_actors) = match &m.batch {
        Some(batch) => (
            batch["activities"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|a| {
                            activity(
                                a["id"].as_str().unwrap_or_default(),
                                full(&a["actor"]),
                                &a["data"],
                                &a["inserted_at"],
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
            batch["total_activities"].clone(),
            batch["total_actors"].clone(),
        ),
        None => (
            vec![activity(
                &m.id.to_string(),
                actors.first().cloned().unwrap_or(Value::Null),
                &Value::Object(data.clone()),
                &json!(ts(m.inserted_at)),
            )],
            json!(1),
            json!(actors.len()),
        ),
    };
    let item = json!({
        "__typename": "FeedItem",
        "id": m.id.to_string(),
        "__cursor": null,
        "activities": activities,
        "actors": actors,
        "blocks": blocks,
        "data": data,
        "source": source(m, "Workflow"),
        "tenant": m.tenant,
        "total_activities": total_activities,
        "total_actors": total_actors,
        "inserted_at": ts(m.inserted_at),
        "updated_at": ts(m.updated_at),
    });
    with_engagements(item, m)
}

/// A `WorkflowRecipientRun`.
pub fn recipient_run(r: &RecipientRun) -> Value {
    json!({
        "__typename": "WorkflowRecipientRun",
        "id": r.id.to_string(),
        "workflow": r.workflow_key,
        "workflow_run_id": r.workflow_run_id.to_string(),
        "recipient": r.recipient.to_wire(),
        "actor": r.actor.as_ref().map(|a| a.to_wire()),
        "tenant": r.tenant,
        "status": r.status.as_str(),
        "error_count": r.error_count,
        "trigger_source": {
            "type": "api",
            "cancellation_key": r.cancellation_key,
            "audience_key": null,
            "schedule_id": null,
        },
        "inserted_at": ts(r.inserted_at),
        "updated_at": ts(r.updated_at),
    })
}

/// A batch (Herald's own resource): its window, size and the run that continues with it.
pub fn batch(b: &Batch) -> Value {
    json!({
        "__typename": "Batch",
        "id": b.id.to_string(),
        "workflow": b.workflow_key,
        "step_ref": b.step_ref,
        "recipient": b.recipient.to_wire(),
        "batch_key": b.batch_key,
        "status": b.status.as_str(),
        "activity_count": b.count,
        "max_items": b.max_items,
        "workflow_recipient_run_id": b.opener_run_id.to_string(),
        "workflow_run_id": b.opener_workflow_run_id.to_string(),
        "opened_at": ts(b.opened_at),
        "closes_at": ts(b.closes_at),
    })
}

/// A `WorkflowRecipientRunDetail`: the run with its events.
pub fn recipient_run_detail(r: &RecipientRun, events: &[RunEvent]) -> Value {
    let mut v = recipient_run(r);
    v["events"] = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json!({
                "__typename": "WorkflowRecipientRunEvent",
                "id": Uuid::new_v5(&r.id, format!("event:{i}").as_bytes()).to_string(),
                "event": e.event,
                "status": e.status,
                "attempt": 1,
                "step_ref": e.step_ref,
                "step_type": e.step_type,
                "data": e.data,
                "inserted_at": ts(e.inserted_at),
            })
        })
        .collect();
    v
}

/// An `Object`: custom properties nested under `properties`.
pub fn object(o: &Object) -> Value {
    json!({
        "__typename": "Object",
        "id": o.id,
        "collection": o.collection,
        "properties": o.properties,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
    })
}

/// A `Tenant`: custom properties at the top level, as Knock has them.
pub fn tenant(o: &Object) -> Value {
    let mut map = o.properties.clone();
    map.entry("name").or_insert(Value::Null);
    map.entry("settings").or_insert(Value::Null);
    map.insert("id".into(), json!(o.id));
    map.insert("__typename".into(), json!("Tenant"));
    map.insert("created_at".into(), json!(ts(o.created_at)));
    map.insert("updated_at".into(), json!(ts(o.updated_at)));
    Value::Object(map)
}

/// A recipient as a `Subscription` embeds it: the stored user or object, else a bare reference.
pub fn recipient_entity(r: &RecipientRef, user: Option<&User>, obj: Option<&Object>) -> Value {
    match (user, obj) {
        (Some(u), _) => self::user(u),
        (_, Some(o)) => object(o),
        _ => match &r.collection {
            None => json!({"__typename": "User", "id": r.id}),
            Some(c) => {
                json!({"__typename": "Object", "id": r.id, "collection": c, "properties": {}})
            }
        },
    }
}

/// A `Subscription`, given its object and recipient already rendered.
pub fn subscription(s: &Subscription, object: Value, recipient: Value) -> Value {
    json!({
        "__typename": "Subscription",
        "object": object,
        "recipient": recipient,
        "properties": s.properties,
        "inserted_at": ts(s.inserted_at),
        "updated_at": ts(s.updated_at),
    })
}

/// A `PreferenceSet`.
pub fn preference_set(p: &PreferenceSet) -> Value {
    let mut v = p.to_wire();
    v["__typename"] = json!("PreferenceSet");
    v
}
