//! Triggering a workflow: validate, identify inline recipients, store the runs, start them.

use std::collections::HashSet;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::Engine;
use crate::data::{RunData, MAX_DATA_BYTES};
use crate::error::{EngineError, FieldError};
use crate::fanout::{FanOut, Source};
use crate::idempotency::IdempotencyClaim;
use crate::ids;
use crate::object::TENANTS;
use crate::ports::{Claim, Write};
use crate::recipient::RecipientRequest;
use crate::run::{RecipientRun, RunSettings, RunStatus, WorkflowRun};

/// How long a trigger holding an idempotency key counts as under way by default: longer than a
/// trigger can take (the trigger function's timeout is 30 s), so one still claimed after it
/// has died. See [`Engine::with_idempotency_in_flight`].
pub const IN_FLIGHT: chrono::Duration = chrono::Duration::seconds(60);

/// Knock's limit of recipients per trigger.
pub const MAX_RECIPIENTS: usize = 1_000;

/// A validated trigger body (`POST /v1/workflows/{key}/trigger`).
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRequest {
    /// 1 to 1,000 recipients.
    pub recipients: Vec<RecipientRequest>,
    /// Who caused the trigger.
    pub actor: Option<RecipientRequest>,
    /// The trigger's data.
    pub data: Map<String, Value>,
    /// Key to cancel the runs by.
    pub cancellation_key: Option<String>,
    /// Tenant id.
    pub tenant: Option<String>,
    /// An inline tenant's body (`{id, name, settings…}`), set on the tenant before the run.
    pub tenant_body: Option<Value>,
    /// `settings`.
    pub settings: RunSettings,
}

impl TriggerRequest {
    /// [`TriggerRequest::from_json`] of a body it may take apart: its `data` is moved, not
    /// copied (a trigger may carry 10 MB of it).
    pub fn from_body(mut body: Value) -> Result<Self, EngineError> {
        let data = match body.get_mut("data") {
            Some(Value::Object(fields)) => Some(std::mem::take(fields)),
            _ => None,
        };
        let mut request = Self::from_json(&body)?;
        if let Some(fields) = data {
            request.data = fields;
        }
        Ok(request)
    }

    /// Validates a trigger body, collecting every invalid field.
    pub fn from_json(body: &Value) -> Result<Self, EngineError> {
        let obj = body
            .as_object()
            .ok_or_else(|| EngineError::invalid("body", "must be a JSON object"))?;
        let mut errors = Vec::new();
        let mut recipients = Vec::new();
        match obj.get("recipients") {
            Some(Value::Array(items)) if items.is_empty() => errors.push(FieldError::new(
                "recipients",
                "must contain at least one recipient",
            )),
            Some(Value::Array(items)) if items.len() > MAX_RECIPIENTS => {
                errors.push(FieldError::new(
                    "recipients",
                    format!(
                        "must contain at most {MAX_RECIPIENTS} recipients, got {}",
                        items.len()
                    ),
                ))
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match RecipientRequest::parse(item, &format!("recipients[{i}]")) {
                        Ok(r) => recipients.push(r),
                        Err(e) => errors.push(e),
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("recipients", "must be an array")),
            None => errors.push(FieldError::new("recipients", "is required")),
        }
        let actor = match obj.get("actor") {
            None | Some(Value::Null) => None,
            Some(v) => match RecipientRequest::parse(v, "actor") {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let data = match obj.get("data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(d)) => d.clone(),
            Some(_) => {
                errors.push(FieldError::new("data", "must be an object"));
                Map::new()
            }
        };
        let cancellation_key = optional_string(obj, "cancellation_key", &mut errors);
        let mut tenant_body = None;
        let tenant = match obj.get("tenant") {
            Some(Value::Object(t)) => match t.get("id") {
                Some(Value::String(id)) if crate::limits::check_name(id).is_ok() => {
                    tenant_body = Some(Value::Object(t.clone()));
                    Some(id.clone())
                }
                _ => {
                    errors.push(FieldError::new(
                        "tenant.id",
                        "is required: a string of 1 to 255 bytes",
                    ));
                    None
                }
            },
            _ => optional_string(obj, "tenant", &mut errors),
        };
        let settings = match obj.get("settings") {
            None | Some(Value::Null) => RunSettings::default(),
            Some(v @ Value::Object(_)) => serde_json::from_value(v.clone()).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "settings",
                    "skip_delay and sandbox_mode must be booleans",
                ));
                RunSettings::default()
            }),
            Some(_) => {
                errors.push(FieldError::new("settings", "must be an object"));
                RunSettings::default()
            }
        };
        if !errors.is_empty() {
            return Err(EngineError::InvalidParams(errors));
        }
        Ok(Self {
            recipients,
            actor,
            data,
            cancellation_key,
            tenant,
            tenant_body,
            settings,
        })
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match crate::limits::check_name(s) {
            Ok(()) => Some(s.clone()),
            Err(why) => {
                errors.push(FieldError::new(field, why));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(field, "must be a non-empty string"));
            None
        }
    }
}

