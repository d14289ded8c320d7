//! Calendar rules: the [`ExchangeCalendar`] trait and the date rules holiday schedules are written in.
//!
//! A leaf of `calendar`: it imports nothing from its parent or its siblings (only `chrono`), so every calendar
//! (`nyse`) and the session index (`index`) build on it without an import circle. [`nth_weekday`] and
//! [`easter_sunday`] are pure functions of their arguments (no table, no I/O), and the trait's provided methods
//! never count a Saturday or a Sunday as a session.

use chrono::{Datelike, NaiveDate, Weekday};

/// A calendar of regular trading sessions.
pub trait ExchangeCalendar: Send + Sync {
    /// Short exchange code, e.g. `XNYS`.
    fn code(&self) -> &'static str;

    /// Full-day closures in `year` (weekends excluded), with their names, in date order.
    fn holidays(&self, year: i32) -> Vec<(NaiveDate, &'static str)>;

    /// Whether `date` is a regular trading session.
    fn is_session(&self, date: NaiveDate) -> bool {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return false;
        }
        !self.holidays(date.year()).iter().any(|(d, _)| *d == date)
    }

    /// All sessions in `[start, end]`, in order.
    fn sessions(&self, start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut year = i32::MIN;
        let mut holidays = Vec::new();
        for date in start.iter_days().take_while(|d| *d <= end) {
            if date.year() != year {
                year = date.year();
                holidays = self.holidays(year).into_iter().map(|(d, _)| d).collect();
            }
            let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            if !weekend && !holidays.contains(&date) {
                out.push(date);
            }
        }
        out
    }
}

/// The `n`-th (1-based) `weekday` of `month`, or the last one when `n == 0`.
pub(crate) fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    if n == 0 {
        let next_month = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        };
        let mut d = next_month.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MIN);
        while d.weekday() != weekday {
            d = d.pred_opt().unwrap_or(NaiveDate::MIN);
        }
        return d;
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).unwrap_or(NaiveDate::MIN)
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm.
pub(crate) fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_dates_match_published_tables() {
        assert_eq!(easter_sunday(2019), d(2019, 4, 21));
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2025), d(2025, 4, 20));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25));
    }

    #[test]
    fn nth_and_last_weekday() {
        assert_eq!(nth_weekday(2024, 1, Weekday::Mon, 3), d(2024, 1, 15));
        assert_eq!(nth_weekday(2024, 5, Weekday::Mon, 0), d(2024, 5, 27));
        assert_eq!(nth_weekday(2024, 11, Weekday::Thu, 4), d(2024, 11, 28));
    }
}
