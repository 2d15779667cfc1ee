//! Delivery rules: the states a delivery moves through, how recipients are reached, the
//! idempotency key a receiver uses to drop duplicates, and the retry schedule.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a delivery is. Stored as its number; the numbers never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Queued = 0,
    /// Claimed by a dispatcher; if its lease runs out (a crash), it is queued again.
    Sending = 1,
    /// The receiver accepted it.
    Sent = 2,
    /// Given up: the receiver refused it, or every retry failed.
    Failed = 3,
    /// The recipient confirmed it ("received" or "safe").
    Acknowledged = 4,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 5] = [
        DeliveryState::Queued,
        DeliveryState::Sending,
        DeliveryState::Sent,
        DeliveryState::Failed,
        DeliveryState::Acknowledged,
    ];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|state| state.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Acknowledged => "acknowledged",
        }
    }
}

/// What a recipient says back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckStatus {
    /// The warning reached them.
    Received,
    /// They are safe, or have left the area.
    Safe,
    /// They need help: responders see them listed on the warning's page.
    Help,
}

impl AckStatus {
    pub const ALL: [AckStatus; 3] = [AckStatus::Received, AckStatus::Safe, AckStatus::Help];

    pub fn as_str(self) -> &'static str {
        match self {
            AckStatus::Received => "received",
            AckStatus::Safe => "safe",
            AckStatus::Help => "help",
        }
    }

    pub fn parse(text: &str) -> Option<AckStatus> {
        AckStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// The answer a text-message reply gives, in English or Arabic: "SAFE", "HELP", "OK",
    /// "آمن", "مساعدة" and their like, in any case, with punctuation, diacritics or a
    /// courtesy around them ("safe, thanks"). The first word that names an answer decides;
    /// `None` when none does.
    pub fn from_reply(text: &str) -> Option<AckStatus> {
        let folded: String = text
            .chars()
            .filter(|c| !matches!(c, '\u{064B}'..='\u{065F}' | '\u{0640}'))
            .map(|c| match c {
                'أ' | 'إ' | 'آ' => 'ا',
                'ة' => 'ه',
                'ى' => 'ي',
                other => other,
            })
            .flat_map(char::to_lowercase)
            .collect();
        folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).find_map(|word| {
            let word = word.strip_prefix('و').filter(|rest| rest.chars().count() >= 3).unwrap_or(word);
            Some(match word {
                "safe" | "out" | "left" | "امن" | "بامان" | "سالم" | "سالمه" | "خرجت" | "غادرت" => {
                    AckStatus::Safe
                }
                "help" | "sos" | "مساعده" | "ساعدوني" | "النجده" | "نجده" | "انقذوني" => {
                    AckStatus::Help
                }
                "ok" | "okay" | "received" | "yes" | "تم" | "وصلت" | "استلمت" | "نعم" => {
                    AckStatus::Received
                }
                _ => return None,
            })
        })
    }

    /// The answer that stands when `self` was recorded and `next` arrives: "received" never
    /// hides an earlier "safe" or "help" (a second tap on the link), while "safe" and "help"
    /// replace each other (someone who asked for help and was reached is safe now).
    pub fn then(self, next: AckStatus) -> AckStatus {
        match (self, next) {
            (AckStatus::Safe | AckStatus::Help, AckStatus::Received) => self,
            _ => next,
        }
    }

    /// The answer that stands, with its time, when `next` arrives at a delivery whose answer
    /// was `standing`: `then` decides the answer; an answer that stands renews the time,
    /// one that an earlier answer outranks ("received" after "safe") changes nothing.
    ///
    /// Folding a run of answers with this and then applying the result to what a delivery
    /// held gives the same as applying them one by one (a property test below), so a batch
    /// of answers can be folded per delivery before one statement writes it.
    pub fn answered<T>(standing: Option<(AckStatus, T)>, next: (AckStatus, T)) -> (AckStatus, T) {
        match standing {
            Some((was, at)) if was.then(next.0) == was && was != next.0 => (was, at),
            Some((was, _)) => (was.then(next.0), next.1),
            None => next,
        }
    }
}

