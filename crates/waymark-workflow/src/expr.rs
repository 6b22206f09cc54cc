//! Conditions and values in process definitions, in the forms real models use:
//!
//! - JUEL, as Camunda 7 writes it: `${approved}`, `${amount > 1000}`, `${decision == 'yes'}`,
//!   `${!clarified}`, `${empty comment}`, with `and`/`or`/`not`/`eq`/`ne`/`lt`/`gt`/`le`/`ge` as
//!   words too;
//! - FEEL, as Camunda 8 writes it: `=amount > 1000`, `=decision = "yes"`, `=not(approved)`;
//! - XPath, as the BPMN specification writes it: `bpmn:getDataObject('approved')`,
//!   `not(bpmn:getDataObject('approved'))`, `bpmn:getDataObject('clarified') = 'yes'`;
//! - plain text in Waymark's own files, read like JUEL without the `${ }`.
//!
//! Only this expression subset is understood (literals, variables with dotted paths, `!`/`not`,
//! arithmetic, comparisons, `&&`/`||`, parentheses): enough for routing on form and message data,
//! and small enough to check completely before a model is deployed. Anything else is an error
//! naming its column.

use std::fmt;

use serde_json::{Map, Value as Json};

/// Which language an expression was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `${...}` or `#{...}`.
    Juel,
    /// `=...`.
    Feel,
    /// Waymark's own files: JUEL syntax without the wrapper.
    Plain,
    /// XPath with the BPMN data-object function (`expressionLanguage` XPath).
    XPath,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The text as written.
    pub source: String,
    pub dialect: Dialect,
    node: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Literal(Json),
    /// A variable, or a path into one: `invoice.amount`.
    Path(Vec<String>),
    Not(Box<Node>),
    Negate(Box<Node>),
    Empty(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// An expression that cannot be read: what is wrong and at which character (1-based, in the
/// text as written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {column} of `{}`)", shortened(source_text))]
pub struct ParseError {
    pub column: usize,
    pub message: String,
    pub source_text: String,
}

/// The text of an expression for a message: whole when short, else its start and an ellipsis.
fn shortened(text: &str) -> String {
    if text.chars().count() <= 120 {
        return text.to_string();
    }
    let head: String = text.chars().take(117).collect();
    format!("{head}…")
}

/// An expression that cannot be evaluated on the variables at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}`: {message}")]
pub struct EvalError {
    pub expression: String,
    pub message: String,
}

impl Expr {
    /// Reads an expression; the dialect follows from its wrapper.
    pub fn parse(text: &str) -> Result<Expr, ParseError> {
        Expr::parse_in(text, Dialect::Plain)
    }

    /// Reads an expression; without a `${ }` or `=` wrapper it is read in `unwrapped` (the
    /// model's declared expression language).
    pub fn parse_in(text: &str, unwrapped: Dialect) -> Result<Expr, ParseError> {
        let trimmed = text.trim();
        let lead = text.len() - text.trim_start().len();
        let (dialect, body, offset) = if let Some(inner) = trimmed
            .strip_prefix("${")
            .or_else(|| trimmed.strip_prefix("#{"))
        {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(ParseError {
                    column: text.len().max(1),
                    message: "the expression opens with `${` but does not close with `}`".into(),
                    source_text: text.to_string(),
                });
            };
            (Dialect::Juel, inner, lead + 2)
        } else if let Some(inner) = trimmed.strip_prefix('=') {
            (Dialect::Feel, inner, lead + 1)
        } else {
            (unwrapped, trimmed, lead)
        };
        let tokens = lex(body, dialect).map_err(|(at, message)| ParseError {
            column: offset + at + 1,
            message,
            source_text: text.to_string(),
        })?;
        // Evaluating, printing and dropping an expression recurse over its tree, whose depth is
        // at most its number of tokens: a bound on both keeps any input off the stack's limit.
        if let Some((at, _)) = tokens.get(MAX_TOKENS) {
            return Err(ParseError {
                column: offset + at + 1,
                message: format!(
                    "the expression is longer than {MAX_TOKENS} names, values and operators; split the decision over several steps"
                ),
                source_text: text.to_string(),
            });
        }
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            end: body.len(),
            depth: 0,
        };
        let node = parser.or().and_then(|node| match parser.peek() {
            None => Ok(node),
            Some((at, token)) => Err((*at, format!("unexpected {token} after the expression"))),
        });
        let node = node.map_err(|(at, message)| ParseError {
            column: offset + at + 1,
            message,
            source_text: text.to_string(),
        })?;
        Ok(Expr {
            source: text.to_string(),
            dialect,
            node,
        })
    }

    /// The variables the expression reads (the first part of each path), in order of appearance.
    pub fn variables(&self) -> Vec<String> {
        let mut found = Vec::new();
        collect(&self.node, &mut found);
        found
    }

    /// Evaluates the expression on `variables`. A variable that is not set reads as `null`.
    pub fn eval(&self, variables: &Map<String, Json>) -> Result<Json, EvalError> {
        eval(&self.node, variables).map_err(|message| EvalError {
            expression: self.source.clone(),
            message,
        })
    }

    /// The expression as a JSON tree, so that a browser can evaluate it as this module does (the
    /// web app shows and hides conditional fields as people type; the server still decides on
    /// submit): `{"lit": v}`, `{"path": [..]}`, `{"not": t}`, `{"neg": t}`, `{"empty": t}`,
    /// `{"op": "eq", "a": t, "b": t}` with ops `or and eq ne lt le gt ge add sub mul div rem`.
    pub fn tree(&self) -> Json {
        fn tree(node: &Node) -> Json {
            match node {
                Node::Literal(value) => serde_json::json!({ "lit": value }),
                Node::Path(path) => serde_json::json!({ "path": path }),
                Node::Not(inner) => serde_json::json!({ "not": tree(inner) }),
                Node::Negate(inner) => serde_json::json!({ "neg": tree(inner) }),
                Node::Empty(inner) => serde_json::json!({ "empty": tree(inner) }),
                Node::Binary(op, a, b) => {
                    let op = match op {
                        Op::Or => "or",
                        Op::And => "and",
                        Op::Eq => "eq",
                        Op::Ne => "ne",
                        Op::Lt => "lt",
                        Op::Le => "le",
                        Op::Gt => "gt",
                        Op::Ge => "ge",
                        Op::Add => "add",
                        Op::Sub => "sub",
                        Op::Mul => "mul",
                        Op::Div => "div",
                        Op::Rem => "rem",
                    };
                    serde_json::json!({ "op": op, "a": tree(a), "b": tree(b) })
                }
            }
        }
        tree(&self.node)
    }

    /// Evaluates a condition: it must give `true` or `false`.
    pub fn test(&self, variables: &Map<String, Json>) -> Result<bool, EvalError> {
        match self.eval(variables)? {
            Json::Bool(b) => Ok(b),
            other => Err(EvalError {
                expression: self.source.clone(),
                message: format!("a condition must give true or false, not {other}"),
            }),
        }
    }
}

