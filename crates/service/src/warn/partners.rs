//! Alerts from partner agencies: uploaded by a warning officer, or polled from a partner's
//! feed (an Atom feed of CAP alerts, or a single CAP document). Every alert is read by the
//! strict CAP reader; an invalid one is refused with the element and the reason and
//! changes nothing. Alerts already held (same sender, identifier and sent) are skipped.
//!
//! A partner that signs its alerts registers its public key for its CAP `<sender>`. From
//! then on an alert from that sender is taken only when an enveloped XML Signature on it
//! verifies with one of the sender's keys (`tearline_warn::xmldsig`); without a registered
//! key a signed alert is shown as signed, not verified. The state shown beside an alert is
//! worked out against the keys registered when it is read, so a key registered later
//! verifies alerts already held, and a withdrawn key no longer does.

use std::collections::HashMap;
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::Timestamp;

use tearline_store::{PartnerAlert, PartnerFeed, PartnerKeyRecord, StoreError};
use tearline_warn::atom::{cap_links, next_feed_poll};
use tearline_warn::cap::Alert;
use tearline_warn::xmldsig::{self, PartnerKey, Signature};

use crate::audit::record;
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::state::AppState;

/// The largest document fetched from a partner.
const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// The most alerts taken from one poll of one feed.
const MAX_ALERTS_PER_POLL: usize = 500;
/// The largest PEM key or certificate registered (a certificate chain is a few KiB).
const MAX_KEY_BYTES: usize = 16 * 1024;

async fn require_import(state: &AppState, caller: &Caller, audit_action: &str) -> Result<(), ServiceError> {
    if authorize(&caller.actor, Action::ImportPartnerAlerts).is_ok() {
        return Ok(());
    }
    record(state, Some(caller.user.id), audit_action, "partner-alerts", None, Outcome::Denied).await?;
    Err(ServiceError::Forbidden)
}

/// Reads and stores one uploaded CAP alert.
pub async fn upload(state: &AppState, caller: &Caller, xml: &str) -> Result<PartnerAlert, ServiceError> {
    require_import(state, caller, "partner-alert.import").await?;
    let alert =
        Alert::from_xml(xml).map_err(|e| ServiceError::refused(ErrorCode::InvalidCap, e.to_string()))?;
    verified_if_keyed(state, &alert, xml).await?;
    let origin = format!("upload by {}", caller.user.username);
    let writer = state.change(caller, "partner-alert.import", "partner-alert:new", None);
    let id = writer.insert_partner_alert(&alert, xml, &origin, state.now()).await?;
    Ok(PartnerAlert { id, alert, cap_xml: xml.to_owned(), origin, received_at: state.now() })
}

/// The latest partner alerts, each with its signature checked against the keys registered
/// for its sender now.
pub async fn alerts(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<(PartnerAlert, Signature)>, ServiceError> {
    require_import(state, caller, "partner-alert.list").await?;
    let mut keys: HashMap<String, Vec<PartnerKey>> = HashMap::new();
    for record in state.store.partner_keys(None).await? {
        keys.entry(record.sender.clone()).or_default().push(stored_key(&record)?);
    }
    let alerts = state.store.partner_alerts(200).await?;
    Ok(alerts
        .into_iter()
        .map(|held| {
            let sender_keys = keys.get(&held.alert.sender).map(Vec::as_slice).unwrap_or_default();
            let signature = xmldsig::check(&held.cap_xml, sender_keys);
            (held, signature)
        })
        .collect())
}

/// Refuses an alert whose sender has a registered key unless a signature on it verifies.
async fn verified_if_keyed(state: &AppState, alert: &Alert, xml: &str) -> Result<(), ServiceError> {
    let keys = state
        .store
        .partner_keys(Some(&alert.sender))
        .await?
        .iter()
        .map(stored_key)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Ok(());
    }
    let why = match xmldsig::check(xml, &keys) {
        Signature::Verified { .. } => return Ok(()),
        Signature::Failed { reason } => reason,
        Signature::Unsigned | Signature::Signed => "the alert is not signed".to_owned(),
    };
    Err(ServiceError::refused(
        ErrorCode::SignatureNotVerified,
        format!("{} has a registered key, and {why}", alert.sender),
    ))
}

