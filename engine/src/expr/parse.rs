//! Recursive-descent parser for conditions, update expressions and projections, with
//! DynamoDB's static checks. Semantic problems are collected by category while parsing goes on
//! (so a later syntax error still wins), then the first one in DynamoDB's order is reported.

use super::ast::{Action, CmpOp, Cond, Elem, Operand, Path};
use super::lex::{tokenize, Tok, Token};
use super::reserved::is_reserved;
use super::ExprInput;
use crate::value::AttributeValue;

/// Maximum operands of IN.
const MAX_IN_OPERANDS: usize = 100;

/// Semantic errors by category; the first of each category is kept.
#[derive(Default)]
pub struct Errors {
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

impl Raw {
    fn literal_type(&self) -> Option<&'static str> {
        match self {
            Raw::Value(v) => Some(v.type_name()),
            _ => None,
        }
    }
}

pub struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    input: &'a ExprInput<'a>,
    pub errors: Errors,
}

/// A syntax error: the message after "Invalid XExpression: ".
pub type Syntax = String;

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, input: &'a ExprInput<'a>) -> Result<Parser<'a>, Syntax> {
        if src.trim().is_empty() {
            return Err("The expression can not be empty;".to_owned());
        }
        let toks = tokenize(src).map_err(|at| {
            let ch = src[at..].chars().next().unwrap_or(' ');
            format!(
                "Syntax error; token: \"{ch}\", near: \"{}\"",
                near_text(src, at, at + ch.len_utf8())
            )
        })?;
        Ok(Parser {
            src,
            toks,
            pos: 0,
            input,
            errors: Errors::default(),
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn advance(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// DynamoDB's syntax error at the current token.
    pub fn syntax_error(&self) -> Syntax {
        let i = self.pos.min(self.toks.len() - 1);
        let cur = &self.toks[i];
        let start = if i > 0 {
            self.toks[i - 1].start
        } else {
            cur.start
        };
        if cur.tok == Tok::Eof {
            return format!(
                "Syntax error; token: <EOF>, near: \"{}\"",
                &self.src[start.min(self.src.len())..].trim_end()
            );
        }
        let end = match self.toks.get(i + 1) {
            Some(next) if next.tok != Tok::Eof => next.end,
            _ => cur.end,
        };
        format!(
            "Syntax error; token: \"{}\", near: \"{}\"",
            &self.src[cur.start..cur.end],
            &self.src[start..end]
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

    fn path_elem_name(&mut self) -> Result<String, Syntax> {
        match self.advance() {
            Tok::Ident(id) => {
                if is_reserved(&id) {
                    set(&mut self.errors.reserved, || {
                        format!("Attribute name is a reserved keyword; reserved keyword: {id}")
                    });
                }
                Ok(id)
            }
            Tok::Name(n) => Ok(self.resolve_name(&n).unwrap_or_default()),
            _ => {
                self.pos -= 1;
                Err(self.syntax_error())
            }
        }
    }

    /// `a.b[3].#c`
    pub fn path(&mut self) -> Result<Path, Syntax> {
        let mut elems = vec![Elem::Attr(self.path_elem_name()?)];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.advance();
                    elems.push(Elem::Attr(self.path_elem_name()?));
                }
                Tok::LBracket => {
                    self.advance();
                    let idx = match self.peek().clone() {
                        Tok::Int(s) => s.parse::<usize>().map_err(|_| self.syntax_error())?,
                        _ => return Err(self.syntax_error()),
                    };
                    self.advance();
                    self.expect(Tok::RBracket)?;
                    elems.push(Elem::Index(idx));
                }
                _ => return Ok(Path(elems)),
            }
        }
    }

    fn is_operator_keyword(t: &Tok) -> bool {
        ["AND", "OR", "NOT", "BETWEEN", "IN"]
            .iter()
            .any(|k| t.is_keyword(k))
    }

    /// An operand: path, value placeholder or function call.
    fn raw_operand(&mut self) -> Result<Raw, Syntax> {
        match self.peek().clone() {
            Tok::Value(v) => {
                self.advance();
                Ok(self.resolve_value(&v).map_or(Raw::Missing, Raw::Value))
            }
            Tok::Ident(name) if *self.peek_at(1) == Tok::LParen => {
                if Self::is_operator_keyword(self.peek()) {
                    return Err(self.syntax_error());
                }
                self.advance();
                self.advance();
                let mut args = Vec::new();
                if *self.peek() != Tok::RParen {
                    loop {
                        args.push(self.raw_value()?);
                        if *self.peek() == Tok::Comma {
                            self.advance();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(Tok::RParen)?;
                Ok(Raw::Call(name, args))
            }
            Tok::Ident(_) | Tok::Name(_) => {
                if Self::is_operator_keyword(self.peek()) {
                    return Err(self.syntax_error());
                }
                Ok(Raw::Path(self.path()?))
            }
            _ => Err(self.syntax_error()),
        }
    }

    /// An operand possibly combined with `+`/`-` (update values and function arguments).
    fn raw_value(&mut self) -> Result<Raw, Syntax> {
        let left = self.raw_operand()?;
        match self.peek() {
            Tok::Plus => {
                self.advance();
                let right = self.raw_operand()?;
                Ok(Raw::Plus(Box::new(left), Box::new(right)))
            }
            Tok::Minus => {
                self.advance();
                let right = self.raw_operand()?;
                Ok(Raw::Minus(Box::new(left), Box::new(right)))
            }
            _ => Ok(left),
        }
    }

    // ---- conditions ----

    pub fn condition(&mut self) -> Result<Cond, Syntax> {
        let mut left = self.and()?;
        while self.peek().is_keyword("OR") {
            self.advance();
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, Syntax> {
        let mut left = self.not()?;
        while self.peek().is_keyword("AND") {
            self.advance();
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, Syntax> {
        if self.peek().is_keyword("NOT") {
            self.advance();
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, Syntax> {
        if *self.peek() == Tok::LParen {
            self.advance();
            let c = self.condition()?;
            self.expect(Tok::RParen)?;
            return Ok(c);
        }
        let left = self.raw_operand()?;
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
            let right = self.raw_operand()?;
            self.check_distinct(op.symbol(), &left, &right);
            return Ok(Cond::Cmp(
                op,
                self.cond_operand(left),
                self.cond_operand(right),
            ));
        }
        if self.peek().is_keyword("BETWEEN") {
            self.advance();
            let lo = self.raw_operand()?;
            if !self.peek().is_keyword("AND") {
                return Err(self.syntax_error());
            }
            self.advance();
            let hi = self.raw_operand()?;
            self.check_between(&lo, &hi);
            return Ok(Cond::Between(
                self.cond_operand(left),
                self.cond_operand(lo),
                self.cond_operand(hi),
            ));
        }
        if self.peek().is_keyword("IN") {
            self.advance();
            self.expect(Tok::LParen)?;
            let mut list = Vec::new();
            loop {
                let o = self.raw_operand()?;
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
        if n == 2 {
            self.check_distinct(&name, &args[0], &args[1]);
        }
        let mut args = args.into_iter();
        let (a, b) = (args.next(), args.next());
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
                    if let Some(ty) = arg.literal_type() {
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
                let v = self.raw_value()?;
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

    /// A SET value: path, value, if_not_exists, list_append, `x + y`, `x - y`.
    fn update_operand(&mut self, raw: Raw) -> Operand {
        let null = Operand::Value(AttributeValue::Null);
        match raw {
            Raw::Path(p) => Operand::Path(p),
            Raw::Value(v) => Operand::Value(v),
            Raw::Missing => null,
            Raw::Plus(a, b) => {
                self.numeric_args("+", &[&a, &b]);
                Operand::Plus(
                    Box::new(self.update_operand(*a)),
                    Box::new(self.update_operand(*b)),
                )
            }
            Raw::Minus(a, b) => {
                self.numeric_args("-", &[&a, &b]);
                Operand::Minus(
                    Box::new(self.update_operand(*a)),
                    Box::new(self.update_operand(*b)),
                )
            }
            Raw::Call(name, args) => {
                match name.as_str() {
                    "if_not_exists" => {
                        if !self.arity(&name, &args, 2) {
                            return null;
                        }
                        let mut it = args.into_iter();
                        let (a, b) = (
                            it.next().unwrap_or(Raw::Missing),
                            it.next().unwrap_or(Raw::Missing),
                        );
                        let path = self.require_path(&name, a);
                        Operand::IfNotExists(path, Box::new(self.update_operand(b)))
                    }
                    "list_append" => {
                        if !self.arity(&name, &args, 2) {
                            return null;
                        }
                        for a in &args {
                            if let Some(ty) = a.literal_type() {
                                if ty != "L" {
                                    self.wrong_type(&name, ty);
                                }
                            }
                        }
                        let mut it = args.into_iter();
                        let (a, b) = (
                            it.next().unwrap_or(Raw::Missing),
                            it.next().unwrap_or(Raw::Missing),
                        );
                        Operand::ListAppend(
                            Box::new(self.update_operand(a)),
                            Box::new(self.update_operand(b)),
                        )
                    }
                    "attribute_exists"
                    | "attribute_not_exists"
                    | "attribute_type"
                    | "begins_with"
                    | "contains"
                    | "size" => {
                        set(&mut self.errors.unknown_function, || {
                            format!("The function is not allowed in an update expression; function: {name}")
                        });
                        null
                    }
                    _ => {
                        set(&mut self.errors.unknown_function, || {
                            format!("Invalid function name; function: {name}")
                        });
                        null
                    }
                }
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

fn near_text(src: &str, start: usize, end: usize) -> &str {
    let s = src[..start]
        .rfind(|c: char| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let e = src[end..]
        .find(|c: char| c.is_whitespace())
        .map_or(src.len(), |i| end + i);
    &src[s..e]
}
