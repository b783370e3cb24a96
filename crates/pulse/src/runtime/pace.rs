//! [`Pace`]: a token bucket that spaces work out to a rate per second.

use std::time::Duration;

use tokio::time::Instant;

/// Hands out permits at `rate` per second, with bursts of up to `burst`.
#[derive(Debug)]
pub(crate) struct Pace {
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl Pace {
    /// A pace of `rate` permits a second (`None`: unlimited) and bursts of `burst`.
    pub(crate) fn new(rate: Option<f64>, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: rate.filter(|r| r.is_finite() && *r > 0.0),
            burst,
            tokens: 1.0,
            refilled: Instant::now(),
        }
    }

    /// Waits until at least one permit is free, then takes up to `wanted` (at least 1).
    pub(crate) async fn take(&mut self, wanted: u32) -> u32 {
        let Some(rate) = self.rate else {
            return wanted.max(1);
        };
        loop {
            let now = Instant::now();
            let earned = now.duration_since(self.refilled).as_secs_f64() * rate;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.refilled = now;
            if self.tokens >= 1.0 {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "1 <= tokens <= burst <= u32::MAX"
                )]
                let taken = (self.tokens.floor() as u32).min(wanted.max(1));
                self.tokens -= f64::from(taken);
                return taken;
            }
            tokio::time::sleep(Duration::from_secs_f64((1.0 - self.tokens) / rate)).await;
        }
    }
}

impl Pace {
    /// Gives back permits taken but not used.
    pub(crate) fn refund(&mut self, unused: u32) {
        self.tokens = (self.tokens + f64::from(unused)).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn permits_come_at_the_rate() {
        let start = Instant::now();
        let mut pace = Pace::new(Some(10.0), 1);
        for _ in 0..21 {
            assert_eq!(pace.take(5).await, 1);
        }
        // The first permit is free; the next twenty come 100 ms apart.
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_pace_never_waits() {
        let start = Instant::now();
        let mut pace = Pace::new(None, 1);
        assert_eq!(pace.take(7).await, 7);
        assert_eq!(Instant::now(), start);
    }
}
