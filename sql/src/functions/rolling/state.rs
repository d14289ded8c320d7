//! The running state of one rolling aggregate: a count, a sum and Welford's mean and M2, updated as a row enters
//! the frame and retracted as one leaves — with DataFusion's own formulas (`datafusion-functions-aggregate`'s
//! variance), so results match its sliding accumulators.

/// Which aggregate a rolling state yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Avg,
    Sum,
    Count,
    VarSamp,
    VarPop,
    StddevSamp,
    StddevPop,
}

impl Kind {
    /// The kind `name` names (`avg`, `sum`, `count`, `var_samp`, `var_pop`, `stddev_samp`, `stddev_pop`).
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "avg" => Kind::Avg,
            "sum" => Kind::Sum,
            "count" => Kind::Count,
            "var_samp" => Kind::VarSamp,
            "var_pop" => Kind::VarPop,
            "stddev_samp" => Kind::StddevSamp,
            "stddev_pop" => Kind::StddevPop,
            _ => return None,
        })
    }

    /// Whether the kind needs the mean and M2 (the variances and deviations), not only the count and sum.
    pub(crate) fn spread(self) -> bool {
        matches!(self, Kind::VarSamp | Kind::VarPop | Kind::StddevSamp | Kind::StddevPop)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Avg => "avg",
            Kind::Sum => "sum",
            Kind::Count => "count",
            Kind::VarSamp => "var_samp",
            Kind::VarPop => "var_pop",
            Kind::StddevSamp => "stddev_samp",
            Kind::StddevPop => "stddev_pop",
        }
    }
}

/// Count, sum, mean and M2 of the non-NULL values in the frame.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Running {
    count: u64,
    sum: f64,
    mean: f64,
    m2: f64,
}

impl Running {
    pub(crate) fn enter(&mut self, v: f64) {
        self.enter_as(v, true);
    }

    /// [`Running::enter`]; without `spread` only the count and the sum are kept (all `avg`, `sum` and `count`
    /// need), which saves the divisions of the mean and M2 on every row.
    #[inline]
    pub(crate) fn enter_as(&mut self, v: f64, spread: bool) {
        self.count += 1;
        self.sum += v;
        if !spread {
            return;
        }
        let delta1 = v - self.mean;
        self.mean += delta1 / self.count as f64;
        self.m2 += delta1 * (v - self.mean);
    }

    pub(crate) fn leave(&mut self, v: f64) {
        self.leave_as(v, true);
    }

    /// [`Running::leave`]; `spread` as for [`Running::enter_as`].
    #[inline]
    pub(crate) fn leave_as(&mut self, v: f64, spread: bool) {
        self.sum -= v;
        if self.count <= 1 {
            // As DataFusion's retract: one value or none left means an empty state (the sum keeps its
            // rounding residue, which only `sum` and `avg` of an emptied frame could show: they are NULL then).
            *self = Running {
                sum: 0.0,
                ..Running::default()
            };
            return;
        }
        self.count -= 1;
        if !spread {
            return;
        }
        let delta1 = self.mean - v;
        let new_mean = delta1 / self.count as f64 + self.mean;
        self.m2 -= delta1 * (new_mean - v);
        self.mean = new_mean;
    }

    /// The aggregate of the frame: `Float64` for all kinds but `Count` (an `Int64` as `f64`, never NULL).
    pub(crate) fn value(&self, kind: Kind) -> Option<f64> {
        let n = self.count;
        // Retracting can leave M2 a rounding error below zero when the frame's values are (nearly) equal;
        // DataFusion's sliding accumulator then returns the square root of a negative number, NaN. It is zero.
        let m2 = self.m2.max(0.0);
        let variance = |sample: bool| match (n, sample) {
            (0, _) | (1, true) => None,
            (1, false) => Some(0.0),
            (_, true) => Some(m2 / (n - 1) as f64),
            (_, false) => Some(m2 / n as f64),
        };
        match kind {
            Kind::Count => Some(n as f64),
            Kind::Avg => (n > 0).then(|| self.sum / n as f64),
            Kind::Sum => (n > 0).then_some(self.sum),
            Kind::VarSamp => variance(true),
            Kind::VarPop => variance(false),
            Kind::StddevSamp => variance(true).map(f64::sqrt),
            Kind::StddevPop => variance(false).map(f64::sqrt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_sliding_over_values_gives_the_aggregates_of_what_it_holds() {
        let values = [4.0, 7.0, 13.0, 16.0, 2.5, 9.0];
        let mut r = Running::default();
        for (i, v) in values.iter().enumerate() {
            r.enter(*v);
            if i >= 3 {
                r.leave(values[i - 3]);
            }
        }
        // The last three: 16, 2.5, 9.
        let held = [16.0, 2.5, 9.0];
        let mean = held.iter().sum::<f64>() / 3.0;
        let var = held.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0;
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        assert!(close(r.value(Kind::Avg), mean));
        assert!(close(r.value(Kind::Sum), 27.5));
        assert!(close(r.value(Kind::VarSamp), var));
        assert!(close(r.value(Kind::StddevPop), (var * 2.0 / 3.0).sqrt()));
        assert_eq!(r.value(Kind::Count), Some(3.0));
        let mut one = Running::default();
        one.enter(5.0);
        assert_eq!((one.value(Kind::VarSamp), one.value(Kind::VarPop)), (None, Some(0.0)));
        one.leave(5.0);
        assert_eq!((one.value(Kind::Avg), one.value(Kind::Count)), (None, Some(0.0)));
        assert!(Kind::parse("median").is_none() && Kind::parse(Kind::StddevSamp.name()) == Some(Kind::StddevSamp));
    }
}
