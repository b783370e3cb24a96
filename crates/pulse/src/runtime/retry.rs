//! [`RetryPolicy`]: how often and how patiently a command is retried before it is dead-lettered.

use std::time::Duration;

use rand::Rng;

/// Retries before dead-lettering: up to `max_attempts` runs, waiting an exponentially growing,
/// capped and jittered backoff between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// Three attempts, 100 ms then 200 ms apart (each jittered down to half), capped at 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retries() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// `max_attempts` runs in all (at least 1; 0 counts as 1); 3 by default.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait after the first failure; it doubles after each further one. 100 ms by default.
    #[must_use]
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between two attempts; 5 s by default.
    #[must_use]
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Whether each wait is drawn at random between half and all of the backoff, so that many
    /// failing callers do not retry in lockstep. On by default.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many runs in all.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let full = self.initial_backoff.saturating_mul(1_u32 << doublings).min(self.max_backoff);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default()
            .jitter(false)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(700));
        let mut rng = StdRng::seed_from_u64(1);
        let waits: Vec<_> = (1..=5).map(|attempt| policy.backoff(attempt, &mut rng).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
        assert_eq!(policy.backoff(u32::MAX, &mut rng), Duration::from_millis(700));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_backoff() {
        let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(1000));
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let wait = policy.backoff(1, &mut rng);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1000)).contains(&wait), "{wait:?}");
        }
    }

    #[test]
    fn at_least_one_attempt() {
        assert_eq!(RetryPolicy::default().max_attempts(0).attempts(), 1);
        assert_eq!(RetryPolicy::no_retries().attempts(), 1);
        assert_eq!(RetryPolicy::default().attempts(), 3);
    }
}
