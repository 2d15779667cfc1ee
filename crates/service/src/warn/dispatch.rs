//! The delivery dispatcher: works the durable outbox until every delivery is sent or has
//! failed for good.
//!
//! Each round claims a batch of due deliveries under a lease, sends them with at most
//! `concurrency` requests in flight, and writes every outcome back in one transaction.
//! Transient failures (5xx, 408, 429, timeouts, dropped connections) are retried with
//! exponential backoff and jitter; other refusals fail at once. A crash loses nothing: the
//! claimed rows' leases run out and the next dispatcher takes them up. A receiver that
//! honours the `Idempotency-Key` header never sees one delivery twice.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header;
use tearline_store::{AttemptOutcome, ClaimedDelivery, StoreError};
use tearline_warn::delivery::{idempotency_key, AttemptResult, Channel, DeliveryState, NextStep};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::state::AppState;

/// What every delivery of one alert carries.
struct Payload {
    /// When the version was issued: delivery latency counts from here.
    issued_at: Option<tearline_domain::Timestamp>,
    identifier: String,
    cap_xml: String,
    alert: tearline_warn::cap::Alert,
    /// Per `info`, in the alert's order: the warning's text in full (for e-mail), and as a
    /// text message cut to `sms_max_parts` with room left for the recipient's link.
    texts: Vec<(String, tearline_warn::sms::TextMessage)>,
}

impl Payload {
    /// The texts in the recipient's language, when the alert has it; else the first `info`'s.
    fn texts_for(&self, language: Option<&str>) -> Option<&(String, tearline_warn::sms::TextMessage)> {
        let wanted: Vec<&str> = language.into_iter().collect();
        self.texts.get(self.alert.info_index_for(&wanted)?)
    }
}

