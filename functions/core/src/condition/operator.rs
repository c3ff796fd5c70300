//! Knock's condition operators and their wire names.

/// A condition operator (Knock's `Condition.operator`), audience operators excepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `equal_to`: equal, numbers compared numerically.
    EqualTo,
    /// `not_equal_to`: negation of `equal_to`.
    NotEqualTo,
    /// `greater_than`: numeric `>`.
    GreaterThan,
    /// `less_than`: numeric `<`.
    LessThan,
    /// `greater_than_or_equal_to`: numeric `>=`.
    GreaterThanOrEqualTo,
    /// `less_than_or_equal_to`: numeric `<=`.
    LessThanOrEqualTo,
    /// `contains`: substring of a string, or element of an array.
    Contains,
    /// `not_contains`: negation of `contains`.
    NotContains,
    /// `contains_all`: every element of the argument is contained.
    ContainsAll,
    /// `not_contains_all`: negation of `contains_all`.
    NotContainsAll,
    /// `is_timestamp_before`: timestamp strictly before the argument.
    IsTimestampBefore,
    /// `is_timestamp_on_or_after`: timestamp at or after the argument.
    IsTimestampOnOrAfter,
    /// `is_timestamp_between`: timestamp within `[start, end]`, inclusive.
    IsTimestampBetween,
    /// `is_between`: number within `[low, high]`, inclusive.
    IsBetween,
    /// `empty`: missing, null, `""`, `[]` or `{}`.
    Empty,
    /// `not_empty`: negation of `empty`.
    NotEmpty,
    /// `exists`: present and not null.
    Exists,
    /// `not_exists`: negation of `exists`.
    NotExists,
    /// `is_timestamp`: parses as a timestamp.
    IsTimestamp,
    /// `is_timestamp_before_now`: timestamp strictly before now.
    IsTimestampBeforeNow,
    /// `is_timestamp_on_or_after_now`: timestamp at or after now.
    IsTimestampOnOrAfterNow,
}

impl Operator {
    /// Every supported operator.
    pub const ALL: [Operator; 21] = [
        Operator::EqualTo,
        Operator::NotEqualTo,
        Operator::GreaterThan,
        Operator::LessThan,
        Operator::GreaterThanOrEqualTo,
        Operator::LessThanOrEqualTo,
        Operator::Contains,
        Operator::NotContains,
        Operator::ContainsAll,
        Operator::NotContainsAll,
        Operator::IsTimestampBefore,
        Operator::IsTimestampOnOrAfter,
        Operator::IsTimestampBetween,
        Operator::IsBetween,
        Operator::Empty,
        Operator::NotEmpty,
        Operator::Exists,
        Operator::NotExists,
        Operator::IsTimestamp,
        Operator::IsTimestampBeforeNow,
        Operator::IsTimestampOnOrAfterNow,
    ];

    /// The operator's wire name, such as `equal_to`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::EqualTo => "equal_to",
            Operator::NotEqualTo => "not_equal_to",
            Operator::GreaterThan => "greater_than",
            Operator::LessThan => "less_than",
            Operator::GreaterThanOrEqualTo => "greater_than_or_equal_to",
            Operator::LessThanOrEqualTo => "less_than_or_equal_to",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::ContainsAll => "contains_all",
            Operator::NotContainsAll => "not_contains_all",
            Operator::IsTimestampBefore => "is_timestamp_before",
            Operator::IsTimestampOnOrAfter => "is_timestamp_on_or_after",
            Operator::IsTimestampBetween => "is_timestamp_between",
            Operator::IsBetween => "is_between",
            Operator::Empty => "empty",
            Operator::NotEmpty => "not_empty",
            Operator::Exists => "exists",
            Operator::NotExists => "not_exists",
            Operator::IsTimestamp => "is_timestamp",
            Operator::IsTimestampBeforeNow => "is_timestamp_before_now",
            Operator::IsTimestampOnOrAfterNow => "is_timestamp_on_or_after_now",
        }
    }

    /// The operator named `name` on the wire, if Herald supports it.
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operator compares against an `argument` (unary ones only inspect the variable).
    pub fn takes_argument(self) -> bool {
        !matches!(
            self,
            Operator::Empty
                | Operator::NotEmpty
                | Operator::Exists
                | Operator::NotExists
                | Operator::IsTimestamp
                | Operator::IsTimestampBeforeNow
                | Operator::IsTimestampOnOrAfterNow
        )
    }

    /// Whether the argument must be a two-element `[from, to]` array.
    pub fn takes_range(self) -> bool {
        matches!(self, Operator::IsBetween | Operator::IsTimestampBetween)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.as_str()), Some(op));
        }
        let mut names: Vec<_> = Operator::ALL.iter().map(|op| op.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Operator::ALL.len());
    }

    #[test]
    fn audience_and_unknown_operators_are_not_supported() {
        assert_eq!(Operator::from_name("is_audience_member"), None);
        assert_eq!(Operator::from_name("is_not_audience_member"), None);
        assert_eq!(Operator::from_name("EQUAL_TO"), None);
        assert_eq!(Operator::from_name(""), None);
    }

    #[test]
    fn unary_operators_take_no_argument() {
        let unary: Vec<_> = Operator::ALL
            .into_iter()
            .filter(|op| !op.takes_argument())
            .collect();
        assert_eq!(unary.len(), 7);
        assert!(unary.contains(&Operator::Exists));
        assert!(Operator::IsBetween.takes_argument() && Operator::IsBetween.takes_range());
        assert!(!Operator::Contains.takes_range());
    }
}
