use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn set(id: &str, body: Value) -> PreferenceSet {
    let (set, _) = PreferenceSet::parse_request(id, &body).expect("valid set");
    set
}

fn scope() -> Value {
    json!({
        "data": {"topic": "dinos", "other_topic": "cats"},
        "recipient": {"id": "u1", "muted": ["dinos"], "plan": "pro"}
    })
}

/// `recipient.muted not_contains <argument>`: met for `data.other_topic`, unmet for `data.topic`.
fn muted(argument: &str) -> Value {
    json!([{"variable": "recipient.muted", "operator": "not_contains", "argument": argument}])
}

struct Case {
    name: &'static str,
    set: Value,
    categories: &'static [&'static str],
    channel_type: &'static str,
    commercial: bool,
    skip: Option<&'static str>,
}

fn case(name: &'static str, set: Value, skip: Option<&'static str>) -> Case {
    Case {
        name,
        set,
        categories: &["social"],
        channel_type: "email",
        commercial: false,
        skip,
    }
}

fn run(case: &Case) -> Verdict {
    let categories: Vec<String> = case.categories.iter().map(|c| c.to_string()).collect();
    let target = Target {
        workflow_key: "comment-created",
        categories: &categories,
        channel_type: case.channel_type,
        channel_key: "postmark",
        commercial: case.commercial,
    };
    let set = set("default", case.set.clone());
    evaluate(Some(&set), &target, &scope(), now())
}

