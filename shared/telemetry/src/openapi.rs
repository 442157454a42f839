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
    /// Request body content types with an example each.
    pub request: Vec<(&'static str, Value)>,
    /// Status, description, example body (`Value::Null` for none).
    pub responses: Vec<(u16, &'static str, Value)>,
}

impl Operation {
    pub fn new(method: Method, path: &'static str, tag: &'static str, summary: &'static str, auth: Auth) -> Self {
        Self {
            method,
            path,
            tag,
            summary,
            auth,
            request: vec![],
            responses: vec![],
        }
    }

    /// A request body of `content_type`, with an example.
    pub fn body(mut self, content_type: &'static str, example: Value) -> Self {
        self.request.push((content_type, example));
        self
    }

    /// A response, with an example body (`Value::Null` for none).
    pub fn response(mut self, status: u16, description: &'static str, example: Value) -> Self {
        self.responses.push((status, description, example));
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
                .map(|(ct, ex)| (ct.to_string(), json!({"schema": schema_of(ex), "example": ex})))
                .collect();
            o.insert("requestBody".into(), json!({"required": true, "content": content}));
        }
        let responses: Map<String, Value> = op
            .responses
            .iter()
            .map(|(status, desc, ex)| {
                let mut r = json!({"description": desc});
                if !ex.is_null() {
                    r["content"] = json!({"application/json": {"schema": schema_of(ex), "example": ex}});
                }
                (status.to_string(), r)
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
}
