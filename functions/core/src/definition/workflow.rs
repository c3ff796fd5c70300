use std::path::Path;

use serde_json::{Map, Value};

use super::{ChannelType, Channels, DefinitionError, Duration};
use crate::condition::Conditions;
use crate::template::Template;

/// A loaded workflow.
#[derive(Debug)]
pub struct Workflow {
    /// The workflow key (its folder name).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Categories, carried on messages' `source`.
    pub categories: Vec<String>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Trigger conditions: a recipient whose run fails them gets no steps at all.
    pub conditions: Option<Conditions>,
    /// `trigger_data_json_schema`: trigger `data` must validate against it.
    pub trigger_data_schema: Option<jsonschema::Validator>,
    /// `settings.override_preferences`: send regardless of recipients' preferences.
    pub override_preferences: bool,
    /// `settings.is_commercial`: blocked by `commercial_subscribed: false`.
    pub is_commercial: bool,
}

/// One step of a workflow.
#[derive(Debug)]
pub enum Step {
    /// Pauses the run.
    Delay(DelayStep),
    /// Creates a message on a channel.
    Channel(ChannelStep),
}

impl Step {
    /// The step's `ref`.
    pub fn step_ref(&self) -> &str {
        match self {
            Step::Delay(s) => &s.step_ref,
            Step::Channel(s) => &s.step_ref,
        }
    }

    /// The step's `conditions`: the step is skipped when they do not hold.
    pub fn conditions(&self) -> Option<&Conditions> {
        match self {
            Step::Delay(s) => s.conditions.as_ref(),
            Step::Channel(s) => s.conditions.as_ref(),
        }
    }

    /// The step's Knock type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Step::Delay(_) => "delay",
            Step::Channel(_) => "channel",
        }
    }
}

/// A `delay` step: a fixed wait, a wait until a timestamp found in the run's data, or both (the
/// duration is then an offset from the timestamp).
#[derive(Debug)]
pub struct DelayStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// `settings.delay_for`.
    pub delay_for: Option<Duration>,
    /// `settings.delay_until_field_path` (`data.due_at`, `recipient.x`, `actor.x`).
    pub delay_until_field_path: Option<String>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

/// A `channel` step.
#[derive(Debug)]
pub struct ChannelStep {
    /// The step's `ref`.
    pub step_ref: String,
    /// The channel the message goes to.
    pub channel_key: String,
    /// The channel's type.
    pub channel_type: ChannelType,
    /// `template.markdown_body`.
    pub markdown_body: Template,
    /// `template.action_url`.
    pub action_url: Option<Template>,
    /// Step conditions.
    pub conditions: Option<Conditions>,
}