#[test]
fn evaluation_matrix() {
    let wf = "conditions of workflow \"comment-created\" not met";
    let cases = vec![
        // Unset ⇒ opted in.
        case("empty set", json!({}), None),
        case(
            "other workflow opted out",
            json!({"workflows": {"other": false}}),
            None,
        ),
        case(
            "other category opted out",
            json!({"categories": {"billing": false}}),
            None,
        ),
        case(
            "other channel type opted out",
            json!({"channel_types": {"sms": false}}),
            None,
        ),
        case(
            "other channel opted out",
            json!({"channels": {"twilio": false}}),
            None,
        ),
        // Workflow entries.
        case(
            "workflow true",
            json!({"workflows": {"comment-created": true}}),
            None,
        ),
        case(
            "workflow false",
            json!({"workflows": {"comment-created": false}}),
            Some("workflow \"comment-created\" is opted out"),
        ),
        case(
            "workflow conditions met",
            json!({"workflows": {"comment-created": {"conditions": muted("data.other_topic")}}}),
            None,
        ),
        case(
            "workflow conditions unmet",
            json!({"workflows": {"comment-created": {"conditions": muted("data.topic")}}}),
            Some(wf),
        ),
        case(
            "workflow detailed without restrictions",
            json!({"workflows": {"comment-created": {}}}),
            None,
        ),
        case(
            "workflow nested channel type false",
            json!({"workflows": {"comment-created": {"channel_types": {"email": false}}}}),
            Some("channel type \"email\" for workflow \"comment-created\" is opted out"),
        ),
        case(
            "workflow nested other channel type false",
            json!({"workflows": {"comment-created": {"channel_types": {"sms": false}}}}),
            None,
        ),
        case(
            "workflow nested channel true beats type false",
            json!({"workflows": {"comment-created": {"channel_types": {"email": false}, "channels": {"postmark": true}}}}),
            None,
        ),
        case(
            "workflow nested channel false beats type true",
            json!({"workflows": {"comment-created": {"channel_types": {"email": true}, "channels": {"postmark": false}}}}),
            Some("channel \"postmark\" for workflow \"comment-created\" is opted out"),
        ),
        case(
            "workflow nested channel type conditions unmet",
            json!({"workflows": {"comment-created": {"channel_types": {"email": {"conditions": muted("data.topic")}}}}}),
            Some("conditions of channel type \"email\" for workflow \"comment-created\" not met"),
        ),
        case(
            "workflow conditions checked before nested channels",
            json!({"workflows": {"comment-created": {"conditions": muted("data.topic"), "channels": {"postmark": false}}}}),
            Some(wf),
        ),
        case(
            "workflow true does not beat channel type false",
            json!({"workflows": {"comment-created": true}, "channel_types": {"email": false}}),
            Some("channel type \"email\" is opted out"),
        ),
        // Categories.
        case(
            "category true",
            json!({"categories": {"social": true}}),
            None,
        ),
        case(
            "category false",
            json!({"categories": {"social": false}}),
            Some("category \"social\" is opted out"),
        ),
        case(
            "category false beats channel and channel type true",
            json!({"categories": {"social": false}, "channel_types": {"email": true}, "channels": {"postmark": true}}),
            Some("category \"social\" is opted out"),
        ),
        case(
            "category false beats workflow true",
            json!({"workflows": {"comment-created": true}, "categories": {"social": false}}),
            Some("category \"social\" is opted out"),
        ),
        Case {
            categories: &["social", "marketing"],
            ..case(
                "any one category false blocks",
                json!({"categories": {"social": true, "marketing": false}}),
                Some("category \"marketing\" is opted out"),
            )
        },
        Case {
            categories: &[],
            ..case(
                "uncategorised workflow ignores categories",
                json!({"categories": {"social": false}}),
                None,
            )
        },
        Case {
            channel_type: "in_app_feed",
            ..case(
                "category nested channel type false",
                json!({"categories": {"social": {"channel_types": {"in_app_feed": false}}}}),
                Some("channel type \"in_app_feed\" for category \"social\" is opted out"),
            )
        },
        case(
            "category nested channel true beats type false",
            json!({"categories": {"social": {"channel_types": {"email": false}, "channels": {"postmark": true}}}}),
            None,
        ),
        case(
            "category conditions unmet",
            json!({"categories": {"social": {"conditions": muted("data.topic")}}}),
            Some("conditions of category \"social\" not met"),
        ),
        case(
            "category conditions met",
            json!({"categories": {"social": {"conditions": muted("data.other_topic")}}}),
            None,
        ),
        case(
            "workflow reason reported before category",
            json!({"workflows": {"comment-created": false}, "categories": {"social": false}}),
            Some("workflow \"comment-created\" is opted out"),
        ),
        // Channel types and channels.
        case(
            "channel type true",
            json!({"channel_types": {"email": true}}),
            None,
        ),
        case(
            "channel type false",
            json!({"channel_types": {"email": false}}),
            Some("channel type \"email\" is opted out"),
        ),
        Case {
            channel_type: "in_app_feed",
            ..case(
                "in-app channel type false",
                json!({"channel_types": {"in_app_feed": false, "email": true}}),
                Some("channel type \"in_app_feed\" is opted out"),
            )
        },
        case(
            "channel true beats channel type false",
            json!({"channel_types": {"email": false}, "channels": {"postmark": true}}),
            None,
        ),
        case(
            "channel false beats channel type true",
            json!({"channel_types": {"email": true}, "channels": {"postmark": false}}),
            Some("channel \"postmark\" is opted out"),
        ),
        case(
            "channel type conditions unmet",
            json!({"channel_types": {"email": {"conditions": muted("data.topic")}}}),
            Some("conditions of channel type \"email\" not met"),
        ),
        case(
            "channel conditions met beat channel type false",
            json!({"channel_types": {"email": false}, "channels": {"postmark": {"conditions": muted("data.other_topic")}}}),
            None,
        ),
        case(
            "channel conditions unmet",
            json!({"channels": {"postmark": {"conditions": muted("data.topic")}}}),
            Some("conditions of channel \"postmark\" not met"),
        ),
        // Commercial.
        Case {
            commercial: true,
            ..case(
                "commercial unsubscribed blocks commercial",
                json!({"commercial_subscribed": false}),
                Some("commercial notifications are opted out"),
            )
        },
        case(
            "commercial unsubscribed ignores transactional",
            json!({"commercial_subscribed": false}),
            None,
        ),
        Case {
            commercial: true,
            ..case(
                "commercial subscribed",
                json!({"commercial_subscribed": true}),
                None,
            )
        },
        Case {
            commercial: true,
            ..case("commercial unset", json!({}), None)
        },
        Case {
            commercial: true,
            ..case(
                "commercial conditions unmet",
                json!({"commercial_subscribed": {"conditions": muted("data.topic")}}),
                Some("conditions of commercial_subscribed not met"),
            )
        },
        Case {
            commercial: true,
            ..case(
                "commercial conditions met",
                json!({"commercial_subscribed": {"conditions": muted("data.other_topic")}}),
                None,
            )
        },
        case(
            "commercial conditions ignored for transactional",
            json!({"commercial_subscribed": {"conditions": muted("data.topic")}}),
            None,
        ),
        // Conditions use the whole scope, including plain variables.
        case(
            "group conditions on the recipient",
            json!({"workflows": {"comment-created": {"conditions": [
                {"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"},
                {"variable": "data.topic", "operator": "not_empty"}
            ]}}}),
            None,
        ),
        case(
            "one unmet condition of many blocks",
            json!({"workflows": {"comment-created": {"conditions": [
                {"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"},
                {"variable": "data.topic", "operator": "empty"}
            ]}}}),
            Some(wf),
        ),
    ];
    for c in &cases {
        let expected = match c.skip {
            None => Verdict::Send,
            Some(reason) => Verdict::Skip {
                reason: reason.into(),
            },
        };
        assert_eq!(run(c), expected, "{}", c.name);
    }
}

