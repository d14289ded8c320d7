//! Statement templates: a family of near-identical statements written once.
//!
//! ```sql
//! FOR n IN (3, 5, 8, 13, 21, 34) DO
//! CREATE TABLE silver.bars_{n}d AS
//! SELECT symbol, session_bucket(trade_date, {n}) AS bar_start, ... GROUP BY 1, 2;
//! END FOR;
//! ```
//!
//! The statements between `DO` and `END FOR` are repeated once per value, in order, with `{n}` replaced by the
//! value: glued to a name (`bars_{n}d`) it becomes part of that name; alone it is the value itself (a number, a
//! string or a name); inside a string or a quoted name it is replaced in the text. Expansion happens on tokens,
//! before the statements parse, so every copy is parsed, planned and checked like any statement (`validate`
//! included), keeps the line and column of the template, and records which value made it (`explain` shows it).
//!
//! Values are numbers, single-quoted strings or plain names; a value glued to a name must keep it a name. A
//! `{name}` that the template does not bind, a nested `FOR`, a `FOR` without `END FOR` and an empty or repeated
//! value list are errors at their location. `${name}` stays a run parameter.

use std::sync::Arc;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Word};

use crate::error::{Result, SourceLocation, SqlError};

/// One statement's tokens (no semicolon), and the template binding that made it, if any.
pub(super) struct Chunk {
    pub tokens: Vec<TokenWithSpan>,
    /// `n = 8`: the template variable and the value of this copy.
    pub binding: Option<Binding>,
}

/// A template variable bound to one of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding {
    pub name: String,
    /// The value as it is substituted (a string's content, unquoted).
    pub value: String,
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}", self.name, self.value)
    }
}

/// A template value, as written.
#[derive(Debug, Clone)]
enum Value {
    Number(String),
    Text(String),
    Name(String),
}

impl Value {
    fn text(&self) -> &str {
        match self {
            Value::Number(s) | Value::Text(s) | Value::Name(s) => s,
        }
    }

    fn token(&self) -> Token {
        match self {
            Value::Number(n) => Token::Number(n.clone(), false),
            Value::Text(s) => Token::SingleQuotedString(s.clone()),
            Value::Name(n) => Token::make_word(n, None),
        }
    }
}

fn at(file: &Arc<str>, loc: Location) -> SourceLocation {
    SourceLocation {
        file: file.clone(),
        line: loc.line.max(1),
        column: loc.column.max(1),
    }
}

fn significant(chunk: &[TokenWithSpan]) -> impl Iterator<Item = (usize, &TokenWithSpan)> {
    chunk
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
}

fn is_keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(Word { keyword: k, quote_style: None, .. }) if *k == keyword)
}

/// The header `FOR name IN (v1, v2, …) [DO]` at the start of `chunk`: the variable, its values and where the
/// first body statement begins.
fn header(file: &Arc<str>, chunk: &[TokenWithSpan]) -> Result<Option<(String, Vec<Value>, usize)>> {
    let mut it = significant(chunk);
    let Some((_, first)) = it.next() else {
        return Ok(None);
    };
    if !is_keyword(&first.token, Keyword::FOR) {
        return Ok(None);
    }
    let location = at(file, first.span.start);
    let bad = |message: &str| SqlError::Syntax {
        location: location.clone(),
        message: format!("{message}: a template is written FOR name IN (value, …) DO <statements> END FOR"),
    };
    let name = match it.next() {
        Some((
            _,
            TokenWithSpan {
                token: Token::Word(w), ..
            },
        )) if w.quote_style.is_none() => w.value.clone(),
        _ => return Err(bad("FOR needs a variable name")),
    };
    if !it.next().is_some_and(|(_, t)| is_keyword(&t.token, Keyword::IN)) {
        return Err(bad("FOR's variable needs IN"));
    }
    if it.next().is_none_or(|(_, t)| t.token != Token::LParen) {
        return Err(bad("FOR's values go in parentheses"));
    }
    let mut values: Vec<Value> = Vec::new();
    loop {
        let value = match it.next() {
            Some((
                _,
                TokenWithSpan {
                    token: Token::Number(n, false),
                    ..
                },
            )) => Value::Number(n.clone()),
            Some((
                _,
                TokenWithSpan {
                    token: Token::SingleQuotedString(s),
                    ..
                },
            )) => Value::Text(s.clone()),
            Some((
                _,
                TokenWithSpan {
                    token: Token::Word(w), ..
                },
            )) if w.quote_style.is_none() => Value::Name(w.value.clone()),
            Some((
                _,
                TokenWithSpan {
                    token: Token::Minus, ..
                },
            )) => match it.next() {
                Some((
                    _,
                    TokenWithSpan {
                        token: Token::Number(n, false),
                        ..
                    },
                )) => Value::Number(format!("-{n}")),
                _ => return Err(bad("a template value is a number, a 'string' or a name")),
            },
            _ => return Err(bad("a template value is a number, a 'string' or a name")),
        };
        if values.iter().any(|v| v.text() == value.text()) {
            return Err(SqlError::Invalid {
                location,
                message: format!("template value {} is listed twice", value.text()),
            });
        }
        values.push(value);
        match it.next() {
            Some((
                _,
                TokenWithSpan {
                    token: Token::Comma, ..
                },
            )) => continue,
            Some((
                _,
                TokenWithSpan {
                    token: Token::RParen, ..
                },
            )) => break,
            _ => return Err(bad("template values are separated by commas and closed by ')'")),
        }
    }
    // The optional DO; the first body statement starts after it.
    let body = match it.next() {
        Some((i, t)) if is_keyword(&t.token, Keyword::DO) => i + 1,
        Some((i, _)) => i,
        None => chunk.len(),
    };
    Ok(Some((name, values, body)))
}

