//! A source's track record: what became of the reports released under its pseudonymous
//! reference, as threat outcomes judged them. The grade a source carries should follow its
//! record; inspections of real programmes find grades never revisited, so a record that
//! contradicts the grade is flagged for the controller.

use serde::{Deserialize, Serialize};

use crate::grading::Reliability;

/// Whether a report proved accurate, judged when the outcome of a threat it supported was
/// recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accuracy {
    Accurate,
    Inaccurate,
    Unknown,
}

impl Accuracy {
    pub const ALL: [Accuracy; 3] = [Accuracy::Accurate, Accuracy::Inaccurate, Accuracy::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Accuracy::Accurate => "accurate",
            Accuracy::Inaccurate => "inaccurate",
            Accuracy::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Accuracy> {
        Accuracy::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One released report of a reference, with every judgement of its accuracy. A correction
/// names the version it supersedes: a report and its corrections count as one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedReport {
    pub id: i64,
    pub supersedes: Option<i64>,
    pub judgements: Vec<Accuracy>,
}

/// What became of a reference's released reports, each report (with its corrections) once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrackRecord {
    pub released: u32,
    /// Judged accurate, and never inaccurate.
    pub confirmed: u32,
    /// Judged inaccurate at least once.
    pub refuted: u32,
    /// Not yet judged, or judged only "unknown".
    pub pending: u32,
}

/// Fewer judged reports than this say nothing against a grade.
pub const JUDGED_TO_CONTRADICT: u32 = 3;

impl TrackRecord {
    pub fn of(reports: &[ReleasedReport]) -> TrackRecord {
        // Each report joins the line of the first version it corrects.
        let first_of = |mut id: i64| {
            let mut hops = 0;
            while let Some(earlier) = reports.iter().find(|r| r.id == id).and_then(|r| r.supersedes) {
                id = earlier;
                hops += 1;
                if hops > reports.len() {
                    break;
                }
            }
            id
        };
        let mut lines: Vec<(i64, Vec<Accuracy>)> = Vec::new();
        for report in reports {
            let first = first_of(report.id);
            match lines.iter_mut().find(|(id, _)| *id == first) {
                Some((_, judged)) => judged.extend(&report.judgements),
                None => lines.push((first, report.judgements.clone())),
            }
        }
        let mut record = TrackRecord::default();
        for (_, judged) in &lines {
            record.released += 1;
            if judged.contains(&Accuracy::Inaccurate) {
                record.refuted += 1;
            } else if judged.contains(&Accuracy::Accurate) {
                record.confirmed += 1;
            } else {
                record.pending += 1;
            }
        }
        record
    }

    pub fn judged(&self) -> u32 {
        self.confirmed + self.refuted
    }

    /// Whether the record speaks against `grade`: a source graded reliable (A, B) with half
    /// or more of its judged reports refuted; one graded unreliable (D, E) with three in four
    /// confirmed; or one whose reliability "cannot be judged" (F) once enough is judged.
    /// Fewer than [`JUDGED_TO_CONTRADICT`] judged reports contradict nothing.
    pub fn contradicts(&self, grade: Reliability) -> bool {
        let judged = self.judged();
        if judged < JUDGED_TO_CONTRADICT {
            return false;
        }
        match grade {
            Reliability::A | Reliability::B => self.refuted * 2 >= judged,
            Reliability::C => false,
            Reliability::D | Reliability::E => self.confirmed * 4 >= judged * 3,
            Reliability::F => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn report(id: i64, supersedes: Option<i64>, judgements: &[Accuracy]) -> ReleasedReport {
        ReleasedReport { id, supersedes, judgements: judgements.to_vec() }
    }

    #[test]
    fn a_report_and_its_corrections_count_once_and_any_refutation_refutes() {
        let reports = [
            report(1, None, &[Accuracy::Accurate]),
            report(2, Some(1), &[Accuracy::Inaccurate]),
            report(3, None, &[Accuracy::Accurate, Accuracy::Accurate]),
            report(4, None, &[Accuracy::Unknown]),
            report(5, None, &[]),
        ];
        assert_eq!(
            TrackRecord::of(&reports),
            TrackRecord { released: 4, confirmed: 1, refuted: 1, pending: 2 }
        );
    }

    #[test]
    fn the_record_contradicts_a_grade_only_once_enough_is_judged() {
        let record = |confirmed, refuted| TrackRecord { released: 9, confirmed, refuted, pending: 0 };
        assert!(!record(0, 2).contradicts(Reliability::A));
        assert!(record(1, 2).contradicts(Reliability::A));
        assert!(record(2, 2).contradicts(Reliability::B));
        assert!(!record(3, 2).contradicts(Reliability::B));
        assert!(record(3, 1).contradicts(Reliability::E));
        assert!(!record(2, 1).contradicts(Reliability::D));
        assert!(!record(0, 9).contradicts(Reliability::C));
        assert!(record(2, 1).contradicts(Reliability::F));
        assert!(!record(2, 0).contradicts(Reliability::F));
    }

    proptest! {
        /// Every line of reports lands in exactly one of confirmed, refuted and pending, and
        /// the lines are the reports that correct nothing (brute force: count the roots).
        #[test]
        fn every_report_line_is_counted_once(
            lines in proptest::collection::vec(
                (1usize..4, proptest::collection::vec(0usize..3, 0..4)), 0..12)
        ) {
            let mut reports = Vec::new();
            let mut id = 0;
            for (versions, judged) in &lines {
                let mut previous = None;
                for version in 0..*versions {
                    id += 1;
                    let judgements = if version == 0 {
                        judged.iter().map(|&j| Accuracy::ALL[j]).collect()
                    } else {
                        Vec::new()
                    };
                    reports.push(ReleasedReport { id, supersedes: previous, judgements });
                    previous = Some(id);
                }
            }
            let record = TrackRecord::of(&reports);
            let roots = reports.iter().filter(|r| r.supersedes.is_none()).count() as u32;
            prop_assert_eq!(record.released, roots);
            prop_assert_eq!(record.confirmed + record.refuted + record.pending, record.released);
            let refuted = lines.iter().filter(|(_, j)| j.contains(&1)).count() as u32;
            prop_assert_eq!(record.refuted, refuted);
        }
    }
}
