//! What the public and partner systems reach without logging in: the CAP Atom feed, each
//! published alert, and acknowledgements.
//!
//! Only alerts with scope Public and a status other than Draft are published. An
//! acknowledgement link carries an HMAC over the delivery, so only the recipient it was
//! sent to can acknowledge it. Opened in a browser, the link shows the warning in the
//! reader's language and three answers (received, safe or gone, need help).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tearline_store::{DeliveryAnswer, Store, WarningVersion};
use tearline_warn::atom::{write_feed, FeedAlert};
use tearline_warn::cap::{Scope, Status};
use tearline_warn::delivery::{AckStatus, Channel};

use crate::error::{ErrorCode, ServiceError};
use crate::state::AppState;

fn is_published(version: &WarningVersion) -> bool {
    version.alert.scope == Scope::Public && version.alert.status != Status::Draft
}

/// A public document's fixed bytes and their entity tag (a digest of the bytes), computed
/// once and served as they are to every reader.
#[derive(Debug, Clone)]
pub struct PublicDocument {
    pub body: bytes::Bytes,
    pub etag: std::sync::Arc<str>,
}

impl PublicDocument {
    fn of(body: String) -> PublicDocument {
        use sha2::Digest as _;
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", digest[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
        PublicDocument { body: bytes::Bytes::from(body), etag: etag.into() }
    }
}

/// How long this process serves the feed it built before building it again from the store:
/// what another server issued, or an alert that expired, shows within this. Clients are told
/// `max-age=30`, so the feed may lag that much anyway.
const FEED_FRESH_MILLIS: i64 = 1_000;
/// Issued alerts are immutable; this many stay in memory (all of them in any real day).
const ALERTS_KEPT: usize = 10_000;

/// The public documents this process has built: the feed for a second (or until this process
/// issues an alert), each published alert for good.
#[derive(Debug, Default)]
pub struct PublicCache {
    // Read locks: every request reads, a rebuild writes once a second at most.
    feed: std::sync::RwLock<Option<(tearline_domain::Timestamp, PublicDocument)>>,
    /// Held by the one request that builds the feed; a country reading it at once must not
    /// become as many queries to the store each time it goes stale.
    building: tokio::sync::Mutex<()>,
    /// Counts the changes this process made to what the feed shows, so that a build begun
    /// before one is not kept after it.
    changes: std::sync::atomic::AtomicU64,
    alerts: std::sync::RwLock<std::collections::HashMap<String, PublicDocument>>,
}

impl PublicCache {
    /// Forgets the feed: this process issued an alert.
    pub fn feed_changed(&self) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.feed.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The feed last built, however old: what readers get while another request rebuilds it.
    fn last_feed(&self) -> Option<PublicDocument> {
        self.feed.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|(_, d)| d.clone())
    }

    fn fresh_feed(&self, now: tearline_domain::Timestamp) -> Option<PublicDocument> {
        let cached = self.feed.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|(built, _)| now.0 - built.0 < FEED_FRESH_MILLIS && now >= *built)
            .map(|(_, d)| d.clone())
    }

    /// Keeps a feed built from the store at `now`, unless this process changed what it
    /// shows since the build began (`changes` then differs from `changes_before`).
    fn keep_feed(&self, now: tearline_domain::Timestamp, changes_before: u64, document: &PublicDocument) {
        let mut feed = self.feed.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.changes.load(std::sync::atomic::Ordering::SeqCst) == changes_before {
            *feed = Some((now, document.clone()));
        }
    }

    fn alert(&self, identifier: &str) -> Option<PublicDocument> {
        self.alerts.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(identifier).cloned()
    }

    fn keep_alert(&self, identifier: &str, document: &PublicDocument) {
        let mut alerts = self.alerts.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if alerts.len() >= ALERTS_KEPT {
            alerts.clear();
        }
        alerts.insert(identifier.to_owned(), document.clone());
    }
}

/// The public Atom feed of every published alert, as built at most a second ago.
///
/// One request at a time builds it; readers meanwhile get the feed last built, or, when
/// there is none (at start, or just after this process issued an alert), wait for the build.
pub async fn feed_document(state: &AppState) -> Result<PublicDocument, ServiceError> {
    let cache = &state.warn.public;
    if let Some(document) = cache.fresh_feed(state.now()) {
        return Ok(document);
    }
    let _building = match cache.building.try_lock() {
        Ok(turn) => turn,
        Err(_) => match cache.last_feed() {
            Some(document) => return Ok(document),
            None => cache.building.lock().await,
        },
    };
    // Whoever had the turn before may have built it just now.
    let now = state.now();
    if let Some(document) = cache.fresh_feed(now) {
        return Ok(document);
    }
    let changes_before = cache.changes.load(std::sync::atomic::Ordering::SeqCst);
    let document = PublicDocument::of(feed(state).await?);
    state.metrics.public_feed_built();
    cache.keep_feed(now, changes_before, &document);
    Ok(document)
}