fn is_end_for(chunk: &[TokenWithSpan]) -> bool {
    let words: Vec<&Token> = significant(chunk).map(|(_, t)| &t.token).collect();
    matches!(words.as_slice(), [end, f] if is_keyword(end, Keyword::END) && is_keyword(f, Keyword::FOR))
}

/// Split `tokens` into statements, expanding templates.
pub(super) fn expand(file: &Arc<str>, tokens: &[TokenWithSpan]) -> Result<Vec<Chunk>> {
    let raw: Vec<&[TokenWithSpan]> = tokens.split(|t| t.token == Token::SemiColon).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let chunk = raw[i];
        if is_end_for(chunk) {
            let start = significant(chunk)
                .next()
                .map_or(Location::new(1, 1), |(_, t)| t.span.start);
            return Err(SqlError::Syntax {
                location: at(file, start),
                message: "END FOR without a FOR".into(),
            });
        }
        let Some((name, values, start)) = header(file, chunk)? else {
            out.push(Chunk {
                tokens: chunk.to_vec(),
                binding: None,
            });
            i += 1;
            continue;
        };
        let location = at(
            file,
            significant(chunk)
                .next()
                .map_or(Location::new(1, 1), |(_, t)| t.span.start),
        );
        if is_end_for(&chunk[start..]) {
            return Err(SqlError::Invalid {
                location,
                message: format!("FOR {name} repeats no statement"),
            });
        }
        let mut body: Vec<&[TokenWithSpan]> = vec![&chunk[start..]];
        i += 1;
        loop {
            let Some(next) = raw.get(i) else {
                return Err(SqlError::Syntax {
                    location,
                    message: format!("FOR {name} has no END FOR"),
                });
            };
            i += 1;
            if is_end_for(next) {
                break;
            }
            body.push(next);
        }
        for statement in &body {
            if let Some((_, t)) = significant(statement)
                .next()
                .filter(|(_, t)| is_keyword(&t.token, Keyword::FOR))
            {
                return Err(SqlError::Syntax {
                    location: at(file, t.span.start),
                    message: format!("templates do not nest: FOR inside FOR {name}"),
                });
            }
        }
        let body: Vec<&[TokenWithSpan]> = body.into_iter().filter(|c| significant(c).next().is_some()).collect();
        if body.is_empty() {
            return Err(SqlError::Invalid {
                location,
                message: format!("FOR {name} repeats no statement"),
            });
        }
        for value in &values {
            for statement in &body {
                out.push(Chunk {
                    tokens: substitute(file, statement, &name, value)?,
                    binding: Some(Binding {
                        name: name.clone(),
                        value: value.text().to_string(),
                    }),
                });
            }
        }
    }
    Ok(out)
}

/// Whether `b` starts where `a` ends (nothing between them).
fn touching(a: &TokenWithSpan, b: &TokenWithSpan) -> bool {
    a.span.end == b.span.start
}

