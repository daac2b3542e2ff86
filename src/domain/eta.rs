//! An ETA that counts down between the estimates a car's positions bring, without jumping.
//!
//! Positions arrive about once a second and each gives a fresh estimate, which wobbles with the
//! traffic and the route. Shown as is, the ETA would stand still between positions and leap at
//! each one. Instead the countdown runs with the clock, and a new estimate only bends it: the
//! shown value glides to the estimate over `SETTLE_MS` while time keeps taking its seconds off.

/// How long a new estimate takes to be fully believed.
pub const SETTLE_MS: f64 = 8_000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Countdown {
    /// What was shown when the last estimate came.
    from_s: f64,
    /// The last estimate.
    to_s: f64,
    /// When it came, on the caller's clock (milliseconds).
    since_ms: f64,
}

impl Countdown {
    /// A countdown that starts at `estimate_s` now.
    pub fn new(estimate_s: u64, now_ms: f64) -> Self {
        let s = estimate_s as f64;
        Self {
            from_s: s,
            to_s: s,
            since_ms: now_ms,
        }
    }

    /// Seconds left at `now_ms`, never below zero.
    pub fn left_s(&self, now_ms: f64) -> f64 {
        let elapsed_ms = (now_ms - self.since_ms).max(0.0);
        let believed = (elapsed_ms / SETTLE_MS).min(1.0);
        let aimed = self.from_s + (self.to_s - self.from_s) * believed;
        (aimed - elapsed_ms / 1000.0).max(0.0)
    }

    /// A fresh estimate at `now_ms`: the countdown carries on from what it shows now.
    pub fn observe(&mut self, estimate_s: u64, now_ms: f64) {
        *self = Self {
            from_s: self.left_s(now_ms),
            to_s: estimate_s as f64,
            since_ms: now_ms,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_news_it_counts_down_with_the_clock_to_zero() {
        let c = Countdown::new(120, 1_000.0);
        assert_eq!(c.left_s(1_000.0), 120.0);
        assert_eq!(c.left_s(11_000.0), 110.0);
        assert_eq!(c.left_s(500_000.0), 0.0);
        // A clock that steps back shows the start, not more.
        assert_eq!(c.left_s(0.0), 120.0);
    }

    #[test]
    fn a_new_estimate_bends_the_countdown_without_a_step() {
        let mut c = Countdown::new(300, 0.0);
        let before = c.left_s(10_000.0);
        c.observe(200, 10_000.0);
        // The instant it comes, the shown value is unchanged.
        assert_eq!(c.left_s(10_000.0), before);
        // And once settled, it is the estimate less the time since.
        let settled = c.left_s(10_000.0 + SETTLE_MS);
        assert!((settled - (200.0 - SETTLE_MS / 1000.0)).abs() < 1e-9);
    }

    #[test]
    fn a_car_a_little_slower_than_the_estimate_never_makes_it_rise() {
        // Positions every second; each estimate is 0.6 s lower than the last (the car covers
        // 0.6 s of its route per second), plus noise of up to two seconds either way.
        let mut c = Countdown::new(600, 0.0);
        let mut shown = c.left_s(0.0);
        for second in 1..=300u64 {
            let noise = [0.0, 2.0, -2.0, 1.0][(second % 4) as usize];
            let estimate = (600.0 - 0.6 * second as f64 + noise).round() as u64;
            for tick in 1..=4 {
                let now = (second - 1) as f64 * 1000.0 + f64::from(tick) * 250.0;
                let next = c.left_s(now);
                assert!(
                    next <= shown + 1e-9,
                    "rose from {shown} to {next} at {now} ms"
                );
                assert!(
                    shown - next < 1.5,
                    "leapt from {shown} to {next} at {now} ms"
                );
                shown = next;
            }
            c.observe(estimate, second as f64 * 1000.0);
        }
        // And it stays near the estimates: within the settling gap.
        assert!((shown - (600.0 - 0.6 * 300.0)).abs() < 10.0, "{shown}");
    }

    #[test]
    fn a_detour_raises_the_countdown_gradually() {
        let mut c = Countdown::new(60, 0.0);
        c.observe(300, 1_000.0);
        let mut shown = c.left_s(1_000.0);
        for tick in 1..=40 {
            let next = c.left_s(1_000.0 + f64::from(tick) * 250.0);
            assert!((next - shown).abs() < 8.0, "{shown} -> {next}");
            shown = next;
        }
        assert!(shown > 250.0, "{shown}");
    }
}
