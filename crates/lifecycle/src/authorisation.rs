//! Authorisations (UK RIPA s43 and the Juveniles Order): who may grant one, how long it
//! lasts, when it must be reviewed and renewed, and the cumulative deployment clock that
//! cancel-and-regrant cannot reset.

use serde::{Deserialize, Serialize};
use tearline_domain::{Seniority, Timestamp, UserId};

use crate::above_line::CaseDetails;
use crate::calendar::{add_months, DAY, HOUR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthorisationKind {
    /// 12 months.
    AdultWritten,
    /// 72 hours, to be written up afterwards.
    UrgentOral,
    /// 4 months, reviewed at least monthly.
    Juvenile,
}

/// What the applicant must set out; every field is required. `C` is the case as the
/// applicant wrote it ([`CaseDetails`]), or as the store keeps it, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application<C = CaseDetails> {
    pub kind: AuthorisationKind,
    pub vulnerable: bool,
    #[serde(flatten)]
    pub case: C,
}

/// The people on the case; none of them may authorise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseParties {
    pub applicant: UserId,
    pub handler: UserId,
    pub controller: UserId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authoriser {
    pub user: UserId,
    /// Juveniles and vulnerable sources need a senior authorising officer.
    pub level: Seniority,
}

/// A live authorisation's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub kind: AuthorisationKind,
    pub starts_at: Timestamp,
    pub expires_at: Timestamp,
    /// How often it must be reviewed, as the authorising officer set it.
    pub review_every_millis: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorisationError {
    #[error("no one may authorise a case they apply for, handle or control")]
    SelfAuthorisation,
    #[error("a juvenile or vulnerable source needs a senior authorising officer")]
    LevelTooLow,
    #[error("the application must set out {0}")]
    Missing(&'static str),
    #[error("reviews must come at least every {max_days} days for this authorisation")]
    ReviewTooRare { max_days: i64 },
    #[error("a review interval must be at least one day")]
    ReviewTooFrequent,
    #[error("the authorisation expired; a lapsed authorisation cannot be renewed, only granted anew")]
    Lapsed,
}

impl AuthorisationKind {
    /// When an authorisation granted at `start` expires.
    pub fn expiry(self, start: Timestamp) -> Timestamp {
        match self {
            AuthorisationKind::AdultWritten => add_months(start, 12),
            AuthorisationKind::UrgentOral => start.plus_millis(72 * HOUR),
            AuthorisationKind::Juvenile => add_months(start, 4),
        }
    }

    /// The longest review interval allowed: a juvenile's is a month (taken as 31 days).
    fn longest_review_millis(self) -> Option<i64> {
        match self {
            AuthorisationKind::Juvenile => Some(31 * DAY),
            AuthorisationKind::AdultWritten | AuthorisationKind::UrgentOral => None,
        }
    }
}

impl Application {
    /// Every field of the application is set out: checked when it is made, the only way an
    /// application enters the register (the store keeps the case sealed from then on).
    pub fn check_complete(&self) -> Result<(), AuthorisationError> {
        let case = &self.case;
        for (field, text) in [
            ("the necessity", &case.necessity),
            ("the proportionality", &case.proportionality),
            ("the purpose", &case.purpose),
            ("the intended tasking", &case.tasking),
            ("the collateral intrusion", &case.collateral_intrusion),
            ("the likely confidential information", &case.confidential_information),
        ] {
            if text.trim().is_empty() {
                return Err(AuthorisationError::Missing(field));
            }
        }
        Ok(())
    }
}

impl<C> Application<C> {
    fn needs_senior_level(&self) -> bool {
        self.vulnerable || self.kind == AuthorisationKind::Juvenile
    }
}

/// Whether `authoriser` may decide on this case at all (grant or renew): never a party to
/// it, and senior for a juvenile or vulnerable source.
pub fn may_authorise<C>(
    application: &Application<C>,
    parties: CaseParties,
    authoriser: Authoriser,
) -> Result<(), AuthorisationError> {
    if [parties.applicant, parties.handler, parties.controller].contains(&authoriser.user) {
        return Err(AuthorisationError::SelfAuthorisation);
    }
    if application.needs_senior_level() && authoriser.level < Seniority::Senior {
        return Err(AuthorisationError::LevelTooLow);
    }
    Ok(())
}

/// Grants an application, or says which rule forbids it.
pub fn grant<C>(
    application: &Application<C>,
    parties: CaseParties,
    authoriser: Authoriser,
    at: Timestamp,
    review_every_millis: i64,
) -> Result<Grant, AuthorisationError> {
    may_authorise(application, parties, authoriser)?;
    check_review_interval(application.kind, review_every_millis)?;
    Ok(Grant {
        kind: application.kind,
        starts_at: at,
        expires_at: application.kind.expiry(at),
        review_every_millis,
    })
}

fn check_review_interval(kind: AuthorisationKind, every: i64) -> Result<(), AuthorisationError> {
    if every < DAY {
        return Err(AuthorisationError::ReviewTooFrequent);
    }
    match kind.longest_review_millis() {
        Some(max) if every > max => Err(AuthorisationError::ReviewTooRare { max_days: max / DAY }),
        _ => Ok(()),
    }
}

impl Grant {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.expires_at
    }

    /// Renews before expiry: the new period runs from the old expiry, so no time is lost
    /// or gained by renewing early.
    pub fn renew(&self, now: Timestamp) -> Result<Grant, AuthorisationError> {
        if now >= self.expires_at {
            return Err(AuthorisationError::Lapsed);
        }
        Ok(Grant { expires_at: self.kind.expiry(self.expires_at), ..*self })
    }

    /// When the next review is due, given the last one (or the grant).
    pub fn next_review(&self, last_review: Option<Timestamp>) -> Timestamp {
        last_review.unwrap_or(self.starts_at).plus_millis(self.review_every_millis)
    }
}

