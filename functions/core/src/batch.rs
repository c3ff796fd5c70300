//! Batches: the activities of many triggers for one recipient (and batch key), collected while a
//! window is open and continued as one run when it closes.
//!
//! The run that reaches a batch step first opens the batch and waits for the window; the runs of
//! later triggers add their activity and end there (Knock: "terminated on joining"). A cancel
//! with a joined run's key marks its activity cancelled while the window is open; once it closed,
//! only the opener's key stops the continuing run.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::data::RunData;
use crate::definition::BatchOrder;
use crate::recipient::RecipientRef;

/// Whether a batch still takes activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Its window is open.
    Open,
    /// Its window closed; its activities no longer change.
    Closed,
}

impl BatchStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Open => "open",
            BatchStatus::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(BatchStatus::Open),
            "closed" => Some(BatchStatus::Closed),
            _ => None,
        }
    }
}

/// A batch as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The batch id, derived from the opening run and the step.
    pub id: Uuid,
    /// What groups activities: workflow, step, recipient and batch key (see [`group_key`]).
    pub group: String,
    /// The workflow key.
    pub workflow_key: String,
    /// The batch step's ref.
    pub step_ref: String,
    /// The recipient.
    pub recipient: RecipientRef,
    /// The rendered batch key (empty when the step has none).
    pub batch_key: String,
    /// The run that opened it and continues after it closes.
    pub opener_run_id: Uuid,
    /// That run's workflow run (what a wake-up wakes).
    pub opener_workflow_run_id: Uuid,
    /// Open or closed.
    pub status: BatchStatus,
    /// Activities added, cancelled ones included.
    pub count: u32,
    /// `batch_items_max_limit`.
    pub max_items: Option<u32>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When its window ends (moved by sliding windows and by a flush).
    pub closes_at: DateTime<Utc>,
}

impl Batch {
    /// Whether no more activities fit.
    pub fn is_full(&self) -> bool {
        self.max_items.is_some_and(|max| self.count >= max)
    }
}

/// One trigger's contribution to a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchActivity {
    /// The batch.
    pub batch_id: Uuid,
    /// The recipient run that brought it.
    pub run_id: Uuid,
    /// That run's workflow run.
    pub workflow_run_id: Uuid,
    /// The workflow key (with the key below, what a cancel matches).
    pub workflow_key: String,
    /// That run's cancellation key.
    pub cancellation_key: Option<String>,
    /// The recipient.
    pub recipient: RecipientRef,
    /// The trigger's actor.
    pub actor: Option<RecipientRef>,
    /// The run's data.
    pub data: RunData,
    /// When it joined.
    pub inserted_at: DateTime<Utc>,
    /// Whether a cancel removed it.
    pub cancelled: bool,
}

/// The key of the group a batch collects: activities for the same workflow step, recipient and
/// rendered batch key share one open batch. Its parts are escaped ([`composite_key::join`]):
/// user `a` with key `x|y` and user `a|x` with key `y` are two groups.
///
/// [`composite_key::join`]: crate::composite_key::join
pub fn group_key(
    workflow_key: &str,
    step_ref: &str,
    recipient: &RecipientRef,
    batch_key: &str,
) -> String {
    crate::composite_key::join(&[workflow_key, step_ref, &recipient.id_key(), batch_key])
}

/// The key of a throttle's window: per workflow step, recipient and rendered throttle key,
/// escaped as [`group_key`] is.
pub fn throttle_key(
    workflow_key: &str,
    step_ref: &str,
    recipient: &RecipientRef,
    key: &str,
) -> String {
    crate::composite_key::join(&[workflow_key, step_ref, &recipient.id_key(), key])
}

/// What the continuing run sees after the window closed, computed from the live (not
/// cancelled) activities in the order they joined.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `{activities, actors, total_activities, total_actors}` for templates.
    pub vars: Value,
    /// Knock's post-batch `data`: the activities' data flattened and merged, last one winning.
    pub data: Map<String, Value>,
}

