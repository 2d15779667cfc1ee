//! Every shape of bundle Tearline exports passes the official OASIS `stix2-validator`
//! (PyPI), run in strict mode. `scripts/test` installs it into `target/stix-venv`; without
//! it this test fails rather than skips.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use tearline_intel::grading::{Admiralty, Credibility, HandlingCode, Reliability, Tlp};
use tearline_intel::stix::{export, import, Place, Producer, ReleasedReport};

fn validator() -> PathBuf {
    if let Ok(path) = std::env::var("TEARLINE_STIX2_VALIDATOR") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/stix-venv/bin/stix2_validator");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("stix2_validator")
}

#[test]
fn every_exported_shape_passes_the_official_validator() {
    let producer = Producer { name: "Harbour District Unit".into(), namespace: uuid_namespace() };
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut files = Vec::new();
    let mut n = 0;
    for tlp in [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict] {
        for handling in [HandlingCode::P, HandlingCode::C("police and partner agencies only".into())] {
            for credibility in Credibility::ALL {
                for (places, organisations) in [(0, 0), (1, 0), (2, 2)] {
                    n += 1;
                    let report = ReleasedReport {
                        id: n,
                        version: 1,
                        title: format!("Report {n}"),
                        text: "Crates moved from the quay to a van after midnight.".into(),
                        grading: Admiralty { reliability: Reliability::ALL[n as usize % 6], credibility },
                        handling: handling.clone(),
                        tlp,
                        released_at: 1_795_000_000_000 + n,
                        places: (0..places)
                            .map(|i| Place {
                                name: format!("Place {i}"),
                                latitude: 52.9 + f64::from(i) / 100.0,
                                longitude: -1.2,
                            })
                            .collect(),
                        organisations: (0..organisations).map(|i| format!("Organisation {i}")).collect(),
                    };
                    let bundle = export(&report, &producer).expect("exportable");
                    let path = dir.path().join(format!("{n}.json"));
                    std::fs::write(&path, serde_json::to_vec_pretty(&bundle).expect("json")).expect("write");
                    files.push(path);
                }
            }
        }
    }
    let output =
        Command::new(validator()).arg("--strict").args(&files).output().expect(
            "stix2-validator must be installed (pip install stix2-validator); scripts/test installs it",
        );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report.matches("STIX JSON: Valid").count(), files.len(), "{report}");
}

