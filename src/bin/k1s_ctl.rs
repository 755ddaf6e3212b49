//! `k1s_ctl` — the command-line client of the K1s REST API (docs/decisions.md, "CLI").
//!
//! It talks only HTTP to the server (`--server`, then `K1S_URL`, then
//! `http://127.0.0.1:8080`), prints kubectl-like tables, and on failure exits 1
//! with one `error: …` line on stderr.

#[path = "k1s_ctl/client.rs"]
mod client;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use client::{Client, Method, Target};
use k1s::cli::format::{self, parse_selector, table, text, url_encode};
use k1s::registry::{self, KindInfo};

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The usage text; the resource types come from the registry.
static USAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let kinds = registry::KINDS
        .iter()
        .map(|k| k.path)
        .collect::<Vec<_>>()
        .join(" | ");
    let types = registry::KINDS
        .iter()
        .map(|k| {
            let mut names = vec![k.singular, k.plural];
            names.extend(k.short_names.iter().filter(|n| **n != k.path));
            names.retain(|n| *n != k.path);
            format!("{} ({})", k.path, names.join(", "))
        })
        .collect::<Vec<_>>()
        .join(",\n                ");
    USAGE_TEMPLATE
        .replace("{KINDS}", &kinds)
        .replace("{TYPES}", &types)
});

const USAGE_TEMPLATE: &str = "\
k1s_ctl — command-line client of K1s, a small Kubernetes for one machine

Usage:
  k1s_ctl help                                  print this message
  k1s_ctl create [TYPE] <file>                  create the resource(s) in the YAML file
                                                (also: create [TYPE] -f <file>; '-' reads stdin)
  k1s_ctl get TYPE [-l lbl=val]                 list all resources, or by label
          [<name>...] [-o wide|json|yaml|name]
  k1s_ctl describe TYPE <name>                  describe the resource
  k1s_ctl delete TYPE <name>...                 delete the resource
  (TYPE: {KINDS})
  k1s_ctl scale rs <name> --replicas <N>        set a ReplicaSet's desired replicas
  k1s_ctl top pod [<name>...] [-l lbl=val]      show pods' CPU and memory use
  k1s_ctl config                                print a kubeconfig for kubectl
                                                (k1s_ctl config > k1s.kubeconfig;
                                                 kubectl --kubeconfig k1s.kubeconfig get pods)

Resource types: {TYPES}

Global options (anywhere on the line):
  --server <URL>     the K1s server (else $K1S_URL, else http://127.0.0.1:8080)
  --token <TOKEN>    bearer token to send (else $K1S_TOKEN; empty means none)
";

const HINT: &str = "Run 'k1s_ctl help' for usage.";

/// A kubeconfig that points kubectl at `server` (namespace `default`), with the
/// token as a bearer token when there is one.
fn kubeconfig(server: &str, token: Option<&str>) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let user = match token {
        Some(t) => format!("  user:\n    token: {}\n", quote(t)),
        None => "  user: {}\n".to_string(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: k1s\n  cluster:\n    server: {}\ncontexts:\n- name: k1s\n  context:\n    cluster: k1s\n    user: k1s\n    namespace: default\ncurrent-context: k1s\nusers:\n- name: k1s\n{user}",
        quote(server.trim_end_matches('/'))
    )
}

/// `pod | rs | hpa`: the kinds' names for messages.
fn kinds_alt() -> String {
    registry::KINDS
        .iter()
        .map(|k| k.path)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A kind of the registry, as named on the command line.
#[derive(Clone, Copy)]
struct Resource(&'static KindInfo);

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.kind)
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind == other.0.kind
    }
}

impl Resource {
    fn parse(s: &str) -> Result<Resource, String> {
        registry::lookup(s).map(Resource).ok_or_else(|| {
            format!(
                "unknown resource type \"{s}\" (expected {})",
                registry::names_help()
            )
        })
    }

    fn from_kind(kind: &str) -> Option<Resource> {
        registry::by_kind(kind).map(Resource)
    }

    /// The path segment under /k1s.
    fn path(self) -> &'static str {
        self.0.path
    }

    fn kind(self) -> &'static str {
        self.0.kind
    }

    /// kubectl's name in `pod/x created`, `replicaset.apps "x" deleted`.
    fn kubectl(self) -> String {
        self.0.qualified()
    }

    /// The noun in `pod "x" not found`.
    fn noun(self) -> &'static str {
        self.0.singular
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
}

