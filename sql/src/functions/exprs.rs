//! What the optimizer rules that plan plain SQL onto Strata's functions share (`ordered/rewrite.rs`,
//! `rolling/rewrite.rs`): rewriting a node's expressions one by one, and keeping each output column's name. A leaf:
//! it imports nothing of the crate.

use datafusion::common::Result;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::Alias;

/// `exprs` with `rewrite` applied to each (`None`: kept as it is); `None` when nothing changed.
pub(crate) fn rewrite_each(
    exprs: &[Expr],
    mut rewrite: impl FnMut(&Expr) -> Result<Option<Expr>>,
) -> Result<Option<Vec<Expr>>> {
    let mut changed = false;
    let mut out = Vec::with_capacity(exprs.len());
    for e in exprs {
        match rewrite(e)? {
            Some(new) => {
                changed = true;
                out.push(new);
            }
            None => out.push(e.clone()),
        }
    }
    Ok(changed.then_some(out))
}

/// `e` without its alias.
pub(crate) fn unaliased(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => a.expr.as_ref(),
        other => other,
    }
}

/// `call`, standing in for `original`, under the name the plan's other nodes know `original` by.
pub(crate) fn named_as(call: Expr, original: &Expr) -> Expr {
    match original {
        Expr::Alias(a) => Expr::Alias(Alias {
            expr: Box::new(call),
            ..a.clone()
        }),
        _ => call.alias(original.schema_name().to_string()),
    }
}
