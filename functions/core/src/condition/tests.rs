use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn scope() -> Value {
    json!({
        "data": {
            "count": 10,
            "count_text": "10",
            "price": 2.5,
            "title": "Your invoice is ready",
            "tags": ["a", "b", 3],
            "items": [{"name": "first"}, {"name": "second"}],
            "empty_text": "",
            "empty_list": [],
            "empty_object": {},
            "nothing": null,
            "flag": true,
            "topic": "dinos",
            "due_at": "2024-06-01T10:00:00Z",
            "later_at": "2024-06-02T00:00:00+02:00",
            "due_unix": 1717236000,
            "range": [5, 15],
            "not_a_date": "tomorrow"
        },
        "recipient": {"id": "u1", "plan": "pro", "muted": ["cats", "dogs"]},
        "actor": {"id": "a1"},
        "tenant": null,
        "workflow": {"key": "comment-created", "categories": ["social"]},
        "vars": {"limit": "12"},
        "run": {"total_activities": 3}
    })
}

fn condition(variable: &str, operator: &str, argument: Option<Value>) -> Value {
    let mut c = json!({"variable": variable, "operator": operator});
    if let Some(a) = argument {
        c["argument"] = a;
    }
    c
}

/// Parses one condition as a bare array and evaluates it against [`scope`].
fn check(variable: &str, operator: &str, argument: Option<Value>) -> bool {
    let wire = json!([condition(variable, operator, argument)]);
    Conditions::from_json(&wire, "conditions")
        .expect("valid condition")
        .evaluate(&scope(), now())
}

