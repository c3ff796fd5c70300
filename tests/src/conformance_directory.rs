//! Conformance cases for the recipient directory (objects, tenants, subscriptions, preference
//! sets); generated into every store's suite by [`store_conformance!`](crate::store_conformance).

use chrono::Duration;
use herald_core::ports::{PageRequest, Store, WriteIf};
use herald_core::recipient::RecipientRef;
use serde_json::json;

use crate::fixtures::{t0, unique};

fn first_page(size: usize) -> PageRequest {
    PageRequest {
        page_size: size,
        ..PageRequest::default()
    }
}

/// A page's objects in one call, across collections: the existing ones, each once.
pub async fn objects_read_many_at_once(store: &dyn Store) {
    let (a, b) = (unique("projects"), unique("teams"));
    let props = json!({"name": "x"});
    for (c, id) in [(&a, "1"), (&a, "2"), (&b, "1")] {
        store
            .upsert_object(c, id, props.as_object().unwrap(), t0())
            .await
            .unwrap();
    }
    let asked = [
        RecipientRef::object(a.clone(), "1"),
        RecipientRef::object(a.clone(), "2"),
        RecipientRef::object(b.clone(), "1"),
        RecipientRef::object(b.clone(), "2"),
        RecipientRef::object(a.clone(), "1"),
    ];
    let mut found: Vec<(String, String)> = store
        .get_objects(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.collection, o.id))
        .collect();
    found.sort();
    let mut expected = vec![
        (a.clone(), "1".to_string()),
        (a.clone(), "2".to_string()),
        (b.clone(), "1".to_string()),
    ];
    expected.sort();
    assert_eq!(found, expected);
}

pub async fn objects_upsert_merge_list_and_delete(store: &dyn Store) {
    let collection = unique("projects");
    assert!(store.get_object(&collection, "p1").await.unwrap().is_none());
    let first = json!({"name": "Apollo", "stage": "beta"});
    store
        .upsert_object(&collection, "p1", first.as_object().unwrap(), t0())
        .await
        .unwrap();
    let later = t0() + Duration::seconds(3);
    let second = json!({"stage": "ga", "owner": "ann"});
    let merged = store
        .upsert_object(&collection, "p1", second.as_object().unwrap(), later)
        .await
        .unwrap();
    assert_eq!(merged.properties.get("name"), Some(&json!("Apollo")));
    assert_eq!(merged.properties.get("stage"), Some(&json!("ga")));
    assert_eq!((merged.created_at, merged.updated_at), (t0(), later));
    for id in ["p2", "p3", "p4"] {
        store
            .upsert_object(&collection, id, &Default::default(), t0())
            .await
            .unwrap();
    }
    // Another collection's objects never show up.
    store
        .upsert_object(&unique("other"), "p9", &Default::default(), t0())
        .await
        .unwrap();
    let mut ids = Vec::new();
    let mut page = first_page(3);
    loop {
        let got = store.list_objects(&collection, &page).await.unwrap();
        ids.extend(got.items.iter().map(|o| o.id.clone()));
        match got.after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(ids, ["p1", "p2", "p3", "p4"]);
    assert!(store
        .delete_object(&collection, "p1")
        .await
        .unwrap()
        .removed());
    assert!(!store
        .delete_object(&collection, "p1")
        .await
        .unwrap()
        .removed());
    assert!(store.get_object(&collection, "p1").await.unwrap().is_none());
}

pub async fn subscriptions_upsert_page_and_delete(store: &dyn Store) {
    let object = RecipientRef::object(unique("projects"), "p1");
    let subscribers: Vec<RecipientRef> = (0..7)
        .map(|i| RecipientRef::user(format!("u{i}")))
        .chain([RecipientRef::object("teams", "t1")])
        .collect();
    let props = json!({"role": "watcher"});
    let put = store
        .put_subscriptions(&object, &subscribers, props.as_object().unwrap(), t0())
        .await
        .unwrap();
    assert_eq!(put.len(), 8);
    // Upserting again replaces properties and keeps the first insertion time.
    let later = t0() + Duration::seconds(9);
    let owner = json!({"role": "owner"});
    let again = store
        .put_subscriptions(
            &object,
            &subscribers[..1],
            owner.as_object().unwrap(),
            later,
        )
        .await
        .unwrap();
    assert_eq!(again[0].inserted_at, t0());
    assert_eq!(again[0].properties.get("role"), Some(&json!("owner")));

    let mut seen = Vec::new();
    let mut page = first_page(3);
    loop {
        let got = store.list_subscribers(&object, &page).await.unwrap();
        assert!(got.items.len() <= 3);
        seen.extend(got.items.into_iter().map(|s| s.recipient));
        match got.after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "every subscriber exactly once: {seen:?}");
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), 8);

    let of_user = store
        .list_subscriptions_of(&RecipientRef::user("u3"), &first_page(50))
        .await
        .unwrap();
    assert!(of_user.items.iter().any(|s| s.object == object));

    let gone = store
        .delete_subscriptions(
            &object,
            &[RecipientRef::user("u0"), RecipientRef::user("nobody")],
        )
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].recipient, RecipientRef::user("u0"));
    let left = store
        .list_subscribers(&object, &first_page(50))
        .await
        .unwrap();
    assert_eq!(left.items.len(), 7);
}

