//! One engine for everything due or overdue about the sources of a unit: authorisations
//! expiring (30 and 7 days ahead) or expired, reviews due and overdue (a juvenile's monthly
//! review among them), stale risk assessments, payment thresholds near, the five-year mark
//! of cumulative use, contacts made without a live authorisation, a change in the source's
//! situation (a welfare check and a risk review follow), a track record that contradicts the
//! source's grade, and a long-standing source's yearly validation.

use serde::Serialize;
use tearline_domain::{SourceId, Timestamp};

use crate::authorisation::{cumulative_deployment, Deployment, Grant, FIVE_YEARS_MILLIS};
use crate::calendar::DAY;
use crate::ledger::Thresholds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DueKind {
    Expired,
    ExpiresWithin7Days,
    ExpiresWithin30Days,
    ReviewOverdue,
    ReviewDue,
    StaleRiskAssessment,
    ThresholdNear,
    FiveYearMark,
    UncontrolledContacts,
    /// A contact recorded a change in the source's situation after the last welfare record.
    WelfareCheckAfterChange,
    /// A contact recorded a change in the source's situation after the last risk assessment.
    RiskReviewAfterChange,
    /// What became of the source's reports speaks against the grade it carries.
    GradeContradicted,
    /// A source of a year or more has not had its grade validated in a year.
    ValidationDue,
    /// An application waits for an authorising officer's decision (due since it was made).
    ApplicationAwaitingDecision,
    /// A payment request waits for a controller's approval (due since it was requested).
    PaymentAwaitingApproval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueItem {
    pub source: SourceId,
    pub kind: DueKind,
    /// When it falls (or fell) due.
    pub at: Timestamp,
}

/// What the engine needs to know about one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFacts {
    pub source: SourceId,
    /// The current authorisation, if any (cancelled ones are not current).
    pub grant: Option<Grant>,
    pub last_review: Option<Timestamp>,
    /// Every span this person was ever deployed, for the cumulative clock.
    pub deployments: Vec<Deployment>,
    pub risk_assessed_at: Option<Timestamp>,
    /// The latest change of tasking: an assessment older than this is stale.
    pub tasking_changed_at: Option<Timestamp>,
    /// Payments approved in the last 365 days and ever, in minor units.
    pub paid_this_year: i64,
    pub paid_ever: i64,
    /// Contacts logged while no authorisation was live.
    pub uncontrolled_contacts: u32,
    /// The latest contact that recorded a change in the source's situation.
    pub situation_changed_at: Option<Timestamp>,
    pub last_welfare_at: Option<Timestamp>,
    /// Whether the source's track record contradicts its reliability grade.
    pub grade_contradicted: bool,
    pub recruited_at: Option<Timestamp>,
    pub last_validated_at: Option<Timestamp>,
    /// When the oldest application still waiting for a decision was made.
    pub application_waiting_since: Option<Timestamp>,
    /// When the oldest payment still waiting for approval was requested.
    pub payment_waiting_since: Option<Timestamp>,
}

