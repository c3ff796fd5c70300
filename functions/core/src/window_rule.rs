//! Knock's window rules: "the next time matching this rule", read in a time zone.
//!
//! Delay and batch steps accept a rule such as
//! `{"frequency": "daily", "days": "weekdays", "hours": 9, "minutes": 30}` instead of a fixed
//! duration. This module parses that object and finds the first instant after a given moment that
//! matches it, in the time zone the caller picked (recipient's, else the environment's, else UTC).

use chrono::{
    DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// How far ahead [`WindowRule::next_after`] looks. Every valid rule matches within about a year
/// (a weekday filter on a monthly rule is the slowest), so this only bounds the work.
const SEARCH_DAYS: usize = 400;

/// The longest run of non-existent local time to walk through. Real gaps are at most a day long
/// (Samoa skipped 2011-12-30 whole), so two days always reaches the far side.
const MAX_GAP_MINUTES: u32 = 2 * 24 * 60;

/// Day names as Knock spells them, Monday first so the index is `num_days_from_monday`.
const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

/// Monday to Friday as a day mask.
const WEEKDAYS: u8 = 0b001_1111;
/// Saturday and Sunday as a day mask.
const WEEKENDS: u8 = 0b110_0000;
/// Every day as a day mask.
const ALL_DAYS: u8 = 0b111_1111;
/// Monday only: Knock's default for weekly rules.
const MONDAY: u8 = 0b000_0001;

/// How often a window rule recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frequency {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

/// A parsed window rule. Build one with [`WindowRule::from_value`]; ask it for the next matching
/// instant with [`WindowRule::next_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRule {
    frequency: Frequency,
    /// Allowed local weekdays, bit `n` for `n` days from Monday.
    days: u8,
    hours: u32,
    minutes: u32,
    day_of_month: u32,
}

impl WindowRule {
    /// Parses Knock's JSON; Err names the bad field, e.g. "`hours` must be an integer 0-23".
    ///
    /// Unknown keys are ignored and `null` counts as absent, so rules written for newer Knock
    /// versions still parse.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or_else(|| "a window rule must be a JSON object".to_string())?;
        let frequency = match field(object, "frequency").and_then(Value::as_str) {
            Some("hourly") => Frequency::Hourly,
            Some("daily") => Frequency::Daily,
            Some("weekly") => Frequency::Weekly,
            Some("monthly") => Frequency::Monthly,
            _ => {
                return Err("`frequency` must be one of hourly, daily, weekly, monthly".to_string())
            }
        };
        let hours = integer(object, "hours", 0, 23)?.unwrap_or(0);
        let minutes = integer(object, "minutes", 0, 59)?.unwrap_or(0);
        let day_of_month = integer(object, "day_of_month", 1, 31)?.unwrap_or(1);
        let days = match field(object, "days") {
            Some(days) => parse_days(days)?,
            None if frequency == Frequency::Weekly => MONDAY,
            None => ALL_DAYS,
        };
        Ok(Self {
            frequency,
            days,
            hours,
            minutes,
            day_of_month,
        })
    }

    /// Whether a JSON value looks like a window rule (an object with a `frequency` key) — used to
    /// tell it from a duration `{unit,value}`.
    pub fn is_rule(value: &Value) -> bool {
        value
            .as_object()
            .is_some_and(|object| object.contains_key("frequency"))
    }

    /// The first instant strictly after `now` that matches the rule, read in `tz`.
    ///
    /// Local times that fall in a spring-forward gap move to the first instant after the gap;
    /// ambiguous fall-back times take the earlier instant. None when nothing matches within about
    /// 400 days (or the calendar runs out).
    pub fn next_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(&tz).date_naive();
        // Start a day early: a gap at local midnight can carry yesterday's last slot past `now`.
        let start = today.pred_opt().unwrap_or(today);
        start
            .iter_days()
            .take(SEARCH_DAYS + 2)
            .filter(|date| self.matches_date(*date))
            .find_map(|date| {
                // Resolving keeps local order, so the first day with a slot after `now` holds it.
                self.times()
                    .filter_map(|time| resolve(tz, date.and_time(time)))
                    .filter(|instant| *instant > now)
                    .min()
            })
    }

    /// Whether the rule fires on local `date` at all.
    fn matches_date(&self, date: NaiveDate) -> bool {
        let weekday_allowed = self.days & (1 << date.weekday().num_days_from_monday()) != 0;
        if !weekday_allowed {
            return false;
        }
        match self.frequency {
            Frequency::Monthly => last_day_of_month(date)
                .is_some_and(|last| date.day() == self.day_of_month.min(last)),
            Frequency::Hourly | Frequency::Daily | Frequency::Weekly => true,
        }
    }

    /// The local times of day the rule fires at, earliest first.
    fn times(&self) -> impl Iterator<Item = NaiveTime> + '_ {
        let hours = match self.frequency {
            Frequency::Hourly => 0..24,
            Frequency::Daily | Frequency::Weekly | Frequency::Monthly => self.hours..self.hours + 1,
        };
        hours.filter_map(|hour| NaiveTime::from_hms_opt(hour, self.minutes, 0))
    }
}

