//! The recipient directory on SQLite: objects (and tenants), subscriptions, preference sets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::object::Object;
use herald_core::ports::{
    Directory, Page, PageRequest, Removal, StoredPreferenceSet, Write, WriteIf,
};
use herald_core::recipient::RecipientRef;
use herald_core::subscription::Subscription;
use herald_core::user::merge_properties;
use rusqlite::{params, Connection, OptionalExtension, Row, ToSql};
use serde_json::{Map, Value};

use super::codec::*;
use super::SqliteStore;

const OBJECT_COLUMNS: &str = "collection, id, properties, created_at, updated_at";
const SUBSCRIPTION_COLUMNS: &str = "object_collection, object_id, recipient_id, recipient_collection, properties, inserted_at, updated_at";
const PREFERENCE_COLUMNS: &str = "owner_key, set_id, body, version, updated_at";

fn object_row(row: &Row<'_>) -> rusqlite::Result<Object> {
    Ok(Object {
        collection: row.get(0)?,
        id: row.get(1)?,
        properties: parse_json::<Map<String, Value>>(&row.get::<_, String>(2)?)?,
        created_at: from_micros(row.get(3)?)?,
        updated_at: from_micros(row.get(4)?)?,
    })
}

fn subscription_row(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        object: RecipientRef::object(row.get::<_, String>(0)?, row.get::<_, String>(1)?),
        recipient: recipient(row.get(2)?, row.get(3)?),
        properties: parse_json::<Map<String, Value>>(&row.get::<_, String>(4)?)?,
        inserted_at: from_micros(row.get(5)?)?,
        updated_at: from_micros(row.get(6)?)?,
    })
}

