//! The messages role on DynamoDB: one item per message, listed by recipient (GSI1) or all
//! together (GSI2), newest first, with the query's filters applied server-side.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::message::{Engagement, Message};
use herald_core::ports::{ArchivedFilter, Bound, MessageQuery, Messages, Page, PageRequest};
use serde_json::Value;
use uuid::Uuid;

use super::codec::*;
use super::paging::Listing;
use super::request::{checked, key};
use super::DynamoStore;

/// A time bound as DynamoDB's comparison operator.
fn operator(bound: Bound) -> &'static str {
    match bound {
        Bound::Gt => ">",
        Bound::Gte => ">=",
        Bound::Lt => "<",
        Bound::Lte => "<=",
    }
}

fn message_listing(q: &MessageQuery) -> Listing {
    let mut l = match &q.recipient {
        Some(r) => Listing::new("gsi1", recipient_key(r)),
        None => Listing::new("gsi2", "MSGALL".into()),
    };
    let e = &mut l.expr;
    let f = &mut l.filters;
    if let Some(c) = &q.channel_key {
        f.push(e.eq("channel_key", s(c)));
    }
    if !q.statuses.is_empty() {
        f.push(e.any_of("status", q.statuses.iter().map(|s| s.as_str().to_string())));
    }
    for g in &q.engagement {
        let a = e.name(engagement_attr(g.engagement));
        f.push(if g.present {
            format!("attribute_exists({a})")
        } else {
            format!("attribute_not_exists({a})")
        });
    }
    match q.archived {
        None | Some(ArchivedFilter::Include) => {}
        Some(ArchivedFilter::Exclude) => {
            f.push(format!("attribute_not_exists({})", e.name("archived_at")))
        }
        Some(ArchivedFilter::Only) => {
            f.push(format!("attribute_exists({})", e.name("archived_at")))
        }
    }
    if let Some(k) = &q.workflow_key {
        f.push(e.eq("workflow_key", s(k)));
    }
    if let Some(t) = &q.tenant {
        f.push(e.eq("tenant", s(t)));
    }
    if let Some(id) = q.workflow_run_id {
        f.push(e.eq("workflow_run_id", s(id.to_string())));
    }
    if let Some(id) = q.recipient_run_id {
        f.push(e.eq("recipient_run_id", s(id.to_string())));
    }
    if !q.message_ids.is_empty() {
        f.push(e.any_of("id", q.message_ids.iter().map(|id| id.to_string())));
    }
    if !q.workflow_categories.is_empty() {
        // `categories` is a JSON array of strings: a quoted name matches one element.
        let c = e.name("categories");
        let any: Vec<String> = q
            .workflow_categories
            .iter()
            .map(|cat| {
                format!(
                    "contains({c}, {})",
                    e.s(Value::String(cat.clone()).to_string())
                )
            })
            .collect();
        f.push(format!("({})", any.join(" OR ")));
    }
    match q.has_tenant {
        Some(true) => f.push(format!("attribute_exists({})", e.name("tenant"))),
        Some(false) => f.push(format!("attribute_not_exists({})", e.name("tenant"))),
        None => {}
    }
    for (bound, at) in &q.inserted_at {
        let (name, value) = (e.name("inserted_at"), e.value(n(micros(*at))));
        f.push(format!("{name} {} {value}", operator(*bound)));
    }
    l
}

#[async_trait]
impl Messages for DynamoStore {
    async fn get_message(&self, id: Uuid) -> Result<Option<Message>, StoreError> {
        self.get(format!("MSG#{id}"), "MSG")
            .await?
            .as_ref()
            .map(message_from)
            .transpose()
    }

    async fn list_messages(
        &self,
        query: &MessageQuery,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        self.page(message_listing(query), page, message_from).await
    }

    async fn count_messages(&self, query: &MessageQuery) -> Result<u64, StoreError> {
        self.count(message_listing(query)).await
    }

    async fn set_engagement(
        &self,
        id: Uuid,
        engagement: Engagement,
        present: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<Message>, StoreError> {
        let mut e = super::expr::Expr::default();
        let attr = e.name(engagement_attr(engagement));
        let now = e.value(n(micros(at)));
        let updated = e.name("updated_at");
        let update = if present {
            format!("SET {attr} = if_not_exists({attr}, {now}), {updated} = {now}")
        } else {
            format!("SET {updated} = {now} REMOVE {attr}")
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("MSG#{id}"), "MSG")))
            .update_expression(update)
            .condition_expression(format!("attribute_exists({})", e.name("pk")))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        // The condition fails only for a message that does not exist.
        match checked(result)? {
            Some(out) => out.attributes().map(message_from).transpose(),
            None => Ok(None),
        }
    }
}
