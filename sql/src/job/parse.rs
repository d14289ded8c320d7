//! Tokenize a job file once, split it into statements, turn `${name}` into placeholders, and parse each statement.

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Query;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{IsOptional, Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Word};

use super::ast::{Expectation, JobFile, JobStatement, MergeSpec, StatementKind, ViolationAction};
use super::maintenance::maintenance_directives;
use super::names::normalize_ident;
use super::schedule::schedule_directive;
use crate::error::{Result, SourceLocation, SqlError};

/// Parse the text of a job file. `path` is used only to name locations.
pub fn parse_job(path: &str, text: &str) -> Result<JobFile> {
    // Directives are whole comment lines: read from the text before (and whatever) the statements parse to.
    let schedule = schedule_directive(path, text)?;
    let maintenance = maintenance_directives(path, text)?;
    let file: Arc<str> = path.into();
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| SqlError::Syntax {
            location: at(&file, e.location),
            message: e.message,
        })?;
    let lines = LineIndex::new(text);

    let mut statements = Vec::new();
    for chunk in super::template::expand(&file, &tokens)? {
        let Some(first) = chunk.tokens.iter().find(|t| !is_trivia(&t.token)) else {
            continue;
        };
        let last = chunk
            .tokens
            .iter()
            .rev()
            .find(|t| !is_trivia(&t.token))
            .unwrap_or(first);
        let location = at(&file, first.span.start);
        let mut text = lines.slice(text, first.span.start, last.span.end).to_string();
        if let Some(binding) = &chunk.binding {
            text = text.replace(&format!("{{{}}}", binding.name), &binding.value);
        }
        let (tokens, parameters) = substitute_parameters(&file, &chunk.tokens)?;
        let kind = parse_statement(&file, &location, tokens)?;
        statements.push(JobStatement {
            location,
            text,
            kind,
            parameters,
            template: chunk.binding.map(|b| b.to_string()),
        });
    }
    if statements.is_empty() {
        return Err(SqlError::Invalid {
            location: SourceLocation {
                file,
                line: 1,
                column: 1,
            },
            message: "the job file has no statements".into(),
        });
    }
    Ok(JobFile {
        path: file,
        statements,
        schedule,
        maintenance,
    })
}

impl JobFile {
    /// Read and parse a job file from disk.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SqlError::Io {
            path: path.to_string(),
            source,
        })?;
        parse_job(path, &text)
    }
}

fn at(file: &Arc<str>, loc: Location) -> SourceLocation {
    SourceLocation {
        file: file.clone(),
        line: loc.line.max(1),
        column: loc.column.max(1),
    }
}

fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_) | Token::EOF)
}

/// Statement tokens with parameters substituted, and each parameter's name and location.
type Substituted = (Vec<TokenWithSpan>, Vec<(String, SourceLocation)>);

/// Replace each `${name}` (tokens `$`, `{`, `name`, `}`) by the placeholder `$name`.
fn substitute_parameters(file: &Arc<str>, chunk: &[TokenWithSpan]) -> Result<Substituted> {
    let mut out = Vec::with_capacity(chunk.len());
    let mut params = Vec::new();
    let mut i = 0;
    while i < chunk.len() {
        let t = &chunk[i];
        if let Token::Placeholder(p) = &t.token {
            let location = at(file, t.span.start);
            if p == "$" {
                match (chunk.get(i + 1), chunk.get(i + 2), chunk.get(i + 3)) {
                    (
                        Some(TokenWithSpan {
                            token: Token::LBrace, ..
                        }),
                        Some(TokenWithSpan {
                            token: Token::Word(Word { value, .. }),
                            ..
                        }),
                        Some(TokenWithSpan {
                            token: Token::RBrace,
                            span: end,
                        }),
                    ) => {
                        let mut span = t.span;
                        span.end = end.end;
                        params.push((value.clone(), location));
                        out.push(TokenWithSpan {
                            token: Token::Placeholder(format!("${value}")),
                            span,
                        });
                        i += 4;
                        continue;
                    }
                    _ => {
                        return Err(SqlError::Syntax {
                            location,
                            message: "a parameter is written ${name}".into(),
                        });
                    }
                }
            }
            let name = &p[1..];
            if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) || !p.starts_with('$') {
                return Err(SqlError::Syntax {
                    location,
                    message: format!("positional parameter {p} is not supported: name it, as ${{name}}"),
                });
            }
            params.push((name.to_string(), location));
        }
        out.push(t.clone());
        i += 1;
    }
    // The statement ends where the chunk ends; the parser wants an explicit end of input.
    if let Some(last) = out.last() {
        let end = last.span.end;
        out.push(TokenWithSpan::at(Token::EOF, end, end));
    }
    Ok((out, params))
}

