//! Lambda's `FunctionName` parameter: a name (`my-function`), a partial ARN
//! (`123456789012:function:my-function`) or a full ARN, each with an optional version or
//! alias qualifier, checked against the pattern and lengths of Lambda's API reference. Names
//! are 1-64 characters `[a-zA-Z0-9-_]`, so no storage key built from one can be oversized.

use std::sync::LazyLock;

use regex_lite::Regex;

use crate::functions::FunctionError;

/// Longest function name.
pub const NAME_MAX: usize = 64;

/// The pattern of `FunctionName` in Lambda's API reference.
pub const PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

/// [`PATTERN`], anchored, with the name and the qualifier captured.
const MATCHER: &str = r"^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?(?:\d{12}:)?(?:function:)?(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$";

static FUNCTION_NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(MATCHER).ok());

/// Which operation the name is given to: the length limits differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameUse {
    /// CreateFunction: a bare name up to 64 characters, an ARN up to 140; no qualifier.
    Create,
    /// Invoke, GetFunction, GetFunctionConfiguration: up to 170 (a qualifier may follow).
    Qualified,
    /// Everything else (DeleteFunction, UpdateFunction*, event-source mappings): up to 140.
    Unqualified,
}

/// What a `FunctionName` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    /// The version or alias after the name (`$LATEST` is the only one that exists here).
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Whether the reference is to the function's only version, `$LATEST`.
    pub fn is_latest(&self) -> bool {
        self.qualifier.as_deref().is_none_or(|q| q == "$LATEST")
    }
}

/// Lambda's "N validation error(s) detected: ..." message.
pub fn validation_message(violations: &[String]) -> String {
    let n = violations.len();
    let noun = if n == 1 { "error" } else { "errors" };
    format!("{n} validation {noun} detected: {}", violations.join("; "))
}

fn violation(raw: &str, constraint: &str) -> String {
    format!("Value '{raw}' at 'functionName' failed to satisfy constraint: {constraint}")
}

/// Parses and checks a `FunctionName` as Lambda does (ValidationException on a mismatch).
pub fn parse(raw: &str, usage: NameUse) -> Result<FunctionRef, FunctionError> {
    let captures = FUNCTION_NAME.as_ref().and_then(|re| re.captures(raw));
    let name = captures
        .as_ref()
        .and_then(|c| c.name("name"))
        .map(|m| m.as_str().to_owned());
    let qualifier = captures
        .as_ref()
        .and_then(|c| c.name("qualifier"))
        .map(|m| m.as_str().to_owned());
    let bare = name.as_deref() == Some(raw);
    let max = match usage {
        NameUse::Create if bare || name.is_none() => NAME_MAX,
        NameUse::Create | NameUse::Unqualified => 140,
        NameUse::Qualified => 170,
    };
    let mut violations = Vec::new();
    if raw.is_empty() {
        violations.push(violation(
            raw,
            "Member must have length greater than or equal to 1",
        ));
    }
    if name.is_none() {
        violations.push(violation(
            raw,
            &format!("Member must satisfy regular expression pattern: {PATTERN}"),
        ));
    }
    if raw.chars().count() > max {
        violations.push(violation(
            raw,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    if !violations.is_empty() {
        return Err(FunctionError::Validation(validation_message(&violations)));
    }
    let Some(name) = name else {
        return Err(FunctionError::Validation(validation_message(&[violation(
            raw,
            &format!("Member must satisfy regular expression pattern: {PATTERN}"),
        )])));
    };
    if name.len() > NAME_MAX {
        // Only an ARN can carry a name this long; no such function can exist.
        return Err(match usage {
            NameUse::Create => FunctionError::Validation(validation_message(&[violation(
                &name,
                &format!("Member must have length less than or equal to {NAME_MAX}"),
            )])),
            _ => FunctionError::NotFound(format!("Function not found: {raw}")),
        });
    }
    if usage == NameUse::Create && qualifier.is_some() {
        return Err(FunctionError::InvalidParameter(format!(
            "Unsupported function name: {raw} (a new function cannot name a version or alias)"
        )));
    }
    Ok(FunctionRef { name, qualifier })
}

/// Whether `name` is a valid bare function name (what is stored).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    // The error as its message: what these tests compare (a test helper, not an API).
    fn name(raw: &str, usage: NameUse) -> Result<(String, Option<String>), String> {
        parse(raw, usage)
            .map(|r| (r.name, r.qualifier))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn names_partial_and_full_arns() {
        for raw in [
            "my-function",
            "123456789012:function:my-function",
            "arn:aws:lambda:us-west-2:123456789012:function:my-function",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-function",
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:my-function",
        ] {
            assert_eq!(
                name(raw, NameUse::Unqualified),
                Ok(("my-function".into(), None)),
                "{raw}"
            );
        }
        assert_eq!(
            name("my-function:$LATEST", NameUse::Qualified),
            Ok(("my-function".into(), Some("$LATEST".into())))
        );
        assert_eq!(
            name(
                "arn:aws:lambda:us-east-1:123456789012:function:f:live",
                NameUse::Qualified
            ),
            Ok(("f".into(), Some("live".into())))
        );
        assert!(parse("f:live", NameUse::Qualified).is_ok_and(|r| !r.is_latest()));
    }

    #[test]
    fn lengths_and_patterns() {
        let long = "a".repeat(65);
        let err = name(&long, NameUse::Create).expect_err("65 characters");
        assert!(
            err.starts_with("1 validation error detected: Value 'aaa")
                && err.ends_with("Member must have length less than or equal to 64"),
            "{err}"
        );
        assert!(name(&"a".repeat(64), NameUse::Create).is_ok());
        // 70,000 characters: both violations, no panic, no storage key.
        let huge = "x".repeat(70_000);
        let err = name(&huge, NameUse::Qualified).expect_err("too long");
        assert!(err.contains("less than or equal to 170"), "{}", &err[..100]);
        let err = name("bad name!", NameUse::Create).expect_err("pattern");
        assert!(
            err.contains("Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?"),
            "{err}"
        );
        let err = name(&format!("{}!", "a".repeat(70)), NameUse::Create).expect_err("both");
        assert!(err.starts_with("2 validation errors detected: "), "{err}");
        assert!(name("", NameUse::Create).is_err());
        // A long name inside an ARN cannot exist.
        let arn = format!("123456789012:function:{}", "b".repeat(80));
        assert!(matches!(
            parse(&arn, NameUse::Unqualified),
            Err(FunctionError::NotFound(_))
        ));
        assert!(matches!(
            parse(&arn, NameUse::Create),
            Err(FunctionError::Validation(_))
        ));
        assert!(matches!(
            parse("f:1", NameUse::Create),
            Err(FunctionError::InvalidParameter(_))
        ));
    }

    #[test]
    fn stored_names() {
        assert!(is_valid_name("a-b_C9"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name(&"a".repeat(65)));
    }
}
