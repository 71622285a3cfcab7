//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the route
//! table ([`super::routes`], the same table the router is built from) and
//! from the loaded components' parameter schemas, outputs and summaries.
//!
//! Each task becomes a schema `<task name>` (its parameters plus
//! `task_name`, `task_metas` and the callback options) and
//! `<task name>.result` (its values and files); the components' own
//! `$defs` are hoisted to `components/schemas` as `<task name>.<Def>`.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::engine::LoadedTask;

/// A request body an operation takes.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// `{"tasks": [def…] | def, "block"?, "dedup"?}` + auth.
    Create,
    /// `{"task": def}` + auth.
    CreateFile,
    /// `{"tasks": [key…] | key, "block"?}`.
    Status,
    /// A file: raw bytes or `multipart/form-data`.
    Upload,
    /// A template + auth.
    Template,
}

/// What a response carries.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// A JSON list of statuses.
    Statuses,
    /// An upload's status and reference.
    Upload,
    /// A stored template.
    Template,
    /// A list of stored templates.
    Templates,
    /// One task status (the failed task of `create_file` / `file`).
    Status,
    /// A redirect to an output file.
    Redirect,
    /// The request-level error envelope.
    Envelope,
    /// `{"status": "error", "message": …}` (a bad file name).
    Message,
    /// NDJSON (or SSE) status lines.
    Stream,
    /// An output file's bytes.
    File,
    /// `/v1/tasks`.
    Tasks,
    /// Any of several JSON shapes (component schema names): a 400 that is
    /// a failed task's status or the request's error envelope.
    OneOf(&'static [&'static str]),
    /// `text/plain`.
    Text,
    /// No body (304, 416).
    Empty,
    /// This document.
    Document,
    /// An HTML page.
    Html,
    /// A script.
    Script,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Name; `*` is the free-form rest (task parameters of a GET create).
    pub name: &'static str,
    /// Description.
    pub about: &'static str,
    /// JSON type of the value.
    pub ty: &'static str,
    /// May repeat (`tasks=K1&tasks=K2`).
    pub repeated: bool,
    /// Must be present (and, for strings, not empty).
    pub required: bool,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (the task key is the capability), unless the server sets
    /// `require_auth_for_reads`: then the task's account.
    None,
    /// An account: secret or API key.
    Account,
    /// An account, or a signed, expiring query (GET create_file).
    AccountOrSigned,
}

/// One documented operation of a route.
#[derive(Debug, Clone)]
pub struct Operation {
    /// HTTP method.
    pub method: Method,
    /// `operationId`.
    pub id: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Longer text (CommonMark).
    pub about: &'static str,
    /// Credentials it needs.
    pub auth: Auth,
    /// Request body.
    pub body: Option<Body>,
    /// Query parameters.
    pub query: &'static [Query],
    /// Responses: (status code, description, payload).
    pub responses: &'static [(u16, &'static str, Payload)],
}

/// Path parameters' descriptions, by name.
const PATH_PARAMS: &[(&str, &str)] = &[
    (
        "filename",
        "The output file to redirect to (`output`, `preview`, `export`, `thumbnail`); any name \
         for a single-file task.",
    ),
    ("key", "Task key (26 characters, base32)."),
    (
        "name",
        "Output file name with extension (`output.jpg`), or a part of an HLS/DASH output \
         (`output/720p/3.m4s`: the playlist refers to it relatively).",
    ),
];

/// `/openapi.json`: built on the first request (the routes and the loaded
/// components do not change while the process runs), then served as is.
pub async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(state.openapi.get_or_init(|| build(&state)).clone())
}

