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

    /// All samples of several runs together.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Latencies>) -> Self {
        Self::new(
            parts
                .into_iter()
                .flat_map(|l| l.0.iter().copied())
                .collect(),
        )
    }

    /// `p50 4.1 ms, p99 12 ms`
    pub fn summary(&self) -> String {
        format!(
            "p50 {}, p99 {}",
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0))
        )
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

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The lowest and highest of some values, when there are at least two (a
/// single round has no range to speak of).
pub fn range(values: &[f64]) -> Option<(f64, f64)> {
    (values.len() > 1).then(|| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    })
}

/// The median of per-round rates with their range: `1318 (1201-1400)`, or
/// the lone figure of a single round.
pub fn rate_with_range(rates: &[f64]) -> String {
    match range(rates) {
        Some((lo, hi)) => format!("{} ({}-{})", rate(median(rates)), rate(lo), rate(hi)),
        None => rate(median(rates)),
    }
}

/// A ferry figure divided by its raw limit.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub label: String,
    pub value: f64,
    /// The lowest and highest ratio of the rounds, when there were several.
    pub spread: Option<(f64, f64)>,
}

impl Ratio {
    pub fn new(label: impl Into<String>, ferry: f64, raw: f64) -> Self {
        Self {
            label: label.into(),
            value: ferry / raw.max(1e-9),
            spread: None,
        }
    }

    /// The median of per-round ratios, each of a ferry figure and the raw
    /// figure measured right beside it. Pairing rounds this way cancels most
    /// of the drift of a shared machine (disk latency here varies several
    /// times over within minutes), which a ratio of overall medians would not.
    pub fn from_rounds(label: impl Into<String>, pairs: &[(f64, f64)]) -> Self {
        let ratios: Vec<f64> = pairs
            .iter()
            .map(|(ferry, raw)| ferry / raw.max(1e-9))
            .collect();
        Self {
            label: label.into(),
            value: median(&ratios),
            spread: range(&ratios),
        }
    }

    pub fn meets_goal(&self) -> bool {
        self.value >= GOAL
    }

    /// `ratio 0.61 (goal >= 0.5)`, flagged when the goal is missed.
    pub fn describe(&self) -> String {
        let flag = if self.meets_goal() {
            ""
        } else {
            "  MISSES GOAL"
        };
        let spread = self
            .spread
            .map(|(lo, hi)| format!("; rounds {lo:.2}-{hi:.2}"))
            .unwrap_or_default();
        format!("ratio {:.2} (goal >= {GOAL}{spread}){flag}", self.value)
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
    fn medians_and_paired_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let r = Ratio::from_rounds("x", &[(1.0, 2.0), (3.0, 4.0), (1.0, 4.0)]);
        assert_eq!(r.value, 0.5);
        assert_eq!(r.spread, Some((0.25, 0.75)));
        assert_eq!(r.describe(), "ratio 0.50 (goal >= 0.5; rounds 0.25-0.75)");
    }

    #[test]
    fn ranges_of_rounds() {
        assert_eq!(range(&[3.0]), None);
        assert_eq!(range(&[3.0, 1.0, 2.0]), Some((1.0, 3.0)));
        assert_eq!(
            rate_with_range(&[1200.4, 1318.0, 1401.0]),
            "1318 (1200-1401)"
        );
        assert_eq!(rate_with_range(&[58.24]), "58.2");
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
