//! Window refinements: `agg(x) OVER (w ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)` — a named window `w` (from the
//! query's `WINDOW w AS (PARTITION BY … ORDER BY …)`) with a frame added — is written out in full before planning.
//!
//! DataFusion 55 plans such a call as if the name were not there: the frame runs over the whole input in arrival
//! order, without the named window's PARTITION BY and ORDER BY, and nothing fails. SQL's window refinement (as
//! PostgreSQL implements it) takes the named window's partitioning and ordering and adds the frame: that is what
//! the rewrite produces. A refinement that contradicts its window (its own PARTITION BY, a second ORDER BY or a
//! second frame) or names an undefined window is refused, as PostgreSQL refuses it. Definitions that build on
//! another (`WINDOW w2 AS (w1 ORDER BY i)`) are written out the same way.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, NamedWindowExpr, Query, SetExpr, VisitMut, VisitorMut, WindowSpec, WindowType, visit_expressions_mut,
};

/// Write out every window refinement of `query` and its subqueries; the error says what is wrong and where.
pub fn refine_windows(query: &mut Query) -> Result<(), String> {
    struct Refiner;
    impl VisitorMut for Refiner {
        type Break = String;
        // Inner queries first (post-order): their windows are resolved against their own WINDOW clauses.
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
            match refine_query(query) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match query.visit(&mut Refiner) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

fn refine_query(query: &mut Query) -> Result<(), String> {
    let Query { body, order_by, .. } = query;
    let SetExpr::Select(select) = body.as_mut() else {
        return Ok(());
    };
    // The named windows, each written out (a definition may refine one defined before it).
    let mut named: HashMap<String, WindowSpec> = HashMap::new();
    for definition in &mut select.named_window {
        let spec = match &definition.1 {
            NamedWindowExpr::NamedWindow(other) => lookup(&named, other)?.clone(),
            NamedWindowExpr::WindowSpec(spec) => resolve(&named, spec)?,
        };
        definition.1 = NamedWindowExpr::WindowSpec(spec.clone());
        named.insert(key(&definition.0), spec);
    }
    let mut refine = |e: &mut Expr| -> ControlFlow<String> {
        if let Expr::Function(f) = e
            && let Some(WindowType::WindowSpec(spec)) = &mut f.over
            && spec.window_name.is_some()
        {
            match resolve(&named, spec) {
                Ok(full) => *spec = full,
                Err(message) => return ControlFlow::Break(message),
            }
        }
        ControlFlow::Continue(())
    };
    let mut outcome = visit_expressions_mut(&mut select.projection, &mut refine);
    if outcome.is_continue() {
        outcome = visit_expressions_mut(&mut select.qualify, &mut refine);
    }
    if outcome.is_continue() {
        outcome = visit_expressions_mut(&mut select.having, &mut refine);
    }
    if outcome.is_continue() {
        outcome = visit_expressions_mut(order_by, &mut refine);
    }
    match outcome {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(message) => Err(message),
    }
}

fn key(name: &Ident) -> String {
    crate::job::normalize_ident(name)
}

fn lookup<'a>(named: &'a HashMap<String, WindowSpec>, name: &Ident) -> Result<&'a WindowSpec, String> {
    named
        .get(&key(name))
        .ok_or_else(|| format!("window '{}' is not defined in this query's WINDOW clause", name.value))
}

/// `spec` written out: itself when it names no window, else its named window refined by it.
fn resolve(named: &HashMap<String, WindowSpec>, spec: &WindowSpec) -> Result<WindowSpec, String> {
    let Some(name) = &spec.window_name else {
        return Ok(spec.clone());
    };
    let base = lookup(named, name)?;
    let name = &name.value;
    if !spec.partition_by.is_empty() {
        return Err(format!(
            "OVER ({name} PARTITION BY …): a window that names '{name}' takes its PARTITION BY and cannot add one"
        ));
    }
    if !spec.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(format!(
            "OVER ({name} ORDER BY …): window '{name}' has an ORDER BY already; write the window in full instead"
        ));
    }
    if spec.window_frame.is_some() && base.window_frame.is_some() {
        return Err(format!(
            "OVER ({name} ROWS|RANGE …): window '{name}' has a frame already; write the window in full instead"
        ));
    }
    Ok(WindowSpec {
        window_name: None,
        partition_by: base.partition_by.clone(),
        order_by: match spec.order_by.is_empty() {
            true => base.order_by.clone(),
            false => spec.order_by.clone(),
        },
        window_frame: spec.window_frame.clone().or_else(|| base.window_frame.clone()),
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn refined(sql: &str) -> Result<String, String> {
        let mut query = Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_query())
            .map_err(|e| e.to_string())?;
        refine_windows(&mut query)?;
        Ok(query.to_string())
    }

    #[test]
    fn a_frame_added_to_a_named_window_keeps_its_partition_and_order() {
        let out = refined(
            "SELECT sum(x) OVER (w ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS a, avg(x) OVER w AS b, \
             (SELECT max(y) OVER (v ORDER BY y) FROM u WINDOW v AS (PARTITION BY z)) AS c \
             FROM t WINDOW w AS (PARTITION BY g ORDER BY i) QUALIFY count(*) OVER (w ROWS UNBOUNDED PRECEDING) > 1",
        )
        .unwrap();
        assert!(
            out.contains("sum(x) OVER (PARTITION BY g ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"),
            "{out}"
        );
        assert!(out.contains("avg(x) OVER w"), "{out}");
        assert!(out.contains("max(y) OVER (PARTITION BY z ORDER BY y)"), "{out}");
        assert!(
            out.contains("count(*) OVER (PARTITION BY g ORDER BY i ROWS UNBOUNDED PRECEDING)"),
            "{out}"
        );
        // A definition may refine one before it.
        let out = refined("SELECT sum(x) OVER w2 FROM t WINDOW w1 AS (PARTITION BY g), w2 AS (w1 ORDER BY i)").unwrap();
        assert!(
            out.contains("WINDOW w1 AS (PARTITION BY g), w2 AS (PARTITION BY g ORDER BY i)"),
            "{out}"
        );
    }

    #[test]
    fn refinements_that_contradict_their_window_are_refused() {
        let base = "FROM t WINDOW w AS (PARTITION BY g ORDER BY i ROWS 2 PRECEDING)";
        for (over, says) in [
            ("(w PARTITION BY h)", "cannot add one"),
            ("(w ORDER BY j)", "has an ORDER BY already"),
            ("(w ROWS 3 PRECEDING)", "has a frame already"),
            ("(nowhere ROWS 3 PRECEDING)", "'nowhere' is not defined"),
        ] {
            let e = refined(&format!("SELECT sum(x) OVER {over} {base}")).unwrap_err();
            assert!(e.contains(says), "{over}: {e}");
        }
    }
}
