//! Throttle steps: let at most `limit` runs per recipient (and key) through per window.

use serde_json::json;

use super::batch::render_key;
use super::StepContext;
use crate::definition::ThrottleStep;
use crate::engine::window::{ahead, resolve_path, timezone};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ports::Admission;
use crate::run::{RecipientRun, RunEvent};

impl Engine {
    /// A throttle step: the run goes on if admitted, else it ends here.
    pub(in crate::engine) async fn throttle_step(
        &self,
        cx: StepContext<'_, ThrottleStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, step, run, scope, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "throttle"));
        let window_ends = match (&step.window, &step.window_field_path) {
            (Some(d), _) => d
                .add_to(now)
                .ok_or_else(|| "the window overflows".to_string()),
            (None, Some(p)) => resolve_path(scope, p, now, timezone(scope, self.default_timezone)),
            (None, None) => Err("no window".to_string()),
        };
        let key = render_key(step.key.as_ref(), scope);
        let (window_ends, key) = match (ahead(window_ends, now), key) {
            (Ok(w), Ok(k)) => (w, k),
            (Err(why), _) | (_, Err(why)) => {
                // Knock: an invalid window or key skips the step.
                let event = RunEvent::error("step_skipped", here, json!({"message": why}), now);
                return self.continue_with(workflow, run, event, now).await;
            }
        };
        let throttle_key =
            crate::batch::throttle_key(&workflow.key, &step.step_ref, &run.recipient, &key);
        let admitted = self
            .store
            .throttle(&throttle_key, run.id, step.limit, window_ends, now)
            .await?;
        if admitted == Admission::Admitted {
            let event = RunEvent::ok("throttle_passed", here, json!({"key": key}), now);
            self.continue_with(workflow, run, event, now).await
        } else {
            let event = RunEvent::ok(
                "throttled",
                here,
                json!({"key": key, "limit": step.limit}),
                now,
            );
            self.halt(workflow, run, event, now).await
        }
    }
}