/// A key as stored; it was read when registered, so failing now means the row was altered.
fn stored_key(record: &PartnerKeyRecord) -> Result<PartnerKey, ServiceError> {
    PartnerKey::from_pem(&record.public_key)
        .map_err(|_| StoreError::Corrupt(format!("stored partner key {}", record.id)).into())
}

pub async fn keys(state: &AppState, caller: &Caller) -> Result<Vec<PartnerKeyRecord>, ServiceError> {
    require_import(state, caller, "partner-key.list").await?;
    Ok(state.store.partner_keys(None).await?)
}

/// Registers a partner's public key (PEM public key or certificate) for its CAP sender.
pub async fn add_key(
    state: &AppState,
    caller: &Caller,
    sender: &str,
    label: &str,
    pem: &str,
) -> Result<PartnerKeyRecord, ServiceError> {
    require_import(state, caller, "partner-key.add").await?;
    let sender = sender.trim();
    // CAP §3.2.1: a sender has no spaces, commas or restricted characters.
    if sender.is_empty()
        || sender.chars().count() > 256
        || sender.contains(|c: char| c.is_whitespace() || ",<&".contains(c))
    {
        return Err(ServiceError::refused(
            ErrorCode::InvalidField,
            "sender: the partner's CAP <sender>, 1 to 256 characters without spaces, commas, '<' or '&'",
        ));
    }
    let label = label.trim();
    if label.chars().count() > 200 {
        return Err(ServiceError::refused(ErrorCode::InvalidField, "label: at most 200 characters"));
    }
    if pem.len() > MAX_KEY_BYTES {
        return Err(ServiceError::refused(
            ErrorCode::InvalidKey,
            format!("a key is at most {MAX_KEY_BYTES} bytes"),
        ));
    }
    let key =
        PartnerKey::from_pem(pem).map_err(|e| ServiceError::refused(ErrorCode::InvalidKey, e.to_string()))?;
    let mut record = PartnerKeyRecord {
        id: 0,
        sender: sender.to_owned(),
        label: label.to_owned(),
        public_key: pem.trim().to_owned(),
        fingerprint: key.fingerprint().to_owned(),
        added_at: state.now(),
    };
    record.id = state
        .change(caller, "partner-key.add", &format!("partner-key:{}", key.fingerprint()), None)
        .add_partner_key(&record, caller.user.id)
        .await?;
    Ok(record)
}

/// Withdraws a partner's key.
pub async fn remove_key(state: &AppState, caller: &Caller, id: i64) -> Result<(), ServiceError> {
    require_import(state, caller, "partner-key.remove").await?;
    Ok(state
        .change(caller, "partner-key.remove", &format!("partner-key:{id}"), None)
        .remove_partner_key(id)
        .await?)
}

pub async fn feeds(state: &AppState, caller: &Caller) -> Result<Vec<PartnerFeed>, ServiceError> {
    require_import(state, caller, "partner-feed.list").await?;
    Ok(state.store.partner_feeds().await?)
}

pub async fn add_feed(state: &AppState, caller: &Caller, url: &str) -> Result<i64, ServiceError> {
    require_import(state, caller, "partner-feed.add").await?;
    let url = url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace) {
        return Err(ServiceError::refused(
            ErrorCode::InvalidUrl,
            "a partner feed URL must be an http:// or https:// URL",
        ));
    }
    Ok(state
        .change(caller, "partner-feed.add", "partner-feed:new", None)
        .add_partner_feed(url, caller.user.id, state.now())
        .await?)
}

/// Removes a feed that should no longer be polled (a partner gone, or a feed that serves
/// harmful documents); its alerts already taken stay.
pub async fn remove_feed(state: &AppState, caller: &Caller, id: i64) -> Result<(), ServiceError> {
    require_import(state, caller, "partner-feed.remove").await?;
    Ok(state
        .change(caller, "partner-feed.remove", &format!("partner-feed:{id}"), None)
        .remove_partner_feed(id)
        .await?)
}

