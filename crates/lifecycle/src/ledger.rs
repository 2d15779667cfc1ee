//! The payments ledger: double-entry, append-only, integer minor units with a currency.
//!
//! Every entry's lines sum to zero in each currency, so the books balance by construction; a
//! correction is a reversing entry, never an edit. Approving a payment moves money from the
//! source's expense to what is owed to the source; paying it moves it from owed to cash.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use tearline_domain::{SourceId, Timestamp};

use crate::calendar::DAY;

/// An ISO 4217 currency Tearline knows, with its number of minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

/// The currencies accepted; an unknown code is refused rather than guessed.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("IQD", 3),
    ("JOD", 3),
    ("JPY", 0),
    ("KWD", 3),
    ("LBP", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SYP", 2),
    ("TRY", 2),
    ("USD", 2),
    ("YER", 2),
];

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, LedgerError> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .and_then(|(known, digits)| {
                let bytes: [u8; 3] = known.as_bytes().try_into().ok()?;
                Some(Currency { code: bytes, minor_digits: *digits })
            })
            .ok_or_else(|| LedgerError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Reads an amount written in major units ("12.50"), exactly: no negatives, no more
    /// decimals than the currency has.
    pub fn amount(self, text: &str) -> Result<Money, LedgerError> {
        let invalid =
            || LedgerError::InvalidAmount(text.to_owned(), self.code().to_owned(), self.minor_digits);
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty()
            || !digits_only(whole)
            || !digits_only(fraction)
            || fraction.len() > usize::from(self.minor_digits)
        {
            return Err(invalid());
        }
        let scale = 10i64.pow(u32::from(self.minor_digits));
        let padded = format!("{fraction:0<width$}", width = usize::from(self.minor_digits));
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| invalid())? };
        let minor = whole.checked_mul(scale).and_then(|w| w.checked_add(fraction)).ok_or_else(invalid)?;
        Ok(Money { minor, currency: self })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = u32::from(self.currency.minor_digits);
        let scale = 10i64.pow(digits);
        let sign = if self.minor < 0 { "-" } else { "" };
        let (whole, fraction) = (
            self.minor.unsigned_abs() / scale.unsigned_abs(),
            self.minor.unsigned_abs() % scale.unsigned_abs(),
        );
        if digits == 0 {
            write!(f, "{sign}{whole} {}", self.currency)
        } else {
            write!(f, "{sign}{whole}.{fraction:0width$} {}", self.currency, width = digits as usize)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "source")]
pub enum Account {
    /// What was spent on a source (debit balance).
    SourceExpense(SourceId),
    /// What is owed to a source: approved, not yet handed over (credit balance).
    OwedToSource(SourceId),
    /// The unit's cash (credit as it is paid out).
    Cash,
}

impl Account {
    /// The account's kind as stored, and the source it belongs to.
    pub fn parts(self) -> (&'static str, Option<SourceId>) {
        match self {
            Account::SourceExpense(source) => ("source-expense", Some(source)),
            Account::OwedToSource(source) => ("owed-to-source", Some(source)),
            Account::Cash => ("cash", None),
        }
    }

    pub fn from_parts(kind: &str, source: Option<SourceId>) -> Option<Account> {
        match (kind, source) {
            ("source-expense", Some(source)) => Some(Account::SourceExpense(source)),
            ("owed-to-source", Some(source)) => Some(Account::OwedToSource(source)),
            ("cash", None) => Some(Account::Cash),
            _ => None,
        }
    }

    /// Whether the account is one of `source`'s.
    pub fn belongs_to(self, source: SourceId) -> bool {
        self.parts().1 == Some(source)
    }
}

/// One side of an entry: positive debits, negative credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub account: Account,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub at: Timestamp,
    pub memo: String,
    pub lines: Vec<Line>,
    /// The entry this one reverses.
    pub reverses: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("{0:?} is not a currency Tearline knows (ISO 4217 code such as GBP, EUR, USD)")]
    UnknownCurrency(String),
    #[error("{0:?} is not an amount of {1}: use digits and at most {2} decimals, not negative")]
    InvalidAmount(String, String, u8),
    #[error("an amount must be more than zero")]
    Zero,
    #[error("an entry needs at least two lines")]
    TooFewLines,
    #[error("an entry's lines must sum to zero in each currency; {0} is off by {1} minor units")]
    Unbalanced(String, i64),
    #[error("no entry {0}")]
    NoSuchEntry(u64),
    #[error("entry {0} was already reversed")]
    AlreadyReversed(u64),
    #[error("a reversal cannot itself be reversed; post a new entry instead")]
    ReversingAReversal,
    #[error("the amount is too large")]
    Overflow,
    #[error("the stored ledger is inconsistent: {0}")]
    Corrupt(String),
}