fn is_plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `tokens` with every `{name}` replaced by `value` (see the module's rules).
fn substitute(file: &Arc<str>, tokens: &[TokenWithSpan], name: &str, value: &Value) -> Result<Vec<TokenWithSpan>> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let placeholder = format!("{{{name}}}");
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match &t.token {
            // `${name}` is a run parameter, not a template variable.
            Token::Placeholder(p) if p == "$" => {
                let end = (i + 4).min(tokens.len());
                out.extend_from_slice(&tokens[i..end]);
                i = end;
                continue;
            }
            Token::SingleQuotedString(s) if s.contains(&placeholder) => {
                out.push(TokenWithSpan::new(
                    Token::SingleQuotedString(s.replace(&placeholder, value.text())),
                    t.span,
                ));
            }
            Token::Word(w) if w.quote_style.is_some() && w.value.contains(&placeholder) => {
                out.push(TokenWithSpan::new(
                    Token::Word(Word {
                        value: w.value.replace(&placeholder, value.text()),
                        quote_style: w.quote_style,
                        keyword: Keyword::NoKeyword,
                    }),
                    t.span,
                ));
            }
            Token::LBrace => {
                let (Some(var), Some(close)) = (tokens.get(i + 1), tokens.get(i + 2)) else {
                    out.push(t.clone());
                    i += 1;
                    continue;
                };
                let (Token::Word(w), Token::RBrace) = (&var.token, &close.token) else {
                    out.push(t.clone());
                    i += 1;
                    continue;
                };
                if !touching(t, var) || !touching(var, close) {
                    out.push(t.clone());
                    i += 1;
                    continue;
                }
                if w.value != name {
                    return Err(SqlError::Invalid {
                        location: at(file, t.span.start),
                        message: format!(
                            "{{{}}} is not a template variable here (this FOR binds {{{name}}})",
                            w.value
                        ),
                    });
                }
                // Glue to the name or number written against it on either side.
                let glued_before = out
                    .last()
                    .filter(|p| {
                        touching(p, t)
                            && matches!(p.token, Token::Word(Word { quote_style: None, .. }) | Token::Number(..))
                    })
                    .is_some();
                let after = tokens.get(i + 3).filter(|n| {
                    touching(close, n)
                        && matches!(n.token, Token::Word(Word { quote_style: None, .. }) | Token::Number(..))
                });
                if !glued_before && after.is_none() {
                    out.push(TokenWithSpan::new(
                        value.token(),
                        Span::new(t.span.start, close.span.end),
                    ));
                    i += 3;
                    continue;
                }
                let mut text = String::new();
                let mut start = t.span.start;
                if glued_before && let Some(prev) = out.pop() {
                    text.push_str(&token_text(&prev.token));
                    start = prev.span.start;
                }
                text.push_str(value.text());
                let mut end = close.span.end;
                if let Some(next) = after {
                    text.push_str(&token_text(&next.token));
                    end = next.span.end;
                    i += 1;
                }
                let token = if text.chars().all(|c| c.is_ascii_digit()) {
                    Token::Number(text, false)
                } else if is_plain_name(&text) {
                    Token::Word(Word {
                        value: text,
                        quote_style: None,
                        keyword: Keyword::NoKeyword,
                    })
                } else {
                    return Err(SqlError::Invalid {
                        location: at(file, t.span.start),
                        message: format!(
                            "{{{name}}} = {} glued to a name makes '{text}', which is not a name",
                            value.text()
                        ),
                    });
                };
                out.push(TokenWithSpan::new(token, Span::new(start, end)));
                i += 3;
                continue;
            }
            _ => out.push(t.clone()),
        }
        i += 1;
    }
    Ok(out)
}

