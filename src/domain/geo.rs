//! Positions on the Earth, checked once: finite, in range.

use serde::{Deserialize, Serialize};

use super::AppError;

/// A WGS84 position. The fields are private so every value went through `new`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoint")]
pub struct GeoPoint {
    lat: f64,
    lng: f64,
}

#[derive(Deserialize)]
struct RawPoint {
    lat: f64,
    lng: f64,
}

impl TryFrom<RawPoint> for GeoPoint {
    type Error = AppError;

    fn try_from(raw: RawPoint) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lat, raw.lng)
    }
}

impl GeoPoint {
    pub fn new(lat: f64, lng: f64) -> Result<Self, AppError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(AppError::invalid(
                "lat",
                "latitude must be a number from -90 to 90",
            ));
        }
        if !lng.is_finite() || !(-180.0..=180.0).contains(&lng) {
            return Err(AppError::invalid(
                "lng",
                "longitude must be a number from -180 to 180",
            ));
        }
        Ok(Self { lat, lng })
    }

    /// Parses the two fields of a form as typed.
    pub fn parse(lat: &str, lng: &str) -> Result<Self, AppError> {
        let number = |raw: &str, field: &str, what: &str| {
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(AppError::invalid(field, format!("enter a {what}")));
            }
            raw.parse::<f64>().map_err(|_| {
                AppError::invalid(field, format!("{what} must be a number, like 52.5200"))
            })
        };
        let lat = number(lat, "lat", "latitude")?;
        let lng = number(lng, "lng", "longitude")?;
        Self::new(lat, lng)
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn lng(&self) -> f64 {
        self.lng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_range_are_accepted() {
        let p = GeoPoint::new(52.52, 13.405).unwrap();
        assert_eq!((p.lat(), p.lng()), (52.52, 13.405));
        assert!(GeoPoint::new(-90.0, 180.0).is_ok());
        assert!(GeoPoint::new(90.0, -180.0).is_ok());
    }

    #[test]
    fn nan_infinite_and_out_of_range_are_refused() {
        for (lat, lng, field) in [
            (f64::NAN, 0.0, "lat"),
            (0.0, f64::NAN, "lng"),
            (f64::INFINITY, 0.0, "lat"),
            (0.0, f64::NEG_INFINITY, "lng"),
            (90.0001, 0.0, "lat"),
            (-91.0, 0.0, "lat"),
            (0.0, 180.5, "lng"),
            (0.0, -181.0, "lng"),
        ] {
            let err = GeoPoint::new(lat, lng).unwrap_err();
            assert_eq!(err.field(), Some(field), "({lat}, {lng})");
        }
    }

    #[test]
    fn typed_fields_must_be_numbers() {
        assert_eq!(
            GeoPoint::parse("abc", "1").unwrap_err().message(),
            "latitude must be a number, like 52.5200"
        );
        assert_eq!(GeoPoint::parse("1", "").unwrap_err().field(), Some("lng"));
        assert_eq!(
            GeoPoint::parse("NaN", "0").unwrap_err().field(),
            Some("lat")
        );
        assert_eq!(GeoPoint::parse(" 52.5 ", "13.4").unwrap().lat(), 52.5);
    }

    #[test]
    fn deserializing_checks_the_range_too() {
        let err = serde_json::from_str::<GeoPoint>(r#"{"lat": 95, "lng": 0}"#);
        assert!(err.is_err());
        let ok: GeoPoint = serde_json::from_str(r#"{"lat": 1.5, "lng": 2}"#).unwrap();
        assert_eq!(ok.lng(), 2.0);
    }
}

/// Mean Earth radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

impl GeoPoint {
    /// Great-circle distance in metres (haversine): exact enough for a city.
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_lat = lat2 - lat1;
        let d_lng = (other.lng - self.lng).to_radians();
        let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().asin()
    }
}

#[cfg(test)]
mod distance_tests {
    use super::*;

    #[test]
    fn a_point_is_no_distance_from_itself() {
        let p = GeoPoint::new(52.52, 13.405).unwrap();
        assert_eq!(p.distance_m(&p), 0.0);
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let a = GeoPoint::new(52.0, 13.0).unwrap();
        let b = GeoPoint::new(53.0, 13.0).unwrap();
        let d = a.distance_m(&b);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert_eq!(d, b.distance_m(&a));
    }

    #[test]
    fn berlin_to_paris_is_about_878_km() {
        let berlin = GeoPoint::new(52.5200, 13.4050).unwrap();
        let paris = GeoPoint::new(48.8566, 2.3522).unwrap();
        let km = berlin.distance_m(&paris) / 1000.0;
        assert!((km - 878.0).abs() < 5.0, "{km}");
    }
}
