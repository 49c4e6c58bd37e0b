//! IAM-style identity policy documents: parsing and evaluation.
//!
//! Tributary authorises requests with policy documents written in the AWS IAM
//! JSON policy language so that operators can reuse policies (and intuition)
//! from DynamoDB, including fine-grained access control on
//! `dynamodb:LeadingKeys` / `dynamodb:Attributes`.
//!
//! Everything is validated up front by [`Policy::parse`]; evaluation never
//! fails and never panics. The parsing and matching work is bounded:
//!
//! * documents are limited in size (IAM's managed-policy limit of 6,144
//!   non-whitespace characters, plus a hard byte cap so whitespace padding
//!   cannot be used to make us chew through megabytes);
//! * duplicate JSON keys are rejected instead of "last one wins", so a
//!   document cannot say `"Effect": "Deny"` to a reviewer and `"Allow"` to us;
//! * wildcard matching splits the pattern at `*` and finds each piece with
//!   Knuth-Morris-Pratt, linear in the text (pieces containing `?` are
//!   O(piece × text) at worst), never exponential.
//!
//! # Semantic choices
//!
//! * Statement paths in error messages are 0-based (`Statement[0]`); a single
//!   non-array statement is reported as `Statement`.
//! * Policy variables (`${aws:username}`, `${aws:userid}`,
//!   `${aws:PrincipalAccount}`, or any `${key}` present in the [`Context`]) are
//!   resolved from the request [`Context`] and only in `Resource`/`NotResource`
//!   and condition values, and only with `"Version": "2012-10-17"` (as in
//!   IAM). Where IAM would silently treat them as literal text (older or
//!   missing `Version`), we reject the document instead, because a silently
//!   literal variable in a `Deny` statement would quietly fail open.
//!   `${*}`, `${?}` and `${$}` are literal characters, and `${key, 'default'}`
//!   supplies a default. Substituted values are always literal: a user name
//!   containing `*` never acts as a wildcard. A variable only resolves from a
//!   single-valued context key.
//! * If a variable cannot be resolved, IAM says the statement may be invalid.
//!   We fail closed: such a statement never grants (`Allow`) but does deny
//!   (`Deny`). Internally this is three-valued logic (true/false/unknown).
//! * Condition operators without a set prefix on a multi-valued key: positive
//!   operators are true if *any* request value matches any policy value;
//!   negated operators (`StringNotEquals`, `StringNotLike`, `NumericNotEquals`,
//!   `ArnNotEquals`, `ArnNotLike`, …) are the exact negation of their positive
//!   counterpart, i.e. true only if *no* request value matches any policy
//!   value. A key absent from the request makes positive operators false and
//!   negated operators true (IAM's documented rule), unless `...IfExists` is
//!   used, which makes the condition true.
//! * `ForAllValues:` is true when the key is absent or empty, else every
//!   request value must satisfy the operator; `ForAnyValue:` is false when the
//!   key is absent or empty, else at least one request value must satisfy it.
//!   With a negated operator, "satisfy" means "matches none of the policy
//!   values".
//! * A request value that cannot be compared (not a number for `Numeric*`,
//!   not `true`/`false` for `Bool`, not a six-part ARN for `Arn*`) never
//!   satisfies the condition, whether or not the operator is negated.
//! * Condition operator and element names are case-sensitive (as written in
//!   the IAM reference); condition keys are case-insensitive.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Maximum number of non-whitespace characters in a policy document (IAM's
/// limit for customer managed policies).
pub const MAX_POLICY_CHARS: usize = 6_144;

/// Hard cap on the raw document size, whitespace included, checked before
/// anything else so a huge document is rejected without being scanned twice.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Everything that can be wrong with a policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy document is {len} bytes; the limit is {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("policy document has {len} non-whitespace characters; the limit is {max}")]
    TooManyCharacters { len: usize, max: usize },
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    #[error("{path} must be {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("{path} contains unknown element \"{element}\"")]
    UnknownElement { path: String, element: String },
    #[error("{path} is missing {what}")]
    Missing { path: String, what: &'static str },
    #[error("{path}.Effect must be \"Allow\" or \"Deny\", not \"{found}\"")]
    BadEffect { path: String, found: String },
    #[error("{path} must not contain both \"{first}\" and \"{second}\"")]
    Conflict {
        path: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("{path} contains \"{element}\", which is not allowed in an identity policy")]
    PrincipalNotAllowed { path: String, element: &'static str },
    #[error("{path} uses unknown condition operator \"{operator}\"")]
    UnknownOperator { path: String, operator: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

// ---------------------------------------------------------------------------
// JSON input
// ---------------------------------------------------------------------------

/// Minimal JSON tree. We do not use `serde_json::Value` because its maps keep
/// only the last of duplicate keys, which would let a document look different
/// to a human reviewer than to the evaluator.
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

// ---------------------------------------------------------------------------
// Request side
// ---------------------------------------------------------------------------

/// Condition keys and their (possibly multiple) values for one request.
/// Keys are case-insensitive, as in IAM.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a (multi-valued) key, replacing any previous values. An empty
    /// vector is treated like an absent key by `Null` and the set operators.
    pub fn insert(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_lowercase(), values);
        self
    }

    #[cfg(test)]
    /// Sets a single-valued key, replacing any previous values.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.insert(key, vec![value.to_owned()])
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_lowercase()).map(Vec::as_slice)
    }

    /// The value of a key usable as a policy variable: only single-valued
    /// keys qualify, because substituting one of several values would be an
    /// arbitrary choice.
    fn single(&self, key_lower: &str) -> Option<&str> {
        match self.values.get(key_lower).map(Vec::as_slice) {
            Some([only]) => Some(only.as_str()),
            _ => None,
        }
    }
}

/// One request to authorise.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `service:Action`, e.g. `dynamodb:GetItem`.
    pub action: &'a str,
    /// The resource ARN.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// Outcome of evaluating one or more policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A matching `Deny` statement; overrides any `Allow`.
    ExplicitDeny,
    /// Nothing matched: denied by default.
    ImplicitDeny,
}

// ---------------------------------------------------------------------------
// Glob matching and templates
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glob {
    Lit(char),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters, including none.
    Many,
}

/// Wildcard match in time linear in the text for `?`-free pattern pieces.
///
/// The pattern is split at `*` into pieces of fixed length; the first piece
/// must match at the start of the text, the last at the end, and each piece in
/// between is matched at its leftmost occurrence after the previous one
/// (leftmost is always safe: it leaves the most text for the rest). Pieces
/// without `?` are found with Knuth-Morris-Pratt, so `*aaaa…b` against
/// `aaaa…` costs O(pattern + text) instead of O(pattern × text); pieces with
/// `?` are compared at each position, O(piece × text) at worst.
fn glob_match(pattern: &[Glob], text: &[char]) -> bool {
    let mut pieces = pattern.split(|g| *g == Glob::Many);
    let first = pieces.next().unwrap_or_default();
    let mut middle: Vec<&[Glob]> = pieces.collect();
    let Some(last) = middle.pop() else {
        // No `*`: the whole text must match the one piece.
        return first.len() == text.len() && piece_matches(first, text);
    };
    let Some(end) = text.len().checked_sub(first.len() + last.len()) else {
        return false;
    };
    let end = end + first.len();
    if !piece_matches(first, text.get(..first.len()).unwrap_or_default())
        || !piece_matches(last, text.get(end..).unwrap_or_default())
    {
        return false;
    }
    let mut pos = first.len();
    for piece in middle {
        let hay = text.get(pos..end).unwrap_or_default();
        match find_piece(piece, hay) {
            Some(at) => pos += at + piece.len(),
            None => return false,
        }
    }
    true
}

/// Whether a `*`-free piece matches `text` exactly (same length).
fn piece_matches(piece: &[Glob], text: &[char]) -> bool {
    piece.len() == text.len()
        && piece.iter().zip(text).all(|(g, c)| match g {
            Glob::Lit(l) => l == c,
            Glob::One => true,
            Glob::Many => false,
        })
}