pub async fn preference_sets_write_conditionally(store: &dyn Store) {
    let owner = RecipientRef::user(unique("user"));
    assert!(store
        .get_preference_set(&owner, "default")
        .await
        .unwrap()
        .is_none());
    let v1 = json!({"id": "default", "channel_types": {"email": false}});
    assert!(store
        .put_preference_set(&owner, "default", &v1, WriteIf::Absent, t0())
        .await
        .unwrap()
        .applied());
    assert!(!store
        .put_preference_set(&owner, "default", &v1, WriteIf::Absent, t0())
        .await
        .unwrap()
        .applied());
    let stored = store
        .get_preference_set(&owner, "default")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.set, v1);
    let v2 = json!({"id": "default", "channel_types": {"email": true}});
    // A merge computed from a stale version loses; one from the current version wins.
    assert!(!store
        .put_preference_set(
            &owner,
            "default",
            &v2,
            WriteIf::Version(stored.version + 1),
            t0()
        )
        .await
        .unwrap()
        .applied());
    assert!(store
        .put_preference_set(
            &owner,
            "default",
            &v2,
            WriteIf::Version(stored.version),
            t0()
        )
        .await
        .unwrap()
        .applied());
    let now = store
        .get_preference_set(&owner, "default")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.set, v2);
    assert!(now.version > stored.version);
    let tenant_set = json!({"id": "acme", "workflows": {"digest": false}});
    assert!(store
        .put_preference_set(&owner, "acme", &tenant_set, WriteIf::Always, t0())
        .await
        .unwrap()
        .applied());
    let all = store.list_preference_sets(&owner).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.set_id.as_str()).collect();
    assert_eq!(ids, ["acme", "default"]);
    // Objects have their own sets.
    let object = RecipientRef::object("projects", owner.id.clone());
    assert!(store
        .list_preference_sets(&object)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .delete_preference_set(&owner, "acme")
        .await
        .unwrap()
        .removed());
    assert!(!store
        .delete_preference_set(&owner, "acme")
        .await
        .unwrap()
        .removed());
}

pub async fn fanout_steps_are_conditional(store: &dyn Store) {
    use herald_core::ports::CancelFilter;

    let key = unique("wf");
    let (wf, mut runs, fanout) = crate::fixtures::object_fanout(&key);
    store.insert_run(&wf, &runs, Some(&fanout)).await.unwrap();
    store.insert_run(&wf, &runs, Some(&fanout)).await.unwrap(); // a retried trigger
    assert_eq!(store.get_fanout(wf.id).await.unwrap(), Some(fanout.clone()));

    // A step stores new runs, skips existing ones, and moves the progress on.
    let (_, more) = crate::fixtures::run(&key, Some("k"), &[RecipientRef::user("u1")], t0());
    let mut subscriber = more[0].clone();
    subscriber.workflow_run_id = wf.id;
    subscriber.id = herald_core::ids::recipient_run_id(wf.id, &subscriber.recipient);
    subscriber.subscription = Some(json!({"role": "watcher"}));
    let mut next = fanout.clone();
    next.version = 2;
    next.after = Some("cursor".into());
    runs.push(subscriber.clone());
    assert!(store.advance_fanout(&next, &runs).await.unwrap().applied());
    // The same step again (a stale version) is refused.
    assert!(!store.advance_fanout(&next, &runs).await.unwrap().applied());
    let stored = store
        .get_recipient_run(subscriber.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.subscription, Some(json!({"role": "watcher"})));
    assert_eq!(
        store.active_recipient_runs(wf.id).await.unwrap().runs.len(),
        2
    );

    // A partial cancel excludes its recipients; a full cancel stops the fan-out.
    let partial = CancelFilter {
        workflow_key: key.clone(),
        cancellation_key: "k".into(),
        recipients: Some(vec![RecipientRef::user("late")]),
    };
    store.cancel(&partial, t0()).await.unwrap();
    let now = store.get_fanout(wf.id).await.unwrap().unwrap();
    assert_eq!(now.excluded, vec![RecipientRef::user("late")]);
    assert!(!now.cancelled);
    let all = CancelFilter {
        recipients: None,
        ..partial
    };
    assert_eq!(store.cancel(&all, t0()).await.unwrap().len(), 2);
    let stopped = store.get_fanout(wf.id).await.unwrap().unwrap();
    assert!(stopped.cancelled);
    let mut after_cancel = stopped.clone();
    after_cancel.version += 1;
    assert!(!store
        .advance_fanout(&after_cancel, &[])
        .await
        .unwrap()
        .applied());
}