/// Turn a sqlparser or DataFusion parse error into a located syntax error.
fn syntax_error(file: &Arc<str>, fallback: &SourceLocation, e: impl std::fmt::Display) -> SqlError {
    let message = e.to_string();
    let message = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_start_matches("sql parser error: ")
        .to_string();
    let location = located(&message).map(|(line, column)| SourceLocation {
        file: file.clone(),
        line,
        column,
    });
    let message = match message.find(" at Line: ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    SqlError::Syntax {
        location: location.unwrap_or_else(|| fallback.clone()),
        message,
    }
}

/// The `Line: N, Column: M` a parser message ends with.
fn located(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.rfind("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// `query` with its window refinements written out ([`super::windows`]); a bad one is an error at the statement.
fn refined(_file: &Arc<str>, location: &SourceLocation, mut query: Box<Query>) -> Result<Box<Query>> {
    super::windows::refine_windows(&mut query).map_err(|message| SqlError::Invalid {
        location: location.clone(),
        message,
    })?;
    Ok(query)
}

fn parse_statement(file: &Arc<str>, location: &SourceLocation, tokens: Vec<TokenWithSpan>) -> Result<StatementKind> {
    let dialect = GenericDialect {};
    let perr = |e: ParserError| syntax_error(file, location, e);
    let derr = |e: DataFusionError| syntax_error(file, location, e);

    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens.clone());
    if p.parse_keyword(Keyword::CREATE) {
        let or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        if p.parse_keyword(Keyword::EXTERNAL) || p.parse_keywords(&[Keyword::UNBOUNDED, Keyword::EXTERNAL]) {
            let mut df = DFParserBuilder::new(tokens)
                .with_dialect(&dialect)
                .build()
                .map_err(derr)?;
            return match df.parse_statement().map_err(derr)? {
                DFStatement::CreateExternalTable(create) => Ok(StatementKind::Source(Box::new(create))),
                other => Err(SqlError::Invalid {
                    location: location.clone(),
                    message: format!("expected CREATE EXTERNAL TABLE, found {other}"),
                }),
            };
        }
        if p.parse_keyword(Keyword::VIEW) {
            let name = p.parse_object_name(false).map_err(perr)?;
            let expectations = if p.consume_token(&Token::LParen) {
                parse_expectations(file, &mut p).map_err(perr)?
            } else {
                Vec::new()
            };
            p.expect_keyword_is(Keyword::AS).map_err(perr)?;
            let query = refined(file, location, p.parse_query().map_err(perr)?)?;
            expect_end(&mut p).map_err(perr)?;
            return Ok(StatementKind::View {
                name,
                query,
                expectations,
            });
        }
        if p.parse_keyword(Keyword::TABLE) {
            let _ = or_replace; // CREATE TABLE always replaces the table's contents; OR REPLACE is accepted.
            let name = p.parse_object_name(false).map_err(perr)?;
            let expectations = if p.consume_token(&Token::LParen) {
                parse_expectations(file, &mut p).map_err(perr)?
            } else {
                Vec::new()
            };
            let mut partitioned_by = Vec::new();
            let mut event_time = None;
            loop {
                if partitioned_by.is_empty() && p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
                    partitioned_by = p
                        .parse_parenthesized_column_list(IsOptional::Mandatory, false)
                        .map_err(perr)?;
                } else if event_time.is_none() && p.parse_keywords(&[Keyword::EVENT, Keyword::TIME]) {
                    p.expect_token(&Token::LParen).map_err(perr)?;
                    event_time = Some(p.parse_identifier().map_err(perr)?);
                    p.expect_token(&Token::RParen).map_err(perr)?;
                } else {
                    break;
                }
            }
            p.expect_keyword_is(Keyword::AS).map_err(perr)?;
            let query = refined(file, location, p.parse_query().map_err(perr)?)?;
            expect_end(&mut p).map_err(perr)?;
            return Ok(StatementKind::Table {
                name,
                partitioned_by,
                event_time,
                query,
                expectations,
            });
        }
        let found = p.peek_token();
        return Err(SqlError::Syntax {
            location: at(file, found.span.start),
            message: format!(
                "expected EXTERNAL TABLE, VIEW or TABLE after CREATE, found {}",
                found.token
            ),
        });
    }
    if p.parse_keywords(&[Keyword::INSERT, Keyword::INTO]) {
        let target = p.parse_object_name(false).map_err(perr)?;
        // `(CONSTRAINT …)` after the target: expectations on the inserted rows.
        let constraints = p.peek_token().token == Token::LParen
            && matches!(&p.peek_nth_token(1).token, Token::Word(w) if w.keyword == Keyword::CONSTRAINT);
        let expectations = if constraints && p.consume_token(&Token::LParen) {
            parse_expectations(file, &mut p).map_err(perr)?
        } else {
            Vec::new()
        };
        let query = refined(file, location, p.parse_query().map_err(perr)?)?;
        expect_end(&mut p).map_err(perr)?;
        return Ok(StatementKind::Insert {
            target,
            query,
            merge: None,
            expectations,
        });
    }
    if p.peek_keyword(Keyword::MERGE) {
        return parse_merge(file, location, tokens);
    }
    let found = p.peek_token();
    Err(SqlError::Syntax {
        location: at(file, found.span.start),
        message: format!(
            "a job file holds CREATE EXTERNAL TABLE, CREATE VIEW, CREATE TABLE … AS, INSERT INTO and MERGE INTO statements; found {}",
            found.token
        ),
    })
}

