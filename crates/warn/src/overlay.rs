//! A local context layer for the maps: the main roads and named places of the area a
//! deployment covers, as GeoJSON the operator supplies (exported from their own GIS). The
//! bundled basemap (Natural Earth 1:10m) has land, water and boundaries but nothing at the
//! scale of a town; this layer adds it without any tile server.
//!
//! What is accepted: a `FeatureCollection` whose features are `LineString`s (roads; property
//! `name`, and `kind` `"main"` or `"minor"`) and `Point`s (places; property `name`). The
//! layer is checked whole when the server starts and answered to browsers as the checked,
//! re-serialised GeoJSON, so nothing else in the file reaches a page.

use serde::{Deserialize, Serialize};

use crate::geo::LatLon;

/// The largest layer accepted, in bytes.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// The most features a layer may hold.
pub const MAX_FEATURES: usize = 20_000;
/// The longest name a feature may carry, in characters.
pub const MAX_NAME: usize = 120;

/// A checked context layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlay {
    pub roads: Vec<Road>,
    pub places: Vec<Place>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Road {
    pub name: String,
    /// A main road is drawn wider.
    pub main: bool,
    pub line: Vec<LatLon>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    pub name: String,
    pub at: LatLon,
}

/// Why a layer was refused: where, and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("map overlay: {0}")]
pub struct OverlayError(String);

#[derive(Deserialize)]
struct Collection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    geometry: Geometry,
    #[serde(default)]
    properties: Properties,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Geometry {
    LineString { coordinates: Vec<[f64; 2]> },
    Point { coordinates: [f64; 2] },
}

#[derive(Deserialize, Default)]
struct Properties {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

impl Overlay {
    /// Reads and checks a layer: its size, its shape, every position (GeoJSON writes
    /// longitude first) and every name.
    pub fn parse(text: &str) -> Result<Overlay, OverlayError> {
        if text.len() > MAX_BYTES {
            return Err(OverlayError(format!("the file is larger than {MAX_BYTES} bytes")));
        }
        let collection: Collection =
            serde_json::from_str(text).map_err(|e| OverlayError(format!("not the GeoJSON expected: {e}")))?;
        if collection.kind != "FeatureCollection" {
            return Err(OverlayError("the file must be a GeoJSON FeatureCollection".into()));
        }
        if collection.features.len() > MAX_FEATURES {
            return Err(OverlayError(format!("more than {MAX_FEATURES} features")));
        }
        let mut overlay = Overlay { roads: Vec::new(), places: Vec::new() };
        for (i, feature) in collection.features.into_iter().enumerate() {
            let at = |message: &str| OverlayError(format!("features[{i}]: {message}"));
            let name = feature.properties.name.unwrap_or_default().trim().to_owned();
            if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
                return Err(at(&format!("the name must be at most {MAX_NAME} printable characters")));
            }
            let position =
                |[lon, lat]: [f64; 2]| LatLon::new(lat, lon).map_err(|_| at("a position is out of range"));
            match feature.geometry {
                Geometry::LineString { coordinates } => {
                    if coordinates.len() < 2 {
                        return Err(at("a road needs at least two positions"));
                    }
                    let line = coordinates.into_iter().map(position).collect::<Result<Vec<_>, _>>()?;
                    let main = match feature.properties.kind.as_deref() {
                        None | Some("minor") => false,
                        Some("main") => true,
                        Some(_) => return Err(at("a road's kind is \"main\" or \"minor\"")),
                    };
                    overlay.roads.push(Road { name, main, line });
                }
                Geometry::Point { coordinates } => {
                    if name.is_empty() {
                        return Err(at("a place needs a name"));
                    }
                    overlay.places.push(Place { name, at: position(coordinates)? });
                }
            }
        }
        Ok(overlay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LAYER: &str = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1.20, 52.92], [1.23, 52.93]]},
         "properties": {"name": "Coast Road", "kind": "main"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1.215, 52.925]},
         "properties": {"name": "Eastmarsh"}}]}"#;

    #[test]
    fn roads_and_places_are_read_longitude_first() {
        let overlay = Overlay::parse(LAYER).unwrap();
        assert_eq!(overlay.roads.len(), 1);
        assert!(overlay.roads[0].main);
        assert_eq!(overlay.roads[0].line[0], LatLon { lat: 52.92, lon: 1.20 });
        assert_eq!(overlay.places[0].name, "Eastmarsh");
        assert_eq!(overlay.places[0].at, LatLon { lat: 52.925, lon: 1.215 });
    }

    #[test]
    fn what_the_layer_may_not_hold_is_refused_with_its_place() {
        let refused = |text: &str| Overlay::parse(text).unwrap_err().to_string();
        assert!(refused(r#"{"type": "Feature", "features": []}"#).contains("FeatureCollection"));
        let far = LAYER.replace("[1.215, 52.925]", "[1.215, 95.0]");
        assert!(refused(&far).contains("features[1]: a position is out of range"));
        let lonely = LAYER.replace("[[1.20, 52.92], [1.23, 52.93]]", "[[1.20, 52.92]]");
        assert!(refused(&lonely).contains("features[0]: a road needs at least two positions"));
        let unnamed = LAYER.replace(r#""name": "Eastmarsh""#, r#""name": """#);
        assert!(refused(&unnamed).contains("a place needs a name"));
        assert!(refused(&LAYER.replace("\"main\"", "\"motorway\"")).contains("\"main\" or \"minor\""));
        assert!(refused(&" ".repeat(MAX_BYTES + 1)).contains("larger than"));
    }

    proptest! {
        /// Whatever the file holds, reading it answers a layer or a refusal, never a panic.
        #[test]
        fn any_text_is_read_or_refused(text in ".{0,400}") {
            let _ = Overlay::parse(&text);
        }
    }
}