/// The leftmost position of a `*`-free piece in `hay`.
fn find_piece(piece: &[Glob], hay: &[char]) -> Option<usize> {
    if piece.len() > hay.len() {
        return None;
    }
    if piece.contains(&Glob::One) {
        return (0..=hay.len() - piece.len())
            .find(|&i| piece_matches(piece, hay.get(i..i + piece.len()).unwrap_or_default()));
    }
    if piece.is_empty() {
        return Some(0);
    }
    // Knuth-Morris-Pratt: `fail[i]` is the length of the longest proper
    // border of `piece[..=i]`.
    let mut fail = vec![0usize; piece.len()];
    let mut k = 0;
    for i in 1..piece.len() {
        while k > 0 && piece.get(i) != piece.get(k) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if piece.get(i) == piece.get(k) {
            k += 1;
        }
        if let Some(f) = fail.get_mut(i) {
            *f = k;
        }
    }
    let mut k = 0;
    for (i, c) in hay.iter().enumerate() {
        while k > 0 && piece.get(k) != Some(&Glob::Lit(*c)) {
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        if piece.get(k) == Some(&Glob::Lit(*c)) {
            k += 1;
        }
        if k == piece.len() {
            return Some(i + 1 - k);
        }
    }
    None
}

fn compile_glob(s: &str) -> Vec<Glob> {
    s.chars()
        .map(|c| match c {
            '*' => Glob::Many,
            '?' => Glob::One,
            c => Glob::Lit(c),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplateToken {
    Lit(char),
    Star,
    Question,
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A resource or condition value that may contain wildcards and policy
/// variables; resolved against the request context at evaluation time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    tokens: Vec<TemplateToken>,
}

impl Template {
    fn parse(path: &str, s: &str, variables: bool) -> Result<Template, PolicyError> {
        if !variables {
            if s.contains("${") {
                return Err(PolicyError::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "\"{s}\" contains a policy variable, which requires \"Version\": \"2012-10-17\""
                    ),
                });
            }
            return Ok(Template {
                tokens: s.chars().map(Self::plain).collect(),
            });
        }
        let mut tokens = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            tokens.extend(
                rest.get(..start)
                    .unwrap_or_default()
                    .chars()
                    .map(Self::plain),
            );
            let after = rest.get(start + 2..).unwrap_or_default();
            let Some(end) = after.find('}') else {
                return Err(PolicyError::Invalid {
                    path: path.to_owned(),
                    message: format!("\"{s}\" has an unterminated policy variable"),
                });
            };
            let inner = after.get(..end).unwrap_or_default();
            tokens.push(Self::variable(path, s, inner)?);
            rest = after.get(end + 1..).unwrap_or_default();
        }
        tokens.extend(rest.chars().map(Self::plain));
        Ok(Template { tokens })
    }

    fn plain(c: char) -> TemplateToken {
        match c {
            '*' => TemplateToken::Star,
            '?' => TemplateToken::Question,
            c => TemplateToken::Lit(c),
        }
    }

    fn variable(path: &str, whole: &str, inner: &str) -> Result<TemplateToken, PolicyError> {
        let bad = |why: &str| PolicyError::Invalid {
            path: path.to_owned(),
            message: format!("\"{whole}\" has an invalid policy variable \"${{{inner}}}\": {why}"),
        };
        match inner.trim() {
            // The escapes exist so a literal wildcard or `$` can be written.
            "*" => return Ok(TemplateToken::Lit('*')),
            "?" => return Ok(TemplateToken::Lit('?')),
            "$" => return Ok(TemplateToken::Lit('$')),
            _ => {}
        }
        let (key, default) = match inner.split_once(',') {
            None => (inner.trim(), None),
            Some((key, default)) => {
                let default = default.trim();
                let unquoted = default
                    .strip_prefix('\'')
                    .and_then(|d| d.strip_suffix('\''))
                    .ok_or_else(|| bad("the default value must be in single quotes"))?;
                (key.trim(), Some(unquoted.to_owned()))
            }
        };
        if key.is_empty() {
            return Err(bad("the key is empty"));
        }
        if key
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '$' | '{' | '\'' | ','))
        {
            return Err(bad("the key contains an invalid character"));
        }
        Ok(TemplateToken::Var {
            key: key.to_lowercase(),
            default,
        })
    }

    /// Text with no wildcards and no variables (used for parse-time
    /// validation of numeric/boolean literals).
    fn literal_text(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|t| match t {
                TemplateToken::Lit(c) => Some(*c),
                TemplateToken::Star => Some('*'),
                TemplateToken::Question => Some('?'),
                TemplateToken::Var { .. } => None,
            })
            .collect()
    }

    fn lookup<'c>(ctx: &'c Context, key: &str, default: &'c Option<String>) -> Option<&'c str> {
        ctx.single(key).or(default.as_deref())
    }

    /// Resolves to a wildcard pattern; `None` if a variable is unresolvable.
    fn resolve_glob(&self, ctx: &Context) -> Option<Vec<Glob>> {
        let mut out = Vec::with_capacity(self.tokens.len());
        for token in &self.tokens {
            match token {
                TemplateToken::Lit(c) => out.push(Glob::Lit(*c)),
                TemplateToken::Star => out.push(Glob::Many),
                TemplateToken::Question => out.push(Glob::One),
                TemplateToken::Var { key, default } => {
                    // Substituted text is literal so that a user-controlled
                    // value such as a user name can never become a wildcard.
                    out.extend(Self::lookup(ctx, key, default)?.chars().map(Glob::Lit));
                }
            }
        }
        Some(out)
    }

    /// Resolves to plain text for non-wildcard operators (`*`, `?` are
    /// ordinary characters there); `None` if a variable is unresolvable.
    fn resolve_text(&self, ctx: &Context) -> Option<String> {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                TemplateToken::Lit(c) => out.push(*c),
                TemplateToken::Star => out.push('*'),
                TemplateToken::Question => out.push('?'),
                TemplateToken::Var { key, default } => {
                    out.push_str(Self::lookup(ctx, key, default)?);
                }
            }
        }
        Some(out)
    }
}

// ---------------------------------------------------------------------------
// Three-valued logic
// ---------------------------------------------------------------------------

/// `Unknown` arises only from unresolvable policy variables; it lets a
/// statement be treated as non-matching for `Allow` but matching for `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }
    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::True, Tri::True) => Tri::True,
            _ => Tri::Unknown,
        }
    }
    fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::False, Tri::False) => Tri::False,
            _ => Tri::Unknown,
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

// ---------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    StringIgnoreCase,
    StringLike,
    Numeric(NumOp),
    Bool,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Operator {
    kind: Kind,
    /// The `Not` variants: negation of the positive counterpart.
    negated: bool,
    if_exists: bool,
    set: SetQualifier,
}

