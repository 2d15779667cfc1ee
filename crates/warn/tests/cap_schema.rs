//! Every alert shape Tearline can write validates against the official CAP 1.2 schema
//! (`spec/cap/CAP-v1.2.xsd`), checked by `xmllint`. The test fails, never skips, when
//! `xmllint` is missing (Debian package `libxml2-utils`; `scripts/test` installs it).

use std::path::PathBuf;
use std::process::Command;

use tearline_warn::cap::*;
use tearline_warn::geo::{Area, Circle, LatLon, Polygon};

fn schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/cap/CAP-v1.2.xsd")
}

fn info(language: &str, areas: Vec<CapArea>, full: bool) -> Info {
    let text = |s: &str| full.then(|| s.to_owned());
    Info {
        language: language.into(),
        categories: vec![Category::Security],
        event: "Security threat".into(),
        response_types: if full { vec![ResponseType::Evacuate, ResponseType::Avoid] } else { vec![] },
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Likely,
        audience: text("Everyone in the area"),
        event_codes: if full {
            vec![NamedValue { name: "code".into(), value: "sec".into() }]
        } else {
            vec![]
        },
        effective: full.then(|| CapTime::utc(1_790_000_000_000)),
        onset: full.then_some(CapTime { millis: 1_790_000_000_000, offset_minutes: 180 }),
        expires: Some(CapTime { millis: 1_790_003_600_000, offset_minutes: -480 }),
        sender_name: text("Tearline"),
        headline: text("Leave the market now"),
        description: text("A credible threat <with> & symbols \"quoted\""),
        instruction: text("Move east"),
        web: text("https://warnings.example.org/alerts/1"),
        contact: text("+441632960000"),
        parameters: if full { vec![NamedValue { name: "p".into(), value: "1".into() }] } else { vec![] },
        areas,
    }
}

fn area(polygons: usize, circles: usize, extras: bool) -> CapArea {
    let polygon = Polygon::parse_cap("-15,177 -15,-178 -20,-178 -20,177 -15,177").expect("valid");
    let circle = Circle::new(LatLon { lat: 33.5, lon: 36.3 }, 1.5).expect("valid");
    CapArea {
        area: Area {
            description: "Area".into(),
            polygons: vec![polygon; polygons],
            circles: vec![circle; circles],
        },
        geocodes: if extras {
            vec![NamedValue { name: "district".into(), value: "7".into() }]
        } else {
            vec![]
        },
        altitude: extras.then_some(100.0),
        ceiling: extras.then_some(2500.5),
    }
}

/// The cross product of the parts that change an alert's shape.
fn every_shape() -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut n = 0;
    for msg_type in [MsgType::Alert, MsgType::Update, MsgType::Cancel] {
        for status in Status::ALL.iter().copied() {
            for scope in Scope::ALL.iter().copied() {
                for infos in 0..4 {
                    n += 1;
                    let infos = match infos {
                        0 if msg_type == MsgType::Cancel => vec![],
                        0 => vec![info("en-GB", vec![area(1, 0, false)], false)],
                        1 => vec![
                            info("en-GB", vec![area(0, 1, false)], true),
                            info("ar", vec![area(2, 2, true)], true),
                        ],
                        2 => vec![info("fr-CA", vec![area(1, 1, true), area(0, 3, false)], true)],
                        _ => vec![info("en", vec![], false)],
                    };
                    let references = match msg_type {
                        MsgType::Alert => vec![],
                        _ => vec![
                            Reference {
                                sender: "warnings@tearline.example".into(),
                                identifier: format!("prev-{n}"),
                                sent: CapTime::utc(1_789_000_000_000),
                            },
                            Reference {
                                sender: "warnings@tearline.example".into(),
                                identifier: format!("prev2-{n}"),
                                sent: CapTime { millis: 1_789_100_000_000, offset_minutes: 60 },
                            },
                        ],
                    };
                    alerts.push(Alert {
                        identifier: format!("tearline-{n}"),
                        sender: "warnings@tearline.example".into(),
                        sent: CapTime::utc(1_790_000_000_000),
                        status,
                        msg_type,
                        source: (n % 2 == 0).then(|| "Tearline".into()),
                        scope,
                        restriction: (scope == Scope::Restricted).then(|| "Emergency services only".into()),
                        addresses: (scope == Scope::Private).then(|| "partner-a partner-b".into()),
                        codes: if n % 3 == 0 { vec!["A".into(), "B".into()] } else { vec![] },
                        note: (n % 2 == 1).then(|| "note".into()),
                        references,
                        incidents: (n % 4 == 0).then(|| "incident-1".into()),
                        infos,
                    });
                }
            }
        }
    }
    alerts
}

#[test]
fn every_alert_shape_validates_against_the_cap_1_2_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let alerts = every_shape();
    let mut paths = Vec::new();
    for alert in &alerts {
        alert.validate().expect("shape is valid CAP");
        let xml = alert.to_xml();
        assert_eq!(Alert::from_xml(&xml).as_ref(), Ok(alert), "reads back");
        let path = dir.path().join(format!("{}.xml", alert.identifier));
        std::fs::write(&path, xml).expect("write alert");
        paths.push(path);
    }
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .args(&paths)
        .output()
        .expect("xmllint must be installed (Debian package libxml2-utils); scripts/test installs it");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "xmllint rejected alerts:\n{report}");
    assert_eq!(report.matches(" validates").count(), alerts.len(), "{report}");
}

#[test]
fn the_schema_check_itself_catches_a_broken_alert() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = every_shape()[0].to_xml().replace("<status>", "<status>Real").replace("Real", "");
    let broken = broken.replacen("<scope>", "<colour>red</colour><scope>", 1);
    let path = dir.path().join("broken.xml");
    std::fs::write(&path, broken).expect("write");
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(&path)
        .output()
        .expect("xmllint");
    assert!(!output.status.success());
}
