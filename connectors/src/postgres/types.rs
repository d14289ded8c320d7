//! How PostgreSQL column types map to Arrow and back. The mapping is exact: `numeric(p,s)` is `Decimal128(p,s)`,
//! timestamps are microseconds (PostgreSQL's own resolution), `timestamptz` carries the UTC zone.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{ConnectorError, Result, TypeMapping};

/// Precision and scale given to an unconstrained `numeric`: values that do not fit exactly are errors, not rounded.
pub const UNCONSTRAINED_NUMERIC: (u8, i8) = (38, 10);

/// The column types Strata reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgType {
    /// `boolean` (Arrow Boolean).
    Bool,
    /// `smallint` (Arrow Int16).
    Int2,
    /// `integer` (Arrow Int32).
    Int4,
    /// `bigint` (Arrow Int64).
    Int8,
    /// `real` (Arrow Float32).
    Float4,
    /// `double precision` (Arrow Float64).
    Float8,
    /// `numeric(precision, scale)`; `constrained` is false for a bare `numeric`.
    Numeric {
        /// Total decimal digits (at most 38).
        precision: u8,
        /// Digits after the decimal point; a negative scale rounds to tens, hundreds, ….
        scale: i8,
        /// Whether the column declares its precision and scale (`numeric(p,s)`).
        constrained: bool,
    },
    /// text, varchar, char(n), name.
    Text,
    /// `date` (Arrow Date32).
    Date,
    /// `timestamp` without time zone: microseconds, no zone.
    Timestamp,
    /// `timestamptz`: microseconds, in UTC.
    Timestamptz,
    /// `bytea` (Arrow Binary).
    Bytea,
    /// `uuid`, as its text form.
    Uuid,
    /// `json`, as text.
    Json,
    /// `jsonb`, as text.
    Jsonb,
}

impl PgType {
    /// From a column's type OID and type modifier; `sql_type` (as `format_type` prints it) only names the
    /// unsupported ones.
    pub fn from_catalog(oid: u32, typmod: i32, sql_type: &str) -> Result<Self> {
        Ok(match oid {
            16 => PgType::Bool,
            17 => PgType::Bytea,
            19 | 25 | 1042 | 1043 => PgType::Text,
            20 => PgType::Int8,
            21 => PgType::Int2,
            23 => PgType::Int4,
            114 => PgType::Json,
            700 => PgType::Float4,
            701 => PgType::Float8,
            1082 => PgType::Date,
            1114 => PgType::Timestamp,
            1184 => PgType::Timestamptz,
            2950 => PgType::Uuid,
            3802 => PgType::Jsonb,
            1700 if typmod >= 4 => {
                let precision = ((typmod - 4) >> 16) & 0xffff;
                let scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
                if precision > 38 {
                    return Err(ConnectorError::PostgresType {
                        problem: TypeMapping::Precision {
                            sql_type: sql_type.into(),
                        },
                    });
                }
                PgType::Numeric {
                    precision: precision as u8,
                    scale: scale as i8,
                    constrained: true,
                }
            }
            1700 => PgType::Numeric {
                precision: UNCONSTRAINED_NUMERIC.0,
                scale: UNCONSTRAINED_NUMERIC.1,
                constrained: false,
            },
            _ => {
                return Err(ConnectorError::PostgresType {
                    problem: TypeMapping::Unsupported {
                        sql_type: sql_type.into(),
                    },
                });
            }
        })
    }

