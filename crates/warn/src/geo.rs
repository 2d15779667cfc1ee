//! Where a warning applies: CAP polygons and circles on WGS 84.
//!
//! Polygons are read as CAP writes them, `lat,lon` pairs, closed, at least four points.
//! An edge joins two vertices the short way round, so a polygon whose consecutive longitudes
//! jump by more than 180° crosses the antimeridian; containment "unwraps" such a polygon
//! into a continuous longitude range first. Circles are geodesic: a point is inside when its
//! WGS 84 geodesic distance from the centre is at most the radius.

use std::fmt;

use geographiclib_rs::{Geodesic, InverseGeodesic};
use robust::{orient2d, Coord};
use serde::{Deserialize, Serialize};

/// A position in degrees. `lat` in [-90, 90], `lon` in [-180, 180]; deserialising goes
/// through [`LatLon::new`], so an invalid position never exists.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LatLonWire")]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

/// A position as it arrives, before its checks.
#[derive(Deserialize)]
struct LatLonWire {
    lat: f64,
    lon: f64,
}

impl TryFrom<LatLonWire> for LatLon {
    type Error = GeoError;

    fn try_from(wire: LatLonWire) -> Result<LatLon, GeoError> {
        LatLon::new(wire.lat, wire.lon)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("{0:?} is not a coordinate pair; CAP writes points as \"latitude,longitude\"")]
    NotAPair(String),
    #[error("latitude {0} is outside -90..90")]
    Latitude(String),
    #[error("longitude {0} is outside -180..180")]
    Longitude(String),
    #[error("a polygon needs at least 4 points (the first repeated as the last), found {0}")]
    TooFewPoints(usize),
    #[error("a polygon must be closed: its last point must repeat its first")]
    NotClosed,
    #[error("a polygon that encircles a pole cannot be targeted; split the area into polygons that do not")]
    EncirclesPole,
    #[error("{0:?} is not a circle; CAP writes circles as \"latitude,longitude radius_km\"")]
    NotACircle(String),
    #[error("circle radius {0} must be a number of kilometres from 0 to 20000")]
    Radius(String),
}

impl LatLon {
    pub fn new(lat: f64, lon: f64) -> Result<LatLon, GeoError> {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(GeoError::Latitude(lat.to_string()));
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::Longitude(lon.to_string()));
        }
        Ok(LatLon { lat, lon })
    }

    /// Parses CAP's `lat,lon`.
    pub fn parse_cap(text: &str) -> Result<LatLon, GeoError> {
        let not_a_pair = || GeoError::NotAPair(text.to_owned());
        let (lat, lon) = text.split_once(',').ok_or_else(not_a_pair)?;
        let lat = parse_finite(lat).ok_or_else(not_a_pair)?;
        let lon = parse_finite(lon).ok_or_else(not_a_pair)?;
        LatLon::new(lat, lon)
    }

    /// The WGS 84 geodesic distance to `other`, in metres.
    pub fn distance_m(self, other: LatLon) -> f64 {
        let metres: f64 = Geodesic::wgs84().inverse(self.lat, self.lon, other.lat, other.lon);
        metres
    }
}

impl fmt::Display for LatLon {
    /// CAP's `lat,lon`, with the shortest text that reads back to the same numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

fn parse_finite(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|value| value.is_finite())
}

/// A closed ring of points, as CAP's `<polygon>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LatLon>", into = "Vec<LatLon>")]
pub struct Polygon {
    points: Vec<LatLon>,
    /// The vertices' longitudes made continuous across the antimeridian (may leave ±180).
    unwrapped_lons: Vec<f64>,
    /// The unwrapped longitude span, kept because every containment test needs it.
    west: f64,
    east: f64,
}

