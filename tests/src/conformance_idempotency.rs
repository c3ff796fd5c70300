//! Conformance cases of the idempotency role: one claim per key at a time, even when claimed
//! concurrently; completion and release only by the claim's own run; expiry frees the key.

use std::sync::Arc;

use chrono::Duration;
use herald_core::idempotency::IdempotencyClaim;
use herald_core::ports::{Claim, Store, Write};

use crate::fixtures::{t0, unique};

fn claim(key: &str, body: &str, request: &str) -> IdempotencyClaim {
    IdempotencyClaim::new(key, format!("fp-{body}"), request, t0())
}

/// The first claim wins; the next one is answered with it until it expires; completing and
/// releasing are conditioned on the claim's run.
pub async fn idempotency_keys_are_claimed_once_until_they_expire(store: &dyn Store) {
    let key = unique("idem");
    let first = claim(&key, "a", "req-1");
    assert_eq!(
        store.claim_idempotency_key(&first, t0()).await.unwrap(),
        Claim::Won
    );
    let later = t0() + Duration::hours(1);
    let second = claim(&key, "b", "req-2");
    let Claim::Held(held) = store.claim_idempotency_key(&second, later).await.unwrap() else {
        panic!("a held key was claimed again");
    };
    assert_eq!(held, first, "the holder is answered as it was claimed");
    assert!(!held.completed);

    // Only the claim's own run completes or releases it.
    assert_eq!(
        store
            .complete_idempotency_key(&key, second.workflow_run_id)
            .await
            .unwrap(),
        Write::LostRace
    );
    assert_eq!(
        store
            .complete_idempotency_key(&key, first.workflow_run_id)
            .await
            .unwrap(),
        Write::Applied
    );
    let Claim::Held(held) = store.claim_idempotency_key(&second, later).await.unwrap() else {
        panic!("a completed key was claimed again");
    };
    assert!(held.completed);
    assert_eq!(
        store
            .release_idempotency_key(&key, first.workflow_run_id)
            .await
            .unwrap(),
        Write::LostRace,
        "a completed claim is kept"
    );

    // Past its expiry (24 h), the key is free again.
    let expired = first.expires_at + Duration::seconds(1);
    let third = IdempotencyClaim::new(&key, "fp-c", "req-3", expired);
    assert_eq!(
        store.claim_idempotency_key(&third, expired).await.unwrap(),
        Claim::Won
    );
    let Claim::Held(held) = store.claim_idempotency_key(&first, expired).await.unwrap() else {
        panic!("the new claim was lost");
    };
    assert_eq!(held.request_id, "req-3");
}

/// A request refused as the caller's error releases its claim; the key is then free.
pub async fn a_released_idempotency_key_is_free(store: &dyn Store) {
    let key = unique("idem");
    let first = claim(&key, "a", "req-1");
    assert_eq!(
        store.claim_idempotency_key(&first, t0()).await.unwrap(),
        Claim::Won
    );
    let other = claim(&key, "b", "req-2");
    assert_eq!(
        store
            .release_idempotency_key(&key, other.workflow_run_id)
            .await
            .unwrap(),
        Write::LostRace,
        "another run's release leaves the claim"
    );
    assert_eq!(
        store
            .release_idempotency_key(&key, first.workflow_run_id)
            .await
            .unwrap(),
        Write::Applied
    );
    assert_eq!(
        store.claim_idempotency_key(&other, t0()).await.unwrap(),
        Claim::Won
    );
}

/// Sixteen requests claiming one key at once: exactly one wins, and every other is answered
/// with the winner's run.
pub async fn concurrent_claims_of_one_key_agree(store: Arc<dyn Store>) {
    let key = unique("idem");
    let claims: Vec<IdempotencyClaim> = (0..16)
        .map(|i| claim(&key, "same", &format!("req-{i}")))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in claims.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.spawn(async move { (i, store.claim_idempotency_key(&c, t0()).await.unwrap()) });
    }
    let mut answers = vec![Claim::Won; claims.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, answer) = done.expect("claim task");
        answers[i] = answer;
    }
    let winners: Vec<&IdempotencyClaim> = answers
        .iter()
        .zip(&claims)
        .filter(|(a, _)| **a == Claim::Won)
        .map(|(_, c)| c)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for answer in &answers {
        if let Claim::Held(held) = answer {
            assert_eq!(held.workflow_run_id, winners[0].workflow_run_id);
            assert_eq!(held.request_id, winners[0].request_id);
        }
    }
}
