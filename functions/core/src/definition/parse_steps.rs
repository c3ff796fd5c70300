//! Parsing a workflow's `steps` into the flat program the engine runs (see [`super::steps`]).

use std::collections::HashSet;
use std::path::Path;

use serde_json::{Map, Value};

use super::steps::*;
use super::{ChannelTemplate, ChannelType, Channels, DefinitionError, Duration};
use crate::condition::Conditions;
use crate::template::Template;

/// Knock's limits on branch steps.
const MAX_BRANCH_DEPTH: usize = 5;
const MAX_BRANCHES: usize = 10;

/// Where a dynamic window or delay may read from.
const PATH_PREFIXES: &[&str] = &["data.", "recipient.", "actor.", "tenant.", "vars."];

/// What every step parser needs.
pub(super) struct Context<'a> {
    pub file: &'a Path,
    pub channels: &'a Channels,
    pub parser: &'a liquid::Parser,
    pub refs: HashSet<String>,
}

/// Appends the steps in `raw` (and, for branches, their branches' steps) to `program`.
pub(super) fn compile(
    raw: &[Value],
    program: &mut Vec<Step>,
    depth: usize,
    cx: &mut Context<'_>,
) -> Result<(), DefinitionError> {
    for (i, raw) in raw.iter().enumerate() {
        let obj = raw
            .as_object()
            .ok_or_else(|| DefinitionError::file(cx.file, format!("step {i} is not an object")))?;
        let step_ref = match obj.get("ref") {
            Some(Value::String(r)) if !r.is_empty() => r.clone(),
            _ => {
                return Err(DefinitionError::file(
                    cx.file,
                    format!("step {i} has no `ref`"),
                ))
            }
        };
        if !cx.refs.insert(step_ref.clone()) {
            return Err(DefinitionError::step(
                cx.file,
                &step_ref,
                "duplicate step ref",
            ));
        }
        if obj.get("type").and_then(Value::as_str) == Some("branch") {
            compile_branch(step_ref, obj, program, depth, cx)?;
        } else {
            let step = parse_step(&step_ref, obj, cx)
                .map_err(|m| DefinitionError::step(cx.file, &step_ref, m))?;
            program.push(step);
        }
    }
    Ok(())
}

