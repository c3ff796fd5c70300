//! The recipient directory on DynamoDB: objects (and tenants), subscriptions, preference sets.
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` |
//! |---|---|---|---|
//! | object | `OBJS#<collection>` | `OBJ#<id>` | – |
//! | subscription | `SUBS#<collection>#<object id>` | `TO#<recipient key>` | `SUBBY#<recipient key>` / `<collection>#<object id>` |
//! | preference set | `PREFS#<owner key>` | `SET#<set id>` | – |
//!
//! A collection's objects and an object's subscribers each share a partition, so listing them in
//! key order is a strongly consistent `Query` (fan-out pages through subscribers this way).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, ReturnValue, WriteRequest};
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::object::Object;
use herald_core::ports::{
    Directory, Page, PageRequest, Removal, StoredPreferenceSet, Write, WriteIf,
};
use herald_core::recipient::RecipientRef;
use herald_core::subscription::Subscription;
use serde_json::{Map, Value};

use super::codec::*;
use super::expr::Expr;
use super::request::{build_error, conditional, key, sdk_error};
use super::DynamoStore;

fn object_pk(collection: &str) -> String {
    format!("OBJS#{collection}")
}

fn subs_pk(object: &RecipientRef) -> String {
    format!(
        "SUBS#{}#{}",
        object.collection.as_deref().unwrap_or(""),
        object.id
    )
}

fn prefs_pk(owner: &RecipientRef) -> String {
    format!("PREFS#{}", owner.id_key())
}

fn object_from(item: &Item) -> Result<Object, StoreError> {
    Ok(Object {
        collection: get_s(item, "collection")?.to_string(),
        id: get_s(item, "id")?.to_string(),
        properties: properties_from(item)?,
        created_at: time_at(item, "created_at")?,
        updated_at: time_at(item, "updated_at")?,
    })
}

fn reference(item: &Item, prefix: &str) -> Result<RecipientRef, StoreError> {
    let id = get_s(item, &format!("{prefix}_id"))?.to_string();
    Ok(match opt_s(item, &format!("{prefix}_collection")) {
        Some(c) if !c.is_empty() => RecipientRef::object(c, id),
        _ => RecipientRef::user(id),
    })
}

fn subscription_from(item: &Item) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        object: reference(item, "object")?,
        recipient: reference(item, "recipient")?,
        properties: parse_at(item, "properties")?,
        inserted_at: time_at(item, "inserted_at")?,
        updated_at: time_at(item, "updated_at")?,
    })
}

fn preference_from(owner: &RecipientRef, item: &Item) -> Result<StoredPreferenceSet, StoreError> {
    Ok(StoredPreferenceSet {
        owner: owner.clone(),
        set_id: get_s(item, "set_id")?.to_string(),
        set: parse_at(item, "body")?,
        version: u64::try_from(get_n(item, "version")?).unwrap_or(0),
        updated_at: time_at(item, "updated_at")?,
    })
}

impl DynamoStore {
    /// One page of a partition in key order (ascending; `before` pages backwards). `index` is
    /// `None` for the table itself (read strongly consistent) or a GSI name.
    async fn key_page<T>(
        &self,
        index: Option<&'static str>,
        partition: String,
        page: &PageRequest,
        decode: impl Fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let size = page.page_size.clamp(1, 1_000);
        let (pk_attr, sk_attr) = match index {
            Some(i) => (format!("{i}pk"), format!("{i}sk")),
            None => ("pk".to_string(), "sk".to_string()),
        };
        let backwards = page.before.is_some();
        let mut e = Expr::default();
        let mut cond = e.eq(&pk_attr, s(partition));
        if let Some(c) = page.before.as_ref().or(page.after.as_ref()) {
            let (sk, v) = (e.name(&sk_attr), e.s(c.clone()));
            cond.push_str(&format!(
                " AND {sk} {} {v}",
                if backwards { "<" } else { ">" }
            ));
        }
        let mut rows = Vec::new();
        let mut pages = self
            .query(&cond, &e)
            .set_index_name(index.map(str::to_string))
            .set_consistent_read(index.is_none().then_some(true))
            .scan_index_forward(!backwards)
            .limit(i32::try_from(size + 1).unwrap_or(i32::MAX))
            .into_paginator()
            .send();
        while let Some(out) = pages.next().await {
            for item in out.map_err(sdk_error)?.items() {
                rows.push((get_s(item, &sk_attr)?.to_string(), decode(item)?));
            }
            if rows.len() > size {
                break;
            }
        }
        Ok(Page::from_rows(rows, page, size))
    }