impl Operator {
    fn parse(path: &str, name: &str) -> Result<Operator, PolicyError> {
        let unknown = || PolicyError::UnknownOperator {
            path: path.to_owned(),
            operator: name.to_owned(),
        };
        let (set, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else {
            (SetQualifier::None, name)
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let (kind, negated) = match base {
            "StringEquals" => (Kind::String, false),
            "StringNotEquals" => (Kind::String, true),
            "StringEqualsIgnoreCase" => (Kind::StringIgnoreCase, false),
            "StringNotEqualsIgnoreCase" => (Kind::StringIgnoreCase, true),
            "StringLike" => (Kind::StringLike, false),
            "StringNotLike" => (Kind::StringLike, true),
            "NumericEquals" => (Kind::Numeric(NumOp::Eq), false),
            "NumericNotEquals" => (Kind::Numeric(NumOp::Eq), true),
            "NumericLessThan" => (Kind::Numeric(NumOp::Lt), false),
            "NumericLessThanEquals" => (Kind::Numeric(NumOp::Le), false),
            "NumericGreaterThan" => (Kind::Numeric(NumOp::Gt), false),
            "NumericGreaterThanEquals" => (Kind::Numeric(NumOp::Ge), false),
            "Bool" => (Kind::Bool, false),
            "Null" => (Kind::Null, false),
            // IAM documents ArnEquals and ArnLike as behaving identically.
            "ArnEquals" | "ArnLike" => (Kind::Arn, false),
            "ArnNotEquals" | "ArnNotLike" => (Kind::Arn, true),
            _ => return Err(unknown()),
        };
        if kind == Kind::Null && (if_exists || set != SetQualifier::None) {
            // Null already tests presence; qualifiers would make it ambiguous.
            return Err(PolicyError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "\"{name}\" is not supported: Null cannot take IfExists or a set qualifier"
                ),
            });
        }
        Ok(Operator {
            kind,
            negated,
            if_exists,
            set,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    operator: Operator,
    /// Lower-cased condition key.
    key: String,
    values: Vec<Template>,
}

fn parse_number(s: &str) -> Option<f64> {
    // Rust also parses "NaN"/"inf", which would make comparisons surprising.
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn split_arn(s: &str) -> Option<Vec<Vec<char>>> {
    let parts: Vec<Vec<char>> = s.splitn(6, ':').map(|p| p.chars().collect()).collect();
    (parts.len() == 6).then_some(parts)
}

impl Condition {
    fn evaluate(&self, ctx: &Context) -> Tri {
        let request: &[String] = ctx.get(&self.key).unwrap_or(&[]);
        if self.operator.kind == Kind::Null {
            let absent = request.is_empty();
            let mut result = Tri::False;
            for value in &self.values {
                let matched = match value.resolve_text(ctx).as_deref().and_then(parse_bool) {
                    Some(want_absent) => Tri::from_bool(want_absent == absent),
                    None => Tri::Unknown,
                };
                result = result.or(matched);
            }
            return result;
        }
        if request.is_empty() {
            if self.operator.if_exists {
                return Tri::True;
            }
            return match self.operator.set {
                SetQualifier::ForAllValues => Tri::True,
                SetQualifier::ForAnyValue => Tri::False,
                SetQualifier::None => Tri::from_bool(self.operator.negated),
            };
        }
        let per_value = request.iter().map(|v| self.satisfied_by(v, ctx));
        match (self.operator.set, self.operator.negated) {
            (SetQualifier::ForAllValues, _) | (SetQualifier::None, true) => {
                per_value.fold(Tri::True, Tri::and)
            }
            (SetQualifier::ForAnyValue, _) | (SetQualifier::None, false) => {
                per_value.fold(Tri::False, Tri::or)
            }
        }
    }

    /// Whether one request value satisfies the operator: for positive
    /// operators it matches some policy value; for negated ones it matches
    /// none of them.
    fn satisfied_by(&self, value: &str, ctx: &Context) -> Tri {
        let comparable = match self.operator.kind {
            Kind::Numeric(_) => parse_number(value).is_some(),
            Kind::Bool => parse_bool(value).is_some(),
            Kind::Arn => split_arn(value).is_some(),
            _ => true,
        };
        if !comparable {
            return Tri::False;
        }
        let mut any = Tri::False;
        for policy_value in &self.values {
            any = any.or(self.matches(value, policy_value, ctx));
            if any == Tri::True {
                break;
            }
        }
        if self.operator.negated {
            any.not()
        } else {
            any
        }
    }

    /// The positive comparison of one request value with one policy value.
    fn matches(&self, value: &str, policy: &Template, ctx: &Context) -> Tri {
        let result = match self.operator.kind {
            Kind::String => policy.resolve_text(ctx).map(|p| p == value),
            Kind::StringIgnoreCase => policy
                .resolve_text(ctx)
                .map(|p| p.to_lowercase() == value.to_lowercase()),
            Kind::StringLike => policy.resolve_glob(ctx).map(|p| {
                let text: Vec<char> = value.chars().collect();
                glob_match(&p, &text)
            }),
            Kind::Numeric(op) => {
                let lhs = parse_number(value);
                let rhs = policy.resolve_text(ctx).as_deref().and_then(parse_number);
                match (lhs, rhs) {
                    (Some(l), Some(r)) => Some(match op {
                        NumOp::Eq => l == r,
                        NumOp::Lt => l < r,
                        NumOp::Le => l <= r,
                        NumOp::Gt => l > r,
                        NumOp::Ge => l >= r,
                    }),
                    _ => None,
                }
            }
            Kind::Bool => {
                let lhs = parse_bool(value);
                let rhs = policy.resolve_text(ctx).as_deref().and_then(parse_bool);
                match (lhs, rhs) {
                    (Some(l), Some(r)) => Some(l == r),
                    _ => None,
                }
            }
            Kind::Arn => policy.resolve_glob(ctx).map(|p| arn_like(&p, value)),
            // Handled in `evaluate`; never reached.
            Kind::Null => Some(false),
        };
        match result {
            Some(b) => Tri::from_bool(b),
            None => Tri::Unknown,
        }
    }
}

/// ArnLike: each of the six colon-separated components is matched on its own,
/// so a wildcard cannot spill from one component into another (the last
/// component, the resource, may itself contain colons).
fn arn_like(pattern: &[Glob], value: &str) -> bool {
    let Some(value_parts) = split_arn(value) else {
        return false;
    };
    let pattern_parts: Vec<&[Glob]> = pattern.splitn(6, |g| *g == Glob::Lit(':')).collect();
    pattern_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(value_parts.iter())
            .all(|(p, v)| glob_match(p, v))
}

// ---------------------------------------------------------------------------
// Statements and policies
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// Lower-cased action patterns (actions match case-insensitively).
    actions: Vec<Vec<Glob>>,
    not_action: bool,
    resources: Vec<Template>,
    not_resource: bool,
    conditions: Vec<Condition>,
}

impl Statement {
    fn applies(&self, action: &[char], resource: &[char], ctx: &Context) -> Tri {
        let action_listed = self.actions.iter().any(|p| glob_match(p, action));
        if action_listed == self.not_action {
            return Tri::False;
        }
        let mut listed = Tri::False;
        for pattern in &self.resources {
            listed = listed.or(match pattern.resolve_glob(ctx) {
                Some(p) => Tri::from_bool(glob_match(&p, resource)),
                None => Tri::Unknown,
            });
            if listed == Tri::True {
                break;
            }
        }
        let mut result = if self.not_resource {
            listed.not()
        } else {
            listed
        };
        for condition in &self.conditions {
            if result == Tri::False {
                break;
            }
            result = result.and(condition.evaluate(ctx));
        }
        result
    }
}

/// A parsed identity policy, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses and fully validates a policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                len: text.len(),
                max: MAX_POLICY_BYTES,
            });
        }
        let chars = text.chars().filter(|c| !c.is_whitespace()).count();
        if chars > MAX_POLICY_CHARS {
            return Err(PolicyError::TooManyCharacters {
                len: chars,
                max: MAX_POLICY_CHARS,
            });
        }
        let doc: Json = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        let top = expect_object("policy document", doc)?;

        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (key, value) in top {
            match key.as_str() {
                "Version" => {
                    let v = expect_string("Version", value)?;
                    if v != "2012-10-17" && v != "2008-10-17" {
                        return Err(PolicyError::Invalid {
                            path: "Version".to_owned(),
                            message: format!(
                                "must be \"2012-10-17\" or \"2008-10-17\", not \"{v}\""
                            ),
                        });
                    }
                    version = Some(v);
                }
                "Id" => id = Some(expect_string("Id", value)?),
                "Statement" => statement = Some(value),
                _ => {
                    return Err(PolicyError::UnknownElement {
                        path: "policy document".to_owned(),
                        element: key,
                    })
                }
            }
        }
        let variables = version.as_deref() == Some("2012-10-17");

        let raw: Vec<(String, Json)> = match statement {
            None => {
                return Err(PolicyError::Missing {
                    path: "policy document".to_owned(),
                    what: "\"Statement\"",
                })
            }
            Some(Json::Array(items)) if items.is_empty() => {
                return Err(PolicyError::Invalid {
                    path: "Statement".to_owned(),
                    message: "must contain at least one statement".to_owned(),
                })
            }
            Some(Json::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("Statement[{i}]"), s))
                .collect(),
            Some(single) => vec![("Statement".to_owned(), single)],
        };
        let mut sids = HashSet::new();
        let mut statements = Vec::with_capacity(raw.len());
        for (path, value) in raw {
            let statement = parse_statement(&path, value, variables)?;
            if let Some(sid) = &statement.sid {
                if !sids.insert(sid.clone()) {
                    return Err(PolicyError::Invalid {
                        path: format!("{path}.Sid"),
                        message: format!("\"{sid}\" is used by more than one statement"),
                    });
                }
            }
            statements.push(statement);
        }
        Ok(Policy {
            version,
            id,
            statements,
        })
    }

    #[cfg(test)]
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    #[cfg(test)]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Evaluates every statement: any matching `Deny` wins, then any matching
    /// `Allow`, otherwise the request is implicitly denied.
    pub fn evaluate(&self, req: &Request) -> Decision {
        let action: Vec<char> = req.action.to_ascii_lowercase().chars().collect();
        let resource: Vec<char> = req.resource.chars().collect();
        self.evaluate_prepared(&action, &resource, req.context)
    }

    fn evaluate_prepared(&self, action: &[char], resource: &[char], ctx: &Context) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            match (statement.effect, statement.applies(action, resource, ctx)) {
                // An unknown Deny still denies: fail closed.
                (Effect::Deny, Tri::True | Tri::Unknown) => return Decision::ExplicitDeny,
                (Effect::Allow, Tri::True) => allowed = true,
                _ => {}
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

#[cfg(test)]
/// Evaluates several identity policies together: an explicit deny in any of
/// them wins, then an allow in any of them, otherwise implicit deny.
pub fn evaluate_all(policies: &[&Policy], req: &Request) -> Decision {
    let action: Vec<char> = req.action.to_ascii_lowercase().chars().collect();
    let resource: Vec<char> = req.resource.chars().collect();
    let mut allowed = false;
    for policy in policies {
        match policy.evaluate_prepared(&action, &resource, req.context) {
            Decision::ExplicitDeny => return Decision::ExplicitDeny,
            Decision::Allow => allowed = true,
            Decision::ImplicitDeny => {}
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

// ---------------------------------------------------------------------------
// Parsing helpers
// ---------------------------------------------------------------------------

fn expect_object(path: &str, value: Json) -> Result<Vec<(String, Json)>, PolicyError> {
    match value {
        Json::Object(entries) => Ok(entries),
        _ => Err(PolicyError::WrongType {
            path: path.to_owned(),
            expected: "a JSON object",
        }),
    }
}

fn expect_string(path: &str, value: Json) -> Result<String, PolicyError> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(PolicyError::WrongType {
            path: path.to_owned(),
            expected: "a string",
        }),
    }
}

/// A string or a non-empty array of strings, each with its own path.
fn string_list(path: &str, value: Json) -> Result<Vec<(String, String)>, PolicyError> {
    let wrong = || PolicyError::WrongType {
        path: path.to_owned(),
        expected: "a string or a non-empty array of strings",
    };
    match value {
        Json::String(s) => Ok(vec![(path.to_owned(), s)]),
        Json::Array(items) if !items.is_empty() => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok((format!("{path}[{i}]"), s)),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

fn parse_statement(path: &str, value: Json, variables: bool) -> Result<Statement, PolicyError> {
    let entries = expect_object(path, value)?;
    let mut sid = None;
    let mut effect = None;
    let mut action = None;
    let mut not_action = None;
    let mut resource = None;
    let mut not_resource = None;
    let mut condition = None;
    for (key, value) in entries {
        match key.as_str() {
            "Sid" => sid = Some(expect_string(&format!("{path}.Sid"), value)?),
            "Effect" => effect = Some(value),
            "Action" => action = Some(value),
            "NotAction" => not_action = Some(value),
            "Resource" => resource = Some(value),
            "NotResource" => not_resource = Some(value),
            "Condition" => condition = Some(value),
            "Principal" | "NotPrincipal" => {
                return Err(PolicyError::PrincipalNotAllowed {
                    path: path.to_owned(),
                    element: if key == "Principal" {
                        "Principal"
                    } else {
                        "NotPrincipal"
                    },
                })
            }
            _ => {
                return Err(PolicyError::UnknownElement {
                    path: path.to_owned(),
                    element: key,
                })
            }
        }
    }

    let effect = match effect {
        None => {
            return Err(PolicyError::Missing {
                path: path.to_owned(),
                what: "\"Effect\"",
            })
        }
        Some(v) => match expect_string(&format!("{path}.Effect"), v)?.as_str() {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => {
                return Err(PolicyError::BadEffect {
                    path: path.to_owned(),
                    found: other.to_owned(),
                })
            }
        },
    };

    let (action_value, not_action, action_name) = match (action, not_action) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::Conflict {
                path: path.to_owned(),
                first: "Action",
                second: "NotAction",
            })
        }
        (Some(v), None) => (v, false, "Action"),
        (None, Some(v)) => (v, true, "NotAction"),
        (None, None) => {
            return Err(PolicyError::Missing {
                path: path.to_owned(),
                what: "\"Action\" or \"NotAction\"",
            })
        }
    };
    let actions = string_list(&format!("{path}.{action_name}"), action_value)?
        .into_iter()
        .map(|(p, s)| parse_action(&p, &s))
        .collect::<Result<Vec<_>, _>>()?;

    let (resource_value, not_resource, resource_name) = match (resource, not_resource) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::Conflict {
                path: path.to_owned(),
                first: "Resource",
                second: "NotResource",
            })
        }
        (Some(v), None) => (v, false, "Resource"),
        (None, Some(v)) => (v, true, "NotResource"),
        (None, None) => {
            return Err(PolicyError::Missing {
                path: path.to_owned(),
                what: "\"Resource\" or \"NotResource\"",
            })
        }
    };
    let resources = string_list(&format!("{path}.{resource_name}"), resource_value)?
        .into_iter()
        .map(|(p, s)| parse_resource(&p, &s, variables))
        .collect::<Result<Vec<_>, _>>()?;

    let conditions = match condition {
        None => Vec::new(),
        Some(v) => parse_conditions(&format!("{path}.Condition"), v, variables)?,
    };

    Ok(Statement {
        sid,
        effect,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
    })
}