fn parse_output(s: &str) -> Result<Output, String> {
    match s {
        "wide" => Ok(Output::Wide),
        "json" => Ok(Output::Json),
        "yaml" => Ok(Output::Yaml),
        "name" => Ok(Output::Name),
        _ => Err(format!(
            "unknown output format \"{s}\" (expected wide, json, yaml or name)"
        )),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "k1s_ctl",
    override_help = USAGE.as_str(),
    disable_help_subcommand = true,
    disable_version_flag = true
)]
struct Cli {
    /// The K1s server URL (else K1S_URL, else http://127.0.0.1:8080)
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// Bearer token (else K1S_TOKEN)
    #[arg(long, global = true, value_name = "TOKEN")]
    token: Option<String>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the usage
    Help {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
    /// Create the resource(s) in a YAML or JSON file
    Create(CreateArgs),
    /// List resources, all or by label, or show named ones
    Get(GetArgs),
    /// Describe resources
    Describe(NamedArgs),
    /// Delete resources
    Delete(NamedArgs),
    /// Set a ReplicaSet's desired replicas
    Scale(ScaleArgs),
    /// Show pods' CPU and memory use
    Top(TopArgs),
    /// Print a kubeconfig for kubectl pointing at this server
    Config,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// pod | rs | hpa, then the file (or give the file with -f)
    #[arg(value_name = "RESOURCE> <FILE")]
    args: Vec<String>,
    /// The file to read ('-' for stdin)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    filename: Option<String>,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// pod | rs | hpa
    #[arg(value_parser = Resource::parse)]
    resource: Resource,
    /// Names (all when none)
    names: Vec<String>,
    /// Label selector, k=v[,k2=v2]
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Vec<String>,
    /// Output format: wide | json | yaml | name
    #[arg(short = 'o', long = "output", value_parser = parse_output, value_name = "FORMAT")]
    output: Option<Output>,
}

#[derive(Args, Debug)]
struct NamedArgs {
    /// pod | rs | hpa
    #[arg(value_parser = Resource::parse)]
    resource: Resource,
    /// Names
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
struct ScaleArgs {
    /// rs
    #[arg(value_parser = Resource::parse)]
    resource: Resource,
    /// The ReplicaSet's name
    name: String,
    /// The desired number of replicas
    #[arg(long, value_name = "N")]
    replicas: u32,
}

#[derive(Args, Debug)]
struct TopArgs {
    /// pod
    #[arg(value_parser = Resource::parse)]
    resource: Resource,
    /// Names (all when none)
    names: Vec<String>,
    /// Label selector, k=v[,k2=v2]
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    selector: Vec<String>,
}

/// A failed command: a message to print as `error: …`, or already reported.
enum Failure {
    Msg(String),
    Reported,
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Msg(s)
    }
}

type Res<T = ()> = Result<T, Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_failure(e),
    };
    let Some(cmd) = cli.cmd else {
        print!("{}", *USAGE);
        return ExitCode::SUCCESS;
    };
    if let Cmd::Help { .. } = cmd {
        print!("{}", *USAGE);
        return ExitCode::SUCCESS;
    }
    let server = non_empty(cli.server)
        .or_else(|| non_empty(std::env::var("K1S_URL").ok()))
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let token = non_empty(cli.token).or_else(|| non_empty(std::env::var("K1S_TOKEN").ok()));
    if let Cmd::Config = cmd {
        print!("{}", kubeconfig(&server, token.as_deref()));
        return ExitCode::SUCCESS;
    }
    let result = Client::new(&server, token)
        .map_err(Failure::Msg)
        .and_then(|client| run(&client, cmd));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Msg(m)) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {}", format::one_line(&m));
            ExitCode::from(1)
        }
        Err(Failure::Reported) => ExitCode::from(1),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Clap's own messages: help goes to stdout; errors become one line plus a hint.
fn clap_failure(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print!("{}", *USAGE);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{}", clap_error_line(&e.render().to_string()));
            eprintln!("{HINT}");
            ExitCode::from(2)
        }
    }
}

/// The first paragraph of a clap error, on one line.
fn clap_error_line(rendered: &str) -> String {
    let para: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = para.join(" ");
    if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    }
}

