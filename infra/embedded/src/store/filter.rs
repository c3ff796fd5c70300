//! WHERE clauses for listings, and keyset pagination over the `seq` column.

use herald_core::ports::{
    ArchivedFilter, BatchQuery, Bound, MessageQuery, Page, PageRequest, RunQuery,
};
use rusqlite::types::Value as Sql;

use super::codec::{collection, engagement_column, enum_str, is_undecodable};

/// A WHERE clause with its positional parameters.
#[derive(Default)]
pub struct Where {
    clauses: Vec<String>,
    pub params: Vec<Sql>,
}

impl Where {
    fn eq(&mut self, column: &str, value: impl Into<Sql>) {
        self.clauses.push(format!("{column} = ?"));
        self.params.push(value.into());
    }

    fn any_of(&mut self, column: &str, values: Vec<String>) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.clauses.push(format!("{column} IN ({marks})"));
        self.params.extend(values.into_iter().map(Sql::Text));
    }

    fn raw(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// A time bound as SQL's comparison operator.
fn operator(bound: Bound) -> &'static str {
    match bound {
        Bound::Gt => ">",
        Bound::Gte => ">=",
        Bound::Lt => "<",
        Bound::Lte => "<=",
    }
}

pub fn messages(q: &MessageQuery) -> Where {
    let mut w = Where::default();
    if let Some(r) = &q.recipient {
        w.eq("recipient_id", r.id.clone());
        w.eq("recipient_collection", collection(r).to_string());
    }
    if let Some(c) = &q.channel_key {
        w.eq("channel_key", c.clone());
    }
    w.any_of("status", q.statuses.iter().map(enum_str).collect());
    for f in &q.engagement {
        let null = if f.present { "IS NOT NULL" } else { "IS NULL" };
        w.raw(format!("{} {null}", engagement_column(f.engagement)));
    }
    match q.archived {
        None | Some(ArchivedFilter::Include) => {}
        Some(ArchivedFilter::Exclude) => w.raw("archived_at IS NULL".into()),
        Some(ArchivedFilter::Only) => w.raw("archived_at IS NOT NULL".into()),
    }
    if let Some(k) = &q.workflow_key {
        w.eq("workflow_key", k.clone());
    }
    if let Some(t) = &q.tenant {
        w.eq("tenant", t.clone());
    }
    if let Some(id) = q.workflow_run_id {
        w.eq("workflow_run_id", id.to_string());
    }
    if let Some(id) = q.recipient_run_id {
        w.eq("recipient_run_id", id.to_string());
    }
    if !q.message_ids.is_empty() {
        w.any_of(
            "id",
            q.message_ids.iter().map(|id| id.to_string()).collect(),
        );
    }
    if !q.workflow_categories.is_empty() {
        let marks = vec!["?"; q.workflow_categories.len()].join(", ");
        w.raw(format!(
            "EXISTS (SELECT 1 FROM json_each(categories) WHERE value IN ({marks}))"
        ));
        w.params
            .extend(q.workflow_categories.iter().cloned().map(Sql::Text));
    }
    match q.has_tenant {
        Some(true) => w.raw("tenant IS NOT NULL".into()),
        Some(false) => w.raw("tenant IS NULL".into()),
        None => {}
    }
    for (bound, at) in &q.inserted_at {
        w.raw(format!("inserted_at {} ?", operator(*bound)));
        w.params.push(Sql::Integer(at.timestamp_micros()));
    }
    w
}

pub fn runs(q: &RunQuery) -> Where {
    let mut w = Where::default();
    if let Some(k) = &q.workflow_key {
        w.eq("workflow_key", k.clone());
    }
    w.any_of(
        "status",
        q.statuses.iter().map(|s| s.as_str().to_string()).collect(),
    );
    if let Some(r) = &q.recipient {
        w.eq("recipient_id", r.id.clone());
        w.eq("recipient_collection", collection(r).to_string());
    }
    if let Some(t) = &q.tenant {
        w.eq("tenant", t.clone());
    }
    if let Some(id) = q.workflow_run_id {
        w.eq("workflow_run_id", id.to_string());
    }
    match q.has_errors {
        Some(true) => w.raw("error_count > 0".into()),
        Some(false) => w.raw("error_count = 0".into()),
        None => {}
    }
    w
}

pub fn batches(q: &BatchQuery) -> Where {
    let mut w = Where::default();
    if let Some(status) = q.status {
        w.eq("status", status.as_str().to_string());
    }
    if let Some(k) = &q.workflow_key {
        w.eq("workflow_key", k.clone());
    }
    if let Some(r) = &q.recipient {
        w.eq("recipient_id", r.id.clone());
        w.eq("recipient_collection", collection(r).to_string());
    }
    w
}

/// Runs a newest-first keyset-paginated SELECT over `table`, decoding rows with `decode`
/// (which returns each row's `seq` with the item). A row that cannot be decoded is logged and
/// left out of the page; the page's cursors are those of the rows read, so they stay valid.
pub fn page<T>(
    conn: &rusqlite::Connection,
    table: &str,
    columns: &str,
    filter: Where,
    page: &PageRequest,
    decode: fn(&rusqlite::Row<'_>) -> rusqlite::Result<(i64, T)>,
) -> rusqlite::Result<Page<T>> {
    let size = page.page_size.clamp(1, 1_000);
    let cursor = |c: &Option<String>| c.as_deref().and_then(|s| s.parse::<i64>().ok());
    let (before, after) = (cursor(&page.before), cursor(&page.after));
    let mut params = filter.params.clone();
    let mut sql = format!("SELECT {columns} FROM {table} WHERE {}", filter.sql());
    if let Some(b) = before {
        sql.push_str(" AND seq > ? ORDER BY seq ASC");
        params.push(Sql::Integer(b));
    } else if let Some(a) = after {
        sql.push_str(" AND seq < ? ORDER BY seq DESC");
        params.push(Sql::Integer(a));
    } else {
        sql.push_str(" ORDER BY seq DESC");
    }
    sql.push_str(&format!(" LIMIT {}", size + 1));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows: Vec<(String, Option<T>)> = Vec::new();
    let read = stmt.query_map(rusqlite::params_from_iter(params), |row| {
        Ok((row.get::<_, i64>(0)?, decode(row)))
    })?;
    for row in read {
        let (seq, item) = row?;
        let item = match item {
            Ok((_, item)) => Some(item),
            Err(e) if is_undecodable(&e) => {
                tracing::error!(table, seq, error = %e, "a stored row cannot be read; left out of the listing");
                None
            }
            Err(e) => return Err(e),
        };
        rows.push((seq.to_string(), item));
    }
    Ok(Page::from_rows(rows, page, size).readable())
}