/// Runs the official validator on each bundle; answers, per bundle, whether it is valid.
fn officially_valid(bundles: &[Value], strict: bool) -> Vec<bool> {
    let dir = tempfile::tempdir().expect("temporary directory");
    bundles
        .iter()
        .enumerate()
        .map(|(n, bundle)| {
            let path = dir.path().join(format!("{n}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(bundle).expect("json")).expect("write");
            let mut command = Command::new(validator());
            if strict {
                command.arg("--strict");
            }
            let output = command.arg(&path).output().expect("stix2-validator must be installed");
            String::from_utf8_lossy(&output.stdout).contains("STIX JSON: Valid")
        })
        .collect()
}

fn one_report(places: u32) -> ReleasedReport {
    ReleasedReport {
        id: 41 + i64::from(places),
        version: 1,
        title: "Vans at the quay".into(),
        text: "Two vans loaded at the quay after midnight.".into(),
        grading: Admiralty::parse("B2").expect("a grade"),
        handling: HandlingCode::P,
        tlp: Tlp::Green,
        released_at: 1_795_000_000_000,
        places: (0..places)
            .map(|i| Place { name: format!("Quay {i}"), latitude: 52.9, longitude: 1.2 })
            .collect(),
        organisations: vec!["Saltford Freight Ltd".into()],
    }
}

/// Sets `value` at `path` (keys and list indexes) in a copy of `bundle`.
fn with(bundle: &Value, path: &[&str], value: Value) -> Value {
    let mut copy = bundle.clone();
    let mut target = &mut copy;
    for step in &path[..path.len() - 1] {
        target = match step.parse::<usize>() {
            Ok(i) => &mut target[i],
            Err(_) => &mut target[*step],
        };
    }
    target[path[path.len() - 1]] = value;
    copy
}

/// What STIX 2.1 forbids, the importer refuses, and the official validator agrees it is
/// invalid: Tearline's reader is no looser than the standard where it reads.
#[test]
fn what_stix_forbids_is_refused_by_the_importer_and_by_the_official_validator() {
    let producer = Producer { name: "Harbour District Unit".into(), namespace: uuid_namespace() };
    let good = export(&one_report(1), &producer).expect("exportable");
    let last = good["objects"].as_array().map_or(0, |o| o.len() - 1).to_string();
    let r = last.as_str();
    let created =
        good["objects"][r.parse::<usize>().unwrap_or(0)]["created"].as_str().unwrap_or_default().to_owned();
    let cases = [
        ("a lower-case t", with(&good, &["objects", r, "created"], json!(created.replacen('T', "t", 1)))),
        ("a lower-case z", with(&good, &["objects", r, "modified"], json!(created.replacen('Z', "z", 1)))),
        ("an offset", with(&good, &["objects", r, "modified"], json!(created.replacen('Z', "+00:00", 1)))),
        (
            "modified to the second",
            with(&good, &["objects", r, "modified"], json!(created.replacen(".000Z", "Z", 1))),
        ),
        (
            "modified before created",
            with(&good, &["objects", r, "modified"], json!("2001-01-01T00:00:00.000Z")),
        ),
        (
            "not an RFC 4122 UUID",
            with(&good, &["objects", r, "id"], json!("report--11111111-1111-4111-c111-111111111111")),
        ),
        (
            "a UUID without hyphens",
            with(&good, &["objects", r, "id"], json!("report--11111111111141118111111111111111")),
        ),
        (
            "a string for a list of markings",
            with(
                &good,
                &["objects", r, "object_marking_refs"],
                json!("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"),
            ),
        ),
        ("a string for a list of labels", with(&good, &["objects", r, "labels"], json!("admiralty:B2"))),
        (
            "a string for a list of report types",
            with(&good, &["objects", r, "report_types"], json!("threat-report")),
        ),
        ("a type in capitals", with(&good, &["objects", "0", "type"], json!("Identity"))),
    ];
    let bundles: Vec<Value> = cases.iter().map(|(_, bundle)| bundle.clone()).collect();
    for ((what, bundle), officially) in cases.iter().zip(officially_valid(&bundles, true)) {
        assert!(import(&bundle.to_string()).is_err(), "the importer took a bundle with {what}");
        assert!(!officially, "the official validator took a bundle with {what}; the case is wrong");
    }
    assert!(import(&good.to_string()).is_ok());
}

/// What STIX allows and Tearline does not read — observables (no `created`), other domain
/// objects, custom objects — is taken, the reports read, and the validator agrees it is valid.
#[test]
fn observables_and_objects_tearline_does_not_read_are_taken_as_they_come() {
    let producer = Producer { name: "Harbour District Unit".into(), namespace: uuid_namespace() };
    let mut bundle = export(&one_report(1), &producer).expect("exportable");
    let address = json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"});
    let domain = json!({"type": "domain-name", "id": "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5", "value": "quay.example"});
    let note = json!({"type": "note", "spec_version": "2.1", "id": "note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2026-11-18T09:00:00.000Z", "modified": "2026-11-18T09:30:00.000Z", "content": "Seen twice.",
        "object_refs": ["ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"]});
    let objects = bundle["objects"].as_array_mut().expect("objects");
    objects.extend([address, domain, note]);
    let report = objects.iter_mut().find(|o| o["type"] == "report").expect("a report");
    report["object_refs"]
        .as_array_mut()
        .expect("refs")
        .push(json!("ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"));
    let read = import(&bundle.to_string()).expect("observables and notes are taken");
    assert_eq!(read.len(), 1);
    assert_eq!(officially_valid(&[bundle], true), vec![true]);
}

/// Objects two bundles share — the producer's identity, a place, an organisation — are the
/// same object in both, `created` and `modified` included (STIX §3.6).
#[test]
fn shared_objects_are_identical_in_every_bundle() {
    let producer = Producer { name: "Harbour District Unit".into(), namespace: uuid_namespace() };
    let (first, second) =
        (export(&one_report(1), &producer).expect("one"), export(&one_report(2), &producer).expect("two"));
    let by_id = |bundle: &Value| -> std::collections::HashMap<String, Value> {
        bundle["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| (o["id"].as_str().unwrap_or_default().to_owned(), o.clone()))
            .collect()
    };
    let (first, second) = (by_id(&first), by_id(&second));
    let shared: Vec<&String> = first.keys().filter(|id| second.contains_key(*id)).collect();
    assert!(shared.len() >= 3, "producer, a place and an organisation are shared: {shared:?}");
    for id in shared {
        assert_eq!(first[id], second[id], "{id}");
    }
}

fn uuid_namespace() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x005e_a1ed_7ea1_14e5)
}