fn run(client: &Client, cmd: Cmd) -> Res {
    match cmd {
        // `config` needs no server: main answers it before connecting.
        Cmd::Help { .. } | Cmd::Config => {
            print!("{}", *USAGE);
            Ok(())
        }
        Cmd::Create(a) => cmd_create(client, a),
        Cmd::Get(a) => cmd_get(client, a),
        Cmd::Describe(a) => cmd_describe(client, a),
        Cmd::Delete(a) => cmd_delete(client, a),
        Cmd::Scale(a) => cmd_scale(client, a),
        Cmd::Top(a) => cmd_top(client, a),
    }
}

// ---------------------------------------------------------------- create

fn read_input(file: &str) -> Result<String, String> {
    let res = if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map(|_| s)
    } else {
        std::fs::read_to_string(file)
    };
    res.map_err(|e| format!("cannot read {file}: {}", io_reason(&e)))
}

/// An io::Error's text without Rust's ` (os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The documents of a manifest file: one JSON value, or one or more YAML
/// documents (empty documents skipped); a `List` is expanded to its items.
fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(_) => {
            let opts = serde_saphyr::options! { with_snippet: false };
            serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, opts)
                .map_err(|e| format::one_line(&e.to_string()))?
        }
    };
    let mut out = Vec::new();
    for d in docs {
        if d.is_null() {
            continue;
        }
        let is_list = d.get("kind").and_then(Value::as_str) == Some("List");
        match (is_list, d.get("items")) {
            (true, Some(Value::Array(items))) => {
                out.extend(items.iter().filter(|i| !i.is_null()).cloned())
            }
            _ => out.push(d),
        }
    }
    Ok(out)
}

fn cmd_create(client: &Client, a: CreateArgs) -> Res {
    let (resource, file) = match (a.filename, a.args.as_slice()) {
        (Some(f), []) => (None, f),
        (Some(f), [r]) => (Some(Resource::parse(r)?), f),
        (None, [r, f]) => (Some(Resource::parse(r)?), f.clone()),
        (None, [r]) => {
            Resource::parse(r)?;
            return Err(Failure::Msg(format!(
                "no file given: use 'k1s_ctl create {r} <file>'"
            )));
        }
        (None, []) => {
            return Err(Failure::Msg(format!(
                "no file given: use 'k1s_ctl create [{}] <file>'",
                kinds_alt()
            )));
        }
        _ => {
            return Err(Failure::Msg(format!(
                "too many arguments: use 'k1s_ctl create [{}] <file>'",
                kinds_alt()
            )));
        }
    };
    let text = read_input(&file)?;
    let docs = parse_documents(&text).map_err(|e| format!("cannot parse {file}: {e}"))?;
    if docs.is_empty() {
        return Err(Failure::Msg(format!("no objects found in {file}")));
    }
    // Check every document before creating anything.
    let mut plan = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let which = if docs.len() > 1 {
            format!("document {} in {file}", i + 1)
        } else {
            file.clone()
        };
        if !doc.is_object() {
            return Err(Failure::Msg(format!(
                "{which} is not an object (expected a {} manifest)",
                resource.map(Resource::kind).unwrap_or("Kubernetes")
            )));
        }
        let kind = doc.get("kind").and_then(Value::as_str);
        let r = match (resource, kind) {
            (Some(r), Some(k)) if k != r.kind() => {
                let hint = match Resource::from_kind(k) {
                    Some(other) => format!(" (use 'k1s_ctl create {} {file}')", other.path()),
                    None => String::new(),
                };
                return Err(Failure::Msg(format!(
                    "{which} is a {k}, not a {}{hint}",
                    r.kind()
                )));
            }
            (Some(r), _) => r,
            (None, Some(k)) => Resource::from_kind(k).ok_or_else(|| {
                let kinds: Vec<&str> = registry::KINDS.iter().map(|k| k.kind).collect();
                format!(
                    "{which}: kind {k} is not supported (expected one of {})",
                    kinds.join(", ")
                )
            })?,
            (None, None) => {
                return Err(Failure::Msg(format!(
                    "{which} has no kind: use 'k1s_ctl create [{}] {file}'",
                    kinds_alt()
                )));
            }
        };
        plan.push((r, doc));
    }
    for (r, doc) in plan {
        let body = serde_json::to_vec(doc).map_err(|e| e.to_string())?;
        let created = client.call(
            Method::Post,
            &format!("/k1s/{}", r.path()),
            Some(("application/json", body)),
            None,
        )?;
        let name = created
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| format::pick(doc, &["metadata.name"]).and_then(Value::as_str))
            .unwrap_or("<unknown>");
        println!("{}/{} created", r.kubectl(), name);
    }
    Ok(())
}

