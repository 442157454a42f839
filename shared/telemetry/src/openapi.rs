//! HTTP APIs that document themselves: every route is registered together with its
//! description, and the OpenAPI 3 document served at `/openapi.json` is built from those
//! registrations. A route cannot be served without being documented.

use axum::http::Method;
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `X-API-Key`, with this permission.
    ApiKey(&'static str),
    /// `Authorization: Bearer <admin token>`.
    Admin,
    /// `Authorization: Bearer <ingest credential>` granting this input kind.
    IngestKey(&'static str),
}

/// One operation: what the OpenAPI document says about it.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// axum syntax (`/api/v1/webhooks/{id}`), which is also OpenAPI's.
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub auth: Auth,
    /// Optional query parameters: name, description, schema.
    pub query: Vec<(&'static str, &'static str, Value)>,
    /// Request body content types with an example each, and a schema when it is given in
    /// full instead of derived from the example.
    pub request: Vec<(&'static str, Value, Option<Value>)>,
    /// Whether the request body may be left out (`requestBody.required: false`); see
    /// [`Operation::optional_body`].
    pub body_optional: bool,
    /// The statuses it may answer, each once.
    pub responses: Vec<Response>,
}

/// One documented response of an operation.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub description: &'static str,
    /// Example body (`Value::Null` for none). The body's schema is derived from it: each value's
    /// JSON type, arrays typed by their first item.
    pub example: Value,
    /// Fields of the body that may be `null` besides holding the example's type (see
    /// [`Operation::nullable`]).
    pub nullable: Vec<&'static str>,
    /// A schema given in full, instead of the one derived from the example (a body whose
    /// members take one of several shapes).
    pub schema: Option<Value>,
}

impl Operation {
    pub fn new(method: Method, path: &'static str, tag: &'static str, summary: &'static str, auth: Auth) -> Self {
        Self {
            method,
            path,
            tag,
            summary,
            auth,
            query: vec![],
            request: vec![],
            body_optional: false,
            responses: vec![],
        }
    }

    /// An optional query parameter.
    pub fn query(mut self, name: &'static str, description: &'static str, schema: Value) -> Self {
        self.query.push((name, description, schema));
        self
    }

    /// A request body of `content_type`, with an example.
    pub fn body(mut self, content_type: &'static str, example: Value) -> Self {
        self.request.push((content_type, example, None));
        self
    }

    /// Gives the schema of the request body added last in full (the values it takes, the
    /// members it requires), instead of deriving it from the example, so a client or a fuzzer
    /// knows what is valid.
    pub fn body_schema(mut self, schema: Value) -> Self {
        let last = self.request.last_mut().expect("body_schema() follows a body()");
        last.2 = Some(schema);
        self
    }

    /// Marks the request body optional: the server takes the request without one (and with
    /// an empty one) and uses its defaults, so the document must not tell clients (or a
    /// fuzzer) that a body is required.
    pub fn optional_body(mut self) -> Self {
        self.body_optional = true;
        self
    }

    /// A response, with an example body (`Value::Null` for none). A status documented already
    /// is replaced (a route's own description of a status wins over a common one added first).
    pub fn response(mut self, status: u16, description: &'static str, example: Value) -> Self {
        self.responses.retain(|r| r.status != status);
        self.responses.push(Response {
            status,
            description,
            example,
            nullable: vec![],
            schema: None,
        });
        self
    }

    /// Marks fields of the body of the response added last as nullable: `null` on the wire
    /// when there is no value. A field is named by its path, `.` between object members and
    /// `[]` after an array (`logs[].response_code`); one whose example value is `null` gives its
    /// type after a colon (`click_url:string`). Every `null` in a response example must be
    /// declared here: building the document panics on an undeclared one or on a path that is
    /// not in the example, so a route table that lies about `null` fails every test.
    pub fn nullable(mut self, fields: &[&'static str]) -> Self {
        let last = self.responses.last_mut().expect("nullable() follows a response()");
        last.nullable.extend_from_slice(fields);
        self
    }

    /// Gives the body schema of the response added last in full, instead of deriving it from
    /// the example (for members that take one of several shapes).
    pub fn schema(mut self, schema: Value) -> Self {
        let last = self.responses.last_mut().expect("schema() follows a response()");
        last.schema = Some(schema);
        self
    }
}

/// Collects routes and their operations; [`finish`](Self::finish) yields the router (with
/// `/openapi.json`) and the document.
pub struct DocumentedRouter<S> {
    routes: BTreeMap<&'static str, MethodRouter<S>>,
    ops: Vec<Operation>,
}

impl<S: Clone + Send + Sync + 'static> Default for DocumentedRouter<S> {
    fn default() -> Self {
        Self {
            routes: BTreeMap::new(),
            ops: vec![],
        }
    }
}

