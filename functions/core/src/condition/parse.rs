//! Parsing Knock's condition wire shapes, collecting every invalid field.

use serde_json::{Map, Value};

use super::{Argument, Condition, Group, Node, Operator};
use crate::error::FieldError;

/// Parses the top level: a bare array (all must hold) or a group object.
pub(super) fn root(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<Group> {
    match value {
        Value::Array(items) => Some(Group::All(members(items, field, errors))),
        Value::Object(map) if is_group(map) => group(map, field, errors),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be an array of conditions or an object with `all` or `any`",
            ));
            None
        }
    }
}

fn is_group(map: &Map<String, Value>) -> bool {
    map.contains_key("all") || map.contains_key("any")
}

/// Parses `{"all": […]}` or `{"any": […]}`.
fn group(map: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<Group> {
    if map.len() != 1 {
        // A second key would be silently ignored otherwise, hiding a malformed group.
        errors.push(FieldError::new(
            field,
            "must have exactly one key, `all` or `any`",
        ));
        return None;
    }
    let (key, items) = map.iter().next()?;
    let field = format!("{field}.{key}");
    let Value::Array(items) = items else {
        errors.push(FieldError::new(field, "must be an array"));
        return None;
    };
    let nodes = members(items, &field, errors);
    Some(if key == "all" {
        Group::All(nodes)
    } else {
        Group::Any(nodes)
    })
}

/// Parses the members of a group; `field` is the array's field.
fn members(items: &[Value], field: &str, errors: &mut Vec<FieldError>) -> Vec<Node> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| node(item, &format!("{field}[{i}]"), errors))
        .collect()
}

fn node(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Option<Node> {
    match value {
        Value::Object(map) if is_group(map) => group(map, field, errors).map(Node::Group),
        Value::Object(map) => condition(map, field, errors).map(Node::Condition),
        _ => {
            errors.push(FieldError::new(
                field,
                "must be a condition or a group object",
            ));
            None
        }
    }
}

fn condition(
    map: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Condition> {
    let before = errors.len();
    let variable = match map.get("variable") {
        Some(Value::String(v)) if !v.is_empty() => Some(v.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.variable"),
                "must be a non-empty string",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(format!("{field}.variable"), "is required"));
            None
        }
    };
    let operator = operator(map.get("operator"), &format!("{field}.operator"), errors);
    let argument = match operator {
        Some(op) if op.takes_argument() => argument(
            op,
            map.get("argument"),
            &format!("{field}.argument"),
            errors,
        ),
        // Unary operators ignore any argument sent along (Knock's UI leaves one behind).
        _ => None,
    };
    if errors.len() > before {
        return None;
    }
    Some(Condition {
        variable: variable?,
        operator: operator?,
        argument,
    })
}

fn operator(value: Option<&Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<Operator> {
    let message = match value {
        Some(Value::String(name)) => match Operator::from_name(name) {
            Some(op) => return Some(op),
            None if name.contains("audience_member") => {
                format!("`{name}`: audience conditions are not supported")
            }
            None => format!("`{name}` is not a known operator"),
        },
        Some(_) => "must be a string".to_string(),
        None => "is required".to_string(),
    };
    errors.push(FieldError::new(field, message));
    None
}

fn argument(
    op: Operator,
    value: Option<&Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Argument> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        errors.push(FieldError::new(
            field,
            format!("is required by `{}`", op.as_str()),
        ));
        return None;
    };
    let argument = Argument::from_wire(value);
    // A static range can be checked now; a dynamic one only at evaluation.
    if let (true, Argument::Static(v)) = (op.takes_range(), &argument) {
        if v.as_array().is_none_or(|range| range.len() != 2) {
            errors.push(FieldError::new(
                field,
                format!("must be a two-element array for `{}`", op.as_str()),
            ));
            return None;
        }
    }
    Some(argument)
}