// ---------------------------------------------------------------- get

/// GET a list and require an array.
fn list(client: &Client, r: Resource, selector: Option<&str>) -> Res<Vec<Value>> {
    let mut path = format!("/k1s/{}", r.path());
    if let Some(sel) = selector {
        path.push_str(&format!("?labels={}", url_encode(sel)));
    }
    match client.call(Method::Get, &path, None, None)? {
        Value::Array(items) => Ok(items),
        Value::Object(mut o) if o.get("items").is_some_and(Value::is_array) => {
            match o.remove("items") {
                Some(Value::Array(items)) => Ok(items),
                _ => Ok(Vec::new()),
            }
        }
        _ => Err(Failure::Msg(format!(
            "unexpected answer from the server to GET {path}: expected a list"
        ))),
    }
}

fn get_one(client: &Client, r: Resource, name: &str, query: &str) -> Res<Value> {
    let path = format!("/k1s/{}/{}{query}", r.path(), url_encode(name));
    let v = client.call(
        Method::Get,
        &path,
        None,
        Some(Target {
            noun: r.noun(),
            name,
        }),
    )?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(Failure::Msg(format!(
            "unexpected answer from the server to GET {path}: expected an object"
        )))
    }
}

/// The kind's table (its columns come from the registry).
fn render_table(r: Resource, items: &[Value], wide: bool) -> String {
    registry::render_table(r.0, items, wide)
}

fn item_name(v: &Value) -> String {
    text(format::pick(v, &["name", "metadata.name"]), "<unknown>")
}

fn print_json(v: &Value) -> Res {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{s}");
    Ok(())
}

