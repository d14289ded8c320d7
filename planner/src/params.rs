//! Job parameters: `--param name=value` strings bound to typed placeholder values.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use strata_sql::JobStatement;

use crate::error::{PlannerError, Result};

/// Parameter values as given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parse `name=value` pairs; a name may be given once.
    pub fn parse<I: IntoIterator<Item = S>, S: AsRef<str>>(pairs: I) -> Result<Self, String> {
        let mut map = HashMap::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--param {pair:?}: expected NAME=VALUE"))?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("--param {pair:?}: a name is letters, digits and '_'"));
            }
            if map.insert(name.to_string(), value.to_string()).is_some() {
                return Err(format!("--param {name} is given twice"));
            }
        }
        Ok(Self(map))
    }

    /// The raw value given for `name`; `None` when it was not given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The names given, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Set `name` to `value`, replacing any earlier value (no name check: [`parse`](Self::parse) does that).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
}

/// The literal type a value looks like when nothing in the query says what it should be.
fn infer(raw: &str) -> ScalarValue {
    if let Ok(v) = raw.parse::<i64>() {
        return ScalarValue::Int64(Some(v));
    }
    if let Ok(v) = raw.parse::<f64>() {
        return ScalarValue::Float64(Some(v));
    }
    match raw {
        "true" | "TRUE" => return ScalarValue::Boolean(Some(true)),
        "false" | "FALSE" => return ScalarValue::Boolean(Some(false)),
        _ => {}
    }
    let looks_like_date =
        raw.len() == 10 && raw.as_bytes().get(4) == Some(&b'-') && raw.as_bytes().get(7) == Some(&b'-');
    if looks_like_date && let Ok(v) = ScalarValue::try_from_string(raw.to_string(), &DataType::Date32) {
        return v;
    }
    ScalarValue::Utf8(Some(raw.to_string()))
}

/// Replace the placeholders of `plan` by typed values: the type the query gives a placeholder (from the column it is
/// compared with), else the type the value looks like.
pub fn bind(plan: LogicalPlan, stmt: &JobStatement, params: &Params) -> Result<LogicalPlan> {
    let types = plan.get_parameter_types()?;
    if types.is_empty() {
        return Ok(plan);
    }
    let mut values: HashMap<String, ScalarValue> = HashMap::with_capacity(types.len());
    for (id, ty) in types {
        let name = id.trim_start_matches('$').to_string();
        let location = stmt
            .parameters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.clone())
            .unwrap_or(stmt.location.clone());
        let Some(raw) = params.get(&name) else {
            return Err(PlannerError::Job {
                location,
                message: format!("missing parameter ${{{name}}}: pass --param {name}=VALUE"),
            });
        };
        let value = match ty {
            Some(dt) if dt != DataType::Null => {
                ScalarValue::try_from_string(raw.to_string(), &dt).map_err(|e| PlannerError::Job {
                    location: location.clone(),
                    message: format!("parameter ${{{name}}} = {raw:?} is not a valid {dt}: {e}"),
                })?
            }
            _ => infer(raw),
        };
        if value.is_null() && !raw.eq_ignore_ascii_case("null") {
            return Err(PlannerError::Job {
                location,
                message: format!("parameter ${{{name}}} = {raw:?} is not a valid value here"),
            });
        }
        values.insert(name, value);
    }
    Ok(plan.with_param_values(values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_rejects_bad_ones() {
        let p = Params::parse(["a=1", "b=x=y"]).unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x=y"));
        assert!(Params::parse(["a"]).is_err());
        assert!(Params::parse(["a=1", "a=2"]).is_err());
        assert!(Params::parse(["a-b=1"]).is_err());
    }

    #[test]
    fn infers_literal_types() {
        assert_eq!(infer("42"), ScalarValue::Int64(Some(42)));
        assert_eq!(infer("4.5"), ScalarValue::Float64(Some(4.5)));
        assert_eq!(infer("true"), ScalarValue::Boolean(Some(true)));
        assert_eq!(infer("2024-01-31").data_type(), DataType::Date32);
        assert_eq!(infer("2024-13-45"), ScalarValue::Utf8(Some("2024-13-45".into())));
        assert_eq!(
            infer("x'); DROP TABLE t; --"),
            ScalarValue::Utf8(Some("x'); DROP TABLE t; --".into()))
        );
    }
}
