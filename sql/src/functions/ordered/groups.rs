//! The vectorized accumulator behind `min_by` / `max_by`, and so behind ordered `first_value` / `last_value`
//! in a GROUP BY (planned as them, [`super::rewrite`]): per group the winning key (an order-preserving `i64`,
//! [`super::keys`]) and value in plain vectors. DataFusion's own ordered `first_value` keeps each group's order
//! key as a vector of `ScalarValue`s, which is what made plain-SQL bars slow and large.

use std::marker::PhantomData;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Int64Array, PrimitiveArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::*;
use datafusion::common::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::keys;

/// Which key wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// The smallest key (`min_by`, `first_value … ORDER BY k ASC`).
    Min,
    /// The largest key.
    Max,
}

/// What a NULL key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Nulls {
    /// Rows with a NULL key are ignored (`min_by(v, k)`).
    Skip,
    /// A NULL key beats every other key (an ordering with NULLs on the winning side).
    Win,
    /// A NULL key loses to every other key, but a group of only NULL keys still has a row.
    Lose,
}

/// Whether a candidate key beats a group's current one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) direction: Direction,
    pub(crate) nulls: Nulls,
}

impl Rule {
    #[inline]
    fn beats(self, seen: bool, current_null: bool, current: i64, new: Option<i64>) -> bool {
        match (seen, new) {
            (false, None) => self.nulls != Nulls::Skip,
            (false, Some(_)) => true,
            (true, None) => !current_null && self.nulls == Nulls::Win,
            (true, Some(_)) if current_null => self.nulls == Nulls::Lose,
            (true, Some(k)) => match self.direction {
                Direction::Min => k < current,
                Direction::Max => k > current,
            },
        }
    }
}

/// Per-group state: `seen` (a row was taken), the winner's key (`null`: a NULL key) and value.
#[derive(Debug)]
pub(crate) struct ByGroups<V: ArrowPrimitiveType> {
    rule: Rule,
    data_type: DataType,
    seen: Vec<bool>,
    key_null: Vec<bool>,
    key: Vec<i64>,
    value: Vec<V::Native>,
    valid: Vec<bool>,
    // A marker only: `fn() -> V` keeps the accumulator Send and Sync whatever `V` is.
    _value: PhantomData<fn() -> V>,
}

impl<V: ArrowPrimitiveType> ByGroups<V> {
    pub(crate) fn new(rule: Rule, data_type: DataType) -> Self {
        Self {
            rule,
            data_type,
            seen: Vec::new(),
            key_null: Vec::new(),
            key: Vec::new(),
            value: Vec::new(),
            valid: Vec::new(),
            _value: PhantomData,
        }
    }

    fn resize(&mut self, n: usize) {
        self.seen.resize(n, false);
        self.key_null.resize(n, false);
        self.key.resize(n, 0);
        self.value.resize(n, V::Native::default());
        self.valid.resize(n, false);
    }

    /// Offer group `g` the row with encoded key `k` and value `v` (`None`: NULL).
    #[inline]
    fn offer(&mut self, g: usize, k: Option<i64>, v: V::Native, valid: bool) {
        if self.rule.beats(self.seen[g], self.key_null[g], self.key[g], k) {
            self.seen[g] = true;
            self.key_null[g] = k.is_none();
            self.key[g] = k.unwrap_or(0);
            self.value[g] = v;
            self.valid[g] = valid;
        }
    }

    fn fold(&mut self, values: &PrimitiveArray<V>, keys: &Int64Array, groups: &[usize], take: impl Fn(usize) -> bool) {
        let raw = values.values();
        let no_nulls = keys.null_count() == 0 && values.null_count() == 0;
        for (i, &g) in groups.iter().enumerate() {
            if !take(i) {
                continue;
            }
            if no_nulls {
                self.offer(g, Some(keys.value(i)), raw[i], true);
            } else {
                let k = keys.is_valid(i).then(|| keys.value(i));
                self.offer(g, k, raw[i], values.is_valid(i));
            }
        }
    }

    fn values(&self, seen: &[bool], value: Vec<V::Native>, valid: &[bool]) -> ArrayRef {
        let nulls = NullBuffer::from(seen.iter().zip(valid).map(|(s, v)| *s && *v).collect::<Vec<_>>());
        Arc::new(PrimitiveArray::<V>::new(value.into(), Some(nulls)).with_data_type(self.data_type.clone()))
    }
}

