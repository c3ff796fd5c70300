//! The idempotency role on SQLite: one row per key, claimed in one transaction that reads the
//! holder and writes only over an expired claim. Each claim also drops a few expired rows, so the
//! table stays about one day of keys without a sweeper.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_core::error::StoreError;
use herald_core::idempotency::IdempotencyClaim;
use herald_core::ports::{Claim, IdempotencyKeys, Write};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::codec::*;
use super::SqliteStore;

/// Expired rows dropped per claim: more than one, so the table shrinks while in use.
const PURGE_PER_CLAIM: i64 = 16;

#[async_trait]
impl IdempotencyKeys for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let claim = claim.clone();
        self.write(move |conn| {
            let tx = conn.savepoint()?;
            tx.execute(
                "DELETE FROM idempotency_keys WHERE key IN
                   (SELECT key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)",
                params![micros(now), PURGE_PER_CLAIM],
            )?;
            let held = tx
                .query_row(
                    "SELECT fingerprint, workflow_run_id, request_id, completed, expires_at
                     FROM idempotency_keys WHERE key = ? AND expires_at > ?",
                    params![claim.key, micros(now)],
                    |r| {
                        Ok(IdempotencyClaim {
                            key: claim.key.clone(),
                            fingerprint: r.get(0)?,
                            workflow_run_id: uuid(&r.get::<_, String>(1)?)?,
                            request_id: r.get(2)?,
                            completed: r.get(3)?,
                            expires_at: from_micros(r.get(4)?)?,
                        })
                    },
                )
                .optional()?;
            if let Some(held) = held {
                tx.commit()?;
                return Ok(Claim::Held(held));
            }
            tx.execute(
                "INSERT INTO idempotency_keys
                   (key, fingerprint, workflow_run_id, request_id, completed, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint,
                   workflow_run_id = excluded.workflow_run_id, request_id = excluded.request_id,
                   completed = excluded.completed, expires_at = excluded.expires_at",
                params![
                    claim.key,
                    claim.fingerprint,
                    claim.workflow_run_id.to_string(),
                    claim.request_id,
                    claim.completed,
                    micros(claim.expires_at)
                ],
            )?;
            tx.commit()?;
            Ok(Claim::Won)
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError> {
        self.change_claim(
            "UPDATE idempotency_keys SET completed = 1 WHERE key = ? AND workflow_run_id = ?",
            key,
            workflow_run_id,
        )
        .await
    }

    async fn release_idempotency_key(
        &self,
        key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError> {
        self.change_claim(
            "DELETE FROM idempotency_keys
             WHERE key = ? AND workflow_run_id = ? AND completed = 0",
            key,
            workflow_run_id,
        )
        .await
    }
}

impl SqliteStore {
    /// Runs `sql` (parameters: the key, the run id) on a claim; applied if it changed the row.
    async fn change_claim(
        &self,
        sql: &'static str,
        key: &str,
        workflow_run_id: Uuid,
    ) -> Result<Write, StoreError> {
        let key = key.to_string();
        self.write(move |conn| {
            let changed = conn.execute(sql, params![key, workflow_run_id.to_string()])?;
            Ok(Write::from_applied(changed == 1))
        })
        .await
    }
}