/// Ids holding the characters storage keys are built with (`#`, `:`, `|`, `%`) name distinct
/// users, objects, subscriber lists and preference sets: no key of one equals a key of another.
pub async fn separators_inside_ids_keep_records_apart(store: &dyn Store) {
    let base = unique("sep");
    let ids = [
        base.clone(),
        format!("{base}#a"),
        format!("{base}:a"),
        format!("{base}|a"),
        format!("{base}%7Ca"),
        format!("user:{base}"),
        format!("object:{base}"),
    ];
    let collection = unique("proj");
    for (i, id) in ids.iter().enumerate() {
        let props = json!({"n": i});
        store
            .upsert_user(id, props.as_object().unwrap(), t0())
            .await
            .unwrap();
        store
            .upsert_object(&collection, id, props.as_object().unwrap(), t0())
            .await
            .unwrap();
        let set = json!({"id": "default", "n": i});
        for owner in [
            RecipientRef::user(id.clone()),
            RecipientRef::object(collection.clone(), id.clone()),
        ] {
            assert!(store
                .put_preference_set(&owner, "default", &set, WriteIf::Always, t0())
                .await
                .unwrap()
                .applied());
        }
        // One subscriber per object, named like the object.
        store
            .put_subscriptions(
                &RecipientRef::object(collection.clone(), id.clone()),
                &[RecipientRef::user(id.clone())],
                &Default::default(),
                t0(),
            )
            .await
            .unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        let user = store.get_user(id).await.unwrap().expect("user");
        assert_eq!(user.properties.get("n"), Some(&json!(i)), "user {id}");
        let object = store
            .get_object(&collection, id)
            .await
            .unwrap()
            .expect("object");
        assert_eq!(object.properties.get("n"), Some(&json!(i)), "object {id}");
        for owner in [
            RecipientRef::user(id.clone()),
            RecipientRef::object(collection.clone(), id.clone()),
        ] {
            let set = store
                .get_preference_set(&owner, "default")
                .await
                .unwrap()
                .expect("set");
            assert_eq!(set.set["n"], json!(i), "preferences of {owner:?}");
            assert_eq!(store.list_preference_sets(&owner).await.unwrap().len(), 1);
        }
        let subscribers = store
            .list_subscribers(
                &RecipientRef::object(collection.clone(), id.clone()),
                &first_page(50),
            )
            .await
            .unwrap();
        let named: Vec<_> = subscribers
            .items
            .iter()
            .map(|s| s.recipient.clone())
            .collect();
        assert_eq!(
            named,
            vec![RecipientRef::user(id.clone())],
            "subscribers of {id}"
        );
        let of_user = store
            .list_subscriptions_of(&RecipientRef::user(id.clone()), &first_page(50))
            .await
            .unwrap();
        assert_eq!(of_user.items.len(), 1, "subscriptions of {id}");
    }
    let mut listed = Vec::new();
    let mut page = first_page(3);
    loop {
        let got = store.list_objects(&collection, &page).await.unwrap();
        listed.extend(got.items.into_iter().map(|o| o.id));
        match got.after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    listed.sort();
    let mut expected = ids.to_vec();
    expected.sort();
    assert_eq!(listed, expected);
}