#[test]
fn no_set_sends() {
    let target = Target {
        workflow_key: "w",
        categories: &[],
        channel_type: "email",
        channel_key: "postmark",
        commercial: true,
    };
    let verdict = evaluate(None, &target, &Value::Null, now());
    assert_eq!(verdict, Verdict::Send);
    assert!(verdict.is_send());
    assert!(!Verdict::Skip { reason: "x".into() }.is_send());
}

// ---- hierarchy ----

fn email(id: &str, allowed: bool) -> PreferenceSet {
    set(id, json!({"channel_types": {"email": allowed}}))
}

#[test]
fn hierarchy_without_sets_is_none() {
    assert_eq!(Hierarchy::default().effective(), None);
    assert_eq!(merge_levels(&[None, None]), None);
}

#[test]
fn hierarchy_environment_default_only() {
    let env = set("default", json!({"categories": {"marketing": false}}));
    let h = Hierarchy {
        environment_default: Some(&env),
        ..Hierarchy::default()
    };
    assert_eq!(h.effective(), Some(env.clone()));
}

#[test]
fn hierarchy_recipient_default_beats_environment() {
    let env = set(
        "default",
        json!({"channel_types": {"email": false, "sms": false}, "categories": {"marketing": false}}),
    );
    let recipient = set("default", json!({"channel_types": {"email": true}}));
    let h = Hierarchy {
        environment_default: Some(&env),
        recipient_default: Some(&recipient),
        ..Hierarchy::default()
    };
    let expected = set(
        "default",
        json!({"channel_types": {"email": true, "sms": false}, "categories": {"marketing": false}}),
    );
    assert_eq!(h.effective(), Some(expected));
}

#[test]
fn hierarchy_tenant_sets_replace_the_recipient_default() {
    let env = set(
        "default",
        json!({"channel_types": {"email": false, "sms": false, "push": false}}),
    );
    let recipient = set("default", json!({"channel_types": {"chat": false}}));
    let tenant = set(
        "acme",
        json!({"channel_types": {"sms": true, "push": true}}),
    );
    let recipient_tenant = set(
        "acme",
        json!({"channel_types": {"push": false, "email": true}}),
    );

    // Recipient's tenant set > tenant default > environment default; recipient default unused.
    let h = Hierarchy {
        environment_default: Some(&env),
        recipient_default: Some(&recipient),
        tenant_default: Some(&tenant),
        recipient_tenant: Some(&recipient_tenant),
    };
    let expected = set(
        "acme",
        json!({"channel_types": {"email": true, "sms": true, "push": false}}),
    );
    assert_eq!(h.effective(), Some(expected));

    // Only the tenant default: it beats the environment; the recipient default still unused.
    let h = Hierarchy {
        recipient_tenant: None,
        ..h
    };
    let expected = set(
        "acme",
        json!({"channel_types": {"email": false, "sms": true, "push": true}}),
    );
    assert_eq!(h.effective(), Some(expected));

    // Only the recipient's tenant set, no environment default.
    let h = Hierarchy {
        recipient_default: Some(&recipient),
        recipient_tenant: Some(&recipient_tenant),
        ..Hierarchy::default()
    };
    assert_eq!(h.effective(), Some(recipient_tenant.clone()));
}

#[test]
fn hierarchy_falls_back_without_tenant_level_sets() {
    let env = email("default", false);
    let recipient = email("default", true);
    let h = Hierarchy {
        environment_default: Some(&env),
        recipient_default: Some(&recipient),
        tenant_default: None,
        recipient_tenant: None,
    };
    assert_eq!(h.effective(), Some(recipient.clone()));
}

