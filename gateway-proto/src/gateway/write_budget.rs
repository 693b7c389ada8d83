//! The reference's control-plane write budget: `config.patch` and
//! `config.apply` may be called 30 times per 60 s window per (method,
//! device or client address); more are answered UNAVAILABLE with the time
//! left in the window.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::time::Timestamp;

pub(crate) const WINDOW: Duration = Duration::from_secs(60);
pub(crate) const MAX_CALLS: u32 = 30;
/// Most buckets kept: past it the oldest window goes (bounded memory
/// whatever keys clients make up).
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct WriteBudget {
    buckets: BTreeMap<(&'static str, String), (Timestamp, u32)>,
}

impl WriteBudget {
    /// Count one call; `Err` is how long until the window ends.
    pub(crate) fn consume(
        &mut self,
        method: &'static str,
        who: String,
        now: Timestamp,
    ) -> Result<(), Duration> {
        let key = (method, who);
        match self.buckets.get_mut(&key) {
            Some((start, count)) if now.saturating_duration_since(*start) < WINDOW => {
                if *count >= MAX_CALLS {
                    return Err(WINDOW.saturating_sub(now.saturating_duration_since(*start)));
                }
                *count += 1;
            }
            Some(bucket) => *bucket = (now, 1),
            None => {
                if self.buckets.len() >= MAX_BUCKETS {
                    let oldest = self
                        .buckets
                        .iter()
                        .min_by_key(|(_, (start, _))| *start)
                        .map(|(k, _)| k.clone());
                    if let Some(oldest) = oldest {
                        self.buckets.remove(&oldest);
                    }
                }
                self.buckets.insert(key, (now, 1));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_per_window_per_method_and_client() {
        let mut budget = WriteBudget::default();
        let t0 = Timestamp::from_elapsed(Duration::from_secs(1));
        for _ in 0..MAX_CALLS {
            assert_eq!(budget.consume("config.patch", "a".into(), t0), Ok(()));
        }
        let later = t0 + Duration::from_secs(15);
        assert_eq!(
            budget.consume("config.patch", "a".into(), later),
            Err(Duration::from_secs(45))
        );
        assert_eq!(budget.consume("config.apply", "a".into(), later), Ok(()));
        assert_eq!(budget.consume("config.patch", "b".into(), later), Ok(()));
        assert_eq!(
            budget.consume("config.patch", "a".into(), t0 + WINDOW),
            Ok(())
        );
    }
}
