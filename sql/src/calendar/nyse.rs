//! New York Stock Exchange full-day closures.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::rules::{ExchangeCalendar, easter_sunday, nth_weekday};

/// NYSE regular sessions: weekdays minus the exchange's holidays and unscheduled closures.
///
/// Rules follow NYSE Rule 7.2 as applied since 1998 (when Martin Luther King Jr. Day was added), with the fixed
/// dates of Washington's Birthday and Memorial Day before 1971 and the closures no rule predicts. A holiday on a
/// Saturday is observed on the Friday before, on a Sunday the Monday after, except New Year's Day on a Saturday,
/// which is not observed (the Friday closes a fiscal year).
#[derive(Debug, Clone, Copy, Default)]
pub struct Nyse;

/// Closures that no rule predicts (presidential elections until 1980, national mourning, weather, blackout,
/// 9/11).
const SPECIAL_CLOSURES: &[((i32, u32, u32), &str)] = &[
    ((1972, 11, 7), "Presidential Election Day"),
    ((1972, 12, 28), "National Day of Mourning (Truman)"),
    ((1973, 1, 25), "National Day of Mourning (Johnson)"),
    ((1976, 11, 2), "Presidential Election Day"),
    ((1977, 7, 14), "New York City blackout"),
    ((1980, 11, 4), "Presidential Election Day"),
    ((1985, 9, 27), "Hurricane Gloria"),
    ((1994, 4, 27), "National Day of Mourning (Nixon)"),
    ((2001, 9, 11), "September 11 attacks"),
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "National Day of Mourning (Reagan)"),
    ((2007, 1, 2), "National Day of Mourning (Ford)"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    ((2018, 12, 5), "National Day of Mourning (G. H. W. Bush)"),
    ((2025, 1, 9), "National Day of Mourning (Carter)"),
];

fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

impl ExchangeCalendar for Nyse {
    fn code(&self) -> &'static str {
        "XNYS"
    }

    fn holidays(&self, year: i32) -> Vec<(NaiveDate, &'static str)> {
        let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d).unwrap_or(NaiveDate::MIN);
        let mut out = Vec::with_capacity(12);
        let new_year = ymd(1, 1);
        if new_year.weekday() != Weekday::Sat {
            out.push((observed(new_year), "New Year's Day"));
        }
        if year >= 1998 {
            out.push((nth_weekday(year, 1, Weekday::Mon, 3), "Martin Luther King Jr. Day"));
        }
        // The Uniform Monday Holiday Act moved these to Mondays from 1971; before, the dates themselves were
        // closed (a Sunday's on the Monday after, a Saturday's not at all).
        let fixed = |m, d| match ymd(m, d).weekday() {
            Weekday::Sat => None,
            _ => Some(observed(ymd(m, d))),
        };
        match year >= 1971 {
            true => out.push((nth_weekday(year, 2, Weekday::Mon, 3), "Washington's Birthday")),
            false => out.extend(fixed(2, 22).map(|d| (d, "Washington's Birthday"))),
        }
        out.push((easter_sunday(year) - Duration::days(2), "Good Friday"));
        match year >= 1971 {
            true => out.push((nth_weekday(year, 5, Weekday::Mon, 0), "Memorial Day")),
            false => out.extend(fixed(5, 30).map(|d| (d, "Memorial Day"))),
        }
        if year >= 2022 {
            out.push((observed(ymd(6, 19)), "Juneteenth National Independence Day"));
        }
        out.push((observed(ymd(7, 4)), "Independence Day"));
        out.push((nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"));
        out.push((nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"));
        out.push((observed(ymd(12, 25)), "Christmas Day"));
        for ((y, m, d), name) in SPECIAL_CLOSURES {
            if *y == year {
                out.push((ymd(*m, *d), name));
            }
        }
        // New Year's Day of next year observed on Dec 31 never happens (see the Saturday rule above).
        out.retain(|(d, _)| d.year() == year);
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn holidays_2024_match_the_published_nyse_schedule() {
        let got: Vec<NaiveDate> = Nyse.holidays(2024).into_iter().map(|(d, _)| d).collect();
        let want = vec![
            d(2024, 1, 1),
            d(2024, 1, 15),
            d(2024, 2, 19),
            d(2024, 3, 29),
            d(2024, 5, 27),
            d(2024, 6, 19),
            d(2024, 7, 4),
            d(2024, 9, 2),
            d(2024, 11, 28),
            d(2024, 12, 25),
        ];
        assert_eq!(got, want);
    }

    /// Closures before 1995 that no rule of today predicts, as the NYSE's history (and `exchange_calendars`) has
    /// them: election days, mourning days, the 1977 blackout, Hurricane Gloria, the holidays before 1971.
    #[test]
    fn historic_closures_are_not_sessions() {
        for (y, m, day) in [
            (1970, 2, 23),
            (1972, 11, 7),
            (1972, 12, 28),
            (1973, 1, 25),
            (1976, 11, 2),
            (1977, 7, 14),
            (1980, 11, 4),
            (1985, 9, 27),
            (1994, 4, 27),
        ] {
            assert!(!Nyse.is_session(d(y, m, day)), "{y}-{m}-{day}");
        }
        for (y, m, day) in [(1970, 2, 16), (1970, 5, 25), (1970, 5, 29), (1971, 2, 22)] {
            assert!(Nyse.is_session(d(y, m, day)), "{y}-{m}-{day}");
        }
        assert!(!Nyse.is_session(d(1971, 2, 15)) && !Nyse.is_session(d(1971, 5, 31)));
    }

    #[test]
    fn saturday_new_year_is_not_observed_and_weekend_holidays_shift() {
        // 2022-01-01 was a Saturday: no closure on 2021-12-31.
        assert!(Nyse.is_session(d(2021, 12, 31)));
        // 2021-07-04 was a Sunday: observed Monday 2021-07-05.
        assert!(!Nyse.is_session(d(2021, 7, 5)));
        // 2022-06-19 was a Sunday: Juneteenth observed Monday 2022-06-20.
        assert!(!Nyse.is_session(d(2022, 6, 20)));
        assert!(!Nyse.is_session(d(2025, 1, 9)));
    }

    #[test]
    fn session_counts_per_year() {
        // Published NYSE session counts.
        assert_eq!(Nyse.sessions(d(2023, 1, 1), d(2023, 12, 31)).len(), 250);
        assert_eq!(Nyse.sessions(d(2024, 1, 1), d(2024, 12, 31)).len(), 252);
        assert_eq!(Nyse.sessions(d(2019, 1, 1), d(2019, 12, 31)).len(), 252);
    }
}
