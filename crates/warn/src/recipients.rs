//! Recipient registrations and the two bulk formats they arrive in.
//!
//! CSV: a header row naming the columns `name, kind, channel, address, lat, lon` and
//! optionally `external_id`, in any order. GeoJSON: a `FeatureCollection` of `Point`
//! features whose properties carry the same names (`external_id` may also be the feature's
//! `id`). A bad row is reported with its row number and reason and the good rows still count,
//! so one typo does not stop a registry of a million.

use serde::Deserialize;

use crate::delivery::{Channel, RecipientKind};
use crate::geo::LatLon;

/// Someone or something to warn, at a place, reachable on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The registrar's own id, so that re-importing updates instead of duplicating.
    pub external_id: Option<String>,
    pub name: String,
    pub kind: RecipientKind,
    pub channel: Channel,
    pub address: String,
    pub position: LatLon,
    /// The language the recipient reads (a language tag such as "ar" or "en-GB"); their
    /// messages come from the alert's `info` in it when there is one.
    pub language: Option<String>,
}

/// Why one row was not taken. `row` counts data rows (CSV) or features (GeoJSON) from 1.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("row {row}: {reason}")]
pub struct RowError {
    pub row: usize,
    pub reason: String,
}

/// A whole file that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV header must name the columns {missing}; found {found}")]
    Header { missing: String, found: String },
    #[error("not a GeoJSON FeatureCollection: {0}")]
    GeoJson(String),
}

/// A recipient's fields as any format names them, before they are checked.
#[derive(Debug, Default, Deserialize)]
pub struct RecipientFields {
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub language: Option<String>,
}

impl RecipientFields {
    /// Checks every field; the error names the first that is wrong.
    pub fn into_registration(self, lat: f64, lon: f64) -> Result<Registration, String> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err("name must be 1 to 200 characters".into());
        }
        let kind = RecipientKind::parse(self.kind.trim()).ok_or_else(|| {
            format!("kind {:?} is not one of person, siren, mosque, school, hospital, partner", self.kind)
        })?;
        let channel = Channel::parse(self.channel.trim())
            .ok_or_else(|| format!("channel {:?} is not one of webhook, sms, email", self.channel))?;
        let address = self.address.trim();
        channel.check_address(address)?;
        let position = LatLon::new(lat, lon).map_err(|e| e.to_string())?;
        let external_id = self.external_id.map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
        let language = self.language.map(|tag| tag.trim().to_owned()).filter(|tag| !tag.is_empty());
        if let Some(tag) = &language {
            if !crate::cap::is_language_tag(tag) || tag.len() > 35 {
                return Err(format!("language {tag:?} is not a language tag like ar or en-GB"));
            }
        }
        Ok(Registration {
            language,
            external_id,
            name: name.to_owned(),
            kind,
            channel,
            address: address.to_owned(),
            position,
        })
    }
}

/// Reads a CSV registry. Returns the good rows and the errors of the bad ones.
pub fn read_csv(bytes: &[u8]) -> Result<(Vec<Registration>, Vec<RowError>), ImportError> {
    const REQUIRED: [&str; 6] = ["name", "kind", "channel", "address", "lat", "lon"];
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(bytes);
    let headers = reader.headers().cloned().unwrap_or_default();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = REQUIRED.into_iter().filter(|name| column(name).is_none()).collect();
    if !missing.is_empty() {
        return Err(ImportError::Header {
            missing: missing.join(", "),
            found: headers.iter().collect::<Vec<_>>().join(", "),
        });
    }
    let [name, kind, channel, address, lat, lon] = REQUIRED.map(|n| column(n).unwrap_or_default());
    let external_id = column("external_id");
    let language = column("language");
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let parsed = record.map_err(|e| format!("unreadable: {e}")).and_then(|record| {
            let get = |at: usize| record.get(at).unwrap_or("").to_owned();
            let number = |at: usize, what: &str| {
                get(at)
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("{what} {:?} is not a number", get(at)))
            };
            let fields = RecipientFields {
                external_id: external_id.map(get),
                name: get(name),
                kind: get(kind),
                channel: get(channel),
                address: get(address),
                language: language.map(get),
            };
            fields.into_registration(number(lat, "lat")?, number(lon, "lon")?)
        });
        match parsed {
            Ok(registration) => good.push(registration),
            Err(reason) => bad.push(RowError { row, reason }),
        }
    }
    Ok((good, bad))
}

#[derive(Deserialize)]
struct FeatureCollection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    id: Option<serde_json::Value>,
    geometry: Geometry,
    #[serde(default)]
    properties: Option<RecipientFields>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Vec<f64>,
}

