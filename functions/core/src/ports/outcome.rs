//! What a conditional write did: applied, or lost to another writer. A lost race is an answer
//! the engine acts on, not an error.

/// The outcome of a conditional write.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// The condition held and the write is durable.
    Applied,
    /// The condition failed: another writer changed the item first (or it is gone), and
    /// nothing was written.
    LostRace,
}

impl Write {
    /// Whether the write was applied.
    pub fn applied(self) -> bool {
        self == Write::Applied
    }

    /// [`Write::Applied`] if `applied`, else [`Write::LostRace`].
    pub fn from_applied(applied: bool) -> Self {
        if applied {
            Write::Applied
        } else {
            Write::LostRace
        }
    }
}

/// The outcome of a delete.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The item existed and is gone.
    Removed,
    /// There was no such item.
    Missing,
}

impl Removal {
    /// Whether something was removed.
    pub fn removed(self) -> bool {
        self == Removal::Removed
    }

    /// [`Removal::Removed`] if `existed`, else [`Removal::Missing`].
    pub fn from_existed(existed: bool) -> Self {
        if existed {
            Removal::Removed
        } else {
            Removal::Missing
        }
    }
}