/// Runs until the process ends. Errors (the database away for a moment) are logged and
/// the round retried; nothing is dropped.
pub async fn run(state: AppState) {
    let mut dispatcher = Dispatcher::default();
    loop {
        match dispatcher.round(&state).await {
            Ok(0) => {
                let idle = tokio::time::sleep(std::time::Duration::from_millis(500));
                tokio::select! {
                    () = state.warn.wakeup.notified() => {}
                    () = idle => {}
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%error, "delivery round failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Works the outbox round by round, remembering each alert's payload once loaded.
#[derive(Default)]
pub struct Dispatcher {
    payloads: HashMap<i64, Arc<Payload>>,
}

impl Dispatcher {
    /// Claims, sends and records one batch; returns how many deliveries it attempted.
    pub async fn round(&mut self, state: &AppState) -> Result<usize, StoreError> {
        let payloads = &mut self.payloads;
        round(state, payloads).await
    }
}

async fn round(state: &AppState, payloads: &mut HashMap<i64, Arc<Payload>>) -> Result<usize, StoreError> {
    let settings = &state.settings.warn;
    let now = state.now();
    let batch = i64::try_from(settings.concurrency * 4).unwrap_or(256);
    let claimed = state
        .store
        .bookkeeping()
        .claim_due_deliveries(now, now.plus_millis(millis(settings.lease)), batch)
        .await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let missing: std::collections::BTreeSet<i64> =
        claimed.iter().map(|c| c.version_id).filter(|id| !payloads.contains_key(id)).collect();
    for version_id in missing {
        if let Some(version) = state.store.warning_version(version_id).await? {
            // The longest link this server writes, and the space before it.
            let link_room = format!("{}/cap/ack/{}/{}/", settings.public_url, i64::MAX, i64::MAX).len() + 23;
            let texts = version
                .alert
                .infos
                .iter()
                .map(|info| {
                    let text = warning_text(info);
                    let sms = tearline_warn::sms::fit(&text, link_room, settings.sms_max_parts);
                    (text, sms)
                })
                .collect();
            let payload = Payload {
                issued_at: version.issued_at,
                identifier: version.alert.identifier.clone(),
                texts,
                cap_xml: version.cap_xml.unwrap_or_default(),
                alert: version.alert,
            };
            payloads.insert(version_id, Arc::new(payload));
        }
    }
    let limit = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    let attempted = claimed.len();
    for claim in claimed {
        let Some(payload) = payloads.get(&claim.version_id).cloned() else { continue };
        let state = state.clone();
        let limit = Arc::clone(&limit);
        in_flight.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let (result, error) = attempt(&state, &claim, &payload).await;
            let outcome = outcome(&state, &claim, result, error);
            let latency = payload
                .issued_at
                .filter(|_| outcome.state == DeliveryState::Sent)
                .map(|issued| state.now().0 - issued.0);
            state.metrics.delivery_attempted(claim.channel, outcome.state, latency);
            outcome
        });
    }
    let mut outcomes = Vec::with_capacity(attempted);
    while let Some(joined) = in_flight.join_next().await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    state.store.bookkeeping().record_attempts(&outcomes, state.now()).await?;
    Ok(attempted)
}

fn outcome(
    state: &AppState,
    claim: &ClaimedDelivery,
    result: AttemptResult,
    error: Option<String>,
) -> AttemptOutcome {
    let attempts = u32::try_from(claim.attempts).unwrap_or(u32::MAX);
    let now = state.now();
    let (state_after, next_attempt_at) =
        match state.settings.warn.retry.after(attempts, result, rand::random()) {
            NextStep::Done(done) => (done, now),
            NextStep::RetryAfter(delay) => (DeliveryState::Queued, now.plus_millis(delay)),
        };
    AttemptOutcome {
        version_id: claim.version_id,
        recipient_id: claim.recipient_id,
        attempts: claim.attempts,
        state: state_after,
        next_attempt_at,
        error: if state_after == DeliveryState::Sent { None } else { error },
    }
}

/// The link a recipient follows (or a gateway calls) to acknowledge.
pub async fn ack_url(state: &AppState, version_id: i64, recipient_id: i64) -> Result<String, StoreError> {
    let key = state.warn.ack_key(&state.store).await?;
    let token = super::public::ack_token(key, version_id, recipient_id);
    Ok(format!("{}/cap/ack/{version_id}/{recipient_id}/{token}", state.settings.warn.public_url))
}

async fn attempt(
    state: &AppState,
    claim: &ClaimedDelivery,
    payload: &Payload,
) -> (AttemptResult, Option<String>) {
    let settings = &state.settings.warn;
    let key = idempotency_key(&payload.identifier, claim.recipient_id);
    let ack = match ack_url(state, claim.version_id, claim.recipient_id).await {
        Ok(url) => url,
        Err(error) => return (AttemptResult::Transient, Some(format!("acknowledgement link: {error}"))),
    };
    let request = match claim.channel {
        Channel::Webhook => state
            .warn
            .http
            .post(&claim.address)
            .header(header::CONTENT_TYPE, "application/cap+xml")
            .body(payload.cap_xml.clone()),
        Channel::Sms | Channel::Email => {
            let gateway = match claim.channel {
                Channel::Sms => settings.sms_gateway_url.as_deref(),
                _ => settings.email_gateway_url.as_deref(),
            };
            let Some(gateway) = gateway else {
                return (AttemptResult::Refused, Some(format!("no {} gateway is configured", claim.channel)));
            };
            let Some((text, sms)) = payload.texts_for(claim.language.as_deref()) else {
                return (AttemptResult::Refused, Some("the alert has no info to send".into()));
            };
            let message = match claim.channel {
                Channel::Sms => serde_json::json!({
                    "text": format!("{} {ack}", sms.text),
                    "encoding": sms.encoding.as_str(),
                    "parts": sms.parts,
                }),
                _ => serde_json::json!({"text": format!("{text}\n\n{ack}")}),
            };
            let mut body = serde_json::json!({
                "channel": claim.channel.as_str(),
                "to": claim.address,
                "alert": payload.identifier,
                "idempotency_key": key,
                "ack_url": ack,
            });
            if let (Some(body), Some(message)) = (body.as_object_mut(), message.as_object()) {
                body.extend(message.clone());
            }
            state.warn.http.post(gateway).json(&body)
        }
    };
    let sent = request
        .header("Idempotency-Key", &key)
        .header("Tearline-Ack-URL", &ack)
        .timeout(settings.request_timeout)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let result = AttemptResult::from_status(status);
            (result, (result != AttemptResult::Accepted).then(|| format!("HTTP {status}")))
        }
        Err(error) if error.is_timeout() => (AttemptResult::Transient, Some("timed out".into())),
        Err(error) if error.is_connect() => (AttemptResult::Transient, Some("could not connect".into())),
        Err(_) => (AttemptResult::Transient, Some("the connection failed".into())),
    }
}

/// The instruction, headline and areas of one info, the instruction first.
fn warning_text(info: &tearline_warn::cap::Info) -> String {
    let headline = info.headline.clone().unwrap_or_else(|| info.event.clone());
    let areas: Vec<&str> = info.areas.iter().map(|a| a.area.description.as_str()).collect();
    tearline_warn::sms::warning_text(info.instruction.as_deref(), &headline, Some(&areas.join(", ")))
}