impl<V: ArrowPrimitiveType> GroupsAccumulator for ByGroups<V> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let keys = keys::encode(&values[1])?;
        let take = |i: usize| opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
        self.fold(values[0].as_primitive::<V>(), &keys, group_indices, take);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let seen = emit_to.take_needed(&mut self.seen);
        let value = emit_to.take_needed(&mut self.value);
        let valid = emit_to.take_needed(&mut self.valid);
        emit_to.take_needed(&mut self.key_null);
        emit_to.take_needed(&mut self.key);
        Ok(self.values(&seen, value, &valid))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let seen = emit_to.take_needed(&mut self.seen);
        let value = emit_to.take_needed(&mut self.value);
        let valid = emit_to.take_needed(&mut self.valid);
        let key_null = emit_to.take_needed(&mut self.key_null);
        let key = emit_to.take_needed(&mut self.key);
        let key_valid = NullBuffer::from(seen.iter().zip(&key_null).map(|(s, n)| *s && !n).collect::<Vec<_>>());
        Ok(vec![
            self.values(&seen, value, &valid),
            Arc::new(Int64Array::new(key.into(), Some(key_valid))),
            Arc::new(BooleanArray::from(seen)),
        ])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.resize(total_num_groups);
        let seen = values[2].as_boolean().clone();
        let take = |i: usize| seen.is_valid(i) && seen.value(i);
        self.fold(
            values[0].as_primitive::<V>(),
            values[1].as_primitive::<Int64Type>(),
            group_indices,
            take,
        );
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row its own group: taken unless filtered out or its key is NULL and NULL keys are skipped.
        let keys = keys::encode(&values[1])?;
        let seen: BooleanArray = (0..keys.len())
            .map(|i| {
                let kept = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
                Some(kept && (keys.is_valid(i) || self.rule.nulls != Nulls::Skip))
            })
            .collect();
        let value = values[0].as_primitive::<V>();
        let taken: Vec<bool> = (0..value.len()).map(|i| seen.value(i) && value.is_valid(i)).collect();
        let value = PrimitiveArray::<V>::new(value.values().clone(), Some(NullBuffer::from(taken)))
            .with_data_type(self.data_type.clone());
        let key_valid: Vec<bool> = (0..keys.len()).map(|i| seen.value(i) && keys.is_valid(i)).collect();
        let keys = Int64Array::new(keys.values().clone(), Some(NullBuffer::from(key_valid)));
        Ok(vec![Arc::new(value), Arc::new(keys), Arc::new(seen)])
    }

    fn size(&self) -> usize {
        self.seen.capacity() * 2
            + self.valid.capacity()
            + self.key.capacity() * 8
            + self.value.capacity() * std::mem::size_of::<V::Native>()
    }
}

/// The accumulator for values of type `t`, when they are primitive.
pub(crate) fn for_type(rule: Rule, t: &DataType) -> Option<Box<dyn GroupsAccumulator>> {
    fn make<V: ArrowPrimitiveType + Send + Sync>(rule: Rule, t: &DataType) -> Option<Box<dyn GroupsAccumulator>> {
        Some(Box::new(ByGroups::<V>::new(rule, t.clone())))
    }
    use DataType::*;
    match t {
        Int8 => make::<Int8Type>(rule, t),
        Int16 => make::<Int16Type>(rule, t),
        Int32 => make::<Int32Type>(rule, t),
        Int64 => make::<Int64Type>(rule, t),
        UInt8 => make::<UInt8Type>(rule, t),
        UInt16 => make::<UInt16Type>(rule, t),
        UInt32 => make::<UInt32Type>(rule, t),
        UInt64 => make::<UInt64Type>(rule, t),
        Float32 => make::<Float32Type>(rule, t),
        Float64 => make::<Float64Type>(rule, t),
        Date32 => make::<Date32Type>(rule, t),
        Date64 => make::<Date64Type>(rule, t),
        Timestamp(TimeUnit::Second, _) => make::<TimestampSecondType>(rule, t),
        Timestamp(TimeUnit::Millisecond, _) => make::<TimestampMillisecondType>(rule, t),
        Timestamp(TimeUnit::Microsecond, _) => make::<TimestampMicrosecondType>(rule, t),
        Timestamp(TimeUnit::Nanosecond, _) => make::<TimestampNanosecondType>(rule, t),
        Decimal128(_, _) => make::<Decimal128Type>(rule, t),
        _ => None,
    }
}

/// Whether values of type `t` have the vectorized accumulator.
pub(crate) fn supported(t: &DataType) -> bool {
    for_type(
        Rule {
            direction: Direction::Min,
            nulls: Nulls::Skip,
        },
        t,
    )
    .is_some()
}