#[test]
fn hierarchy_result_decides_sends() {
    let env = email("default", false);
    let tenant = email("acme", true);
    let target = Target {
        workflow_key: "w",
        categories: &[],
        channel_type: "email",
        channel_key: "postmark",
        commercial: false,
    };
    let effective = Hierarchy {
        environment_default: Some(&env),
        tenant_default: Some(&tenant),
        ..Hierarchy::default()
    }
    .effective();
    assert!(evaluate(effective.as_ref(), &target, &Value::Null, now()).is_send());
    let effective = Hierarchy {
        environment_default: Some(&env),
        ..Hierarchy::default()
    }
    .effective();
    assert!(!evaluate(effective.as_ref(), &target, &Value::Null, now()).is_send());
}

#[test]
fn merge_levels_takes_the_highest_id() {
    let a = email("default", false);
    let b = email("acme", true);
    let merged = merge_levels(&[Some(&a), None, Some(&b)]).expect("merged");
    assert_eq!(merged.id, "acme");
    assert_eq!(
        merged.channel_types.get("email"),
        Some(&Setting::Bool(true))
    );
}

// ---- merging ----

#[test]
fn merge_from_is_deep_and_theirs_wins() {
    let mut ours = set(
        "default",
        json!({
            "workflows": {
                "a": {"channel_types": {"email": false, "sms": true}, "conditions": muted("data.topic")},
                "b": {"channels": {"postmark": false}},
                "c": true,
                "d": false
            },
            "categories": {"social": false},
            "channels": {"postmark": true},
            "commercial_subscribed": {"conditions": muted("data.topic")}
        }),
    );
    let theirs = set(
        "other",
        json!({
            "workflows": {
                "a": {"channel_types": {"email": true, "push": false}},
                "b": true,
                "c": {"channels": {"twilio": false}},
                "e": false
            },
            "categories": {"marketing": false},
            "channel_types": {"sms": false},
            "commercial_subscribed": false
        }),
    );
    ours.merge_from(&theirs);
    let expected = set(
        "default",
        json!({
            "workflows": {
                "a": {"channel_types": {"email": true, "sms": true, "push": false}, "conditions": muted("data.topic")},
                "b": true,
                "c": {"channels": {"twilio": false}},
                "d": false,
                "e": false
            },
            "categories": {"social": false, "marketing": false},
            "channel_types": {"sms": false},
            "channels": {"postmark": true},
            "commercial_subscribed": false
        }),
    );
    assert_eq!(ours, expected);
}

#[test]
fn merge_from_replaces_conditions_and_keeps_unset_commercial() {
    let mut ours = set(
        "default",
        json!({"workflows": {"a": {"conditions": muted("data.topic")}}, "commercial_subscribed": true}),
    );
    let theirs = set(
        "default",
        json!({"workflows": {"a": {"conditions": muted("data.other_topic")}}}),
    );
    ours.merge_from(&theirs);
    assert_eq!(ours.workflows, theirs.workflows);
    assert_eq!(ours.commercial_subscribed, Some(Setting::Bool(true)));

    let mut empty = PreferenceSet::new("default");
    empty.merge_from(&ours);
    assert_eq!(empty, ours);
}

#[test]
fn merge_from_merges_detailed_commercial() {
    let mut ours = set(
        "default",
        json!({"commercial_subscribed": {"conditions": muted("data.topic")}}),
    );
    let theirs = set("default", json!({"commercial_subscribed": {}}));
    let before = ours.clone();
    ours.merge_from(&theirs);
    // An empty detailed setting changes nothing in a detailed one.
    assert_eq!(ours, before);
}

// ---- request parsing ----

#[test]
fn persistence_strategy() {
    let cases = vec![
        (json!({}), Persistence::Replace),
        (
            json!({"__persistence_strategy__": "replace"}),
            Persistence::Replace,
        ),
        (
            json!({"__persistence_strategy__": "merge"}),
            Persistence::Merge,
        ),
    ];
    for (body, expected) in cases {
        let (_, persistence) = PreferenceSet::parse_request("default", &body).expect("valid");
        assert_eq!(persistence, expected, "{body}");
    }
    assert_eq!(Persistence::default(), Persistence::Replace);
}

#[test]
fn merge_request_applies_onto_stored_set_and_replace_does_not() {
    let mut stored = set(
        "default",
        json!({"channel_types": {"email": false}, "categories": {"social": false}}),
    );
    let body = json!({"__persistence_strategy__": "merge", "channel_types": {"email": true}});
    let (written, persistence) = PreferenceSet::parse_request("default", &body).expect("valid");
    assert_eq!(persistence, Persistence::Merge);
    stored.merge_from(&written);
    assert_eq!(
        stored,
        set(
            "default",
            json!({"channel_types": {"email": true}, "categories": {"social": false}})
        )
    );

    let body = json!({"channel_types": {"email": true}});
    let (written, persistence) = PreferenceSet::parse_request("default", &body).expect("valid");
    assert_eq!(persistence, Persistence::Replace);
    assert!(written.categories.is_empty());
}