/// The CAP XML of a published alert, by its identifier, built once: an issued alert's bytes
/// never change.
pub async fn published_alert(state: &AppState, identifier: &str) -> Result<PublicDocument, ServiceError> {
    if let Some(document) = state.warn.public.alert(identifier) {
        return Ok(document);
    }
    let document = PublicDocument::of(alert_document(state, identifier).await?);
    state.warn.public.keep_alert(identifier, &document);
    Ok(document)
}

/// The public Atom feed of every published alert, built from the store now.
pub async fn feed(state: &AppState) -> Result<String, ServiceError> {
    let issued = state.store.issued_versions().await?;
    let alerts: Vec<FeedAlert> = issued
        .iter()
        .filter(|v| is_published(v))
        .map(|v| {
            let info = v.alert.infos.first();
            FeedAlert {
                identifier: v.alert.identifier.clone(),
                sender: v.alert.sender.clone(),
                headline: tearline_store::headline_of(&v.alert),
                summary: info
                    .and_then(|i| i.instruction.clone().or_else(|| i.description.clone()))
                    .unwrap_or_default(),
                sent: v.alert.sent,
                msg_type: v.alert.msg_type,
                expires: v.alert.expires(),
            }
        })
        .collect();
    Ok(write_feed(&state.settings.warn.public_url, "Tearline public warnings", &alerts, state.now().0))
}

/// The CAP XML of a published alert, by its identifier.
pub async fn alert_document(state: &AppState, identifier: &str) -> Result<String, ServiceError> {
    match state.store.issued_version_by_identifier(identifier).await? {
        Some(version) if is_published(&version) => Ok(version.cap_xml.unwrap_or_default()),
        _ => Err(ServiceError::not_found("alert")),
    }
}

/// The token in an acknowledgement link. (HMAC takes keys of any length; the empty
/// string for an impossible key error can never match a link's non-empty token.)
pub fn ack_token(key: &[u8], version_id: i64, recipient_id: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{version_id}/{recipient_id}").as_bytes());
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// Checks a link's token; a wrong token and an unknown delivery answer alike.
async fn check_link(
    state: &AppState,
    version_id: i64,
    recipient_id: i64,
    token: &str,
) -> Result<(), ServiceError> {
    let key = state.warn.ack_key(&state.store).await?;
    let expected = ack_token(key, version_id, recipient_id);
    let matches: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), token.as_bytes()).into();
    if matches {
        Ok(())
    } else {
        Err(ServiceError::not_found("delivery"))
    }
}

/// Records a recipient's acknowledgement from the link they were sent. Answering again is
/// harmless: "received" never hides an earlier "safe" or "help" (`AckStatus::then`).
pub async fn acknowledge(
    state: &AppState,
    version_id: i64,
    recipient_id: i64,
    token: &str,
    status: AckStatus,
) -> Result<(), ServiceError> {
    check_link(state, version_id, recipient_id, token).await?;
    record_answer(state, version_id, recipient_id, status).await
}

/// Records a recipient's answer, durably, before it is acknowledged. Answers are the
/// public's, not an officer's act, so they are bookkeeping rather than audited changes
/// (listed in the kernel's tidy test).
async fn record_answer(
    state: &AppState,
    version_id: i64,
    recipient_id: i64,
    status: AckStatus,
) -> Result<(), ServiceError> {
    let answer = DeliveryAnswer { version_id, recipient_id, status, at: state.now() };
    if state.warn.answers.record(&state.store, answer).await? {
        Ok(())
    } else {
        Err(ServiceError::not_found("delivery"))
    }
}

/// Answers taken at most this many to a transaction.
const ANSWERS_PER_COMMIT: usize = 5_000;

/// Recipients' answers, committed together: one task per process writes whatever answers
/// arrived while its last transaction committed, in one transaction, and only then tells
/// each answerer it is recorded (group commit). A national warning's answers arrive by the
/// ten thousand a second; one transaction each would cap them at the disk's commit rate.
/// A batch is one statement, one round trip (`Writer::answer_deliveries`). One committer,
/// by measurement: with two or four in flight on PostgreSQL each batch was smaller and took
/// as long, and fewer answers a second were taken (docs/benchmarks.md).
#[derive(Default)]
pub struct Answers {
    queue: std::sync::OnceLock<tokio::sync::mpsc::Sender<PendingAnswer>>,
}