/// The ledger: entries only ever appended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<Entry>,
}

impl Ledger {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The ledger as stored, checked: ids are positions, every entry balances, and a
    /// reversal mirrors the entry it reverses.
    pub fn from_entries(entries: Vec<Entry>) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::default();
        for entry in entries {
            if entry.id != ledger.entries.len() as u64 + 1 {
                return Err(LedgerError::Corrupt(format!("entry {} is out of sequence", entry.id)));
            }
            check_balanced(&entry.lines)
                .map_err(|e| LedgerError::Corrupt(format!("entry {}: {e}", entry.id)))?;
            if let Some(original) = entry.reverses {
                let mirrored = ledger.entries.get(original.wrapping_sub(1) as usize).is_some_and(|o| {
                    o.reverses.is_none()
                        && o.lines.len() == entry.lines.len()
                        && o.lines.iter().zip(&entry.lines).all(|(a, b)| {
                            a.account == b.account
                                && a.amount.currency == b.amount.currency
                                && a.amount.minor.checked_add(b.amount.minor) == Some(0)
                        })
                });
                if !mirrored {
                    return Err(LedgerError::Corrupt(format!(
                        "entry {} does not mirror entry {original}",
                        entry.id
                    )));
                }
            }
            ledger.entries.push(entry);
        }
        Ok(ledger)
    }

    /// The entries after the first `count`: what an operation appended.
    pub fn appended_since(&self, count: usize) -> &[Entry] {
        self.entries.get(count..).unwrap_or(&[])
    }

    /// Posts a balanced entry; returns its id.
    pub fn post(&mut self, at: Timestamp, memo: &str, lines: Vec<Line>) -> Result<u64, LedgerError> {
        check_balanced(&lines)?;
        Ok(self.append(at, memo, lines, None))
    }

    /// A source's payment approved: the expense is recognised and owed to the source.
    pub fn approve_payment(
        &mut self,
        at: Timestamp,
        source: SourceId,
        amount: Money,
    ) -> Result<u64, LedgerError> {
        positive(amount)?;
        self.post(
            at,
            "payment approved",
            vec![
                Line { account: Account::SourceExpense(source), amount },
                Line { account: Account::OwedToSource(source), amount: negate(amount)? },
            ],
        )
    }

    /// An approved payment handed over (witnessed, receipted): owed settled from cash.
    pub fn pay(&mut self, at: Timestamp, source: SourceId, amount: Money) -> Result<u64, LedgerError> {
        positive(amount)?;
        self.post(
            at,
            "payment made",
            vec![
                Line { account: Account::OwedToSource(source), amount },
                Line { account: Account::Cash, amount: negate(amount)? },
            ],
        )
    }

    /// Corrects an entry by posting its exact opposite.
    pub fn reverse(&mut self, at: Timestamp, id: u64, memo: &str) -> Result<u64, LedgerError> {
        let original = self.entries.iter().find(|e| e.id == id).ok_or(LedgerError::NoSuchEntry(id))?;
        if original.reverses.is_some() {
            return Err(LedgerError::ReversingAReversal);
        }
        if self.entries.iter().any(|e| e.reverses == Some(id)) {
            return Err(LedgerError::AlreadyReversed(id));
        }
        let lines = original
            .lines
            .iter()
            .map(|line| Ok(Line { account: line.account, amount: negate(line.amount)? }))
            .collect::<Result<Vec<_>, LedgerError>>()?;
        Ok(self.append(at, memo, lines, Some(id)))
    }

    fn append(&mut self, at: Timestamp, memo: &str, lines: Vec<Line>, reverses: Option<u64>) -> u64 {
        let id = self.entries.len() as u64 + 1;
        self.entries.push(Entry { id, at, memo: memo.to_owned(), lines, reverses });
        id
    }

    /// An account's balance per currency (debits positive).
    pub fn balance(&self, account: Account) -> BTreeMap<Currency, i64> {
        let mut balances = BTreeMap::new();
        for line in self.entries.iter().flat_map(|e| &e.lines).filter(|l| l.account == account) {
            *balances.entry(line.amount.currency).or_insert(0) += line.amount.minor;
        }
        balances
    }

    /// Every account's balance summed, per currency: zero, always.
    pub fn trial_balance(&self) -> BTreeMap<Currency, i128> {
        let mut sums = BTreeMap::new();
        for line in self.entries.iter().flat_map(|e| &e.lines) {
            *sums.entry(line.amount.currency).or_insert(0i128) += i128::from(line.amount.minor);
        }
        sums
    }
}

