use std::path::Path;

use std::collections::HashSet;

use serde_json::Value;

use super::parse_steps::{compile, parse_conditions, Context};
use super::{Channels, DefinitionError, Step};
use crate::condition::Conditions;

/// A loaded workflow.
#[derive(Debug)]
pub struct Workflow {
    /// The workflow key (its folder name).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Categories, carried on messages' `source`.
    pub categories: Vec<String>,
    /// Steps in execution order, branches flattened (see [`super::steps`]).
    pub steps: Vec<Step>,
    /// Trigger conditions: a recipient whose run fails them gets no steps at all.
    pub conditions: Option<Conditions>,
    /// `trigger_data_json_schema`: trigger `data` must validate against it.
    pub trigger_data_schema: Option<jsonschema::Validator>,
    /// `settings.override_preferences`: send regardless of recipients' preferences.
    pub override_preferences: bool,
    /// `settings.is_commercial`: blocked by `commercial_subscribed: false`.
    pub is_commercial: bool,
    /// The definition's content hash: a run executes the version it was triggered with.
    pub version: String,
    /// The definition as loaded (file references inlined), kept by version in the store.
    pub definition: std::sync::Arc<Value>,
}

/// The version of a workflow definition: the first 128 bits of its SHA-256, as hex.
pub fn version_of(definition: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(definition.to_string().as_bytes());
    crate::data::hex(&digest[..16])
}

impl Workflow {
    /// The cursor of a finished run.
    pub fn end(&self) -> u32 {
        u32::try_from(self.steps.len()).unwrap_or(u32::MAX)
    }

    /// Where a run at `cursor` really is: past the jumps that close branches.
    pub fn resolve(&self, mut cursor: u32) -> u32 {
        // Each jump points forward, so this ends within the program's length.
        while let Some(Step::Jump(to)) = self.steps.get(cursor as usize) {
            cursor = *to;
        }
        cursor.min(self.end())
    }

    /// The cursor after the step at `cursor`.
    pub fn after(&self, cursor: u32) -> u32 {
        self.resolve(cursor.saturating_add(1))
    }
}

/// Turns a `workflow.json` value (file references already inlined) into a [`Workflow`].
pub fn parse_workflow(
    key: &str,
    value: &Value,
    file: &Path,
    channels: &Channels,
    parser: &liquid::Parser,
) -> Result<Workflow, DefinitionError> {
    check_key(key).map_err(|m| DefinitionError::file(file, m))?;
    let obj = value
        .as_object()
        .ok_or_else(|| DefinitionError::file(file, "a workflow must be a JSON object"))?;
    if let Some(Value::String(declared)) = obj.get("key") {
        if declared != key {
            return Err(DefinitionError::file(
                file,
                format!("`key` is `{declared}` but the folder is `{key}`"),
            ));
        }
    }
    let name = match obj.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(DefinitionError::file(file, "`name` is required")),
    };
    let conditions =
        parse_conditions(obj.get("conditions")).map_err(|m| DefinitionError::file(file, m))?;
    let trigger_data_schema = match obj.get("trigger_data_json_schema") {
        None | Some(Value::Null) => None,
        Some(schema) => Some(jsonschema::validator_for(schema).map_err(|e| {
            DefinitionError::file(
                file,
                format!("`trigger_data_json_schema` is not a valid JSON schema: {e}"),
            )
        })?),
    };
    let settings = obj.get("settings").and_then(Value::as_object);
    let flag = |name: &str| {
        settings
            .and_then(|s| s.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let (override_preferences, is_commercial) =
        (flag("override_preferences"), flag("is_commercial"));
    let categories = match obj.get("categories") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| c.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| DefinitionError::file(file, "`categories` must be strings"))?,
        Some(_) => return Err(DefinitionError::file(file, "`categories` must be an array")),
    };
    let raw_steps = obj
        .get("steps")
        .and_then(Value::as_array)
        .ok_or_else(|| DefinitionError::file(file, "`steps` must be an array"))?;
    let mut steps = Vec::new();
    let mut cx = Context {
        file,
        channels,
        parser,
        refs: HashSet::new(),
    };
    compile(raw_steps, &mut steps, 0, &mut cx)?;
    Ok(Workflow {
        key: key.to_string(),
        name,
        categories,
        steps,
        conditions,
        trigger_data_schema,
        override_preferences,
        is_commercial,
        version: version_of(value),
        definition: std::sync::Arc::new(value.clone()),
    })
}

