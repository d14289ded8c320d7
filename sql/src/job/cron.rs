//! Five-field cron expressions (minute, hour, day of month, month, day of week; UTC): `*`, numbers, lists, ranges
//! and steps (`*/15`, `1-5`, `0,30`), and the nicknames `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`.
//! As in cron, when both day fields are restricted a day matches either. It lives with the job-file dialect
//! because a `--! schedule` directive is only valid when its expression is; evaluating it (the ticks) is the
//! same type's other half.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed cron expression; it ticks on whole UTC minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_restricted: bool,
    weekdays_restricted: bool,
    text: String,
}

fn field(text: &str, lo: u32, hi: u32, name: &str) -> Result<Vec<bool>, String> {
    let mut set = vec![false; hi as usize + 1];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step '{s}' in the {name} field"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("a step of 0 in the {name} field"));
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = a.parse().map_err(|_| format!("bad value '{a}' in the {name} field"))?;
            let b = b.parse().map_err(|_| format!("bad value '{b}' in the {name} field"))?;
            (a, b)
        } else {
            let a = range
                .parse()
                .map_err(|_| format!("bad value '{range}' in the {name} field"))?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{range} is outside {lo}-{hi} in the {name} field"));
        }
        for v in (a..=b).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl Cron {
    /// Parse an expression; the error says what is wrong with it, for the caller to locate.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let expanded = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(format!(
                "'{text}' is not a cron expression: five fields (minute hour day month weekday) expected"
            ));
        };
        let mut weekdays = field(dow, 0, 7, "weekday")?;
        // 7 is Sunday too.
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Cron {
            minutes: field(m, 0, 59, "minute")?,
            hours: field(h, 0, 23, "hour")?,
            days: field(dom, 1, 31, "day")?,
            months: field(mon, 1, 12, "month")?,
            weekdays,
            days_restricted: dom != "*",
            weekdays_restricted: dow != "*",
            text: text.trim().to_string(),
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn matches(&self, t: DateTime<Utc>) -> bool {
        let day = self.days[t.day() as usize];
        let weekday = self.weekdays[t.weekday().num_days_from_sunday() as usize];
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        };
        self.minutes[t.minute() as usize] && self.hours[t.hour() as usize] && self.months[t.month() as usize] && day_ok
    }

    /// The first tick strictly after `t`, within four years.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = Utc
            .with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), t.minute(), 0)
            .single()?
            + Duration::minutes(1);
        let mut at = start;
        let end = start + Duration::days(4 * 366);
        while at < end {
            if !self.months[at.month() as usize] {
                // Skip to the first minute of the next month.
                let (y, m) = if at.month() == 12 {
                    (at.year() + 1, 1)
                } else {
                    (at.year(), at.month() + 1)
                };
                at = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if self.matches(at) {
                return Some(at);
            }
            at += Duration::minutes(1);
        }
        None
    }

    /// Every tick in `(after, until]`.
    pub fn ticks(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while let Some(next) = self.next_after(t) {
            if next > until {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    /// The last tick at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t - Duration::days(32);
        let mut last = None;
        while let Some(next) = self.next_after(from) {
            if next > t {
                break;
            }
            last = Some(next);
            from = next;
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn daily_weekly_and_steps() {
        let daily = Cron::parse("0 0 * * *").unwrap();
        assert_eq!(
            daily.next_after(at("2026-01-01T12:00:00Z")),
            Some(at("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            daily
                .ticks(at("2026-01-02T00:00:00Z"), at("2026-01-05T00:00:05Z"))
                .len(),
            3
        );
        assert_eq!(
            daily.last_at_or_before(at("2026-01-01T12:00:00Z")),
            Some(at("2026-01-01T00:00:00Z"))
        );
        let weekdays = Cron::parse("30 21 * * 1-5").unwrap();
        // 2026-01-02 is a Friday: the next tick after it is Monday.
        assert_eq!(
            weekdays.next_after(at("2026-01-02T22:00:00Z")),
            Some(at("2026-01-05T21:30:00Z"))
        );
        let quarter = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            quarter.next_after(at("2026-01-01T00:16:00Z")),
            Some(at("2026-01-01T00:30:00Z"))
        );
        assert_eq!(
            Cron::parse("@monthly").unwrap().next_after(at("2026-01-15T00:00:00Z")),
            Some(at("2026-02-01T00:00:00Z"))
        );
        assert!(Cron::parse("0 0 * *").unwrap_err().contains("five fields"));
        assert!(Cron::parse("61 0 * * *").unwrap_err().contains("minute"));
    }
}