fn preference_row(
    owner: &RecipientRef,
) -> impl Fn(&Row<'_>) -> rusqlite::Result<StoredPreferenceSet> + '_ {
    move |row| {
        Ok(StoredPreferenceSet {
            owner: owner.clone(),
            set_id: row.get(1)?,
            set: parse_json::<Value>(&row.get::<_, String>(2)?)?,
            version: row.get::<_, i64>(3)? as u64,
            updated_at: from_micros(row.get(4)?)?,
        })
    }
}

/// One keyset page ordered by the text column `key`: `where_sql` selects the rows (with `args`),
/// `after` pages forwards (ascending), `before` backwards.
#[allow(clippy::too_many_arguments)]
fn key_page<T>(
    conn: &Connection,
    table: &str,
    columns: &str,
    key: &str,
    where_sql: &str,
    args: &[&dyn ToSql],
    page: &PageRequest,
    map: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Page<T>> {
    let size = page.page_size.max(1);
    let (cmp, order, cursor) = match (&page.before, &page.after) {
        (Some(b), _) => ("<", "DESC", Some(b.clone())),
        (None, Some(a)) => (">", "ASC", Some(a.clone())),
        (None, None) => (">", "ASC", None),
    };
    // The key comes last so `map` reads the columns from index 0.
    let mut sql = format!("SELECT {columns}, {key} FROM {table} WHERE {where_sql}");
    let mut all: Vec<&dyn ToSql> = args.to_vec();
    if let Some(c) = &cursor {
        sql.push_str(&format!(" AND {key} {cmp} ?"));
        all.push(c);
    }
    sql.push_str(&format!(" ORDER BY {key} {order} LIMIT {}", size + 1));
    let n = columns.split(',').count();
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(all.as_slice(), |row| {
            Ok((row.get::<_, String>(n)?, map(row)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page, size))
}

fn owner_key(owner: &RecipientRef) -> String {
    owner.id_key()
}

#[async_trait]
impl Directory for SqliteStore {
    async fn upsert_object(
        &self,
        collection: &str,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Object, StoreError> {
        let (collection, id, properties) =
            (collection.to_string(), id.to_string(), properties.clone());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE collection = ? AND id = ?"),
                    [&collection, &id],
                    object_row,
                )
                .optional()?;
            let object = match existing {
                Some(mut o) => {
                    merge_properties(&mut o.properties, &properties);
                    o.updated_at = at;
                    o
                }
                None => {
                    let mut props = Map::new();
                    merge_properties(&mut props, &properties);
                    Object { collection: collection.clone(), id: id.clone(), properties: props, created_at: at, updated_at: at }
                }
            };
            tx.execute(
                "INSERT INTO objects (collection, id, properties, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (collection, id) DO UPDATE SET properties = excluded.properties, updated_at = excluded.updated_at",
                params![object.collection, object.id, json(&object.properties), micros(object.created_at), micros(object.updated_at)],
            )?;
            tx.commit()?;
            Ok(object)
        })
        .await
    }

    async fn get_object(&self, collection: &str, id: &str) -> Result<Option<Object>, StoreError> {
        let (collection, id) = (collection.to_string(), id.to_string());
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE collection = ? AND id = ?"),
                [&collection, &id],
                object_row,
            )
            .optional()
        })
        .await
    }

    async fn get_objects(&self, refs: &[RecipientRef]) -> Result<Vec<Object>, StoreError> {
        let keys: Vec<(String, String)> = refs
            .iter()
            .map(|r| (collection(r).to_string(), r.id.clone()))
            .collect();
        self.read(move |conn| {
            let mut objects = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(250) {
                let marks = vec!["(?, ?)"; chunk.len()].join(", ");
                let mut stmt = conn.prepare(&format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE (collection, id) IN (VALUES {marks})"
                ))?;
                let params = chunk.iter().flat_map(|(c, id)| [c, id]);
                let rows = stmt.query_map(rusqlite::params_from_iter(params), object_row)?;
                for object in rows {
                    objects.push(object?);
                }
            }
            Ok(objects)
        })
        .await
    }

    async fn delete_object(&self, collection: &str, id: &str) -> Result<Removal, StoreError> {
        let (collection, id) = (collection.to_string(), id.to_string());
        let owner = owner_key(&RecipientRef::object(collection.clone(), id.clone()));
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let n = tx.execute(
                "DELETE FROM objects WHERE collection = ? AND id = ?",
                [&collection, &id],
            )?;
            tx.execute(
                "DELETE FROM subscriptions WHERE object_collection = ? AND object_id = ?",
                [&collection, &id],
            )?;
            tx.execute("DELETE FROM preference_sets WHERE owner_key = ?", [&owner])?;
            // Its own subscriptions to other objects go too, or parents would keep fanning out
            // to it.
            tx.execute(
                "DELETE FROM subscriptions WHERE recipient_key = ?",
                [&owner],
            )?;
            tx.commit()?;
            Ok(Removal::from_existed(n > 0))
        })
        .await
    }

    async fn list_objects(
        &self,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Object>, StoreError> {
        let (collection, page) = (collection.to_string(), page.clone());
        self.read(move |conn| {
            key_page(
                conn,
                "objects",
                OBJECT_COLUMNS,
                "id",
                "collection = ?",
                &[&collection],
                &page,
                object_row,
            )
        })
        .await
    }

    async fn put_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let (object, recipients, properties) =
            (object.clone(), recipients.to_vec(), properties.clone());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let mut out = Vec::with_capacity(recipients.len());
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO subscriptions (object_collection, object_id, recipient_key, recipient_id, recipient_collection, properties, inserted_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (object_collection, object_id, recipient_key) DO UPDATE SET properties = excluded.properties, updated_at = excluded.updated_at
                     RETURNING inserted_at",
                )?;
                for r in &recipients {
                    let inserted: i64 = upsert.query_row(
                        params![collection(&object), object.id, r.id_key(), r.id, collection(r), json(&properties), micros(at), micros(at)],
                        |row| row.get(0),
                    )?;
                    out.push(Subscription {
                        object: object.clone(),
                        recipient: r.clone(),
                        properties: properties.clone(),
                        inserted_at: from_micros(inserted)?,
                        updated_at: at,
                    });
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn delete_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
    ) -> Result<Vec<Subscription>, StoreError> {
        let (object, recipients) = (object.clone(), recipients.to_vec());
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            let mut out = Vec::new();
            {
                let mut delete = tx.prepare_cached(&format!(
                    "DELETE FROM subscriptions WHERE object_collection = ? AND object_id = ? AND recipient_key = ?
                     RETURNING {SUBSCRIPTION_COLUMNS}"
                ))?;
                for r in &recipients {
                    if let Some(s) = delete
                        .query_row(params![collection(&object), object.id, r.id_key()], subscription_row)
                        .optional()?
                    {
                        out.push(s);
                    }
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn list_subscribers(
        &self,
        object: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let (object, page) = (object.clone(), page.clone());
        self.read(move |conn| {
            let c = collection(&object).to_string();
            key_page(
                conn,
                "subscriptions",
                SUBSCRIPTION_COLUMNS,
                "recipient_key",
                "object_collection = ? AND object_id = ?",
                &[&c, &object.id],
                &page,
                subscription_row,
            )
        })
        .await
    }

    async fn list_subscriptions_of(
        &self,
        recipient: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let (key, page) = (recipient.id_key(), page.clone());
        self.read(move |conn| {
            key_page(
                conn,
                "subscriptions",
                SUBSCRIPTION_COLUMNS,
                "(object_collection || char(31) || object_id)",
                "recipient_key = ?",
                &[&key],
                &page,
                subscription_row,
            )
        })
        .await
    }

    async fn put_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
        set: &Value,
        condition: WriteIf,
        at: DateTime<Utc>,
    ) -> Result<Write, StoreError> {
        let (owner, set_id, body) = (owner_key(owner), set_id.to_string(), json(set));
        self.write(move |conn| {
            let changed = match condition {
                WriteIf::Always => conn.execute(
                    "INSERT INTO preference_sets (owner_key, set_id, body, version, updated_at) VALUES (?, ?, ?, 1, ?)
                     ON CONFLICT (owner_key, set_id) DO UPDATE SET body = excluded.body, version = version + 1, updated_at = excluded.updated_at",
                    params![owner, set_id, body, micros(at)],
                )?,
                WriteIf::Absent => conn.execute(
                    "INSERT INTO preference_sets (owner_key, set_id, body, version, updated_at) VALUES (?, ?, ?, 1, ?)
                     ON CONFLICT DO NOTHING",
                    params![owner, set_id, body, micros(at)],
                )?,
                WriteIf::Version(v) => conn.execute(
                    "UPDATE preference_sets SET body = ?, version = version + 1, updated_at = ?
                     WHERE owner_key = ? AND set_id = ? AND version = ?",
                    params![body, micros(at), owner, set_id, v as i64],
                )?,
            };
            Ok(Write::from_applied(changed > 0))
        })
        .await
    }

    async fn get_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<StoredPreferenceSet>, StoreError> {
        let (owner, set_id) = (owner.clone(), set_id.to_string());
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {PREFERENCE_COLUMNS} FROM preference_sets WHERE owner_key = ? AND set_id = ?"),
                params![owner_key(&owner), set_id],
                preference_row(&owner),
            )
            .optional()
        })
        .await
    }

    async fn list_preference_sets(
        &self,
        owner: &RecipientRef,
    ) -> Result<Vec<StoredPreferenceSet>, StoreError> {
        let owner = owner.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PREFERENCE_COLUMNS} FROM preference_sets WHERE owner_key = ? ORDER BY set_id"
            ))?;
            let rows = stmt
                .query_map([owner_key(&owner)], preference_row(&owner))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Removal, StoreError> {
        let (owner, set_id) = (owner_key(owner), set_id.to_string());
        self.write(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM preference_sets WHERE owner_key = ? AND set_id = ?",
                params![owner, set_id],
            )?;
            Ok(Removal::from_existed(deleted > 0))
        })
        .await
    }
}