/// What can happen to an authorisation, as the register records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Applied,
    Granted,
    Refused,
    /// An officer tried to authorise a case they applied for, handle or control.
    RefusedSelfAuthorisation,
    /// A standard officer tried to authorise a juvenile or vulnerable source.
    RefusedLevel,
    Renewed,
    Reviewed,
    /// An urgent oral authorisation was written up.
    WrittenUp,
    Cancelled,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Applied,
        EventKind::Granted,
        EventKind::Refused,
        EventKind::RefusedSelfAuthorisation,
        EventKind::RefusedLevel,
        EventKind::Renewed,
        EventKind::Reviewed,
        EventKind::WrittenUp,
        EventKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Applied => "applied",
            EventKind::Granted => "granted",
            EventKind::Refused => "refused",
            EventKind::RefusedSelfAuthorisation => "refused-self-authorisation",
            EventKind::RefusedLevel => "refused-level",
            EventKind::Renewed => "renewed",
            EventKind::Reviewed => "reviewed",
            EventKind::WrittenUp => "written-up",
            EventKind::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// The refusal a grant rule produced, as the register records the attempt.
    pub fn of_refused_attempt(error: &AuthorisationError) -> Option<EventKind> {
        match error {
            AuthorisationError::SelfAuthorisation => Some(EventKind::RefusedSelfAuthorisation),
            AuthorisationError::LevelTooLow => Some(EventKind::RefusedLevel),
            _ => None,
        }
    }
}

impl AuthorisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationKind::AdultWritten => "adult-written",
            AuthorisationKind::UrgentOral => "urgent-oral",
            AuthorisationKind::Juvenile => "juvenile",
        }
    }

    pub fn parse(s: &str) -> Option<AuthorisationKind> {
        [AuthorisationKind::AdultWritten, AuthorisationKind::UrgentOral, AuthorisationKind::Juvenile]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }
}

/// One span of deployment: from grant to cancellation, or to expiry if never cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub from: Timestamp,
    pub until: Timestamp,
}

/// The cumulative deployment clock of one person: every span ever authorised, overlaps
/// counted once, up to `now`. Cancelling and granting again only adds.
pub fn cumulative_deployment(spans: &[Deployment], now: Timestamp) -> i64 {
    let mut spans: Vec<(i64, i64)> =
        spans.iter().map(|s| (s.from.0, s.until.0.min(now.0))).filter(|(from, until)| until > from).collect();
    spans.sort_unstable();
    let mut total = 0i64;
    let mut current: Option<(i64, i64)> = None;
    for (from, until) in spans {
        current = match current {
            Some((start, end)) if from <= end => Some((start, end.max(until))),
            Some((start, end)) => {
                total += end - start;
                Some((from, until))
            }
            None => Some((from, until)),
        };
    }
    total + current.map_or(0, |(start, end)| end - start)
}

