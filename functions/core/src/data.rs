//! Run data as it is stored: the trigger's `data` once per workflow run, and what each recipient
//! run merged over it (its `$trigger_data`, a fetch's answer) as layers on top. A layer larger
//! than [`INLINE_MAX_BYTES`] is a payload stored once, by its content hash, and referenced: a
//! 10 MB trigger for 1,000 recipients stores 10 MB, not 10 GB, and no run or message item grows
//! with it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Knock's limit on a trigger's `data`, serialised.
pub const MAX_DATA_BYTES: usize = 10 * 1024 * 1024;

/// Layers up to this size (serialised) stay on the run or message that holds them.
pub const INLINE_MAX_BYTES: usize = 16 * 1024;

/// A stored payload: the SHA-256 of its JSON bytes (hex) and their length. The same content has
/// the same reference, so storing it again is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadRef {
    /// Hex SHA-256 of the bytes.
    pub digest: String,
    /// How many bytes.
    pub bytes: usize,
}

impl PayloadRef {
    /// The reference of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            digest: hex(&Sha256::digest(bytes)),
            bytes: bytes.len(),
        }
    }
}

/// `bytes` as lower-case hex (digests, versions, fingerprints).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One layer's content: the fields themselves, or a stored payload holding them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Small: kept in place.
    Inline(Map<String, Value>),
    /// Large: stored once, read back by reference.
    Stored(PayloadRef),
}

/// A layer merged over the ones below it: at the top (`at: None`, fields replace fields) or at a
/// dotted path (a fetch's `response_path`), as [`merge_at`] does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Where it is merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// What is merged.
    pub part: Part,
}

/// A run's (or a message's) data: layers merged in order, the first usually the trigger's data
/// shared by every run of the trigger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunData {
    layers: Vec<Layer>,
}

impl RunData {
    /// Data held in place (small data, tests, and what an older version stored).
    pub fn inline(fields: Map<String, Value>) -> Self {
        Self::of(Part::Inline(fields))
    }

    /// Data that is one part (the trigger's data, or a closed batch's).
    pub fn of(part: Part) -> Self {
        Self {
            layers: vec![Layer { at: None, part }],
        }
    }

    /// This data with `part` merged over it at `at`.
    pub fn with(mut self, at: Option<String>, part: Part) -> Self {
        self.layers.push(Layer { at, part });
        self
    }

    /// Its layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// About how many bytes its fields take as JSON (stored layers by their size).
    pub fn approx_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| match &l.part {
                Part::Stored(r) => r.bytes,
                Part::Inline(fields) => serde_json::to_vec(fields).map_or(0, |v| v.len()),
            })
            .sum()
    }
}

impl From<Map<String, Value>> for RunData {
    fn from(fields: Map<String, Value>) -> Self {
        Self::inline(fields)
    }
}

// Stored as the list of layers; a JSON object (what versions before layers stored) reads as one
// inline layer. A list and an object cannot be confused, whatever keys the data has.
impl Serialize for RunData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.layers.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RunData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Layers(Vec<Layer>),
            Fields(Map<String, Value>),
        }
        Ok(match Stored::deserialize(d)? {
            Stored::Layers(layers) => Self { layers },
            Stored::Fields(fields) => Self::inline(fields),
        })
    }
}

/// Merges `fields` into `data`: at the top (each field replaces its namesake), or as the value
/// at dotted `path` (a leading `data.` is ignored; missing or non-object parents become
/// objects).
pub fn merge_at(data: &mut Map<String, Value>, path: Option<&str>, fields: Map<String, Value>) {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        data.extend(fields);
        return;
    };
    let path = path.strip_prefix("data.").unwrap_or(path);
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut at = data;
    for part in parts {
        let slot = at
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        at = next;
    }
    at.insert(last.to_string(), Value::Object(fields));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn merges_shallow_or_at_a_path() {
        let mut data = map(json!({"a": 1, "keep": {"x": 1}}));
        merge_at(&mut data, None, map(json!({"a": 2, "b": 3})));
        assert_eq!(
            Value::Object(data.clone()),
            json!({"a": 2, "b": 3, "keep": {"x": 1}})
        );
        merge_at(&mut data, Some("fetched.user"), map(json!({"plan": "pro"})));
        assert_eq!(data["fetched"], json!({"user": {"plan": "pro"}}));
        merge_at(&mut data, Some("data.keep"), map(json!({"y": 2})));
        assert_eq!(data["keep"], json!({"y": 2}));
    }

    #[test]
    fn layers_round_trip_and_old_objects_read_as_one_layer() {
        let stored = PayloadRef::of(b"{\"big\":1}");
        let data = RunData::of(Part::Stored(stored.clone()))
            .with(None, Part::Inline(map(json!({"mine": 1}))))
            .with(Some("f".into()), Part::Inline(map(json!({"x": 2}))));
        let text = serde_json::to_string(&data).unwrap();
        let back: RunData = serde_json::from_str(&text).unwrap();
        assert_eq!(back, data);
        assert_eq!(back.layers()[0].part, Part::Stored(stored));

        // An object whose keys look like a layer is still data.
        let old: RunData = serde_json::from_value(json!({"part": 1, "at": "x"})).unwrap();
        assert_eq!(old, RunData::inline(map(json!({"part": 1, "at": "x"}))));
    }

    #[test]
    fn a_reference_names_its_content() {
        let a = PayloadRef::of(b"same");
        assert_eq!(a, PayloadRef::of(b"same"));
        assert_ne!(a.digest, PayloadRef::of(b"other").digest);
        assert_eq!(a.digest.len(), 64);
        assert_eq!(a.bytes, 4);
    }
}
