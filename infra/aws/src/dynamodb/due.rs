//! Entries of the due index (GSI3): what is due when. An active recipient run carries one for
//! its workflow run, a message with a pending attempt one for itself; they leave the index
//! when they finish. The format lives here only: writers put, set or remove an entry, the
//! sweep reads them back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::{micros, s, Item};
use super::expr::Expr;

/// Shards of the due index, so its writes spread; a sweep queries each.
pub const SHARDS: u8 = 4;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A workflow run with an active recipient run.
    Run,
    /// A message with a pending delivery attempt.
    Message,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Run => "R",
            Kind::Message => "M",
        }
    }
}

/// One entry: `gsi3pk = DUE#<shard>`, `gsi3sk = <due µs, 20 digits>#<R|M>#<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pk: String,
    sk: String,
}

impl Due {
    /// `kind` `id` is due at `at`.
    pub fn new(kind: Kind, id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            pk: shard_pk(id.as_bytes()[0] % SHARDS),
            sk: format!("{}#{}#{id}", bound(at), kind.tag()),
        }
    }

    /// Puts the entry on an item written whole.
    pub fn put(self, item: &mut Item) {
        item.insert("gsi3pk".into(), s(self.pk));
        item.insert("gsi3sk".into(), s(self.sk));
    }

    /// The entry as assignments for an update's `SET`.
    pub fn set(self, e: &mut Expr) -> String {
        format!(
            "{}, {}",
            e.eq("gsi3pk", s(self.pk)),
            e.eq("gsi3sk", s(self.sk))
        )
    }

    /// The attributes to `REMOVE` for the item to leave the index.
    pub fn remove(e: &mut Expr) -> String {
        format!("{}, {}", e.name("gsi3pk"), e.name("gsi3sk"))
    }

    /// The kind and id a sort key read from the index names.
    pub fn parse(sk: &str) -> Option<(Kind, Uuid)> {
        let mut parts = sk.splitn(3, '#');
        let _due = parts.next()?;
        let kind = match parts.next()? {
            "R" => Kind::Run,
            "M" => Kind::Message,
            _ => return None,
        };
        Some((kind, Uuid::parse_str(parts.next()?).ok()?))
    }
}

/// The partition of shard `shard`.
pub fn shard_pk(shard: u8) -> String {
    format!("DUE#{shard}")
}

/// Sort keys below this are due before `at`.
pub fn bound(at: DateTime<Utc>) -> String {
    format!("{:020}", micros(at).max(0))
}