/// `MERGE INTO target [(CONSTRAINT …)] [AS t] USING (query) | table [AS s] ON condition WHEN …`; the expectations
/// check the source rows.
fn parse_merge(file: &Arc<str>, location: &SourceLocation, tokens: Vec<TokenWithSpan>) -> Result<StatementKind> {
    use datafusion::sql::sqlparser::ast::{Statement, TableFactor};
    let dialect = GenericDialect {};
    let perr = |e: ParserError| syntax_error(file, location, e);
    let invalid = |message: &str| SqlError::Invalid {
        location: location.clone(),
        message: message.to_string(),
    };
    // Expectations are Strata's: taken out of the tokens before the standard MERGE is parsed.
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens.clone());
    p.expect_keyword_is(Keyword::MERGE).map_err(perr)?;
    p.expect_keyword_is(Keyword::INTO).map_err(perr)?;
    p.parse_object_name(false).map_err(perr)?;
    let before = p.index();
    let constraints = p.peek_token().token == Token::LParen
        && matches!(&p.peek_nth_token(1).token, Token::Word(w) if w.keyword == Keyword::CONSTRAINT);
    let (expectations, tokens) = if constraints && p.consume_token(&Token::LParen) {
        let rules = parse_expectations(file, &mut p).map_err(perr)?;
        let after = p.index();
        let rest: Vec<TokenWithSpan> = tokens[..before].iter().chain(&tokens[after..]).cloned().collect();
        (rules, rest)
    } else {
        (Vec::new(), tokens)
    };
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let Statement::Merge(merge) = p.parse_statement().map_err(perr)? else {
        return Err(invalid("expected MERGE INTO"));
    };
    expect_end(&mut p).map_err(perr)?;
    let TableFactor::Table {
        name: target, alias, ..
    } = merge.table
    else {
        return Err(invalid("MERGE INTO names a table"));
    };
    let target_alias = alias.map(|a| a.name.value).unwrap_or_else(|| "target".into());
    let (query, source_alias) = match merge.source {
        TableFactor::Derived { subquery, alias, .. } => {
            (refined(file, location, subquery)?, alias.map(|a| a.name.value))
        }
        TableFactor::Table { name, alias, .. } => {
            let text = format!("SELECT * FROM {name}");
            let mut q = Parser::new(&dialect).try_with_sql(&text).map_err(perr)?;
            (q.parse_query().map_err(perr)?, alias.map(|a| a.name.value))
        }
        _ => return Err(invalid("MERGE … USING takes a table or a (query)")),
    };
    Ok(StatementKind::Insert {
        target,
        query,
        expectations,
        merge: Some(Box::new(MergeSpec {
            target_alias,
            source_alias: source_alias.unwrap_or_else(|| "source".into()),
            on: *merge.on,
            clauses: merge.clauses,
        })),
    })
}