fn print_yaml(v: &Value) -> Res {
    let s = serde_saphyr::to_string(v).map_err(|e| format!("cannot write YAML: {e}"))?;
    print!("{s}");
    if !s.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn cmd_get(client: &Client, a: GetArgs) -> Res {
    let selector = parse_selector(&a.selector)?;
    if selector.is_some() && !a.names.is_empty() {
        return Err(Failure::Msg(
            "a name cannot be given together with a label selector (-l)".into(),
        ));
    }
    let r = a.resource;
    let output = a.output.unwrap_or(Output::Table);
    let by_name = !a.names.is_empty();
    let mut items = if by_name {
        let mut v = Vec::new();
        for n in &a.names {
            v.push(get_one(client, r, n, "")?);
        }
        v
    } else {
        list(client, r, selector.as_deref())?
    };
    match output {
        Output::Json | Output::Yaml => {
            let v = if by_name && items.len() == 1 {
                items.remove(0)
            } else {
                Value::Array(items)
            };
            if output == Output::Json {
                print_json(&v)
            } else {
                print_yaml(&v)
            }
        }
        Output::Name => {
            for i in &items {
                println!("{}/{}", r.kubectl(), item_name(i));
            }
            Ok(())
        }
        Output::Table | Output::Wide => {
            if items.is_empty() {
                eprintln!("No resources found.");
                return Ok(());
            }
            if !by_name {
                items.sort_by_key(item_name);
                if r.0.table_from_details {
                    // The list shape has no metrics: read each HPA's details.
                    for item in items.iter_mut() {
                        let name = item_name(item);
                        if let Ok(extra) = get_one(client, r, &name, "") {
                            *item = extra;
                        }
                    }
                }
            }
            print!("{}", render_table(r, &items, output == Output::Wide));
            Ok(())
        }
    }
}

// ---------------------------------------------------------------- describe / delete / scale / top

fn cmd_describe(client: &Client, a: NamedArgs) -> Res {
    for (i, n) in a.names.iter().enumerate() {
        let mut v = get_one(client, a.resource, n, a.resource.0.describe_query)?;
        if let Value::Object(m) = &mut v
            && m.get("name").and_then(Value::as_str).is_none()
        {
            m.insert("name".into(), Value::String(n.clone()));
        }
        let text = (a.resource.0.describe)(&v);
        if i > 0 {
            println!();
        }
        print!("{text}");
    }
    Ok(())
}

fn cmd_delete(client: &Client, a: NamedArgs) -> Res {
    let r = a.resource;
    let mut failed = false;
    for n in &a.names {
        let path = format!("/k1s/{}/{}", r.path(), url_encode(n));
        let target = Some(Target {
            noun: r.noun(),
            name: n,
        });
        match client.call(Method::Delete, &path, None, target) {
            Ok(_) => println!("{} \"{n}\" deleted", r.kubectl()),
            Err(e) => {
                if a.names.len() == 1 {
                    return Err(Failure::Msg(e));
                }
                let _ = std::io::stdout().flush();
                eprintln!("error: {}", format::one_line(&e));
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure::Reported)
    } else {
        Ok(())
    }
}

fn cmd_scale(client: &Client, a: ScaleArgs) -> Res {
    let r = a.resource;
    if !r.0.scalable {
        let scalable: Vec<&str> = registry::KINDS
            .iter()
            .filter(|k| k.scalable)
            .map(|k| k.path)
            .collect();
        return Err(Failure::Msg(format!(
            "cannot scale a {}: only {} can be scaled",
            r.kind(),
            scalable.join(", ")
        )));
    }
    let body = serde_json::json!({"spec": {"replicas": a.replicas}});
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    client.call(
        Method::Patch,
        &format!("/k1s/{}/{}", r.path(), url_encode(&a.name)),
        Some(("application/merge-patch+json", body)),
        Some(Target {
            noun: r.noun(),
            name: &a.name,
        }),
    )?;
    println!("{}/{} scaled", r.kubectl(), a.name);
    Ok(())
}

fn cmd_top(client: &Client, a: TopArgs) -> Res {
    let pod = Resource::parse("pod")?;
    if a.resource != pod {
        return Err(Failure::Msg(format!(
            "top shows pods only, not {}s",
            a.resource.kind()
        )));
    }
    let selector = parse_selector(&a.selector)?;
    if selector.is_some() && !a.names.is_empty() {
        return Err(Failure::Msg(
            "a name cannot be given together with a label selector (-l)".into(),
        ));
    }
    let mut rows = Vec::new();
    if a.names.is_empty() {
        let mut pods = list(client, pod, selector.as_deref())?;
        pods.sort_by_key(item_name);
        for p in pods {
            let name = item_name(&p);
            match get_one(client, pod, &name, "?tailLines=1") {
                Ok(extra) => rows.push(top_row(&extra)),
                // Deleted meanwhile, or not readable: show what we know.
                Err(_) => rows.push(top_row(&p)),
            }
        }
    } else {
        for n in &a.names {
            rows.push(top_row(&get_one(client, pod, n, "?tailLines=1")?));
        }
    }
    if rows.is_empty() {
        eprintln!("No resources found.");
        return Ok(());
    }
    print!("{}", table(&["NAME", "CPU(cores)", "MEMORY(bytes)"], &rows));
    Ok(())
}

fn top_row(p: &Value) -> Vec<String> {
    let stats = p.get("stats").unwrap_or(&Value::Null);
    vec![
        item_name(p),
        format::cpu_millis(stats.get("cpu_percent")),
        format::mem_mi(stats.get("memory_bytes")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(name: &str) -> Resource {
        Resource::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn kubeconfig_points_at_the_server_with_the_token() {
        let plain = kubeconfig("http://127.0.0.1:8080/", None);
        assert!(
            plain.contains("server: \"http://127.0.0.1:8080\"\n"),
            "{plain}"
        );
        assert!(plain.contains("namespace: default"));
        assert!(plain.contains("  user: {}\n"));
        let with = kubeconfig("http://h:1", Some("s\"cret"));
        assert!(with.contains("token: \"s\\\"cret\"\n"), "{with}");
        // It is YAML kubectl reads: parse it back.
        let v: serde_json::Value = serde_saphyr::from_str(&with).unwrap_or_default();
        assert_eq!(v["users"][0]["user"]["token"], "s\"cret");
        assert_eq!(v["current-context"], "k1s");
    }

    #[test]
    fn resource_aliases() {
        for s in ["pod", "pods", "po", "Pods"] {
            assert_eq!(Resource::parse(s), Ok(r("pod")));
        }
        for s in ["rs", "replicaset", "replicasets"] {
            assert_eq!(Resource::parse(s), Ok(r("rs")));
        }
        for s in ["hpa", "horizontalpodautoscaler", "horizontalpodautoscalers"] {
            assert_eq!(Resource::parse(s), Ok(r("hpa")));
        }
        assert!(Resource::parse("deploy").is_err());
    }

    #[test]
    fn yaml_multi_doc() {
        let text = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n# comment only\n---\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports:\n    - containerPort: 80\n---\n";
        let docs = parse_documents(text).unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["metadata"]["name"], "a");
        assert_eq!(
            docs[1]["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
    }

    #[test]
    fn json_and_list_documents() {
        let docs = parse_documents(r#"{"kind":"Pod","metadata":{"name":"a"}}"#).unwrap_or_default();
        assert_eq!(docs.len(), 1);
        let docs = parse_documents(
            "kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  metadata: {name: b}\n",
        )
        .unwrap_or_default();
        assert_eq!(docs.len(), 2);
        assert_eq!(parse_documents("").map(|d| d.len()), Ok(0));
        let err = parse_documents("a: [1, 2\nb: c: d\n");
        assert!(err.is_err());
        assert!(!err.err().unwrap_or_default().contains('\n'));
    }

    #[test]
    fn pod_table_rows() {
        let pods = vec![
            json!({"name": "web", "status": "Running", "reason": null, "restartCount": 0,
                   "addr": "172.17.0.2", "id": "0123456789abcdef0123", "image": "nginx"}),
            json!({"name": "bad", "status": "Pending", "reason": "ErrImagePull", "restartCount": 2,
                   "addr": null, "id": null, "image": "nope:1"}),
        ];
        let t = render_table(r("pod"), &pods, false);
        assert_eq!(
            t,
            "NAME   READY   STATUS         RESTARTS   AGE\n\
             web    1/1     Running        0          <unknown>\n\
             bad    0/1     ErrImagePull   2          <unknown>\n"
        );
        let w = render_table(r("pod"), &pods, true);
        assert!(
            w.lines()
                .next()
                .unwrap_or("")
                .ends_with("IP           CONTAINER      IMAGE")
        );
        assert!(w.contains("172.17.0.2   0123456789ab   nginx"));
        assert!(w.contains("<none>       <none>         nope:1"));
    }

    #[test]
    fn rs_and_hpa_rows() {
        let t = render_table(
            r("rs"),
            &[
                json!({"name": "web", "replicas": 3, "current": 3, "ready": 2, "selector": {"app": "web"}}),
            ],
            true,
        );
        assert_eq!(
            t,
            "NAME   DESIRED   CURRENT   READY   AGE         SELECTOR\nweb    3         3         2       <unknown>   app=web\n"
        );
        let t = render_table(
            r("hpa"),
            &[
                json!({"name": "h", "target": "web", "minReplicas": 1, "maxReplicas": 10, "currentReplicas": 2,
                     "spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 60}}}]}}),
            ],
            false,
        );
        assert!(
            t.contains(
                "h      ReplicaSet/web   <unknown>/60%   1         10        2          <unknown>"
            ),
            "{t}"
        );
    }

    #[test]
    fn clap_errors_are_one_line() {
        let e = Cli::try_parse_from(["k1s_ctl", "frobnicate"]).err();
        let line = e
            .map(|e| clap_error_line(&e.render().to_string()))
            .unwrap_or_default();
        assert!(
            line.starts_with("error: unrecognized subcommand 'frobnicate'"),
            "{line}"
        );
        let e = Cli::try_parse_from(["k1s_ctl", "get"]).err();
        let line = e
            .map(|e| clap_error_line(&e.render().to_string()))
            .unwrap_or_default();
        assert!(line.contains("<RESOURCE>"), "{line}");
        let e = Cli::try_parse_from(["k1s_ctl", "get", "deploy"]).err();
        let line = e
            .map(|e| clap_error_line(&e.render().to_string()))
            .unwrap_or_default();
        assert!(line.contains("unknown resource type \"deploy\""), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn global_flags_anywhere() {
        let c = Cli::try_parse_from([
            "k1s_ctl",
            "get",
            "pods",
            "--server",
            "http://x:1",
            "-l",
            "a=b",
        ]);
        let c = c.ok();
        assert_eq!(
            c.as_ref().and_then(|c| c.server.clone()).as_deref(),
            Some("http://x:1")
        );
        let c = Cli::try_parse_from(["k1s_ctl", "--token", "t", "delete", "pod", "a", "b"]).ok();
        assert_eq!(
            c.as_ref().and_then(|c| c.token.clone()).as_deref(),
            Some("t")
        );
        match c.and_then(|c| c.cmd) {
            Some(Cmd::Delete(a)) => assert_eq!(a.names, vec!["a", "b"]),
            other => panic!("{other:?}"),
        }
    }
}
