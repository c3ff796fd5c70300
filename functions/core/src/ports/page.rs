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
    /// Each item's own cursor, in the order of `items`: what lets a page end early.
    pub cursors: Vec<String>,
    /// Whether it was read backwards (before a cursor): it then ends early at its newest end.
    pub backwards: bool,
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
        let (cursors, items) = rows.into_iter().unzip();
        Page {
            after: if older { last } else { None },
            before: if newer { first } else { None },
            items,
            cursors,
            backwards,
        }
    }

    /// The page cut to the `n` items nearest its cursor (the first `n`, or the last `n` of a
    /// backward page), its cursor moved so the next page starts right after the last one kept.
    pub fn take(mut self, n: usize) -> Self {
        if n >= self.items.len() {
            return self;
        }
        if self.backwards {
            let cut = self.items.len() - n;
            self.items.drain(..cut);
            self.cursors.drain(..cut);
            self.before = self.cursors.first().cloned();
        } else {
            self.items.truncate(n);
            self.cursors.truncate(n);
            self.after = self.cursors.last().cloned();
        }
        self
    }

    /// Its items from the one nearest its cursor on: the order in which [`Page::take`] keeps
    /// them.
    pub fn nearest_first(&self) -> Box<dyn Iterator<Item = &T> + '_> {
        if self.backwards {
            Box::new(self.items.iter().rev())
        } else {
            Box::new(self.items.iter())
        }
    }
}

impl<T> Page<Option<T>> {
    /// The page without the rows that could not be decoded (`None`), cursors unchanged.
    pub fn readable(self) -> Page<T> {
        let (cursors, items) = self
            .cursors
            .into_iter()
            .zip(self.items)
            .filter_map(|(c, item)| item.map(|item| (c, item)))
            .unzip();
        Page {
            items,
            cursors,
            after: self.after,
            before: self.before,
            backwards: self.backwards,
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
