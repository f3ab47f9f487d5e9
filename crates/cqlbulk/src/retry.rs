//! How long to wait before trying a failed request again, for reads and writes alike:
//! doubling from a first pause up to a cap, with jitter so that workers that failed
//! together (a node went down under all of them) do not come back in step.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The pause before the first retry (before jitter).
    pub first: Duration,
    /// No pause is longer than this.
    pub max: Duration,
}

impl Backoff {
    /// A scan pauses after each pass over a split's replicas: every replica was just tried.
    pub const SCAN: Backoff = Backoff { first: Duration::from_millis(400), max: Duration::from_secs(10) };
    /// A write pauses before each new attempt at the same batch.
    pub const WRITE: Backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_secs(5) };

    /// The pause before retry number `retry` (1 for the first): `first × 2^(retry-1)`,
    /// capped at `max`, then a random point in its upper half.
    pub fn delay(&self, retry: u32) -> Duration {
        let doubled = self.first.saturating_mul(1 << retry.saturating_sub(1).min(20));
        let base = doubled.min(self.max);
        base / 2 + base.mul_f64(rand::random::<f64>() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_within_their_upper_half() {
        for retry in 1..40 {
            let base = (Backoff::WRITE.first * 2u32.pow((retry - 1).min(20))).min(Backoff::WRITE.max);
            let delay = Backoff::WRITE.delay(retry);
            assert!(delay >= base / 2 && delay <= base, "retry {retry}: {delay:?} for base {base:?}");
        }
        assert!(Backoff::SCAN.delay(100) <= Backoff::SCAN.max);
    }
}