impl Polygon {
    pub fn new(points: Vec<LatLon>) -> Result<Polygon, GeoError> {
        if points.len() < 4 {
            return Err(GeoError::TooFewPoints(points.len()));
        }
        if points.first() != points.last() {
            return Err(GeoError::NotClosed);
        }
        let mut unwrapped_lons = Vec::with_capacity(points.len());
        let mut previous = points[0].lon;
        for point in &points {
            let step = shortest_lon_step(previous, point.lon);
            let lon = unwrapped_lons.last().map_or(point.lon, |last: &f64| last + step);
            unwrapped_lons.push(lon);
            previous = point.lon;
        }
        // Walking the ring returns to the first longitude unless the ring goes round a pole.
        let first = unwrapped_lons[0];
        if unwrapped_lons.last().is_some_and(|last| (last - first).abs() > 1e-9) {
            return Err(GeoError::EncirclesPole);
        }
        let (west, east) = unwrapped_lons
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(w, e), &lon| (w.min(lon), e.max(lon)));
        Ok(Polygon { points, unwrapped_lons, west, east })
    }

    /// Parses CAP's space-separated `lat,lon` pairs.
    pub fn parse_cap(text: &str) -> Result<Polygon, GeoError> {
        let points = text.split_whitespace().map(LatLon::parse_cap).collect::<Result<Vec<_>, _>>()?;
        Polygon::new(points)
    }

    pub fn points(&self) -> &[LatLon] {
        &self.points
    }

    /// Whether `point` is inside (even-odd rule on the unwrapped ring).
    pub fn contains(&self, point: LatLon) -> bool {
        let inside =
            |lon: f64| (self.west..=self.east).contains(&lon) && self.contains_unwrapped(point.lat, lon);
        inside(point.lon) || inside(point.lon + 360.0) || inside(point.lon - 360.0)
    }

    /// Whether the whole box is inside: its corners are, and no edge of the ring touches it.
    /// Conservative: `false` only means "not proven", so callers then test point by point.
    pub fn covers(&self, bounds: &BoundingBox) -> bool {
        [0.0, 360.0, -360.0].into_iter().any(|shift| {
            let (west, east) = (bounds.west + shift, bounds.east + shift);
            west >= self.west
                && east <= self.east
                && [(bounds.south, west), (bounds.south, east), (bounds.north, west), (bounds.north, east)]
                    .into_iter()
                    .all(|(lat, lon)| self.contains_unwrapped(lat, lon))
                && (0..self.points.len() - 1).all(|i| {
                    let a = (self.unwrapped_lons[i], self.points[i].lat);
                    let b = (self.unwrapped_lons[i + 1], self.points[i + 1].lat);
                    let m = BOX_MARGIN_DEGREES;
                    !segment_touches_box(a, b, (west - m, bounds.south - m), (east + m, bounds.north + m))
                })
        })
    }

    /// Even-odd rule with exact orientation tests (Shewchuk's predicates, as PostGIS uses),
    /// the ring itself counted as inside: a warning covers its edge, like `ST_Covers`.
    fn contains_unwrapped(&self, lat: f64, lon: f64) -> bool {
        let p = Coord { x: lon, y: lat };
        let mut inside = false;
        for i in 0..self.points.len() - 1 {
            let a = Coord { x: self.unwrapped_lons[i], y: self.points[i].lat };
            let b = Coord { x: self.unwrapped_lons[i + 1], y: self.points[i + 1].lat };
            let side = orient2d(a, b, p);
            if side == 0.0
                && lon >= a.x.min(b.x)
                && lon <= a.x.max(b.x)
                && lat >= a.y.min(b.y)
                && lat <= a.y.max(b.y)
            {
                return true;
            }
            // An edge crossing the point's latitude toggles when the point lies west of it.
            if (a.y > lat) != (b.y > lat) && (side > 0.0) == (b.y > a.y) {
                inside = !inside;
            }
        }
        inside
    }

    fn bounds(&self) -> Vec<BoundingBox> {
        let (south, north) = self
            .points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(s, n), p| (s.min(p.lat), n.max(p.lat)));
        BoundingBox::split_at_antimeridian(south, north, self.west, self.east)
    }
}

impl TryFrom<Vec<LatLon>> for Polygon {
    type Error = GeoError;
    fn try_from(points: Vec<LatLon>) -> Result<Polygon, GeoError> {
        Polygon::new(points)
    }
}

impl From<Polygon> for Vec<LatLon> {
    fn from(polygon: Polygon) -> Vec<LatLon> {
        polygon.points
    }
}

