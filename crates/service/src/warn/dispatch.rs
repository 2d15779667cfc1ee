//! The delivery dispatcher: works the durable outbox until every delivery is sent or has
//! failed for good.
//!
//! Each round claims a batch of due deliveries under a lease, sends them with at most
//! `concurrency` requests in flight, and writes every outcome back in one statement.
//! Transient failures (5xx, 408, 429, timeouts, dropped connections) are retried with
//! exponential backoff and jitter; other refusals fail at once. A crash loses nothing: the
//! claimed rows' leases run out and the next dispatcher takes them up. A request that could
//! still be running when its lease ends is not started — the delivery is handed back,
//! uncounted — so however slow a round's receivers, no two dispatchers send one delivery at
//! once. A receiver that honours the `Idempotency-Key` header never sees one delivery twice.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header;
use tearline_store::{AttemptOutcome, ClaimedDelivery, StoreError};
use tearline_warn::delivery::{
    idempotency_key, read_batch_answer, AttemptResult, Channel, DeliveryState, NextStep,
    MAX_BATCH_ANSWER_BYTES,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::WarnSettings;
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
    let lease_until = now.plus_millis(millis(settings.lease));
    // A request that could still be running when the lease ends is not started: another
    // dispatcher could take the delivery up meanwhile and send it a second time.
    let start_by = lease_until.plus_millis(-millis(settings.request_timeout));
    let claimed =
        state.store.bookkeeping().claim_due_deliveries(now, lease_until, round_size(settings)).await?;
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
    let mut per_host: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut in_flight = JoinSet::new();
    let attempted = claimed.len();
    for (to_gateway_in_batch, work) in requests(settings, claimed) {
        let Some(payload) = payloads.get(&work[0].version_id).cloned() else { continue };
        let host = host_of(receiver(settings, &work[0]).unwrap_or_default());
        let host = Arc::clone(
            per_host
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(settings.per_host_concurrency.max(1)))),
        );
        let (state, limit) = (state.clone(), Arc::clone(&limit));
        in_flight.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let _host_permit = host.acquire_owned().await;
            if state.now() > start_by {
                return work.iter().map(|claim| handed_back(&state, claim)).collect();
            }
            let results = if to_gateway_in_batch {
                attempt_batch(&state, &work, &payload).await
            } else {
                vec![attempt(&state, &work[0], &payload).await]
            };
            work.iter()
                .zip(results)
                .map(|(claim, (result, error))| {
                    let outcome = outcome(&state, claim, result, error);
                    let latency = payload
                        .issued_at
                        .filter(|_| outcome.state == DeliveryState::Sent)
                        .map(|issued| state.now().0 - issued.0);
                    state.metrics.delivery_attempted(claim.channel, outcome.state, latency);
                    outcome
                })
                .collect::<Vec<_>>()
        });
    }
    let mut outcomes = Vec::with_capacity(attempted);
    while let Some(joined) = in_flight.join_next().await {
        if let Ok(done) = joined {
            outcomes.extend(done);
        }
    }
    state.store.bookkeeping().record_attempts(&outcomes, state.now()).await?;
    Ok(attempted)
}

/// Requests a round holds for each of the `concurrency` slots: enough that the claim and the
/// outcomes, a few round trips to the store each, are small beside the sending. Requests
/// that a slow round could no longer start within their lease are handed back, so a round
/// may be longer than the lease allows for its slowest receivers.
const REQUESTS_PER_SLOT: usize = 64;

/// How many deliveries a round claims: [`REQUESTS_PER_SLOT`] requests for every slot, each
/// carrying a full batch to a gateway that takes them; at most 20 000.
fn round_size(settings: &WarnSettings) -> i64 {
    let deliveries = settings
        .concurrency
        .max(1)
        .saturating_mul(REQUESTS_PER_SLOT)
        .saturating_mul(settings.gateway_batch.max(1));
    i64::try_from(deliveries.min(20_000)).unwrap_or(20_000)
}

