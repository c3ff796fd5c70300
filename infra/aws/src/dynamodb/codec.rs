//! Items to and from domain values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::message::{DeliveryState, Engagement, Message};
use herald_core::recipient::RecipientRef;
use herald_core::run::{EventStatus, RecipientRun, RunEvent, RunStatus, WorkflowRun};
use herald_core::user::User;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::due::{Due, Kind};

pub type Item = HashMap<String, AttributeValue>;

/// Prefix of user property attributes.
pub const PROP: &str = "p.";

/// The `type` of a recipient-run item.
pub const RECIPIENT_RUN: &str = "recipient_run";
/// The `type` of a fan-out marker in a runs partition.
pub const FANOUT_MARKER: &str = "fanout_marker";
/// The `type` of a batch-activity marker in a runs partition.
pub const BATCH_MARKER: &str = "batch_marker";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("item attribute `{what}` is missing or malformed"))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn time(m: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(m).ok_or_else(|| corrupt("timestamp"))
}

pub fn json(v: &impl serde::Serialize) -> AttributeValue {
    s(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

/// A list attribute of JSON texts, one per value: appended to with `list_append`.
pub fn json_list<T: serde::Serialize>(values: &[T]) -> AttributeValue {
    AttributeValue::L(
        values
            .iter()
            .map(|v| AttributeValue::S(serde_json::to_string(v).unwrap_or_default()))
            .collect(),
    )
}

/// The values of a [`json_list`] attribute (none when it is absent).
pub fn parse_list<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Vec<T>, StoreError> {
    let Some(AttributeValue::L(values)) = item.get(name) else {
        return Ok(Vec::new());
    };
    values
        .iter()
        .map(|v| match v {
            AttributeValue::S(text) => serde_json::from_str(text).map_err(|_| corrupt(name)),
            _ => Err(corrupt(name)),
        })
        .collect()
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name))
}

pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(name))
}

pub fn opt_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub fn parse<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, name)?).map_err(|_| corrupt(name))
}

pub fn uuid(item: &Item, name: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(get_s(item, name)?).map_err(|_| corrupt(name))
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn enum_from<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_value(Value::String(get_s(item, name)?.to_string())).map_err(|_| corrupt(name))
}

/// A sort key that orders by time, then id.
pub fn time_key(t: DateTime<Utc>, id: Uuid) -> String {
    format!("{:020}#{id}", micros(t).max(0))
}

/// The partition of the recipient runs of a trigger.
pub fn runs_pk(
    workflow_key: &str,
    cancellation_key: Option<&str>,
    workflow_run_id: Uuid,
) -> String {
    match cancellation_key {
        Some(k) => format!("RUNS#{workflow_key}#K#{k}"),
        None => format!("RUNS#{workflow_key}#R#{workflow_run_id}"),
    }
}

pub fn run_sk(workflow_run_id: Uuid, id: Uuid) -> String {
    format!("RR#{workflow_run_id}#{id}")
}

pub fn recipient_key(r: &RecipientRef) -> String {
    format!("MSGTO#{}#{}", r.collection.as_deref().unwrap_or(""), r.id)
}

pub fn workflow_run_item(run: &WorkflowRun, runs_pk: &str) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(format!("WFRUN#{}", run.id)));
    item.insert("sk".into(), s("WFRUN"));
    item.insert("type".into(), s("workflow_run"));
    item.insert("id".into(), s(run.id.to_string()));
    item.insert("runs_pk".into(), s(runs_pk));
    item.insert("workflow_key".into(), s(&run.workflow_key));
    if let Some(k) = &run.cancellation_key {
        item.insert("cancellation_key".into(), s(k));
    }
    if let Some(a) = &run.actor {
        item.insert("actor".into(), json(a));
    }
    if let Some(t) = &run.tenant {
        item.insert("tenant".into(), s(t));
    }
    item.insert("data".into(), json(&run.data));
    item.insert("recipient_count".into(), n(run.recipient_count as i64));
    item.insert("inserted_at".into(), n(micros(run.inserted_at)));
    item
}

