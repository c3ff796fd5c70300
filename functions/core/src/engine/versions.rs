//! Pinned workflow versions: a trigger stores the version of the definition it runs, and every
//! later step of its runs executes that version, even after the loaded workflows changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::Engine;
use crate::definition::{from_json, Workflow};
use crate::error::EngineError;
use crate::run::RecipientRun;

/// What one engine knows of versions: those it stored, and older ones it loaded back.
#[derive(Debug, Default)]
pub(super) struct Versions {
    stored: Mutex<HashSet<(String, String)>>,
    loaded: Mutex<HashMap<(String, String), Arc<Workflow>>>,
}

impl Engine {
    /// Stores `workflow`'s version before any run names it (once per process and version).
    pub(super) async fn keep_version(&self, workflow: &Workflow) -> Result<(), EngineError> {
        let id = (workflow.key.clone(), workflow.version.clone());
        if self.versions.stored.lock().is_ok_and(|s| s.contains(&id)) {
            return Ok(());
        }
        self.store
            .put_definition(&workflow.key, &workflow.version, &workflow.definition)
            .await?;
        if let Ok(mut stored) = self.versions.stored.lock() {
            stored.insert(id);
        }
        Ok(())
    }

    /// The workflow `run` executes, if this engine has it at hand: the loaded one when it is
    /// the run's version (or the run is from before versions were kept), else a version loaded
    /// back earlier.
    pub(super) fn known_workflow_of(&self, run: &RecipientRun) -> Option<Arc<Workflow>> {
        let current = self.workflows.get(&run.workflow_key);
        let Some(version) = &run.workflow_version else {
            return current;
        };
        if let Some(current) = current.filter(|w| &w.version == version) {
            return Some(current);
        }
        let id = (run.workflow_key.clone(), version.clone());
        self.versions.loaded.lock().ok()?.get(&id).cloned()
    }

    /// The workflow `run` executes: the version it was triggered with, loaded back from the
    /// store if this engine does not have it. `None` if the workflow is neither loaded nor
    /// stored.
    pub(super) async fn workflow_of(
        &self,
        run: &RecipientRun,
    ) -> Result<Option<Arc<Workflow>>, EngineError> {
        if let Some(known) = self.known_workflow_of(run) {
            return Ok(Some(known));
        }
        let Some(version) = &run.workflow_version else {
            return Ok(None);
        };
        let id = (run.workflow_key.clone(), version.clone());
        let Some(definition) = self.store.get_definition(&id.0, &id.1).await? else {
            return Err(EngineError::VersionUnavailable(format!(
                "version {version} of workflow `{}` is not stored",
                run.workflow_key
            )));
        };
        let workflow = from_json(&id.0, &definition, self.workflows.channels()).map_err(|e| {
            EngineError::VersionUnavailable(format!(
                "version {version} of workflow `{}` no longer loads: {e}",
                run.workflow_key
            ))
        })?;
        let workflow = Arc::new(workflow);
        if let Ok(mut loaded) = self.versions.loaded.lock() {
            loaded.insert(id, workflow.clone());
        }
        Ok(Some(workflow))
    }
}
