//! The parsed forms of expressions, with placeholders already resolved.

use std::fmt;

use crate::value::AttributeValue;

/// One step of a document path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Attr(String),
    Index(usize),
}

/// A document path such as `a.b[3].c`; the first element is always an attribute name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(pub Vec<Elem>);

impl Path {
    pub fn head(&self) -> &str {
        match self.0.first() {
            Some(Elem::Attr(a)) => a,
            _ => "",
        }
    }
}

impl fmt::Display for Path {
    /// DynamoDB's rendering in messages: `[a, b, [3]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                Elem::Attr(a) => a.clone(),
                Elem::Index(i) => format!("[{i}]"),
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// A value-producing operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(AttributeValue),
    /// `size(x)` (conditions).
    Size(Box<Operand>),
    /// `if_not_exists(path, x)` (updates).
    IfNotExists(Path, Box<Operand>),
    /// `list_append(x, y)` (updates).
    ListAppend(Box<Operand>, Box<Operand>),
    Plus(Box<Operand>, Box<Operand>),
    Minus(Box<Operand>, Box<Operand>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A condition (ConditionExpression, FilterExpression, KeyConditionExpression).
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Cmp(CmpOp, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    AttrType(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// One action of an UpdateExpression.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Set(Path, Operand),
    Remove(Path),
    Add(Path, Operand),
    Delete(Path, Operand),
}

impl Action {
    pub fn path(&self) -> &Path {
        match self {
            Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
        }
    }
}

impl Operand {
    fn path_heads<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Operand::Path(p) | Operand::IfNotExists(p, _) => out.push(p.head()),
            Operand::Value(_) => {}
            Operand::Size(o) => o.path_heads(out),
            Operand::ListAppend(a, b) | Operand::Plus(a, b) | Operand::Minus(a, b) => {
                a.path_heads(out);
                b.path_heads(out);
            }
        }
    }
}

impl Cond {
    /// The top-level attribute names this condition reads.
    pub fn path_heads(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_heads(&mut out);
        out
    }

    fn collect_heads<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Cond::Cmp(_, a, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                a.path_heads(out);
                b.path_heads(out);
            }
            Cond::Between(a, b, c) => {
                a.path_heads(out);
                b.path_heads(out);
                c.path_heads(out);
            }
            Cond::In(a, list) => {
                a.path_heads(out);
                list.iter().for_each(|o| o.path_heads(out));
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.collect_heads(out);
                b.collect_heads(out);
            }
            Cond::Not(c) => c.collect_heads(out),
            Cond::Exists(p) | Cond::NotExists(p) => out.push(p.head()),
            Cond::AttrType(p, o) => {
                out.push(p.head());
                o.path_heads(out);
            }
        }
    }
}
