//! Knock's preference merge hierarchy: which stored sets apply to a recipient, and in what order.

use super::set::PreferenceSet;

/// The sets that may apply to one recipient in one send. Leave the tenant fields `None` when the
/// workflow was triggered without a tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hierarchy<'a> {
    /// The environment's default set (lowest precedence).
    pub environment_default: Option<&'a PreferenceSet>,
    /// The recipient's `default` set.
    pub recipient_default: Option<&'a PreferenceSet>,
    /// The tenant's default set (the tenant's `preference_set`).
    pub tenant_default: Option<&'a PreferenceSet>,
    /// The recipient's set whose id is the tenant id.
    pub recipient_tenant: Option<&'a PreferenceSet>,
}

impl Hierarchy<'_> {
    /// The effective set: with a tenant-level set, recipient's tenant set > tenant default >
    /// environment default (the recipient's `default` set does not apply); with neither tenant
    /// level, recipient default > environment default. `None` when no set exists (all opted in).
    /// The result carries the id of the highest-precedence set present.
    pub fn effective(&self) -> Option<PreferenceSet> {
        let levels = if self.recipient_tenant.is_some() || self.tenant_default.is_some() {
            [
                self.environment_default,
                self.tenant_default,
                self.recipient_tenant,
            ]
        } else {
            [self.environment_default, self.recipient_default, None]
        };
        merge_levels(&levels)
    }
}

/// Merges `levels`, lowest precedence first, each higher level with
/// [`PreferenceSet::merge_from`]; `None` when every level is absent.
pub fn merge_levels(levels: &[Option<&PreferenceSet>]) -> Option<PreferenceSet> {
    let mut present = levels.iter().flatten();
    let mut merged = (*present.next()?).clone();
    for set in present {
        merged.merge_from(set);
        merged.id.clone_from(&set.id);
    }
    Some(merged)
}
