//! Early warning's operations: threat assessments, CAP warnings from draft to delivery, the
//! public CAP feed, recipients, and partners' alerts.
//!
//! - [`service`]: the operations the API and the UI share; each asks the policy and audits.
//! - [`dispatch`]: the delivery dispatcher working the durable outbox.
//! - [`public`]: what the public reaches without a login: the feed, published alerts and
//!   signed acknowledgements.
//! - [`partners`]: importing partner agencies' alerts, by upload or by polling their feeds.

pub mod chain;
pub mod dispatch;
pub mod partners;
pub mod public;
pub mod service;

use std::sync::RwLock;
use std::time::Duration;

use tearline_store::{Store, StoreError};
use tearline_warn::delivery::RetryPolicy;
use tearline_warn::geo::Area;
use tearline_warn::index::{Located, RecipientIndex};
use tokio::sync::{Notify, OnceCell};
use zeroize::Zeroizing;

/// A gateway's shared secret: zeroised when dropped, never printed.
#[derive(Clone)]
pub struct GatewayToken(Zeroizing<String>);

impl GatewayToken {
    pub fn new(token: String) -> GatewayToken {
        GatewayToken(Zeroizing::new(token))
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.0.as_bytes(), presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayToken(..)")
    }
}

/// How warnings are sent and where the public finds them.
#[derive(Debug, Clone)]
pub struct WarnSettings {
    /// The public origin of this server, for feed links and acknowledgement links.
    pub public_url: String,
    /// CAP `sender`: a globally unique name of this alerting authority.
    pub sender: String,
    /// Where SMS deliveries are posted (a gateway's webhook); none means SMS deliveries fail.
    pub sms_gateway_url: Option<String>,
    pub email_gateway_url: Option<String>,
    /// The most parts (concatenated segments) one warning's text message may take.
    pub sms_max_parts: usize,
    /// The bearer token the SMS gateway presents when it forwards recipients' replies; none
    /// means replies are not taken.
    pub sms_reply_token: Option<GatewayToken>,
    /// How many deliveries are in flight at once.
    pub concurrency: usize,
    /// How many requests go to one receiving host at once (a webhook's host, a gateway).
    pub per_host_concurrency: usize,
    /// Text messages and e-mails sent to their gateway in one request (1: one a request).
    pub gateway_batch: usize,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    /// How long a claimed delivery is held before another dispatcher may take it up; longer
    /// than `request_timeout`, so only a crashed dispatcher's work is retaken.
    pub lease: Duration,
    /// How often partners' feeds are polled.
    pub partner_poll_interval: Duration,
}

impl Default for WarnSettings {
    fn default() -> Self {
        WarnSettings {
            public_url: "http://127.0.0.1:8080".into(),
            sender: "tearline@localhost".into(),
            sms_gateway_url: None,
            email_gateway_url: None,
            sms_max_parts: 3,
            sms_reply_token: None,
            concurrency: 64,
            per_host_concurrency: 64,
            gateway_batch: 1,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            partner_poll_interval: Duration::from_secs(60),
        }
    }
}

/// The early-warning parts of the server's state.
pub struct WarnRuntime {
    pub targeting: Targeting,
    /// Wakes the dispatcher when deliveries are queued, so it need not wait for its poll.
    pub wakeup: Notify,
    /// Signs acknowledgement links; created once per database and kept there.
    ack_key: OnceCell<Zeroizing<Vec<u8>>>,
    pub http: reqwest::Client,
    /// The feed and published alerts as built, served from memory.
    pub public: public::PublicCache,
    /// Recipients' answers, committed together.
    pub answers: public::Answers,
}

impl Default for WarnRuntime {
    fn default() -> Self {
        WarnRuntime {
            targeting: Targeting::default(),
            wakeup: Notify::new(),
            ack_key: OnceCell::new(),
            public: public::PublicCache::default(),
            answers: public::Answers::default(),
            http: reqwest::Client::builder()
                .user_agent(concat!("Tearline/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }
}

impl WarnRuntime {
    pub async fn ack_key(&self, store: &Store) -> Result<&[u8], StoreError> {
        let key = self
            .ack_key
            .get_or_try_init(|| async {
                let fresh: [u8; 32] = rand::random();
                store.bookkeeping().warn_secret("ack-link-key", &fresh).await.map(Zeroizing::new)
            })
            .await?;
        Ok(key.as_slice())
    }
}

/// The in-memory spatial index of active recipients, kept in step with the store by
/// recipient revision (so changes made by another server process are picked up too).
#[derive(Default)]
pub struct Targeting {
    /// The index and the mark `(revision, id)` of the last change it holds.
    index: RwLock<(RecipientIndex, (i64, i64))>,
}

const CHANGES_PER_READ: i64 = 100_000;

impl Targeting {
    /// Applies every recipient change the store has beyond what the index has seen.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let mut mark = self.read(|_, mark| mark);
        let mut changes = Vec::new();
        loop {
            let page = store.recipient_changes_since(mark, CHANGES_PER_READ).await?;
            if let Some(last) = page.last() {
                mark = (last.revision, last.id);
            }
            let complete = (page.len() as i64) < CHANGES_PER_READ;
            changes.extend(page);
            if complete {
                break;
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut guard = self.index.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (index, seen) = &mut *guard;
        // Another refresh may have got here first with some of the same changes.
        let fresh = changes.iter().filter(|c| (c.revision, c.id) > *seen);
        if index.is_empty() {
            *index = RecipientIndex::bulk_load(
                fresh.filter(|c| c.active).map(|c| Located { id: c.id, position: c.position }),
            );
        } else {
            for change in fresh {
                if change.active {
                    index.upsert(Located { id: change.id, position: change.position });
                } else {
                    index.remove(change.id);
                }
            }
        }
        *seen = (*seen).max(mark);
        Ok(())
    }

    /// Active recipients inside any of `areas`, ascending ids.
    pub fn targets(&self, areas: &[Area]) -> Vec<i64> {
        self.read(|index, _| index.targets(areas))
    }

    fn read<T>(&self, f: impl FnOnce(&RecipientIndex, (i64, i64)) -> T) -> T {
        let guard = self.index.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&guard.0, guard.1)
    }
}