/// Pauses polling a feed, or resumes it (due at once, its failures forgotten).
pub async fn set_feed_paused(
    state: &AppState,
    caller: &Caller,
    id: i64,
    paused: bool,
) -> Result<PartnerFeed, ServiceError> {
    let action = if paused { "partner-feed.pause" } else { "partner-feed.resume" };
    require_import(state, caller, action).await?;
    state
        .change(caller, action, &format!("partner-feed:{id}"), None)
        .set_partner_feed_paused(id, paused)
        .await?;
    let feeds = state.store.partner_feeds().await?;
    feeds.into_iter().find(|feed| feed.id == id).ok_or_else(|| ServiceError::not_found("partner feed"))
}

/// Polls every partner feed now and then every `partner_poll_interval`, forever.
pub async fn run_poller(state: AppState) {
    loop {
        if let Err(error) = poll_all(&state).await {
            tracing::warn!(%error, "polling partner feeds failed");
        }
        tokio::time::sleep(state.settings.warn.partner_poll_interval).await;
    }
}

/// Polls each feed that is due and not paused, once; returns how many new alerts were
/// stored. A feed whose poll fails backs off (`tearline_warn::atom::next_feed_poll`) and
/// keeps its first error for the warning officers to see.
pub async fn poll_all(state: &AppState) -> Result<usize, StoreError> {
    let mut stored = 0;
    let interval = i64::try_from(state.settings.warn.partner_poll_interval.as_millis()).unwrap_or(i64::MAX);
    for feed in state.store.partner_feeds().await? {
        let now = state.now();
        if feed.paused || feed.next_poll_at.is_some_and(|due| due > now) {
            continue;
        }
        let (count, error) = poll(state, &feed.url).await;
        stored += count;
        let failures = if error.is_some() { u32::try_from(feed.failures + 1).unwrap_or(u32::MAX) } else { 0 };
        let next = Timestamp(next_feed_poll(now.0, interval, failures));
        state.store.bookkeeping().note_feed_poll(feed.id, now, error.as_deref(), next).await?;
    }
    Ok(stored)
}

/// Takes what one feed offers; returns what was stored and the first problem met.
async fn poll(state: &AppState, url: &str) -> (usize, Option<String>) {
    let document = match fetch(state, url).await {
        Ok(document) => document,
        Err(error) => return (0, Some(error)),
    };
    let links = match cap_links(&document) {
        Ok(links) => links,
        // Not a feed: perhaps the URL is a single CAP alert.
        Err(_) => {
            return match store_alert(state, &document, url).await {
                Ok(stored) => (usize::from(stored), None),
                Err(error) => (0, Some(error)),
            }
        }
    };
    let mut stored = 0;
    let mut first_error = None;
    for link in links.into_iter().take(MAX_ALERTS_PER_POLL) {
        let result = match fetch(state, &link).await {
            Ok(xml) => store_alert(state, &xml, &link).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(true) => stored += 1,
            Ok(false) => {}
            Err(error) => {
                first_error.get_or_insert(format!("{link}: {error}"));
            }
        }
    }
    (stored, first_error)
}

/// Stores one alert; `Ok(false)` when it was already held.
async fn store_alert(state: &AppState, xml: &str, origin: &str) -> Result<bool, String> {
    let alert = Alert::from_xml(xml).map_err(|e| format!("invalid CAP: {e}"))?;
    verified_if_keyed(state, &alert, xml).await.map_err(|e| e.to_string())?;
    // A feed's alert is imported by the server itself, on the feed's subscription.
    let writer = state.kernel.change(None, "partner-alert.import", "partner-alert:new", Some(origin));
    match writer.insert_partner_alert(&alert, xml, &format!("feed {origin}"), state.now()).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(error) => Err(error.to_string()),
    }
}

async fn fetch(state: &AppState, url: &str) -> Result<String, String> {
    let mut response = state
        .warn
        .http
        .get(url)
        .timeout(state.settings.warn.request_timeout)
        .send()
        .await
        .map_err(|e| if e.is_timeout() { "timed out".to_owned() } else { "could not fetch".to_owned() })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| "the connection failed".to_owned())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
    }
    String::from_utf8(body).map_err(|_| "not UTF-8 text".to_owned())
}
