//! How a job file names tables and functions: normalized as DataFusion resolves them, with where they were named.
//! A leaf of the job-file modules.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

use crate::error::SourceLocation;

/// A table named by a statement, with where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Normalized name: unquoted parts lower-cased, joined with `.`.
    pub name: String,
    /// Where the name starts; the statement's start when the parser recorded no span.
    pub location: SourceLocation,
}

/// Normalize an object name the way DataFusion resolves it.
pub fn normalize_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => normalize_ident(ident),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Normalize an identifier the way DataFusion resolves it: unquoted lower-cased, quoted as written.
pub fn normalize_ident(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// Where an object name starts, or `fallback` when the parser recorded no span.
pub(crate) fn name_location(name: &ObjectName, fallback: &SourceLocation) -> SourceLocation {
    match name.0.first().and_then(|p| p.as_ident()) {
        Some(ident) if ident.span.start.line > 0 => SourceLocation {
            file: fallback.file.clone(),
            line: ident.span.start.line,
            column: ident.span.start.column,
        },
        _ => fallback.clone(),
    }
}
