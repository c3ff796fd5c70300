//! The recovery role on SQLite: which workflow runs a restarted process must wake, and which
//! messages it must deliver.

use async_trait::async_trait;
use herald_core::error::StoreError;
use herald_core::ports::{PendingDelivery, PendingRun, Recovery};

use super::codec::*;
use super::{active, deliveries, fanouts, SqliteStore};

#[async_trait]
impl Recovery for SqliteStore {
    async fn pending_runs(&self) -> Result<Vec<PendingRun>, StoreError> {
        let active = active();
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT workflow_run_id, MIN(status != 'paused'), MIN(wake_at) FROM recipient_runs
                 WHERE status IN {active} GROUP BY workflow_run_id"
            ))?;
            let rows = stmt.query_map([], |row| {
                let runnable: bool = row.get(1)?;
                let wake: Option<i64> = row.get(2)?;
                Ok(PendingRun {
                    workflow_run_id: uuid(&row.get::<_, String>(0)?)?,
                    wake_at: if runnable {
                        None
                    } else {
                        wake.map(from_micros).transpose()?
                    },
                })
            })?;
            let mut pending: Vec<PendingRun> = rows.collect::<rusqlite::Result<_>>()?;
            // An unfinished fan-out must run now, whatever its recipient runs wait for.
            for id in fanouts::unfinished(conn)? {
                let id = uuid(&id)?;
                match pending.iter_mut().find(|p| p.workflow_run_id == id) {
                    Some(p) => p.wake_at = None,
                    None => pending.push(PendingRun {
                        workflow_run_id: id,
                        wake_at: None,
                    }),
                }
            }
            Ok(pending)
        })
        .await
    }

    async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        self.read(|conn| deliveries::pending_deliveries(conn)).await
    }
}
