//! Who may call the server: principals from `[auth]` (`[[auth.users]]`: keys, account, IAM
//! policy), request authentication (AWS Signature Version 4: `sigv4.rs`) and authorization
//! (IAM policy documents: `policy.rs`; what each request needs: `checks.rs`).
//!
//! With `mode = "none"` every request is the anonymous principal, who may do anything (the
//! quick start; `serve` allows it only on a loopback address unless `--insecure`). With
//! `mode = "sigv4"` a request must be signed by a declared user's key, and each access it
//! needs must be allowed by that user's policy (a user without one administers everything).
//! Trigger functions run as their `Role`: a user named by name or ARN whose policy judges the
//! handler's `dynamodb.call`s.

pub mod checks;
pub mod policy;
pub mod sigv4;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::{AuthConfig, AuthMode};

pub use checks::Check;

/// A declared principal.
#[derive(Debug)]
pub struct User {
    pub name: String,
    pub account_id: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    secret_access_key: String,
    /// None: an administrator.
    policy: Option<policy::Policy>,
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// `mode = "none"`: anyone, allowed everything.
    Anonymous,
    User(Arc<User>),
}

/// Why a request was refused, as AWS names it (`code()`); the caller picks the protocol's
/// error shape and status.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Signature(#[from] sigv4::SigError),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("User: {principal} is not authorized to perform: {action} on resource: {resource} {}", denial_reason(*explicit, action))]
    Denied {
        principal: String,
        action: String,
        resource: String,
        explicit: bool,
    },
}

impl AuthError {
    /// AWS's error type name.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Signature(e) => e.code(),
            AuthError::UnknownKey => "UnrecognizedClientException",
            AuthError::Denied { .. } => "AccessDeniedException",
        }
    }
}

/// The end of AWS's AccessDenied message: which kind of policy decided.
fn denial_reason(explicit: bool, action: &str) -> String {
    if explicit {
        "with an explicit deny in an identity-based policy".to_owned()
    } else {
        format!("because no identity-based policy allows the {action} action")
    }
}

/// Why `[auth]` cannot be used; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("[[auth.users]] {0}: {1}")]
    User(String, String),
    #[error("[[auth.users]] {user}: policy {path}: {source}")]
    PolicyFile {
        user: String,
        path: String,
        source: std::io::Error,
    },
    #[error("[[auth.users]] {user}: policy: {source}")]
    Policy {
        user: String,
        source: policy::PolicyError,
    },
}

/// The principals and the signature verifier.
pub struct Auth {
    mode: AuthMode,
    by_key: HashMap<String, Arc<User>>,
    by_name: HashMap<String, Arc<User>>,
    /// Users by ARN: a function's Role is looked up on each of its handler's calls.
    by_arn: HashMap<String, Arc<User>>,
    verifier: sigv4::Verifier,
    region: String,
}

