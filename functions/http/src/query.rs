//! Query strings as Knock's SDKs write them: `status[]=a&status[]=b` (Node and Python),
//! `status=a`, indexed `recipient[0]`, and nested `recipient[id]=…`.

use chrono::{DateTime, Utc};
use herald_core::ports::{Bound, PageRequest};
use herald_core::recipient::RecipientRef;

use crate::error::ApiError;

/// Knock's largest page.
pub const MAX_PAGE_SIZE: usize = 50;

/// Decoded query parameters, in order.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses the query string of `uri`.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self { pairs }
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, `name[]` or `name[<index>]`.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| !v.is_empty() && is_list_key(k, name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether any parameter starts with `name` (as `name`, `name[…]` or `name.…`).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, v)| {
            !v.is_empty()
                && (k == name
                    || k.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.')))
        })
    }

    /// A recipient filter: `recipient=<user id>`, or `recipient[id]=…` with an optional
    /// `recipient[collection]=…` for an object.
    pub fn recipient(&self) -> Result<Option<RecipientRef>, ApiError> {
        Ok(match (self.get("recipient"), self.get("recipient[id]")) {
            (Some(id), _) => Some(RecipientRef::user(id)),
            (None, Some(id)) => Some(match self.get("recipient[collection]") {
                Some(c) => {
                    herald_core::object::check_collection(c)
                        .map_err(|why| ApiError::invalid_param("recipient[collection]", why))?;
                    RecipientRef::object(c, id)
                }
                None => RecipientRef::user(id),
            }),
            (None, None) => None,
        })
    }

    /// `page_size`, `after` and `before`, validated.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let page_size = match self.get("page_size") {
            None => MAX_PAGE_SIZE,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid_param(
                        "page_size",
                        "must be an integer from 1 to 50",
                    ))
                }
            },
        };
        let cursor = |field: &str| {
            self.get(field)
                .map(|text| crate::cursor::decode(text, field))
                .transpose()
        };
        Ok(PageRequest {
            page_size,
            after: cursor("after")?,
            before: cursor("before")?,
        })
    }

    /// Time bounds of `name`, as `name[gte]=…` (the SDKs) or `name.gte=…` (Knock's docs), in
    /// RFC 3339.
    pub fn bounds(&self, name: &str) -> Result<Vec<(Bound, DateTime<Utc>)>, ApiError> {
        let mut out = Vec::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(name) else {
                continue;
            };
            let op = rest
                .strip_prefix('.')
                .or_else(|| rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')));
            let Some(op) = op else { continue };
            let field = format!("{name}.{op}");
            let bound = Bound::parse(op)
                .ok_or_else(|| ApiError::invalid_param(&field, "must be gt, gte, lt or lte"))?;
            let at = DateTime::parse_from_rfc3339(v)
                .map_err(|_| ApiError::invalid_param(&field, "must be an ISO 8601 timestamp"))?;
            out.push((bound, at.with_timezone(&Utc)));
        }
        Ok(out)
    }

    /// A boolean parameter.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_param(name, "must be true or false")),
        }
    }

    /// Refuses parameters this version does not implement, rather than ignoring a filter.
    pub fn refuse(&self, unsupported: &[&str]) -> Result<(), ApiError> {
        match unsupported.iter().find(|name| self.has(name)) {
            Some(name) => Err(ApiError::invalid_param(
                name,
                "is not supported by this version of Herald",
            )),
            None => Ok(()),
        }
    }
}

fn is_list_key(key: &str, name: &str) -> bool {
    match key.strip_prefix(name) {
        Some("") | Some("[]") => true,
        Some(rest) => rest
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_array_form() {
        let q = Query::parse(Some(
            "status%5B%5D=sent&status[]=delivered&status=queued&status[2]=x&statusx=no&page_size=5",
        ));
        assert_eq!(q.list("status"), vec!["sent", "delivered", "queued", "x"]);
        assert_eq!(q.get("page_size"), Some("5"));
        assert!(q.has("status"));
        assert!(!q.has("stat"));
    }

    #[test]
    fn validates_page_size() {
        assert_eq!(Query::parse(None).page().unwrap().page_size, 50);
        assert!(Query::parse(Some("page_size=51")).page().is_err());
        assert!(Query::parse(Some("page_size=0")).page().is_err());
        let query = format!("page_size=1&after={}", crate::cursor::encode("9"));
        assert_eq!(
            Query::parse(Some(&query)).page().unwrap().after.as_deref(),
            Some("9")
        );
        assert!(Query::parse(Some("page_size=1&after=9")).page().is_err());
    }

    #[test]
    fn refuses_unsupported_filters() {
        let q = Query::parse(Some("trigger_data=%7B%7D"));
        assert_eq!(q.refuse(&["trigger_data"]).unwrap_err().status, 422);
    }

    #[test]
    fn reads_time_bounds_in_both_forms() {
        let q = Query::parse(Some(
            "inserted_at%5Bgte%5D=2024-01-01T00:00:00Z&inserted_at.lt=2024-02-01T00:00:00Z",
        ));
        let b = q.bounds("inserted_at").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].0, Bound::Gte);
        assert_eq!(b[1].0, Bound::Lt);
        assert!(Query::parse(Some("inserted_at.gte=yesterday"))
            .bounds("inserted_at")
            .is_err());
        assert!(Query::parse(Some("inserted_at[eq]=2024-01-01T00:00:00Z"))
            .bounds("inserted_at")
            .is_err());
    }
}
