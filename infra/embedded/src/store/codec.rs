//! Conversions between domain values and SQLite columns.

use chrono::{DateTime, Utc};
use herald_core::definition::ChannelType;
use herald_core::message::{Content, DeliveryState, DeliveryStatus, Engagement, Message};
use herald_core::recipient::RecipientRef;
use herald_core::run::{EventStatus, RecipientRun, RunEvent, RunStatus};
use herald_core::user::User;
use rusqlite::Row;
use serde_json::{Map, Value};
use uuid::Uuid;

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(m: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(m).ok_or_else(|| corrupt(format!("bad timestamp {m}")))
}

fn opt_time(m: Option<i64>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    m.map(from_micros).transpose()
}

/// Whether `e` says a row's value could not be decoded (rather than that SQLite failed).
pub fn is_undecodable(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

pub fn corrupt(msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, msg.into())
}

pub fn json<T: serde::Serialize>(v: &T) -> String {
    // Serialising plain data (maps, strings, vectors) cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(e.to_string()))
}

pub fn uuid(s: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| corrupt(e.to_string()))
}

pub fn collection(r: &RecipientRef) -> &str {
    r.collection.as_deref().unwrap_or("")
}

pub fn recipient(id: String, collection: String) -> RecipientRef {
    if collection.is_empty() {
        RecipientRef::user(id)
    } else {
        RecipientRef::object(collection, id)
    }
}

fn enum_from<T: serde::de::DeserializeOwned>(s: String) -> rusqlite::Result<T> {
    serde_json::from_value(Value::String(s)).map_err(|e| corrupt(e.to_string()))
}

pub fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

pub const USER_COLUMNS: &str = "id, properties, created_at, updated_at";

pub fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        properties: parse_json::<Map<String, Value>>(&row.get::<_, String>(1)?)?,
        created_at: from_micros(row.get(2)?)?,
        updated_at: from_micros(row.get(3)?)?,
    })
}

pub const RUN_COLUMNS: &str = "seq, id, workflow_run_id, workflow_key, recipient_id, recipient_collection, \
     actor, tenant, cancellation_key, data, settings, status, cursor, wake_at, error_count, inserted_at, updated_at, subscription, attempt, batch, \
     workflow_version";

pub fn run_row(row: &Row<'_>) -> rusqlite::Result<(i64, RecipientRun)> {
    let actor: Option<String> = row.get(6)?;
    Ok((
        row.get(0)?,
        RecipientRun {
            id: uuid(&row.get::<_, String>(1)?)?,
            workflow_run_id: uuid(&row.get::<_, String>(2)?)?,
            workflow_key: row.get(3)?,
            recipient: recipient(row.get(4)?, row.get(5)?),
            actor: actor.as_deref().map(parse_json).transpose()?,
            tenant: row.get(7)?,
            cancellation_key: row.get(8)?,
            data: parse_json(&row.get::<_, String>(9)?)?,
            settings: parse_json(&row.get::<_, String>(10)?)?,
            status: enum_from::<RunStatus>(row.get(11)?)?,
            cursor: row.get(12)?,
            wake_at: opt_time(row.get(13)?)?,
            error_count: row.get(14)?,
            inserted_at: from_micros(row.get(15)?)?,
            updated_at: from_micros(row.get(16)?)?,
            subscription: row
                .get::<_, Option<String>>(17)?
                .as_deref()
                .map(parse_json)
                .transpose()?,
            attempt: row.get(18)?,
            batch: row
                .get::<_, Option<String>>(19)?
                .as_deref()
                .map(parse_json)
                .transpose()?,
            workflow_version: row.get(20)?,
        },
    ))
}

pub fn event_row(row: &Row<'_>) -> rusqlite::Result<RunEvent> {
    Ok(RunEvent {
        event: row.get(0)?,
        status: enum_from::<EventStatus>(row.get(1)?)?,
        step_ref: row.get(2)?,
        step_type: row.get(3)?,
        data: parse_json(&row.get::<_, String>(4)?)?,
        inserted_at: from_micros(row.get(5)?)?,
    })
}

pub const MESSAGE_COLUMNS: &str = "seq, id, channel_key, channel_type, recipient_id, recipient_collection, \
     actors, workflow_key, categories, workflow_run_id, recipient_run_id, step_ref, tenant, data, status, \
     content, seen_at, read_at, interacted_at, link_clicked_at, archived_at, inserted_at, updated_at, \
     attempts, next_attempt_at, batch, workflow_version";

/// The column holding the time of `engagement`.
pub fn engagement_column(engagement: Engagement) -> &'static str {
    engagement.timestamp_field()
}

pub fn message_row(row: &Row<'_>) -> rusqlite::Result<(i64, Message)> {
    let mut engagements = Vec::new();
    for (i, e) in Engagement::ALL.into_iter().enumerate() {
        if let Some(at) = opt_time(row.get(16 + i)?)? {
            engagements.push((e, at));
        }
    }
    Ok((
        row.get(0)?,
        Message {
            id: uuid(&row.get::<_, String>(1)?)?,
            channel_key: row.get(2)?,
            channel_type: enum_from::<ChannelType>(row.get(3)?)?,
            recipient: recipient(row.get(4)?, row.get(5)?),
            actors: parse_json(&row.get::<_, String>(6)?)?,
            workflow_key: row.get(7)?,
            categories: parse_json(&row.get::<_, String>(8)?)?,
            workflow_run_id: uuid(&row.get::<_, String>(9)?)?,
            recipient_run_id: uuid(&row.get::<_, String>(10)?)?,
            step_ref: row.get(11)?,
            tenant: row.get(12)?,
            data: parse_json(&row.get::<_, String>(13)?)?,
            status: enum_from::<DeliveryStatus>(row.get(14)?)?,
            content: parse_json::<Content>(&row.get::<_, String>(15)?)?,
            delivery: DeliveryState {
                attempts: row.get(23)?,
                next_attempt_at: opt_time(row.get(24)?)?,
            },
            events: Vec::new(),
            batch: row
                .get::<_, Option<String>>(25)?
                .map(|b| parse_json(&b))
                .transpose()?,
            workflow_version: row.get(26)?,
            engagements,
            inserted_at: from_micros(row.get(21)?)?,
            updated_at: from_micros(row.get(22)?)?,
        },
    ))
}

/// Narrows a statement to `recipients`: appends `AND (recipient_id, recipient_collection) IN
/// (…)` and its parameters.
pub fn recipients_in(
    sql: &mut String,
    params: &mut Vec<rusqlite::types::Value>,
    recipients: &[RecipientRef],
) {
    let rows = vec!["(?, ?)"; recipients.len()].join(", ");
    sql.push_str(&format!(
        " AND (recipient_id, recipient_collection) IN (VALUES {rows})"
    ));
    for r in recipients {
        params.push(r.id.clone().into());
        params.push(collection(r).to_string().into());
    }
}