#[test]
fn parse_accepts_nulls_and_echoed_keys() {
    let body = json!({
        "id": "ignored",
        "__typename": "PreferenceSet",
        "workflows": null,
        "categories": {},
        "channel_types": null,
        "channels": null,
        "commercial_subscribed": null,
        "__persistence_strategy__": "replace"
    });
    let (parsed, _) = PreferenceSet::parse_request("default", &body).expect("valid");
    assert_eq!(parsed, PreferenceSet::new("default"));
}

#[test]
fn parse_reads_every_shape() {
    let parsed = set(
        "acme",
        json!({
            "workflows": {"w": {"channel_types": {"sms": false}, "channels": {"c": true}, "conditions": muted("data.topic")}},
            "channel_types": {"http": {"conditions": null}},
            "commercial_subscribed": {"conditions": []}
        }),
    );
    assert_eq!(parsed.id, "acme");
    let Some(Setting::Detailed {
        channel_types,
        channels,
        conditions,
    }) = parsed.workflows.get("w")
    else {
        panic!("detailed workflow setting expected");
    };
    assert_eq!(channel_types.get("sms"), Some(&Setting::Bool(false)));
    assert_eq!(channels.get("c"), Some(&Setting::Bool(true)));
    assert_eq!(
        conditions.as_ref().map(|c| c.as_json().clone()),
        Some(muted("data.topic"))
    );
    assert_eq!(
        parsed.channel_types.get("http"),
        Some(&Setting::Detailed {
            channel_types: Default::default(),
            channels: Default::default(),
            conditions: None,
        })
    );
    assert!(matches!(
        parsed.commercial_subscribed,
        Some(Setting::Detailed {
            conditions: Some(_),
            ..
        })
    ));
}

fn error_fields(body: Value) -> Vec<String> {
    PreferenceSet::parse_request("default", &body)
        .expect_err("invalid")
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn parse_reports_every_invalid_field() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!([]), vec!["body"]),
        (json!({"workflow": {}}), vec!["workflow"]),
        (
            json!({"__persistence_strategy__": "append"}),
            vec!["__persistence_strategy__"],
        ),
        (
            json!({"__persistence_strategy__": true}),
            vec!["__persistence_strategy__"],
        ),
        (json!({"workflows": []}), vec!["workflows"]),
        (json!({"categories": "x"}), vec!["categories"]),
        (
            json!({"channel_types": {"fax": true}}),
            vec!["channel_types.fax"],
        ),
        (json!({"channels": {"": true}}), vec!["channels."]),
        (json!({"workflows": {"w": 1}}), vec!["workflows.w"]),
        (json!({"workflows": {"w": "true"}}), vec!["workflows.w"]),
        (
            json!({"commercial_subscribed": "yes"}),
            vec!["commercial_subscribed"],
        ),
        (
            json!({"workflows": {"comment-created": {"conditions": [{"variable": "data.a", "operator": "bogus"}]}}}),
            vec!["workflows.comment-created.conditions[0].operator"],
        ),
        (
            json!({"workflows": {"w": {"channel_types": {"fax": false, "sms": 2}, "channel": {}}}}),
            vec![
                "workflows.w.channel",
                "workflows.w.channel_types.fax",
                "workflows.w.channel_types.sms",
            ],
        ),
        (
            json!({"categories": {"c": {"channels": {"x": {"channels": {}}}}}}),
            vec!["categories.c.channels.x.channels"],
        ),
        (
            json!({"channel_types": {"email": {"channel_types": {}}}}),
            vec!["channel_types.email.channel_types"],
        ),
        (
            json!({"channels": {"x": {"channels": {}}}}),
            vec!["channels.x.channels"],
        ),
        (
            json!({"commercial_subscribed": {"channels": {}}}),
            vec!["commercial_subscribed.channels"],
        ),
        (
            json!({"channel_types": {"email": {"conditions": "x"}}}),
            vec!["channel_types.email.conditions"],
        ),
        (
            json!({
                "bogus": 1,
                "workflows": {"w": {"conditions": [{"operator": "exists"}]}},
                "categories": {"c": {"conditions": {"any": [{"variable": "data.a", "operator": "is_audience_member", "argument": "a"}]}}},
                "channel_types": {"pigeon": true},
                "commercial_subscribed": 0
            }),
            vec![
                "bogus",
                "categories.c.conditions.any[0].operator",
                "channel_types.pigeon",
                "commercial_subscribed",
                "workflows.w.conditions[0].variable",
            ],
        ),
    ];
    for (body, expected) in cases {
        let mut fields = error_fields(body.clone());
        fields.sort();
        assert_eq!(fields, expected, "{body}");
    }
}