/// The whole document for this server.
pub fn build(state: &AppState) -> Value {
    let mut schemas = base_schemas();
    let mut definitions = Vec::new();
    for task in state.engine.tasks().values() {
        let (definition, result, defs) = task_schemas(task);
        let name = task.info.name.clone();
        definitions.push(json!({"$ref": format!("#/components/schemas/{name}")}));
        schemas.insert(name.clone(), definition);
        schemas.insert(format!("{name}.result"), result);
        schemas.extend(defs);
    }
    schemas.insert(
        "TaskDefinition".into(),
        json!({
            "description": "A task: `task_name` and that task's parameters.",
            "oneOf": definitions,
            "discriminator": {"propertyName": "task_name"},
        }),
    );

    let mut paths = Map::new();
    for route in super::routes() {
        let mut item = Map::new();
        // axum's catch-all `{*name}` is OpenAPI's plain `{name}`.
        let path = route.path.replace("{*", "{");
        let params: Vec<Value> = path_params(&path);
        for op in &route.ops {
            item.insert(
                op.method.as_str().to_ascii_lowercase(),
                operation(op, &params),
            );
        }
        paths.insert(path, Value::Object(item));
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "drake",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "A self-hostable media task service (Stupeflix Tasks API v1).",
            "description": "Create tasks, follow their statuses, download their outputs. \
                Task parameters are the `TaskDefinition` schemas, generated from the task \
                components this server runs. Wherever a task takes a URL, `drake:KEY/NAME` \
                names output file NAME of the account's task KEY (an upload's file is \
                `output`), read straight from the blob store; `drake:$N/NAME` names the N-th \
                task (from 0) of the same `tasks` list, and a task whose inputs have not \
                finished waits for them (`queued`, with `waiting_for`). A task may also be \
                `{\"template\": NAME, \"fields\": {…}}`, one of the account's templates \
                (`/v1/templates`) rendered at create time.",
        },
        "servers": [{"url": &*state.public_base}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "secret": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`Authorization: Secret <secret>` (server to server); also \
                        `\"secret\"` in the JSON body or `?secret=` on GET routes.",
                },
                "apiKey": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`Authorization: Api-Key <key>` with a whitelisted `Referer` \
                        or `Origin` (browsers); also `\"api_key\"` in the body or `?api_key=`.",
                },
                "signed": {
                    "type": "apiKey", "in": "query", "name": "signature",
                    "description": "GET create_file only: `api_key`, `expires` and `signature` \
                        (HMAC-SHA256 of the canonical query with the account secret; see \
                        `drake sign`).",
                },
            },
        },
    })
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let about = PATH_PARAMS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, a)| a);
            json!({"name": name, "in": "path", "required": true,
                   "description": about, "schema": {"type": "string"}})
        })
        .collect()
}

fn operation(op: &Operation, path_params: &[Value]) -> Value {
    let mut parameters: Vec<Value> = path_params.to_vec();
    for q in op.query {
        parameters.push(if q.name == "*" {
            json!({"name": "parameters", "in": "query", "description": q.about,
                   "style": "form", "explode": true,
                   "schema": {"type": "object", "additionalProperties": true}})
        } else {
            let mut value = json!({"type": q.ty});
            if q.required && q.ty == "string" {
                value["minLength"] = json!(1);
            }
            let mut p = json!({"name": q.name, "in": "query", "description": q.about,
                               "required": q.required, "schema": value});
            if q.repeated {
                p["style"] = json!("form");
                p["explode"] = json!(true);
                p["schema"] = json!({"type": "array", "items": p["schema"].take(), "minItems": 1});
            }
            p
        });
    }
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "description": op.about,
        "parameters": parameters,
        "responses": op.responses.iter().map(|(code, about, payload)| {
            (code.to_string(), response(about, *payload))
        }).collect::<Map<String, Value>>(),
    });
    match op.auth {
        Auth::None => {}
        Auth::Account => out["security"] = json!([{"secret": []}, {"apiKey": []}]),
        Auth::AccountOrSigned => {
            out["security"] = json!([{"secret": []}, {"apiKey": []}, {"signed": []}]);
        }
    }
    if let Some(body) = op.body {
        let schema = match body {
            Body::Create => json!({"$ref": "#/components/schemas/CreateRequest"}),
            Body::CreateFile => json!({"$ref": "#/components/schemas/CreateFileRequest"}),
            Body::Status => json!({"$ref": "#/components/schemas/StatusRequest"}),
            Body::Template => json!({"allOf": [{"$ref": "#/components/schemas/Auth"},
                {"$ref": "#/components/schemas/Template"}]}),
            Body::Upload => {
                out["requestBody"] = json!({
                    "required": true,
                    "description": "The file, or a form whose first file field is taken.",
                    "content": {
                        "*/*": {"schema": {"type": "string",
                            "contentMediaType": "application/octet-stream"}},
                        "multipart/form-data": {"schema": {"type": "object",
                            "properties": {"file": {"type": "string",
                                "contentMediaType": "application/octet-stream"}}}},
                    },
                });
                return out;
            }
        };
        out["requestBody"] = json!({
            "required": true,
            "description": "JSON, whatever the Content-Type.",
            "content": {"application/json": {"schema": schema}},
        });
    }
    out
}

