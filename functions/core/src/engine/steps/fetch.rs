//! `http_fetch` steps: call an endpoint and merge its JSON answer into the run's `data`.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::StepContext;
use crate::data::merge_at;
use crate::definition::{FetchStep, Pair};
use crate::engine::execute::Change;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ports::fetcher::{FetchError, FetchRequest};
use crate::run::{RecipientRun, RunEvent, RunStatus};
use crate::template::Template;

/// Knock retries a fetch that timed out or answered 5xx after 30 s, then after 60 s.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(30), Duration::from_secs(60)];

/// What one attempt came to.
enum Attempt {
    /// The JSON object to merge (or `None` for an empty answer).
    Answer(Option<Value>),
    /// Worth another attempt (timeout, 5xx, no connection).
    Retry(String),
    /// Not worth another attempt.
    Fail(String),
}

impl Engine {
    /// An `http_fetch` step. A retry is a pause of the run, so a cancel stops it.
    pub(in crate::engine) async fn fetch_step(
        &self,
        cx: StepContext<'_, FetchStep>,
    ) -> Result<Option<RecipientRun>, EngineError> {
        let (workflow, step, run, scope, now) = cx.parts();
        let here = Some((step.step_ref.as_str(), "http_fetch"));
        let attempt = match render(step, scope, self.fetch_timeout) {
            Err(why) => Attempt::Fail(why),
            Ok(request) => match &self.fetcher {
                None => Attempt::Fail("no HTTP client is configured for fetch steps".into()),
                Some(fetcher) => match fetcher.fetch(request).await {
                    Err(FetchError::Timeout) => Attempt::Retry("the request timed out".into()),
                    Err(FetchError::Failed(why)) => Attempt::Retry(why),
                    Err(FetchError::Refused(why)) => Attempt::Fail(why),
                    Ok(r) if r.status >= 500 => Attempt::Retry(format!("status {}", r.status)),
                    Ok(r) if r.truncated => {
                        Attempt::Fail("the answer is larger than the fetch limit".into())
                    }
                    Ok(r) if ![200, 201, 204].contains(&r.status) => {
                        Attempt::Fail(format!("status {}", r.status))
                    }
                    Ok(r) if r.body.trim().is_empty() => Attempt::Answer(None),
                    Ok(r) => match serde_json::from_str::<Value>(&r.body) {
                        Ok(v @ Value::Object(_)) => Attempt::Answer(Some(v)),
                        Ok(_) | Err(_) => Attempt::Fail("the answer is not a JSON object".into()),
                    },
                },
            },
        };
        match attempt {
            Attempt::Answer(answer) => {
                let path = step.response_path.clone().filter(|p| !p.is_empty());
                let answer = answer.and_then(|a| match a {
                    Value::Object(fields) => Some(fields),
                    _ => None,
                });
                // Depth as merged: the rest of the data is within the bound already.
                let too_deep = answer.as_ref().is_some_and(|fields| {
                    let mut probe = Map::new();
                    merge_at(&mut probe, path.as_deref(), fields.clone());
                    !crate::limits::map_within_depth(&probe)
                });
                if too_deep {
                    let event = RunEvent::error(
                        "step_failed",
                        here,
                        json!({
                            "message": format!("the answer nests deeper than {} levels", crate::limits::MAX_JSON_DEPTH),
                            "attempt": run.attempt + 1,
                        }),
                        now,
                    );
                    return self.halt(workflow, run, event, now).await;
                }
                // The answer is one more layer of the run's data, stored once if large.
                let data = match answer {
                    Some(fields) => {
                        Some(run.data.clone().with(path, self.keep_data(fields).await?))
                    }
                    None => None,
                };

                let event = RunEvent::ok(
                    "fetch_succeeded",
                    here,
                    json!({"attempt": run.attempt + 1}),
                    now,
                );
                let mut change =
                    Change::to(workflow.after(run.cursor), RunStatus::Processing).event(event);
                if let Some(data) = data {
                    change = change.data(data);
                }
                self.apply(run, change, now).await
            }
            Attempt::Retry(why) if (run.attempt as usize) < RETRY_DELAYS.len() => {
                let wait = RETRY_DELAYS[run.attempt as usize];
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                self.waker.wake_at(run.workflow_run_id, at).await?;
                let event = RunEvent::error(
                    "fetch_retry_scheduled",
                    here,
                    json!({"message": why, "attempt": run.attempt + 1, "retry_at": at.to_rfc3339()}),
                    now,
                );
                let change = Change::to(run.cursor, RunStatus::Paused)
                    .wake(at)
                    .attempt(run.attempt + 1)
                    .event(event);
                self.apply(run, change, now).await
            }
            Attempt::Retry(why) | Attempt::Fail(why) => {
                // Knock: a fetch that failed for good halts the run.
                let event = RunEvent::error(
                    "step_failed",
                    here,
                    json!({"message": why, "attempt": run.attempt + 1}),
                    now,
                );
                self.halt(workflow, run, event, now).await
            }
        }
    }
}

fn render(step: &FetchStep, scope: &Value, timeout: Duration) -> Result<FetchRequest, String> {
    let (url, headers, body) = render_request(
        &step.url,
        &step.headers,
        &step.query_params,
        step.body.as_ref(),
        scope,
    )?;
    Ok(FetchRequest {
        method: step.method.clone(),
        url,
        headers,
        body,
        timeout,
        follow_redirects: true,
    })
}

/// A rendered request's URL (query parameters appended), headers and body; shared by fetch
/// steps and webhook channels, which Knock builds the same way.
pub(super) fn render_request(
    url: &Template,
    headers: &[Pair],
    query_params: &[Pair],
    body: Option<&Template>,
    scope: &Value,
) -> Result<RenderedRequest, String> {
    let text = |t: &Template| t.render(scope).map_err(|e| e.to_string());
    let mut url = text(url)?;
    if !query_params.is_empty() {
        let mut pairs = Vec::with_capacity(query_params.len());
        for p in query_params {
            pairs.push(format!(
                "{}={}",
                encode(&text(&p.key)?),
                encode(&text(&p.value)?)
            ));
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&pairs.join("&"));
    }
    let headers = headers
        .iter()
        .map(|h| Ok((text(&h.key)?, text(&h.value)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok((url, headers, body.map(text).transpose()?))
}

/// A rendered request: URL, headers, body.
pub(super) type RenderedRequest = (String, Vec<(String, String)>, Option<String>);

/// Query components keep RFC 3986's unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY).to_string()
}

/// Knock: the answer is shallow-merged into `data`, or placed at `response_path` (dotted).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