fn positive(amount: Money) -> Result<(), LedgerError> {
    if amount.minor > 0 {
        Ok(())
    } else {
        Err(LedgerError::Zero)
    }
}

fn negate(amount: Money) -> Result<Money, LedgerError> {
    Ok(Money { minor: amount.minor.checked_neg().ok_or(LedgerError::Overflow)?, currency: amount.currency })
}

fn check_balanced(lines: &[Line]) -> Result<(), LedgerError> {
    if lines.len() < 2 {
        return Err(LedgerError::TooFewLines);
    }
    if lines.iter().any(|l| l.amount.minor == 0) {
        return Err(LedgerError::Zero);
    }
    let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
    for line in lines {
        *sums.entry(line.amount.currency).or_insert(0) += i128::from(line.amount.minor);
    }
    match sums.into_iter().find(|(_, sum)| *sum != 0) {
        Some((currency, off)) => {
            Err(LedgerError::Unbalanced(currency.code().to_owned(), i64::try_from(off).unwrap_or(i64::MAX)))
        }
        None => Ok(()),
    }
}

/// The limits above which a payment needs a higher approval level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub per_payment: i64,
    /// Over the 365 days before the new payment, and any approval stamped after it.
    pub per_year: i64,
    /// Everything ever paid to the source.
    pub cumulative: i64,
}

