//! The public Atom feed of current alerts, the form CAP aggregators poll.
//!
//! Which alerts are current follows aggregator practice: each warning appears once, as its
//! latest issued version; an expired alert leaves the feed; a Cancel stays listed until the
//! alert it cancels would have expired (at least a day), so pollers see the retraction.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::cap::{CapTime, MsgType};

/// How long a Cancel stays in the feed when the cancelled alert had no expiry.
pub const CANCEL_VISIBLE_MILLIS: i64 = 24 * 3600 * 1000;

/// The latest issued version of one warning, as the feed needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedAlert {
    pub identifier: String,
    pub sender: String,
    pub headline: String,
    pub summary: String,
    pub sent: CapTime,
    pub msg_type: MsgType,
    /// When this version expires (for a Cancel: when the alert it cancels would have).
    pub expires: Option<CapTime>,
}

impl FeedAlert {
    pub fn is_current(&self, now_millis: i64) -> bool {
        match (self.msg_type, self.expires) {
            (MsgType::Cancel, expires) => {
                let shown_until =
                    expires.map_or(i64::MIN, |e| e.millis).max(self.sent.millis + CANCEL_VISIBLE_MILLIS);
                now_millis < shown_until
            }
            (_, Some(expires)) => now_millis < expires.millis,
            (_, None) => true,
        }
    }
}

/// Writes the feed. `base_url` is the public origin (`https://warnings.example.org`), with
/// no trailing slash; entries link to `{base_url}/cap/alerts/{identifier}.xml`.
pub fn write_feed(base_url: &str, title: &str, alerts: &[FeedAlert], now_millis: i64) -> String {
    let mut current: Vec<&FeedAlert> = alerts.iter().filter(|alert| alert.is_current(now_millis)).collect();
    current.sort_by(|a, b| b.sent.cmp(&a.sent).then_with(|| a.identifier.cmp(&b.identifier)));
    let updated = current.first().map_or(CapTime::utc(now_millis), |latest| latest.sent);

    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    let mut emit = |event: Event<'_>| {
        // Writing into a Vec cannot fail.
        let _ = writer.write_event(event);
    };
    let self_url = format!("{base_url}/cap/feed.atom");
    emit(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    emit(Event::Start(BytesStart::new("feed").with_attributes([("xmlns", ATOM)])));
    leaf(&mut emit, "id", &self_url);
    leaf(&mut emit, "title", title);
    leaf(&mut emit, "updated", &updated.to_string());
    emit(Event::Empty(
        BytesStart::new("link").with_attributes([("rel", "self"), ("href", self_url.as_str())]),
    ));
    emit(Event::Start(BytesStart::new("author")));
    leaf(&mut emit, "name", title);
    emit(Event::End(BytesEnd::new("author")));
    for alert in current {
        let href = format!("{base_url}/cap/alerts/{}.xml", alert.identifier);
        emit(Event::Start(BytesStart::new("entry")));
        leaf(&mut emit, "id", &format!("urn:cap:{},{}", alert.sender, alert.identifier));
        let title = match alert.msg_type {
            MsgType::Cancel => format!("Cancelled: {}", alert.headline),
            _ => alert.headline.clone(),
        };
        leaf(&mut emit, "title", &title);
        leaf(&mut emit, "updated", &alert.sent.to_string());
        emit(Event::Empty(BytesStart::new("link").with_attributes([
            ("rel", "alternate"),
            ("type", "application/cap+xml"),
            ("href", href.as_str()),
        ])));
        leaf(&mut emit, "summary", &alert.summary);
        emit(Event::End(BytesEnd::new("entry")));
    }
    emit(Event::End(BytesEnd::new("feed")));
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).unwrap_or_default()
}

/// The longest a failing partner feed waits between polls.
pub const MAX_FEED_BACKOFF_MILLIS: i64 = 6 * 3600 * 1000;

/// When a partner's feed is next due, `interval_millis` being the regular poll interval:
/// after a clean poll (`failures == 0`), one interval on; after `failures` failed polls in a
/// row, the interval doubled for each (a feed that is down is not hammered, and its partner
/// sees the traffic ease off), at most 64 intervals and never more than six hours.
pub fn next_feed_poll(now_millis: i64, interval_millis: i64, failures: u32) -> i64 {
    let factor = 1_i64 << failures.min(6);
    let wait = interval_millis.max(0).saturating_mul(factor);
    let wait = if failures == 0 { wait } else { wait.min(MAX_FEED_BACKOFF_MILLIS).max(interval_millis) };
    now_millis.saturating_add(wait)
}

