//! Builds expressions with placeholder names and values, so user data never lands in them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// Placeholders collected while building one request's expressions.
#[derive(Default, Debug)]
pub struct Expr {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    next: usize,
}

impl Expr {
    /// A `#name` placeholder for attribute `attr`.
    pub fn name(&mut self, attr: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == attr) {
            return k.clone();
        }
        self.next += 1;
        let key = format!("#n{}", self.next);
        self.names.insert(key.clone(), attr.to_string());
        key
    }

    /// A `:value` placeholder for `value`.
    pub fn value(&mut self, value: AttributeValue) -> String {
        self.next += 1;
        let key = format!(":v{}", self.next);
        self.values.insert(key.clone(), value);
        key
    }

    /// A string value placeholder.
    pub fn s(&mut self, value: impl Into<String>) -> String {
        self.value(AttributeValue::S(value.into()))
    }

    /// `#attr = :value`.
    pub fn eq(&mut self, attr: &str, value: AttributeValue) -> String {
        let (n, v) = (self.name(attr), self.value(value));
        format!("{n} = {v}")
    }

    /// `(#recipient_id = :id AND #recipient_collection = :collection)`: the item is about `r`.
    pub fn recipient(&mut self, r: &herald_core::recipient::RecipientRef) -> String {
        let id = self.eq("recipient_id", AttributeValue::S(r.id.clone()));
        let collection = r.collection.clone().unwrap_or_default();
        let c = self.eq("recipient_collection", AttributeValue::S(collection));
        format!("({id} AND {c})")
    }

    /// `#attr IN (:a, :b…)`.
    pub fn any_of(&mut self, attr: &str, values: impl IntoIterator<Item = String>) -> String {
        let n = self.name(attr);
        let vs: Vec<String> = values.into_iter().map(|v| self.s(v)).collect();
        format!("{n} IN ({})", vs.join(", "))
    }

    /// The names map, or `None` when empty (DynamoDB rejects empty maps).
    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The values map, or `None` when empty.
    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Joins clauses with AND; `None` when there are none.
pub fn and(clauses: &[String]) -> Option<String> {
    (!clauses.is_empty()).then(|| clauses.join(" AND "))
}