/// Five years of cumulative use: the mark at which an authorisation gets extra scrutiny.
pub const FIVE_YEARS_MILLIS: i64 = 5 * 365 * DAY + DAY;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: Timestamp = Timestamp(1_790_000_000_000);

    fn application(kind: AuthorisationKind) -> Application {
        let text = || "set out in full".to_owned();
        Application {
            kind,
            vulnerable: false,
            case: CaseDetails {
                necessity: text(),
                proportionality: text(),
                purpose: text(),
                tasking: text(),
                collateral_intrusion: text(),
                confidential_information: text(),
            },
        }
    }

    const PARTIES: CaseParties =
        CaseParties { applicant: UserId(1), handler: UserId(1), controller: UserId(2) };
    const OFFICER: Authoriser = Authoriser { user: UserId(3), level: Seniority::Standard };
    const SENIOR: Authoriser = Authoriser { user: UserId(4), level: Seniority::Senior };

    #[test]
    fn no_one_authorises_their_own_case() {
        for user in [UserId(1), UserId(2)] {
            let own = Authoriser { user, level: Seniority::Senior };
            let refused = grant(&application(AuthorisationKind::AdultWritten), PARTIES, own, T0, 30 * DAY);
            assert_eq!(refused, Err(AuthorisationError::SelfAuthorisation));
        }
    }

    #[test]
    fn durations_follow_the_kind() {
        let adult = grant(&application(AuthorisationKind::AdultWritten), PARTIES, OFFICER, T0, 90 * DAY)
            .expect("granted");
        assert_eq!(adult.expires_at, add_months(T0, 12));
        let urgent =
            grant(&application(AuthorisationKind::UrgentOral), PARTIES, OFFICER, T0, DAY).expect("granted");
        assert_eq!(urgent.expires_at, T0.plus_millis(72 * HOUR));
        let juvenile =
            grant(&application(AuthorisationKind::Juvenile), PARTIES, SENIOR, T0, 30 * DAY).expect("granted");
        assert_eq!(juvenile.expires_at, add_months(T0, 4));
    }

    #[test]
    fn juveniles_and_vulnerable_sources_need_a_senior_officer_and_juveniles_monthly_reviews() {
        let juvenile = application(AuthorisationKind::Juvenile);
        assert_eq!(grant(&juvenile, PARTIES, OFFICER, T0, 30 * DAY), Err(AuthorisationError::LevelTooLow));
        assert_eq!(
            grant(&juvenile, PARTIES, SENIOR, T0, 60 * DAY),
            Err(AuthorisationError::ReviewTooRare { max_days: 31 })
        );
        let vulnerable = Application { vulnerable: true, ..application(AuthorisationKind::AdultWritten) };
        assert_eq!(grant(&vulnerable, PARTIES, OFFICER, T0, 30 * DAY), Err(AuthorisationError::LevelTooLow));
        assert!(grant(&vulnerable, PARTIES, SENIOR, T0, 30 * DAY).is_ok());
    }

    #[test]
    fn an_incomplete_application_names_what_is_missing() {
        let mut incomplete = application(AuthorisationKind::AdultWritten);
        incomplete.case.collateral_intrusion = "  ".into();
        assert_eq!(incomplete.check_complete(), Err(AuthorisationError::Missing("the collateral intrusion")));
        assert_eq!(application(AuthorisationKind::Juvenile).check_complete(), Ok(()));
    }

    #[test]
    fn renewal_is_before_expiry_and_extends_from_the_old_expiry() {
        let adult = grant(&application(AuthorisationKind::AdultWritten), PARTIES, OFFICER, T0, 90 * DAY)
            .expect("granted");
        let early = adult.renew(T0.plus_millis(300 * DAY)).expect("renewed");
        assert_eq!(early.expires_at, add_months(adult.expires_at, 12));
        assert_eq!(adult.renew(adult.expires_at), Err(AuthorisationError::Lapsed));
        assert!(adult.is_live(T0) && !adult.is_live(adult.expires_at));
        assert_eq!(adult.next_review(None), T0.plus_millis(90 * DAY));
    }

    #[test]
    fn cancel_and_regrant_does_not_reset_the_clock() {
        let first = Deployment { from: T0, until: T0.plus_millis(100 * DAY) };
        let again = Deployment { from: T0.plus_millis(101 * DAY), until: T0.plus_millis(500 * DAY) };
        let now = T0.plus_millis(201 * DAY);
        assert_eq!(cumulative_deployment(&[first, again], now), 200 * DAY);
    }

    proptest! {
        /// Overlapping spans count once; the clock never exceeds the time elapsed since the
        /// first grant, never decreases as time passes, and adding a span never lowers it.
        #[test]
        fn the_cumulative_clock_is_monotone_and_bounded(
            spans in proptest::collection::vec((0i64..1_000, 0i64..400), 0..12),
            extra in (0i64..1_000, 0i64..400),
            now in 0i64..1_500,
        ) {
            let span = |(from, length): (i64, i64)| Deployment { from: T0.plus_millis(from * DAY), until: T0.plus_millis((from + length) * DAY) };
            let spans: Vec<Deployment> = spans.into_iter().map(span).collect();
            let now_at = T0.plus_millis(now * DAY);
            let clock = cumulative_deployment(&spans, now_at);
            prop_assert!(clock >= 0 && clock <= now * DAY);
            prop_assert!(cumulative_deployment(&spans, now_at.plus_millis(DAY)) >= clock);
            let mut more = spans.clone();
            more.push(span(extra));
            prop_assert!(cumulative_deployment(&more, now_at) >= clock);
        }
    }
}