fn compile_branch(
    step_ref: String,
    obj: &Map<String, Value>,
    program: &mut Vec<Step>,
    depth: usize,
    cx: &mut Context<'_>,
) -> Result<(), DefinitionError> {
    let file = cx.file;
    let err = |m: &str| DefinitionError::step(file, &step_ref, m);
    if depth >= MAX_BRANCH_DEPTH {
        return Err(err("branches nest at most 5 deep"));
    }
    let raw_branches = obj
        .get("branches")
        .and_then(Value::as_array)
        .ok_or_else(|| err("`branches` must be an array"))?;
    if raw_branches.is_empty() || raw_branches.len() > MAX_BRANCHES {
        return Err(err("a branch step has 1 to 10 branches"));
    }
    let at = program.len();
    program.push(Step::Jump(0)); // replaced by the branch step below
    let mut branches = Vec::with_capacity(raw_branches.len());
    let mut ends = Vec::with_capacity(raw_branches.len());
    for (i, b) in raw_branches.iter().enumerate() {
        let b = b
            .as_object()
            .ok_or_else(|| err("each branch must be an object"))?;
        let name = b
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("Branch")
            .to_string();
        let conditions = parse_conditions(b.get("conditions")).map_err(|m| err(&m))?;
        let last = i + 1 == raw_branches.len();
        if last && conditions.is_some() {
            return Err(err(
                "the last branch is the default branch and has no conditions",
            ));
        }
        let terminates = b
            .get("terminates")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let steps = match b.get("steps") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(s)) => s.clone(),
            Some(_) => return Err(err("a branch's `steps` must be an array")),
        };
        let start = index(program.len());
        compile(&steps, program, depth + 1, cx)?;
        ends.push((program.len(), terminates));
        program.push(Step::Jump(0));
        branches.push(Branch {
            name,
            conditions,
            start,
            terminates,
        });
    }
    let after = index(program.len());
    for (end, terminates) in ends {
        program[end] = Step::Jump(if terminates { u32::MAX } else { after });
    }
    program[at] = Step::Branch(BranchStep { step_ref, branches });
    Ok(())
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Parses optional `conditions`; an empty value means none.
pub(super) fn parse_conditions(value: Option<&Value>) -> Result<Option<Conditions>, String> {
    match value {
        Some(v) if !is_empty(v) => {
            Conditions::from_json(v, "conditions")
                .map(Some)
                .map_err(|errors| {
                    errors
                        .iter()
                        .map(|e| format!("`{}` {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        }
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

fn parse_step(step_ref: &str, obj: &Map<String, Value>, cx: &Context<'_>) -> Result<Step, String> {
    let conditions = parse_conditions(obj.get("conditions"))?;
    let settings = match obj.get("settings") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(s)) => s.clone(),
        Some(_) => return Err("`settings` must be an object".into()),
    };
    let s = Settings {
        map: &settings,
        parser: cx.parser,
    };
    let step_ref = step_ref.to_string();
    Ok(match obj.get("type").and_then(Value::as_str) {
        Some("delay") => Step::Delay(parse_delay(step_ref, &s, conditions)?),
        Some("channel") => Step::Channel(parse_channel(step_ref, obj, cx, conditions)?),
        Some("batch") => Step::Batch(parse_batch(step_ref, &s, conditions)?),
        Some("throttle") => Step::Throttle(parse_throttle(step_ref, &s, conditions)?),
        Some("http_fetch") => Step::Fetch(parse_fetch(step_ref, &s, conditions)?),
        Some("trigger_workflow") => Step::TriggerWorkflow(TriggerWorkflowStep {
            step_ref,
            workflow_key: s
                .template("workflow_key")?
                .ok_or("`settings.workflow_key` is required")?,
            recipients: s.template("recipients")?,
            actor: s.template("actor")?,
            tenant: s.template("tenant")?,
            data: s.template("data")?,
            cancellation_key: s.template("cancellation_key")?,
            conditions,
        }),
        Some(
            t @ ("wait_for_event" | "update_data" | "update_user" | "update_object"
            | "update_tenant" | "random_cohort" | "ai_agent"),
        ) => {
            return Err(format!(
                "step type `{t}` is not supported by this version of Herald"
            ))
        }
        Some(t) => return Err(format!("unknown step type `{t}`")),
        None => return Err("`type` is required".into()),
    })
}

/// A step's `settings`, with typed getters whose errors name the field.
struct Settings<'a> {
    map: &'a Map<String, Value>,
    parser: &'a liquid::Parser,
}

impl Settings<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn duration(&self, name: &str) -> Result<Option<Duration>, String> {
        self.get(name)
            .map(|v| {
                Duration::from_value(v).ok_or(format!(
                    "`{name}` must be {{\"unit\": seconds|minutes|hours|days|weeks|months, \"value\": integer}}"
                ))
            })
            .transpose()
    }

    fn path(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(p)) if PATH_PREFIXES.iter().any(|x| p.starts_with(x)) => {
                Ok(Some(p.clone()))
            }
            Some(_) => Err(format!(
                "`{name}` must be a path starting with data., recipient., actor., tenant. or vars."
            )),
        }
    }

    fn string(&self, name: &str) -> Result<Option<&str>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    }

    fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<Option<u32>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or(format!(
                    "`{name}` must be an integer from {} to {}",
                    range.start(),
                    range.end()
                )),
        }
    }

    fn template(&self, name: &str) -> Result<Option<Template>, String> {
        self.string(name)?
            .map(|s| Template::parse(self.parser, s).map_err(|e| format!("`{name}`: {e}")))
            .transpose()
    }

    fn key(&self, name: &str) -> Result<Option<BatchKey>, String> {
        let Some(source) = self.string(name)? else {
            return Ok(None);
        };
        if source.contains("{{") || source.contains("{%") {
            Template::parse(self.parser, source)
                .map(|t| Some(BatchKey::Template(t)))
                .map_err(|e| format!("`{name}`: {e}"))
        } else if source.is_empty() {
            Ok(None)
        } else if PATH_PREFIXES.iter().any(|x| source.starts_with(x)) {
            Ok(Some(BatchKey::Path(source.to_string())))
        } else {
            // Knock's bare field name is a field of the trigger's data.
            Ok(Some(BatchKey::Path(format!("data.{source}"))))
        }
    }

    fn pairs(&self, name: &str) -> Result<Vec<Pair>, String> {
        let items = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("`{name}` must be an array of {{key, value}}")),
        };
        items
            .iter()
            .map(|item| {
                let field = |f: &str| -> Result<Template, String> {
                    let s = item
                        .get(f)
                        .and_then(Value::as_str)
                        .ok_or(format!("each of `{name}` needs a string `{f}`"))?;
                    Template::parse(self.parser, s).map_err(|e| format!("`{name}.{f}`: {e}"))
                };
                Ok(Pair {
                    key: field("key")?,
                    value: field("value")?,
                })
            })
            .collect()
    }
}

