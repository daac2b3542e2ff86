//! Local days: a user's offset from UTC, as their browser reports it, and where their day starts.

use serde::{Deserialize, Serialize};

use super::AppError;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Minutes east of UTC (Berlin in winter: 60; New York in winter: -300). Every offset in use
/// lies within UTC-12:00..UTC+14:00.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtcOffset(i16);

impl UtcOffset {
    pub const UTC: Self = Self(0);
    pub const MIN_MINUTES: i16 = -12 * 60;
    pub const MAX_MINUTES: i16 = 14 * 60;

    pub fn from_minutes(minutes: i16) -> Result<Self, AppError> {
        if (Self::MIN_MINUTES..=Self::MAX_MINUTES).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(AppError::invalid(
                "utc_offset_min",
                format!(
                    "utc_offset_min must be between {} and {} (minutes east of UTC)",
                    Self::MIN_MINUTES,
                    Self::MAX_MINUTES
                ),
            ))
        }
    }

    /// A form or query field: whole minutes.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        raw.trim()
            .parse::<i16>()
            .map_err(|_| {
                AppError::invalid(
                    "utc_offset_min",
                    "utc_offset_min must be a whole number of minutes",
                )
            })
            .and_then(Self::from_minutes)
    }

    /// What JavaScript's `Date.prototype.getTimezoneOffset` returns is minutes *west*; an
    /// offset it could not report is UTC.
    pub fn from_js_timezone_offset(minutes_west: f64) -> Self {
        let east = -minutes_west;
        if east.is_finite() && east.fract() == 0.0 {
            Self::from_minutes(east as i16).unwrap_or(Self::UTC)
        } else {
            Self::UTC
        }
    }

    pub fn minutes(self) -> i16 {
        self.0
    }

    /// When the local day that contains `now_ms` (ms since the epoch) began, in ms since the
    /// epoch.
    pub fn start_of_day(self, now_ms: u64) -> u64 {
        let shift = i64::from(self.0) * MINUTE_MS;
        let local = now_ms as i64 + shift;
        let start = local - local.rem_euclid(DAY_MS) - shift;
        start.max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 3600 * 1000;
    /// 2026-12-07T00:00:00Z.
    const MIDNIGHT_UTC: u64 = 1_796_601_600_000;

    #[test]
    fn a_day_starts_at_local_midnight() {
        let utc = UtcOffset::UTC;
        assert_eq!(utc.start_of_day(MIDNIGHT_UTC), MIDNIGHT_UTC);
        assert_eq!(utc.start_of_day(MIDNIGHT_UTC + 23 * HOUR_MS), MIDNIGHT_UTC);
        // Berlin (UTC+1): 23:30 UTC is already tomorrow, 22:30 UTC still today.
        let berlin = UtcOffset::from_minutes(60).unwrap();
        let tomorrow = MIDNIGHT_UTC + 23 * HOUR_MS;
        assert_eq!(berlin.start_of_day(tomorrow + HOUR_MS / 2), tomorrow);
        assert_eq!(
            berlin.start_of_day(tomorrow - HOUR_MS / 2),
            tomorrow - 24 * HOUR_MS
        );
        // New York (UTC-5): 03:00 UTC is the evening before.
        let new_york = UtcOffset::from_minutes(-300).unwrap();
        assert_eq!(
            new_york.start_of_day(MIDNIGHT_UTC + 3 * HOUR_MS),
            MIDNIGHT_UTC - 19 * HOUR_MS
        );
        // India's half hour.
        let india = UtcOffset::from_minutes(330).unwrap();
        assert_eq!(
            india.start_of_day(MIDNIGHT_UTC),
            MIDNIGHT_UTC - 5 * HOUR_MS - HOUR_MS / 2
        );
    }

    #[test]
    fn offsets_are_parsed_at_the_edge() {
        assert_eq!(UtcOffset::parse(" 60 ").unwrap().minutes(), 60);
        assert_eq!(UtcOffset::parse("-720").unwrap().minutes(), -720);
        assert_eq!(UtcOffset::parse("840").unwrap().minutes(), 840);
        for bad in ["841", "-721", "1.5", "", "east", "99999"] {
            let err = UtcOffset::parse(bad).unwrap_err();
            assert!(err.message().starts_with("utc_offset_min must"), "{bad}");
        }
    }

    #[test]
    fn javascript_reports_minutes_west() {
        assert_eq!(UtcOffset::from_js_timezone_offset(-60.0).minutes(), 60);
        assert_eq!(UtcOffset::from_js_timezone_offset(300.0).minutes(), -300);
        assert_eq!(UtcOffset::from_js_timezone_offset(f64::NAN), UtcOffset::UTC);
        assert_eq!(UtcOffset::from_js_timezone_offset(5000.0), UtcOffset::UTC);
    }
}
