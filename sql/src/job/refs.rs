//! Walk a query's AST for the tables it reads and the functions it calls.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, TableFactor, Visit, Visitor};

use super::names::{TableRef, name_location, normalize_ident, normalize_name};
use crate::error::SourceLocation;

/// Tables read by `query`, excluding names bound by its `WITH` clauses.
pub(super) fn table_references(query: &Query, fallback: &SourceLocation) -> Vec<TableRef> {
    struct Collect<'a> {
        fallback: &'a SourceLocation,
        ctes: HashSet<String>,
        found: Vec<TableRef>,
    }
    impl Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            if let Some(with) = &query.with {
                for cte in &with.cte_tables {
                    self.ctes.insert(normalize_ident(&cte.alias.name));
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, args: None, .. } = factor {
                self.found.push(TableRef {
                    name: normalize_name(name),
                    location: name_location(name, self.fallback),
                });
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect {
        fallback,
        ctes: HashSet::new(),
        found: Vec::new(),
    };
    let _ = query.visit(&mut c);
    let ctes = c.ctes;
    c.found.retain(|r| !ctes.contains(&r.name));
    c.found
}

/// Scalar, aggregate and window function calls, plus table functions, in `query`.
pub(super) fn function_calls(query: &Query, fallback: &SourceLocation) -> Vec<TableRef> {
    struct Collect<'a> {
        fallback: &'a SourceLocation,
        found: Vec<TableRef>,
    }
    impl Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr {
                self.found.push(TableRef {
                    name: normalize_name(&f.name),
                    location: name_location(&f.name, self.fallback),
                });
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, args: Some(_), ..
            } = factor
            {
                self.found.push(TableRef {
                    name: normalize_name(name),
                    location: name_location(name, self.fallback),
                });
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect {
        fallback,
        found: Vec::new(),
    };
    let _ = query.visit(&mut c);
    c.found
}