fn response(about: &str, payload: Payload) -> Value {
    let json_of = |name: &str| {
        json!({"description": about, "content": {"application/json": {
            "schema": {"$ref": format!("#/components/schemas/{name}")}}}})
    };
    match payload {
        Payload::Statuses => json_of("StatusList"),
        Payload::Upload => json_of("Upload"),
        Payload::Template => json_of("StoredTemplate"),
        Payload::Templates => json!({"description": about, "content": {"application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/StoredTemplate"}}}}}),
        Payload::Status => json_of("Status"),
        Payload::Envelope => json_of("ErrorEnvelope"),
        Payload::Message => json_of("ErrorMessage"),
        Payload::Tasks => json_of("TaskKinds"),
        Payload::Document => json!({"description": about, "content": {"application/json": {
            "schema": {"type": "object"}}}}),
        Payload::Redirect => json!({"description": about, "headers": {"Location": {
            "description": "The output file's URL.", "schema": {"type": "string", "format": "uri"}}}}),
        Payload::Stream => json!({"description": about, "content": {
            "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/StreamLine"}},
            "text/event-stream": {"schema": {"type": "string"}},
        }}),
        Payload::File => json!({"description": about, "content": {
            "*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}),
        Payload::OneOf(names) => {
            let refs: Vec<Value> = names
                .iter()
                .map(|n| json!({"$ref": format!("#/components/schemas/{n}")}))
                .collect();
            json!({"description": about, "content": {"application/json": {
                "schema": {"anyOf": refs}}}})
        }
        Payload::Text => json!({"description": about, "content": {
            "text/plain": {"schema": {"type": "string"}}}}),
        Payload::Empty => json!({"description": about}),
        Payload::Html => json!({"description": about, "content": {
            "text/html": {"schema": {"type": "string"}}}}),
        Payload::Script => json!({"description": about, "content": {
            "text/javascript": {"schema": {"type": "string"}}}}),
    }
}

/// The schemas every server has (statuses, envelopes, request bodies).
fn base_schemas() -> Map<String, Value> {
    let schemas = json!({
        "Status": {
            "type": "object",
            "required": ["status", "key", "events"],
            "properties": {
                "status": {"enum": ["queued", "executing", "success", "error"]},
                "key": {"type": "string", "pattern": "^[A-Z2-7]{26}$"},
                "progress": {"type": ["integer", "null"], "minimum": 0, "maximum": 100,
                    "description": "0–100 while executing; null once final."},
                "result": {"description": "On success (and partially while executing): every \
                    output value and file URL (see `<task>.result`). On error: a message, or \
                    `{\"parameters\": {name: [message…]}}`.",
                    "oneOf": [{"type": "object"}, {"type": "string"}]},
                "events": {"type": "object", "properties": {
                    "queued": {"type": "string", "format": "date-time"},
                    "started": {"type": "string", "format": "date-time"},
                    "completed": {"type": "string", "format": "date-time"}}},
                "waiting_for": {"type": "array", "items": {"type": "string"},
                    "description": "While queued waiting for the tasks whose outputs it reads \
                    (`drake:KEY/NAME`, `drake:$N/NAME` for the N-th task of the same request): \
                    their keys. It runs once they all succeeded, and ends in error naming the \
                    one that failed otherwise."},
                "usage": {"$ref": "#/components/schemas/Usage"},
                "task_metas": {"description": "Echoed from the task definition."},
            },
        },
        "Usage": {
            "type": "object",
            "description": "What the run used, measured (final statuses only).",
            "properties": {
                "wall_ms": {"type": "integer"},
                "cpu_ms": {"type": "integer", "description": "Guest CPU plus every ffmpeg process's."},
                "peak_memory_bytes": {"type": "integer"},
                "bytes_in": {"type": "integer", "description": "Fetched from the network."},
                "bytes_out": {"type": "integer", "description": "Output files published."},
            },
        },
        "StatusList": {"type": "array", "items": {"$ref": "#/components/schemas/Status"}},
        "StreamLine": {
            "description": "The first line is the list of initial statuses, then one status \
                per change.",
            "oneOf": [{"$ref": "#/components/schemas/StatusList"},
                      {"$ref": "#/components/schemas/Status"}],
        },
        "ErrorEnvelope": {
            "type": "object",
            "required": ["status", "errors"],
            "properties": {
                "status": {"const": "error"},
                "errors": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "location", "description"],
                    "properties": {
                        "name": {"type": "string"},
                        "location": {"enum": ["body", "querystring", "header", "path"]},
                        "description": {"type": "string"},
                    }}},
            },
        },
        "ErrorMessage": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"const": "error"}, "message": {"type": "string"}},
        },
        "Auth": {
            "type": "object",
            "properties": {
                "secret": {"type": "string", "description": "Account secret (server to server)."},
                "api_key": {"type": "string", "description": "Account API key (browsers)."},
            },
        },
        "CreateRequest": {
            "allOf": [{"$ref": "#/components/schemas/Auth"}, {
                "type": "object",
                "required": ["tasks"],
                "properties": {
                    "tasks": {"oneOf": [
                        {"$ref": "#/components/schemas/TaskDefinition"},
                        {"$ref": "#/components/schemas/TemplateTask"},
                        {"type": "array", "minItems": 1, "maxItems": 100,
                         "items": {"anyOf": [{"$ref": "#/components/schemas/TaskDefinition"},
                                             {"$ref": "#/components/schemas/TemplateTask"}]}}]},
                    "block": {"type": "boolean", "description": "Answer once every task is final (capped)."},
                    "dedup": {"type": "boolean", "description": "Answer from an identical earlier task."},
                },
            }],
        },
        "CreateFileRequest": {
            "allOf": [{"$ref": "#/components/schemas/Auth"}, {
                "type": "object",
                "required": ["task"],
                "properties": {"task": {"anyOf": [
                    {"$ref": "#/components/schemas/TaskDefinition"},
                    {"$ref": "#/components/schemas/TemplateTask"}]}},
            }],
        },
        "TemplateTask": {
            "type": "object",
            "description": "A task made from one of the account's templates, rendered at create \
                time. Fields that are missing (when required) or not of their type fail the \
                task with `{\"parameters\": {FIELD: [message…]}}`.",
            "required": ["template"],
            "additionalProperties": false,
            "properties": {
                "template": {"type": "string"},
                "fields": {"type": "object"},
                "task_metas": {},
                "url_callback": {"type": "string", "format": "uri"},
                "url_errback": {"type": "string", "format": "uri"},
            },
        },
        "Template": {
            "type": "object",
            "required": ["name", "definition"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
                "description": {"type": "string"},
                "definition": {"type": "object", "required": ["task_name"],
                    "description": "A task definition whose strings may hold `${field}`."},
                "fields": {"type": "array", "maxItems": 100, "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
                        "type": {"enum": ["text", "url", "number", "colour"]},
                        "default": {},
                        "required": {"type": "boolean"},
                        "description": {"type": "string"},
                    },
                }},
            },
        },
        "StoredTemplate": {
            "allOf": [{"$ref": "#/components/schemas/Template"}, {"type": "object",
                "properties": {
                    "created": {"type": "string", "format": "date-time"},
                    "updated": {"type": "string", "format": "date-time"}}}],
        },
        "Upload": {
            "description": "An upload's status, with the reference tasks take as a URL.",
            "allOf": [
                {"$ref": "#/components/schemas/Status"},
                {"type": "object", "required": ["reference"], "properties": {
                    "reference": {"type": "string", "pattern": "^drake:[A-Z2-7]{26}/output$"}}},
            ],
        },
        "StatusRequest": {
            "type": "object",
            "required": ["tasks"],
            "properties": {
                "tasks": {"oneOf": [{"type": "string", "minLength": 1},
                                    {"type": "array", "minItems": 1,
                                     "items": {"type": "string", "minLength": 1}}]},
                "block": {"type": "boolean"},
            },
        },
        "TaskKinds": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "summary": {"type": "string"},
                    "parameters": {"type": "object", "description": "JSON Schema 2020-12."},
                    "values": {"type": "array", "items": {"type": "string"}},
                    "files": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A task's definition schema, its result schema and its hoisted `$defs`.
