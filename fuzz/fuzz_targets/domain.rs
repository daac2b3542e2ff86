//! The domain's parsers on any text: each answers (never panics), and what each accepts is
//! what it promises (coordinates in range, four-digit PINs, 32-hex ride ids, ...) and reads
//! back the same.
#![no_main]

use hail::domain::ride::{parse_client_key, parse_place_name, Pin, RideId, Stars};
use hail::domain::{Email, GeoPoint, Name, Password, UserId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    if let Ok(at) = GeoPoint::parse(a, b) {
        assert!((-90.0..=90.0).contains(&at.lat()), "{a:?}");
        assert!((-180.0..=180.0).contains(&at.lng()), "{b:?}");
        let again = GeoPoint::parse(&at.lat().to_string(), &at.lng().to_string()).unwrap();
        assert_eq!(again, at);
    }
    if let Ok(email) = Email::parse(a) {
        assert_eq!(Email::parse(email.as_str()).unwrap(), email, "{a:?}");
        assert!(email.as_str().contains('@'));
    }
    if let Ok(pin) = Pin::parse(a) {
        assert!(pin.as_str().len() == 4 && pin.as_str().bytes().all(|c| c.is_ascii_digit()));
    }
    if let Ok(id) = RideId::parse(a) {
        assert_eq!(id.as_str().len(), RideId::LEN);
        assert!(id.as_str().bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    }
    if let Ok(key) = parse_client_key(a) {
        assert_eq!(parse_client_key(&key).unwrap(), key);
    }
    if let Ok(name) = parse_place_name(a, "pickup") {
        assert!(name.chars().count() <= 80 && !name.chars().any(char::is_control));
    }
    if let Ok(name) = Name::parse(a) {
        assert_eq!(Name::parse(name.as_str()).unwrap().as_str(), name.as_str());
    }
    let _ = (Password::parse_new(a), Password::parse_existing(b));
    let _ = (Stars::parse(a), UserId::parse(b));
});