const DELAY_PATH_PREFIXES: &[&str] = &["data.", "recipient.", "actor.", "tenant."];

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
    let conditions = parse_conditions(obj.get("conditions"), "conditions")
        .map_err(|m| DefinitionError::file(file, m))?;
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
    let mut steps = Vec::with_capacity(raw_steps.len());
    for (i, raw) in raw_steps.iter().enumerate() {
        let step = parse_step(raw, i, file, channels, parser)?;
        if steps.iter().any(|s: &Step| s.step_ref() == step.step_ref()) {
            return Err(DefinitionError::step(
                file,
                step.step_ref(),
                "duplicate step ref",
            ));
        }
        steps.push(step);
    }
    Ok(Workflow {
        key: key.to_string(),
        name,
        categories,
        steps,
        conditions,
        trigger_data_schema,
        override_preferences,
        is_commercial,
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

/// Parses optional `conditions`; an empty value means none.
fn parse_conditions(value: Option<&Value>, field: &str) -> Result<Option<Conditions>, String> {
    match value {
        Some(v) if !is_empty(v) => Conditions::from_json(v, field).map(Some).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("`{}` {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        }),
        _ => Ok(None),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn parse_step(
    raw: &Value,
    index: usize,
    file: &Path,
    channels: &Channels,
    parser: &liquid::Parser,
) -> Result<Step, DefinitionError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| DefinitionError::file(file, format!("step {index} is not an object")))?;
    let step_ref = match obj.get("ref") {
        Some(Value::String(r)) if !r.is_empty() => r.clone(),
        _ => {
            return Err(DefinitionError::file(
                file,
                format!("step {index} has no `ref`"),
            ))
        }
    };
    let err = |m: String| DefinitionError::step(file, &step_ref, m);
    let conditions = parse_conditions(obj.get("conditions"), "conditions").map_err(err)?;
    let settings = match obj.get("settings") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(s)) => s.clone(),
        Some(_) => return Err(err("`settings` must be an object".into())),
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("delay") => parse_delay(step_ref.clone(), &settings)
            .map(|d| Step::Delay(DelayStep { conditions, ..d }))
            .map_err(err),
        Some("channel") => parse_channel(step_ref.clone(), obj, channels, parser)
            .map(|c| Step::Channel(ChannelStep { conditions, ..c }))
            .map_err(err),
        Some(
            t @ ("batch" | "throttle" | "branch" | "http_fetch" | "trigger_workflow"
            | "wait_for_event" | "update_data" | "update_user" | "update_object"
            | "update_tenant" | "random_cohort" | "ai_agent"),
        ) => Err(err(format!(
            "step type `{t}` is not supported by this version of Herald"
        ))),
        Some(t) => Err(err(format!("unknown step type `{t}`"))),
        None => Err(err("`type` is required".into())),
    }
}

fn parse_delay(step_ref: String, settings: &Map<String, Value>) -> Result<DelayStep, String> {
    let delay_for = match settings.get("delay_for") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Duration::from_value(v).ok_or(
            "`delay_for` must be {\"unit\": seconds|minutes|hours|days|weeks|months, \"value\": integer}",
        )?),
    };
    let delay_until_field_path = match settings.get("delay_until_field_path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if DELAY_PATH_PREFIXES.iter().any(|x| p.starts_with(x)) => {
            Some(p.clone())
        }
        Some(_) => {
            return Err(
                "`delay_until_field_path` must be a path starting with data., recipient., actor. or tenant."
                    .into(),
            )
        }
    };
    if delay_for.is_none() && delay_until_field_path.is_none() {
        return Err("a delay needs `delay_for` or `delay_until_field_path`".into());
    }
    Ok(DelayStep {
        step_ref,
        delay_for,
        delay_until_field_path,
        conditions: None,
    })
}

fn parse_channel(
    step_ref: String,
    obj: &Map<String, Value>,
    channels: &Channels,
    parser: &liquid::Parser,
) -> Result<ChannelStep, String> {
    let channel_key = match obj.get("channel_key") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err("`channel_key` is required".into()),
    };
    let declared = match obj.get("channel_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => {
            Some(ChannelType::parse(t).ok_or_else(|| format!("unknown channel type `{t}`"))?)
        }
        Some(_) => return Err("`channel_type` must be a string".into()),
    };
    let channel_type = match (declared, channels.get(&channel_key)) {
        (Some(d), Some(c)) if d != c => {
            return Err(format!(
                "channel `{channel_key}` is {c:?} in channels.json but the step says {d:?}"
            ))
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err(format!(
                "unknown channel `{channel_key}`: add it to channels.json or give the step a `channel_type`"
            ))
        }
    };
    if channel_type != ChannelType::InAppFeed {
        return Err(format!(
            "channel type {channel_type:?} is not supported by this version of Herald (only in_app_feed)"
        ));
    }
    let template = obj
        .get("template")
        .and_then(Value::as_object)
        .ok_or("`template` is required")?;
    let compile = |field: &str| -> Result<Option<Template>, String> {
        match template.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Template::parse(parser, s)
                .map(Some)
                .map_err(|e| format!("`template.{field}`: {e}")),
            Some(_) => Err(format!("`template.{field}` must be a string")),
        }
    };
    let markdown_body = compile("markdown_body")?.ok_or("`template.markdown_body` is required")?;
    Ok(ChannelStep {
        step_ref,
        channel_key,
        channel_type,
        markdown_body,
        action_url: compile("action_url")?,
        conditions: None,
    })
}

#[cfg(test)]
mod tests {
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
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = error_of(json!({"name": "n", "steps": [{"ref": "b", "type": "batch"}]}));
        assert!(e.to_string().contains("`batch` is not supported"), "{e}");
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
    fn bad_keys_are_refused() {
        let p = crate::template::parser().unwrap();
        let v = json!({"name": "n", "steps": []});
        for key in ["ab", "Has-Caps", "sp ace"] {
            assert!(parse_workflow(key, &v, Path::new("f"), &Channels::default(), &p).is_err());
        }
    }
}
