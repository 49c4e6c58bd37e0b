//! Recursive-descent parser for conditions, update expressions and projections, with
//! DynamoDB's static checks. Semantic problems are collected by category while parsing goes on
//! (so a later syntax error still wins), then the first one in DynamoDB's order is reported.
//!
//! Every input is parsed in bounded stack and time, whatever its length or shape:
//! - chains of `AND` / `OR` / `NOT` are parsed in loops, and DynamoDB's limit of 300 operators
//!   per expression ([`MAX_OPERATORS`]) bounds the trees they build;
//! - redundant parentheses (`((x))`, which DynamoDB rejects) are removed before parsing, so
//!   each remaining level of parenthesized conditions holds an operator of its own and the
//!   operator limit bounds their nesting too;
//! - parenthesized operands only group document paths (`((a).b)`), whose depth is limited to
//!   32 ([`MAX_PATH_DEPTH`]);
//! - function calls nest at most [`MAX_CALL_NESTING`] deep; deeper nesting (only possible with
//!   functions DynamoDB rejects there, such as `f(f(f(...)))` or `size(size(...))`) stops the
//!   parse with the message DynamoDB gives for that function.

use super::ast::{Action, CmpOp, Cond, Elem, Operand, Path};
use super::lex::{tokenize, Tok, Token};
use super::reserved::is_reserved;
use super::ExprInput;
use crate::value::AttributeValue;

/// Maximum operators (comparisons, BETWEEN, IN, AND, OR, NOT, `+`, `-`) in one expression.
pub const MAX_OPERATORS: usize = 300;
/// Maximum elements of a document path (`a.b[1]` has three).
pub const MAX_PATH_DEPTH: usize = 32;
/// Maximum operands of IN.
const MAX_IN_OPERANDS: usize = 100;
/// How deep function calls may nest (`if_not_exists(a, if_not_exists(b, ...))`): far more
/// than any real expression (conditions have no function that takes a call; DynamoDB refuses
/// `list_append(list_append(...))`), and few enough to check and evaluate the calls
/// recursively.
pub const MAX_CALL_NESTING: usize = 64;

const CONDITION_FUNCTIONS: [&str; 6] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
];

/// Which grammar the parser follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// ConditionExpression, FilterExpression, KeyConditionExpression.
    Condition,
    Update,
    Projection,
}

/// Semantic errors by category; the first of each category is kept.
#[derive(Default)]
pub struct Errors {
    pub parens: Option<String>,
    pub reserved: Option<String>,
    pub unknown_function: Option<String>,
    pub misused_function: Option<String>,
    pub section: Option<String>,
    pub attr_name: Option<String>,
    pub attr_val: Option<String>,
    pub path_overlap: Option<String>,
    pub path_conflict: Option<String>,
    pub operand: Option<String>,
    pub distinct: Option<String>,
    pub function: Option<String>,
}

fn set(slot: &mut Option<String>, msg: impl FnOnce() -> String) {
    if slot.is_none() {
        *slot = Some(msg());
    }
}

/// A parsed operand before it is known whether it is a condition or a value.
enum Raw {
    Path(Path),
    Value(AttributeValue),
    /// A placeholder that could not be resolved (already reported).
    Missing,
    Call(String, Vec<Raw>),
    Plus(Box<Raw>, Box<Raw>),
    Minus(Box<Raw>, Box<Raw>),
}

/// A valid function call of a SET value, with its operands.
enum UpdateCall {
    IfNotExists(Path, Raw),
    ListAppend(Raw, Raw),
}

impl Raw {
    fn literal_type(&self) -> Option<&'static str> {
        match self {
            Raw::Value(v) => Some(v.type_name()),
            _ => None,
        }
    }
}

/// For each `(` and `)` of `toks`, the index of the matching parenthesis.
fn match_parens(toks: &[Token]) -> Vec<Option<usize>> {
    let mut matching = vec![None; toks.len()];
    let mut open = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        match t.tok {
            Tok::LParen => open.push(i),
            Tok::RParen => {
                if let Some(o) = open.pop() {
                    if let Some(m) = matching.get_mut(o) {
                        *m = Some(i);
                    }
                    if let Some(m) = matching.get_mut(i) {
                        *m = Some(o);
                    }
                }
            }
            _ => {}
        }
    }
    matching
}

fn too_many_operators(count: usize) -> String {
    format!("The expression contains too many operators; operator count: {count}")
}

fn path_too_deep(levels: usize) -> String {
    format!("The document path has too many nesting levels; nesting levels: {levels}")
}

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    /// `match_parens(&toks)`.
    matching: Vec<Option<usize>>,
    eof: Token,
    pos: usize,
    input: &'a ExprInput<'a>,
    mode: Mode,
    pub errors: Errors,
    /// Operators seen so far.
    operators: usize,
    /// Current nesting of function calls and of parenthesized operands.
    calls: usize,
    groups: usize,
}