    /// Deletes every item of a partition (subscribers or preference sets of a deleted object).
    async fn delete_partition(&self, pk: String) -> Result<(), StoreError> {
        let mut e = Expr::default();
        let cond = e.eq("pk", s(pk));
        let items = self.query_all(&cond, None, &e).await?;
        let requests = items
            .iter()
            .map(|item| {
                let del = DeleteRequest::builder()
                    .set_key(Some(key(
                        get_s(item, "pk")?.to_string(),
                        get_s(item, "sk")?,
                    )))
                    .build()
                    .map_err(build_error)?;
                Ok(WriteRequest::builder().delete_request(del).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write(requests).await
    }
}

#[async_trait]
impl Directory for DynamoStore {
    async fn upsert_object(
        &self,
        collection: &str,
        id: &str,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Object, StoreError> {
        let item = self
            .upsert_properties(
                key(object_pk(collection), &format!("OBJ#{id}")),
                properties,
                at,
                &[
                    ("id", s(id)),
                    ("collection", s(collection)),
                    ("type", s("object")),
                ],
            )
            .await?;
        object_from(&item)
    }

    async fn get_object(&self, collection: &str, id: &str) -> Result<Option<Object>, StoreError> {
        self.get(object_pk(collection), &format!("OBJ#{id}"))
            .await?
            .as_ref()
            .map(object_from)
            .transpose()
    }

    async fn get_objects(&self, refs: &[RecipientRef]) -> Result<Vec<Object>, StoreError> {
        let keys = refs
            .iter()
            .map(|r| {
                let collection = r.collection.as_deref().unwrap_or_default();
                key(object_pk(collection), &format!("OBJ#{}", r.id))
            })
            .collect();
        self.batch_get(keys, None)
            .await?
            .iter()
            .map(object_from)
            .collect()
    }

    async fn delete_object(&self, collection: &str, id: &str) -> Result<Removal, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(object_pk(collection), &format!("OBJ#{id}"))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        let object = RecipientRef::object(collection, id);
        self.delete_partition(subs_pk(&object)).await?;
        self.delete_partition(prefs_pk(&object)).await?;
        // Its own subscriptions to other objects go too, or parents would keep fanning out to
        // it (found through GSI1, so a subscription made a moment ago may survive).
        let mut page = PageRequest {
            page_size: 1_000,
            ..PageRequest::default()
        };
        loop {
            let subs = self.list_subscriptions_of(&object, &page).await?;
            for sub in &subs.items {
                self.delete_subscriptions(&sub.object, std::slice::from_ref(&object))
                    .await?;
            }
            match subs.after {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        Ok(Removal::from_existed(out.attributes().is_some()))
    }

    async fn list_objects(
        &self,
        collection: &str,
        page: &PageRequest,
    ) -> Result<Page<Object>, StoreError> {
        let page = PageRequest {
            after: page.after.as_ref().map(|c| format!("OBJ#{c}")),
            before: page.before.as_ref().map(|c| format!("OBJ#{c}")),
            page_size: page.page_size,
        };
        let mut out = self
            .key_page(None, object_pk(collection), &page, object_from)
            .await?;
        // Cursors are object ids at the API, as on the embedded store.
        let strip = |c: String| c.strip_prefix("OBJ#").map(str::to_string).unwrap_or(c);
        out.after = out.after.map(strip);
        out.before = out.before.map(strip);
        Ok(out)
    }

    async fn put_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Subscription>, StoreError> {
        let mut out = Vec::with_capacity(recipients.len());
        for r in recipients {
            let mut e = Expr::default();
            let inserted = e.name("inserted_at");
            let now = e.value(n(micros(at)));
            let sets = [
                format!("{inserted} = if_not_exists({inserted}, {now})"),
                format!("{} = {now}", e.name("updated_at")),
                e.eq("properties", json(properties)),
                e.eq("object_id", s(&object.id)),
                e.eq(
                    "object_collection",
                    s(object.collection.as_deref().unwrap_or("")),
                ),
                e.eq("recipient_id", s(&r.id)),
                e.eq(
                    "recipient_collection",
                    s(r.collection.as_deref().unwrap_or("")),
                ),
                e.eq("gsi1pk", s(format!("SUBBY#{}", r.id_key()))),
                e.eq(
                    "gsi1sk",
                    s(format!(
                        "{}#{}",
                        object.collection.as_deref().unwrap_or(""),
                        object.id
                    )),
                ),
                e.eq("type", s("subscription")),
            ];
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(subs_pk(object), &format!("TO#{}", r.id_key()))))
                .update_expression(format!("SET {}", sets.join(", ")))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .map_err(sdk_error)?;
            out.push(subscription_from(result.attributes().ok_or_else(
                || StoreError::backend("UpdateItem returned no item"),
            )?)?);
        }
        Ok(out)
    }

    async fn delete_subscriptions(
        &self,
        object: &RecipientRef,
        recipients: &[RecipientRef],
    ) -> Result<Vec<Subscription>, StoreError> {
        let mut out = Vec::new();
        for r in recipients {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(subs_pk(object), &format!("TO#{}", r.id_key()))))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(sdk_error)?;
            if let Some(item) = result.attributes() {
                out.push(subscription_from(item)?);
            }
        }
        Ok(out)
    }

    async fn list_subscribers(
        &self,
        object: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.key_page(None, subs_pk(object), page, subscription_from)
            .await
    }

    async fn list_subscriptions_of(
        &self,
        recipient: &RecipientRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        self.key_page(
            Some("gsi1"),
            format!("SUBBY#{}", recipient.id_key()),
            page,
            subscription_from,
        )
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
        let mut e = Expr::default();
        let version = e.name("version");
        let (zero, one) = (e.value(n(0)), e.value(n(1)));
        let sets = [
            format!("{version} = if_not_exists({version}, {zero}) + {one}"),
            e.eq("body", json(set)),
            e.eq("set_id", s(set_id)),
            e.eq("updated_at", n(micros(at))),
            e.eq("type", s("preference_set")),
        ];
        let condition = match condition {
            WriteIf::Always => None,
            WriteIf::Absent => Some(format!("attribute_not_exists({})", e.name("pk"))),
            WriteIf::Version(v) => {
                let expected = e.value(n(i64::try_from(v).unwrap_or(i64::MAX)));
                Some(format!("{version} = {expected}"))
            }
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(prefs_pk(owner), &format!("SET#{set_id}"))))
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_condition_expression(condition)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        conditional(result)
    }

    async fn get_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Option<StoredPreferenceSet>, StoreError> {
        self.get(prefs_pk(owner), &format!("SET#{set_id}"))
            .await?
            .map(|item| preference_from(owner, &item))
            .transpose()
    }

    async fn list_preference_sets(
        &self,
        owner: &RecipientRef,
    ) -> Result<Vec<StoredPreferenceSet>, StoreError> {
        let mut e = Expr::default();
        let cond = e.eq("pk", s(prefs_pk(owner)));
        self.query_all(&cond, None, &e)
            .await?
            .iter()
            .map(|item| preference_from(owner, item))
            .collect()
    }

    async fn delete_preference_set(
        &self,
        owner: &RecipientRef,
        set_id: &str,
    ) -> Result<Removal, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(prefs_pk(owner), &format!("SET#{set_id}"))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(Removal::from_existed(out.attributes().is_some()))
    }
}