fn parse_delay(
    step_ref: String,
    s: &Settings<'_>,
    conditions: Option<Conditions>,
) -> Result<DelayStep, String> {
    let delay_for = s.duration("delay_for")?;
    let delay_until_field_path = s.path("delay_until_field_path")?;
    if delay_for.is_none() && delay_until_field_path.is_none() {
        return Err("a delay needs `delay_for` or `delay_until_field_path`".into());
    }
    Ok(DelayStep {
        step_ref,
        delay_for,
        delay_until_field_path,
        conditions,
    })
}

fn parse_throttle(
    step_ref: String,
    s: &Settings<'_>,
    conditions: Option<Conditions>,
) -> Result<ThrottleStep, String> {
    let window = s.duration("throttle_window")?;
    let window_field_path = s.path("throttle_window_field_path")?;
    if window.is_none() && window_field_path.is_none() {
        return Err("a throttle needs `throttle_window` or `throttle_window_field_path`".into());
    }
    Ok(ThrottleStep {
        step_ref,
        window,
        window_field_path,
        limit: s.integer("throttle_limit", 1..=u32::MAX)?.unwrap_or(1),
        key: s.key("throttle_key")?,
        conditions,
    })
}

fn parse_batch(
    step_ref: String,
    s: &Settings<'_>,
    conditions: Option<Conditions>,
) -> Result<BatchStep, String> {
    let window = s.duration("batch_window")?;
    let until_field_path = s.path("batch_until_field_path")?;
    if window.is_none() && until_field_path.is_none() {
        return Err("a batch needs `batch_window` or `batch_until_field_path`".into());
    }
    let sliding = match s.string("batch_window_type")? {
        None | Some("fixed") => false,
        Some("sliding") => true,
        Some(other) => {
            return Err(format!(
                "`batch_window_type` must be fixed or sliding, not `{other}`"
            ))
        }
    };
    let extension_limit = s.duration("batch_window_extension_limit")?;
    if sliding && (extension_limit.is_none() || window.is_none()) {
        return Err(
            "a sliding batch needs `batch_window` and `batch_window_extension_limit`".into(),
        );
    }
    let order = match s.string("batch_order")? {
        None | Some("asc") => BatchOrder::Asc,
        Some("desc") => BatchOrder::Desc,
        Some(other) => return Err(format!("`batch_order` must be asc or desc, not `{other}`")),
    };
    let flush_leading = match s.string("batch_execution_mode")? {
        None | Some("accumulate") => false,
        Some("flush_leading") => true,
        Some(other) => {
            return Err(format!(
                "`batch_execution_mode` must be accumulate or flush_leading, not `{other}`"
            ))
        }
    };
    Ok(BatchStep {
        step_ref,
        window,
        until_field_path,
        sliding,
        extension_limit,
        key: s.key("batch_key")?,
        max_items: s.integer("batch_items_max_limit", 2..=1000)?,
        order,
        render_limit: s
            .integer("batch_items_render_limit", 1..=100)?
            .unwrap_or(10),
        flush_leading,
        conditions,
    })
}