/// Which thresholds a new payment to `source` would cross, given the payments already
/// approved (`(when, minor units)` in the same currency).
pub fn thresholds_crossed(
    earlier: &[(Timestamp, i64)],
    new: (Timestamp, i64),
    limits: Thresholds,
) -> Vec<&'static str> {
    let year_ago = new.0.plus_millis(-365 * DAY);
    // An approval stamped after `new` still counts: another server's clock may run a little
    // ahead, or it committed while this approval waited for the ledger's lock.
    let in_year: i64 = earlier.iter().filter(|(at, _)| *at > year_ago).map(|(_, m)| m).sum();
    let ever: i64 = earlier.iter().map(|(_, m)| m).sum();
    let mut crossed = Vec::new();
    if new.1 > limits.per_payment {
        crossed.push("per payment");
    }
    if in_year.saturating_add(new.1) > limits.per_year {
        crossed.push("per year");
    }
    if ever.saturating_add(new.1) > limits.cumulative {
        crossed.push("cumulative");
    }
    crossed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: Timestamp = Timestamp(1_790_000_000_000);

    fn gbp() -> Currency {
        Currency::parse("GBP").expect("known")
    }

    #[test]
    fn amounts_are_read_exactly_and_bad_ones_named() {
        assert_eq!(gbp().amount("12.5").map(|m| m.minor), Ok(1250));
        assert_eq!(gbp().amount("0.07").map(|m| m.minor), Ok(7));
        assert_eq!(Currency::parse("JPY").and_then(|c| c.amount("500")).map(|m| m.minor), Ok(500));
        for bad in ["-5", "1.234", "1,00", "", "abc", "1e3", "99999999999999999999"] {
            assert!(matches!(gbp().amount(bad), Err(LedgerError::InvalidAmount(..))), "{bad}");
        }
        assert_eq!(Currency::parse("XXX"), Err(LedgerError::UnknownCurrency("XXX".into())));
        assert_eq!(gbp().amount("1250.05").map(|m| m.to_string()), Ok("1250.05 GBP".into()));
    }

    #[test]
    fn a_payment_is_approved_then_paid_and_a_correction_is_a_reversal() {
        let mut ledger = Ledger::default();
        let source = SourceId(7);
        let amount = gbp().amount("200").expect("valid");
        let approval = ledger.approve_payment(T0, source, amount).expect("posted");
        assert_eq!(ledger.balance(Account::OwedToSource(source))[&gbp()], -20_000);
        ledger.pay(T0, source, amount).expect("posted");
        assert_eq!(ledger.balance(Account::OwedToSource(source))[&gbp()], 0);
        assert_eq!(ledger.balance(Account::Cash)[&gbp()], -20_000);
        let reversal = ledger.reverse(T0, approval, "approved twice in error").expect("reversed");
        assert_eq!(ledger.entries()[0].lines[0].amount.minor, 20_000, "the original is untouched");
        assert_eq!(ledger.reverse(T0, approval, "again"), Err(LedgerError::AlreadyReversed(approval)));
        assert_eq!(ledger.reverse(T0, reversal, "undo"), Err(LedgerError::ReversingAReversal));
        assert_eq!(
            ledger.approve_payment(T0, source, Money { minor: 0, currency: gbp() }),
            Err(LedgerError::Zero)
        );
    }

    #[test]
    fn a_stored_ledger_is_checked_when_loaded() {
        let mut ledger = Ledger::default();
        let amount = gbp().amount("5").expect("valid");
        let first = ledger.approve_payment(T0, SourceId(1), amount).expect("posted");
        ledger.reverse(T0, first, "error").expect("reversed");
        assert_eq!(Ledger::from_entries(ledger.entries().to_vec()).as_ref(), Ok(&ledger));
        let mut tampered = ledger.entries().to_vec();
        tampered[1].lines[0].amount.minor += 1;
        tampered[1].lines[1].amount.minor -= 1;
        assert!(matches!(Ledger::from_entries(tampered), Err(LedgerError::Corrupt(_))));
        let mut gap = ledger.entries().to_vec();
        gap.remove(0);
        assert!(matches!(Ledger::from_entries(gap), Err(LedgerError::Corrupt(_))));
    }

    #[test]
    fn unbalanced_entries_are_refused() {
        let mut ledger = Ledger::default();
        let line = |account, minor| Line { account, amount: Money { minor, currency: gbp() } };
        let refused = ledger.post(
            T0,
            "bad",
            vec![line(Account::Cash, 100), line(Account::SourceExpense(SourceId(1)), -90)],
        );
        assert_eq!(refused, Err(LedgerError::Unbalanced("GBP".into(), 10)));
        assert!(ledger.entries().is_empty());
    }

    #[test]
    fn thresholds_count_the_year_and_the_whole_history() {
        let limits = Thresholds { per_payment: 50_000, per_year: 100_000, cumulative: 150_000 };
        let earlier = [(T0, 60_000), (T0.plus_millis(200 * DAY), 30_000)];
        assert_eq!(
            thresholds_crossed(&earlier, (T0.plus_millis(300 * DAY), 20_000), limits),
            vec!["per year"]
        );
        assert!(thresholds_crossed(&earlier, (T0.plus_millis(400 * DAY), 20_000), limits).is_empty());
        assert_eq!(
            thresholds_crossed(&earlier, (T0.plus_millis(900 * DAY), 70_000), limits),
            vec!["per payment", "cumulative"]
        );
        // Approved a moment "later" by a server whose clock runs ahead: still this year's.
        let racing = [(T0.plus_millis(1_000), 90_000)];
        assert_eq!(thresholds_crossed(&racing, (T0, 20_000), limits), vec!["per year"]);
    }

    #[derive(Debug, Clone)]
    enum Operation {
        Approve(i64, i64),
        Pay(i64, i64),
        Reverse(u64),
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            (0i64..4, -10i64..1_000_000).prop_map(|(s, m)| Operation::Approve(s, m)),
            (0i64..4, -10i64..1_000_000).prop_map(|(s, m)| Operation::Pay(s, m)),
            (0u64..30).prop_map(Operation::Reverse),
        ]
    }

    proptest! {
        /// Whatever happens, in whatever order, valid or not: the books balance, entries
        /// are only ever appended, and a reversed entry's net effect is zero.
        #[test]
        fn the_ledger_always_balances(operations in proptest::collection::vec(operation(), 0..60)) {
            let mut ledger = Ledger::default();
            for op in operations {
                let before = ledger.entries().to_vec();
                let money = |minor| Money { minor, currency: gbp() };
                let _ = match op {
                    Operation::Approve(s, m) => ledger.approve_payment(T0, SourceId(s), money(m)),
                    Operation::Pay(s, m) => ledger.pay(T0, SourceId(s), money(m)),
                    Operation::Reverse(id) => ledger.reverse(T0, id, "correction"),
                };
                prop_assert_eq!(&ledger.entries()[..before.len()], &before[..], "history is never edited");
                prop_assert!(ledger.entries().len() <= before.len() + 1);
                prop_assert!(ledger.trial_balance().values().all(|sum| *sum == 0));
            }
            for entry in ledger.entries().iter().filter(|e| e.reverses.is_some()) {
                let original = &ledger.entries()[entry.reverses.unwrap_or(0) as usize - 1];
                for (a, b) in original.lines.iter().zip(&entry.lines) {
                    prop_assert_eq!(a.account, b.account);
                    prop_assert_eq!(a.amount.minor + b.amount.minor, 0);
                }
            }
        }
    }
}