impl SourceFacts {
    /// A source with nothing on record yet.
    pub fn new(source: SourceId) -> SourceFacts {
        SourceFacts {
            source,
            grant: None,
            last_review: None,
            deployments: Vec::new(),
            risk_assessed_at: None,
            tasking_changed_at: None,
            paid_this_year: 0,
            paid_ever: 0,
            uncontrolled_contacts: 0,
            situation_changed_at: None,
            last_welfare_at: None,
            grade_contradicted: false,
            recruited_at: None,
            last_validated_at: None,
            application_waiting_since: None,
            payment_waiting_since: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueRules {
    /// A risk assessment older than this is stale.
    pub risk_max_age_millis: i64,
    /// How far ahead a review shows as due.
    pub review_notice_millis: i64,
    /// The fraction (in percent) of a threshold at which it shows as near.
    pub threshold_notice_percent: i64,
    pub thresholds: Thresholds,
    /// How far ahead of the five-year mark it shows.
    pub five_year_notice_millis: i64,
    /// How often a source's grade is validated against its record, from its first year on.
    pub validation_every_millis: i64,
}

impl Default for DueRules {
    fn default() -> Self {
        DueRules {
            risk_max_age_millis: 180 * DAY,
            review_notice_millis: 7 * DAY,
            threshold_notice_percent: 90,
            thresholds: Thresholds { per_payment: 100_000, per_year: 500_000, cumulative: 2_000_000 },
            five_year_notice_millis: 90 * DAY,
            validation_every_millis: 365 * DAY,
        }
    }
}

/// Everything due or overdue for `sources` at `now`, most urgent first.
pub fn due_items(sources: &[SourceFacts], rules: &DueRules, now: Timestamp) -> Vec<DueItem> {
    let mut items = Vec::new();
    for facts in sources {
        let mut due = |kind, at| items.push(DueItem { source: facts.source, kind, at });
        if let Some(grant) = facts.grant {
            let left = grant.expires_at.0 - now.0;
            if left <= 0 {
                due(DueKind::Expired, grant.expires_at);
            } else if left <= 7 * DAY {
                due(DueKind::ExpiresWithin7Days, grant.expires_at);
            } else if left <= 30 * DAY {
                due(DueKind::ExpiresWithin30Days, grant.expires_at);
            }
            let review = grant.next_review(facts.last_review);
            if left > 0 && review <= now {
                due(DueKind::ReviewOverdue, review);
            } else if left > 0 && review.0 - now.0 <= rules.review_notice_millis {
                due(DueKind::ReviewDue, review);
            }
        }
        let stale_by_age = facts.risk_assessed_at.map(|at| at.plus_millis(rules.risk_max_age_millis));
        match (facts.risk_assessed_at, stale_by_age) {
            (None, _) if facts.grant.is_some() => due(DueKind::StaleRiskAssessment, now),
            (Some(assessed), Some(limit)) => {
                if limit <= now {
                    due(DueKind::StaleRiskAssessment, limit);
                } else if facts.tasking_changed_at.is_some_and(|changed| changed > assessed) {
                    due(DueKind::StaleRiskAssessment, facts.tasking_changed_at.unwrap_or(now));
                }
            }
            _ => {}
        }
        let near = |spent: i64, limit: i64| {
            spent.saturating_mul(100) >= limit.saturating_mul(rules.threshold_notice_percent)
        };
        if near(facts.paid_this_year, rules.thresholds.per_year)
            || near(facts.paid_ever, rules.thresholds.cumulative)
        {
            due(DueKind::ThresholdNear, now);
        }
        let used = cumulative_deployment(&facts.deployments, now);
        if facts.grant.is_some() && used + rules.five_year_notice_millis >= FIVE_YEARS_MILLIS {
            due(DueKind::FiveYearMark, now.plus_millis((FIVE_YEARS_MILLIS - used).max(0)));
        }
        if facts.uncontrolled_contacts > 0 {
            due(DueKind::UncontrolledContacts, now);
        }
        if let Some(changed) = facts.situation_changed_at {
            if facts.last_welfare_at.is_none_or(|at| at < changed) {
                due(DueKind::WelfareCheckAfterChange, changed);
            }
            if facts.risk_assessed_at.is_none_or(|at| at < changed) {
                due(DueKind::RiskReviewAfterChange, changed);
            }
        }
        if facts.grade_contradicted {
            due(DueKind::GradeContradicted, now);
        }
        if let Some(recruited) = facts.recruited_at {
            let since = facts.last_validated_at.map_or(recruited, |at| at.max(recruited));
            let next = since.plus_millis(rules.validation_every_millis);
            if next <= now {
                due(DueKind::ValidationDue, next);
            }
        }
        if let Some(applied) = facts.application_waiting_since {
            due(DueKind::ApplicationAwaitingDecision, applied);
        }
        if let Some(requested) = facts.payment_waiting_since {
            due(DueKind::PaymentAwaitingApproval, requested);
        }
    }
    items.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.at.cmp(&b.at)).then(a.source.cmp(&b.source)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorisation::AuthorisationKind;
    use crate::calendar::add_months;

    const T0: Timestamp = Timestamp(1_790_000_000_000);

    fn adult(starts_at: Timestamp, review_days: i64) -> Grant {
        Grant {
            kind: AuthorisationKind::AdultWritten,
            starts_at,
            expires_at: AuthorisationKind::AdultWritten.expiry(starts_at),
            review_every_millis: review_days * DAY,
        }
    }

    fn facts(grant: Option<Grant>) -> SourceFacts {
        SourceFacts { grant, risk_assessed_at: Some(T0), ..SourceFacts::new(SourceId(1)) }
    }

    fn kinds(items: &[DueItem]) -> Vec<DueKind> {
        items.iter().map(|i| i.kind).collect()
    }

    /// What is due for one source.
    fn due(source: &SourceFacts, rules: &DueRules, now: Timestamp) -> Vec<DueKind> {
        kinds(&due_items(std::slice::from_ref(source), rules, now))
    }

    #[test]
    fn expiry_shows_at_thirty_days_then_seven_then_as_expired() {
        let grant = adult(T0, 400);
        let rules = DueRules::default();
        let at = |days_before: i64| grant.expires_at.plus_millis(-days_before * DAY);
        let mut source = facts(Some(grant));
        source.risk_assessed_at = Some(at(10));
        assert!(due_items(std::slice::from_ref(&source), &rules, at(31)).is_empty());
        assert_eq!(due(&source, &rules, at(30)), vec![DueKind::ExpiresWithin30Days]);
        assert_eq!(due(&source, &rules, at(7)), vec![DueKind::ExpiresWithin7Days]);
        assert_eq!(due(&source, &rules, at(0)), vec![DueKind::Expired]);
    }

    #[test]
    fn a_juvenile_review_is_due_monthly_and_overdue_after() {
        let juvenile = Grant {
            kind: AuthorisationKind::Juvenile,
            starts_at: T0,
            expires_at: add_months(T0, 4),
            review_every_millis: 30 * DAY,
        };
        let rules = DueRules::default();
        let source = facts(Some(juvenile));
        assert_eq!(due(&source, &rules, T0.plus_millis(24 * DAY)), vec![DueKind::ReviewDue]);
        assert_eq!(due(&source, &rules, T0.plus_millis(31 * DAY)), vec![DueKind::ReviewOverdue]);
        let reviewed = SourceFacts { last_review: Some(T0.plus_millis(30 * DAY)), ..source };
        assert!(due_items(&[reviewed], &rules, T0.plus_millis(31 * DAY)).is_empty());
    }

    #[test]
    fn risk_assessments_go_stale_with_age_or_with_new_tasking() {
        let rules = DueRules::default();
        let source = facts(Some(adult(T0, 400)));
        let later = T0.plus_millis(181 * DAY);
        assert_eq!(due(&source, &rules, later), vec![DueKind::StaleRiskAssessment]);
        let retasked = SourceFacts { tasking_changed_at: Some(T0.plus_millis(DAY)), ..source.clone() };
        assert_eq!(due(&retasked, &rules, T0.plus_millis(2 * DAY)), vec![DueKind::StaleRiskAssessment]);
        let never = SourceFacts { risk_assessed_at: None, ..source };
        assert_eq!(due(&never, &rules, T0), vec![DueKind::StaleRiskAssessment]);
    }

    #[test]
    fn a_changed_situation_asks_for_a_welfare_check_and_a_risk_review_until_both_are_done() {
        let rules = DueRules::default();
        let changed = T0.plus_millis(DAY);
        let source = SourceFacts { situation_changed_at: Some(changed), ..facts(Some(adult(T0, 400))) };
        let now = T0.plus_millis(2 * DAY);
        assert_eq!(
            due(&source, &rules, now),
            vec![DueKind::WelfareCheckAfterChange, DueKind::RiskReviewAfterChange]
        );
        let checked = SourceFacts { last_welfare_at: Some(now), ..source.clone() };
        assert_eq!(due(&checked, &rules, now), vec![DueKind::RiskReviewAfterChange]);
        let reviewed = SourceFacts { risk_assessed_at: Some(now), ..checked };
        assert!(due(&reviewed, &rules, now).is_empty());
    }

    #[test]
    fn a_contradicted_grade_and_a_yearly_validation_fall_due() {
        let rules = DueRules::default();
        let source = SourceFacts { recruited_at: Some(T0), ..SourceFacts::new(SourceId(1)) };
        let year = T0.plus_millis(365 * DAY);
        assert!(due(&source, &rules, year.plus_millis(-1)).is_empty());
        assert_eq!(due(&source, &rules, year), vec![DueKind::ValidationDue]);
        let validated = SourceFacts { last_validated_at: Some(year), ..source };
        assert!(due(&validated, &rules, year.plus_millis(DAY)).is_empty());
        let contradicted = SourceFacts { grade_contradicted: true, ..validated };
        assert_eq!(due(&contradicted, &rules, year.plus_millis(DAY)), vec![DueKind::GradeContradicted]);
    }

    #[test]
    fn work_waiting_for_a_decision_is_due_from_when_it_was_asked() {
        let rules = DueRules::default();
        let waiting = SourceFacts {
            application_waiting_since: Some(T0),
            payment_waiting_since: Some(T0.plus_millis(DAY)),
            ..SourceFacts::new(SourceId(1))
        };
        let items = due_items(&[waiting], &rules, T0.plus_millis(2 * DAY));
        assert_eq!(
            kinds(&items),
            vec![DueKind::ApplicationAwaitingDecision, DueKind::PaymentAwaitingApproval]
        );
        assert_eq!(items.iter().map(|i| i.at).collect::<Vec<_>>(), vec![T0, T0.plus_millis(DAY)]);
    }

    #[test]
    fn thresholds_near_the_five_year_mark_and_uncontrolled_contacts_are_flagged() {
        let rules = DueRules::default();
        let mut source = facts(Some(adult(T0, 400)));
        source.paid_this_year = 460_000;
        source.uncontrolled_contacts = 2;
        source.deployments =
            vec![Deployment { from: Timestamp(T0.0 - 5 * 365 * DAY), until: T0.plus_millis(365 * DAY) }];
        let items = due_items(&[source], &rules, T0);
        assert_eq!(
            kinds(&items),
            vec![DueKind::ThresholdNear, DueKind::FiveYearMark, DueKind::UncontrolledContacts]
        );
    }
}