/// The CAP documents an Atom feed links to: each entry's `link` with type
/// `application/cap+xml`, or else its first link ending in `.xml`.
pub fn cap_links(feed: &str) -> Result<Vec<String>, String> {
    crate::bounded::check(feed, crate::bounded::PARTNER_DOCUMENT)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, ..Default::default() };
    let document = roxmltree::Document::parse_with_options(feed, options)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "feed" || root.tag_name().namespace() != Some(ATOM) {
        return Err("the root element is not an Atom <feed>".into());
    }
    let links = root
        .children()
        .filter(|entry| entry.has_tag_name((ATOM, "entry")))
        .filter_map(|entry| {
            let hrefs: Vec<(Option<&str>, &str)> = entry
                .children()
                .filter(|link| link.has_tag_name((ATOM, "link")))
                .filter_map(|link| link.attribute("href").map(|href| (link.attribute("type"), href)))
                .collect();
            hrefs
                .iter()
                .find(|(kind, _)| *kind == Some("application/cap+xml"))
                .or_else(|| hrefs.iter().find(|(_, href)| href.ends_with(".xml")))
                .map(|(_, href)| (*href).to_owned())
        })
        .collect();
    Ok(links)
}

const ATOM: &str = "http://www.w3.org/2005/Atom";

fn leaf(emit: &mut impl FnMut(Event<'_>), name: &str, text: &str) {
    emit(Event::Start(BytesStart::new(name)));
    emit(Event::Text(BytesText::new(text)));
    emit(Event::End(BytesEnd::new(name)));
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_failing_feed_backs_off_doubling_up_to_a_cap() {
        let minute = 60_000;
        assert_eq!(next_feed_poll(0, minute, 0), minute, "a clean poll waits one interval");
        assert_eq!(next_feed_poll(0, minute, 1), 2 * minute);
        assert_eq!(next_feed_poll(0, minute, 3), 8 * minute);
        assert_eq!(next_feed_poll(0, minute, 6), 64 * minute);
        assert_eq!(next_feed_poll(0, minute, 40), 64 * minute, "at most 64 intervals");
        let hour = 60 * minute;
        assert_eq!(next_feed_poll(0, hour, 5), MAX_FEED_BACKOFF_MILLIS, "never more than six hours");
        assert_eq!(next_feed_poll(0, 7 * hour, 2), 7 * hour, "never less than one interval");
        assert_eq!(next_feed_poll(i64::MAX - 5, hour, 2), i64::MAX);
    }

    proptest::proptest! {
        /// More failures never make a feed due sooner, and it is always due within the cap.
        #[test]
        fn backing_off_is_monotone_and_bounded(now in 0i64..1 << 50, interval in 1i64..1 << 30, failures in 0u32..80) {
            let this = next_feed_poll(now, interval, failures);
            let next = next_feed_poll(now, interval, failures + 1);
            proptest::prop_assert!(next >= this);
            proptest::prop_assert!(this > now);
            proptest::prop_assert!(this - now <= MAX_FEED_BACKOFF_MILLIS.max(interval));
        }
    }

    use super::*;

    const HOUR: i64 = 3600 * 1000;

    fn alert(identifier: &str, msg_type: MsgType, sent: i64, expires: Option<i64>) -> FeedAlert {
        FeedAlert {
            identifier: identifier.into(),
            sender: "warnings@tearline.example".into(),
            headline: format!("Headline {identifier} & more"),
            summary: "Leave the area".into(),
            sent: CapTime::utc(sent),
            msg_type,
            expires: expires.map(CapTime::utc),
        }
    }

    proptest::proptest! {
        /// A partner's feed of any shape is read or refused, never a panic.
        #[test]
        fn reading_feeds_never_panics(text in "\\PC{0,300}") {
            let _ = cap_links(&text);
            let _ = cap_links(&format!("<feed xmlns=\"http://www.w3.org/2005/Atom\">{text}</feed>"));
        }
    }

    #[test]
    fn expired_alerts_leave_and_cancels_linger_until_the_alert_would_have_expired() {
        let now = 100 * HOUR;
        let alerts = [
            alert("live", MsgType::Alert, now - HOUR, Some(now + HOUR)),
            alert("expired", MsgType::Update, now - 3 * HOUR, Some(now - HOUR)),
            alert("recent-cancel", MsgType::Cancel, now - 2 * HOUR, None),
            alert("old-cancel", MsgType::Cancel, now - 30 * HOUR, Some(now - 20 * HOUR)),
            alert("long-cancel", MsgType::Cancel, now - 30 * HOUR, Some(now + HOUR)),
        ];
        let feed = write_feed("https://w.example", "Tearline warnings", &alerts, now);
        for shown in ["live", "recent-cancel", "long-cancel"] {
            assert!(
                feed.contains(&format!("https://w.example/cap/alerts/{shown}.xml")),
                "{shown} missing:\n{feed}"
            );
        }
        for hidden in ["expired", "old-cancel"] {
            assert!(!feed.contains(&format!("/{hidden}.xml")), "{hidden} shown:\n{feed}");
        }
        assert!(feed.contains("<title>Cancelled: Headline recent-cancel &amp; more</title>"));
        assert!(feed.contains("type=\"application/cap+xml\""));
        let links = cap_links(&feed).expect("our own feed reads back");
        assert_eq!(links.len(), 3);
        assert!(links.contains(&"https://w.example/cap/alerts/live.xml".to_owned()));
        assert!(cap_links("<rss/>").is_err());
        assert!(cap_links("<feed").is_err());
    }
}
