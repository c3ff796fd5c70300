//! The variables a step sees: `data`, `recipient`, `actor`, `tenant`, `workflow`.

use serde_json::{json, Map, Value};

use crate::definition::Workflow;
use crate::error::StoreError;
use crate::object::TENANTS;
use crate::ports::Store;
use crate::recipient::RecipientRef;
use crate::run::RecipientRun;

/// Builds the scope of `run` with its `data` (read by the caller), reading the recipient and actor as they are now (Knock renders with
/// the recipient's data at the time the step runs, not at trigger time).
pub async fn build(
    store: &dyn Store,
    workflow: &Workflow,
    run: &RecipientRun,
    data: Map<String, Value>,
) -> Result<Value, StoreError> {
    let mut recipient = entity(store, &run.recipient).await?;
    if let (Some(sub), Value::Object(map)) = (&run.subscription, &mut recipient) {
        map.insert("subscription".into(), sub.clone());
    }
    let actor = match &run.actor {
        Some(a) => entity(store, a).await?,
        None => Value::Null,
    };
    let tenant = match &run.tenant {
        Some(t) => entity(store, &RecipientRef::object(TENANTS, t.clone())).await?,
        None => Value::Null,
    };
    let mut scope = json!({
        "data": Value::Object(data),
        "recipient": recipient,
        "actor": actor,
        "tenant": tenant,
        "vars": {},
        "workflow": {
            "key": workflow.key,
            "id": workflow.key,
            "name": workflow.name,
            "categories": workflow.categories,
            "cancellation_key": run.cancellation_key,
            "workflow_run_id": run.workflow_run_id.to_string(),
        },
    });
    // After a batch: `activities`, `actors`, `total_*` for templates; `run.total_*` for
    // conditions.
    if let (Some(Value::Object(vars)), Value::Object(map)) = (
        run.batch.as_ref().and_then(|b| b.summary.as_ref()),
        &mut scope,
    ) {
        map.insert(
            "run".into(),
            json!({"total_activities": vars.get("total_activities"), "total_actors": vars.get("total_actors")}),
        );
        map.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(scope)
}

async fn entity(store: &dyn Store, reference: &RecipientRef) -> Result<Value, StoreError> {
    match &reference.collection {
        None => {
            if let Some(user) = store.get_user(&reference.id).await? {
                return Ok(user.to_value());
            }
        }
        Some(c) => {
            if let Some(object) = store.get_object(c, &reference.id).await? {
                return Ok(object.to_value());
            }
        }
    }
    let mut map = Map::new();
    map.insert("id".into(), Value::String(reference.id.clone()));
    if let Some(c) = &reference.collection {
        map.insert("collection".into(), Value::String(c.clone()));
    }
    Ok(Value::Object(map))
}
