//! Row-at-a-time accumulators for `min_by` / `max_by`: one group (no GROUP BY, windows), and any value or key
//! type the vectorized accumulator does not take (strings, lists, decimals as keys), compared as `ScalarValue`s.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, new_empty_array};
use std::sync::Mutex;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::groups::{Direction, Nulls, Rule};

/// The vectorized accumulator run for a single group, so both paths share one state layout. (Behind a mutex
/// only because `Accumulator` must be `Sync`; every method has `&mut self`, so it is never contended.)
pub(crate) struct OneGroup {
    inner: Mutex<Box<dyn GroupsAccumulator>>,
    value_type: DataType,
}

impl std::fmt::Debug for OneGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneGroup")
            .field("value_type", &self.value_type)
            .finish()
    }
}

impl OneGroup {
    pub(crate) fn new(inner: Box<dyn GroupsAccumulator>, value_type: DataType) -> Self {
        Self {
            inner: Mutex::new(inner),
            value_type,
        }
    }

    fn inner(&mut self) -> &mut Box<dyn GroupsAccumulator> {
        // A poisoned lock only means a panic elsewhere: the accumulator itself is still whole.
        self.inner.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// The group's state arrays (one row each), leaving the accumulator as it was: windows evaluate repeatedly.
    fn peek(&mut self) -> Result<Vec<ArrayRef>> {
        // Merging nothing into one group makes sure the group exists, even before any row.
        let empty = [
            new_empty_array(&self.value_type),
            new_empty_array(&DataType::Int64),
            new_empty_array(&DataType::Boolean),
        ];
        let inner = self.inner();
        inner.merge_batch(&empty, &[], 1)?;
        let state = inner.state(EmitTo::All)?;
        inner.merge_batch(&state, &[0], 1)?;
        Ok(state)
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map_or(0, |v| v.len());
        self.inner().update_batch(values, &vec![0; n], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&self.peek()?[0], 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.inner.lock().map_or(0, |g| g.size())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.peek()?.iter().map(|a| ScalarValue::try_from_array(a, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map_or(0, |v| v.len());
        self.inner().merge_batch(states, &vec![0; n], 1)
    }
}

/// Any value and key type, one group: the winner's key and value as `ScalarValue`s.
#[derive(Debug)]
pub(crate) struct ByRow {
    rule: Rule,
    value_type: DataType,
    key_type: DataType,
    best: Option<(ScalarValue, ScalarValue)>,
}

impl ByRow {
    pub(crate) fn new(rule: Rule, value_type: DataType, key_type: DataType) -> Self {
        Self {
            rule,
            value_type,
            key_type,
            best: None,
        }
    }

    fn beats(&self, key: &ScalarValue) -> bool {
        match &self.best {
            None => !(key.is_null() && self.rule.nulls == Nulls::Skip),
            Some((current, _)) => match (current.is_null(), key.is_null()) {
                (false, true) => self.rule.nulls == Nulls::Win,
                (true, true) => false,
                (true, false) => self.rule.nulls == Nulls::Lose,
                (false, false) => match (self.rule.direction, key.partial_cmp(current)) {
                    (Direction::Min, Some(o)) => o.is_lt(),
                    (Direction::Max, Some(o)) => o.is_gt(),
                    (_, None) => false,
                },
            },
        }
    }

    fn fold(&mut self, values: &ArrayRef, keys: &ArrayRef, take: impl Fn(usize) -> bool) -> Result<()> {
        for i in 0..values.len() {
            if !take(i) {
                continue;
            }
            let key = ScalarValue::try_from_array(keys, i)?;
            if self.beats(&key) {
                self.best = Some((key, ScalarValue::try_from_array(values, i)?));
            }
        }
        Ok(())
    }
}

impl Accumulator for ByRow {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.fold(&values[0], &values[1], |_| true)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match &self.best {
            Some((_, value)) => Ok(value.clone()),
            None => ScalarValue::try_from(&self.value_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.best.as_ref().map_or(0, |(k, v)| k.size() + v.size())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match &self.best {
            Some((key, value)) => vec![value.clone(), key.clone(), ScalarValue::Boolean(Some(true))],
            None => vec![
                ScalarValue::try_from(&self.value_type)?,
                ScalarValue::try_from(&self.key_type)?,
                ScalarValue::Boolean(Some(false)),
            ],
        })
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let seen: &BooleanArray = states[2].as_boolean();
        self.fold(&states[0], &states[1], |i| seen.is_valid(i) && seen.value(i))
    }
}