fn token_text(token: &Token) -> String {
    match token {
        Token::Word(w) => w.value.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_job;
    use crate::StatementKind;

    const BARS: &str = "CREATE EXTERNAL TABLE d STORED AS DELTA LOCATION 'd';\n\
FOR n IN (3, 5, 13) DO\n\
CREATE TABLE silver.bars_{n}d AS\n  SELECT symbol, session_bucket(day, {n}) AS b, '{n} sessions' AS label, \"c_{n}\" FROM d\n  WHERE close > ${min};\n\
CREATE VIEW v_{n} AS SELECT * FROM silver.bars_{n}d;\n\
END FOR;\n\
CREATE TABLE gold.t AS SELECT * FROM v_13;\n";

    #[test]
    fn a_template_repeats_its_statements_once_per_value_in_order() {
        let job = parse_job("job.sql", BARS).unwrap();
        let names: Vec<String> = job.statements.iter().map(|s| s.target().name).collect();
        assert_eq!(
            names,
            [
                "d",
                "silver.bars_3d",
                "v_3",
                "silver.bars_5d",
                "v_5",
                "silver.bars_13d",
                "v_13",
                "gold.t"
            ]
        );
        let bars = &job.statements[5];
        assert_eq!(bars.template.as_deref(), Some("n = 13"));
        assert_eq!(job.statements[0].template, None);
        // Every copy keeps the template's location.
        assert_eq!((bars.location.line, job.statements[1].location.line), (3, 3));
        assert_eq!(job.statements[7].location.line, 8);
        // Alone, glued, in a string, in a quoted name; `${min}` stays a parameter.
        let text = &bars.text;
        assert!(
            text.contains("silver.bars_13d") && text.contains("session_bucket(day, 13)"),
            "{text}"
        );
        assert!(text.contains("'13 sessions'") && text.contains("\"c_13\""), "{text}");
        assert_eq!(bars.parameters.len(), 1);
        let StatementKind::Table { query, .. } = &bars.kind else {
            panic!("a table");
        };
        let sql = query.to_string();
        assert!(
            sql.contains("session_bucket(day, 13)") && sql.contains("'13 sessions'"),
            "{sql}"
        );
        assert!(sql.contains("\"c_13\"") && sql.contains("$min"), "{sql}");
    }

    fn error(text: &str) -> String {
        parse_job("job.sql", text).unwrap_err().to_string()
    }

    #[test]
    fn template_mistakes_are_errors_at_their_location() {
        let missing = error("FOR n IN (1, 2) DO\nCREATE TABLE t_{n} AS SELECT 1;\n");
        assert!(
            missing.contains("job.sql:1:1") && missing.contains("no END FOR"),
            "{missing}"
        );
        let stray = error("CREATE TABLE t AS SELECT 1;\nEND FOR;\n");
        assert!(
            stray.contains("job.sql:2:1") && stray.contains("END FOR without a FOR"),
            "{stray}"
        );
        let unknown = error("FOR n IN (1) DO\nCREATE TABLE t_{m} AS SELECT 1;\nEND FOR;\n");
        assert!(
            unknown.contains("job.sql:2:16") && unknown.contains("{m} is not a template variable"),
            "{unknown}"
        );
        let nested = error("FOR n IN (1) DO\nFOR m IN (2) DO CREATE TABLE t AS SELECT 1;\nEND FOR;\nEND FOR;\n");
        assert!(nested.contains("do not nest"), "{nested}");
        let twice = error("FOR n IN (1, 1) DO CREATE TABLE t_{n} AS SELECT 1; END FOR;");
        assert!(twice.contains("listed twice"), "{twice}");
        let empty = error("FOR n IN (1) DO END FOR;");
        assert!(empty.contains("repeats no statement"), "{empty}");
        let not_a_name = error("FOR n IN ('a b') DO CREATE TABLE t_{n} AS SELECT 1; END FOR;");
        assert!(not_a_name.contains("not a name"), "{not_a_name}");
        let bad_header = error("FOR n (1) DO CREATE TABLE t AS SELECT 1; END FOR;");
        assert!(bad_header.contains("FOR name IN (value, …)"), "{bad_header}");
        // A duplicate made by a template is the usual duplicate error.
        let same = parse_job(
            "job.sql",
            "FOR n IN (1, 2) DO CREATE TABLE t AS SELECT {n} AS x; END FOR;",
        );
        assert!(same.is_ok(), "parsing allows it; planning refuses duplicate tables");
    }

    #[test]
    fn names_and_strings_are_values_too() {
        let job = parse_job(
            "job.sql",
            "FOR s IN (week, 'month') DO CREATE TABLE bars_{s} AS SELECT calendar_bucket(ts, '{s}') FROM p; END FOR;",
        )
        .unwrap();
        let names: Vec<String> = job.statements.iter().map(|s| s.target().name).collect();
        assert_eq!(names, ["bars_week", "bars_month"]);
        assert!(job.statements[1].text.contains("'month'"), "{}", job.statements[1].text);
    }
}