fn is_word(p: &mut Parser<'_>, word: &str) -> bool {
    match &p.peek_token().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case(word) => {
            p.next_token();
            true
        }
        _ => false,
    }
}

/// `CONSTRAINT name EXPECT (condition) [ON VIOLATION {DROP ROW | QUARANTINE | FAIL [UPDATE] | WARN}], … )`, after
/// the opening parenthesis.
fn parse_expectations(file: &Arc<str>, p: &mut Parser<'_>) -> Result<Vec<Expectation>, ParserError> {
    let mut rules = Vec::new();
    loop {
        let start = p.peek_token().span.start;
        p.expect_keyword_is(Keyword::CONSTRAINT)?;
        let name = p.parse_identifier()?;
        if !is_word(p, "EXPECT") {
            return p.expected("EXPECT (condition)", p.peek_token());
        }
        p.expect_token(&Token::LParen)?;
        let condition = p.parse_expr()?;
        p.expect_token(&Token::RParen)?;
        let action = if p.parse_keyword(Keyword::ON) {
            if !is_word(p, "VIOLATION") {
                return p.expected("VIOLATION", p.peek_token());
            }
            if p.parse_keywords(&[Keyword::DROP, Keyword::ROW]) {
                ViolationAction::Drop
            } else if is_word(p, "QUARANTINE") {
                ViolationAction::Quarantine
            } else if is_word(p, "FAIL") {
                let _ = p.parse_keyword(Keyword::UPDATE);
                ViolationAction::Fail
            } else if is_word(p, "WARN") {
                ViolationAction::Warn
            } else {
                return p.expected("DROP ROW, QUARANTINE, FAIL or WARN", p.peek_token());
            }
        } else {
            ViolationAction::Warn
        };
        let name = normalize_ident(&name);
        if rules.iter().any(|r: &Expectation| r.name == name) {
            return Err(ParserError::ParserError(format!(
                "expectation '{name}' is declared twice at Line: {}, Column: {}",
                start.line, start.column
            )));
        }
        rules.push(Expectation {
            name,
            condition,
            action,
            location: at(file, start),
        });
        if p.consume_token(&Token::RParen) {
            return Ok(rules);
        }
        p.expect_token(&Token::Comma)?;
    }
}

fn expect_end(p: &mut Parser<'_>) -> Result<(), ParserError> {
    let t = p.peek_token();
    if t.token == Token::EOF {
        Ok(())
    } else {
        p.expected("end of statement", t)
    }
}

/// Maps 1-based line/column locations back to byte offsets of the source text.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn offset(&self, text: &str, loc: Location) -> usize {
        let line = (loc.line.max(1) - 1) as usize;
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let col = (loc.column.max(1) - 1) as usize;
        text[start..]
            .char_indices()
            .nth(col)
            .map(|(i, _)| start + i)
            .unwrap_or(text.len())
    }

    /// The text from `start` up to `end` (exclusive, as sqlparser's spans end just after a token).
    fn slice<'t>(&self, text: &'t str, start: Location, end: Location) -> &'t str {
        let a = self.offset(text, start);
        let b = self.offset(text, end).max(a);
        &text[a..b]
    }
}
