//! Pages of a listing: how every role's list operation is asked for and answered.

/// One page of a listing, newest first. Cursors are opaque strings owned by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Cursor for the next (older) page, if there is one.
    pub after: Option<String>,
    /// Cursor for the previous (newer) page, if there is one.
    pub before: Option<String>,
}

impl<T> Page<T> {
    /// Assembles a page from up to `size + 1` rows fetched after (or, when `backwards`, before)
    /// a cursor, each with its own cursor: the extra row only tells that more exist.
    pub fn from_rows(mut rows: Vec<(String, T)>, request: &PageRequest, size: usize) -> Self {
        let backwards = request.before.is_some();
        let more = rows.len() > size;
        rows.truncate(size);
        if backwards {
            rows.reverse();
        }
        let first = rows.first().map(|(c, _)| c.clone());
        let last = rows.last().map(|(c, _)| c.clone());
        let (newer, older) = if backwards {
            (more, true)
        } else {
            (request.after.is_some(), more)
        };
        Page {
            after: if older { last } else { None },
            before: if newer { first } else { None },
            items: rows.into_iter().map(|(_, item)| item).collect(),
        }
    }
}

impl<T> Page<Option<T>> {
    /// The page without the rows that could not be decoded (`None`), cursors unchanged.
    pub fn readable(self) -> Page<T> {
        Page {
            items: self.items.into_iter().flatten().collect(),
            after: self.after,
            before: self.before,
        }
    }
}

/// Where a listing starts and how long its page is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page (1–50 at the API).
    pub page_size: usize,
    /// Return items older than this cursor.
    pub after: Option<String>,
    /// Return items newer than this cursor.
    pub before: Option<String>,
}