/// Reads a GeoJSON registry (RFC 7946: coordinates are `[longitude, latitude]`).
pub fn read_geojson(bytes: &[u8]) -> Result<(Vec<Registration>, Vec<RowError>), ImportError> {
    let collection: FeatureCollection =
        serde_json::from_slice(bytes).map_err(|e| ImportError::GeoJson(e.to_string()))?;
    if collection.kind != "FeatureCollection" {
        return Err(ImportError::GeoJson(format!("the top-level type is {:?}", collection.kind)));
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, value) in collection.features.into_iter().enumerate() {
        let row = i + 1;
        let parsed = serde_json::from_value::<Feature>(value)
            .map_err(|e| format!("not a feature: {e}"))
            .and_then(|feature| {
                if feature.geometry.kind != "Point" || feature.geometry.coordinates.len() < 2 {
                    return Err(format!(
                        "geometry must be a Point with [longitude, latitude], found {}",
                        feature.geometry.kind
                    ));
                }
                let mut fields = feature.properties.unwrap_or_default();
                if fields.external_id.is_none() {
                    fields.external_id =
                        feature.id.map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_owned));
                }
                fields.into_registration(feature.geometry.coordinates[1], feature.geometry.coordinates[0])
            });
        match parsed {
            Ok(registration) => good.push(registration),
            Err(reason) => bad.push(RowError { row, reason }),
        }
    }
    Ok((good, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_may_say_which_language_they_read() {
        let csv = "name,kind,channel,address,lat,lon,language\n\
                   Huda,person,sms,+441632960000,33.5,36.3,ar-SY\n\
                   Tom,person,sms,+441632960001,33.5,36.3,\n\
                   Bad,person,sms,+441632960002,33.5,36.3,not a tag\n";
        let (good, bad) = read_csv(csv.as_bytes()).expect("header is fine");
        let languages: Vec<Option<&str>> = good.iter().map(|r| r.language.as_deref()).collect();
        assert_eq!(languages, [Some("ar-SY"), None]);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].reason.contains("language"), "{bad:?}");
    }

    #[test]
    fn csv_rows_are_read_in_any_column_order_and_bad_rows_are_named() {
        let csv = "lat,lon,name,kind,channel,address,external_id\n\
                   33.5,36.3,Al-Noor mosque,mosque,webhook,https://siren.example/a,m-1\n\
                   33.6,36.2,Ward,person,sms,+441632960000,\n\
                   95,36.2,Too far north,person,sms,+441632960001,x\n\
                   33.6,36.2,Bad channel,person,pigeon,loft,y\n\
                   33.6,abc,No lon,person,sms,+441632960002,z\n";
        let (good, bad) = read_csv(csv.as_bytes()).expect("header is fine");
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].external_id.as_deref(), Some("m-1"));
        assert_eq!(good[0].kind, RecipientKind::Mosque);
        assert_eq!(good[1].external_id, None);
        assert_eq!(good[1].position, LatLon { lat: 33.6, lon: 36.2 });
        let rows: Vec<usize> = bad.iter().map(|e| e.row).collect();
        assert_eq!(rows, vec![3, 4, 5]);
        assert!(bad[0].reason.contains("latitude 95"), "{}", bad[0]);
        assert!(bad[1].reason.contains("pigeon"));
        assert!(bad[2].reason.contains("lon \"abc\""));
    }

    proptest::proptest! {
        /// Any bytes at all are read or refused, never a panic.
        #[test]
        fn imports_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = read_csv(&bytes);
            let _ = read_geojson(&bytes);
            let mut csv = b"name,kind,channel,address,lat,lon\n".to_vec();
            csv.extend_from_slice(&bytes);
            let _ = read_csv(&csv);
        }
    }

    #[test]
    fn a_csv_without_the_needed_columns_is_refused_whole() {
        let error = read_csv(b"name,lat\nx,1\n").expect_err("missing columns");
        assert!(error.to_string().contains("kind, channel, address, lon"), "{error}");
    }

    #[test]
    fn geojson_points_are_read_lon_first_and_bad_features_named() {
        let json = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","id":"s-1","geometry":{"type":"Point","coordinates":[36.3,33.5]},
             "properties":{"name":"Siren 1","kind":"siren","channel":"webhook","address":"http://10.0.0.1/cap"}},
            {"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2],[3,4]]},"properties":{}},
            {"type":"Feature","geometry":{"type":"Point","coordinates":[36.3,33.5]},
             "properties":{"name":"","kind":"siren","channel":"webhook","address":"http://x"}}
        ]}"#;
        let (good, bad) = read_geojson(json.as_bytes()).expect("a collection");
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].external_id.as_deref(), Some("s-1"));
        assert_eq!(good[0].position, LatLon { lat: 33.5, lon: 36.3 });
        assert_eq!(bad.iter().map(|e| e.row).collect::<Vec<_>>(), vec![2, 3]);
        assert!(read_geojson(b"{\"type\":\"Feature\",\"features\":[]}").is_err());
        assert!(read_geojson(b"not json").is_err());
    }
}
