//! `tributary function ...`: build trigger components from hand-written modules, and deploy,
//! list, invoke and delete functions on a running server through its Lambda API (the same
//! requests the AWS CLI makes; any credentials are accepted, so none are sent).

use std::path::PathBuf;

use base64::Engine as _;
use bytes::Bytes;
use clap::Subcommand;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value as Json};

#[derive(Subcommand)]
pub enum FunctionCommand {
    /// Turn a core module (WAT text or .wasm) into a `trigger` component (runtime/wit/trigger.wit).
    Build {
        /// The module: WAT text or a core WebAssembly binary.
        input: PathBuf,
        /// Where to write the component.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Create or update a function from a component and, with --table, map it to the table's
    /// stream (created, or updated when that mapping exists).
    Deploy {
        name: String,
        /// The component (.wasm), or a zip holding it.
        code: PathBuf,
        /// Map the function to this table's current stream.
        #[arg(long, value_name = "TABLE")]
        table: Option<String>,
        #[arg(long, default_value_t = 100)]
        batch_size: u64,
        /// TRIM_HORIZON or LATEST (for a new mapping).
        #[arg(long, default_value = "LATEST")]
        starting_position: String,
        /// Seconds per invocation (1-900).
        #[arg(long)]
        timeout: Option<u64>,
        /// Memory cap in MB (128-10240).
        #[arg(long)]
        memory_size: Option<u64>,
        /// Environment variable for the function, KEY=VALUE (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List the functions and their mappings.
    List {
        #[command(flatten)]
        server: ServerArg,
    },
    /// Invoke a function with a payload and print its response.
    Invoke {
        name: String,
        /// The event (JSON).
        #[arg(long, default_value = "{}")]
        payload: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete a function and its mappings.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(clap::Args)]
pub struct ServerArg {
    /// The server's endpoint.
    #[arg(
        long,
        env = "TRIBUTARY_ENDPOINT",
        default_value = "http://127.0.0.1:8000"
    )]
    endpoint: String,
    /// The region requests are signed for (the server's `region`).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Access key to sign requests with (SigV4), as the AWS CLI reads it; unsigned without.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
}

/// Why a `tributary function` command failed; the message is what the command prints.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The module given to `build` is not one a trigger component can be made from.
    #[error("{}: {source}", path.display())]
    Build {
        path: PathBuf,
        source: tributary_runtime::RuntimeError,
    },
    /// A command-line value the command cannot use (`--env`, `--payload`).
    #[error("{0}")]
    Argument(String),
    #[error("table {0} has no stream: enable one with StreamSpecification")]
    NoStream(String),
    #[error("cannot reach {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        source: hyper_util::client::legacy::Error,
    },
    #[error("cannot sign the request: {0}")]
    Signing(String),
    /// The server answered with an error (its type and message).
    #[error("{kind}: {message}")]
    Service { kind: String, message: String },
    #[error("{0}")]
    Request(#[from] http::Error),
    #[error("{0}")]
    Response(#[from] hyper::Error),
    /// The command's own tokio runtime could not start.
    #[error("{0}")]
    Runtime(std::io::Error),
}

type Result<T> = std::result::Result<T, CliError>;

struct Api {
    endpoint: String,
    region: String,
    credentials: Option<aws_credential_types::Credentials>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Api {
    fn new(server: &ServerArg) -> Api {
        let credentials = match (&server.access_key_id, &server.secret_access_key) {
            (Some(id), Some(secret)) => Some(aws_credential_types::Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "tributary",
            )),
            _ => None,
        };
        Api {
            endpoint: server.endpoint.trim_end_matches('/').to_owned(),
            region: server.region.clone(),
            credentials,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Signs a request as the AWS SDKs do (SigV4; `dynamodb` for JSON 1.0 targets, `lambda`
    /// for the Lambda REST paths), when credentials were given.
    fn sign(&self, req: &mut http::Request<Full<Bytes>>, body: &[u8], service: &str) -> Result<()> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        let identity = credentials.clone().into();
        let params: aws_sigv4::http_request::SigningParams =
            aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.region)
                .name(service)
                .time(std::time::SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| CliError::Signing(e.to_string()))?
                .into();
        let uri = req.uri().to_string();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            uri.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| CliError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| CliError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(req);
        Ok(())
    }

    /// One request; the JSON response, or the service's error as text.
    async fn call(
        &self,
        method: &str,
        path: &str,
        target: Option<&str>,
        body: Option<Json>,
    ) -> Result<(u16, Json)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint))
            .header("content-type", "application/json");
        if let Some(t) = target {
            req = req
                .header("x-amz-target", t)
                .header("content-type", "application/x-amz-json-1.0");
        }
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = req.body(Full::new(Bytes::from(bytes.clone())))?;
        let service = if target.is_some() {
            "dynamodb"
        } else {
            "lambda"
        };
        self.sign(&mut req, bytes.as_bytes(), service)?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|source| CliError::Unreachable {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        // Lambda names its error in a header; DynamoDB in the body's `__type`.
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.into_body().collect().await?.to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&body).into_owned()));
        if status >= 400 {
            let ty = error_type
                .as_deref()
                .or(json["__type"].as_str())
                .unwrap_or("Error");
            let msg = json["message"]
                .as_str()
                .or(json["Message"].as_str())
                .unwrap_or_default();
            return Err(CliError::Service {
                kind: ty.to_owned(),
                message: msg.to_owned(),
            });
        }
        Ok((status, json))
    }

    async fn lambda(&self, method: &str, path: &str, body: Option<Json>) -> Result<Json> {
        self.call(method, &format!("/2015-03-31{path}"), None, body)
            .await
            .map(|(_, j)| j)
    }

    /// The event-source mappings of a function.
    async fn mappings_of(&self, function: &str) -> Result<Vec<Json>> {
        let out = self
            .lambda(
                "GET",
                &format!("/event-source-mappings?FunctionName={function}"),
                None,
            )
            .await?;
        Ok(out["EventSourceMappings"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

pub fn run(cmd: FunctionCommand) -> Result<()> {
    if let FunctionCommand::Build { input, output } = &cmd {
        let module = std::fs::read(input).map_err(|source| CliError::Read {
            path: input.clone(),
            source,
        })?;
        let component = tributary_runtime::build::trigger_component(&module).map_err(|source| {
            CliError::Build {
                path: input.clone(),
                source,
            }
        })?;
        std::fs::write(output, &component).map_err(|source| CliError::Write {
            path: output.clone(),
            source,
        })?;
        println!(
            "{}: trigger component, {} bytes",
            output.display(),
            component.len()
        );
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    rt.block_on(remote(cmd))
}

async fn remote(cmd: FunctionCommand) -> Result<()> {
    match cmd {
        FunctionCommand::Build { .. } => Ok(()),
        FunctionCommand::Deploy {
            name,
            code,
            table,
            batch_size,
            starting_position,
            timeout,
            memory_size,
            env,
            server,
        } => {
            let api = Api::new(&server);
            let bytes = std::fs::read(&code).map_err(|source| CliError::Read {
                path: code.clone(),
                source,
            })?;
            let settings = function_settings(timeout, memory_size, &env)?;
            deploy_function(&api, &name, &bytes, settings).await?;
            match table {
                Some(table) => {
                    map_to_table(&api, &name, &table, batch_size, &starting_position).await
                }
                None => Ok(()),
            }
        }
        FunctionCommand::List { server } => list(&Api::new(&server)).await,
        FunctionCommand::Invoke {
            name,
            payload,
            server,
        } => invoke(&Api::new(&server), &name, &payload).await,
        FunctionCommand::Delete { name, server } => delete(&Api::new(&server), &name).await,
    }
}

/// `--timeout`, `--memory-size` and `--env` as Lambda's configuration members.
fn function_settings(
    timeout: Option<u64>,
    memory_size: Option<u64>,
    env: &[String],
) -> Result<Json> {
    let mut settings = json!({});
    if let Some(t) = timeout {
        settings["Timeout"] = json!(t);
    }
    if let Some(m) = memory_size {
        settings["MemorySize"] = json!(m);
    }
    if !env.is_empty() {
        let mut vars = serde_json::Map::new();
        for kv in env {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| CliError::Argument(format!("--env {kv}: expected KEY=VALUE")))?;
            vars.insert(k.to_owned(), json!(v));
        }
        settings["Environment"] = json!({ "Variables": vars });
    }
    Ok(settings)
}

/// Creates the function, or updates its code and then its configuration when it exists.
async fn deploy_function(api: &Api, name: &str, code: &[u8], mut settings: Json) -> Result<()> {
    let zip = base64::engine::general_purpose::STANDARD.encode(code);
    let exists = api
        .lambda("GET", &format!("/functions/{name}"), None)
        .await
        .is_ok();
    let f = if exists {
        api.lambda(
            "PUT",
            &format!("/functions/{name}/code"),
            Some(json!({ "ZipFile": zip })),
        )
        .await?;
        api.lambda(
            "PUT",
            &format!("/functions/{name}/configuration"),
            Some(settings),
        )
        .await?
    } else {
        settings["FunctionName"] = json!(name);
        settings["Code"] = json!({ "ZipFile": zip });
        settings["Role"] = json!("arn:aws:iam::000000000000:role/tributary");
        api.lambda("POST", "/functions", Some(settings)).await?
    };
    println!(
        "{} function {name} (CodeSha256 {})",
        if exists { "updated" } else { "created" },
        f["CodeSha256"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// The ARN of a table's current stream (DescribeTable).
async fn stream_arn(api: &Api, table: &str) -> Result<String> {
    let (_, described) = api
        .call(
            "POST",
            "/",
            Some("DynamoDB_20120810.DescribeTable"),
            Some(json!({ "TableName": table })),
        )
        .await?;
    described["Table"]["LatestStreamArn"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::NoStream(table.to_owned()))
}

/// Maps the function to the table's stream: the existing mapping gets the batch size, or a
/// new one is created.
async fn map_to_table(
    api: &Api,
    name: &str,
    table: &str,
    batch_size: u64,
    starting_position: &str,
) -> Result<()> {
    let arn = stream_arn(api, table).await?;
    let existing = api
        .mappings_of(name)
        .await?
        .into_iter()
        .find(|m| m["EventSourceArn"] == json!(arn))
        .and_then(|m| m["UUID"].as_str().map(str::to_owned));
    let m = match existing {
        Some(uuid) => {
            api.lambda(
                "PUT",
                &format!("/event-source-mappings/{uuid}"),
                Some(json!({ "BatchSize": batch_size })),
            )
            .await?
        }
        None => {
            api.lambda(
                "POST",
                "/event-source-mappings",
                Some(json!({
                    "FunctionName": name, "EventSourceArn": arn,
                    "BatchSize": batch_size, "StartingPosition": starting_position,
                })),
            )
            .await?
        }
    };
    println!(
        "mapped {name} to {arn} (UUID {}, BatchSize {})",
        m["UUID"].as_str().unwrap_or("?"),
        m["BatchSize"]
    );
    Ok(())
}

/// Each function with its settings, and under it the mappings that invoke it.
async fn list(api: &Api) -> Result<()> {
    let functions = api.lambda("GET", "/functions", None).await?;
    let mappings = api.lambda("GET", "/event-source-mappings", None).await?;
    let mappings = mappings["EventSourceMappings"].as_array();
    for f in functions["Functions"].as_array().into_iter().flatten() {
        let name = f["FunctionName"].as_str().unwrap_or("?");
        println!(
            "{name}  code {} bytes  timeout {} s  memory {} MB",
            f["CodeSize"], f["Timeout"], f["MemorySize"]
        );
        let suffix = format!(":function:{name}");
        for m in mappings.into_iter().flatten() {
            if m["FunctionArn"]
                .as_str()
                .is_some_and(|a| a.ends_with(&suffix))
            {
                println!(
                    "  <- {}  {}  BatchSize {}  {}",
                    m["EventSourceArn"].as_str().unwrap_or("?"),
                    m["State"].as_str().unwrap_or("?"),
                    m["BatchSize"],
                    m["LastProcessingResult"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Invokes the function synchronously and prints its response.
async fn invoke(api: &Api, name: &str, payload: &str) -> Result<()> {
    let event: Json =
        serde_json::from_str(payload).map_err(|e| CliError::Argument(format!("--payload: {e}")))?;
    let out = api
        .lambda(
            "POST",
            &format!("/functions/{name}/invocations"),
            Some(event),
        )
        .await?;
    match out {
        Json::String(s) => println!("{s}"),
        other => println!("{other}"),
    }
    Ok(())
}

/// Deletes the function's mappings, then the function.
async fn delete(api: &Api, name: &str) -> Result<()> {
    for m in api.mappings_of(name).await? {
        if let Some(uuid) = m["UUID"].as_str() {
            api.lambda("DELETE", &format!("/event-source-mappings/{uuid}"), None)
                .await?;
        }
    }
    api.lambda("DELETE", &format!("/functions/{name}"), None)
        .await?;
    println!("deleted function {name}");
    Ok(())
}