#[test]
fn every_channel_type_is_accepted() {
    for channel_type in CHANNEL_TYPES {
        let parsed = set("default", json!({"channel_types": {channel_type: false}}));
        assert_eq!(
            parsed.channel_types.get(channel_type),
            Some(&Setting::Bool(false))
        );
    }
}

// ---- wire shape ----

#[test]
fn empty_set_wire_has_every_key() {
    assert_eq!(
        PreferenceSet::new("default").to_wire(),
        json!({
            "__typename": "PreferenceSet",
            "id": "default",
            "workflows": {},
            "categories": {},
            "channel_types": {},
            "channels": {},
            "commercial_subscribed": null
        })
    );
}

fn rich_body() -> Value {
    json!({
        "workflows": {
            "comment-created": {
                "channel_types": {"email": false},
                "channels": {"postmark": true},
                "conditions": muted("data.topic")
            },
            "digest": false,
            "plain": {}
        },
        "categories": {
            "marketing": false,
            "social": {"conditions": {"any": [{"variable": "recipient.plan", "operator": "equal_to", "argument": "pro"}]}}
        },
        "channel_types": {"sms": false, "push": {"conditions": muted("data.other_topic")}},
        "channels": {"twilio": true},
        "commercial_subscribed": {"conditions": muted("data.topic")}
    })
}

#[test]
fn wire_round_trip() {
    let original = set("default", rich_body());
    let wire = original.to_wire();
    assert_eq!(wire["__typename"], "PreferenceSet");
    assert_eq!(
        wire["workflows"]["comment-created"],
        rich_body()["workflows"]["comment-created"]
    );
    assert_eq!(wire["workflows"]["plain"], json!({}));
    assert_eq!(
        wire["categories"]["social"],
        rich_body()["categories"]["social"]
    );
    assert_eq!(
        wire["commercial_subscribed"],
        rich_body()["commercial_subscribed"]
    );

    let (reparsed, _) = PreferenceSet::parse_request("default", &wire).expect("wire parses");
    assert_eq!(reparsed, original);

    let serialized = serde_json::to_value(&original).expect("serializes");
    assert_eq!(serialized, wire);
    let deserialized: PreferenceSet = serde_json::from_value(serialized).expect("deserializes");
    assert_eq!(deserialized, original);
}

#[test]
fn deserialize_requires_id_and_valid_fields() {
    let err = serde_json::from_value::<PreferenceSet>(json!({"workflows": {}})).expect_err("no id");
    assert!(err.to_string().contains("id"), "{err}");
    let err = serde_json::from_value::<PreferenceSet>(
        json!({"id": "default", "channel_types": {"fax": true}}),
    )
    .expect_err("bad channel type");
    assert!(err.to_string().contains("channel_types.fax"), "{err}");
}

#[test]
fn setting_serde_matches_knock() {
    let cases = vec![
        json!(true),
        json!(false),
        json!({}),
        json!({"conditions": muted("data.topic")}),
        json!({"channel_types": {"email": true}, "channels": {"c": {"conditions": []}}}),
    ];
    for wire in cases {
        let setting: Setting = serde_json::from_value(wire.clone()).expect("valid setting");
        assert_eq!(serde_json::to_value(&setting).expect("serializes"), wire);
    }
    assert!(serde_json::from_value::<Setting>(json!("true")).is_err());
    assert!(serde_json::from_value::<Setting>(json!({"channel_types": {"fax": true}})).is_err());
}

#[test]
fn with_conditions_builds_a_detailed_setting() {
    let conditions =
        crate::condition::Conditions::from_json(&muted("data.topic"), "conditions").expect("valid");
    let setting = Setting::with_conditions(conditions);
    assert_eq!(
        setting.to_wire(),
        json!({"conditions": muted("data.topic")})
    );
}