impl fmt::Display for Polygon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, point) in self.points.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{point}")?;
        }
        Ok(())
    }
}

/// How far (in degrees, about 0.1 mm) a box is widened before testing whether an edge
/// touches it, so that rounding can only make the test more careful, never less.
const BOX_MARGIN_DEGREES: f64 = 1e-9;

/// Whether the segment from `a` to `b` meets the closed box `low`..`high` (Liang–Barsky).
fn segment_touches_box(a: (f64, f64), b: (f64, f64), low: (f64, f64), high: (f64, f64)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut enter, mut leave) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - low.0), (dx, high.0 - a.0), (-dy, a.1 - low.1), (dy, high.1 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                enter = enter.max(t);
            } else {
                leave = leave.min(t);
            }
            if enter > leave {
                return false;
            }
        }
    }
    true
}

/// The signed longitude change from `from` to `to` going the short way round.
fn shortest_lon_step(from: f64, to: f64) -> f64 {
    let step = to - from;
    if step > 180.0 {
        step - 360.0
    } else if step < -180.0 {
        step + 360.0
    } else {
        step
    }
}

/// A geodesic circle, as CAP's `<circle>` (`lat,lon radius_km`); deserialising goes
/// through [`Circle::new`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CircleWire")]
pub struct Circle {
    pub centre: LatLon,
    pub radius_km: f64,
}

/// A circle as it arrives, before its checks.
#[derive(Deserialize)]
struct CircleWire {
    centre: LatLon,
    radius_km: f64,
}

impl TryFrom<CircleWire> for Circle {
    type Error = GeoError;

    fn try_from(wire: CircleWire) -> Result<Circle, GeoError> {
        Circle::new(wire.centre, wire.radius_km)
    }
}

/// Upper bound on a radius: half the Earth's circumference, roughly.
const MAX_RADIUS_KM: f64 = 20_000.0;
/// The shortest a degree of latitude gets on WGS 84 is 110.574 km (at the equator); rounding
/// down keeps the bounding box conservative.
const MIN_KM_PER_DEGREE_LAT: f64 = 110.5;
/// A degree of longitude is at least `111.3 km · cos(lat)` on WGS 84.
const KM_PER_DEGREE_LON_AT_EQUATOR: f64 = 111.3;

impl Circle {
    pub fn new(centre: LatLon, radius_km: f64) -> Result<Circle, GeoError> {
        // CAP allows a radius of 0 (a point: the specification's own example A.3 uses it).
        if !(radius_km.is_finite() && (0.0..=MAX_RADIUS_KM).contains(&radius_km)) {
            return Err(GeoError::Radius(radius_km.to_string()));
        }
        Ok(Circle { centre, radius_km })
    }

    pub fn parse_cap(text: &str) -> Result<Circle, GeoError> {
        let (centre, radius) = text
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| GeoError::NotACircle(text.to_owned()))?;
        let radius = parse_finite(radius).ok_or_else(|| GeoError::Radius(radius.trim().to_owned()))?;
        Circle::new(LatLon::parse_cap(centre)?, radius)
    }

    pub fn contains(&self, point: LatLon) -> bool {
        self.centre.distance_m(point) <= self.radius_km * 1000.0
    }

    /// A box that holds every point of the circle: latitude from the shortest degree of
    /// latitude, longitude from the narrowest degree of longitude inside that latitude band.
    fn bounds(&self) -> Vec<BoundingBox> {
        let dlat = self.radius_km / MIN_KM_PER_DEGREE_LAT;
        let (south, north) = (self.centre.lat - dlat, self.centre.lat + dlat);
        if south <= -90.0 || north >= 90.0 {
            return vec![BoundingBox {
                south: south.max(-90.0),
                north: north.min(90.0),
                west: -180.0,
                east: 180.0,
            }];
        }
        let widest_lat = south.abs().max(north.abs());
        let dlon = self.radius_km / (KM_PER_DEGREE_LON_AT_EQUATOR * widest_lat.to_radians().cos());
        BoundingBox::split_at_antimeridian(south, north, self.centre.lon - dlon, self.centre.lon + dlon)
    }
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.centre, self.radius_km)
    }
}

