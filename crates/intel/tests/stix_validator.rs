//! Every shape of bundle Tearline exports passes the official OASIS `stix2-validator`
//! (PyPI), run in strict mode. `scripts/test` installs it into `target/stix-venv`; without
//! it this test fails rather than skips.

use std::path::PathBuf;
use std::process::Command;

use tearline_intel::grading::{Admiralty, Credibility, HandlingCode, Reliability, Tlp};
use tearline_intel::stix::{export, Place, Producer, ReleasedReport};

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

fn uuid_namespace() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x005e_a1ed_7ea1_14e5)
}
