//! Template variables that render missing values as nothing, as Knock's Liquid does.
//!
//! liquid-rust fails a render on any unknown variable (`{{ actor.name }}` with no actor), while
//! Knock renders it empty; optional fields are the norm in notification data. [`Scope`] wraps the
//! JSON scope so that every missing key, at any depth, reads as `nil`.

use std::collections::BTreeMap;

use liquid::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};

static NIL: Value = Value::Nil;
static MISSING: Node = Node::Nil;

/// A JSON value seen through Liquid, with lenient lookups.
#[derive(Debug)]
enum Node {
    Nil,
    Scalar(Value),
    Array {
        value: Value,
        items: Vec<Node>,
    },
    Object {
        value: Value,
        fields: BTreeMap<String, Node>,
    },
}

impl Node {
    fn from_json(json: &serde_json::Value) -> Result<Self, String> {
        Ok(match json {
            serde_json::Value::Null => Node::Nil,
            serde_json::Value::Array(items) => Node::Array {
                value: liquid::model::to_value(json).map_err(|e| e.to_string())?,
                items: items
                    .iter()
                    .map(Node::from_json)
                    .collect::<Result<_, _>>()?,
            },
            serde_json::Value::Object(map) => Node::Object {
                value: liquid::model::to_value(json).map_err(|e| e.to_string())?,
                fields: map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Node::from_json(v)?)))
                    .collect::<Result<_, String>>()?,
            },
            scalar => Node::Scalar(liquid::model::to_value(scalar).map_err(|e| e.to_string())?),
        })
    }

    fn inner(&self) -> &Value {
        match self {
            Node::Nil => &NIL,
            Node::Scalar(v) | Node::Array { value: v, .. } | Node::Object { value: v, .. } => v,
        }
    }
}

impl ValueView for Node {
    fn as_debug(&self) -> &dyn std::fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.inner().render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.inner().source()
    }
    fn type_name(&self) -> &'static str {
        self.inner().type_name()
    }
    fn query_state(&self, state: State) -> bool {
        self.inner().query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.inner().to_kstr()
    }
    fn to_value(&self) -> Value {
        self.inner().clone()
    }
    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        self.inner().as_scalar()
    }
    fn as_array(&self) -> Option<&dyn ArrayView> {
        match self {
            Node::Array { .. } => Some(self),
            _ => None,
        }
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        match self {
            // A missing value indexes as an empty object, so `a.b.c` under a missing `a` is nil.
            Node::Object { .. } | Node::Nil => Some(self),
            _ => None,
        }
    }
    fn as_state(&self) -> Option<State> {
        self.inner().as_state()
    }
    fn is_nil(&self) -> bool {
        matches!(self, Node::Nil)
    }
}

impl ObjectView for Node {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        match self {
            Node::Object { fields, .. } => fields.len() as i64,
            _ => 0,
        }
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self {
            Node::Object { fields, .. } => Box::new(fields.keys().map(|k| KStringCow::from_ref(k))),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            Node::Object { fields, .. } => Box::new(fields.values().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self {
            Node::Object { fields, .. } => Box::new(
                fields
                    .iter()
                    .map(|(k, v)| (KStringCow::from_ref(k), v as &dyn ValueView)),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn contains_key(&self, _index: &str) -> bool {
        // Every key "exists": the runtime only looks a variable up in a scope that has it.
        true
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        let found = match self {
            Node::Object { fields, .. } => fields.get(index),
            _ => None,
        };
        Some(found.unwrap_or(&MISSING))
    }
}

impl ArrayView for Node {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        match self {
            Node::Array { items, .. } => items.len() as i64,
            _ => 0,
        }
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self {
            Node::Array { items, .. } => Box::new(items.iter().map(|v| v as &dyn ValueView)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn contains_key(&self, index: i64) -> bool {
        ArrayView::get(self, index).is_some()
    }
    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        let Node::Array { items, .. } = self else {
            return None;
        };
        let len = items.len() as i64;
        let i = if index < 0 { len + index } else { index };
        usize::try_from(i)
            .ok()
            .and_then(|i| <[Node]>::get(items, i))
            .map(|v| v as &dyn ValueView)
    }
}

/// The variables of one render.
#[derive(Debug)]
pub struct Scope(Node);

impl Scope {
    /// Wraps a JSON object of variables.
    pub fn new(json: &serde_json::Value) -> Result<Self, String> {
        Node::from_json(json).map(Scope)
    }

    /// The scope as Liquid's globals.
    pub fn globals(&self) -> &dyn ObjectView {
        &self.0
    }
}
