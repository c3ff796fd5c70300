//! Preference sets through the engine: write (replace or merge), read, and resolve the effective
//! set of a recipient for one send.

use serde_json::Value;

use super::Engine;
use crate::error::{EngineError, StoreError};
use crate::ports::{StoredPreferenceSet, WriteIf};
use crate::preference::{Hierarchy, Persistence, PreferenceSet};
use crate::recipient::RecipientRef;

/// The id of a recipient's global preference set.
pub const DEFAULT_SET: &str = "default";

/// How often a merge retries after losing a race with another writer of the same set.
const MERGE_ATTEMPTS: usize = 16;

fn decode(stored: &StoredPreferenceSet) -> Result<PreferenceSet, StoreError> {
    PreferenceSet::parse_request(&stored.set_id, &stored.set)
        .map(|(set, _)| set)
        .map_err(|errors| {
            StoreError::Corrupt(format!(
                "preference set `{}`: {}",
                stored.set_id,
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })
}

impl Engine {
    /// Writes preference set `set_id` of `owner` from a `PreferenceSetRequest` body: replaces the
    /// stored set, or deep-merges into it with `__persistence_strategy__: "merge"`.
    pub async fn set_preferences(
        &self,
        owner: &RecipientRef,
        set_id: &str,
        body: &Value,
    ) -> Result<PreferenceSet, EngineError> {
        crate::limits::check_name(set_id).map_err(|why| EngineError::invalid("id", &why))?;
        let (set, persistence) =
            PreferenceSet::parse_request(set_id, body).map_err(EngineError::InvalidParams)?;
        match persistence {
            Persistence::Replace => {
                // An unconditional write has no race to lose.
                let _always: crate::ports::Write = self
                    .store
                    .put_preference_set(owner, set_id, &set.to_wire(), WriteIf::Always, self.now())
                    .await?;
                Ok(set)
            }
            Persistence::Merge => Ok(self.merge_preferences(owner, set).await?),
        }
    }

    /// Deep-merges `set` into the stored set of the same id, retrying while another writer
    /// changes it in between (a conditional write, never a blind read-modify-write).
    async fn merge_preferences(
        &self,
        owner: &RecipientRef,
        set: PreferenceSet,
    ) -> Result<PreferenceSet, StoreError> {
        for _ in 0..MERGE_ATTEMPTS {
            let (merged, condition) = match self.store.get_preference_set(owner, &set.id).await? {
                None => (set.clone(), WriteIf::Absent),
                Some(stored) => {
                    let mut merged = decode(&stored)?;
                    merged.merge_from(&set);
                    (merged, WriteIf::Version(stored.version))
                }
            };
            let at = self.now();
            if self
                .store
                .put_preference_set(owner, &set.id, &merged.to_wire(), condition, at)
                .await?
                .applied()
            {
                return Ok(merged);
            }
        }
        Err(StoreError::Contention(format!(
            "preference set `{}` kept changing during a merge",
            set.id
        )))
    }

    /// Parses inline `preferences` (`{set_id: PreferenceSetRequest}`) of an identify or trigger.
    pub(super) fn parse_inline_preferences(
        &self,
        value: Option<&Value>,
        field: &str,
    ) -> Result<Vec<PreferenceSet>, EngineError> {
        let map = match value {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(EngineError::invalid(
                    field,
                    "must be an object of preference sets",
                ))
            }
        };
        let mut sets = Vec::with_capacity(map.len());
        let mut errors = Vec::new();
        for (id, body) in map {
            if let Err(why) = crate::limits::check_name(id) {
                errors.push(crate::error::FieldError::new(format!("{field}.{id}"), why));
                continue;
            }
            match PreferenceSet::parse_request(id, body) {
                Ok((set, _)) => sets.push(set),
                Err(errs) => errors.extend(errs.into_iter().map(|mut e| {
                    e.field = format!("{field}.{id}.{}", e.field);
                    e
                })),
            }
        }
        if errors.is_empty() {
            Ok(sets)
        } else {
            Err(EngineError::InvalidParams(errors))
        }
    }

    /// Merges inline preference sets (Knock merges inline preferences, never replaces).
    pub(super) async fn merge_inline_preferences(
        &self,
        owner: &RecipientRef,
        sets: Vec<PreferenceSet>,
    ) -> Result<(), EngineError> {
        for set in sets {
            self.merge_preferences(owner, set).await?;
        }
        Ok(())
    }

    /// A stored preference set.
    pub async fn preferences(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<PreferenceSet>, EngineError> {
        match self.store.get_preference_set(owner, set_id).await? {
            Some(stored) => Ok(Some(decode(&stored)?)),
            None => Ok(None),
        }
    }

    /// Deletes a preference set of `owner`.
    pub async fn delete_preferences(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<crate::ports::Removal, EngineError> {
        Ok(self.store.delete_preference_set(owner, set_id).await?)
    }

    /// Every preference set of `owner`.
    pub async fn list_preferences(
        &self,
        owner: &RecipientRef,
    ) -> Result<Vec<PreferenceSet>, EngineError> {
        let stored = self.store.list_preference_sets(owner).await?;
        Ok(stored.iter().map(decode).collect::<Result<_, _>>()?)
    }

    /// The effective preference set of `recipient` for a send in `tenant`, by Knock's merge
    /// hierarchy; `None` when no set applies (everything opted in). `tenant_object` is the
    /// tenant as the step's scope already read it; its `settings.preference_set` is the
    /// tenant's default set.
    pub async fn effective_preferences(
        &self,
        recipient: &RecipientRef,
        tenant: Option<&str>,
        tenant_object: &Value,
    ) -> Result<Option<PreferenceSet>, StoreError> {
        let recipient_default = self.stored(recipient, DEFAULT_SET).await?;
        let (mut recipient_tenant, mut tenant_default) = (None, None);
        if let Some(tenant) = tenant {
            recipient_tenant = self.stored(recipient, tenant).await?;
            tenant_default = tenant_default_preferences(tenant, tenant_object)?;
        }
        let environment_default = self.workflows.default_preferences();
        Ok(Hierarchy {
            environment_default,
            recipient_default: recipient_default.as_ref(),
            tenant_default: tenant_default.as_ref(),
            recipient_tenant: recipient_tenant.as_ref(),
        }
        .effective())
    }

    async fn stored(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<PreferenceSet>, StoreError> {
        self.store
            .get_preference_set(owner, set_id)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }
}

/// A tenant's default set: its `settings.preference_set`.
fn tenant_default_preferences(
    tenant: &str,
    tenant_object: &Value,
) -> Result<Option<PreferenceSet>, StoreError> {
    let Some(body) = tenant_object
        .get("settings")
        .and_then(|s| s.get("preference_set"))
        .filter(|v| !v.is_null())
    else {
        return Ok(None);
    };
    PreferenceSet::parse_request(tenant, body)
        .map(|(set, _)| Some(set))
        .map_err(|_| {
            StoreError::Corrupt(format!("tenant `{tenant}` has an invalid preference_set"))
        })
}
