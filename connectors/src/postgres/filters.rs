//! Filters pushed into a PostgreSQL read. Only what PostgreSQL evaluates exactly as DataFusion would is pushed:
//! comparisons of a column with a literal of the column's own type, `IS [NOT] NULL`, `IN`, `BETWEEN` and their
//! `AND`/`OR`/`NOT`. Text is compared for equality only: PostgreSQL orders text by the database's collation.
//!
//! `COPY` takes no bind parameters, so values are bound with `set_config('strata.pN', $1, true)` and read in the
//! query as `current_setting('strata.pN')::type`: user values never become SQL text, and the expression is stable,
//! so PostgreSQL still uses indexes for it.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use serde::{Deserialize, Serialize};

use super::connection::quote_ident;
use super::types::{PgColumn, PgType};

/// A query's SQL with its parameter values (bound through `set_config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// Conditions, ANDed together, reading their values as `current_setting('strata.pN')`.
    pub sql: Vec<String>,
    /// The values of `strata.p1`, `strata.p2`, … in order.
    pub params: Vec<String>,
}

impl Predicate {
    /// Bind `value` as the next parameter; returns the SQL that reads it as `pg_type`.
    pub fn param(&mut self, value: String, pg_type: PgType) -> String {
        self.params.push(value);
        format!("current_setting('strata.p{}')::{}", self.params.len(), pg_type.sql())
    }
}

/// A parameter's text for a literal of `column`'s type; `None` when it cannot be pushed exactly.
fn literal_text(value: &ScalarValue, column: &PgColumn) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let arrow = column.pg_type.arrow();
    let same = match (&value.data_type(), &arrow) {
        (DataType::Timestamp(u, a), DataType::Timestamp(_, b)) => {
            *u == TimeUnit::Microsecond && a.is_some() == b.is_some()
        }
        (a, b) => a == b,
    };
    if !same
        || matches!(
            column.pg_type,
            PgType::Uuid | PgType::Json | PgType::Jsonb | PgType::Bytea
        )
    {
        return None;
    }
    Some(match value {
        ScalarValue::Boolean(Some(v)) => v.to_string(),
        ScalarValue::Int16(Some(v)) => v.to_string(),
        ScalarValue::Int32(Some(v)) => v.to_string(),
        ScalarValue::Int64(Some(v)) => v.to_string(),
        ScalarValue::Float32(Some(v)) if v.is_finite() => v.to_string(),
        ScalarValue::Float64(Some(v)) if v.is_finite() => v.to_string(),
        ScalarValue::Decimal128(Some(v), _, s) => decimal_text(*v, *s),
        ScalarValue::Utf8(Some(v)) => v.clone(),
        ScalarValue::Date32(Some(days)) => chrono::DateTime::from_timestamp(*days as i64 * 86_400, 0)?
            .date_naive()
            .to_string(),
        ScalarValue::TimestampMicrosecond(Some(v), tz) => timestamp_text(*v, tz.is_some())?,
        _ => return None,
    })
}

/// The text of the decimal `v × 10^-scale`: `12345` at scale 2 is `123.45`, at scale -2 `1234500`.
pub fn decimal_text(v: i128, scale: i8) -> String {
    if scale <= 0 {
        return format!("{v}{}", "0".repeat((-scale) as usize));
    }
    let digits = v.unsigned_abs().to_string();
    let s = scale as usize;
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (int, frac) = padded.split_at(padded.len() - s);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// `micros` since the Unix epoch as PostgreSQL timestamp text (`2024-05-01 10:00:00.000000`, with `+00` when
/// `zoned`); `None` when chrono cannot represent it.
pub fn timestamp_text(micros: i64, zoned: bool) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    let text = t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    Some(if zoned { format!("{text}+00") } else { text })
}