/// A syntax error (or a limit that stops the parse): the message after "Invalid XExpression: ".
pub type Syntax = String;

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, input: &'a ExprInput<'a>, mode: Mode) -> Result<Parser<'a>, Syntax> {
        if src.trim().is_empty() {
            return Err("The expression can not be empty;".to_owned());
        }
        let toks = tokenize(src);
        let matching = match_parens(&toks);
        let mut p = Parser {
            src,
            toks,
            matching,
            eof: Token {
                tok: Tok::Eof,
                start: src.len(),
                end: src.len(),
            },
            pos: 0,
            input,
            mode,
            errors: Errors::default(),
            operators: 0,
            calls: 0,
            groups: 0,
        };
        if mode == Mode::Condition {
            p.strip_redundant_parens();
        }
        Ok(p)
    }

    /// Whether the `(` at `i` groups (a condition or an operand), rather than opening the
    /// arguments of a function or the list of IN.
    fn groups_at(&self, i: usize) -> bool {
        match i.checked_sub(1).map(|p| &self.token(p).tok) {
            Some(Tok::Ident(w)) => ["AND", "OR", "NOT", "BETWEEN"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k)),
            _ => true,
        }
    }

    /// DynamoDB rejects a grouping pair of parentheses whose only content is another group
    /// (`((a = :v))`, `((a)) = :v`). Such pairs are recorded and removed, so that what is
    /// left nests only as deep as its operators and paths.
    fn strip_redundant_parens(&mut self) {
        let mut drop = vec![false; self.toks.len()];
        let mut found = false;
        for i in 0..self.toks.len() {
            if self.token(i).tok != Tok::LParen
                || self.token(i + 1).tok != Tok::LParen
                || !self.groups_at(i)
            {
                continue;
            }
            let close = self.matching.get(i).copied().flatten();
            let inner_close = self.matching.get(i + 1).copied().flatten();
            if let (Some(close), Some(inner_close)) = (close, inner_close) {
                if inner_close + 1 == close {
                    for k in [i, close] {
                        if let Some(d) = drop.get_mut(k) {
                            *d = true;
                        }
                    }
                    found = true;
                }
            }
        }
        if found {
            self.errors.parens = Some("The expression has redundant parentheses;".to_owned());
            let toks = std::mem::take(&mut self.toks);
            self.toks = toks
                .into_iter()
                .zip(drop)
                .filter(|(_, d)| !d)
                .map(|(t, _)| t)
                .collect();
            self.matching = match_parens(&self.toks);
        }
    }

    fn token(&self, i: usize) -> &Token {
        self.toks.get(i).unwrap_or(&self.eof)
    }

    fn peek(&self) -> &Tok {
        &self.token(self.pos).tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.token(self.pos.saturating_add(n)).tok
    }

    fn advance(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn text(&self, from: usize, to: usize) -> &str {
        self.src.get(from..to).unwrap_or_default()
    }

    /// DynamoDB's syntax error at the current token.
    pub fn syntax_error(&self) -> Syntax {
        let i = self.pos;
        let cur = self.token(i);
        let start = match i.checked_sub(1) {
            Some(p) => self.token(p).start,
            None => cur.start,
        };
        if cur.tok == Tok::Eof {
            return format!(
                "Syntax error; token: <EOF>, near: \"{}\"",
                self.text(start, self.src.len()).trim_end()
            );
        }
        let next = self.token(i + 1);
        let end = if next.tok == Tok::Eof {
            cur.end
        } else {
            next.end
        };
        format!(
            "Syntax error; token: \"{}\", near: \"{}\"",
            self.text(cur.start, cur.end),
            self.text(start, end)
        )
    }

    fn expect(&mut self, t: Tok) -> Result<(), Syntax> {
        if *self.peek() == t {
            self.advance();
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    pub fn expect_end(&mut self) -> Result<(), Syntax> {
        self.expect(Tok::Eof)
    }

    /// The error for a nesting limit reached at the `(` at `paren`: when that parenthesis is
    /// never closed the expression is a syntax error ending at <EOF>, which is reported
    /// instead, as DynamoDB would.
    fn limit_error(&mut self, paren: usize, msg: String) -> Syntax {
        if self.matching.get(paren).copied().flatten().is_none() {
            self.pos = self.toks.len().saturating_sub(1);
            return self.syntax_error();
        }
        msg
    }

    fn count_operator(&mut self) -> Result<(), Syntax> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(too_many_operators(self.operators));
        }
        Ok(())
    }

    fn resolve_name(&mut self, placeholder: &str) -> Option<String> {
        match self.input.name(placeholder) {
            Some(n) => Some(n),
            None => {
                set(&mut self.errors.attr_name, || {
                    format!("An expression attribute name used in the document path is not defined; attribute name: {placeholder}")
                });
                None
            }
        }
    }

    fn resolve_value(&mut self, placeholder: &str) -> Option<AttributeValue> {
        match self.input.value(placeholder) {
            Some(v) => Some(v),
            None => {
                set(&mut self.errors.attr_val, || {
                    format!("An expression attribute value used in expression is not defined; attribute value: {placeholder}")
                });
                None
            }
        }
    }

    /// Words the grammar reserves for itself: they cannot name an attribute or a function.
    fn is_grammar_keyword(&self, t: &Tok) -> bool {
        let words: &[&str] = match self.mode {
            Mode::Condition => &["AND", "OR", "NOT", "BETWEEN", "IN"],
            Mode::Update => &["SET", "REMOVE", "ADD", "DELETE"],
            Mode::Projection => &[],
        };
        words.iter().any(|k| t.is_keyword(k))
    }

    fn path_elem_name(&mut self) -> Result<String, Syntax> {
        if self.is_grammar_keyword(self.peek()) {
            return Err(self.syntax_error());
        }
        match self.peek().clone() {
            Tok::Ident(id) => {
                self.advance();
                if is_reserved(&id) {
                    set(&mut self.errors.reserved, || {
                        format!("Attribute name is a reserved keyword; reserved keyword: {id}")
                    });
                }
                Ok(id)
            }
            Tok::Name(n) => {
                self.advance();
                Ok(self.resolve_name(&n).unwrap_or_default())
            }
            _ => Err(self.syntax_error()),
        }
    }

    /// `a.b[3].#c`
    pub fn path(&mut self) -> Result<Path, Syntax> {
        let first = self.path_elem_name()?;
        self.path_tail(vec![Elem::Attr(first)])
    }

    /// The `.x` and `[n]` elements following `elems`.
    fn path_tail(&mut self, mut elems: Vec<Elem>) -> Result<Path, Syntax> {
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.advance();
                    elems.push(Elem::Attr(self.path_elem_name()?));
                }
                Tok::LBracket => {
                    self.advance();
                    let idx = match self.peek() {
                        Tok::Int(s) => s.parse::<usize>().map_err(|_| self.syntax_error())?,
                        _ => return Err(self.syntax_error()),
                    };
                    self.advance();
                    self.expect(Tok::RBracket)?;
                    elems.push(Elem::Index(idx));
                }
                _ => break,
            }
        }
        if elems.len() > MAX_PATH_DEPTH {
            return Err(path_too_deep(elems.len()));
        }
        Ok(Path(elems))
    }

    /// An operand: a path, a value placeholder or a function call, possibly in parentheses
    /// (in conditions any grouping of document paths such as `((a).b)`; in update expressions
    /// one pair). Nested calls and groups are kept on an explicit stack, not the thread's.
    fn operand(&mut self) -> Result<Raw, Syntax> {
        /// What an operand being parsed is inside of.
        enum Open {
            Call(String, Vec<Raw>),
            /// Parentheses in a condition: what they enclose may go on as a path (`(a).b`).
            Group,
            /// Parentheses in an update expression.
            Pair,
        }
        let mut open: Vec<Open> = Vec::new();
        'operand: loop {
            // The start of an operand.
            let mut raw = match self.peek().clone() {
                Tok::LParen if self.mode == Mode::Condition => {
                    // Redundant pairs are gone, so each level adds to a document path:
                    // nesting deeper than a path may be is an error whatever follows.
                    self.groups += 1;
                    if self.groups > MAX_PATH_DEPTH {
                        return Err(self.limit_error(self.pos, path_too_deep(self.groups)));
                    }
                    self.advance();
                    open.push(Open::Group);
                    continue 'operand;
                }
                Tok::LParen if !matches!(open.last(), Some(Open::Pair)) => {
                    self.advance();
                    if *self.peek() == Tok::LParen {
                        return Err(self.syntax_error());
                    }
                    open.push(Open::Pair);
                    continue 'operand;
                }
                Tok::Value(v) => {
                    self.advance();
                    self.resolve_value(&v).map_or(Raw::Missing, Raw::Value)
                }
                Tok::Ident(name) if *self.peek_at(1) == Tok::LParen => {
                    if self.is_grammar_keyword(self.peek()) {
                        return Err(self.syntax_error());
                    }
                    self.calls += 1;
                    if self.calls > MAX_CALL_NESTING {
                        let msg = self.call_too_deep(&name);
                        return Err(self.limit_error(self.pos + 1, msg));
                    }
                    self.advance();
                    self.advance();
                    open.push(Open::Call(name, Vec::new()));
                    continue 'operand;
                }
                Tok::Ident(_) | Tok::Name(_) => Raw::Path(self.path()?),
                _ => return Err(self.syntax_error()),
            };
            // A complete operand: close what it completes.
            loop {
                match open.last_mut() {
                    None => return Ok(raw),
                    Some(Open::Call(_, args)) => {
                        args.push(raw);
                        if *self.peek() == Tok::Comma {
                            self.advance();
                            continue 'operand;
                        }
                        self.expect(Tok::RParen)?;
                        self.calls -= 1;
                        raw = match open.pop() {
                            Some(Open::Call(name, args)) => Raw::Call(name, args),
                            _ => Raw::Missing,
                        };
                    }
                    Some(Open::Group) => {
                        self.expect(Tok::RParen)?;
                        self.groups -= 1;
                        open.pop();
                        if let Raw::Path(p) = raw {
                            raw = if matches!(self.peek(), Tok::Dot | Tok::LBracket) {
                                Raw::Path(self.path_tail(p.0)?)
                            } else {
                                Raw::Path(p)
                            };
                        }
                    }
                    Some(Open::Pair) => {
                        self.expect(Tok::RParen)?;
                        open.pop();
                    }
                }
            }
        }
    }

    /// What DynamoDB says of `name` called inside [`MAX_CALL_NESTING`] other calls: only
    /// functions that cannot take a call as argument nest that deep in 4 KB.
    fn call_too_deep(&self, name: &str) -> Syntax {
        let misused = || {
            format!("The function is not allowed to be used this way in an expression; function: {name}")
        };
        match self.mode {
            Mode::Condition if name == "size" => {
                "Incorrect operand type for operator or function; operator or function: size, operand type: N".to_owned()
            }
            Mode::Condition if CONDITION_FUNCTIONS.contains(&name) => misused(),
            Mode::Update if name == "if_not_exists" || name == "list_append" => misused(),
            Mode::Update if CONDITION_FUNCTIONS.contains(&name) => {
                format!("The function is not allowed in an update expression; function: {name}")
            }
            _ => format!("Invalid function name; function: {name}"),
        }
    }

    // ---- conditions ----

    /// A condition: ORs of ANDs of (NOT) primaries, left to right, AND binding tighter than
    /// OR; a primary is a comparison, a function or a condition in parentheses. Groups are
    /// kept on an explicit stack, not the thread's.
    pub fn condition(&mut self) -> Result<Cond, Syntax> {
        /// One level of parentheses (the first is the whole expression).
        #[derive(Default)]
        struct Level {
            /// NOTs in front of the `(` that opened it.
            nots: usize,
            ors: Option<Cond>,
            ands: Option<Cond>,
        }
        fn negate(mut c: Cond, nots: usize) -> Cond {
            for _ in 0..nots {
                c = Cond::Not(Box::new(c));
            }
            c
        }
        let mut levels = vec![Level::default()];
        'primary: loop {
            let mut nots = 0;
            while self.peek().is_keyword("NOT") {
                self.advance();
                self.count_operator()?;
                nots += 1;
            }
            if *self.peek() == Tok::LParen && !self.group_is_operand() {
                // Without redundant pairs, each level holds an operator of its own (or is
                // the innermost): nesting deeper than the operator limit means too many.
                if levels.len() > MAX_OPERATORS + 1 {
                    let msg = too_many_operators(MAX_OPERATORS + 1);
                    return Err(self.limit_error(self.pos, msg));
                }
                self.advance();
                levels.push(Level {
                    nots,
                    ..Level::default()
                });
                continue 'primary;
            }
            let mut c = negate(self.simple_condition()?, nots);
            // A complete primary: join it to its level, and close the levels it completes.
            loop {
                let Some(level) = levels.last_mut() else {
                    return Err(self.syntax_error());
                };
                level.ands = Some(match level.ands.take() {
                    Some(a) => Cond::And(Box::new(a), Box::new(c)),
                    None => c,
                });
                if self.peek().is_keyword("AND") {
                    self.advance();
                    self.count_operator()?;
                    continue 'primary;
                }
                if self.peek().is_keyword("OR") {
                    self.advance();
                    self.count_operator()?;
                    if let Some(done) = level.ands.take() {
                        level.ors = Some(match level.ors.take() {
                            Some(o) => Cond::Or(Box::new(o), Box::new(done)),
                            None => done,
                        });
                    }
                    continue 'primary;
                }
                let done = match (level.ors.take(), level.ands.take()) {
                    (Some(o), Some(a)) => Cond::Or(Box::new(o), Box::new(a)),
                    (Some(x), None) | (None, Some(x)) => x,
                    (None, None) => return Err(self.syntax_error()),
                };
                if levels.len() == 1 {
                    return Ok(done);
                }
                self.expect(Tok::RParen)?;
                let nots = levels.pop().map_or(0, |l| l.nots);
                c = negate(done, nots);
            }
        }
    }

    /// Whether the `(` at the current position groups an operand (`(a.b) = :v`, `(a).c`)
    /// rather than a condition: what follows its `)` says.
    fn group_is_operand(&self) -> bool {
        let Some(close) = self.matching.get(self.pos).copied().flatten() else {
            return false;
        };
        let next = &self.token(close + 1).tok;
        next.is_comparator()
            || matches!(next, Tok::Dot | Tok::LBracket)
            || next.is_keyword("BETWEEN")
            || next.is_keyword("IN")
    }

    /// A comparison, BETWEEN, IN or function used as a condition.
    fn simple_condition(&mut self) -> Result<Cond, Syntax> {
        let left = self.operand()?;
        let op = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            self.count_operator()?;
            let right = self.operand()?;
            self.check_distinct(op.symbol(), &left, &right);
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                self.check_orderable(op.symbol(), &[&left, &right]);
            }
            return Ok(Cond::Cmp(
                op,
                self.cond_operand(left),
                self.cond_operand(right),
            ));
        }
        if self.peek().is_keyword("BETWEEN") {
            self.advance();
            self.count_operator()?;
            let lo = self.operand()?;
            if !self.peek().is_keyword("AND") {
                return Err(self.syntax_error());
            }
            self.advance();
            let hi = self.operand()?;
            self.check_orderable("BETWEEN", &[&left, &lo, &hi]);
            self.check_between(&lo, &hi);
            return Ok(Cond::Between(
                self.cond_operand(left),
                self.cond_operand(lo),
                self.cond_operand(hi),
            ));
        }
        if self.peek().is_keyword("IN") {
            self.advance();
            self.count_operator()?;
            self.expect(Tok::LParen)?;
            let mut list = Vec::new();
            loop {
                let o = self.operand()?;
                list.push(self.cond_operand(o));
                if *self.peek() == Tok::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
            self.expect(Tok::RParen)?;
            if list.len() > MAX_IN_OPERANDS {
                set(&mut self.errors.function, || {
                    format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    )
                });
            }
            return Ok(Cond::In(self.cond_operand(left), list));
        }
        match left {
            Raw::Call(name, args) => Ok(self.function_condition(name, args)),
            _ => Err(self.syntax_error()),
        }
    }

    fn check_distinct(&mut self, op: &str, a: &Raw, b: &Raw) {
        if let (Raw::Path(x), Raw::Path(y)) = (a, b) {
            if x == y {
                set(&mut self.errors.distinct, || {
                    format!("The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {x}")
                });
            }
        }
    }

    /// `<`, `<=`, `>`, `>=` and BETWEEN order strings, numbers and binaries only: a value of
    /// another type in the request is an error (an attribute of another type is just false).
    fn check_orderable(&mut self, op: &str, operands: &[&Raw]) {
        for o in operands {
            if let Some(ty) = o.literal_type() {
                if !matches!(ty, "S" | "N" | "B") {
                    self.wrong_type(op, ty);
                }
            }
        }
    }

    fn check_between(&mut self, lo: &Raw, hi: &Raw) {
        if let (Raw::Value(a), Raw::Value(b)) = (lo, hi) {
            let show = |v: &AttributeValue| {
                format!(
                    "AttributeValue: {{{}:{}}}",
                    v.type_name(),
                    super::eval::display_scalar(v)
                )
            };
            if a.type_name() != b.type_name() {
                set(&mut self.errors.function, || {
                    format!("The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: {}, upper bound operand: {}", show(a), show(b))
                });
            } else if super::eval::compare(a, b) == Some(std::cmp::Ordering::Greater) {
                set(&mut self.errors.function, || {
                    format!("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: {}, upper bound operand: {}", show(a), show(b))
                });
            }
        }
    }

    fn arity(&mut self, name: &str, args: &[Raw], n: usize) -> bool {
        if args.len() != n {
            set(&mut self.errors.operand, || {
                format!(
                    "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                    args.len()
                )
            });
            return false;
        }
        true
    }

    fn wrong_type(&mut self, name: &str, ty: &str) {
        set(&mut self.errors.function, || {
            format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {ty}")
        });
    }

    fn require_path(&mut self, name: &str, raw: Raw) -> Path {
        match raw {
            Raw::Path(p) => p,
            Raw::Missing => Path(vec![]),
            _ => {
                set(&mut self.errors.function, || {
                    format!("Operator or function requires a document path; operator or function: {name}")
                });
                Path(vec![])
            }
        }
    }

    /// A function used as a condition: attribute_exists, begins_with, ...
    fn function_condition(&mut self, name: String, args: Vec<Raw>) -> Cond {
        let dummy = Cond::Exists(Path(vec![]));
        let n = match name.as_str() {
            "attribute_exists" | "attribute_not_exists" | "size" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            _ => {
                set(&mut self.errors.unknown_function, || {
                    format!("Invalid function name; function: {name}")
                });
                return dummy;
            }
        };
        if name == "size" {
            set(&mut self.errors.misused_function, || {
                "The function is not allowed to be used this way in an expression; function: size"
                    .to_owned()
            });
            return dummy;
        }
        if !self.arity(&name, &args, n) {
            return dummy;
        }
        let mut args = args.into_iter();
        let (a, b) = (args.next(), args.next());
        if let (Some(a), Some(b)) = (&a, &b) {
            self.check_distinct(&name, a, b);
        }
        match (name.as_str(), a, b) {
            ("attribute_exists", Some(a), _) => Cond::Exists(self.require_path(&name, a)),
            ("attribute_not_exists", Some(a), _) => Cond::NotExists(self.require_path(&name, a)),
            ("attribute_type", Some(a), Some(b)) => {
                let path = self.require_path(&name, a);
                match &b {
                    Raw::Value(AttributeValue::S(t)) => {
                        if !["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"]
                            .contains(&t.as_str())
                        {
                            let t = t.clone();
                            set(&mut self.errors.function, || {
                                format!("Invalid attribute type name found; type: {t}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}")
                            });
                        }
                    }
                    Raw::Value(v) => self.wrong_type(&name, v.type_name()),
                    Raw::Missing => {}
                    _ => self.wrong_type(&name, "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
                }
                Cond::AttrType(path, self.cond_operand(b))
            }
            ("begins_with", Some(a), Some(b)) => {
                for arg in [&a, &b] {
                    let ty = self.value_type(arg);
                    if let Some(ty) = ty {
                        if ty != "S" && ty != "B" {
                            self.wrong_type(&name, ty);
                        }
                    }
                }
                Cond::BeginsWith(self.cond_operand(a), self.cond_operand(b))
            }
            ("contains", Some(a), Some(b)) => {
                Cond::Contains(self.cond_operand(a), self.cond_operand(b))
            }
            _ => dummy,
        }
    }

    /// The statically known type of an operand (literals and size()).
    fn value_type(&self, raw: &Raw) -> Option<&'static str> {
        match raw {
            Raw::Value(v) => Some(v.type_name()),
            Raw::Call(n, _) if n == "size" => Some("N"),
            _ => None,
        }
    }

    /// An operand of a comparison: only paths, values and size() are allowed.
    fn cond_operand(&mut self, raw: Raw) -> Operand {
        match raw {
            Raw::Path(p) => Operand::Path(p),
            Raw::Value(v) => Operand::Value(v),
            Raw::Missing => Operand::Value(AttributeValue::Null),
            Raw::Call(name, args) => match name.as_str() {
                "size" => {
                    if !self.arity("size", &args, 1) {
                        return Operand::Value(AttributeValue::Null);
                    }
                    let arg = args.into_iter().next().unwrap_or(Raw::Missing);
                    if let Some(ty) = self.value_type(&arg) {
                        if ["N", "BOOL", "NULL"].contains(&ty) {
                            self.wrong_type("size", ty);
                        }
                    }
                    Operand::Size(Box::new(self.cond_operand(arg)))
                }
                "attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains" => {
                    set(&mut self.errors.misused_function, || {
                        format!("The function is not allowed to be used this way in an expression; function: {name}")
                    });
                    Operand::Value(AttributeValue::Null)
                }
                _ => {
                    set(&mut self.errors.unknown_function, || {
                        format!("Invalid function name; function: {name}")
                    });
                    Operand::Value(AttributeValue::Null)
                }
            },
            Raw::Plus(..) | Raw::Minus(..) => {
                set(&mut self.errors.unknown_function, || {
                    "Invalid function name; function: +".to_owned()
                });
                Operand::Value(AttributeValue::Null)
            }
        }
    }

    /// DynamoDB's ordering of condition errors.
    pub fn condition_error(&mut self) -> Option<String> {
        let e = &mut self.errors;
        [
            &mut e.parens,
            &mut e.unknown_function,
            &mut e.misused_function,
            &mut e.reserved,
            &mut e.attr_name,
            &mut e.attr_val,
            &mut e.operand,
            &mut e.distinct,
            &mut e.function,
        ]
        .into_iter()
        .find_map(|s| s.take())
    }

    // ---- update expressions ----

    pub fn update(&mut self) -> Result<Vec<Action>, Syntax> {
        let mut actions = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        loop {
            let section = ["SET", "REMOVE", "ADD", "DELETE"]
                .into_iter()
                .find(|k| self.peek().is_keyword(k));
            let Some(section) = section else {
                return Err(self.syntax_error());
            };
            self.advance();
            if seen.contains(&section) {
                set(&mut self.errors.section, || {
                    format!(
                        "The \"{section}\" section can only be used once in an update expression;"
                    )
                });
            }
            seen.push(section);
            loop {
                let action = self.update_action(section)?;
                self.check_overlap(action.path(), actions.iter().map(Action::path));
                actions.push(action);
                if *self.peek() == Tok::Comma {
                    self.advance();
                } else {
                    break;
                }
            }
            if *self.peek() == Tok::Eof {
                return Ok(actions);
            }
        }
    }

    fn update_action(&mut self, section: &str) -> Result<Action, Syntax> {
        let path = self.path()?;
        match section {
            "SET" => {
                self.expect(Tok::Eq)?;
                let v = self.set_value()?;
                Ok(Action::Set(path, self.update_operand(v)))
            }
            "REMOVE" => Ok(Action::Remove(path)),
            _ => {
                let v = match self.peek().clone() {
                    Tok::Value(v) => {
                        self.advance();
                        self.resolve_value(&v)
                    }
                    _ => return Err(self.syntax_error()),
                };
                if let Some(v) = &v {
                    let name = match v {
                        AttributeValue::S(_) => Some("STRING"),
                        AttributeValue::N(_) if section == "DELETE" => Some("NUMBER"),
                        AttributeValue::B(_) => Some("BINARY"),
                        AttributeValue::Null => Some("NULL"),
                        AttributeValue::Bool(_) => Some("BOOLEAN"),
                        AttributeValue::L(_) => Some("LIST"),
                        AttributeValue::M(_) => Some("MAP"),
                        _ => None,
                    };
                    if let Some(name) = name {
                        set(&mut self.errors.operand, || {
                            format!("Incorrect operand type for operator or function; operator: {section}, operand type: {name}")
                        });
                    }
                }
                let v = Operand::Value(v.unwrap_or(AttributeValue::Null));
                Ok(if section == "ADD" {
                    Action::Add(path, v)
                } else {
                    Action::Delete(path, v)
                })
            }
        }
    }

    /// The right-hand side of SET: a value, possibly in one pair of parentheses
    /// (`(a + :v)`; in `(a) + :v` the parentheses belong to the operand).
    fn set_value(&mut self) -> Result<Raw, Syntax> {
        if *self.peek() == Tok::LParen {
            let after = self
                .matching
                .get(self.pos)
                .copied()
                .flatten()
                .map(|close| &self.token(close + 1).tok);
            if !matches!(after, Some(Tok::Plus | Tok::Minus)) {
                self.advance();
                let v = self.value()?;
                self.expect(Tok::RParen)?;
                return Ok(v);
            }
        }
        self.value()
    }

    /// An operand, or two joined by `+` or `-` (never more: `a + b + c` is a syntax error).
    fn value(&mut self) -> Result<Raw, Syntax> {
        let left = self.operand()?;
        let plus = match self.peek() {
            Tok::Plus => true,
            Tok::Minus => false,
            _ => return Ok(left),
        };
        self.advance();
        self.count_operator()?;
        let right = self.operand()?;
        Ok(if plus {
            Raw::Plus(Box::new(left), Box::new(right))
        } else {
            Raw::Minus(Box::new(left), Box::new(right))
        })
    }

    /// A SET value: path, value, if_not_exists, list_append, `x + y`, `x - y`. Recursive (as
    /// deep as calls nest), so the checks are kept out of its frame.
    fn update_operand(&mut self, raw: Raw) -> Operand {
        match raw {
            Raw::Path(p) => Operand::Path(p),
            Raw::Value(v) => Operand::Value(v),
            Raw::Missing => Operand::Value(AttributeValue::Null),
            Raw::Plus(a, b) => {
                self.numeric_args("+", &[&a, &b]);
                let (a, b) = (self.update_operand(*a), self.update_operand(*b));
                Operand::Plus(Box::new(a), Box::new(b))
            }
            Raw::Minus(a, b) => {
                self.numeric_args("-", &[&a, &b]);
                let (a, b) = (self.update_operand(*a), self.update_operand(*b));
                Operand::Minus(Box::new(a), Box::new(b))
            }
            Raw::Call(name, args) => match self.update_call(&name, args) {
                Some(UpdateCall::IfNotExists(path, b)) => {
                    Operand::IfNotExists(path, Box::new(self.update_operand(b)))
                }
                Some(UpdateCall::ListAppend(a, b)) => {
                    let (a, b) = (self.update_operand(a), self.update_operand(b));
                    Operand::ListAppend(Box::new(a), Box::new(b))
                }
                None => Operand::Value(AttributeValue::Null),
            },
        }
    }

    /// The checks of a function call in a SET value; its operands when it is valid.
    #[inline(never)]
    fn update_call(&mut self, name: &str, args: Vec<Raw>) -> Option<UpdateCall> {
        match name {
            "if_not_exists" => {
                if !self.arity(name, &args, 2) {
                    return None;
                }
                let mut it = args.into_iter();
                let (a, b) = (
                    it.next().unwrap_or(Raw::Missing),
                    it.next().unwrap_or(Raw::Missing),
                );
                Some(UpdateCall::IfNotExists(self.require_path(name, a), b))
            }
            "list_append" => {
                if !self.arity(name, &args, 2) {
                    return None;
                }
                for a in &args {
                    match a {
                        Raw::Call(inner, _) if inner == "list_append" => {
                            set(&mut self.errors.misused_function, || {
                                "The function is not allowed to be used this way in an expression; function: list_append".to_owned()
                            });
                        }
                        _ => {
                            if let Some(ty) = a.literal_type() {
                                if ty != "L" {
                                    self.wrong_type(name, ty);
                                }
                            }
                        }
                    }
                }
                let mut it = args.into_iter();
                Some(UpdateCall::ListAppend(
                    it.next().unwrap_or(Raw::Missing),
                    it.next().unwrap_or(Raw::Missing),
                ))
            }
            n if CONDITION_FUNCTIONS.contains(&n) => {
                set(&mut self.errors.unknown_function, || {
                    format!("The function is not allowed in an update expression; function: {name}")
                });
                None
            }
            _ => {
                set(&mut self.errors.unknown_function, || {
                    format!("Invalid function name; function: {name}")
                });
                None
            }
        }
    }

    fn numeric_args(&mut self, op: &str, args: &[&Raw]) {
        for a in args {
            if let Some(ty) = a.literal_type() {
                if ty != "N" {
                    self.wrong_type(op, ty);
                }
            }
        }
    }

    /// Two paths of one update or projection may not overlap or conflict.
    pub fn check_overlap<'p>(&mut self, path: &Path, earlier: impl Iterator<Item = &'p Path>) {
        for other in earlier {
            let mut diverged = false;
            for (a, b) in other.0.iter().zip(path.0.iter()) {
                match (a, b) {
                    (Elem::Attr(x), Elem::Attr(y)) if x == y => {}
                    (Elem::Index(x), Elem::Index(y)) if x == y => {}
                    (Elem::Attr(_), Elem::Attr(_)) | (Elem::Index(_), Elem::Index(_)) => {
                        diverged = true;
                        break;
                    }
                    _ => {
                        set(&mut self.errors.path_conflict, || {
                            format!("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {other}, path two: {path}")
                        });
                        diverged = true;
                        break;
                    }
                }
            }
            if !diverged {
                set(&mut self.errors.path_overlap, || {
                    format!("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {other}, path two: {path}")
                });
            }
        }
    }

    pub fn update_error(&mut self) -> Option<String> {
        let e = &mut self.errors;
        [
            &mut e.reserved,
            &mut e.unknown_function,
            &mut e.misused_function,
            &mut e.section,
            &mut e.attr_name,
            &mut e.attr_val,
            &mut e.path_overlap,
            &mut e.path_conflict,
            &mut e.operand,
            &mut e.function,
        ]
        .into_iter()
        .find_map(|s| s.take())
    }

    // ---- projections ----

    pub fn projection(&mut self) -> Result<Vec<Path>, Syntax> {
        let mut paths: Vec<Path> = Vec::new();
        loop {
            let p = self.path()?;
            self.check_overlap(&p, paths.iter());
            paths.push(p);
            if *self.peek() == Tok::Comma {
                self.advance();
            } else {
                break;
            }
        }
        self.expect_end()?;
        Ok(paths)
    }

    pub fn projection_error(&mut self) -> Option<String> {
        let e = &mut self.errors;
        [
            &mut e.reserved,
            &mut e.attr_name,
            &mut e.path_overlap,
            &mut e.path_conflict,
        ]
        .into_iter()
        .find_map(|s| s.take())
    }
}
