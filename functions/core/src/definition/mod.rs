//! Workflow definitions in Knock's `workflow.json` format, and loading them from a folder's
//! files (read from disk, or compiled into the functions).
//!
//! Layout, as the Knock CLI writes it: `<dir>/<workflow-key>/workflow.json`, where any string
//! field may be moved to a file by suffixing its key with `@` (`"markdown_body@":
//! "in_app_feed_1/markdown_body.md"`). Channels live in `<dir>/channels.json`, because Knock keeps
//! them in account settings and pulled workflows carry only the `channel_key`.

mod channels;
mod duration;
mod error;
mod files;
mod layouts;
mod load;
mod parse_steps;
pub mod steps;
mod workflow;

pub use channels::{Channel, ChannelType, Channels, Provider};
pub use duration::{Duration, DurationUnit};
pub use error::DefinitionError;
pub use files::WorkflowFiles;
pub use layouts::Layout;
pub use load::{from_json, load_dir, load_files, WorkflowSet};
pub use steps::{
    BatchKey, BatchOrder, BatchStep, Branch, BranchStep, ChannelStep, ChannelTemplate, DelayStep,
    FetchStep, Pair, Step, ThrottleStep, TriggerWorkflowStep,
};
pub use workflow::{parse_workflow, Workflow};