/// How a recipient is reached. Webhooks get the CAP XML; SMS and email go through the
/// gateway webhook configured for the server, which gets a short text and the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Webhook,
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Webhook, Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|channel| channel.as_str() == text)
    }

    /// Checks that `address` is something this channel can reach.
    pub fn check_address(self, address: &str) -> Result<(), String> {
        let ok = match self {
            Channel::Webhook => {
                (address.starts_with("https://") || address.starts_with("http://"))
                    && !address.contains(char::is_whitespace)
            }
            Channel::Sms => {
                let digits = address.strip_prefix('+').unwrap_or(address);
                (6..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
            }
            Channel::Email => address.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !address.contains(char::is_whitespace)
            }),
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                Channel::Webhook => format!("{address:?} is not an http:// or https:// URL"),
                Channel::Sms => format!("{address:?} is not a phone number in E.164 form like +441632960000"),
                Channel::Email => format!("{address:?} is not an email address"),
            })
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of recipient it is; decides nothing but how it is shown and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipientKind {
    Person,
    Siren,
    Mosque,
    School,
    Hospital,
    Partner,
}

impl RecipientKind {
    pub const ALL: [RecipientKind; 6] = [
        RecipientKind::Person,
        RecipientKind::Siren,
        RecipientKind::Mosque,
        RecipientKind::School,
        RecipientKind::Hospital,
        RecipientKind::Partner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Person => "person",
            RecipientKind::Siren => "siren",
            RecipientKind::Mosque => "mosque",
            RecipientKind::School => "school",
            RecipientKind::Hospital => "hospital",
            RecipientKind::Partner => "partner",
        }
    }

    pub fn parse(text: &str) -> Option<RecipientKind> {
        RecipientKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The key a receiver uses to recognise a repeated delivery: one per recipient per alert
/// (an Update is a new alert, so it gets new keys).
pub fn idempotency_key(alert_identifier: &str, recipient_id: i64) -> String {
    format!("{alert_identifier}/{recipient_id}")
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Accepted,
    /// Worth retrying: a 5xx, 408, 429, a timeout, a dropped connection.
    Transient,
    /// The receiver will not take it (other 4xx); retrying would not help.
    Refused,
}

impl AttemptResult {
    pub fn from_status(status: u16) -> AttemptResult {
        match status {
            200..=299 => AttemptResult::Accepted,
            408 | 425 | 429 | 500..=599 => AttemptResult::Transient,
            _ => AttemptResult::Refused,
        }
    }
}

/// The most a gateway's answer to a batch may weigh; a longer answer is not read.
pub const MAX_BATCH_ANSWER_BYTES: usize = 4 << 20;

/// A gateway's answer for one message of a batch, by the message's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult {
    pub idempotency_key: String,
    pub result: AttemptResult,
    /// What the gateway said went wrong, cut to 200 characters.
    pub error: Option<String>,
}

/// Why a gateway's answer to a batch could not be read: every message of it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchAnswerError {
    #[error("the gateway's answer is longer than {MAX_BATCH_ANSWER_BYTES} bytes")]
    TooLong,
    #[error("the gateway's answer is not {{\"results\": [{{\"idempotency_key\", \"status\"}}, …]}}: {0}")]
    Malformed(String),
}

/// Reads a gateway's per-message answer to a batch:
/// `{"results": [{"idempotency_key": "…", "status": "sent" | "retry" | "failed", "error": "…"}]}`.
/// "accepted" reads as "sent" and "rejected" as "failed", as aggregators say both; any other
/// status is a reason to retry that message. A message the answer leaves out is the
/// caller's to retry.
pub fn read_batch_answer(body: &[u8]) -> Result<Vec<BatchResult>, BatchAnswerError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        results: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        idempotency_key: String,
        status: String,
        #[serde(default)]
        error: Option<String>,
    }
    if body.len() > MAX_BATCH_ANSWER_BYTES {
        return Err(BatchAnswerError::TooLong);
    }
    // serde_json refuses nesting deeper than 128 levels, so depth is bounded too.
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| BatchAnswerError::Malformed(e.to_string()))?;
    Ok(answer
        .results
        .into_iter()
        .map(|item| {
            let (result, unknown) = match item.status.as_str() {
                "sent" | "accepted" => (AttemptResult::Accepted, None),
                "failed" | "rejected" => (AttemptResult::Refused, None),
                "retry" => (AttemptResult::Transient, None),
                other => (
                    AttemptResult::Transient,
                    Some(format!("unknown status {:?}", other.chars().take(40).collect::<String>())),
                ),
            };
            // Kept short, and without control characters: a NUL could not even be stored
            // on PostgreSQL, and the text is shown to officers as it stands.
            let error = unknown.or(item.error).map(|e| {
                e.chars()
                    .take(200)
                    .map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c })
                    .collect()
            });
            BatchResult { idempotency_key: item.idempotency_key, result, error }
        })
        .collect())
}

