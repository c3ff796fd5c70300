use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::Arc;

use serde_json::Value;

use super::files::WorkflowFiles;
use super::{parse_workflow, Channels, DefinitionError, Workflow};
use crate::preference::PreferenceSet;

/// The loaded workflows, by key.
#[derive(Debug, Default, Clone)]
pub struct WorkflowSet {
    by_key: HashMap<String, Arc<Workflow>>,
    default_preferences: Option<PreferenceSet>,
    channels: Channels,
}

impl WorkflowSet {
    /// A set holding `workflows`.
    pub fn new(workflows: impl IntoIterator<Item = Workflow>) -> Self {
        Self {
            by_key: workflows
                .into_iter()
                .map(|w| (w.key.clone(), Arc::new(w)))
                .collect(),
            default_preferences: None,
            channels: Channels::default(),
        }
    }

    /// The same set with the environment's channels (what delivery sends through).
    pub fn with_channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// The environment's channels.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Resolves the channels' `{"env": NAME}` settings (see [`Channels::resolve`]).
    pub fn resolve_channels(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), DefinitionError> {
        self.channels.resolve(lookup)
    }

    /// The same set with an environment default preference set (the lowest level of Knock's
    /// preference hierarchy).
    pub fn with_default_preferences(mut self, set: PreferenceSet) -> Self {
        self.default_preferences = Some(set);
        self
    }

    /// The environment default preference set, from `preferences.json` beside the workflows.
    pub fn default_preferences(&self) -> Option<&PreferenceSet> {
        self.default_preferences.as_ref()
    }

    /// The workflow `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Workflow>> {
        self.by_key.get(key).cloned()
    }

    /// How many workflows are loaded.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no workflow is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The keys of the loaded workflows, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<_> = self.by_key.keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }
}

/// Loads every `<dir>/<key>/workflow.json`, with channels from `<dir>/channels.json` and the
/// environment default preference set from `<dir>/preferences.json` if present. The first
/// invalid workflow fails the whole load: a half-loaded environment would drop triggers silently.
pub fn load_dir(dir: &Path) -> Result<WorkflowSet, DefinitionError> {
    load_files(&WorkflowFiles::read_dir(dir)?)
}

/// Loads the workflows of a folder's files (see [`load_dir`]), wherever they were read from.
pub fn load_files(files: &WorkflowFiles) -> Result<WorkflowSet, DefinitionError> {
    let channels_file = Path::new("channels.json");
    let mut channels = match files.text(channels_file) {
        Some(text) => Channels::parse(&text?, &files.display(channels_file))?,
        None => Channels::default(),
    };
    let parser = crate::template::parser()
        .map_err(|e| DefinitionError::file(files.display(Path::new("")), e.to_string()))?;
    for layout in super::layouts::load_layouts(files, &parser)? {
        channels.add_layout(layout);
    }
    let mut workflows = Vec::new();
    for key in files.workflow_folders() {
        let rel = Path::new(&key).join("workflow.json");
        let file = files.display(&rel);
        let Some(text) = files.text(&rel) else {
            continue;
        };
        let mut value: Value = serde_json::from_str(&text?)
            .map_err(|e| DefinitionError::file(&file, format!("invalid JSON: {e}")))?;
        inline_file_refs(&mut value, files, Path::new(&key), &file)?;
        workflows.push(parse_workflow(&key, &value, &file, &channels, &parser)?);
    }
    let set = WorkflowSet::new(workflows).with_channels(channels);
    let preferences_file = Path::new("preferences.json");
    let Some(text) = files.text(preferences_file) else {
        return Ok(set);
    };
    let preferences = files.display(preferences_file);
    let value: Value = serde_json::from_str(&text?)
        .map_err(|e| DefinitionError::file(&preferences, format!("invalid JSON: {e}")))?;
    let (default, _) = PreferenceSet::parse_request("default", &value).map_err(|errors| {
        let list: Vec<String> = errors
            .iter()
            .map(|e| format!("`{}` {}", e.field, e.message))
            .collect();
        DefinitionError::file(&preferences, list.join("; "))
    })?;
    Ok(set.with_default_preferences(default))
}