/// A trigger's `Idempotency-Key`, with what identifies the request that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent {
    /// The caller's key (checked by [`crate::idempotency::check_key`]).
    pub key: String,
    /// [`crate::idempotency::fingerprint`] of the workflow key and body.
    pub fingerprint: String,
    /// This request's id.
    pub request_id: String,
}

/// What a trigger answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    /// The workflow run.
    pub workflow_run_id: Uuid,
    /// When this request repeated an earlier one with the same idempotency key: that
    /// request's id.
    pub replay_of: Option<String>,
}

impl Engine {
    /// [`Engine::trigger`] once per idempotency key: the first request claims the key with a
    /// workflow run id; a request with the same key and body within 24 hours answers with that
    /// run; one with another body is [`EngineError::IdempotencyConflict`]. While the first is
    /// still under way (claimed less than [`IN_FLIGHT`] ago by default, not completed) a second is
    /// [`EngineError::IdempotencyInProgress`], to retry shortly; after that the first is taken
    /// for dead and the trigger runs again with the same run id, which stores nothing twice.
    /// A request refused as the caller's error frees the key again, if it had claimed it.
    pub async fn trigger_idempotent(
        &self,
        key: &str,
        request: TriggerRequest,
        idem: Idempotent,
    ) -> Result<Triggered, EngineError> {
        let now = self.now();
        let claim = IdempotencyClaim::new(&idem.key, &idem.fingerprint, &idem.request_id, now);
        let (workflow_run_id, replay_of) =
            match self.store.claim_idempotency_key(&claim, now).await? {
                Claim::Won => (claim.workflow_run_id, None),
                Claim::Held(held) if held.fingerprint != claim.fingerprint => {
                    return Err(EngineError::IdempotencyConflict(idem.key));
                }
                // A retried claim that had been written is our own.
                Claim::Held(held) if held.request_id == claim.request_id => {
                    (held.workflow_run_id, None)
                }
                Claim::Held(held) if held.completed => {
                    return Ok(Triggered {
                        workflow_run_id: held.workflow_run_id,
                        replay_of: Some(held.request_id),
                    });
                }
                // Two triggers with one run id at once could overwrite each other's runs.
                // With a zero bound (one-transaction stores) nothing counts as under way, even
                // a claim stamped a moment after this request read the clock.
                Claim::Held(held)
                    if !self.in_flight.is_zero() && held.claimed_at() > now - self.in_flight =>
                {
                    return Err(EngineError::IdempotencyInProgress(idem.key));
                }
                Claim::Held(held) => (held.workflow_run_id, Some(held.request_id)),
            };
        let claimed_here = replay_of.is_none();
        match self.trigger_as(key, request, workflow_run_id).await {
            Ok(id) => {
                // Not completing only costs a replay running the trigger again (storing nothing
                // new); the runs are stored, so the caller gets its answer.
                match self
                    .store
                    .complete_idempotency_key(&idem.key, workflow_run_id)
                    .await
                {
                    Ok(Write::Applied) => {}
                    Ok(Write::LostRace) => {
                        tracing::info!(%workflow_run_id, "idempotency key expired or released while triggering")
                    }
                    Err(e) => {
                        tracing::warn!(%workflow_run_id, error = %e, "could not complete the idempotency key")
                    }
                }
                Ok(Triggered {
                    workflow_run_id: id,
                    replay_of,
                })
            }
            Err(e) if e.is_client_error() && claimed_here => {
                // Kept on a failure here: a retry with the same body then runs again, another
                // body is refused until the key expires.
                if let Err(release) = self
                    .store
                    .release_idempotency_key(&idem.key, workflow_run_id)
                    .await
                {
                    tracing::warn!(%workflow_run_id, error = %release, "could not release the idempotency key");
                }
                Err(e)
            }
            // The runs may be stored: the key keeps the run id, so a retry stores nothing twice.
            Err(e) => Err(e),
        }
    }