/// The most the rendered activities may take, serialized.
const MAX_RENDERED_BYTES: usize = 128 * 1024;

/// Longest string Knock keeps in post-batch data.
const MAX_FLAT_STRING: usize = 256;

/// Summarises `activities` (chronological, each with its data as read) for templates, rendering
/// at most `render_limit` activities and actors, the first or the last ones as `order` says.
pub fn summarize(
    activities: &[(BatchActivity, Map<String, Value>)],
    order: BatchOrder,
    render_limit: u32,
) -> Summary {
    let live: Vec<&(BatchActivity, Map<String, Value>)> =
        activities.iter().filter(|(a, _)| !a.cancelled).collect();
    let limit = render_limit as usize;
    let shown = shown(activities.iter().map(|(a, _)| a), order, render_limit);
    let window = activities
        .iter()
        .zip(shown)
        .filter_map(|(a, shown)| shown.then_some(a));
    let rendered: Vec<Value> = window
        .map(|(a, data)| {
            json!({
                "id": a.run_id.to_string(),
                "data": Value::Object(data.clone()),
                "actor": a.actor.as_ref().map(actor_value),
                "recipient": actor_value(&a.recipient),
                "inserted_at": a.inserted_at.to_rfc3339(),
            })
        })
        .collect();
    let mut actors: Vec<&RecipientRef> = Vec::new();
    for (a, _) in &live {
        if let Some(actor) = &a.actor {
            if !actors.contains(&actor) {
                actors.push(actor);
            }
        }
    }
    let total_actors = actors.len();
    let shown_actors: Vec<Value> = match order {
        BatchOrder::Asc => actors.iter().take(limit).map(|a| actor_value(a)).collect(),
        BatchOrder::Desc => actors
            .iter()
            .skip(actors.len().saturating_sub(limit))
            .map(|a| actor_value(a))
            .collect(),
    };
    let mut data = Map::new();
    for (_, fields) in &live {
        data.extend(flatten(fields));
    }
    let mut rendered = rendered;
    // The summary is stored with the continuing run: keep it well inside a DynamoDB item
    // (400 KB) by rendering fewer activities when their data is large.
    while rendered.len() > 1
        && serde_json::to_vec(&rendered).map_or(0, |v| v.len()) > MAX_RENDERED_BYTES
    {
        match order {
            BatchOrder::Asc => rendered.pop(),
            BatchOrder::Desc => Some(rendered.remove(0)),
        };
    }
    // One activity larger than that alone shows only its flattened data.
    if serde_json::to_vec(&rendered).map_or(0, |v| v.len()) > MAX_RENDERED_BYTES {
        for activity in &mut rendered {
            if let Some(Value::Object(fields)) = activity.get("data") {
                let flat = flatten(fields);
                activity["data"] = Value::Object(flat);
            }
        }
    }
    Summary {
        vars: json!({
            "activities": rendered,
            "actors": shown_actors,
            "total_activities": live.len(),
            "total_actors": total_actors,
        }),
        data,
    }
}

/// Which of `activities` (chronological) a summary renders in full: the first or the last
/// `render_limit` of those not cancelled, as `order` says. The others only count, and give
/// their [`flatten`]ed data.
pub fn shown<'a>(
    activities: impl Iterator<Item = &'a BatchActivity>,
    order: BatchOrder,
    render_limit: u32,
) -> Vec<bool> {
    let live: Vec<bool> = activities.map(|a| !a.cancelled).collect();
    let total = live.iter().filter(|l| **l).count();
    let limit = render_limit as usize;
    // The last ones, still listed oldest first (Knock: `activities` are chronological).
    let skip = match order {
        BatchOrder::Asc => 0,
        BatchOrder::Desc => total.saturating_sub(limit),
    };
    let mut seen = 0;
    live.into_iter()
        .map(|live| {
            if !live {
                return false;
            }
            seen += 1;
            seen > skip && seen <= skip + limit
        })
        .collect()
}