/// Replaces every `"field@": "relative/path"` with `"field": <file contents>`, as the Knock CLI
/// does; paths may not leave the workflow's folder.
pub(super) fn inline_file_refs(
    value: &mut Value,
    files: &WorkflowFiles,
    folder: &Path,
    file: &Path,
) -> Result<(), DefinitionError> {
    match value {
        Value::Object(map) => {
            let refs: Vec<(String, String)> = map
                .iter()
                .filter_map(|(k, v)| {
                    let field = k.strip_suffix('@')?;
                    Some((
                        field.to_string(),
                        v.as_str().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            for (field, rel) in refs {
                let rel_path = Path::new(&rel);
                let escapes = rel.is_empty()
                    || rel_path
                        .components()
                        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
                if escapes {
                    return Err(DefinitionError::file(
                        file,
                        format!("`{field}@` must be a relative path inside the workflow folder, got `{rel}`"),
                    ));
                }
                let contents = match files.text(&folder.join(rel_path)) {
                    Some(text) => text?,
                    None => {
                        return Err(DefinitionError::file(
                            file,
                            format!("`{field}@` refers to `{rel}`: no such file"),
                        ))
                    }
                };
                map.remove(&format!("{field}@"));
                map.insert(field, Value::String(contents));
            }
            for v in map.values_mut() {
                inline_file_refs(v, files, folder, file)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                inline_file_refs(v, files, folder, file)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Builds a one-workflow set from JSON; handy for tests and embedding.
pub fn from_json(
    key: &str,
    value: &Value,
    channels: &Channels,
) -> Result<Workflow, DefinitionError> {
    let parser =
        crate::template::parser().map_err(|e| DefinitionError::file("<inline>", e.to_string()))?;
    parse_workflow(key, value, Path::new("<inline>"), channels, &parser)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("herald-load-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn loads_folders_with_file_references_and_channels() {
        let dir = temp_dir("ok");
        write(
            &dir.join("channels.json"),
            r#"{"channels": [{"key": "feed", "type": "in_app_feed"}]}"#,
        );
        write(
            &dir.join("welcome/workflow.json"),
            r#"{"name": "Welcome", "steps": [{"ref": "f1", "type": "channel", "channel_key": "feed",
                "template": {"markdown_body@": "f1/markdown_body.md"}}]}"#,
        );
        write(
            &dir.join("welcome/f1/markdown_body.md"),
            "Hello **{{ recipient.name }}**",
        );
        let set = load_dir(&dir).unwrap();
        let w = set.get("welcome").unwrap();
        match &w.steps[0] {
            super::super::Step::Channel(c) => match &c.template {
                super::super::ChannelTemplate::InApp { markdown_body, .. } => {
                    assert_eq!(markdown_body.source(), "Hello **{{ recipient.name }}**")
                }
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refuses_escaping_references_and_names_the_file() {
        let dir = temp_dir("escape");
        write(
            &dir.join("welcome/workflow.json"),
            r#"{"name": "W", "steps": [{"ref": "f1", "type": "channel", "channel_key": "feed",
                "channel_type": "in_app_feed", "template": {"markdown_body@": "../secret.md"}}]}"#,
        );
        let e = load_dir(&dir).unwrap_err();
        assert!(e.to_string().contains("welcome/workflow.json"), "{e}");
        assert!(e.to_string().contains("relative path"), "{e}");
    }

    #[test]
    fn invalid_json_names_the_file() {
        let dir = temp_dir("json");
        write(&dir.join("broken/workflow.json"), "{ not json");
        let e = load_dir(&dir).unwrap_err();
        assert!(e.to_string().contains("broken/workflow.json"), "{e}");
    }
}