impl Auth {
    /// Reads `[auth]`; policy paths are relative to the working directory.
    pub fn from_config(
        config: &AuthConfig,
        region: &str,
        account: &str,
    ) -> Result<Auth, AuthConfigError> {
        let mut by_key = HashMap::new();
        let mut by_name = HashMap::new();
        for u in &config.users {
            let bad = |what: &str| AuthConfigError::User(u.name.clone(), what.to_owned());
            if u.name.is_empty() || u.name.len() > 64 || !u.name.bytes().all(valid_name_byte) {
                return Err(bad(
                    "name must be 1-64 characters of A-Z a-z 0-9 + = , . @ _ -",
                ));
            }
            if u.access_key_id.len() < 4 || u.access_key_id.len() > 128 {
                return Err(bad("access_key_id must be 4-128 characters"));
            }
            if u.secret_access_key.is_empty() {
                return Err(bad("secret_access_key is empty"));
            }
            let account_id = u.account_id.clone().unwrap_or_else(|| account.to_owned());
            if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("account_id must be 12 digits"));
            }
            let policy = match &u.policy {
                None => None,
                Some(p) => Some(load_policy(&u.name, p)?),
            };
            let user = Arc::new(User {
                arn: format!("arn:aws:iam::{account_id}:user/{}", u.name),
                name: u.name.clone(),
                account_id,
                secret_access_key: u.secret_access_key.clone(),
                policy,
            });
            if by_key
                .insert(u.access_key_id.clone(), user.clone())
                .is_some()
            {
                return Err(bad("access_key_id is used by another user"));
            }
            if by_name.insert(u.name.clone(), user).is_some() {
                return Err(bad("two users have this name"));
            }
        }
        let by_arn = by_name
            .values()
            .map(|u: &Arc<User>| (u.arn.clone(), u.clone()))
            .collect();
        Ok(Auth {
            mode: config.mode,
            by_key,
            by_name,
            by_arn,
            verifier: sigv4::Verifier::new(),
            region: region.to_owned(),
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn users(&self) -> usize {
        self.by_name.len()
    }

    /// The accounts users belong to (each gets its own tables and functions).
    pub fn accounts(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .by_name
            .values()
            .map(|u| u.account_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Whether handlers' calls must be judged by their roles (authentication is on).
    pub fn needs_guard(&self) -> bool {
        self.mode == AuthMode::Sigv4
    }

    /// Who signed `req` for `service` (`dynamodb`, `lambda`; None: any signing name): the
    /// anonymous principal without authentication, else the user whose key verifies the
    /// signature.
    pub fn authenticate(
        &self,
        req: &sigv4::SignedRequest<'_>,
        service: Option<&'static str>,
    ) -> Result<Principal, AuthError> {
        if self.mode == AuthMode::None {
            return Ok(Principal::Anonymous);
        }
        let claim = sigv4::parse(req)?;
        let user = self
            .by_key
            .get(&claim.access_key_id)
            .ok_or(AuthError::UnknownKey)?;
        claim.check_scope(&self.region, service.unwrap_or(&claim.service))?;
        let now = i64::try_from(tributary_engine::clock::now_ms() / 1000).unwrap_or(i64::MAX);
        self.verifier
            .verify(req, &claim, &user.secret_access_key, now)?;
        Ok(Principal::User(user.clone()))
    }

    /// The principal a function's `Role` names: a user's name, or its ARN. None when no user
    /// has that name (the function then runs as nobody: every call is denied).
    pub fn role(&self, role: &str) -> Option<Principal> {
        if self.mode == AuthMode::None {
            return Some(Principal::Anonymous);
        }
        // Exactly a user's name or exactly its ARN: the same string `iam:PassRole` was
        // checked on (`checks::pass_role`), nothing looser.
        let user = self.by_name.get(role).or_else(|| self.by_arn.get(role))?;
        Some(Principal::User(user.clone()))
    }

    /// Whether a principal's requests need their checks computed (only users with a policy).
    pub fn needs_checks(&self, principal: &Principal) -> bool {
        matches!(principal, Principal::User(u) if u.policy.is_some())
    }

    /// Whether every check is allowed for `principal`; the first refused one is the error.
    pub fn authorize(&self, principal: &Principal, checks: &[Check]) -> Result<(), AuthError> {
        let user = match principal {
            Principal::Anonymous => return Ok(()),
            Principal::User(u) => u,
        };
        let Some(policy) = &user.policy else {
            return Ok(());
        };
        for check in checks {
            let mut context = check.context.clone();
            context.insert("aws:username", vec![user.name.clone()]);
            context.insert("aws:userid", vec![user.name.clone()]);
            context.insert("aws:PrincipalAccount", vec![user.account_id.clone()]);
            context.insert("aws:PrincipalArn", vec![user.arn.clone()]);
            context.insert("aws:PrincipalType", vec!["User".to_owned()]);
            let request = policy::Request {
                action: &check.action,
                resource: &check.resource,
                context: &context,
            };
            match policy.evaluate(&request) {
                policy::Decision::Allow => {}
                decision => {
                    return Err(AuthError::Denied {
                        principal: user.arn.clone(),
                        action: check.action.clone(),
                        resource: check.resource.clone(),
                        explicit: decision == policy::Decision::ExplicitDeny,
                    })
                }
            }
        }
        Ok(())
    }
}

/// IAM user names: alphanumerics and `+=,.@_-`.
fn valid_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)
}

/// A policy given inline (JSON) or as a file path.
fn load_policy(user: &str, text: &str) -> Result<policy::Policy, AuthConfigError> {
    let document = if text.trim_start().starts_with('{') {
        text.to_owned()
    } else {
        read_bounded(Path::new(text)).map_err(|source| AuthConfigError::PolicyFile {
            user: user.to_owned(),
            path: text.to_owned(),
            source,
        })?
    };
    policy::Policy::parse(&document).map_err(|source| AuthConfigError::Policy {
        user: user.to_owned(),
        source,
    })
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(policy::MAX_POLICY_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    // Past the cap the parser names the limit.
    Ok(text)
}

/// Trigger functions run as their role: each `dynamodb.call` of a handler is authorized as a
/// request of the user the function's `Role` names (a denied call is the handler's
/// AccessDeniedException api-error; a role that names no user may call nothing).
pub struct RoleGuard {
    pub auth: Arc<Auth>,
    pub engine: Arc<tributary_engine::Engine>,
}

impl tributary_runtime::CallGuard for RoleGuard {
    fn check(&self, role: &str, operation: &str, request: &[u8]) -> Result<(), (String, String)> {
        let Some(principal) = self.auth.role(role) else {
            return Err((
                "AccessDeniedException".to_owned(),
                format!(
                    "The function's role '{role}' names no principal of this server: declare it in [[auth.users]] (by name or ARN)"
                ),
            ));
        };
        if let Principal::User(u) = &principal {
            if u.account_id != self.engine.account() {
                return Err((
                    "AccessDeniedException".to_owned(),
                    format!(
                        "The function's role '{role}' belongs to account {}, not to the function's account {}",
                        u.account_id,
                        self.engine.account()
                    ),
                ));
            }
        }
        if !self.auth.needs_checks(&principal) {
            return Ok(());
        }
        let checks = checks::dynamodb(&self.engine, operation, request, false);
        self.auth
            .authorize(&principal, &checks)
            .map_err(|e| (e.code().to_owned(), e.to_string()))
    }
}