/// The SQL of a pushable filter, or `None`.
pub fn filter_sql(expr: &Expr, columns: &[PgColumn], p: &mut Predicate) -> Option<String> {
    let column = |e: &Expr| match e {
        Expr::Column(c) => columns.iter().find(|col| col.name == c.name),
        _ => None,
    };
    let literal = |e: &Expr| match e {
        Expr::Literal(v, _) => Some(v.clone()),
        _ => None,
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => {
                let l = filter_sql(left, columns, p)?;
                let r = filter_sql(right, columns, p)?;
                Some(format!("({l} {} {r})", if *op == Operator::And { "AND" } else { "OR" }))
            }
            Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                let (c, v, op) = match (column(left), literal(right), column(right), literal(left)) {
                    (Some(c), Some(v), _, _) => (c, v, *op),
                    (_, _, Some(c), Some(v)) => (c, v, op.swap()?),
                    _ => return None,
                };
                // Text order is the database collation's, not bytes: only equality is the same everywhere.
                if c.pg_type == PgType::Text && !matches!(op, Operator::Eq | Operator::NotEq) {
                    return None;
                }
                let value = literal_text(&v, c)?;
                let sym = match op {
                    Operator::Eq => "=",
                    Operator::NotEq => "<>",
                    Operator::Lt => "<",
                    Operator::LtEq => "<=",
                    Operator::Gt => ">",
                    _ => ">=",
                };
                Some(format!("{} {sym} {}", quote_ident(&c.name), p.param(value, c.pg_type)))
            }
            _ => None,
        },
        Expr::Not(inner) => Some(format!("NOT ({})", filter_sql(inner, columns, p)?)),
        Expr::IsNull(inner) => Some(format!("{} IS NULL", quote_ident(&column(inner)?.name))),
        Expr::IsNotNull(inner) => Some(format!("{} IS NOT NULL", quote_ident(&column(inner)?.name))),
        Expr::InList(list) => {
            let c = column(&list.expr)?;
            let mut items = Vec::with_capacity(list.list.len());
            for item in &list.list {
                let value = literal_text(&literal(item)?, c)?;
                items.push(p.param(value, c.pg_type));
            }
            if items.is_empty() {
                return None;
            }
            let not = if list.negated { "NOT " } else { "" };
            Some(format!("{} {not}IN ({})", quote_ident(&c.name), items.join(", ")))
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let c = column(expr)?;
            if c.pg_type == PgType::Text {
                return None;
            }
            let low = literal_text(&literal(low)?, c)?;
            let high = literal_text(&literal(high)?, c)?;
            let not = if *negated { "NOT " } else { "" };
            Some(format!(
                "{} {not}BETWEEN {} AND {}",
                quote_ident(&c.name),
                p.param(low, c.pg_type),
                p.param(high, c.pg_type)
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn columns() -> Vec<PgColumn> {
        [
            ("id", PgType::Int8),
            ("symbol", PgType::Text),
            ("ts", PgType::Timestamptz),
        ]
        .into_iter()
        .map(|(n, t)| PgColumn::new(n, t, true))
        .collect()
    }

    #[test]
    fn filters_become_bound_parameters() {
        let mut p = Predicate::default();
        let f = col("id")
            .gt(lit(5i64))
            .and(col("symbol").eq(lit("x'; DROP TABLE t; --")));
        let sql = filter_sql(&f, &columns(), &mut p).unwrap();
        assert_eq!(
            sql,
            "(\"id\" > current_setting('strata.p1')::bigint AND \"symbol\" = current_setting('strata.p2')::text)"
        );
        assert_eq!(p.params, vec!["5".to_string(), "x'; DROP TABLE t; --".into()]);
        // Text ranges depend on collation; other types' literals must match exactly.
        assert!(filter_sql(&col("symbol").gt(lit("m")), &columns(), &mut p).is_none());
        assert!(filter_sql(&col("id").gt(lit(5i32)), &columns(), &mut p).is_none());
        let ts = ScalarValue::TimestampMicrosecond(Some(1_709_296_496_789_012), Some("UTC".into()));
        let sql = filter_sql(&col("ts").lt_eq(Expr::Literal(ts, None)), &columns(), &mut p).unwrap();
        assert!(sql.contains("::timestamptz"), "{sql}");
        assert_eq!(p.params.last().unwrap(), "2024-03-01 12:34:56.789012+00");
    }

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(decimal_text(12_345_678, 3), "12345.678");
        assert_eq!(decimal_text(-5, 2), "-0.05");
        assert_eq!(decimal_text(12, -2), "1200");
    }
}
