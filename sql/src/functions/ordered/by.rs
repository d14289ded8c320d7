//! What `min_by` and `max_by` share: argument checking, the state layout, and the choice between the vectorized
//! accumulator (primitive values, keys with an order-preserving `i64` encoding) and the row-at-a-time one.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use super::groups::{self, Direction, Nulls, Rule};
use super::keys;
use super::rows::{ByRow, OneGroup};

/// `min_by` or `max_by`: the value of the row with the smallest (largest) key.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ByAggregate {
    name: &'static str,
    direction: Direction,
    signature: Signature,
    doc: Documentation,
}

impl ByAggregate {
    pub(super) fn new(name: &'static str, direction: Direction, doc: Documentation) -> Self {
        Self {
            name,
            direction,
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }

    /// The function's name (`min_by`, `max_by`).
    pub fn function_name(&self) -> &'static str {
        self.name
    }
}

/// Whether the vectorized accumulator takes these value and key types.
fn vectorized(value: &DataType, key: &DataType) -> bool {
    groups::supported(value) && keys::encodable(key)
}

/// How NULL keys count: ignored with two arguments; with a third, whether they beat every other key.
fn nulls(args: &AccumulatorArgs) -> Result<Nulls> {
    let Some(flag) = args.exprs.get(2) else {
        return Ok(Nulls::Skip);
    };
    match flag.downcast_ref::<Literal>().map(Literal::value) {
        Some(ScalarValue::Boolean(Some(true))) => Ok(Nulls::Win),
        Some(ScalarValue::Boolean(Some(false))) => Ok(Nulls::Lose),
        _ => plan_err!("{}: argument 3 (nulls_win) must be TRUE or FALSE", args.name),
    }
}

impl AggregateUDFImpl for ByAggregate {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name;
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "{name}(value, key [, nulls_win]): expected 2 or 3 arguments, got {}",
                arg_types.len()
            );
        }
        if arg_types[1].is_nested() {
            return plan_err!("{name}: argument 2 (key) must be orderable, got {}", arg_types[1]);
        }
        if arg_types
            .get(2)
            .is_some_and(|t| !matches!(t, DataType::Boolean | DataType::Null))
        {
            return plan_err!("{name}: argument 3 (nulls_win) must be BOOLEAN, got {}", arg_types[2]);
        }
        let mut out = arg_types.to_vec();
        if out.len() == 3 {
            out[2] = DataType::Boolean;
        }
        Ok(out)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let (value, key) = (args.input_fields[0].data_type(), args.input_fields[1].data_type());
        let key_state = if vectorized(value, key) {
            DataType::Int64
        } else {
            key.clone()
        };
        let f = |s: &str, t: DataType| Arc::new(Field::new(format_state_name(args.name, s), t, true));
        Ok(vec![
            f("value", value.clone()),
            f("key", key_state),
            f("seen", DataType::Boolean),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let rule = Rule {
            direction: self.direction,
            nulls: nulls(&args)?,
        };
        let (value, key) = (args.expr_fields[0].data_type(), args.expr_fields[1].data_type());
        match groups::for_type(rule, value).filter(|_| keys::encodable(key)) {
            Some(inner) => Ok(Box::new(OneGroup::new(inner, value.clone()))),
            None => Ok(Box::new(ByRow::new(rule, value.clone(), key.clone()))),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        vectorized(args.expr_fields[0].data_type(), args.expr_fields[1].data_type())
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let rule = Rule {
            direction: self.direction,
            nulls: nulls(&args)?,
        };
        let value = args.expr_fields[0].data_type();
        match groups::for_type(rule, value) {
            Some(g) => Ok(g),
            None => plan_err!("{}: no vectorized accumulator for {value}", self.name),
        }
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}
