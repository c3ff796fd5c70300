//! Newest-first keyset pagination over a GSI, with filters applied server-side.

use aws_sdk_dynamodb::types::Select;
use herald_core::error::StoreError;
use herald_core::ports::{Page, PageRequest};

use super::codec::{get_s, Item};
use super::expr::{and, Expr};
use super::request::sdk_error;
use super::DynamoStore;

/// How many items one Query call evaluates at most; filters may drop many of them.
const READ_BATCH: i32 = 200;

/// A listing: one GSI partition plus filters.
pub struct Listing {
    /// `gsi1` or `gsi2`.
    pub index: &'static str,
    /// The partition key value.
    pub partition: String,
    /// Filter clauses built with `expr`.
    pub filters: Vec<String>,
    /// Placeholders of the filters.
    pub expr: Expr,
}

impl Listing {
    /// A listing of `partition` in `index`.
    pub fn new(index: &'static str, partition: String) -> Self {
        Self {
            index,
            partition,
            filters: Vec::new(),
            expr: Expr::default(),
        }
    }

    fn sk_attr(&self) -> String {
        format!("{}sk", self.index)
    }
}

impl DynamoStore {
    /// One page of `listing`, newest first, decoded with `decode`.
    pub(super) async fn page<T>(
        &self,
        mut listing: Listing,
        page: &PageRequest,
        decode: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let size = page.page_size.clamp(1, 1_000);
        let backwards = page.before.is_some();
        let sk_attr = listing.sk_attr();
        let pk_name = listing.expr.name(&format!("{}pk", listing.index));
        let pk_value = listing.expr.s(listing.partition.clone());
        let mut key = format!("{pk_name} = {pk_value}");
        if let Some(c) = page.before.as_ref().or(page.after.as_ref()) {
            let (sk, v) = (listing.expr.name(&sk_attr), listing.expr.s(c.clone()));
            key.push_str(&format!(
                " AND {sk} {} {v}",
                if backwards { ">" } else { "<" }
            ));
        }
        let mut rows: Vec<(String, Item)> = Vec::new();
        let mut pages = self
            .query(&key, &listing.expr)
            .index_name(listing.index)
            .set_filter_expression(and(&listing.filters))
            .scan_index_forward(backwards)
            .limit(READ_BATCH)
            .into_paginator()
            .send();
        while let Some(out) = pages.next().await {
            for item in out.map_err(sdk_error)?.items() {
                rows.push((get_s(item, &sk_attr)?.to_string(), item.clone()));
            }
            if rows.len() > size {
                break;
            }
        }
        // An item that cannot be decoded is logged and left out; the cursors are the items'
        // keys, so they stay valid.
        let rows = rows
            .into_iter()
            .map(|(cursor, item)| match decode(&item) {
                Ok(v) => Ok((cursor, Some(v))),
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(
                        cursor,
                        why,
                        "a stored item cannot be read; left out of the listing"
                    );
                    Ok((cursor, None))
                }
                Err(e) => Err(e),
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_rows(rows, page, size).readable())
    }

    /// How many items of `listing` match.
    pub(super) async fn count(&self, mut listing: Listing) -> Result<u64, StoreError> {
        let pk_name = listing.expr.name(&format!("{}pk", listing.index));
        let pk_value = listing.expr.s(listing.partition.clone());
        let key = format!("{pk_name} = {pk_value}");
        let mut total = 0u64;
        let mut pages = self
            .query(&key, &listing.expr)
            .index_name(listing.index)
            .set_filter_expression(and(&listing.filters))
            .select(Select::Count)
            .into_paginator()
            .send();
        while let Some(out) = pages.next().await {
            total += u64::try_from(out.map_err(sdk_error)?.count()).unwrap_or(0);
        }
        Ok(total)
    }
}