fn collect(node: &Node, found: &mut Vec<String>) {
    match node {
        Node::Literal(_) => {}
        Node::Path(path) => {
            if let Some(first) = path.first()
                && !found.contains(first)
            {
                found.push(first.clone());
            }
        }
        Node::Not(inner) | Node::Negate(inner) | Node::Empty(inner) => collect(inner, found),
        Node::Binary(_, a, b) => {
            collect(a, found);
            collect(b, found);
        }
    }
}

const DATA_OBJECT: &str = "bpmn:getDataObject(";

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Word(String),
    Symbol(&'static str),
    Open,
    Close,
    Dot,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "the number {n}"),
            Token::Text(t) => write!(f, "the text '{t}'"),
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Symbol(s) => write!(f, "`{s}`"),
            Token::Open => f.write_str("`(`"),
            Token::Close => f.write_str("`)`"),
            Token::Dot => f.write_str("`.`"),
        }
    }
}

type Spanned = (usize, Token);

fn lex(text: &str, dialect: Dialect) -> Result<Vec<Spanned>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                tokens.push((start, Token::Open));
                i += 1;
            }
            b')' => {
                tokens.push((start, Token::Close));
                i += 1;
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                tokens.push((start, Token::Dot));
                i += 1;
            }
            b'\'' | b'"' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                loop {
                    let Some(&b) = bytes.get(i) else {
                        return Err((start, "this text is not closed with a quote".into()));
                    };
                    if b == b'\\' && i + 1 < bytes.len() {
                        let next = text[i + 1..].chars().next().unwrap_or('\\');
                        value.push(next);
                        i += 1 + next.len_utf8();
                    } else if b == quote {
                        i += 1;
                        break;
                    } else {
                        let ch = text[i..].chars().next().unwrap_or(' ');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
                tokens.push((start, Token::Text(value)));
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let number = text[start..i]
                    .parse::<f64>()
                    .map_err(|_| (start, format!("`{}` is not a number", &text[start..i])))?;
                tokens.push((start, Token::Number(number)));
            }
            b'b' if dialect == Dialect::XPath && text[i..].starts_with(DATA_OBJECT) => {
                // bpmn:getDataObject('name') reads the variable `name`.
                let rest = &text[i + DATA_OBJECT.len()..];
                let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
                let parsed = quote.and_then(|q| {
                    let inner = &rest[1..];
                    let close = inner.find(q)?;
                    let after = inner[close + 1..].trim_start();
                    after.starts_with(')').then(|| {
                        let used = DATA_OBJECT.len()
                            + 1
                            + close
                            + 1
                            + (inner[close + 1..].len() - after.len())
                            + 1;
                        (inner[..close].to_string(), used)
                    })
                });
                let Some((name, used)) = parsed else {
                    return Err((start, "write bpmn:getDataObject('name')".into()));
                };
                tokens.push((start, Token::Word(name)));
                i += used;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                tokens.push((start, Token::Word(text[start..i].to_string())));
            }
            _ => {
                let rest = &text[i..];
                let symbol = [
                    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "=",
                ]
                .into_iter()
                .find(|s| rest.starts_with(s));
                let Some(symbol) = symbol else {
                    let ch = rest.chars().next().unwrap_or(' ');
                    return Err((start, format!("`{ch}` has no meaning in an expression")));
                };
                i += symbol.len();
                let symbol = match (symbol, dialect) {
                    ("=", Dialect::Feel | Dialect::XPath) => "==",
                    ("=", _) => {
                        return Err((
                            start,
                            "`=` is not a comparison here: write `==` (or use FEEL, starting with `=`)"
                                .into(),
                        ));
                    }
                    (s, _) => s,
                };
                tokens.push((start, Token::Symbol(symbol)));
            }
        }
    }
    Ok(tokens)
}

