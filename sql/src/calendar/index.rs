//! Sessions as a sorted array, for O(log n) "which session is this day, and how many sessions since X".

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};

use super::nyse::Nyse;
use super::rules::ExchangeCalendar;

/// First and last years the built-in index covers.
pub const FIRST_YEAR: i32 = 1970;
pub const LAST_YEAR: i32 = 2100;

/// Days since 1970-01-01 (Arrow's `Date32`).
pub fn days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - 719_163
}

/// The date of a `Date32` day number.
pub fn date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?)
}

/// Every session of one exchange between [`FIRST_YEAR`] and [`LAST_YEAR`], as `Date32` day numbers, with a
/// per-day table so that "which session is this day" is an array lookup (it runs once per row of a bar query).
#[derive(Debug)]
pub struct SessionIndex {
    sessions: Vec<i32>,
    /// For each day from the first session on: the position of the last session on or before it.
    floor_by_day: Vec<u32>,
}

impl SessionIndex {
    /// The index of `calendar`'s sessions from [`FIRST_YEAR`] to [`LAST_YEAR`].
    pub fn build(calendar: &dyn ExchangeCalendar) -> Self {
        let start = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1).unwrap_or(NaiveDate::MIN);
        let end = NaiveDate::from_ymd_opt(LAST_YEAR, 12, 31).unwrap_or(NaiveDate::MAX);
        let sessions: Vec<i32> = calendar.sessions(start, end).into_iter().map(days).collect();
        let mut floor_by_day = Vec::new();
        if let (Some(&first), Some(&last)) = (sessions.first(), sessions.last()) {
            let mut at = 0usize;
            for day in first..=last + 7 {
                while at + 1 < sessions.len() && sessions[at + 1] <= day {
                    at += 1;
                }
                floor_by_day.push(at as u32);
            }
        }
        Self { sessions, floor_by_day }
    }

    /// The NYSE index, built once.
    pub fn nyse() -> &'static SessionIndex {
        static INDEX: OnceLock<SessionIndex> = OnceLock::new();
        INDEX.get_or_init(|| SessionIndex::build(&Nyse))
    }

    /// Position of the last session on or before `day`, or `None` outside the covered years.
    pub fn floor(&self, day: i32) -> Option<usize> {
        let first = *self.sessions.first()?;
        let offset = usize::try_from(day.checked_sub(first)?).ok()?;
        self.floor_by_day.get(offset).map(|&i| i as usize)
    }

    /// Position of the first session on or after `day`.
    pub fn ceil(&self, day: i32) -> Option<usize> {
        let i = self.sessions.partition_point(|&s| s < day);
        (i < self.sessions.len()).then_some(i)
    }

    /// The session at position `i`.
    pub fn session(&self, i: usize) -> Option<i32> {
        self.sessions.get(i).copied()
    }

    /// How many sessions the index holds.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the index holds no session (a calendar without sessions in the covered years).
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The first session of the `n`-session bucket holding `day`, buckets counted from the first session on or
    /// after `origin`. A bucket depends only on the calendar, `n` and `origin`, never on the data, so it never
    /// moves when more data arrives.
    pub fn bucket_start(&self, day: i32, n: usize, origin: i32) -> Option<i32> {
        self.bucket_start_from(day, n, self.ceil(origin)?)
    }

    /// [`Self::bucket_start`] with the origin already resolved to a session position (once per batch).
    pub fn bucket_start_from(&self, day: i32, n: usize, origin_position: usize) -> Option<i32> {
        let at = self.floor(day)? as i64;
        let zero = origin_position as i64;
        let n = n as i64;
        let bucket = (at - zero).div_euclid(n);
        let first = zero + bucket * n;
        self.session(usize::try_from(first.max(0)).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> i32 {
        days(NaiveDate::from_ymd_opt(y, m, day).unwrap())
    }

    #[test]
    fn day_numbers_match_arrow_date32() {
        assert_eq!(d(1970, 1, 1), 0);
        assert_eq!(d(2024, 1, 2), 19724);
        assert_eq!(date(19724), NaiveDate::from_ymd_opt(2024, 1, 2));
    }

    #[test]
    fn buckets_of_three_sessions_skip_holidays_and_weekends() {
        let idx = SessionIndex::nyse();
        let origin = d(2024, 1, 2);
        // Sessions: Jan 2, 3, 4 | 5, 8, 9 | 10, 11, 12 | 16 (15th is MLK Day), ...
        assert_eq!(idx.bucket_start(d(2024, 1, 4), 3, origin), Some(d(2024, 1, 2)));
        assert_eq!(idx.bucket_start(d(2024, 1, 5), 3, origin), Some(d(2024, 1, 5)));
        assert_eq!(idx.bucket_start(d(2024, 1, 9), 3, origin), Some(d(2024, 1, 5)));
        // A weekend day belongs to the bucket of the session before it.
        assert_eq!(idx.bucket_start(d(2024, 1, 6), 3, origin), Some(d(2024, 1, 5)));
        assert_eq!(idx.bucket_start(d(2024, 1, 16), 3, origin), Some(d(2024, 1, 16)));
        // Days before the origin fall in buckets counted backwards: Dec 27, 28, 29 | Jan 2 ...
        assert_eq!(idx.bucket_start(d(2023, 12, 28), 3, origin), Some(d(2023, 12, 27)));
    }

    #[test]
    fn outside_the_index_is_none() {
        let idx = SessionIndex::nyse();
        assert_eq!(idx.floor(d(1969, 6, 1)), None);
        assert_eq!(idx.floor(d(2200, 1, 1)), None);
        assert!(idx.len() > 30_000);
    }
}
