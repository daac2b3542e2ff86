//! Latency summaries.

use serde_json::{json, Value};

/// p50, p90, p99, p99.9 and max of latencies in microseconds, as milliseconds.
pub fn summary(samples: &mut [u32]) -> Value {
    if samples.is_empty() {
        return json!(null);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        ms(samples[i])
    };
    json!({
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": ms(samples[samples.len() - 1]),
    })
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).rev().map(|ms| ms * 1000).collect();
        let s = summary(&mut samples);
        assert_eq!(s["p50"], 500.0);
        assert_eq!(s["p99"], 990.0);
        assert_eq!(s["p999"], 999.0);
        assert_eq!(s["max"], 1000.0);
        assert_eq!(summary(&mut []), Value::Null);
    }
}