type PendingAnswer = (DeliveryAnswer, tokio::sync::oneshot::Sender<bool>);

impl Answers {
    /// Whether the delivery exists, once the answer is committed.
    pub async fn record(&self, store: &Store, answer: DeliveryAnswer) -> Result<bool, ServiceError> {
        let queue = self.queue.get_or_init(|| {
            let (queue, pending) = tokio::sync::mpsc::channel(ANSWERS_PER_COMMIT * 4);
            tokio::spawn(commit_answers(store.clone(), pending));
            queue
        });
        let (reply, committed) = tokio::sync::oneshot::channel();
        let unavailable =
            || ServiceError::internal("answers", &"the answer could not be recorded; answer again");
        queue.send((answer, reply)).await.map_err(|_| unavailable())?;
        committed.await.map_err(|_| unavailable())
    }
}

async fn commit_answers(store: Store, mut pending: tokio::sync::mpsc::Receiver<PendingAnswer>) {
    let mut batch = Vec::with_capacity(ANSWERS_PER_COMMIT);
    while pending.recv_many(&mut batch, ANSWERS_PER_COMMIT).await > 0 {
        let answers: Vec<DeliveryAnswer> = batch.iter().map(|(answer, _)| *answer).collect();
        match store.bookkeeping().answer_deliveries(&answers).await {
            Ok(found) => {
                for ((_, reply), found) in batch.drain(..).zip(found) {
                    let _ = reply.send(found);
                }
            }
            Err(error) => {
                // Dropping the replies tells each answerer to answer again.
                tracing::error!(%error, answers = batch.len(), "recipients' answers could not be recorded");
                batch.clear();
            }
        }
    }
}

/// A recipient's text-message reply, forwarded by the SMS gateway: `presented` is the
/// gateway's bearer token, `from` the sender's number, `text` what they wrote. The reply
/// answers the latest warning delivered to that number, as `AckStatus::from_reply` reads it.
pub async fn sms_reply(
    state: &AppState,
    presented: Option<&str>,
    from: &str,
    text: &str,
) -> Result<AckStatus, ServiceError> {
    let token = state
        .settings
        .warn
        .sms_reply_token
        .as_ref()
        .ok_or_else(|| ServiceError::not_found("sms reply route"))?;
    if !presented.is_some_and(|p| token.matches(p)) {
        return Err(ServiceError::refused(
            ErrorCode::Unauthenticated,
            "the gateway's token is missing or wrong",
        ));
    }
    let status = AckStatus::from_reply(text).ok_or_else(|| {
        ServiceError::refused(
            ErrorCode::InvalidStatus,
            "the reply names no answer: SAFE, HELP or OK (آمن، مساعدة، تم)",
        )
    })?;
    // Numbers as gateways write them: spaces, dashes and brackets dropped, 00 read as +.
    let digits: String = from.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
    let number = match digits.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => digits,
    };
    let (version_id, recipient_id) = state
        .store
        .latest_delivery_to(Channel::Sms, &number)
        .await?
        .ok_or_else(|| ServiceError::not_found("delivery to that number"))?;
    record_answer(state, version_id, recipient_id, status).await?;
    Ok(status)
}

/// What the page behind an acknowledgement link shows: the warning in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckPage {
    /// The language of the `info` shown (RFC 5646).
    pub language: String,
    pub headline: String,
    pub instruction: Option<String>,
    pub description: Option<String>,
    pub sender_name: Option<String>,
}

/// The warning behind a valid link, in the recipient's registered language if the alert has
/// it, else in the first of `languages` (the browser's, best first) it has, else its first
/// `info` (`Alert::info_for`).
pub async fn ack_page(
    state: &AppState,
    version_id: i64,
    recipient_id: i64,
    token: &str,
    languages: &[String],
) -> Result<AckPage, ServiceError> {
    check_link(state, version_id, recipient_id, token).await?;
    let version =
        state.store.warning_version(version_id).await?.ok_or_else(|| ServiceError::not_found("delivery"))?;
    // The recipient's own language first, then the browser's.
    let registered =
        state.store.recipients_by_id(&[recipient_id]).await?.into_iter().next().and_then(|r| r.language);
    let wanted: Vec<&str> =
        registered.iter().map(String::as_str).chain(languages.iter().map(String::as_str)).collect();
    let info = version.alert.info_for(&wanted).ok_or_else(|| ServiceError::not_found("delivery"))?;
    Ok(AckPage {
        language: info.language.clone(),
        headline: info.headline.clone().unwrap_or_else(|| info.event.clone()),
        instruction: info.instruction.clone(),
        description: info.description.clone(),
        sender_name: info.sender_name.clone(),
    })
}