/// Parses an IANA time zone name (`Europe/Paris`); None if unknown.
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// A field of the rule, treating `null` as absent.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
}

/// An optional integer field within `min..=max`.
fn integer(
    object: &Map<String, Value>,
    name: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, String> {
    let Some(value) = field(object, name) else {
        return Ok(None);
    };
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| format!("`{name}` must be an integer {min}-{max}"))
}

/// Parses `days`: a list of day names, or "weekdays" / "weekends".
fn parse_days(value: &Value) -> Result<u8, String> {
    const SHAPE: &str = "`days` must be a list of day names, \"weekdays\" or \"weekends\"";
    let mask = match value {
        Value::String(name) => day_group(name).ok_or_else(|| SHAPE.to_string())?,
        Value::Array(names) => names.iter().try_fold(0u8, |mask, name| {
            let name = name.as_str().ok_or_else(|| SHAPE.to_string())?;
            let day = day_mask(name)
                .or_else(|| day_group(name))
                .ok_or_else(|| format!("`days` has an unknown day: {name:?}"))?;
            Ok::<u8, String>(mask | day)
        })?,
        _ => return Err(SHAPE.to_string()),
    };
    // An empty set would never match; say so now rather than return None at run time.
    if mask == 0 {
        return Err("`days` must name at least one day".to_string());
    }
    Ok(mask)
}

/// The mask of one day name, short or full, any case.
fn day_mask(name: &str) -> Option<u8> {
    let name = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|(short, full)| name == *short || name == *full)
        .map(|index| 1 << index)
}

/// The mask of "weekdays" or "weekends", any case.
fn day_group(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "weekdays" => Some(WEEKDAYS),
        "weekends" => Some(WEEKENDS),
        _ => None,
    }
}

/// The number of the last day in `date`'s month.
fn last_day_of_month(date: NaiveDate) -> Option<u32> {
    let first = date.with_day(1)?;
    let next_first = first.checked_add_months(Months::new(1))?;
    Some(next_first.pred_opt()?.day())
}

/// The instant a local wall-clock time stands for in `tz`: the earlier one when the clocks fall
/// back, the end of the gap when they spring forward over it.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    earliest(tz, local).or_else(|| after_gap(tz, local))
}

/// The earlier instant of a local time, None inside a gap.
fn earliest(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|instant| instant.with_timezone(&Utc))
}

