//! Recipients as a trigger names them: user ids, object references and inline identifications.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::FieldError;

/// The fields of an inline user that are not custom properties.
const RESERVED_INLINE_KEYS: &[&str] = &["id", "collection", "$trigger_data"];

/// Who a recipient run is for: a user (no collection) or an object in a collection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecipientRef {
    /// The user or object id.
    pub id: String,
    /// The object collection; `None` for a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
}

impl RecipientRef {
    /// A user reference.
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            collection: None,
        }
    }

    /// An object reference.
    pub fn object(collection: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            collection: Some(collection.into()),
        }
    }

    /// Whether this names a user.
    pub fn is_user(&self) -> bool {
        self.collection.is_none()
    }

    /// A key unique per recipient, used to derive ids.
    pub fn id_key(&self) -> String {
        match &self.collection {
            None => format!("user:{}", self.id),
            Some(c) => format!("object:{c}:{}", self.id),
        }
    }

    /// Knock's wire form: a bare string for a user, `{id, collection}` for an object.
    pub fn to_wire(&self) -> Value {
        match &self.collection {
            None => Value::String(self.id.clone()),
            Some(c) => serde_json::json!({"id": self.id, "collection": c}),
        }
    }
}

/// One entry of a trigger's `recipients` (or its `actor`), parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientRequest {
    /// Who it names.
    pub reference: RecipientRef,
    /// Properties to upsert before the run starts (inline identification); empty for a bare reference.
    pub properties: Map<String, Value>,
    /// Per-recipient `$trigger_data`, shallow-merged over the trigger's `data`.
    pub trigger_data: Option<Map<String, Value>>,
}

impl RecipientRequest {
    /// Parses one recipient as Knock accepts it; `field` names it in errors (`recipients[3]`).
    pub fn parse(value: &Value, field: &str) -> Result<Self, FieldError> {
        match value {
            Value::String(id) => {
                check_id(id, field)?;
                Ok(Self {
                    reference: RecipientRef::user(id.clone()),
                    properties: Map::new(),
                    trigger_data: None,
                })
            }
            Value::Object(map) => {
                let id = match map.get("id") {
                    Some(Value::String(id)) => id.clone(),
                    Some(_) => {
                        return Err(FieldError::new(format!("{field}.id"), "must be a string"))
                    }
                    None => return Err(FieldError::new(format!("{field}.id"), "is required")),
                };
                check_id(&id, &format!("{field}.id"))?;
                let reference = match map.get("collection") {
                    None | Some(Value::Null) => RecipientRef::user(id),
                    // `$tenants` is written through `PUT /v1/tenants` only, which checks what a
                    // tenant may hold (Knock reserves `$` collections).
                    Some(Value::String(c)) if c.starts_with('$') => {
                        return Err(FieldError::new(
                            format!("{field}.collection"),
                            "collections starting with `$` are reserved",
                        ))
                    }
                    Some(Value::String(c)) if crate::object::check_collection(c).is_ok() => {
                        RecipientRef::object(c.clone(), id)
                    }
                    Some(_) => {
                        return Err(FieldError::new(
                            format!("{field}.collection"),
                            format!(
                                "must be a non-empty string of at most {} bytes without `#` or `:`",
                                crate::limits::MAX_ID_BYTES
                            ),
                        ))
                    }
                };
                let trigger_data = match map.get("$trigger_data") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(d)) => Some(d.clone()),
                    Some(_) => {
                        return Err(FieldError::new(
                            format!("{field}.$trigger_data"),
                            "must be an object",
                        ))
                    }
                };
                let properties = map
                    .iter()
                    .filter(|(k, _)| !RESERVED_INLINE_KEYS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Ok(Self {
                    reference,
                    properties,
                    trigger_data,
                })
            }
            _ => Err(FieldError::new(
                field,
                "must be a user id string or an object with an id",
            )),
        }
    }
}

fn check_id(id: &str, field: &str) -> Result<(), FieldError> {
    crate::limits::check_name(id).map_err(|why| FieldError::new(field, why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_form() {
        let s = RecipientRequest::parse(&json!("u1"), "r").unwrap();
        assert_eq!(s.reference, RecipientRef::user("u1"));
        let o =
            RecipientRequest::parse(&json!({"id": "p1", "collection": "projects"}), "r").unwrap();
        assert_eq!(o.reference, RecipientRef::object("projects", "p1"));
        let i = RecipientRequest::parse(
            &json!({"id": "u2", "name": "Ann", "plan": "pro", "$trigger_data": {"x": 1}}),
            "r",
        )
        .unwrap();
        assert_eq!(i.reference, RecipientRef::user("u2"));
        assert_eq!(i.properties.get("name"), Some(&json!("Ann")));
        assert_eq!(i.properties.get("plan"), Some(&json!("pro")));
        assert!(!i.properties.contains_key("id"));
        assert_eq!(i.trigger_data.unwrap().get("x"), Some(&json!(1)));
    }

    #[test]
    fn rejects_bad_forms_naming_the_field() {
        assert_eq!(
            RecipientRequest::parse(&json!(3), "recipients[0]")
                .unwrap_err()
                .field,
            "recipients[0]"
        );
        assert_eq!(
            RecipientRequest::parse(&json!({"name": "x"}), "recipients[1]")
                .unwrap_err()
                .field,
            "recipients[1].id"
        );
        assert!(RecipientRequest::parse(&json!(""), "r").is_err());
    }

    #[test]
    fn wire_form_matches_knock() {
        assert_eq!(RecipientRef::user("u").to_wire(), json!("u"));
        assert_eq!(
            RecipientRef::object("c", "o").to_wire(),
            json!({"id": "o", "collection": "c"})
        );
    }
}
