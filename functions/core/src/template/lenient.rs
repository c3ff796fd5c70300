//! Template variables that render missing values as nothing, as Knock's Liquid does.
//!
//! liquid-rust fails a render on any unknown variable (`{{ actor.name }}` with no actor), while
//! Knock renders it empty; optional fields are the norm in notification data. [`Scope`] wraps the
//! JSON scope so that every missing key, at any depth, reads as `nil`.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use liquid::model::{
    ArrayView, DisplayCow, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};

static NIL: Value = Value::Nil;
static MISSING: Missing = Missing;

/// A JSON value seen through Liquid, with lenient lookups. Converted lazily: a render touches
/// only the variables its template names, so a scope holding 10 MB of `data` costs nothing for
/// `{{ recipient.name }}`.
#[derive(Debug)]
struct Node<'a> {
    json: &'a serde_json::Value,
    /// The whole value as Liquid's, made when first asked for.
    value: OnceCell<Value>,
    /// Its items or fields as nodes, made when first looked into.
    children: OnceCell<Children<'a>>,
}

#[derive(Debug)]
enum Children<'a> {
    Leaf,
    Items(Vec<Node<'a>>),
    Fields(BTreeMap<&'a str, Node<'a>>),
}

impl<'a> Node<'a> {
    fn of(json: &'a serde_json::Value) -> Self {
        Self {
            json,
            value: OnceCell::new(),
            children: OnceCell::new(),
        }
    }

    fn inner(&self) -> &Value {
        self.value
            .get_or_init(|| liquid::model::to_value(self.json).unwrap_or(Value::Nil))
    }

    fn children(&self) -> &Children<'a> {
        self.children.get_or_init(|| match self.json {
            serde_json::Value::Array(items) => {
                Children::Items(items.iter().map(Node::of).collect())
            }
            serde_json::Value::Object(map) => {
                Children::Fields(map.iter().map(|(k, v)| (k.as_str(), Node::of(v))).collect())
            }
            _ => Children::Leaf,
        })
    }

    fn fields(&self) -> Option<&BTreeMap<&'a str, Node<'a>>> {
        match self.children() {
            Children::Fields(fields) => Some(fields),
            _ => None,
        }
    }

    fn items(&self) -> &[Node<'a>] {
        match self.children() {
            Children::Items(items) => items,
            _ => &[],
        }
    }

    fn is_null(&self) -> bool {
        self.json.is_null()
    }
}

/// A variable the scope does not have: nil, and an empty object to look into, so `a.b.c` under
/// a missing `a` is nil too.
#[derive(Debug)]
struct Missing;

impl ValueView for Missing {
    fn as_debug(&self) -> &dyn std::fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        NIL.render()
    }
    fn source(&self) -> DisplayCow<'_> {
        NIL.source()
    }
    fn type_name(&self) -> &'static str {
        NIL.type_name()
    }
    fn query_state(&self, state: State) -> bool {
        NIL.query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        NIL.to_kstr()
    }
    fn to_value(&self) -> Value {
        Value::Nil
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
    fn as_state(&self) -> Option<State> {
        NIL.as_state()
    }
    fn is_nil(&self) -> bool {
        true
    }
}

impl ObjectView for Missing {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        0
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(std::iter::empty())
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(std::iter::empty())
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(std::iter::empty())
    }
    fn contains_key(&self, _index: &str) -> bool {
        true
    }
    fn get<'s>(&'s self, _index: &str) -> Option<&'s dyn ValueView> {
        Some(&MISSING)
    }
}

impl ValueView for Node<'_> {
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
        self.json.is_array().then_some(self as &dyn ArrayView)
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        // A null indexes as an empty object, so `a.b.c` under a null `a` is nil.
        (self.json.is_object() || self.is_null()).then_some(self as &dyn ObjectView)
    }
    fn as_state(&self) -> Option<State> {
        self.inner().as_state()
    }
    fn is_nil(&self) -> bool {
        self.is_null()
    }
}

impl ObjectView for Node<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.fields().map_or(0, |f| f.len() as i64)
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        match self.fields() {
            Some(fields) => Box::new(fields.keys().map(|k| KStringCow::from_ref(k))),
            None => Box::new(std::iter::empty()),
        }
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        match self.fields() {
            Some(fields) => Box::new(fields.values().map(|v| v as &dyn ValueView)),
            None => Box::new(std::iter::empty()),
        }
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        match self.fields() {
            Some(fields) => Box::new(
                fields
                    .iter()
                    .map(|(k, v)| (KStringCow::from_ref(k), v as &dyn ValueView)),
            ),
            None => Box::new(std::iter::empty()),
        }
    }
    fn contains_key(&self, _index: &str) -> bool {
        // Every key "exists": the runtime only looks a variable up in a scope that has it.
        true
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        match self.fields().and_then(|f| f.get(index)) {
            Some(found) => Some(found),
            None => Some(&MISSING),
        }
    }
}

impl ArrayView for Node<'_> {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.items().len() as i64
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.items().iter().map(|v| v as &dyn ValueView))
    }
    fn contains_key(&self, index: i64) -> bool {
        ArrayView::get(self, index).is_some()
    }
    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        let items = self.items();
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
pub struct Scope<'a>(Node<'a>);

impl<'a> Scope<'a> {
    /// Wraps a JSON object of variables.
    pub fn new(json: &'a serde_json::Value) -> Self {
        Scope(Node::of(json))
    }

    /// The scope as Liquid's globals.
    pub fn globals(&self) -> &dyn ObjectView {
        &self.0
    }
}