fn parse_action(path: &str, s: &str) -> Result<Vec<Glob>, PolicyError> {
    let valid = s == "*"
        || s.split_once(':').is_some_and(|(service, name)| {
            !service.is_empty()
                && !name.is_empty()
                && service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '*' | '?'))
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?'))
        });
    if !valid {
        return Err(PolicyError::Invalid {
            path: path.to_owned(),
            message: format!(
                "action \"{s}\" must be \"*\" or \"service:ActionName\" (wildcards * and ? allowed)"
            ),
        });
    }
    Ok(compile_glob(&s.to_ascii_lowercase()))
}

fn parse_resource(path: &str, s: &str, variables: bool) -> Result<Template, PolicyError> {
    if s != "*" && !(s.starts_with("arn:") && s.matches(':').count() >= 5) {
        return Err(PolicyError::Invalid {
            path: path.to_owned(),
            message: format!(
                "resource \"{s}\" must be \"*\" or an ARN (arn:partition:service:region:account:resource)"
            ),
        });
    }
    Template::parse(path, s, variables)
}

fn parse_conditions(
    path: &str,
    value: Json,
    variables: bool,
) -> Result<Vec<Condition>, PolicyError> {
    let mut conditions = Vec::new();
    for (operator_name, block) in expect_object(path, value)? {
        let op_path = format!("{path}.{operator_name}");
        let operator = Operator::parse(path, &operator_name)?;
        let entries = expect_object(&op_path, block)?;
        if entries.is_empty() {
            // An empty block is vacuously true; almost certainly a mistake
            // that would widen an Allow, so refuse it.
            return Err(PolicyError::Invalid {
                path: op_path,
                message: "must contain at least one condition key".to_owned(),
            });
        }
        for (key, raw_values) in entries {
            let key_path = format!("{op_path}.{key}");
            if key.trim().is_empty() {
                return Err(PolicyError::Invalid {
                    path: op_path,
                    message: "condition keys must not be empty".to_owned(),
                });
            }
            let values = condition_values(&key_path, raw_values)?
                .into_iter()
                .map(|(p, s)| parse_condition_value(&p, &s, &operator, variables))
                .collect::<Result<Vec<_>, _>>()?;
            conditions.push(Condition {
                operator: operator.clone(),
                key: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(conditions)
}

/// Condition values may be strings, numbers or booleans (IAM compares them
/// as strings), or a non-empty array of those.
fn condition_values(path: &str, value: Json) -> Result<Vec<(String, String)>, PolicyError> {
    fn scalar(v: Json) -> Option<String> {
        match v {
            Json::String(s) | Json::Number(s) => Some(s),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    let wrong = |found: &str| {
        PolicyError::Invalid {
        path: path.to_owned(),
        message: format!(
            "condition values must be strings, numbers, booleans, or a non-empty array of them, not {found}"
        ),
    }
    };
    match value {
        Json::Array(items) if items.is_empty() => Err(wrong("an empty array")),
        Json::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let found = item.type_name();
                scalar(item)
                    .map(|s| (format!("{path}[{i}]"), s))
                    .ok_or_else(|| wrong(found))
            })
            .collect(),
        other => {
            let found = other.type_name();
            scalar(other)
                .map(|s| vec![(path.to_owned(), s)])
                .ok_or_else(|| wrong(found))
        }
    }
}

fn parse_condition_value(
    path: &str,
    s: &str,
    operator: &Operator,
    variables: bool,
) -> Result<Template, PolicyError> {
    let template = Template::parse(path, s, variables)?;
    // Literals are checked now so a typo fails at startup rather than
    // silently never matching.
    if let Some(text) = template.literal_text() {
        let problem = match operator.kind {
            Kind::Numeric(_) if parse_number(&text).is_none() => Some("a number"),
            Kind::Bool | Kind::Null if parse_bool(&text).is_none() => Some("true or false"),
            _ => None,
        };
        if let Some(expected) = problem {
            return Err(PolicyError::Invalid {
                path: path.to_owned(),
                message: format!("value \"{text}\" must be {expected}"),
            });
        }
    }
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const T: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/Orders";

    fn err(doc: &str) -> String {
        Policy::parse(doc).unwrap_err().to_string()
    }

    fn eval(policy: &Policy, action: &str, resource: &str, context: &Context) -> Decision {
        policy.evaluate(&Request {
            action,
            resource,
            context,
        })
    }

    fn allow_one(extra: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"{extra}}}]}}"#
        )
    }

    fn with_condition(condition: &str) -> Policy {
        Policy::parse(&allow_one(&format!(r#","Condition":{condition}"#))).unwrap()
    }

    // --- parse errors -------------------------------------------------------

    #[test]
    fn bad_effect() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":"*","Resource":"*"},
            {"Effect":"allow","Action":"*","Resource":"*"}]}"#;
        assert_eq!(
            err(doc),
            r#"Statement[2].Effect must be "Allow" or "Deny", not "allow""#
        );
    }

    #[test]
    fn action_and_not_action() {
        let doc =
            r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}}"#;
        assert_eq!(
            err(doc),
            r#"Statement must not contain both "Action" and "NotAction""#
        );
    }

    #[test]
    fn missing_resource() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#;
        assert_eq!(
            err(doc),
            r#"Statement[0] is missing "Resource" or "NotResource""#
        );
    }

    #[test]
    fn missing_effect_and_statement() {
        assert_eq!(
            err(r#"{"Statement":[{"Action":"*","Resource":"*"}]}"#),
            r#"Statement[0] is missing "Effect""#
        );
        assert_eq!(
            err(r#"{"Version":"2012-10-17"}"#),
            r#"policy document is missing "Statement""#
        );
    }

    #[test]
    fn unknown_operator() {
        let doc = allow_one(r#","Condition":{"StringEqualz":{"aws:username":"bob"}}"#);
        assert_eq!(
            err(&doc),
            r#"Statement[0].Condition uses unknown condition operator "StringEqualz""#
        );
        let doc = allow_one(r#","Condition":{"NullIfExists":{"aws:username":"true"}}"#);
        assert!(err(&doc).contains("NullIfExists"));
    }

    #[test]
    fn principal_rejected() {
        let doc =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;
        assert_eq!(
            err(doc),
            r#"Statement[0] contains "Principal", which is not allowed in an identity policy"#
        );
        let doc = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"*","Resource":"*"}]}"#;
        assert!(err(doc).contains("\"NotPrincipal\""));
    }

    #[test]
    fn non_json_and_wrong_shapes() {
        assert!(err("not json").starts_with("policy document is not valid JSON"));
        assert_eq!(err("[]"), "policy document must be a JSON object");
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Foo":1}]}"#),
            r#"Statement[0] contains unknown element "Foo""#
        );
        assert_eq!(
            err(r#"{"Version":"2020-01-01","Statement":[]}"#),
            r#"Version: must be "2012-10-17" or "2008-10-17", not "2020-01-01""#
        );
        assert_eq!(
            err(r#"{"Statement":[]}"#),
            "Statement: must contain at least one statement"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#),
            "Statement[0].Action must be a string or a non-empty array of strings"
        );
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowing() {
        let doc = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
        assert!(err(&doc).starts_with("policy document is not valid JSON"));
    }

    #[test]
    fn duplicate_keys_rejected() {
        let doc =
            r#"{"Statement":[{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        assert!(err(doc).contains("duplicate key \"Effect\""));
    }

    #[test]
    fn invalid_action_resource_and_values() {
        assert!(
            err(r#"{"Statement":{"Effect":"Allow","Action":"GetItem","Resource":"*"}}"#)
                .starts_with("Statement.Action: action \"GetItem\"")
        );
        assert!(err(
            r#"{"Statement":{"Effect":"Allow","Action":["s3:Get","dynamodb:"],"Resource":"*"}}"#
        )
        .starts_with("Statement.Action[1]:"));
        assert!(
            err(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"table/x"}}"#)
                .starts_with("Statement.Resource: resource \"table/x\"")
        );
        let doc = allow_one(r#","Condition":{"NumericLessThan":{"dynamodb:Limit":"ten"}}"#);
        assert_eq!(
            err(&doc),
            r#"Statement[0].Condition.NumericLessThan.dynamodb:Limit: value "ten" must be a number"#
        );
        let doc = allow_one(r#","Condition":{"Bool":{"aws:SecureTransport":"yes"}}"#);
        assert!(err(&doc).contains("must be true or false"));
        let doc = allow_one(r#","Condition":{"StringEquals":{}}"#);
        assert!(err(&doc).contains("at least one condition key"));
        let doc = allow_one(r#","Condition":{"StringEquals":{"k":[]}}"#);
        assert!(err(&doc).contains("not an empty array"));
        let doc = allow_one(r#","Condition":{"StringEquals":{"k":"${aws:userid"}}"#);
        assert!(err(&doc).contains("unterminated policy variable"));
    }

    #[test]
    fn variables_need_2012_version() {
        let doc = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:dynamodb:*:*:table/${aws:username}"}}"#;
        assert!(err(doc).contains("requires \"Version\": \"2012-10-17\""));
    }

    #[test]
    fn duplicate_sid_rejected() {
        let doc = r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#;
        assert_eq!(
            err(doc),
            r#"Statement[1].Sid: "A" is used by more than one statement"#
        );
    }

    #[test]
    fn size_limits() {
        let padding = " ".repeat(MAX_POLICY_BYTES + 1);
        assert!(matches!(
            Policy::parse(&padding),
            Err(PolicyError::TooLarge { .. })
        ));
        let many = format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::{}"}}}}"#,
            "x".repeat(MAX_POLICY_CHARS)
        );
        assert!(matches!(
            Policy::parse(&many),
            Err(PolicyError::TooManyCharacters { .. })
        ));
    }

    // --- actions and resources ----------------------------------------------

    #[test]
    fn action_wildcards_case_insensitive() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":["dynamodb:Get*","lambda:InvokeFunction","TRIBUTARY:getmetrics"],"Resource":"*"}}"#,
        )
        .unwrap();
        let c = Context::new();
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);
        assert_eq!(eval(&p, "DynamoDB:getitem", T, &c), Decision::Allow);
        assert_eq!(eval(&p, "dynamodb:GetRecords", T, &c), Decision::Allow);
        assert_eq!(
            eval(&p, "dynamodb:BatchGetItem", T, &c),
            Decision::ImplicitDeny
        );
        assert_eq!(eval(&p, "dynamodb:PutItem", T, &c), Decision::ImplicitDeny);
        assert_eq!(eval(&p, "lambda:invokefunction", T, &c), Decision::Allow);
        assert_eq!(eval(&p, "tributary:GetMetrics", T, &c), Decision::Allow);

        let q = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"dynamodb:?etItem","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(eval(&q, "dynamodb:SetItem", T, &c), Decision::Allow);
        assert_eq!(eval(&q, "dynamodb:GetItems", T, &c), Decision::ImplicitDeny);
        let all = Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#)
            .unwrap();
        assert_eq!(eval(&all, "anything:AtAll", T, &c), Decision::Allow);
    }

    #[test]
    fn resource_tables_indexes_streams() {
        let c = Context::new();
        let index = format!("{T}/index/ByDate");
        let stream = format!("{T}/stream/2024-01-01T00:00:00.000");
        let policy = |r: &str| {
            Policy::parse(&format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"dynamodb:*","Resource":{r}}}}}"#
            ))
            .unwrap()
        };
        let exact = policy(&format!("\"{T}\""));
        assert_eq!(eval(&exact, "dynamodb:Query", T, &c), Decision::Allow);
        assert_eq!(
            eval(&exact, "dynamodb:Query", &index, &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            eval(&exact, "dynamodb:Query", &format!("{T}2"), &c),
            Decision::ImplicitDeny
        );
        // Resource matching is case-sensitive.
        assert_eq!(
            eval(&exact, "dynamodb:Query", &T.to_lowercase(), &c),
            Decision::ImplicitDeny
        );
        let indexes = policy(&format!("\"{T}/index/*\""));
        assert_eq!(
            eval(&indexes, "dynamodb:Query", &index, &c),
            Decision::Allow
        );
        assert_eq!(
            eval(&indexes, "dynamodb:Query", T, &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            eval(&indexes, "dynamodb:Query", &stream, &c),
            Decision::ImplicitDeny
        );
        let streams = policy(&format!("\"{T}/stream/*\""));
        assert_eq!(
            eval(&streams, "dynamodb:GetRecords", &stream, &c),
            Decision::Allow
        );
        assert_eq!(
            eval(&streams, "dynamodb:GetRecords", &index, &c),
            Decision::ImplicitDeny
        );
        // `*` spans ':' and '/'.
        let prefix = policy(r#""arn:aws:dynamodb:*:*:table/Orders*""#);
        for r in [T, index.as_str(), stream.as_str()] {
            assert_eq!(eval(&prefix, "dynamodb:Query", r, &c), Decision::Allow);
        }
        let list = policy(&format!(r#"["{T}", "{T}/index/*"]"#));
        assert_eq!(eval(&list, "dynamodb:Query", &index, &c), Decision::Allow);
        assert_eq!(eval(&list, "dynamodb:Query", T, &c), Decision::Allow);
    }

    #[test]
    fn not_action_and_not_resource() {
        let c = Context::new();
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","NotAction":["dynamodb:Delete*","dynamodb:DropTable"],"Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);
        assert_eq!(
            eval(&p, "dynamodb:DeleteItem", T, &c),
            Decision::ImplicitDeny
        );
        let p = Policy::parse(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"*","Resource":"*"}},
                {{"Effect":"Deny","Action":"dynamodb:*","NotResource":"{T}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);
        assert_eq!(
            eval(&p, "dynamodb:GetItem", &format!("{T}/index/X"), &c),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn deny_wins() {
        let c = Context::new();
        let p = Policy::parse(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}},
                {{"Effect":"Deny","Action":"dynamodb:DeleteItem","Resource":"{T}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(
            eval(&p, "dynamodb:DeleteItem", T, &c),
            Decision::ExplicitDeny
        );
        assert_eq!(eval(&p, "dynamodb:PutItem", T, &c), Decision::Allow);

        let allow = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}}"#,
        )
        .unwrap();
        let deny = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","Action":"dynamodb:Delete*","Resource":"*"}}"#,
        )
        .unwrap();
        let nothing =
            Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#)
                .unwrap();
        let req = |action| Request {
            action,
            resource: T,
            context: &c,
        };
        assert_eq!(
            evaluate_all(&[&allow, &deny], &req("dynamodb:DeleteItem")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate_all(&[&deny, &allow], &req("dynamodb:GetItem")),
            Decision::Allow
        );
        assert_eq!(
            evaluate_all(&[&nothing], &req("dynamodb:GetItem")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate_all(&[], &req("dynamodb:GetItem")),
            Decision::ImplicitDeny
        );
    }

    // --- conditions ---------------------------------------------------------

    const LEADING_KEYS: &str = r#"{
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OwnItemsOnly",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
            "Resource": "arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/Orders",
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:userid}"]},
                "ForAllValues:StringLike": {"dynamodb:Attributes": ["pk", "name", "email*"]},
                "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
            }
        }]
    }"#;

    fn user_ctx() -> Context {
        let mut c = Context::new();
        c.set("aws:userid", "AIDAUSER1")
            .set("AWS:PrincipalAccount", "111122223333");
        c
    }

    #[test]
    fn leading_keys_with_user_variable() {
        let p = Policy::parse(LEADING_KEYS).unwrap();
        let mut c = user_ctx();
        c.set("dynamodb:LeadingKeys", "AIDAUSER1");
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);

        c.set("dynamodb:LeadingKeys", "AIDAOTHER");
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::ImplicitDeny);

        // Every leading key must be the caller's own.
        c.insert(
            "dynamodb:leadingkeys",
            vec!["AIDAUSER1".into(), "AIDAOTHER".into()],
        );
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::ImplicitDeny);

        // ForAllValues is vacuously true for an absent or empty key.
        let mut c = user_ctx();
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);
        c.insert("dynamodb:LeadingKeys", vec![]);
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::Allow);

        // Wrong account in the resource variable.
        let mut c = user_ctx();
        c.set("aws:PrincipalAccount", "999999999999");
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::ImplicitDeny);

        // Unresolvable variable: never grants.
        let mut c = Context::new();
        c.set("aws:PrincipalAccount", "111122223333")
            .set("dynamodb:LeadingKeys", "AIDAUSER1");
        assert_eq!(eval(&p, "dynamodb:GetItem", T, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn attributes_and_select() {
        let p = Policy::parse(LEADING_KEYS).unwrap();
        let mut c = user_ctx();
        c.insert(
            "dynamodb:Attributes",
            vec!["pk".into(), "name".into(), "email_verified".into()],
        );
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.insert("dynamodb:Attributes", vec!["pk".into(), "salary".into()]);
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);

        let mut c = user_ctx();
        c.set("dynamodb:Select", "SPECIFIC_ATTRIBUTES");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.set("dynamodb:Select", "ALL_ATTRIBUTES");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn for_any_value_and_negated_operators() {
        let any = with_condition(r#"{"ForAnyValue:StringEquals":{"tags":["a","b"]}}"#);
        let mut c = Context::new();
        assert_eq!(eval(&any, "dynamodb:Scan", T, &c), Decision::ImplicitDeny);
        c.insert("tags", vec!["x".into(), "b".into()]);
        assert_eq!(eval(&any, "dynamodb:Scan", T, &c), Decision::Allow);

        let not = with_condition(r#"{"StringNotEquals":{"tags":["a","b"]}}"#);
        let mut c = Context::new();
        // Absent key: negated operators are true.
        assert_eq!(eval(&not, "dynamodb:Scan", T, &c), Decision::Allow);
        c.insert("tags", vec!["x".into(), "y".into()]);
        assert_eq!(eval(&not, "dynamodb:Scan", T, &c), Decision::Allow);
        c.insert("tags", vec!["x".into(), "a".into()]);
        assert_eq!(eval(&not, "dynamodb:Scan", T, &c), Decision::ImplicitDeny);

        let like = with_condition(r#"{"StringNotLike":{"aws:username":"admin*"}}"#);
        let mut c = Context::new();
        c.set("aws:username", "administrator");
        assert_eq!(eval(&like, "dynamodb:Scan", T, &c), Decision::ImplicitDeny);
        c.set("aws:username", "bob");
        assert_eq!(eval(&like, "dynamodb:Scan", T, &c), Decision::Allow);

        let ic = with_condition(r#"{"StringEqualsIgnoreCase":{"aws:username":"BoB"}}"#);
        assert_eq!(eval(&ic, "dynamodb:Scan", T, &c), Decision::Allow);
        let eq = with_condition(r#"{"StringEquals":{"AWS:UserName":"BoB"}}"#);
        assert_eq!(eval(&eq, "dynamodb:Scan", T, &c), Decision::ImplicitDeny);
    }

    #[test]
    fn if_exists() {
        let p = with_condition(r#"{"NumericLessThanEqualsIfExists":{"dynamodb:Limit":100}}"#);
        let mut c = Context::new();
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.set("dynamodb:Limit", "50");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.set("dynamodb:Limit", "500");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        let strict = with_condition(r#"{"NumericLessThanEquals":{"dynamodb:Limit":100}}"#);
        assert_eq!(
            eval(&strict, "dynamodb:Query", T, &Context::new()),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn null_operator() {
        let p = with_condition(r#"{"Null":{"dynamodb:LeadingKeys":"false"}}"#);
        let mut c = Context::new();
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        c.set("dynamodb:LeadingKeys", "k");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        let absent = with_condition(r#"{"Null":{"dynamodb:LeadingKeys":true}}"#);
        assert_eq!(
            eval(&absent, "dynamodb:Query", T, &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            eval(&absent, "dynamodb:Query", T, &Context::new()),
            Decision::Allow
        );
    }

    #[test]
    fn numeric_operators() {
        let cases = [
            ("NumericEquals", "10", true),
            ("NumericEquals", "10.0", true),
            ("NumericEquals", "11", false),
            ("NumericNotEquals", "11", true),
            ("NumericNotEquals", "10", false),
            ("NumericLessThan", "9", true),
            ("NumericLessThan", "10", false),
            ("NumericLessThanEquals", "10", true),
            ("NumericGreaterThan", "11", true),
            ("NumericGreaterThan", "10", false),
            ("NumericGreaterThanEquals", "10", true),
            // Not a number: never satisfies, even a negated operator.
            ("NumericNotEquals", "ten", false),
            ("NumericEquals", "NaN", false),
        ];
        for (op, value, expected) in cases {
            let p = with_condition(&format!(r#"{{"{op}":{{"n":10}}}}"#));
            let mut c = Context::new();
            c.set("n", value);
            let want = if expected {
                Decision::Allow
            } else {
                Decision::ImplicitDeny
            };
            assert_eq!(eval(&p, "dynamodb:Query", T, &c), want, "{op} {value}");
        }
    }

    #[test]
    fn bool_operator() {
        let p = with_condition(r#"{"Bool":{"aws:SecureTransport":true}}"#);
        let mut c = Context::new();
        c.set("aws:SecureTransport", "TRUE");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.set("aws:SecureTransport", "false");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        c.set("aws:SecureTransport", "maybe");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        assert_eq!(
            eval(&p, "dynamodb:Query", T, &Context::new()),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn arn_operators() {
        let p = with_condition(
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:lambda:*:111122223333:function:*"}}"#,
        );
        let mut c = Context::new();
        c.set(
            "aws:SourceArn",
            "arn:aws:lambda:eu-west-1:111122223333:function:f",
        );
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        // A wildcard cannot swallow a ':' belonging to another component.
        let q = with_condition(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:*:function:f"}}"#);
        assert_eq!(eval(&q, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        let not = with_condition(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}"#);
        assert_eq!(eval(&not, "dynamodb:Query", T, &c), Decision::Allow);
    }

    #[test]
    fn variables_escapes_and_defaults() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",
                "Resource":"arn:aws:dynamodb:*:*:table/${aws:username, 'guest'}-${*}"}}"#,
        )
        .unwrap();
        let mut c = Context::new();
        let guest = "arn:aws:dynamodb:us-east-1:1:table/guest-*";
        assert_eq!(eval(&p, "dynamodb:Query", guest, &c), Decision::Allow);
        // `${*}` is a literal star, not a wildcard.
        assert_eq!(
            eval(
                &p,
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:1:table/guest-x",
                &c
            ),
            Decision::ImplicitDeny
        );
        c.set("aws:username", "b*");
        assert_eq!(
            eval(
                &p,
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:1:table/b*-*",
                &c
            ),
            Decision::Allow
        );
        // A substituted value is literal: "b*" does not match "bob".
        assert_eq!(
            eval(
                &p,
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:1:table/bob-*",
                &c
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn unresolved_variable_in_deny_fails_closed() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"*","Resource":"*"},
                {"Effect":"Deny","Action":"*","NotResource":"arn:aws:dynamodb:*:*:table/${aws:username}"}]}"#,
        )
        .unwrap();
        let mut c = Context::new();
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ExplicitDeny);
        c.set("aws:username", "Orders");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::Allow);
        c.set("aws:username", "Other");
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ExplicitDeny);
    }

    // --- glob ---------------------------------------------------------------

    fn glob(p: &str, t: &str) -> bool {
        glob_match(&compile_glob(p), &t.chars().collect::<Vec<_>>())
    }

    #[test]
    fn glob_basics() {
        assert!(glob("", ""));
        assert!(glob("*", ""));
        assert!(glob("**", "abc"));
        assert!(!glob("?", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*c", "ac"));
        assert!(!glob("a*c", "acb"));
        assert!(glob("*b*", "abc"));
        assert!(glob("a?c*", "abcdef"));
        assert!(!glob("abc", "abcd"));
        assert!(glob("*ab", "aab"));
    }

    #[test]
    fn glob_pathological_is_fast() {
        let text = "a".repeat(10_000);
        let start = Instant::now();
        assert!(!glob("*a*a*a*a*a*b", &text));
        assert!(glob("*a*a*a*a*a*a", &text));
        let p = with_condition(r#"{"StringLike":{"k":"*a*a*a*a*a*a*a*a*a*a*b"}}"#);
        let mut c = Context::new();
        c.set("k", &text);
        assert_eq!(eval(&p, "dynamodb:Query", T, &c), Decision::ImplicitDeny);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn policy_is_clone_and_debug() {
        let p = Policy::parse(LEADING_KEYS).unwrap();
        let q = p.clone();
        assert_eq!(p, q);
        assert!(format!("{q:?}").contains("Statement"));
        assert_eq!(q.version(), Some("2012-10-17"));
        assert_eq!(q.id(), None);
    }
}

/// Hostile-input tests: no document or request may panic, hang or take super-linear time.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use std::time::{Duration, Instant};

    const ELEMENTS: &[&str] = &[
        "Version",
        "Statement",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Sid",
        "Id",
        "Principal",
    ];

    const OPERATORS: &[&str] = &[
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "Bool",
        "Null",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Nonsense",
        "",
    ];

    const KEYS: &[&str] = &[
        "aws:username",
        "aws:userid",
        "aws:PrincipalAccount",
        "dynamodb:LeadingKeys",
        "dynamodb:Attributes",
        "dynamodb:Select",
        "aws:SourceArn",
        "k",
        "K",
    ];

    const STRINGS: &[&str] = &[
        "*",
        "?",
        "",
        "Allow",
        "Deny",
        "2012-10-17",
        "2008-10-17",
        "dynamodb:*",
        "dynamodb:Get*",
        "dynamodb:GetItem",
        "*:*",
        "arn:aws:dynamodb:*:*:table/*",
        "arn:aws:dynamodb:us-east-1:1:table/${aws:username}",
        "arn:*:*:*:*:*",
        "arn:aws:s3:::*a*?b",
        "${aws:username}",
        "${aws:userid, 'dflt'}",
        "${k,'x'}",
        "${k,x}",
        "${*}${?}${$}",
        "${",
        "${}",
        "${ }",
        "}",
        "$",
        "${a${b}}",
        "true",
        "FALSE",
        "1.5",
        "-0",
        "1e308",
        "1e309",
        "NaN",
        "inf",
        " 7 ",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(ELEMENTS).prop_map(str::to_owned),
            2 => operator(),
            1 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            1 => ".{0,8}",
        ]
    }

    fn operator() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(
                &["", "", "", "ForAllValues:", "ForAnyValue:", "forallvalues:"][..],
            ),
            proptest::sample::select(OPERATORS),
            proptest::sample::select(&["", "", "", "", "IfExists", "ifexists"][..]),
        )
            .prop_map(|(p, o, s)| format!("{p}{o}{s}"))
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::sample::select(STRINGS).prop_map(str::to_owned),
            1 => proptest::collection::vec(proptest::sample::select(STRINGS), 0..4)
                .prop_map(|parts| parts.concat()),
            1 => ".{0,12}",
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            string().prop_map(Value::String),
        ]
    }

    /// Arbitrary JSON shaped by the IAM vocabulary.
    fn json() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn one_or_many(s: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
        prop_oneof![
            8 => s.clone().prop_map(Value::String),
            4 => proptest::collection::vec(s.prop_map(Value::String), 1..4).prop_map(Value::Array),
            1 => scalar(),
        ]
    }

    /// A near-valid policy document, so that many parse and get evaluated.
    fn document() -> impl Strategy<Value = Value> {
        let action = prop_oneof![
            12 => proptest::sample::select(&["*", "dynamodb:*", "dynamodb:Get*", "dynamodb:?etItem", "lambda:Invoke*"][..])
                .prop_map(str::to_owned),
            2 => "[a-z*?]{1,5}:[A-Za-z*?_-]{1,8}",
            1 => string(),
        ];
        let resource = prop_oneof![
            3 => (
                proptest::sample::select(&["arn:aws:dynamodb:", "arn:*:", "arn:"][..]),
                proptest::collection::vec(
                    prop_oneof![
                        4 => proptest::sample::select(&["*", "aws", "us-east-1", "1", "table/*", "table/${aws:username}", "t?", ""][..])
                            .prop_map(str::to_owned),
                        1 => string(),
                    ],
                    4..7,
                ),
            )
                .prop_map(|(prefix, parts)| format!("{prefix}{}", parts.join(":"))),
            2 => Just("*".to_owned()),
            1 => string(),
        ];
        let condition_value = prop_oneof![
            3 => string().prop_map(Value::String),
            3 => proptest::sample::select(&["true", "false", "7", "-1.5", "a*b?", "${aws:username}"][..])
                .prop_map(|v| Value::String(v.to_owned())),
            1 => scalar(),
            1 => proptest::collection::vec(scalar(), 0..4).prop_map(Value::Array),
        ];
        let condition_key = prop_oneof![
            4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            1 => ".{0,6}",
        ];
        let condition = proptest::collection::vec(
            (
                operator(),
                proptest::collection::vec((condition_key, condition_value), 0..3),
            ),
            0..3,
        )
        .prop_map(|blocks| {
            Value::Object(
                blocks
                    .into_iter()
                    .map(|(op, entries)| (op, Value::Object(entries.into_iter().collect())))
                    .collect(),
            )
        });
        let statement = (
            proptest::sample::select(
                &[
                    "Allow", "Allow", "Allow", "Deny", "Deny", "Deny", "Deny", "allow",
                ][..],
            ),
            any::<bool>(),
            one_or_many(action),
            any::<bool>(),
            one_or_many(resource),
            proptest::option::of(condition),
            proptest::option::weighted(0.2, string()),
            proptest::option::weighted(0.05, (key(), json())),
        )
            .prop_map(
                |(effect, not_a, action, not_r, resource, condition, sid, extra)| {
                    let mut m = Map::new();
                    m.insert("Effect".into(), Value::String(effect.into()));
                    m.insert((if not_a { "NotAction" } else { "Action" }).into(), action);
                    m.insert(
                        (if not_r { "NotResource" } else { "Resource" }).into(),
                        resource,
                    );
                    if let Some(c) = condition {
                        m.insert("Condition".into(), c);
                    }
                    if let Some(sid) = sid {
                        m.insert("Sid".into(), Value::String(sid));
                    }
                    if let Some((k, v)) = extra {
                        m.insert(k, v);
                    }
                    Value::Object(m)
                },
            )
            .boxed();
        (
            proptest::sample::select(&["2012-10-17", "2012-10-17", "2008-10-17", ""][..]),
            prop_oneof![
                3 => proptest::collection::vec(statement.clone(), 1..4).prop_map(Value::Array),
                1 => statement,
            ],
        )
            .prop_map(|(version, statement)| {
                let mut m = Map::new();
                if !version.is_empty() {
                    m.insert("Version".into(), Value::String(version.into()));
                }
                m.insert("Statement".into(), statement);
                Value::Object(m)
            })
    }

    fn context() -> impl Strategy<Value = Context> {
        let key = prop_oneof![
            4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
            1 => ".{0,6}",
        ];
        let value = prop_oneof![
            3 => string(),
            1 => "arn:[a-z*?]{0,4}:[a-z*?]{0,4}:[a-z0-9-]{0,4}:[0-9]{0,4}:.{0,10}",
            1 => "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        ];
        proptest::collection::vec((key, proptest::collection::vec(value, 0..4)), 0..6).prop_map(
            |entries| {
                let mut c = Context::new();
                for (k, v) in entries {
                    c.insert(&k, v);
                }
                c
            },
        )
    }

    fn action() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => proptest::sample::select(&["dynamodb:GetItem", "DynamoDB:getitem", "lambda:InvokeFunction"][..])
                .prop_map(str::to_owned),
            1 => string(),
        ]
    }

    fn resource() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => Just("arn:aws:dynamodb:us-east-1:1:table/alice".to_owned()),
            2 => (proptest::collection::vec(string(), 5..8)).prop_map(|p| format!("arn:{}", p.join(":"))),
            1 => string(),
        ]
    }

    fn evaluate_randomly(policy: &Policy, requests: &[(String, String, Context)]) {
        for (action, resource, context) in requests {
            let req = Request {
                action,
                resource,
                context,
            };
            let one = policy.evaluate(&req);
            let all = evaluate_all(&[policy, policy], &req);
            assert_eq!(one, all);
        }
    }

    fn requests() -> impl Strategy<Value = Vec<(String, String, Context)>> {
        proptest::collection::vec((action(), resource(), context()), 1..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The linear matcher agrees with the textbook dynamic-programming one.
        #[test]
        fn glob_matches_reference(pattern in "[ab*?]{0,12}", text in "[ab]{0,16}") {
            let pattern = compile_glob(&pattern);
            let text: Vec<char> = text.chars().collect();
            // dp[j]: pattern[..i] matches text[..j].
            let mut dp = vec![false; text.len() + 1];
            dp[0] = true;
            for g in &pattern {
                let mut next = vec![false; text.len() + 1];
                for j in 0..=text.len() {
                    next[j] = match g {
                        Glob::Many => dp[j] || (j > 0 && next[j - 1]),
                        Glob::One => j > 0 && dp[j - 1],
                        Glob::Lit(c) => j > 0 && dp[j - 1] && text[j - 1] == *c,
                    };
                }
                dp = next;
            }
            prop_assert_eq!(glob_match(&pattern, &text), dp[text.len()]);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = Policy::parse(&text);
        }

        #[test]
        fn arbitrary_json_never_panics(doc in json(), requests in requests()) {
            if let Ok(policy) = Policy::parse(&doc.to_string()) {
                evaluate_randomly(&policy, &requests);
            }
        }

        #[test]
        fn near_valid_documents_never_panic(doc in document(), requests in requests()) {
            let text = doc.to_string();
            match Policy::parse(&text) {
                Ok(policy) => evaluate_randomly(&policy, &requests),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            // Truncated documents are rejected, not panicked on.
            for cut in [text.len() / 3, text.len() / 2, text.len().saturating_sub(1)] {
                if let Some(prefix) = text.get(..cut) {
                    prop_assert!(Policy::parse(prefix).is_err());
                }
            }
        }
    }

    /// A parsed policy with the statement of `doc` repeated `n` times (beyond what the size
    /// limit lets one document hold, to bound the cost of large policy sets).
    fn repeated(doc: &str, n: usize) -> Policy {
        let one = Policy::parse(doc).unwrap();
        let mut policy = one.clone();
        policy.statements = (0..n).map(|_| one.statements[0].clone()).collect();
        policy
    }

    #[test]
    fn thousand_pathological_statements_are_fast() {
        let resource = format!("arn:aws:s3:::{}", "a".repeat(10 * 1024));
        let mut context = Context::new();
        context.set("k", &"a".repeat(10 * 1024));
        let docs = [
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::{}b"}}}}"#,
                "*a".repeat(40)
            ),
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::*{}b"}}}}"#,
                "a".repeat(40)
            ),
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"StringLike":{{"k":"{}b"}}}}}}}}"#,
                "*a".repeat(40)
            ),
            format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"ArnLike":{{"k":"arn:aws:s3:::{}b"}}}}}}}}"#,
                "*a".repeat(40)
            ),
        ];
        context.set("arn", &resource);
        for doc in &docs {
            let policy = repeated(doc, 1_000);
            let start = Instant::now();
            let decision = policy.evaluate(&Request {
                action: "s3:GetObject",
                resource: &resource,
                context: &context,
            });
            let elapsed = start.elapsed();
            assert_eq!(decision, Decision::ImplicitDeny, "{doc}");
            assert!(elapsed < Duration::from_secs(2), "{doc}: {elapsed:?}");
        }
    }
}