#[test]
fn operator_matrix() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, Option<Value>, bool)> = vec![
        // equal_to / not_equal_to: numbers numerically, static strings JSON-decoded.
        ("recipient.plan", "equal_to", Some(json!("pro")), true),
        ("recipient.plan", "equal_to", Some(json!("free")), false),
        ("data.count", "equal_to", Some(json!("10")), true),
        ("data.count", "equal_to", Some(json!(10)), true),
        ("data.count", "equal_to", Some(json!(10.0)), true),
        ("data.count_text", "equal_to", Some(json!(10)), true),
        ("data.count_text", "equal_to", Some(json!("10")), true),
        ("data.count_text", "equal_to", Some(json!("10.0")), true),
        ("data.flag", "equal_to", Some(json!("true")), true),
        ("data.flag", "equal_to", Some(json!(false)), false),
        ("data.tags", "equal_to", Some(json!("[\"a\",\"b\",3]")), true),
        ("data.missing", "equal_to", Some(json!("")), true),
        ("data.count", "not_equal_to", Some(json!("11")), true),
        ("data.count", "not_equal_to", Some(json!("10")), false),
        ("recipient.plan", "not_equal_to", Some(json!("pro")), false),
        // Ordering: numbers and numeric strings; anything else is not comparable.
        ("data.count", "greater_than", Some(json!("9")), true),
        ("data.count", "greater_than", Some(json!(10)), false),
        ("data.count_text", "greater_than", Some(json!("9")), true),
        ("data.count", "less_than", Some(json!(10.5)), true),
        ("data.count", "less_than", Some(json!(10)), false),
        ("data.count", "greater_than_or_equal_to", Some(json!(10)), true),
        ("data.count", "greater_than_or_equal_to", Some(json!(11)), false),
        ("data.count", "less_than_or_equal_to", Some(json!("10")), true),
        ("data.count", "less_than_or_equal_to", Some(json!(9)), false),
        ("recipient.plan", "greater_than", Some(json!("a")), false),
        ("recipient.plan", "less_than", Some(json!("z")), false),
        ("data.missing", "less_than", Some(json!(1)), false),
        ("data.flag", "greater_than", Some(json!(0)), false),
        // contains: substring or array element.
        ("data.title", "contains", Some(json!("invoice")), true),
        ("data.title", "contains", Some(json!("receipt")), false),
        ("data.tags", "contains", Some(json!("a")), true),
        ("data.tags", "contains", Some(json!("3")), true),
        ("data.tags", "contains", Some(json!("c")), false),
        ("data.count_text", "contains", Some(json!("1")), true),
        ("data.count", "contains", Some(json!("1")), false),
        ("data.missing", "contains", Some(json!("x")), false),
        ("data.tags", "not_contains", Some(json!("c")), true),
        ("data.tags", "not_contains", Some(json!("a")), false),
        ("data.missing", "not_contains", Some(json!("x")), true),
        // contains_all: every element of the argument.
        ("data.tags", "contains_all", Some(json!("[\"a\",\"b\"]")), true),
        ("data.tags", "contains_all", Some(json!(["a", 3])), true),
        ("data.tags", "contains_all", Some(json!(["a", "z"])), false),
        ("data.tags", "contains_all", Some(json!("a")), true),
        ("data.title", "contains_all", Some(json!(["Your", "ready"])), true),
        ("data.tags", "not_contains_all", Some(json!(["a", "z"])), true),
        ("data.tags", "not_contains_all", Some(json!(["a", "b"])), false),
        // Timestamps: RFC 3339 or unix seconds.
        ("data.due_at", "is_timestamp_before", Some(json!("2024-06-01T11:00:00Z")), true),
        ("data.due_at", "is_timestamp_before", Some(json!("2024-06-01T10:00:00Z")), false),
        ("data.due_at", "is_timestamp_before", Some(json!("2024-06-01T12:00:00+03:00")), false),
        ("data.due_unix", "is_timestamp_before", Some(json!("2024-06-01T10:00:01Z")), true),
        ("data.due_at", "is_timestamp_before", Some(json!(1717236001)), true),
        ("data.not_a_date", "is_timestamp_before", Some(json!("2030-01-01T00:00:00Z")), false),
        ("data.due_at", "is_timestamp_on_or_after", Some(json!("2024-06-01T10:00:00Z")), true),
        ("data.due_at", "is_timestamp_on_or_after", Some(json!("2024-06-01T10:00:01Z")), false),
        ("data.later_at", "is_timestamp_on_or_after", Some(json!("2024-06-01T22:00:00Z")), true),
        ("data.not_a_date", "is_timestamp_on_or_after", Some(json!("2000-01-01T00:00:00Z")), false),
        ("data.due_at", "is_timestamp_between", Some(json!(["2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z"])), true),
        ("data.due_at", "is_timestamp_between", Some(json!(["2024-06-01T10:00:00Z", "2024-06-01T10:00:00Z"])), true),
        ("data.due_at", "is_timestamp_between", Some(json!(["2024-06-02T00:00:00Z", "2024-06-03T00:00:00Z"])), false),
        ("data.due_at", "is_timestamp_between", Some(json!(["2024-06-01T00:00:00Z", "soon"])), false),
        // is_between: inclusive numeric range.
        ("data.count", "is_between", Some(json!([5, 15])), true),
        ("data.count", "is_between", Some(json!("[10, 10]")), true),
        ("data.count", "is_between", Some(json!(["1", "9"])), false),
        ("data.count_text", "is_between", Some(json!([10, 11])), true),
        ("recipient.plan", "is_between", Some(json!([0, 100])), false),
        ("data.count", "is_between", Some(json!([0, "x"])), false),
        // empty / not_empty.
        ("data.missing", "empty", None, true),
        ("data.nothing", "empty", None, true),
        ("data.empty_text", "empty", None, true),
        ("data.empty_list", "empty", None, true),
        ("data.empty_object", "empty", None, true),
        ("data.count", "empty", None, false),
        ("data.flag", "empty", None, false),
        ("data.tags", "empty", None, false),
        ("data.tags", "not_empty", None, true),
        ("data.empty_list", "not_empty", None, false),
        // exists / not_exists: present and not null.
        ("data.count", "exists", None, true),
        ("data.empty_text", "exists", None, true),
        ("data.nothing", "exists", None, false),
        ("data.missing", "exists", None, false),
        ("tenant.id", "exists", None, false),
        ("data.missing", "not_exists", None, true),
        ("data.nothing", "not_exists", None, true),
        ("data.count", "not_exists", None, false),
        // Unary timestamp operators.
        ("data.due_at", "is_timestamp", None, true),
        ("data.due_unix", "is_timestamp", None, true),
        ("data.not_a_date", "is_timestamp", None, false),
        ("data.missing", "is_timestamp", None, false),
        ("data.due_at", "is_timestamp_before_now", None, true),
        ("data.later_at", "is_timestamp_before_now", None, false),
        ("data.not_a_date", "is_timestamp_before_now", None, false),
        ("data.due_at", "is_timestamp_on_or_after_now", None, false),
        ("data.later_at", "is_timestamp_on_or_after_now", None, true),
        ("data.missing", "is_timestamp_on_or_after_now", None, false),
        // Paths: nested and indexed.
        ("data.items.1.name", "equal_to", Some(json!("second")), true),
        ("data.items.5.name", "empty", None, true),
        ("data.tags.2", "equal_to", Some(json!(3)), true),
        ("run.total_activities", "greater_than", Some(json!(2)), true),
        ("workflow.categories", "contains", Some(json!("social")), true),
    ];
    for (variable, operator, argument, expected) in cases {
        assert_eq!(
            check(variable, operator, argument.clone()),
            expected,
            "{variable} {operator} {argument:?}"
        );
    }
}