/// One CAP `<area>`: a description and the shapes it is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Area {
    pub description: String,
    #[serde(default)]
    pub polygons: Vec<Polygon>,
    #[serde(default)]
    pub circles: Vec<Circle>,
}

impl Area {
    pub fn contains(&self, point: LatLon) -> bool {
        self.polygons.iter().any(|polygon| polygon.contains(point))
            || self.circles.iter().any(|circle| circle.contains(point))
    }

    /// Whether `point` lies inside the area or within `metres` of its edge: what a place near
    /// a source's address is tested by. Edges are measured in a plane tangent at the point
    /// (well under 1 % off at the few hundred metres this is for).
    pub fn within_m(&self, point: LatLon, metres: f64) -> bool {
        self.contains(point)
            || self.circles.iter().any(|c| c.centre.distance_m(point) <= c.radius_km * 1000.0 + metres)
            || self.polygons.iter().any(|polygon| {
                polygon.points().windows(2).any(|edge| metres_to_segment(point, edge[0], edge[1]) <= metres)
            })
    }

    /// Whether the whole box is proven inside one of the area's polygons.
    pub fn covers(&self, bounds: &BoundingBox) -> bool {
        self.polygons.iter().any(|polygon| polygon.covers(bounds))
    }

    /// Whether the area has any shape at all (a description alone cannot be targeted).
    pub fn has_shape(&self) -> bool {
        !(self.polygons.is_empty() && self.circles.is_empty())
    }

    /// Boxes (none crossing the antimeridian) that together cover every shape.
    pub fn bounds(&self) -> Vec<BoundingBox> {
        self.polygons
            .iter()
            .flat_map(Polygon::bounds)
            .chain(self.circles.iter().flat_map(Circle::bounds))
            .collect()
    }
}

/// The distance from `point` to the segment `a`–`b`, in a plane tangent at `point`.
fn metres_to_segment(point: LatLon, a: LatLon, b: LatLon) -> f64 {
    const METRES_PER_DEGREE_LAT: f64 = 110_574.0;
    let metres_per_degree_lon = 111_320.0 * point.lat.to_radians().cos();
    let wrap = |degrees: f64| (degrees + 540.0).rem_euclid(360.0) - 180.0;
    let plane = |p: LatLon| {
        (wrap(p.lon - point.lon) * metres_per_degree_lon, (p.lat - point.lat) * METRES_PER_DEGREE_LAT)
    };
    let ((ax, ay), (bx, by)) = (plane(a), plane(b));
    let (dx, dy) = (bx - ax, by - ay);
    let length = dx * dx + dy * dy;
    let t = if length == 0.0 { 0.0 } else { (-(ax * dx + ay * dy) / length).clamp(0.0, 1.0) };
    (ax + t * dx).hypot(ay + t * dy)
}

/// A latitude/longitude box with `west <= east`, inside [-180, 180].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub south: f64,
    pub north: f64,
    pub west: f64,
    pub east: f64,
}

impl BoundingBox {
    /// Cuts a box whose longitudes may run past ±180 into boxes that do not.
    fn split_at_antimeridian(south: f64, north: f64, west: f64, east: f64) -> Vec<BoundingBox> {
        let band = |west: f64, east: f64| BoundingBox { south, north, west, east };
        if east - west >= 360.0 {
            vec![band(-180.0, 180.0)]
        } else if west < -180.0 {
            vec![band(west + 360.0, 180.0), band(-180.0, east)]
        } else if east > 180.0 {
            vec![band(west, 180.0), band(-180.0, east - 360.0)]
        } else {
            vec![band(west, east)]
        }
    }
}

#[cfg(test)]
mod near_tests {
    use super::*;
    use proptest::prelude::*;

    fn square() -> Area {
        let polygon = Polygon::parse_cap("52.95,1.20 52.95,1.22 52.96,1.22 52.96,1.20 52.95,1.20").unwrap();
        Area { description: "square".into(), polygons: vec![polygon], circles: Vec::new() }
    }