/// Exponential backoff with jitter, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay_millis: i64,
    pub max_delay_millis: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, base_delay_millis: 1_000, max_delay_millis: 5 * 60 * 1000 }
    }
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Done(DeliveryState),
    RetryAfter(i64),
}

impl RetryPolicy {
    /// Decides after attempt number `attempts_made` (from 1). `jitter` in [0, 1) spreads
    /// retries over the upper half of the backoff window, so receivers that recover are not
    /// hit by every sender at the same instant.
    pub fn after(&self, attempts_made: u32, result: AttemptResult, jitter: f64) -> NextStep {
        match result {
            AttemptResult::Accepted => NextStep::Done(DeliveryState::Sent),
            AttemptResult::Refused => NextStep::Done(DeliveryState::Failed),
            AttemptResult::Transient if attempts_made >= self.max_attempts => {
                NextStep::Done(DeliveryState::Failed)
            }
            AttemptResult::Transient => {
                let exponent = attempts_made.saturating_sub(1).min(30);
                let window = self.base_delay_millis.saturating_mul(1 << exponent).min(self.max_delay_millis);
                let jitter = jitter.clamp(0.0, 1.0);
                #[allow(clippy::cast_possible_truncation)]
                let spread = (window as f64 / 2.0 * jitter) as i64;
                NextStep::RetryAfter(window / 2 + spread)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_answer() -> impl Strategy<Value = (AckStatus, u32)> {
        (proptest::sample::select(AckStatus::ALL.to_vec()), any::<u32>())
    }

    proptest! {
        /// The brute-force twin of folding a batch: answers applied one by one to what the
        /// delivery held, against the batch folded first and applied once.
        #[test]
        fn answers_folded_first_stand_as_answers_applied_one_by_one(
            held in proptest::option::of(any_answer()),
            answers in proptest::collection::vec(any_answer(), 1..8),
        ) {
            let one_by_one = answers.iter().fold(held, |standing, next| Some(AckStatus::answered(standing, *next)));
            let folded = answers.iter().fold(None, |standing, next| Some(AckStatus::answered(standing, *next)));
            let folded_then_applied = folded.map(|batch| AckStatus::answered(held, batch));
            prop_assert_eq!(one_by_one, folded_then_applied);
        }
    }

    #[test]
    fn a_batch_answer_is_read_per_message_and_refused_whole_when_malformed() {
        let answer = br#"{"results": [
            {"idempotency_key": "a/1", "status": "sent"},
            {"idempotency_key": "a/2", "status": "accepted"},
            {"idempotency_key": "a/3", "status": "failed", "error": "number not in service"},
            {"idempotency_key": "a/4", "status": "retry"},
            {"idempotency_key": "a/5", "status": "lost in space"},
            {"idempotency_key": "a/6", "status": "failed", "error": "bad\u0000number\n"}]}"#;
        let read = read_batch_answer(answer).unwrap();
        let results: Vec<(&str, AttemptResult)> =
            read.iter().map(|r| (r.idempotency_key.as_str(), r.result)).collect();
        assert_eq!(
            results,
            [
                ("a/1", AttemptResult::Accepted),
                ("a/2", AttemptResult::Accepted),
                ("a/3", AttemptResult::Refused),
                ("a/4", AttemptResult::Transient),
                ("a/5", AttemptResult::Transient),
                ("a/6", AttemptResult::Refused),
            ]
        );
        assert_eq!(read[5].error.as_deref(), Some("bad\u{FFFD}number\u{FFFD}"), "no control characters");
        assert_eq!(read[2].error.as_deref(), Some("number not in service"));
        assert!(read[4].error.as_deref().unwrap().contains("unknown status"));
        for bad in [&b"not json"[..], b"{}", br#"{"results": [{"status": "sent"}]}"#, b"[[[[[[[[[[[["] {
            assert!(matches!(read_batch_answer(bad), Err(BatchAnswerError::Malformed(_))));
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(read_batch_answer(deep.as_bytes()).is_err(), "nesting is bounded");
        let long = vec![b' '; MAX_BATCH_ANSWER_BYTES + 1];
        assert_eq!(read_batch_answer(&long), Err(BatchAnswerError::TooLong));
    }
    use proptest::prelude::*;

    #[test]
    fn received_never_hides_safe_or_help_and_those_replace_each_other() {
        use AckStatus::*;
        for (was, next, stands) in [
            (Received, Received, Received),
            (Received, Safe, Safe),
            (Received, Help, Help),
            (Safe, Received, Safe),
            (Safe, Help, Help),
            (Help, Received, Help),
            (Help, Safe, Safe),
            (Help, Help, Help),
        ] {
            assert_eq!(was.then(next), stands, "{was:?} then {next:?}");
        }
        for status in AckStatus::ALL {
            assert_eq!(AckStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn text_replies_are_read_in_english_and_arabic() {
        use AckStatus::*;
        for (reply, answer) in [
            ("SAFE", Some(Safe)),
            ("safe, thanks", Some(Safe)),
            ("We are out.", Some(Safe)),
            ("HELP!!", Some(Help)),
            ("sos", Some(Help)),
            ("Ok", Some(Received)),
            ("آمن", Some(Safe)),
            ("أنا بأمان", Some(Safe)),
            ("مساعدة", Some(Help)),
            ("ساعدوني من فضلك", Some(Help)),
            ("تم", Some(Received)),
            ("what is happening?", None),
            ("", None),
        ] {
            assert_eq!(AckStatus::from_reply(reply), answer, "{reply:?}");
        }
    }

    #[test]
    fn states_round_trip_through_their_stored_codes() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::from_code(state.code()), Some(state));
        }
        assert_eq!(DeliveryState::from_code(9), None);
    }

    #[test]
    fn receivers_refusals_are_final_and_overloads_are_retried() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after(1, AttemptResult::from_status(204), 0.5),
            NextStep::Done(DeliveryState::Sent)
        );
        assert_eq!(
            policy.after(1, AttemptResult::from_status(404), 0.5),
            NextStep::Done(DeliveryState::Failed)
        );
        assert_eq!(policy.after(1, AttemptResult::from_status(503), 0.0), NextStep::RetryAfter(500));
        assert_eq!(policy.after(3, AttemptResult::from_status(429), 0.0), NextStep::RetryAfter(2_000));
        assert_eq!(policy.after(8, AttemptResult::Transient, 0.0), NextStep::Done(DeliveryState::Failed));
    }

    #[test]
    fn addresses_are_checked_per_channel() {
        assert!(Channel::Webhook.check_address("https://partner.example/cap").is_ok());
        assert!(Channel::Webhook.check_address("ftp://x").is_err());
        assert!(Channel::Sms.check_address("+441632960000").is_ok());
        assert!(Channel::Sms.check_address("0163 296").is_err());
        assert!(Channel::Email.check_address("warden@school.example").is_ok());
        assert!(Channel::Email.check_address("warden").is_err());
    }

    proptest! {
        /// Backoff grows, stays inside its window, and never exceeds the cap.
        #[test]
        fn retry_delays_stay_within_the_backoff_window(attempt in 1u32..8, jitter in 0.0f64..1.0) {
            let policy = RetryPolicy::default();
            let NextStep::RetryAfter(delay) = policy.after(attempt, AttemptResult::Transient, jitter) else {
                return Err(TestCaseError::fail("a transient failure before the last attempt is retried"));
            };
            let window = (policy.base_delay_millis << (attempt - 1)).min(policy.max_delay_millis);
            prop_assert!(delay >= window / 2 && delay <= window);
        }
    }
}