#[test]
fn dynamic_arguments_resolve_from_scope() {
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str, bool)> = vec![
        ("recipient.muted", "not_contains", "data.topic", true),
        ("recipient.muted", "contains", "data.topic", false),
        ("data.count", "less_than", "vars.limit", true),
        ("data.count", "is_between", "data.range", true),
        ("actor.id", "equal_to", "actor.id", true),
        ("recipient.id", "equal_to", "actor.id", false),
        // A missing reference reads as "".
        ("data.empty_text", "equal_to", "data.nowhere", true),
        ("data.count", "equal_to", "tenant.id", false),
        ("workflow.key", "equal_to", "workflow.key", true),
        ("run.total_activities", "equal_to", "run.total_activities", true),
    ];
    for (variable, operator, argument, expected) in cases {
        assert_eq!(
            check(variable, operator, Some(json!(argument))),
            expected,
            "{variable} {operator} {argument}"
        );
    }
}

#[test]
fn arguments_are_classified_and_decoded() {
    assert_eq!(
        Argument::from_wire(&json!("10")),
        Argument::Static(json!(10))
    );
    assert_eq!(
        Argument::from_wire(&json!("true")),
        Argument::Static(json!(true))
    );
    assert_eq!(
        Argument::from_wire(&json!("[\"a\"]")),
        Argument::Static(json!(["a"]))
    );
    assert_eq!(
        Argument::from_wire(&json!("pro")),
        Argument::Static(json!("pro"))
    );
    assert_eq!(Argument::from_wire(&json!("")), Argument::Static(json!("")));
    assert_eq!(Argument::from_wire(&json!(3)), Argument::Static(json!(3)));
    assert_eq!(
        Argument::from_wire(&json!([1, 2])),
        Argument::Static(json!([1, 2]))
    );
    for prefix in DYNAMIC_PREFIXES {
        let reference = format!("{prefix}x");
        assert_eq!(
            Argument::from_wire(&json!(reference)),
            Argument::Dynamic(reference.clone())
        );
    }
    // Only the listed prefixes are references.
    assert_eq!(
        Argument::from_wire(&json!("datapoint")),
        Argument::Static(json!("datapoint"))
    );
    assert_eq!(
        Argument::from_wire(&json!("refs.step")),
        Argument::Static(json!("refs.step"))
    );
}

#[test]
fn groups_combine_with_and_or_and_nest() {
    let yes = || condition("recipient.plan", "equal_to", Some(json!("pro")));
    let no = || condition("recipient.plan", "equal_to", Some(json!("free")));
    let cases = vec![
        (json!([]), true),
        (json!([yes(), yes()]), true),
        (json!([yes(), no()]), false),
        (json!({"all": []}), true),
        (json!({"all": [yes(), yes()]}), true),
        (json!({"all": [yes(), no()]}), false),
        (json!({"any": []}), true),
        (json!({"any": [no(), yes()]}), true),
        (json!({"any": [no(), no()]}), false),
        (json!({"any": [no(), {"all": [yes(), yes()]}]}), true),
        (json!({"any": [no(), {"all": [yes(), no()]}]}), false),
        (
            json!({"all": [yes(), {"any": [no(), {"all": [yes()]}]}]}),
            true,
        ),
        (json!([yes(), {"any": [no()]}]), false),
    ];
    for (wire, expected) in cases {
        let conditions = Conditions::from_json(&wire, "conditions").expect("valid");
        assert_eq!(conditions.evaluate(&scope(), now()), expected, "{wire}");
    }
}

#[test]
fn scope_keys_may_be_missing_or_null() {
    let conditions = Conditions::from_json(
        &json!([
            condition("tenant.id", "not_exists", None),
            condition("actor.name", "empty", None),
            condition("data.x", "equal_to", Some(json!("")))
        ]),
        "conditions",
    )
    .expect("valid");
    assert!(conditions.evaluate(&json!({"tenant": null}), now()));
    assert!(conditions.evaluate(&json!({}), now()));
    assert!(conditions.evaluate(&Value::Null, now()));
}

#[test]
fn parse_keeps_structure() {
    let wire = json!({"any": [
        {"variable": "data.count", "operator": "greater_than", "argument": "5"},
        {"all": [{"variable": "data.x", "operator": "exists", "argument": "ignored"}]}
    ]});
    let conditions = Conditions::from_json(&wire, "conditions").expect("valid");
    assert_eq!(
        conditions.root(),
        &Group::Any(vec![
            Node::Condition(Condition {
                variable: "data.count".into(),
                operator: Operator::GreaterThan,
                argument: Some(Argument::Static(json!(5))),
            }),
            Node::Group(Group::All(vec![Node::Condition(Condition {
                variable: "data.x".into(),
                operator: Operator::Exists,
                argument: None,
            })])),
        ])
    );
    assert_eq!(conditions.as_json(), &wire);
}