impl<S: Clone + Send + Sync + 'static> DocumentedRouter<S> {
    /// Serves `handler` (a method router for `op.method`) at `op.path`.
    pub fn route(mut self, op: Operation, handler: MethodRouter<S>) -> Self {
        let merged = match self.routes.remove(op.path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        self.routes.insert(op.path, merged);
        self.ops.push(op);
        self
    }

    /// The router, serving the document at `GET /openapi.json` too.
    pub fn finish(self, title: &str, description: &str) -> (Router<S>, Value) {
        let doc = document(title, description, &self.ops);
        let served = doc.clone();
        let mut router = Router::new().route("/openapi.json", get(move || async move { Json(served) }));
        for (path, handler) in self.routes {
            router = router.route(path, handler);
        }
        (router, doc)
    }
}

fn document(title: &str, description: &str, ops: &[Operation]) -> Value {
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for op in ops {
        let mut o = Map::new();
        o.insert("tags".into(), json!([op.tag]));
        o.insert("summary".into(), json!(op.summary));
        o.insert(
            "operationId".into(),
            json!(format!(
                "{}{}",
                op.method.as_str().to_lowercase(),
                op.path.replace(['/', '{', '}', '-'], "_")
            )),
        );
        let params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .chain(op.query.iter().map(|(name, description, schema)| {
                json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
            }))
            .collect();
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        match op.auth {
            Auth::None => {
                o.insert("security".into(), json!([]));
            }
            Auth::ApiKey(permission) => {
                o.insert("security".into(), json!([{"apiKey": []}]));
                o.insert("x-permission".into(), json!(permission));
            }
            Auth::Admin => {
                o.insert("security".into(), json!([{"adminToken": []}]));
            }
            Auth::IngestKey(kind) => {
                o.insert("security".into(), json!([{"ingestKey": []}]));
                o.insert("x-input-kind".into(), json!(kind));
            }
        }
        if !op.request.is_empty() {
            let content: Map<String, Value> = op
                .request
                .iter()
                .map(|(ct, ex, schema)| {
                    let schema = schema.clone().unwrap_or_else(|| schema_of(ex));
                    (ct.to_string(), json!({"schema": schema, "example": ex}))
                })
                .collect();
            o.insert(
                "requestBody".into(),
                json!({"required": !op.body_optional, "content": content}),
            );
        }
        let responses: Map<String, Value> = op
            .responses
            .iter()
            .map(|resp| {
                let mut r = json!({"description": resp.description});
                if !resp.example.is_null() {
                    let schema = match &resp.schema {
                        Some(s) => s.clone(),
                        None => response_schema(resp)
                            .unwrap_or_else(|e| panic!("{} {} response {}: {e}", op.method, op.path, resp.status)),
                    };
                    r["content"] = json!({"application/json": {"schema": schema, "example": resp.example}});
                }
                (resp.status.to_string(), r)
            })
            .collect();
        o.insert("responses".into(), Value::Object(responses));
        paths
            .entry(op.path)
            .or_default()
            .insert(op.method.as_str().to_lowercase(), Value::Object(o));
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION"), "description": description},
        "components": {"securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "adminToken": {"type": "http", "scheme": "bearer"},
            "ingestKey": {"type": "http", "scheme": "bearer", "description": "an ingest credential (`hki_…`) granting the operation's `x-input-kind`"}
        }},
        "paths": paths,
    })
}

/// The schema of a response body: derived from its example, with its nullable fields marked.
/// Fails on a `null` in the example that is not declared nullable with its type, and on a
/// declared path that is not in the example.
fn response_schema(resp: &Response) -> Result<Value, String> {
    let mut schema = schema_of(&resp.example);
    for field in &resp.nullable {
        let (path, ty) = match field.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (*field, None),
        };
        let mut at = &mut schema;
        for seg in path.split('.') {
            let name = seg.trim_end_matches("[]");
            if !name.is_empty() {
                at = at
                    .get_mut("properties")
                    .and_then(|p| p.get_mut(name))
                    .ok_or_else(|| format!("nullable field `{field}` is not in the example"))?;
            }
            for _ in 0..(seg.len() - name.len()) / 2 {
                at = at
                    .get_mut("items")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                    .ok_or_else(|| format!("`{field}`: no array item in the example"))?;
            }
        }
        match (at.get("type").is_some(), ty) {
            (true, None) => {}
            (false, Some(ty)) => at["type"] = json!(ty),
            (true, Some(_)) => return Err(format!("`{field}`: the example has a value, its type is not needed")),
            (false, None) => {
                return Err(format!(
                    "`{field}` is null in the example: give its type (`{field}:string`)"
                ))
            }
        }
        at["nullable"] = json!(true);
    }
    match untyped(&schema, "") {
        Some(path) => Err(format!(
            "`{path}` is null in the example but not declared with .nullable()"
        )),
        None => Ok(schema),
    }
}