pub fn run_item(r: &RecipientRun) -> Item {
    let mut item = Item::new();
    item.insert(
        "pk".into(),
        s(runs_pk(
            &r.workflow_key,
            r.cancellation_key.as_deref(),
            r.workflow_run_id,
        )),
    );
    item.insert("sk".into(), s(run_sk(r.workflow_run_id, r.id)));
    item.insert("gsi1pk".into(), s(format!("RRID#{}", r.id)));
    item.insert("gsi1sk".into(), s("RR"));
    item.insert("gsi2pk".into(), s("RRALL"));
    item.insert("gsi2sk".into(), s(time_key(r.inserted_at, r.id)));
    item.insert("type".into(), s(RECIPIENT_RUN));
    item.insert("id".into(), s(r.id.to_string()));
    item.insert("workflow_run_id".into(), s(r.workflow_run_id.to_string()));
    item.insert("workflow_key".into(), s(&r.workflow_key));
    put_recipient(&mut item, &r.recipient);
    if let Some(a) = &r.actor {
        item.insert("actor".into(), json(a));
    }
    if let Some(t) = &r.tenant {
        item.insert("tenant".into(), s(t));
    }
    if let Some(k) = &r.cancellation_key {
        item.insert("cancellation_key".into(), s(k));
    }
    item.insert("data".into(), json(&r.data));
    if let Some(sub) = &r.subscription {
        item.insert("subscription".into(), json(sub));
    }
    item.insert("settings".into(), json(&r.settings));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("cursor".into(), n(i64::from(r.cursor)));
    if let Some(w) = r.wake_at {
        item.insert("wake_at".into(), n(micros(w)));
    }
    item.insert("error_count".into(), n(i64::from(r.error_count)));
    item.insert("attempt".into(), n(i64::from(r.attempt)));
    if let Some(b) = &r.batch {
        item.insert("batch".into(), json(b));
        if b.open {
            item.insert("batch_open".into(), AttributeValue::Bool(true));
        }
    }
    if let Some(v) = &r.workflow_version {
        item.insert("workflow_version".into(), s(v));
    }
    if r.status.is_active() {
        let due = r.wake_at.unwrap_or(r.updated_at);
        Due::new(Kind::Run, r.workflow_run_id, due).put(&mut item);
    }
    item.insert("inserted_at".into(), n(micros(r.inserted_at)));
    item.insert("updated_at".into(), n(micros(r.updated_at)));
    item.insert("events".into(), AttributeValue::L(Vec::new()));
    item
}

/// Writes `r` as the item's `recipient_id` and `recipient_collection` (empty for a user).
pub fn put_recipient(item: &mut Item, r: &RecipientRef) {
    item.insert("recipient_id".into(), s(&r.id));
    item.insert(
        "recipient_collection".into(),
        s(r.collection.as_deref().unwrap_or("")),
    );
}

pub fn recipient(item: &Item, id: &str, collection: &str) -> Result<RecipientRef, StoreError> {
    let id = get_s(item, id)?.to_string();
    Ok(match get_s(item, collection)? {
        "" => RecipientRef::user(id),
        c => RecipientRef::object(c, id),
    })
}

pub fn run_from(item: &Item) -> Result<RecipientRun, StoreError> {
    let status = RunStatus::parse(get_s(item, "status")?).ok_or_else(|| corrupt("status"))?;
    Ok(RecipientRun {
        id: uuid(item, "id")?,
        workflow_run_id: uuid(item, "workflow_run_id")?,
        workflow_key: get_s(item, "workflow_key")?.to_string(),
        recipient: recipient(item, "recipient_id", "recipient_collection")?,
        actor: item
            .get("actor")
            .map(|_| parse(item, "actor"))
            .transpose()?,
        tenant: opt_s(item, "tenant"),
        cancellation_key: opt_s(item, "cancellation_key"),
        data: parse(item, "data")?,
        subscription: item
            .get("subscription")
            .map(|_| parse(item, "subscription"))
            .transpose()?,
        settings: parse(item, "settings")?,
        status,
        cursor: u32::try_from(get_n(item, "cursor")?).map_err(|_| corrupt("cursor"))?,
        wake_at: opt_n(item, "wake_at").map(time).transpose()?,
        error_count: u32::try_from(get_n(item, "error_count")?)
            .map_err(|_| corrupt("error_count"))?,
        attempt: opt_n(item, "attempt")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        batch: item
            .get("batch")
            .map(|_| parse(item, "batch"))
            .transpose()?,
        workflow_version: opt_s(item, "workflow_version"),
        inserted_at: time(get_n(item, "inserted_at")?)?,
        updated_at: time(get_n(item, "updated_at")?)?,
    })
}

pub fn event_value(e: &RunEvent) -> AttributeValue {
    let mut m = Item::new();
    m.insert("event".into(), s(&e.event));
    m.insert("status".into(), s(enum_str(&e.status)));
    if let Some(r) = &e.step_ref {
        m.insert("step_ref".into(), s(r));
    }
    if let Some(t) = &e.step_type {
        m.insert("step_type".into(), s(t));
    }
    m.insert("data".into(), json(&e.data));
    m.insert("inserted_at".into(), n(micros(e.inserted_at)));
    AttributeValue::M(m)
}

pub fn events_from(item: &Item) -> Result<Vec<RunEvent>, StoreError> {
    let Some(list) = item.get("events").and_then(|v| v.as_l().ok()) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|v| {
            let m = v.as_m().map_err(|_| corrupt("events"))?;
            Ok(RunEvent {
                event: get_s(m, "event")?.to_string(),
                status: enum_from::<EventStatus>(m, "status")?,
                step_ref: opt_s(m, "step_ref"),
                step_type: opt_s(m, "step_type"),
                data: parse(m, "data")?,
                inserted_at: time(get_n(m, "inserted_at")?)?,
            })
        })
        .collect()
}

/// The attribute holding the time of `engagement`.
pub fn engagement_attr(engagement: Engagement) -> &'static str {
    engagement.timestamp_field()
}