    /// Triggers workflow `key`: identifies inline recipients and actor, durably stores one
    /// workflow run and one recipient run per distinct recipient, then asks the waker to start
    /// them. Returns the workflow run id once the runs are stored.
    pub async fn trigger(&self, key: &str, request: TriggerRequest) -> Result<Uuid, EngineError> {
        self.trigger_as(key, request, ids::new_workflow_run_id())
            .await
    }

    /// [`Engine::trigger`] with a given workflow run id: triggering again with the same id
    /// stores nothing new (a `trigger_workflow` step derives it, so its retries are harmless).
    pub(super) async fn trigger_as(
        &self,
        key: &str,
        mut request: TriggerRequest,
        workflow_run_id: Uuid,
    ) -> Result<Uuid, EngineError> {
        let workflow = self
            .workflows
            .get(key)
            .ok_or_else(|| EngineError::WorkflowMissing(key.to_string()))?;
        let now = self.now();
        if let Some(schema) = &workflow.trigger_data_schema {
            // Validated in place: a 10 MB `data` is not copied.
            let data = Value::Object(std::mem::take(&mut request.data));
            let errors: Vec<FieldError> = schema
                .iter_errors(&data)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    let field = path
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .fold(String::from("data"), |f, seg| format!("{f}.{seg}"));
                    FieldError::new(field, e.to_string())
                })
                .collect();
            if let Value::Object(fields) = data {
                request.data = fields;
            }
            if !errors.is_empty() {
                return Err(EngineError::InvalidParams(errors));
            }
        }
        let encoded = super::data::encode(&request.data)?;
        if encoded.len() > MAX_DATA_BYTES {
            return Err(EngineError::InvalidParams(vec![FieldError::new(
                "data",
                format!("must be at most {MAX_DATA_BYTES} bytes as JSON"),
            )]));
        }
        if let Some(actor) = &request.actor {
            let bare_user = actor.reference.is_user() && actor.properties.is_empty();
            if bare_user && self.store.get_user(&actor.reference.id).await?.is_none() {
                return Err(EngineError::ActorMissing(actor.reference.id.clone()));
            }
        }
        // Knock guarantees inline recipients are identified before the workflow runs.
        for who in request.recipients.iter().chain(request.actor.iter()) {
            self.identify_inline(who, now).await?;
        }
        if let Some(tenant) = &request.tenant {
            match &request.tenant_body {
                Some(body) => {
                    self.set_tenant(tenant, body).await?;
                }
                // Knock creates a stub for a tenant it has not seen.
                None if self.store.get_object(TENANTS, tenant).await?.is_none() => {
                    self.store
                        .upsert_object(TENANTS, tenant, &Map::new(), now)
                        .await?;
                }
                None => {}
            }
        }
        // Stored once (when large) before any run names it; every run of the trigger refers to it.
        let base = self.keep_encoded(request.data, &encoded).await?;
        drop(encoded);
        let mut seen = HashSet::new();
        let mut runs = Vec::with_capacity(request.recipients.len());
        for r in &request.recipients {
            if !seen.insert(r.reference.id_key()) {
                continue;
            }
            let mut data = RunData::of(base.clone());
            if let Some(extra) = &r.trigger_data {
                data = data.with(None, self.keep_data(extra.clone()).await?);
            }
            runs.push(RecipientRun {
                id: ids::recipient_run_id(workflow_run_id, &r.reference),
                workflow_run_id,
                workflow_key: workflow.key.clone(),
                recipient: r.reference.clone(),
                actor: request.actor.as_ref().map(|a| a.reference.clone()),
                tenant: request.tenant.clone(),
                cancellation_key: request.cancellation_key.clone(),
                data,
                subscription: None,
                settings: request.settings,
                status: RunStatus::Queued,
                cursor: 0,
                wake_at: None,
                error_count: 0,
                attempt: 0,
                batch: None,
                workflow_version: Some(workflow.version.clone()),
                inserted_at: now,
                updated_at: now,
            });
        }
        // Objects among the recipients fan out to their subscribers, page by page, from the
        // resume; the fan-out is stored with the run, atomically, so a cancel sees both or
        // neither.
        let mut sources: Vec<Source> = Vec::new();
        for r in &request.recipients {
            let source = Source {
                object: r.reference.clone(),
                depth: 1,
            };
            if !r.reference.is_user() && !sources.contains(&source) {
                sources.push(source);
            }
        }
        let fanout = (!sources.is_empty()).then(|| FanOut {
            workflow_run_id,
            workflow_key: workflow.key.clone(),
            cancellation_key: request.cancellation_key.clone(),
            actor: request.actor.as_ref().map(|a| a.reference.clone()),
            tenant: request.tenant.clone(),
            data: RunData::of(base.clone()),
            settings: request.settings,
            workflow_version: Some(workflow.version.clone()),
            queue: sources,
            after: None,
            excluded: Vec::new(),
            cancelled: false,
            version: 1,
        });
        let run = WorkflowRun {
            id: workflow_run_id,
            workflow_key: workflow.key.clone(),
            cancellation_key: request.cancellation_key,
            actor: request.actor.map(|a| a.reference),
            tenant: request.tenant,
            data: RunData::of(base),
            recipient_count: runs.len(),
            inserted_at: now,
        };
        // Before any run names the version, so a later step can always find it.
        self.keep_version(&workflow).await?;
        self.store.insert_run(&run, &runs, fanout.as_ref()).await?;
        // The runs are durable now; a failed start is recovered by the adapter (a restart scan
        // locally, the table stream on AWS), so it must not fail the trigger.
        if let Err(e) = self.waker.start_new_run(workflow_run_id).await {
            tracing::warn!(%workflow_run_id, error = %e, "could not start the run at once; it will be recovered");
        }
        Ok(workflow_run_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: EngineError) -> Vec<String> {
        match e {
            EngineError::InvalidParams(errs) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid params, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_full_knock_body() {
        let r = TriggerRequest::from_json(&json!({
            "recipients": ["u1", {"id": "u2", "email": "b@x"}, {"id": "p", "collection": "projects"}],
            "actor": "u1", "data": {"a": 1}, "cancellation_key": "k", "tenant": "acme",
            "settings": {"skip_delay": true}
        }))
        .unwrap();
        assert_eq!(r.recipients.len(), 3);
        assert_eq!(r.tenant.as_deref(), Some("acme"));
        assert!(r.settings.skip_delay);
    }

    #[test]
    fn collects_every_invalid_field() {
        let e = TriggerRequest::from_json(&json!({
            "recipients": [3], "data": [1], "cancellation_key": 5, "settings": {"skip_delay": "yes"}
        }))
        .unwrap_err();
        assert_eq!(
            fields(e),
            vec!["recipients[0]", "data", "cancellation_key", "settings"]
        );
    }

    #[test]
    fn enforces_recipient_bounds() {
        assert_eq!(
            fields(TriggerRequest::from_json(&json!({})).unwrap_err()),
            vec!["recipients"]
        );
        assert_eq!(
            fields(TriggerRequest::from_json(&json!({"recipients": []})).unwrap_err()),
            vec!["recipients"]
        );
        let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
        assert_eq!(
            fields(TriggerRequest::from_json(&json!({"recipients": many})).unwrap_err()),
            vec!["recipients"]
        );
        let max: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        assert!(TriggerRequest::from_json(&json!({"recipients": max})).is_ok());
    }
}