/// The first existing instant after the gap that swallowed `local`.
fn after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Walk by minutes to the first local time that exists, then narrow to the second: some
    // historical offsets are not whole minutes, so the gap need not end on a minute.
    let minute = TimeDelta::minutes(1);
    let mut missing = local;
    for _ in 0..MAX_GAP_MINUTES {
        let probe = missing.checked_add_signed(minute)?;
        if earliest(tz, probe).is_none() {
            missing = probe;
            continue;
        }
        let mut exists = probe;
        while exists - missing > TimeDelta::seconds(1) {
            let middle = missing + (exists - missing) / 2;
            if earliest(tz, middle).is_some() {
                exists = middle;
            } else {
                missing = middle;
            }
        }
        return earliest(tz, exists);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn rule(value: Value) -> WindowRule {
        WindowRule::from_value(&value).unwrap()
    }

    fn tz(name: &str) -> Tz {
        parse_timezone(name).unwrap()
    }

    #[test]
    fn daily_in_utc() {
        let r = rule(json!({"frequency": "daily", "hours": 9, "minutes": 30}));
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 8, 0), Tz::UTC),
            Some(utc(2026, 1, 15, 9, 30))
        );
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 10, 0), Tz::UTC),
            Some(utc(2026, 1, 16, 9, 30))
        );
    }

    #[test]
    fn defaults_to_midnight() {
        let r = rule(json!({"frequency": "daily"}));
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 8, 0), Tz::UTC),
            Some(utc(2026, 1, 16, 0, 0))
        );
    }

    #[test]
    fn weekdays_skip_the_weekend() {
        let r = rule(json!({"frequency": "daily", "days": "weekdays", "hours": 9}));
        // 2026-01-16 is a Friday.
        assert_eq!(
            r.next_after(utc(2026, 1, 16, 10, 0), Tz::UTC),
            Some(utc(2026, 1, 19, 9, 0))
        );
        let r = rule(json!({"frequency": "daily", "days": "weekends", "hours": 9}));
        assert_eq!(
            r.next_after(utc(2026, 1, 12, 10, 0), Tz::UTC),
            Some(utc(2026, 1, 17, 9, 0))
        );
    }

    #[test]
    fn hourly_ignores_hours_and_respects_days() {
        let r = rule(json!({"frequency": "hourly", "hours": 7, "minutes": 15}));
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 10, 20), Tz::UTC),
            Some(utc(2026, 1, 15, 11, 15))
        );
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 10, 5), Tz::UTC),
            Some(utc(2026, 1, 15, 10, 15))
        );
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 23, 30), Tz::UTC),
            Some(utc(2026, 1, 16, 0, 15))
        );
        // 2026-01-18 is a Sunday; only Mondays are allowed.
        let r = rule(json!({"frequency": "hourly", "minutes": 15, "days": ["mon"]}));
        assert_eq!(
            r.next_after(utc(2026, 1, 18, 23, 30), Tz::UTC),
            Some(utc(2026, 1, 19, 0, 15))
        );
        assert_eq!(
            r.next_after(utc(2026, 1, 19, 23, 30), Tz::UTC),
            Some(utc(2026, 1, 26, 0, 15))
        );
    }

    #[test]
    fn weekly_on_several_days() {
        let r = rule(json!({"frequency": "weekly", "days": ["tue", "thursday"], "hours": 8}));
        // 2026-01-13 is a Tuesday.
        assert_eq!(
            r.next_after(utc(2026, 1, 13, 9, 0), Tz::UTC),
            Some(utc(2026, 1, 15, 8, 0))
        );
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 8, 0), Tz::UTC),
            Some(utc(2026, 1, 20, 8, 0))
        );
    }

    #[test]
    fn weekly_defaults_to_monday() {
        let r = rule(json!({"frequency": "weekly"}));
        assert_eq!(
            r.next_after(utc(2026, 1, 14, 12, 0), Tz::UTC),
            Some(utc(2026, 1, 19, 0, 0))
        );
    }

    #[test]
    fn monthly_day_31_uses_the_last_day_of_short_months() {
        let r = rule(json!({"frequency": "monthly", "day_of_month": 31, "hours": 12}));
        assert_eq!(
            r.next_after(utc(2026, 2, 1, 0, 0), Tz::UTC),
            Some(utc(2026, 2, 28, 12, 0))
        );
        assert_eq!(
            r.next_after(utc(2026, 2, 28, 13, 0), Tz::UTC),
            Some(utc(2026, 3, 31, 12, 0))
        );
        assert_eq!(
            r.next_after(utc(2026, 4, 1, 0, 0), Tz::UTC),
            Some(utc(2026, 4, 30, 12, 0))
        );
        assert_eq!(
            r.next_after(utc(2028, 2, 1, 0, 0), Tz::UTC),
            Some(utc(2028, 2, 29, 12, 0))
        );
    }

    #[test]
    fn monthly_defaults_to_the_first() {
        let r = rule(json!({"frequency": "monthly"}));
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 0, 0), Tz::UTC),
            Some(utc(2026, 2, 1, 0, 0))
        );
    }

    #[test]
    fn daily_across_new_york_spring_forward() {
        let r = rule(json!({"frequency": "daily", "hours": 9}));
        let ny = tz("America/New_York");
        // 09:00 EST is 14:00 UTC until 2026-03-08, when 09:00 EDT is 13:00 UTC.
        let saturday = r.next_after(utc(2026, 3, 6, 15, 0), ny);
        assert_eq!(saturday, Some(utc(2026, 3, 7, 14, 0)));
        let sunday = saturday.and_then(|at| r.next_after(at, ny));
        assert_eq!(sunday, Some(utc(2026, 3, 8, 13, 0)));
    }

    #[test]
    fn a_time_in_the_gap_moves_to_the_end_of_the_gap() {
        let paris = tz("Europe/Paris");
        let r = rule(json!({"frequency": "daily", "hours": 2, "minutes": 30}));
        // 02:30 does not exist on 2026-03-29; 03:00 CEST (01:00 UTC) is the first instant after.
        assert_eq!(
            r.next_after(utc(2026, 3, 28, 12, 0), paris),
            Some(utc(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            r.next_after(utc(2026, 3, 29, 1, 0), paris),
            Some(utc(2026, 3, 30, 0, 30))
        );
        // Hourly: the gap slot collapses to 03:00, and 03:30 still follows.
        let r = rule(json!({"frequency": "hourly", "minutes": 30}));
        assert_eq!(
            r.next_after(utc(2026, 3, 29, 0, 45), paris),
            Some(utc(2026, 3, 29, 1, 0))
        );
        assert_eq!(
            r.next_after(utc(2026, 3, 29, 1, 0), paris),
            Some(utc(2026, 3, 29, 1, 30))
        );
    }

    #[test]
    fn a_day_long_gap_is_crossed() {
        // Samoa skipped 2011-12-30: 23:59:59 on the 29th (UTC-10) was followed by 00:00 on the
        // 31st (UTC+14), at 2011-12-30 10:00 UTC.
        let apia = tz("Pacific/Apia");
        let r = rule(json!({"frequency": "daily", "hours": 9}));
        let skipped = r.next_after(utc(2011, 12, 29, 20, 0), apia);
        assert_eq!(skipped, Some(utc(2011, 12, 30, 10, 0)));
        let after = skipped.and_then(|at| r.next_after(at, apia));
        assert_eq!(after, Some(utc(2011, 12, 30, 19, 0)));
    }

    #[test]
    fn an_ambiguous_time_takes_the_earlier_instant() {
        let ny = tz("America/New_York");
        let r = rule(json!({"frequency": "daily", "hours": 1, "minutes": 30}));
        // 01:30 happens twice on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
        let first = r.next_after(utc(2026, 10, 31, 12, 0), ny);
        assert_eq!(first, Some(utc(2026, 11, 1, 5, 30)));
        // The repeat is not a second match; the next one is the following day, in EST.
        let next = first.and_then(|at| r.next_after(at, ny));
        assert_eq!(next, Some(utc(2026, 11, 2, 6, 30)));
    }

    #[test]
    fn strictly_after_now() {
        let r = rule(json!({"frequency": "daily", "hours": 9}));
        assert_eq!(
            r.next_after(utc(2026, 1, 15, 9, 0), Tz::UTC),
            Some(utc(2026, 1, 16, 9, 0))
        );
        let just_before = utc(2026, 1, 15, 9, 0) - TimeDelta::milliseconds(1);
        assert_eq!(
            r.next_after(just_before, Tz::UTC),
            Some(utc(2026, 1, 15, 9, 0))
        );
    }

    #[test]
    fn reads_the_local_date_in_the_time_zone() {
        // 2026-01-16 23:30 UTC is already Saturday in Tokyo, so the weekday rule waits for Monday.
        let tokyo = tz("Asia/Tokyo");
        let r = rule(json!({"frequency": "daily", "days": "weekdays", "hours": 9}));
        assert_eq!(
            r.next_after(utc(2026, 1, 16, 23, 30), tokyo),
            Some(utc(2026, 1, 19, 0, 0))
        );
    }

    #[test]
    fn the_end_of_time_is_none() {
        let r = rule(json!({"frequency": "daily"}));
        assert_eq!(r.next_after(DateTime::<Utc>::MAX_UTC, Tz::UTC), None);
    }

    #[test]
    fn day_names_in_every_spelling() {
        let short = rule(json!({"frequency": "daily", "days": ["sat", "sun"]}));
        let full = rule(json!({"frequency": "daily", "days": ["Saturday", "SUNDAY"]}));
        let group = rule(json!({"frequency": "daily", "days": "weekends"}));
        assert_eq!(short, full);
        assert_eq!(short, group);
        let null_days = rule(json!({"frequency": "daily", "days": null}));
        assert_eq!(null_days, rule(json!({"frequency": "daily"})));
    }

    #[test]
    fn parse_errors_name_the_field() {
        let err = |value: Value| WindowRule::from_value(&value).unwrap_err();
        assert_eq!(
            err(json!({"frequency": "yearly"})),
            "`frequency` must be one of hourly, daily, weekly, monthly"
        );
        assert!(err(json!({"hours": 9})).contains("`frequency`"));
        assert_eq!(
            err(json!({"frequency": "daily", "hours": 24})),
            "`hours` must be an integer 0-23"
        );
        assert_eq!(
            err(json!({"frequency": "daily", "hours": "9"})),
            "`hours` must be an integer 0-23"
        );
        assert_eq!(
            err(json!({"frequency": "daily", "hours": 9.5})),
            "`hours` must be an integer 0-23"
        );
        assert_eq!(
            err(json!({"frequency": "daily", "minutes": 60})),
            "`minutes` must be an integer 0-59"
        );
        assert_eq!(
            err(json!({"frequency": "monthly", "day_of_month": 0})),
            "`day_of_month` must be an integer 1-31"
        );
        assert_eq!(
            err(json!({"frequency": "daily", "days": ["mon", "funday"]})),
            "`days` has an unknown day: \"funday\""
        );
        assert!(err(json!({"frequency": "daily", "days": "someday"})).contains("`days`"));
        assert!(err(json!({"frequency": "daily", "days": []})).contains("`days`"));
        assert!(err(json!("daily")).contains("object"));
    }

    #[test]
    fn tells_rules_from_durations() {
        assert!(WindowRule::is_rule(&json!({"frequency": "daily"})));
        assert!(!WindowRule::is_rule(&json!({"unit": "hours", "value": 2})));
        assert!(!WindowRule::is_rule(&json!("daily")));
    }

    #[test]
    fn parses_time_zone_names() {
        assert_eq!(parse_timezone("Europe/Paris"), Some(Tz::Europe__Paris));
        assert_eq!(parse_timezone("UTC"), Some(Tz::UTC));
        assert_eq!(parse_timezone("Mars/Olympus_Mons"), None);
        assert_eq!(parse_timezone(""), None);
    }
}