pub fn message_item(m: &Message, expires_at: DateTime<Utc>) -> Item {
    let mut item = Item::new();
    let order = time_key(m.inserted_at, m.id);
    item.insert("pk".into(), s(format!("MSG#{}", m.id)));
    item.insert("sk".into(), s("MSG"));
    item.insert("gsi1pk".into(), s(recipient_key(&m.recipient)));
    item.insert("gsi1sk".into(), s(order.clone()));
    item.insert("gsi2pk".into(), s("MSGALL"));
    item.insert("gsi2sk".into(), s(order));
    item.insert("type".into(), s("message"));
    item.insert("id".into(), s(m.id.to_string()));
    item.insert("channel_key".into(), s(&m.channel_key));
    item.insert("channel_type".into(), s(enum_str(&m.channel_type)));
    put_recipient(&mut item, &m.recipient);
    item.insert("actors".into(), json(&m.actors));
    item.insert("workflow_key".into(), s(&m.workflow_key));
    item.insert("categories".into(), json(&m.categories));
    item.insert("workflow_run_id".into(), s(m.workflow_run_id.to_string()));
    item.insert("recipient_run_id".into(), s(m.recipient_run_id.to_string()));
    item.insert("step_ref".into(), s(&m.step_ref));
    if let Some(t) = &m.tenant {
        item.insert("tenant".into(), s(t));
    }
    item.insert("data".into(), json(&m.data));
    item.insert("status".into(), s(m.status.as_str()));
    item.insert("content".into(), json(&m.content));
    item.insert("attempts".into(), n(i64::from(m.delivery.attempts)));
    if let Some(at) = m.delivery.next_attempt_at {
        item.insert("next_attempt_at".into(), n(micros(at)));
        Due::new(Kind::Message, m.id, at).put(&mut item);
    }
    item.insert("events".into(), json_list(&m.events));
    if let Some(batch) = &m.batch {
        item.insert("batch".into(), json(batch));
    }
    if let Some(v) = &m.workflow_version {
        item.insert("workflow_version".into(), s(v));
    }
    for (e, at) in &m.engagements {
        item.insert(engagement_attr(*e).into(), n(micros(*at)));
    }
    item.insert("inserted_at".into(), n(micros(m.inserted_at)));
    item.insert("updated_at".into(), n(micros(m.updated_at)));
    item.insert("expires_at".into(), n(expires_at.timestamp()));
    item
}

pub fn message_from(item: &Item) -> Result<Message, StoreError> {
    let mut engagements = Vec::new();
    for e in Engagement::ALL {
        if let Some(at) = opt_n(item, engagement_attr(e)) {
            engagements.push((e, time(at)?));
        }
    }
    Ok(Message {
        id: uuid(item, "id")?,
        channel_key: get_s(item, "channel_key")?.to_string(),
        channel_type: enum_from(item, "channel_type")?,
        recipient: recipient(item, "recipient_id", "recipient_collection")?,
        actors: parse(item, "actors")?,
        workflow_key: get_s(item, "workflow_key")?.to_string(),
        categories: parse(item, "categories")?,
        workflow_run_id: uuid(item, "workflow_run_id")?,
        recipient_run_id: uuid(item, "recipient_run_id")?,
        step_ref: get_s(item, "step_ref")?.to_string(),
        workflow_version: opt_s(item, "workflow_version"),
        tenant: opt_s(item, "tenant"),
        data: parse(item, "data")?,
        status: enum_from(item, "status")?,
        content: parse(item, "content")?,
        delivery: DeliveryState {
            attempts: u32::try_from(opt_n(item, "attempts").unwrap_or(0))
                .map_err(|_| corrupt("attempts"))?,
            next_attempt_at: opt_n(item, "next_attempt_at").map(time).transpose()?,
        },
        events: Vec::new(),
        batch: match item.get("batch") {
            Some(_) => Some(parse(item, "batch")?),
            None => None,
        },
        engagements,
        inserted_at: time(get_n(item, "inserted_at")?)?,
        updated_at: time(get_n(item, "updated_at")?)?,
    })
}

/// The `p.<name>` attributes of a user or object item, decoded.
pub fn properties_from(item: &Item) -> Result<Map<String, Value>, StoreError> {
    let mut properties = Map::new();
    for (k, v) in item {
        if let Some(name) = k.strip_prefix(PROP) {
            let text = v.as_s().map_err(|_| corrupt(k))?;
            properties.insert(
                name.to_string(),
                serde_json::from_str(text).map_err(|_| corrupt(k))?,
            );
        }
    }
    Ok(properties)
}

pub fn time_at(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    time(get_n(item, name)?)
}

pub fn parse_at<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    parse(item, name)
}

pub fn user_from(item: &Item) -> Result<User, StoreError> {
    Ok(User {
        id: get_s(item, "id")?.to_string(),
        properties: properties_from(item)?,
        created_at: time(get_n(item, "created_at")?)?,
        updated_at: time(get_n(item, "updated_at")?)?,
    })
}