/// The path of the first schema without a type (a `null` in the example), if any.
fn untyped(schema: &Value, path: &str) -> Option<String> {
    if schema.get("type").is_none() {
        return Some(path.trim_start_matches('.').to_string());
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, s) in props {
            if let Some(p) = untyped(s, &format!("{path}.{name}")) {
                return Some(p);
            }
        }
    }
    match schema.get("items") {
        Some(items) if items.as_object().is_some_and(|o| !o.is_empty()) => untyped(items, &format!("{path}[]")),
        _ => None,
    }
}

/// A JSON schema describing the shape of `example`.
fn schema_of(example: &Value) -> Value {
    match example {
        Value::Null => json!({"nullable": true}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => match items.first() {
            Some(first) => json!({"type": "array", "items": schema_of(first)}),
            None => json!({"type": "array", "items": {}}),
        },
        Value::Object(m) => {
            let props: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), schema_of(v))).collect();
            json!({"type": "object", "properties": props})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_several_methods_and_path_parameters() {
        let (_router, doc) = DocumentedRouter::<()>::default()
            .route(
                Operation::new(Method::GET, "/w/{id}", "t", "get one", Auth::ApiKey("webhooks.read")).response(
                    200,
                    "ok",
                    json!({"id": "w1", "n": 1}),
                ),
                get(|| async { "x" }),
            )
            .route(
                Operation::new(Method::DELETE, "/w/{id}", "t", "delete", Auth::Admin).response(
                    204,
                    "gone",
                    Value::Null,
                ),
                axum::routing::delete(|| async { "x" }),
            )
            .finish("T", "d");
        let w = &doc["paths"]["/w/{id}"];
        assert_eq!(w["get"]["parameters"][0]["name"], "id");
        assert_eq!(w["get"]["x-permission"], "webhooks.read");
        assert_eq!(
            w["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["n"]["type"],
            "integer"
        );
        assert_eq!(w["delete"]["security"][0], json!({"adminToken": []}));
        assert!(w["delete"]["responses"]["204"].get("content").is_none());
        assert_eq!(doc["openapi"], "3.0.3");
    }

    fn doc_of(op: Operation) -> Value {
        DocumentedRouter::<()>::default()
            .route(op, get(|| async { "x" }))
            .finish("T", "d")
            .1
    }

    #[test]
    fn nullable_fields_keep_their_type_and_a_status_is_documented_once() {
        let op = Operation::new(Method::GET, "/l", "t", "list", Auth::None)
            .response(401, "first", json!({"a": 1}))
            .response(401, "replaced", json!({"error_code": "UNAUTHORIZED"}))
            .response(
                200,
                "ok",
                json!({"logs": [{"code": 200, "error": null}], "url": null, "n": 1}),
            )
            .nullable(&["logs[].code", "logs[].error:string", "url:string"]);
        assert_eq!(op.responses.len(), 2);
        let doc = doc_of(op);
        let r = &doc["paths"]["/l"]["get"]["responses"];
        assert_eq!(r["401"]["description"], "replaced");
        let s = &r["200"]["content"]["application/json"]["schema"]["properties"];
        let item = &s["logs"]["items"]["properties"];
        assert_eq!(item["code"], json!({"type": "integer", "nullable": true}));
        assert_eq!(item["error"], json!({"type": "string", "nullable": true}));
        assert_eq!(s["url"], json!({"type": "string", "nullable": true}));
        assert_eq!(s["n"], json!({"type": "integer"}), "not nullable unless declared");
    }

    #[test]
    #[should_panic(expected = "`logs[].error` is null in the example but not declared")]
    fn an_undeclared_null_in_a_response_example_is_refused() {
        doc_of(Operation::new(Method::GET, "/l", "t", "list", Auth::None).response(
            200,
            "ok",
            json!({"logs": [{"error": null}]}),
        ));
    }

    #[test]
    #[should_panic(expected = "nullable field `nope` is not in the example")]
    fn a_nullable_path_missing_from_the_example_is_refused() {
        doc_of(
            Operation::new(Method::GET, "/l", "t", "list", Auth::None)
                .response(200, "ok", json!({"a": 1}))
                .nullable(&["nope"]),
        );
    }

    #[test]
    fn a_given_schema_replaces_the_derived_one() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer", "nullable": true}}});
        let doc = doc_of(
            Operation::new(Method::GET, "/l", "t", "list", Auth::None)
                .response(200, "ok", json!({"a": null}))
                .schema(schema.clone()),
        );
        assert_eq!(
            doc["paths"]["/l"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
            schema
        );
    }
}