fn parse_fetch(
    step_ref: String,
    s: &Settings<'_>,
    conditions: Option<Conditions>,
) -> Result<FetchStep, String> {
    let method = match s.string("method")? {
        None => "GET".to_string(),
        Some(m) => match m.to_ascii_lowercase().as_str() {
            "get" | "post" | "put" | "delete" | "patch" => m.to_ascii_uppercase(),
            _ => {
                return Err(format!(
                    "`method` must be get, post, put, delete or patch, not `{m}`"
                ))
            }
        },
    };
    let response_path = s.string("response_path")?.map(str::to_string);
    Ok(FetchStep {
        step_ref,
        method,
        url: s.template("url")?.ok_or("`settings.url` is required")?,
        headers: s.pairs("headers")?,
        query_params: s.pairs("query_params")?,
        body: s.template("body")?,
        response_path,
        conditions,
    })
}

fn parse_channel(
    step_ref: String,
    obj: &Map<String, Value>,
    cx: &Context<'_>,
    conditions: Option<Conditions>,
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
    let channel_type = match (declared, cx.channels.get(&channel_key)) {
        (Some(d), Some(c)) if d != c => {
            return Err(format!(
                "channel `{channel_key}` is {c:?} in channels.json but the step says {d:?}"
            ))
        }
        (Some(t), None) if t != ChannelType::InAppFeed => {
            return Err(format!(
                "unknown channel `{channel_key}`: a {} channel needs an entry with its provider in channels.json",
                t.as_str()
            ))
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err(format!(
                "unknown channel `{channel_key}`: add it to channels.json or give the step a `channel_type`"
            ))
        }
    };
    let template = obj
        .get("template")
        .and_then(Value::as_object)
        .ok_or("`template` is required")?;
    let t = Settings {
        map: template,
        parser: cx.parser,
    };
    let in_template = |e: String| format!("`template.{}", e.trim_start_matches('`'));
    let template = match channel_type {
        ChannelType::InAppFeed => ChannelTemplate::InApp {
            markdown_body: t
                .template("markdown_body")
                .map_err(in_template)?
                .ok_or("`template.markdown_body` is required")?,
            action_url: t.template("action_url").map_err(in_template)?,
        },
        ChannelType::Email => {
            let html_body = t.template("html_body").map_err(in_template)?;
            let text_body = t.template("text_body").map_err(in_template)?;
            if html_body.is_none() && text_body.is_none() {
                return Err("`template.html_body` (or `template.text_body`) is required".into());
            }
            let settings = match template.get("settings") {
                None | Some(Value::Null) => None,
                Some(Value::Object(o)) => Some(o),
                Some(_) => return Err("`template.settings` must be an object".into()),
            };
            let layout = match settings.and_then(|o| o.get("layout_key")) {
                None | Some(Value::Null) => None,
                Some(Value::String(key)) => Some(cx.channels.layout(key).ok_or_else(|| {
                    format!("`template.settings.layout_key`: no layout `{key}` (add layouts/{key}/layout.json)")
                })?),
                Some(_) => return Err("`template.settings.layout_key` must be a string".into()),
            };
            ChannelTemplate::Email {
                subject: t
                    .template("subject")
                    .map_err(in_template)?
                    .ok_or("`template.subject` is required")?,
                html_body,
                text_body,
                layout,
            }
        }
        ChannelType::Http => ChannelTemplate::Webhook {
            method: match t.string("method").map_err(in_template)? {
                None => return Err("`template.method` is required".into()),
                Some(m) => match m.to_ascii_lowercase().as_str() {
                    "get" | "post" | "put" | "delete" | "patch" => m.to_ascii_uppercase(),
                    _ => {
                        return Err(format!(
                            "`template.method` must be get, post, put, delete or patch, not `{m}`"
                        ))
                    }
                },
            },
            url: t
                .template("url")
                .map_err(in_template)?
                .ok_or("`template.url` is required")?,
            headers: t.pairs("headers").map_err(in_template)?,
            query_params: t.pairs("query_params").map_err(in_template)?,
            body: t.template("body").map_err(in_template)?,
        },
        other => {
            return Err(format!(
                "channel type `{}` is not supported by this version of Herald (in_app_feed, email and http are)",
                other.as_str()
            ))
        }
    };
    Ok(ChannelStep {
        step_ref,
        channel_key,
        channel_type,
        template,
        conditions,
    })
}
