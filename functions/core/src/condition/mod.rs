//! Knock's conditions engine: workflow trigger conditions, step conditions and preference
//! conditions.
//!
//! Conditions arrive in three wire shapes, parsed by [`Conditions::from_json`]:
//! - a bare array `[c, …]`, all of which must hold (preference sets use this);
//! - `{"all": [c, …]}` (AND) and `{"any": [c, …]}` (OR), where any element may itself be a group;
//! - a condition `{"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}`.
//!
//! [`Conditions::evaluate`] checks them against a scope object with the keys `data`, `recipient`,
//! `actor`, `tenant`, `workflow`, `vars` and `run`. Knock's relative timestamp arguments (such as
//! "15 minutes ago") are not supported: timestamp arguments must be RFC 3339 strings or unix
//! seconds.

mod eval;
mod operator;
mod parse;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::FieldError;
use crate::path;

pub use operator::Operator;

/// The argument prefixes that make an argument a reference into the scope rather than a value.
pub const DYNAMIC_PREFIXES: [&str; 7] = [
    "data.",
    "recipient.",
    "actor.",
    "tenant.",
    "workflow.",
    "vars.",
    "run.",
];

/// A parsed set of conditions, kept with the JSON it was parsed from so that it serializes back
/// to exactly what the client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    root: Group,
    raw: Value,
}

/// A group of conditions.
#[derive(Debug, Clone, PartialEq)]
pub enum Group {
    /// Every member must hold (`{"all": […]}` or a bare array). An empty group holds.
    All(Vec<Node>),
    /// At least one member must hold (`{"any": […]}`). An empty group holds: it restricts nothing.
    Any(Vec<Node>),
}

/// A member of a group: a condition or a nested group.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A single condition.
    Condition(Condition),
    /// A nested group.
    Group(Group),
}

/// One condition: `variable operator argument`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Dotted path into the scope, such as `recipient.plan`.
    pub variable: String,
    /// How the variable is tested.
    pub operator: Operator,
    /// What it is compared with; `None` for unary operators.
    pub argument: Option<Argument>,
}

/// A condition's argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    /// A static value, already JSON-decoded (`"10"` is stored as `10`).
    Static(Value),
    /// A dotted path into the scope (`data.topic`), resolved at evaluation.
    Dynamic(String),
}

/// What a missing path resolves to (Knock: missing ⇒ empty string).
static MISSING: Value = Value::String(String::new());

impl Conditions {
    /// Parses Knock's wire shape; errors name fields below `field` (`conditions.all[1].operator`).
    pub fn from_json(value: &Value, field: &str) -> Result<Conditions, Vec<FieldError>> {
        let mut errors = Vec::new();
        let root = parse::root(value, field, &mut errors);
        match root {
            Some(root) if errors.is_empty() => Ok(Conditions {
                root,
                raw: value.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// Whether the conditions hold for `scope` at `now`.
    pub fn evaluate(&self, scope: &Value, now: DateTime<Utc>) -> bool {
        self.root.evaluate(scope, now)
    }

    /// The parsed top-level group (a bare array is an [`Group::All`]).
    pub fn root(&self) -> &Group {
        &self.root
    }

    /// The JSON the conditions were parsed from.
    pub fn as_json(&self) -> &Value {
        &self.raw
    }
}

impl Group {
    /// Whether the group holds for `scope` at `now`.
    pub fn evaluate(&self, scope: &Value, now: DateTime<Utc>) -> bool {
        match self {
            Group::All(nodes) => nodes.iter().all(|n| n.evaluate(scope, now)),
            // An empty `any` restricts nothing, like an empty `all`.
            Group::Any(nodes) => nodes.is_empty() || nodes.iter().any(|n| n.evaluate(scope, now)),
        }
    }
}

impl Node {
    /// Whether the member holds for `scope` at `now`.
    pub fn evaluate(&self, scope: &Value, now: DateTime<Utc>) -> bool {
        match self {
            Node::Condition(c) => c.evaluate(scope, now),
            Node::Group(g) => g.evaluate(scope, now),
        }
    }
}

impl Condition {
    /// Whether the condition holds for `scope` at `now`.
    pub fn evaluate(&self, scope: &Value, now: DateTime<Utc>) -> bool {
        let found = path::resolve(scope, &self.variable);
        let argument = match &self.argument {
            Some(Argument::Static(v)) => v,
            Some(Argument::Dynamic(p)) => path::resolve(scope, p).unwrap_or(&MISSING),
            None => &MISSING,
        };
        eval::apply(self.operator, found, argument, now)
    }
}

impl Argument {
    /// Classifies a wire argument: a string with a scope prefix is a reference, a string that is
    /// valid JSON is decoded (`"10"` → `10`), anything else is used as is.
    pub fn from_wire(value: &Value) -> Argument {
        match value {
            Value::String(s) if DYNAMIC_PREFIXES.iter().any(|p| s.starts_with(p)) => {
                Argument::Dynamic(s.clone())
            }
            Value::String(s) => Argument::Static(
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
            ),
            other => Argument::Static(other.clone()),
        }
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Conditions::from_json(&value, "conditions")
            .map_err(|errors| serde::de::Error::custom(describe(&errors)))
    }
}

/// Field errors as one message, for serde's single-string errors.
pub(crate) fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