    #[test]
    fn a_point_inside_or_near_the_edge_is_within_and_one_far_off_is_not() {
        let area = square();
        assert!(area.within_m(LatLon { lat: 52.955, lon: 1.21 }, 0.0), "inside");
        // 0.001° of latitude north of the northern edge is about 111 m.
        let north = LatLon { lat: 52.961, lon: 1.21 };
        assert!(area.within_m(north, 150.0) && !area.within_m(north, 80.0));
        let circle = Area {
            description: "circle".into(),
            polygons: Vec::new(),
            circles: vec![Circle::new(LatLon { lat: 0.0, lon: 0.0 }, 1.0).unwrap()],
        };
        assert!(circle.within_m(LatLon { lat: 0.0, lon: 0.0105 }, 200.0));
        assert!(!circle.within_m(LatLon { lat: 0.0, lon: 0.0105 }, 100.0));
    }

    proptest! {
        /// Brute force: the geodesic distance to 400 points along each edge. Where that
        /// distance is clearly under or over the threshold, `within_m` agrees.
        #[test]
        fn the_edge_distance_agrees_with_sampling_the_edge(
            lat in 52.90f64..53.01, lon in 1.15f64..1.27, metres in 10.0f64..3000.0
        ) {
            let area = square();
            let point = LatLon { lat, lon };
            prop_assume!(!area.contains(point));
            let sampled = area.polygons[0]
                .points()
                .windows(2)
                .flat_map(|edge| (0..=400).map(move |i| {
                    let t = f64::from(i) / 400.0;
                    LatLon { lat: edge[0].lat + t * (edge[1].lat - edge[0].lat), lon: edge[0].lon + t * (edge[1].lon - edge[0].lon) }
                }))
                .map(|p| p.distance_m(point))
                .fold(f64::INFINITY, f64::min);
            if sampled < metres * 0.98 {
                prop_assert!(area.within_m(point, metres));
            }
            if sampled > metres * 1.02 + 5.0 {
                prop_assert!(!area.within_m(point, metres));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn cap_polygon_text_round_trips() {
        let text = "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14";
        let polygon = Polygon::parse_cap(text).expect("valid CAP polygon");
        assert_eq!(polygon.points().len(), 5);
        assert_eq!(polygon.to_string(), text);
        assert!(polygon.contains(at(38.5, -119.9)));
        assert!(!polygon.contains(at(38.0, -119.9)));
        // The ring itself is covered: vertices and points on edges, horizontal or slanted.
        let square = Polygon::parse_cap("0,0 0,2 2,2 2,0 0,0").expect("valid");
        for point in [at(0.0, 0.0), at(0.0, 1.0), at(2.0, 1.0), at(1.0, 2.0), at(1.0, 0.0), at(2.0, 2.0)] {
            assert!(square.contains(point), "{point}");
        }
        let diamond = Polygon::parse_cap("0,1 1,2 2,1 1,0 0,1").expect("valid");
        assert!(diamond.contains(at(0.5, 1.5)) && diamond.contains(at(1.5, 0.5)));
        assert!(!diamond.contains(at(0.2, 0.2)));
    }

    #[test]
    fn polygons_that_break_cap_rules_are_refused_with_the_rule() {
        assert_eq!(Polygon::parse_cap("1,1 2,2 1,1"), Err(GeoError::TooFewPoints(3)));
        assert_eq!(Polygon::parse_cap("1,1 2,2 3,1 1,2"), Err(GeoError::NotClosed));
        assert_eq!(Polygon::parse_cap("1;1 2,2 3,1 1,1"), Err(GeoError::NotAPair("1;1".into())));
        assert_eq!(Polygon::parse_cap("91,1 2,2 3,1 91,1"), Err(GeoError::Latitude("91".into())));
        assert_eq!(Polygon::parse_cap("1,181 2,2 3,1 1,181"), Err(GeoError::Longitude("181".into())));
        assert_eq!(Polygon::parse_cap("1,NaN 2,2 3,1 1,NaN"), Err(GeoError::NotAPair("1,NaN".into())));
        // Four points a third of the way round the globe each: the ring circles the pole.
        let pole = "80,0 80,120 80,-120 80,0";
        assert_eq!(Polygon::parse_cap(pole), Err(GeoError::EncirclesPole));
    }

    #[test]
    fn a_polygon_across_the_antimeridian_holds_points_on_both_sides() {
        let fiji = Polygon::parse_cap("-15,177 -15,-178 -20,-178 -20,177 -15,177").expect("valid");
        assert!(fiji.contains(at(-17.0, 179.5)));
        assert!(fiji.contains(at(-17.0, -179.5)));
        assert!(fiji.contains(at(-17.0, 180.0)));
        assert!(!fiji.contains(at(-17.0, 0.0)));
        assert!(!fiji.contains(at(-17.0, 170.0)));
        assert_eq!(fiji.bounds().len(), 2);
    }

    #[test]
    fn a_box_is_covered_only_when_wholly_inside() {
        let concave = Polygon::parse_cap("0,0 0,10 10,10 5,5 10,0 0,0").expect("valid");
        let bounds = |south, west, north, east| BoundingBox { south, north, west, east };
        assert!(concave.covers(&bounds(1.0, 1.0, 2.0, 9.0)));
        // Corners inside, but the notch of the concave ring cuts through the box.
        assert!(!concave.covers(&bounds(1.0, 4.0, 9.0, 6.0)));
        assert!(!concave.covers(&bounds(-1.0, 1.0, 2.0, 9.0)));
        let fiji = Polygon::parse_cap("-15,177 -15,-178 -20,-178 -20,177 -15,177").expect("valid");
        assert!(fiji.covers(&bounds(-18.0, -179.5, -16.0, -179.0)));
        assert!(fiji.covers(&bounds(-18.0, 178.0, -16.0, 179.5)));
    }

    #[test]
    fn circles_are_geodesic_on_wgs84() {
        let circle = Circle::parse_cap("32.9525,-115.5527 10").expect("valid CAP circle");
        assert_eq!(circle.to_string(), "32.9525,-115.5527 10");
        // 0.089° of latitude is about 9.87 km here; 0.091° is about 10.09 km.
        assert!(circle.contains(at(32.9525 + 0.089, -115.5527)));
        assert!(!circle.contains(at(32.9525 + 0.091, -115.5527)));
        // A radius of 0 is a point, as in the CAP 1.2 specification's example A.3.
        let point = Circle::parse_cap("32,-115 0").expect("CAP allows radius 0");
        assert!(point.contains(at(32.0, -115.0)) && !point.contains(at(32.001, -115.0)));
        assert_eq!(Circle::parse_cap("32,-115 -5"), Err(GeoError::Radius("-5".into())));
        assert_eq!(Circle::parse_cap("32,-115"), Err(GeoError::NotACircle("32,-115".into())));
    }

    /// What comes in through serde is checked like what comes in through CAP text.
    #[test]
    fn deserialising_checks_what_the_constructors_check() {
        let position = |json: &str| serde_json::from_str::<LatLon>(json).map_err(|e| e.to_string());
        assert!(position(r#"{"lat": 95, "lon": 1}"#).unwrap_err().contains("latitude 95"));
        assert!(position(r#"{"lat": 1, "lon": 200}"#).unwrap_err().contains("longitude 200"));
        assert_eq!(position(r#"{"lat": 52.9, "lon": 1.1}"#), Ok(at(52.9, 1.1)));
        let circle = |json: &str| serde_json::from_str::<Circle>(json).map_err(|e| e.to_string());
        assert!(circle(r#"{"centre": {"lat": 1, "lon": 1}, "radius_km": -5}"#)
            .unwrap_err()
            .contains("radius -5"));
        assert!(circle(r#"{"centre": {"lat": 91, "lon": 1}, "radius_km": 5}"#).is_err());
        assert!(circle(r#"{"centre": {"lat": 1, "lon": 1}, "radius_km": 0}"#).is_ok());
    }

    #[test]
    fn a_circle_reaching_a_pole_covers_every_longitude() {
        let circle = Circle::new(at(89.0, 10.0), 300.0).expect("valid");
        assert_eq!(
            circle.bounds(),
            vec![BoundingBox { south: 89.0 - 300.0 / 110.5, north: 90.0, west: -180.0, east: 180.0 }]
        );
        assert!(circle.contains(at(89.5, -170.0)));
    }
}
