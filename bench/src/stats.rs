//! Throughput, latency percentiles and the ratio of a ferry figure to its raw
//! limit, formatted the same way by every scenario.

use std::time::Duration;

/// The goal: ferry reaches at least half of the raw limit.
pub const GOAL: f64 = 0.5;

/// Operations per second.
pub fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Per-operation latencies, sorted for percentile look-ups.
#[derive(Debug, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    /// The nearest-rank percentile: the smallest sample that at least `p`
    /// percent of the samples do not exceed.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// `p50 4.1 ms, p99 12 ms`
    pub fn summary(&self) -> String {
        format!("p50 {}, p99 {}", ms(self.percentile(50.0)), ms(self.percentile(99.0)))
    }
}

/// A rate with precision that suits its size: `12.3`, `850`, `14200`.
pub fn rate(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// A duration in milliseconds with two significant digits or more.
pub fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// A ferry figure divided by its raw limit.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub label: String,
    pub value: f64,
}

impl Ratio {
    pub fn new(label: impl Into<String>, ferry: f64, raw: f64) -> Self {
        Self {
            label: label.into(),
            value: ferry / raw.max(1e-9),
        }
    }

    pub fn meets_goal(&self) -> bool {
        self.value >= GOAL
    }

    /// `ratio 0.61 (goal >= 0.5)`, flagged when the goal is missed.
    pub fn describe(&self) -> String {
        let flag = if self.meets_goal() { "" } else { "  MISSES GOAL" };
        format!("ratio {:.2} (goal >= {GOAL}){flag}", self.value)
    }
}

/// The closing line: how many ratios meet the goal, naming those that do not.
pub fn verdict(ratios: &[Ratio]) -> String {
    let missed: Vec<&str> = ratios
        .iter()
        .filter(|r| !r.meets_goal())
        .map(|r| r.label.as_str())
        .collect();
    let met = ratios.len() - missed.len();
    if missed.is_empty() {
        format!("goal met: {met} of {} ratios >= {GOAL}", ratios.len())
    } else {
        format!(
            "goal met: {met} of {} ratios >= {GOAL}; missed: {}",
            ratios.len(),
            missed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latencies::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(l.percentile(50.0), Duration::from_millis(50));
        assert_eq!(l.percentile(99.0), Duration::from_millis(99));
        assert_eq!(l.percentile(100.0), Duration::from_millis(100));
        assert_eq!(Latencies::new(vec![]).percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn ratio_against_goal() {
        assert!(Ratio::new("a", 61.0, 100.0).meets_goal());
        assert!(!Ratio::new("b", 49.0, 100.0).meets_goal());
        assert_eq!(
            verdict(&[Ratio::new("a", 1.0, 1.0), Ratio::new("b", 1.0, 4.0)]),
            "goal met: 1 of 2 ratios >= 0.5; missed: b"
        );
    }
}