/// The claims of a round as requests: one each, except text messages and e-mails of one
/// alert when the gateway takes batches (`gateway_batch` > 1), which go up to that many a
/// request — in the batch form even when one is left over. `true` marks a batch.
fn requests(settings: &WarnSettings, claimed: Vec<ClaimedDelivery>) -> Vec<(bool, Vec<ClaimedDelivery>)> {
    let mut requests = Vec::new();
    let mut gathering: HashMap<(i64, Channel), Vec<ClaimedDelivery>> = HashMap::new();
    for claim in claimed {
        let batched = settings.gateway_batch > 1 && receiver(settings, &claim).is_some();
        if !batched || claim.channel == Channel::Webhook {
            requests.push((false, vec![claim]));
            continue;
        }
        let batch = gathering.entry((claim.version_id, claim.channel)).or_default();
        batch.push(claim);
        if batch.len() == settings.gateway_batch {
            requests.push((true, std::mem::take(batch)));
        }
    }
    requests.extend(gathering.into_values().filter(|batch| !batch.is_empty()).map(|batch| (true, batch)));
    requests
}

/// Where a delivery is posted: the recipient's webhook, or the channel's gateway.
fn receiver<'a>(settings: &'a WarnSettings, claim: &'a ClaimedDelivery) -> Option<&'a str> {
    match claim.channel {
        Channel::Webhook => Some(&claim.address),
        Channel::Sms => settings.sms_gateway_url.as_deref(),
        Channel::Email => settings.email_gateway_url.as_deref(),
    }
}

/// The host a URL names, which bounds how many requests go to it at once.
fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .unwrap_or(url)
        .to_ascii_lowercase()
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
    claim.outcome(state_after, next_attempt_at, if state_after == DeliveryState::Sent { None } else { error })
}

/// A delivery not attempted: its lease ends now and its attempt is not counted, so this or
/// another dispatcher takes it up again at once (`Writer::record_attempts`).
fn handed_back(state: &AppState, claim: &ClaimedDelivery) -> AttemptOutcome {
    claim.outcome(DeliveryState::Sending, state.now(), None)
}

/// The link a recipient follows (or a gateway calls) to acknowledge.
pub async fn ack_url(state: &AppState, version_id: i64, recipient_id: i64) -> Result<String, StoreError> {
    let key = state.warn.ack_key(&state.store).await?;
    let token = super::public::ack_token(key, version_id, recipient_id);
    Ok(format!("{}/cap/ack/{version_id}/{recipient_id}/{token}", state.settings.warn.public_url))
}

/// What one delivery carries besides its body: its idempotency key and acknowledgement link.
struct Envelope {
    key: String,
    ack: String,
}

async fn envelope(state: &AppState, claim: &ClaimedDelivery, payload: &Payload) -> Result<Envelope, String> {
    let ack = ack_url(state, claim.version_id, claim.recipient_id)
        .await
        .map_err(|error| format!("acknowledgement link: {error}"))?;
    Ok(Envelope { key: idempotency_key(&payload.identifier, claim.recipient_id), ack })
}

/// The JSON a gateway gets for one text message or e-mail, or why there is none to send.
fn gateway_message(
    claim: &ClaimedDelivery,
    payload: &Payload,
    envelope: &Envelope,
) -> Result<serde_json::Value, (AttemptResult, Option<String>)> {
    let Some((text, sms)) = payload.texts_for(claim.language.as_deref()) else {
        return Err((AttemptResult::Refused, Some("the alert has no info to send".into())));
    };
    let ack = &envelope.ack;
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
        "idempotency_key": envelope.key,
        "ack_url": ack,
    });
    if let (Some(body), Some(message)) = (body.as_object_mut(), message.as_object()) {
        body.extend(message.clone());
    }
    Ok(body)
}