    /// The type a column of Arrow type `data_type` gets when Strata creates the table.
    pub fn for_arrow(data_type: &DataType) -> Result<Self> {
        Ok(match data_type {
            DataType::Boolean => PgType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => PgType::Int2,
            DataType::Int32 | DataType::UInt16 => PgType::Int4,
            DataType::Int64 | DataType::UInt32 => PgType::Int8,
            DataType::Float16 | DataType::Float32 => PgType::Float4,
            DataType::Float64 => PgType::Float8,
            DataType::Decimal128(p, s) => PgType::Numeric {
                precision: *p,
                scale: *s,
                constrained: true,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PgType::Text,
            DataType::Date32 | DataType::Date64 => PgType::Date,
            DataType::Timestamp(_, None) => PgType::Timestamp,
            DataType::Timestamp(_, Some(_)) => PgType::Timestamptz,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => PgType::Bytea,
            other => {
                return Err(ConnectorError::PostgresType {
                    problem: TypeMapping::NoColumnType {
                        data_type: other.clone(),
                    },
                });
            }
        })
    }

    /// The Arrow type the column's values are read as and written from.
    pub fn arrow(self) -> DataType {
        match self {
            PgType::Bool => DataType::Boolean,
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Float4 => DataType::Float32,
            PgType::Float8 => DataType::Float64,
            PgType::Numeric { precision, scale, .. } => DataType::Decimal128(precision, scale),
            PgType::Text | PgType::Uuid | PgType::Json | PgType::Jsonb => DataType::Utf8,
            PgType::Date => DataType::Date32,
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgType::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            PgType::Bytea => DataType::Binary,
        }
    }

    /// The SQL type name, for DDL and for casting bound parameters.
    pub fn sql(self) -> String {
        match self {
            PgType::Bool => "boolean".into(),
            PgType::Int2 => "smallint".into(),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float4 => "real".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Numeric {
                precision,
                scale,
                constrained: true,
            } => format!("numeric({precision},{scale})"),
            PgType::Numeric { .. } => "numeric".into(),
            PgType::Text => "text".into(),
            PgType::Date => "date".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
        }
    }

    /// Whether a job may declare a column of `declared` type over this one. Time units are free (values are
    /// microseconds either way); zones must agree in presence; everything else must be exactly the mapped type.
    pub fn accepts_declared(self, declared: &DataType) -> bool {
        let ours = self.arrow();
        match (&ours, declared) {
            (DataType::Timestamp(_, a), DataType::Timestamp(_, b)) => a.is_some() == b.is_some(),
            (DataType::Utf8, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
            (DataType::Binary, DataType::Binary | DataType::LargeBinary | DataType::BinaryView) => true,
            (a, b) => a == b,
        }
    }
}

/// A table column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgColumn {
    /// The column's name.
    pub name: String,
    /// Its type.
    pub pg_type: PgType,
    /// Whether it may hold NULL.
    pub nullable: bool,
    /// `format_type` text, for messages.
    pub sql_type: String,
}

impl PgColumn {
    /// A column Strata declares (its SQL type is the one Strata writes).
    pub fn new(name: impl Into<String>, pg_type: PgType, nullable: bool) -> Self {
        Self {
            name: name.into(),
            pg_type,
            nullable,
            sql_type: pg_type.sql(),
        }
    }
}

/// How the server fills a column an insert leaves out, in a table Strata creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFill {
    /// `GENERATED BY DEFAULT AS IDENTITY`: the next number of the column's sequence (an integer column).
    Identity,
    /// `DEFAULT now()`: the inserting transaction's start time.
    Now,
}

/// A column the job declares but never writes: the server fills it ([`ServerFill`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilledColumn {
    /// The column.
    pub column: PgColumn,
    /// How the server fills it.
    pub fill: ServerFill,
    /// Its position among the created table's columns.
    pub position: usize,
    /// Declared `PRIMARY KEY` (an identity column of a table without a `key` option).
    #[serde(default)]
    pub primary_key: bool,
}

/// The Arrow schema of `columns`.
pub fn arrow_schema(columns: &[PgColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.pg_type.arrow(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_typmods() {
        // numeric(12,2): ((12 << 16) | 2) + 4
        let t = PgType::from_catalog(1700, ((12 << 16) | 2) + 4, "numeric(12,2)").unwrap();
        assert_eq!(t.arrow(), DataType::Decimal128(12, 2));
        // numeric(5,-2) stores the scale in 11 bits, two's complement.
        let t = PgType::from_catalog(1700, ((5 << 16) | (-2i32 & 0x7ff)) + 4, "numeric(5,-2)").unwrap();
        assert_eq!(t.arrow(), DataType::Decimal128(5, -2));
        assert!(PgType::from_catalog(1700, ((40 << 16) | 2) + 4, "numeric(40,2)").is_err());
        assert_eq!(PgType::from_catalog(1700, -1, "numeric").unwrap().sql(), "numeric");
        assert!(
            PgType::from_catalog(600, -1, "point")
                .unwrap_err()
                .to_string()
                .contains("point")
        );
    }

    #[test]
    fn declared_types() {
        let ts = PgType::Timestamptz;
        assert!(ts.accepts_declared(&DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))));
        assert!(!ts.accepts_declared(&DataType::Timestamp(TimeUnit::Microsecond, None)));
        assert!(!PgType::Int8.accepts_declared(&DataType::Int32));
        assert_eq!(
            PgType::for_arrow(&DataType::Decimal128(18, 4)).unwrap().sql(),
            "numeric(18,4)"
        );
    }
}
