use std::path::PathBuf;

use thiserror::Error;

/// Why a workflow definition could not be loaded: always names the file, and the step when known.
#[derive(Debug, Error)]
#[error("{}{}: {message}", file.display(), step_ref.as_ref().map(|r| format!(" (step `{r}`)")).unwrap_or_default())]
pub struct DefinitionError {
    /// The file at fault.
    pub file: PathBuf,
    /// The `ref` of the step at fault, if the error is in a step.
    pub step_ref: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl DefinitionError {
    /// An error in `file`, outside any step.
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            step_ref: None,
            message: message.into(),
        }
    }

    /// An error in step `step_ref` of `file`.
    pub fn step(file: impl Into<PathBuf>, step_ref: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            step_ref: Some(step_ref.to_string()),
            message: message.into(),
        }
    }
}