fn check_key(key: &str) -> Result<(), String> {
    let ok_chars = key
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if (3..=255).contains(&key.len()) && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "invalid workflow key `{key}`: 3 to 255 characters of a-z, 0-9, `-` and `_`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChannelType, Step};
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Workflow, DefinitionError> {
        let mut channels = Channels::default();
        channels.insert("in-app", ChannelType::InAppFeed);
        channels.insert("postmark", ChannelType::Email);
        let p = crate::template::parser().unwrap();
        parse_workflow(
            "invite-reminder",
            &v,
            Path::new("w/workflow.json"),
            &channels,
            &p,
        )
    }

    #[test]
    fn parses_delay_and_channel_steps() {
        let w = parse(json!({"name": "Invite", "categories": ["x"], "steps": [
            {"ref": "d", "type": "delay", "settings": {"delay_for": {"unit": "days", "value": 3}}},
            {"ref": "f", "type": "channel", "channel_key": "in-app",
             "template": {"markdown_body": "Hi {{ recipient.name }}"}}
        ]}))
        .unwrap();
        assert_eq!(w.steps.len(), 2);
        assert_eq!(w.categories, vec!["x".to_string()]);
        match &w.steps[1] {
            Step::Channel(c) => assert_eq!(c.channel_type, ChannelType::InAppFeed),
            other => panic!("expected a channel step, got {other:?}"),
        }
    }

    fn error_of(v: Value) -> DefinitionError {
        match parse(v) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_name_the_step() {
        let e = error_of(json!({"name": "n", "steps": [{"ref": "s1", "type": "teleport"}]}));
        assert_eq!(e.step_ref.as_deref(), Some("s1"));
        assert!(
            e.to_string().contains("unknown step type `teleport`"),
            "{e}"
        );
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "c1", "type": "channel", "channel_key": "nope", "template": {"markdown_body": "x"}}]}));
        assert!(e.to_string().contains("unknown channel `nope`"), "{e}");
        assert!(e.to_string().contains("w/workflow.json (step `c1`)"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "c2", "type": "channel", "channel_key": "postmark", "template": {"subject": "x"}}]}));
        assert!(e.to_string().contains("`template.html_body`"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "s3", "type": "channel", "channel_key": "sms", "channel_type": "sms", "template": {"text_body": "x"}}]}));
        assert!(e.to_string().contains("needs an entry"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "e4", "type": "channel", "channel_key": "postmark", "template": {"subject": "x", "html_body": "y", "settings": {"layout_key": "none"}}}]}));
        assert!(e.to_string().contains("no layout `none`"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [{"ref": "b", "type": "batch"}]}));
        assert!(e.to_string().contains("needs `batch_window`"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [{"ref": "b", "type": "wait_for_event"}]}));
        assert!(
            e.to_string().contains("`wait_for_event` is not supported"),
            "{e}"
        );
        let e = error_of(
            json!({"name": "n", "steps": [{"ref": "b", "type": "branch", "branches": [
            {"name": "only", "conditions": {"all": [{"variable": "data.x", "operator": "exists"}]}, "steps": []}]}]}),
        );
        assert!(e.to_string().contains("default branch"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "d", "type": "delay", "settings": {"delay_for": {"unit": "eons", "value": 1}}}]}));
        assert_eq!(e.step_ref.as_deref(), Some("d"));
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "c3", "type": "channel", "channel_key": "in-app", "template": {"markdown_body": "{% if %}"}}]}));
        assert!(e.to_string().contains("template.markdown_body"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [
            {"ref": "x", "type": "delay", "settings": {"delay_for": {"unit": "days", "value": 1}}},
            {"ref": "x", "type": "delay", "settings": {"delay_for": {"unit": "days", "value": 1}}}]}));
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn branches_flatten_into_a_program_with_jumps() {
        let feed = |r: &str| json!({"ref": r, "type": "channel", "channel_key": "in-app", "template": {"markdown_body": "x"}});
        let w = parse(json!({"name": "n", "steps": [
            {"ref": "b", "type": "branch", "branches": [
                {"name": "pro", "conditions": {"all": [{"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}]},
                 "steps": [feed("p1"), {"ref": "inner", "type": "branch", "branches": [
                     {"name": "d", "terminates": true, "steps": [feed("p2")]}]}]},
                {"name": "default", "steps": []}]},
            feed("after")]}))
        .unwrap();
        // 0 branch, 1 p1, 2 inner, 3 p2, 4 jump(end), 5 jump(6), 6 jump(7) [default], 7 after
        let names: Vec<_> = w.steps.iter().map(|s| s.type_name()).collect();
        assert_eq!(
            names,
            ["branch", "channel", "branch", "channel", "jump", "jump", "jump", "channel"]
        );
        assert_eq!(w.resolve(4), w.end());
        assert_eq!(w.resolve(5), 7);
        assert_eq!(w.after(3), w.end(), "the inner branch terminates");
        match &w.steps[0] {
            Step::Branch(b) => {
                assert_eq!(b.branches[0].start, 1);
                assert_eq!(w.resolve(b.branches[1].start), 7);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        let p = crate::template::parser().unwrap();
        let v = json!({"name": "n", "steps": []});
        for key in ["ab", "Has-Caps", "sp ace"] {
            assert!(parse_workflow(key, &v, Path::new("f"), &Channels::default(), &p).is_err());
        }
    }
}
