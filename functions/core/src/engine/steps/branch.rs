//! Branch steps: take the first branch whose conditions hold.

use serde_json::json;

use super::StepContext;
use crate::definition::BranchStep;
use crate::engine::execute::Change;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::run::{RecipientRun, RunEvent, RunStatus};

impl Engine {
    /// A branch step: moves the run to the first step of the branch taken.
    pub(in crate::engine) async fn branch_step(
        &self,
        cx: StepContext<'_, BranchStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, branch, run, scope, now) = cx.parts();
        let here = Some((branch.step_ref.as_str(), "branch"));
        let taken = branch
            .branches
            .iter()
            .find(|b| b.conditions.as_ref().is_none_or(|c| c.evaluate(scope, now)));
        let Some(taken) = taken else {
            // Parsing guarantees a default branch; keep going if a definition lacks one.
            let event = RunEvent::ok("branch_taken", here, json!({"branch": null}), now);
            return self.continue_with(workflow, run, event, now).await;
        };
        let event = RunEvent::ok(
            "branch_taken",
            here,
            json!({"branch": taken.name, "terminates": taken.terminates}),
            now,
        );
        let to = workflow.resolve(taken.start);
        self.apply(run, Change::to(to, RunStatus::Processing).event(event), now)
            .await
    }
}