fn errors_of(wire: Value) -> Vec<(String, String)> {
    Conditions::from_json(&wire, "conditions")
        .expect_err("invalid")
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

fn fields_of(wire: Value) -> Vec<String> {
    errors_of(wire).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn parse_errors_name_fields() {
    let ok = || condition("data.a", "exists", None);
    assert_eq!(
        fields_of(
            json!({"all": [ok(), {"variable": "data.a", "operator": "is_audience_member", "argument": "aud"}]})
        ),
        vec!["conditions.all[1].operator"]
    );
    assert_eq!(
        fields_of(json!([ok(), {"variable": "data.a", "operator": "like"}])),
        vec!["conditions[1].operator"]
    );
    assert_eq!(
        fields_of(json!({"any": [ok(), {"all": [ok(), {"operator": "exists"}]}]})),
        vec!["conditions.any[1].all[1].variable"]
    );
    assert_eq!(
        fields_of(
            json!([{"variable": "", "operator": 3}, "nope", {"variable": "data.a", "operator": "equal_to"}])
        ),
        vec![
            "conditions[0].variable",
            "conditions[0].operator",
            "conditions[1]",
            "conditions[2].argument"
        ]
    );
    assert_eq!(
        fields_of(json!([{"variable": "data.a", "operator": "equal_to", "argument": null}])),
        vec!["conditions[0].argument"]
    );
    assert_eq!(fields_of(json!({"all": "x"})), vec!["conditions.all"]);
    assert_eq!(fields_of(json!({"all": [], "any": []})), vec!["conditions"]);
    assert_eq!(
        fields_of(json!({"variable": "data.a", "operator": "exists"})),
        vec!["conditions"]
    );
    assert_eq!(fields_of(json!("data.a")), vec!["conditions"]);
    assert_eq!(fields_of(Value::Null), vec!["conditions"]);
}

#[test]
fn parse_error_messages_explain() {
    let errors = errors_of(json!([
        {"variable": "data.a", "operator": "is_not_audience_member", "argument": "x"},
        {"variable": "data.a", "operator": "like", "argument": "x"},
        {"variable": "data.a", "operator": "is_between", "argument": [1]},
        {"variable": "data.a", "operator": "is_timestamp_between", "argument": "2024-01-01T00:00:00Z"},
        {"variable": "data.a"}
    ]));
    assert_eq!(
        errors,
        vec![
            (
                "conditions[0].operator".into(),
                "`is_not_audience_member`: audience conditions are not supported".into()
            ),
            (
                "conditions[1].operator".into(),
                "`like` is not a known operator".into()
            ),
            (
                "conditions[2].argument".into(),
                "must be a two-element array for `is_between`".into()
            ),
            (
                "conditions[3].argument".into(),
                "must be a two-element array for `is_timestamp_between`".into()
            ),
            ("conditions[4].operator".into(), "is required".into()),
        ]
    );
}

#[test]
fn dynamic_range_arguments_are_checked_at_evaluation() {
    let wire =
        json!([{"variable": "data.count", "operator": "is_between", "argument": "data.title"}]);
    let conditions = Conditions::from_json(&wire, "conditions").expect("dynamic range parses");
    assert!(!conditions.evaluate(&scope(), now()));
}

#[test]
fn serializes_back_to_the_wire_shape() {
    for wire in [
        json!([{"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}]),
        json!({"any": [{"variable": "data.a", "operator": "exists"}, {"all": []}]}),
    ] {
        let conditions = Conditions::from_json(&wire, "conditions").expect("valid");
        let echoed = serde_json::to_value(&conditions).expect("serializes");
        assert_eq!(echoed, wire);
        let back: Conditions = serde_json::from_value(echoed).expect("deserializes");
        assert_eq!(back, conditions);
    }
}

#[test]
fn deserialize_reports_field_errors() {
    let err =
        serde_json::from_value::<Conditions>(json!([{"variable": "data.a", "operator": "nope"}]))
            .expect_err("invalid");
    assert!(err.to_string().contains("conditions[0].operator"), "{err}");
}

#[test]
fn fractional_unix_seconds_are_timestamps() {
    assert_eq!(
        eval::timestamp(&json!(1717236000.5)),
        DateTime::from_timestamp_millis(1_717_236_000_500)
    );
    assert_eq!(eval::timestamp(&json!(f64::MAX)), None);
    assert_eq!(eval::timestamp(&json!(true)), None);
}

#[test]
fn numbers_reject_non_finite_text() {
    assert_eq!(eval::number(&json!("inf")), None);
    assert_eq!(eval::number(&json!("NaN")), None);
    assert_eq!(eval::number(&json!("")), None);
    assert_eq!(eval::number(&json!("1e2")), Some(100.0));
    assert!(eval::equal(&json!("a"), &json!("a")));
    assert!(!eval::equal(&json!(null), &json!("")));
}