/// What of `fields` post-batch data keeps (Knock): scalars only, strings cut at 256 characters.
pub fn flatten(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Object(_) | Value::Array(_) => None,
            Value::String(s) if s.chars().count() > MAX_FLAT_STRING => Some((
                k.clone(),
                Value::String(s.chars().take(MAX_FLAT_STRING).collect()),
            )),
            other => Some((k.clone(), other.clone())),
        })
        .collect()
}

fn actor_value(r: &RecipientRef) -> Value {
    match &r.collection {
        None => json!({"id": r.id}),
        Some(c) => json!({"id": r.id, "collection": c}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(
        i: u32,
        actor: &str,
        data: Value,
        cancelled: bool,
    ) -> (BatchActivity, Map<String, Value>) {
        let fields = data.as_object().cloned().unwrap_or_default();
        let activity = BatchActivity {
            batch_id: Uuid::nil(),
            run_id: Uuid::from_u128(u128::from(i)),
            workflow_run_id: Uuid::nil(),
            workflow_key: "w".into(),
            cancellation_key: None,
            recipient: RecipientRef::user("u"),
            actor: Some(RecipientRef::user(actor)),
            data: RunData::inline(fields.clone()),
            inserted_at: DateTime::from_timestamp(i64::from(i), 0).unwrap_or_default(),
            cancelled,
        };
        (activity, fields)
    }

    #[test]
    fn totals_skip_cancelled_and_render_limits_apply() {
        let acts: Vec<_> = (0..15)
            .map(|i| {
                activity(
                    i,
                    if i % 2 == 0 { "a" } else { "b" },
                    json!({"n": i, "nested": {"x": 1}, "long": "y".repeat(300)}),
                    i == 14,
                )
            })
            .collect();
        let s = summarize(&acts, BatchOrder::Asc, 10);
        assert_eq!(s.vars["total_activities"], 14);
        assert_eq!(s.vars["total_actors"], 2);
        assert_eq!(s.vars["activities"].as_array().map(Vec::len), Some(10));
        assert_eq!(s.vars["activities"][0]["data"]["n"], 0);
        // Flattened, last writer wins, nested dropped, strings cut at 256.
        assert_eq!(s.data["n"], 13);
        assert!(!s.data.contains_key("nested"));
        assert_eq!(s.data["long"].as_str().map(str::len), Some(256));
        let d = summarize(&acts, BatchOrder::Desc, 3);
        let firsts: Vec<_> = d.vars["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["data"]["n"].clone())
            .collect();
        assert_eq!(firsts, vec![json!(11), json!(12), json!(13)]);
    }

    #[test]
    fn one_activity_too_large_to_render_shows_its_flattened_data() {
        let acts = vec![activity(
            1,
            "a",
            json!({"n": 1, "rows": vec!["x".repeat(1000); 300], "huge": "y".repeat(200_000)}),
            false,
        )];
        let s = summarize(&acts, BatchOrder::Asc, 10);
        let data = &s.vars["activities"][0]["data"];
        assert_eq!(data["n"], 1);
        assert!(data.get("rows").is_none());
        assert_eq!(data["huge"].as_str().map(str::len), Some(256));
        assert!(serde_json::to_vec(&s.vars).map_or(0, |v| v.len()) < MAX_RENDERED_BYTES);
        assert_eq!(
            shown(acts.iter().map(|(a, _)| a), BatchOrder::Desc, 1),
            vec![true]
        );
    }

    #[test]
    fn an_all_cancelled_batch_is_empty() {
        let acts = vec![activity(1, "a", json!({}), true)];
        let s = summarize(&acts, BatchOrder::Asc, 10);
        assert_eq!(s.vars["total_activities"], 0);
        assert_eq!(s.vars["actors"], json!([]));
    }
}