/// The most tokens an expression may have (conditions in real models have a few dozen).
pub const MAX_TOKENS: usize = 512;
/// The deepest nesting of parentheses and prefix operators an expression may have.
pub const MAX_DEPTH: usize = 64;

struct Parser<'t> {
    tokens: &'t [Spanned],
    at: usize,
    end: usize,
    /// Parentheses and prefix operators open around the token at `at`.
    depth: usize,
}

type Parsed = Result<Node, (usize, String)>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.at)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |(at, _)| *at)
    }

    /// Takes the next token if it is one of the operators given (as symbols or words).
    fn operator(&mut self, options: &[(&str, Op)]) -> Option<Op> {
        let (_, token) = self.peek()?;
        let op = options.iter().find_map(|(name, op)| match token {
            Token::Symbol(s) if s == name => Some(*op),
            Token::Word(w) if w == name => Some(*op),
            _ => None,
        })?;
        self.at += 1;
        Some(op)
    }

    fn or(&mut self) -> Parsed {
        let mut left = self.and()?;
        while let Some(op) = self.operator(&[("||", Op::Or), ("or", Op::Or)]) {
            left = Node::Binary(op, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed {
        let mut left = self.comparison()?;
        while let Some(op) = self.operator(&[("&&", Op::And), ("and", Op::And)]) {
            left = Node::Binary(op, Box::new(left), Box::new(self.comparison()?));
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Parsed {
        let left = self.sum()?;
        let ops = [
            ("==", Op::Eq),
            ("eq", Op::Eq),
            ("!=", Op::Ne),
            ("ne", Op::Ne),
            ("<=", Op::Le),
            ("le", Op::Le),
            (">=", Op::Ge),
            ("ge", Op::Ge),
            ("<", Op::Lt),
            ("lt", Op::Lt),
            (">", Op::Gt),
            ("gt", Op::Gt),
        ];
        match self.operator(&ops) {
            Some(op) => Ok(Node::Binary(op, Box::new(left), Box::new(self.sum()?))),
            None => Ok(left),
        }
    }

    fn sum(&mut self) -> Parsed {
        let mut left = self.product()?;
        while let Some(op) = self.operator(&[("+", Op::Add), ("-", Op::Sub)]) {
            left = Node::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Parsed {
        let mut left = self.unary()?;
        while let Some(op) = self.operator(&[
            ("*", Op::Mul),
            ("/", Op::Div),
            ("div", Op::Div),
            ("%", Op::Rem),
            ("mod", Op::Rem),
        ]) {
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    /// Parses `inner` one level deeper, refusing nesting beyond [`MAX_DEPTH`].
    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Parsed) -> Parsed {
        if self.depth >= MAX_DEPTH {
            return Err((
                self.here(),
                format!("the expression nests deeper than {MAX_DEPTH} levels; simplify it"),
            ));
        }
        self.depth += 1;
        let parsed = inner(self);
        self.depth -= 1;
        parsed
    }

    fn unary(&mut self) -> Parsed {
        self.nested(Self::unary_inner)
    }

    fn unary_inner(&mut self) -> Parsed {
        let Some((at, token)) = self.peek().cloned() else {
            return Err((self.end, "an expression is missing here".into()));
        };
        match token {
            Token::Symbol("!") => {
                self.at += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            Token::Word(w) if w == "not" => {
                self.at += 1;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            Token::Word(w) if w == "empty" => {
                self.at += 1;
                Ok(Node::Empty(Box::new(self.unary()?)))
            }
            Token::Symbol("-") => {
                self.at += 1;
                Ok(Node::Negate(Box::new(self.unary()?)))
            }
            _ => {
                let _ = at;
                self.primary()
            }
        }
    }

    fn primary(&mut self) -> Parsed {
        let at = self.here();
        let Some((_, token)) = self.peek().cloned() else {
            return Err((self.end, "an expression is missing here".into()));
        };
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Node::Literal(number(n))),
            Token::Text(t) => Ok(Node::Literal(Json::String(t))),
            Token::Open => {
                let inner = self.nested(Self::or)?;
                match self.peek() {
                    Some((_, Token::Close)) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err((self.here(), "a `(` is not closed with `)`".into())),
                }
            }
            Token::Word(w) => match w.as_str() {
                "true" => Ok(Node::Literal(Json::Bool(true))),
                "false" => Ok(Node::Literal(Json::Bool(false))),
                "null" => Ok(Node::Literal(Json::Null)),
                _ => {
                    let mut path = vec![w];
                    while let Some((_, Token::Dot)) = self.peek() {
                        self.at += 1;
                        match self.peek().cloned() {
                            Some((_, Token::Word(next))) => {
                                self.at += 1;
                                path.push(next);
                            }
                            _ => {
                                return Err((self.here(), "a name must follow `.`".into()));
                            }
                        }
                    }
                    if let Some((_, Token::Open)) = self.peek() {
                        return Err((
                            at,
                            format!(
                                "`{}(…)`: calling methods or functions is not supported; compare variables and values instead",
                                path.join(".")
                            ),
                        ));
                    }
                    Ok(Node::Path(path))
                }
            },
            other => Err((at, format!("{other} cannot start an expression"))),
        }
    }
}

fn number(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        Json::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

fn truthy(value: &Json, what: &str) -> Result<bool, String> {
    match value {
        Json::Bool(b) => Ok(*b),
        Json::Null => Ok(false),
        other => Err(format!("{what} needs true or false, not {other}")),
    }
}

fn eval(node: &Node, variables: &Map<String, Json>) -> Result<Json, String> {
    Ok(match node {
        Node::Literal(value) => value.clone(),
        Node::Path(path) => {
            let mut value = variables.get(&path[0]).cloned().unwrap_or(Json::Null);
            for part in &path[1..] {
                value = value.get(part).cloned().unwrap_or(Json::Null);
            }
            value
        }
        Node::Not(inner) => Json::Bool(!truthy(&eval(inner, variables)?, "`not`")?),
        Node::Negate(inner) => match eval(inner, variables)? {
            Json::Number(n) => number(-n.as_f64().unwrap_or(0.0)),
            other => return Err(format!("cannot negate {other}")),
        },
        Node::Empty(inner) => Json::Bool(match eval(inner, variables)? {
            Json::Null => true,
            Json::String(s) => s.is_empty(),
            Json::Array(a) => a.is_empty(),
            Json::Object(o) => o.is_empty(),
            _ => false,
        }),
        Node::Binary(Op::Or, a, b) => Json::Bool(
            truthy(&eval(a, variables)?, "`or`")? || truthy(&eval(b, variables)?, "`or`")?,
        ),
        Node::Binary(Op::And, a, b) => Json::Bool(
            truthy(&eval(a, variables)?, "`and`")? && truthy(&eval(b, variables)?, "`and`")?,
        ),
        Node::Binary(op, a, b) => {
            let (a, b) = (eval(a, variables)?, eval(b, variables)?);
            binary(*op, &a, &b)?
        }
    })
}

fn as_number(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        // Form fields often arrive as text: "1200" compares as a number.
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn binary(op: Op, a: &Json, b: &Json) -> Result<Json, String> {
    let numbers = as_number(a).zip(as_number(b));
    let both_text = matches!((a, b), (Json::String(_), Json::String(_)));
    Ok(match op {
        Op::Eq | Op::Ne => {
            let equal = match (numbers, a, b) {
                (Some((x, y)), _, _) if !both_text => x == y,
                (_, a, b) => a == b,
            };
            Json::Bool(equal == (op == Op::Eq))
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ordering = if both_text {
                let (Json::String(x), Json::String(y)) = (a, b) else {
                    unreachable_pair()?
                };
                x.cmp(y)
            } else {
                let Some((x, y)) = numbers else {
                    return Err(format!("cannot compare {a} with {b}"));
                };
                x.partial_cmp(&y).ok_or("cannot compare NaN")?
            };
            Json::Bool(match op {
                Op::Lt => ordering.is_lt(),
                Op::Le => ordering.is_le(),
                Op::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        Op::Add if both_text || matches!(a, Json::String(_)) && as_number(a).is_none() => {
            Json::String(format!("{}{}", text(a), text(b)))
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Rem => {
            let Some((x, y)) = numbers else {
                return Err(format!("cannot do arithmetic with {a} and {b}"));
            };
            if matches!(op, Op::Div | Op::Rem) && y == 0.0 {
                return Err("division by zero".into());
            }
            number(match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                Op::Div => x / y,
                _ => x % y,
            })
        }
        Op::Or | Op::And => unreachable_pair()?,
    })
}

/// For match arms the evaluator never reaches; an error rather than a panic.
fn unreachable_pair<T>() -> Result<T, String> {
    Err("internal: operator evaluated in the wrong place".into())
}

fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(value: Json) -> Map<String, Json> {
        match value {
            Json::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn an_expression_becomes_a_tree_for_browsers() {
        let expr = Expr::parse("=not(approved) and amount >= 1000").expect("parse");
        assert_eq!(
            expr.tree(),
            json!({ "op": "and",
                "a": { "not": { "path": ["approved"] } },
                "b": { "op": "ge", "a": { "path": ["amount"] }, "b": { "lit": 1000 } } })
        );
    }

    #[test]
    fn the_forms_real_models_use() {
        let v = vars(json!({
            "approved": true, "amount": 1200, "decision": "yes", "clarified": false,
            "invoice": { "amount": "900" }, "comment": ""
        }));
        for (text, expected) in [
            ("${approved}", true),
            ("${!clarified}", true),
            ("${amount > 1000}", true),
            ("${decision == 'yes'}", true),
            ("${decision eq \"no\"}", false),
            ("=amount > 1000", true),
            ("=decision = \"yes\"", true),
            ("=not(approved)", false),
            ("${invoice.amount < 1000 && approved}", true),
            ("${empty comment}", true),
            ("${missing == null}", true),
            ("amount >= 1200 and not clarified", true),
            ("(amount - 200) * 2 == 2000", true),
        ] {
            let expr = Expr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(expr.test(&v), Ok(expected), "{text}");
        }
    }

    #[test]
    fn xpath_data_objects_as_the_bpmn_specification_writes_them() {
        let v = vars(json!({ "approved": false, "clarified": "yes" }));
        for (text, expected) in [
            ("bpmn:getDataObject('approved')", false),
            ("not(bpmn:getDataObject('approved'))", true),
            ("bpmn:getDataObject('clarified') = 'yes'", true),
            ("bpmn:getDataObject(\"clarified\") != 'no' and true", true),
        ] {
            let expr = Expr::parse_in(text, Dialect::XPath).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(expr.test(&v), Ok(expected), "{text}");
        }
        assert!(Expr::parse_in("bpmn:getDataObject(approved)", Dialect::XPath).is_err());
    }

    #[test]
    fn mistakes_name_their_column() {
        let error = Expr::parse("${amount >> 3}").expect_err("bad");
        assert_eq!(error.column, 11, "the second `>`: {error}");
        let error = Expr::parse("${decision = 'yes'}").expect_err("bad");
        assert!(error.message.contains("write `==`"), "{error}");
        let error = Expr::parse("${execution.getVariable('x')}").expect_err("bad");
        assert!(error.message.contains("not supported"), "{error}");
        let error = Expr::parse("${amount > 1000").expect_err("bad");
        assert!(error.message.contains("does not close"), "{error}");
        assert!(Expr::parse("${'open}").is_err());
    }

    #[test]
    fn deep_or_long_expressions_are_refused_not_a_stack_overflow() {
        // Each of these overflowed the stack while parsing, evaluating or dropping the tree.
        let deep = format!("${{{}x{}}}", "(".repeat(200), ")".repeat(200));
        let error = Expr::parse(&deep).expect_err("too deep");
        assert!(error.message.contains("nests deeper"), "{}", error.message);
        let huge = format!("${{{}x{}}}", "(".repeat(100_000), ")".repeat(100_000));
        let error = Expr::parse(&huge).expect_err("too long");
        assert!(
            error.to_string().len() < 400,
            "the message quotes a part only"
        );
        let negations = format!("${{{}x}}", "!".repeat(100_000));
        assert!(Expr::parse(&negations).is_err());
        let long = format!("${{x{}}}", " + 1".repeat(100_000));
        let error = Expr::parse(&long).expect_err("too long");
        assert!(error.message.contains("longer than"), "{error}");
        assert_eq!(error.column, 2 + 2 * MAX_TOKENS + 1, "{error}");
        // What real models write still reads.
        let nested = format!("${{{}x{} == 1}}", "(".repeat(20), ")".repeat(20));
        let expr = Expr::parse(&nested).expect("20 parentheses");
        assert_eq!(expr.test(&vars(json!({"x": 1}))), Ok(true));
    }

    #[test]
    fn conditions_must_be_true_or_false() {
        let expr = Expr::parse("${amount}").expect("parse");
        let error = expr
            .test(&vars(json!({ "amount": 3 })))
            .expect_err("not a boolean");
        assert!(error.to_string().contains("true or false"), "{error}");
    }

    #[test]
    fn variables_are_listed_once() {
        let expr = Expr::parse("${a > 1 && b.c == a}").expect("parse");
        assert_eq!(expr.variables(), ["a", "b"]);
    }
}