async fn attempt(
    state: &AppState,
    claim: &ClaimedDelivery,
    payload: &Payload,
) -> (AttemptResult, Option<String>) {
    let settings = &state.settings.warn;
    let envelope = match envelope(state, claim, payload).await {
        Ok(envelope) => envelope,
        Err(error) => return (AttemptResult::Transient, Some(error)),
    };
    let Some(receiver) = receiver(settings, claim) else {
        return (AttemptResult::Refused, Some(format!("no {} gateway is configured", claim.channel)));
    };
    let request = match claim.channel {
        Channel::Webhook => state
            .warn
            .http
            .post(receiver)
            .header(header::CONTENT_TYPE, "application/cap+xml")
            .body(payload.cap_xml.clone()),
        Channel::Sms | Channel::Email => match gateway_message(claim, payload, &envelope) {
            Ok(body) => state.warn.http.post(receiver).json(&body),
            Err(refused) => return refused,
        },
    };
    let sent = request
        .header("Idempotency-Key", &envelope.key)
        .header("Tearline-Ack-URL", &envelope.ack)
        .timeout(settings.request_timeout)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let result = AttemptResult::from_status(status);
            (result, (result != AttemptResult::Accepted).then(|| format!("HTTP {status}")))
        }
        Err(error) => transport_failure(&error),
    }
}

/// A request that got no answer: worth retrying.
fn transport_failure(error: &reqwest::Error) -> (AttemptResult, Option<String>) {
    let reason = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    (AttemptResult::Transient, Some(reason.into()))
}

/// Sends one alert's text messages or e-mails to their gateway in one request,
/// `{"messages": [...]}`, each message as it would go alone, and reads the gateway's result
/// for each (`delivery::read_batch_answer`). A message the answer leaves out, or a batch
/// whose answer cannot be read, is retried; a refusal of the whole request counts for each.
async fn attempt_batch(
    state: &AppState,
    claims: &[ClaimedDelivery],
    payload: &Payload,
) -> Vec<(AttemptResult, Option<String>)> {
    let settings = &state.settings.warn;
    let mut results: Vec<Option<(AttemptResult, Option<String>)>> = vec![None; claims.len()];
    let mut messages = Vec::with_capacity(claims.len());
    let mut keys = HashMap::with_capacity(claims.len());
    for (i, claim) in claims.iter().enumerate() {
        match envelope(state, claim, payload).await {
            Err(error) => results[i] = Some((AttemptResult::Transient, Some(error))),
            Ok(envelope) => match gateway_message(claim, payload, &envelope) {
                Err(refused) => results[i] = Some(refused),
                Ok(message) => {
                    messages.push(message);
                    keys.insert(envelope.key, i);
                }
            },
        }
    }
    let Some(gateway) = claims.first().and_then(|claim| receiver(settings, claim)) else {
        return vec![(AttemptResult::Refused, Some("no gateway is configured".into())); claims.len()];
    };
    if !messages.is_empty() {
        let sent = state
            .warn
            .http
            .post(gateway)
            .json(&serde_json::json!({ "messages": messages }))
            .timeout(settings.request_timeout)
            .send()
            .await;
        let whole = match sent {
            Ok(response) if response.status().is_success() => match read_bounded(response).await {
                Ok(body) => match read_batch_answer(&body) {
                    Ok(answer) => {
                        for item in answer {
                            if let Some(&i) = keys.get(&item.idempotency_key) {
                                results[i].get_or_insert((item.result, item.error));
                            }
                        }
                        (AttemptResult::Transient, Some("the gateway gave no result for this message".into()))
                    }
                    Err(error) => (AttemptResult::Transient, Some(error.to_string())),
                },
                Err(error) => transport_failure(&error),
            },
            Ok(response) => {
                let status = response.status().as_u16();
                (AttemptResult::from_status(status), Some(format!("HTTP {status}")))
            }
            Err(error) => transport_failure(&error),
        };
        for i in keys.into_values() {
            results[i].get_or_insert_with(|| whole.clone());
        }
    }
    results.into_iter().map(|result| result.unwrap_or((AttemptResult::Transient, None))).collect()
}

/// A gateway's answer, read no further than `MAX_BATCH_ANSWER_BYTES` (and one byte, to tell).
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BATCH_ANSWER_BYTES {
            break;
        }
    }
    Ok(body)
}

/// The instruction, headline and areas of one info, the instruction first.
fn warning_text(info: &tearline_warn::cap::Info) -> String {
    let headline = info.headline.clone().unwrap_or_else(|| info.event.clone());
    let areas: Vec<&str> = info.areas.iter().map(|a| a.area.description.as_str()).collect();
    tearline_warn::sms::warning_text(info.instruction.as_deref(), &headline, Some(&areas.join(", ")))
}