fn task_schemas(task: &LoadedTask) -> (Value, Value, Vec<(String, Value)>) {
    let name = &task.info.name;
    let mut schema = task.schema.clone();
    let mut hoisted = Vec::new();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (def, mut body) in defs {
                rewrite_refs(&mut body, name);
                hoisted.push((format!("{name}.{def}"), body));
            }
        }
        map.insert("title".into(), Value::from(name.clone()));
        map.insert("description".into(), Value::from(task.info.summary.clone()));
        let properties = map
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            properties.insert("task_name".into(), json!({"const": name}));
            properties.insert(
                "task_metas".into(),
                json!({"type": "object", "description": "Echoed in every status of the task."}),
            );
            for (option, about) in [
                (
                    "url_callback",
                    "POSTed the final status (signed), on success and on error.",
                ),
                (
                    "url_errback",
                    "POSTed the final status on error instead of url_callback.",
                ),
            ] {
                properties.insert(
                    option.into(),
                    json!({"type": "string", "format": "uri", "description": about}),
                );
            }
        }
        let required = map
            .entry("required")
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(required) = required {
            required.insert(0, Value::from("task_name"));
        }
    }
    rewrite_refs(&mut schema, name);

    let mut result = Map::new();
    for value in &task.info.values {
        result.insert(value.clone(), json!({}));
    }
    for file in &task.info.files {
        result.insert(
            file.clone(),
            json!({"type": "string", "format": "uri", "description": "Output file URL."}),
        );
    }
    let result = json!({
        "type": "object",
        "description": format!("The `result` of a successful {name} status."),
        "properties": result,
    });
    (schema, result, hoisted)
}

/// `#/$defs/X` → `#/components/schemas/<task>.X`, everywhere in `v`.
fn rewrite_refs(v: &mut Value, task: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = child
                    && let Some(def) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/components/schemas/{task}.{def}");
                } else {
                    rewrite_refs(child, task);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_refs(i, task)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_point_at_hoisted_defs() {
        let mut v = json!({"properties": {"crop": {"$ref": "#/$defs/Crop"},
            "list": {"items": [{"$ref": "#/$defs/Fit"}]}, "other": {"$ref": "#/x"}}});
        rewrite_refs(&mut v, "image.thumb");
        assert_eq!(
            v["properties"]["crop"]["$ref"],
            "#/components/schemas/image.thumb.Crop"
        );
        assert_eq!(
            v["properties"]["list"]["items"][0]["$ref"],
            "#/components/schemas/image.thumb.Fit"
        );
        assert_eq!(v["properties"]["other"]["$ref"], "#/x");
    }

    #[test]
    fn path_parameters_come_from_the_path() {
        let params = path_params("/v1/storage/{key}/{name}");
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["key", "name"]);
        assert!(params.iter().all(|p| p["required"] == true));
    }
}
