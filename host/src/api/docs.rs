//! What each operation of [`super::routes`] does, for `/openapi.json`
//! (api.md §5 in short).

use axum::http::Method;

use super::openapi::{Auth, Body, Operation, Payload, Query};

const BAD_REQUEST: (u16, &str, Payload) = (
    400,
    "Invalid request: every problem at once.",
    Payload::Envelope,
);
const UNAUTHORIZED: (u16, &str, Payload) = (
    401,
    "Missing or invalid credentials, referrer not whitelisted, or account limits reached.",
    Payload::Envelope,
);
const TOO_LARGE: (u16, &str, Payload) = (413, "Body over the size limit.", Payload::Text);
const BUSY: (u16, &str, Payload) = (
    503,
    "Too many requests are waiting for tasks (`max_waiters`, in all or from this address): \
     retry after `Retry-After`.",
    Payload::Envelope,
);
const UNKNOWN_KEY: (u16, &str, Payload) = (
    404,
    "An unknown or expired task key (each is named).",
    Payload::Envelope,
);

const STATUS_QUERY: &[Query] = &[
    Query {
        name: "tasks",
        required: true,
        about: "Task keys.",
        ty: "string",
        repeated: true,
    },
    Query {
        name: "block",
        required: false,
        about: "Answer once every task is final (capped).",
        ty: "boolean",
        repeated: false,
    },
];

const CREATE_FILE_QUERY: &[Query] = &[
    Query {
        name: "task_name",
        required: true,
        about: "The task to create.",
        ty: "string",
        repeated: false,
    },
    Query {
        name: "*",
        required: false,
        about: "The task's parameters, values coerced to their declared types (lists from \
                repeated keys or a JSON array); auth parameters (`secret`, `api_key`, \
                `expires`, `signature`) are removed.",
        ty: "object",
        repeated: false,
    },
];

const CREATE_FILE_RESPONSES: &[(u16, &str, Payload)] = &[
    (
        302,
        "The output file, as soon as it exists (even while the task still runs).",
        Payload::Redirect,
    ),
    (
        400,
        "The task failed (its error status), or the request is invalid (the envelope).",
        Payload::OneOf(&["Status", "ErrorEnvelope"]),
    ),
    UNAUTHORIZED,
    (
        404,
        "Not a file name of this task (the valid ones are listed).",
        Payload::Message,
    ),
    (
        503,
        "Still running at the wait's cap (its status), or too many requests are waiting \
         (the envelope): retry after `Retry-After`.",
        Payload::OneOf(&["Status", "ErrorEnvelope"]),
    ),
];

const CREATE_FILE_ABOUT: &str = "Creates one task (or reuses an identical earlier one that \
    succeeded), waits, then redirects to the output file `{filename}`: usable as an \
    `<img src>`.";

pub const CREATE: Operation = Operation {
    method: Method::POST,
    id: "create",
    summary: "Create tasks",
    about: "Creates every task of `tasks` and answers their statuses in request order (a list \
            even for one). Parameter problems of a known task do not fail the request: that \
            task ends at once in an error status naming the parameter.",
    auth: Auth::Account,
    body: Some(Body::Create),
    query: &[],
    responses: &[
        (200, "The statuses, in request order.", Payload::Statuses),
        BAD_REQUEST,
        UNAUTHORIZED,
        TOO_LARGE,
        BUSY,
    ],
};

pub const CREATE_FILE_GET: Operation = Operation {
    method: Method::GET,
    id: "createFileGet",
    summary: "Create a task from the query and redirect to its only output file",
    about: CREATE_FILE_ABOUT,
    auth: Auth::AccountOrSigned,
    body: None,
    query: CREATE_FILE_QUERY,
    responses: CREATE_FILE_RESPONSES,
};

pub const CREATE_FILE_POST: Operation = Operation {
    method: Method::POST,
    id: "createFilePost",
    summary: "Create a task and redirect to its only output file",
    about: CREATE_FILE_ABOUT,
    auth: Auth::Account,
    body: Some(Body::CreateFile),
    query: &[],
    responses: CREATE_FILE_RESPONSES,
};

pub const CREATE_FILE_GET_NAMED: Operation = Operation {
    method: Method::GET,
    id: "createFileGetNamed",
    summary: "Create a task from the query and redirect to an output file",
    about: CREATE_FILE_ABOUT,
    auth: Auth::AccountOrSigned,
    body: None,
    query: CREATE_FILE_QUERY,
    responses: CREATE_FILE_RESPONSES,
};

pub const CREATE_FILE_POST_NAMED: Operation = Operation {
    method: Method::POST,
    id: "createFilePostNamed",
    summary: "Create a task and redirect to an output file",
    about: CREATE_FILE_ABOUT,
    auth: Auth::Account,
    body: Some(Body::CreateFile),
    query: &[],
    responses: CREATE_FILE_RESPONSES,
};

pub const CREATE_STREAM: Operation = Operation {
    method: Method::POST,
    id: "createStream",
    summary: "Create tasks and stream their statuses",
    about: "NDJSON: the first line is the list of initial statuses, then one status per \
            change; ends after the last final status. Keep-alive: the current status of an \
            unfinished task every 15 s of silence. `Accept: text/event-stream` sends the same \
            lines as SSE events.",
    auth: Auth::Account,
    body: Some(Body::Create),
    query: &[],
    responses: &[
        (200, "Status lines.", Payload::Stream),
        BAD_REQUEST,
        UNAUTHORIZED,
        TOO_LARGE,
        BUSY,
    ],
};

const STATUS_RESPONSES: &[(u16, &str, Payload)] = &[
    (200, "The statuses, in request order.", Payload::Statuses),
    BAD_REQUEST,
    UNKNOWN_KEY,
    BUSY,
];

pub const STATUS_GET: Operation = Operation {
    method: Method::GET,
    id: "statusGet",
    summary: "Statuses of tasks",
    about: "The task key is the capability: no auth.",
    auth: Auth::None,
    body: None,
    query: STATUS_QUERY,
    responses: STATUS_RESPONSES,
};

pub const STATUS_POST: Operation = Operation {
    method: Method::POST,
    id: "statusPost",
    summary: "Statuses of tasks",
    about: "The task key is the capability: no auth.",
    auth: Auth::None,
    body: Some(Body::Status),
    query: &[],
    responses: STATUS_RESPONSES,
};

const STREAM_RESPONSES: &[(u16, &str, Payload)] = &[
    (
        200,
        "Status lines (closes at once if every task is final).",
        Payload::Stream,
    ),
    BAD_REQUEST,
    UNKNOWN_KEY,
    BUSY,
];

const STREAM_ABOUT: &str = "The current statuses, then one line per change, as for \
    create_stream.";

pub const STATUS_STREAM_GET: Operation = Operation {
    method: Method::GET,
    id: "statusStreamGet",
    summary: "Stream the statuses of tasks",
    about: STREAM_ABOUT,
    auth: Auth::None,
    body: None,
    query: STATUS_QUERY,
    responses: STREAM_RESPONSES,
};

pub const STATUS_STREAM_POST: Operation = Operation {
    method: Method::POST,
    id: "statusStreamPost",
    summary: "Stream the statuses of tasks",
    about: STREAM_ABOUT,
    auth: Auth::None,
    body: Some(Body::Status),
    query: &[],
    responses: STREAM_RESPONSES,
};

pub const STREAM_GET: Operation = Operation {
    id: "streamGet",
    summary: "Stream the statuses of tasks (alias of status_stream)",
    ..STATUS_STREAM_GET
};

pub const STREAM_POST: Operation = Operation {
    id: "streamPost",
    summary: "Stream the statuses of tasks (alias of status_stream)",
    ..STATUS_STREAM_POST
};

pub const FILE: Operation = Operation {
    method: Method::GET,
    id: "file",
    summary: "Redirect to an output file of a task",
    about: "Waits for the task, then answers as create_file.",
    auth: Auth::None,
    body: None,
    query: &[Query {
        name: "task",
        required: true,
        about: "Task key.",
        ty: "string",
        repeated: false,
    }],
    responses: &[
        (302, "The output file.", Payload::Redirect),
        (
            400,
            "The task failed (its error status), or the request is invalid (the envelope).",
            Payload::OneOf(&["Status", "ErrorEnvelope"]),
        ),
        (
            404,
            "Unknown task (the envelope), or not a file name of this task.",
            Payload::OneOf(&["ErrorEnvelope", "ErrorMessage"]),
        ),
        (
            503,
            "Still running at the wait's cap (its status), or too many requests are waiting \
             (the envelope): retry after `Retry-After`.",
            Payload::OneOf(&["Status", "ErrorEnvelope"]),
        ),
    ],
};

pub const STORAGE: Operation = Operation {
    method: Method::GET,
    id: "storage",
    summary: "An output file",
    about: "With its content type, length, ETag (If-None-Match → 304), single byte ranges \
            (206/416) and `Cache-Control: public, max-age=<time left>, immutable`.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[
        (200, "The file.", Payload::File),
        (206, "A byte range of the file.", Payload::File),
        (304, "Not modified (If-None-Match).", Payload::Empty),
        (404, "Unknown or expired.", Payload::Envelope),
        (
            416,
            "Range not satisfiable (Content-Range: bytes */size).",
            Payload::Empty,
        ),
    ],
};

pub const TASKS: Operation = Operation {
    method: Method::GET,
    id: "tasks",
    summary: "The tasks this server runs",
    about: "Names, summaries, parameter schemas (JSON Schema 2020-12) and outputs, from the \
            components themselves.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "Every task.", Payload::Tasks)],
};

pub const HEALTHZ: Operation = Operation {
    method: Method::GET,
    id: "healthz",
    summary: "Liveness",
    about: "The process is up.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "`ok`", Payload::Text)],
};

pub const READYZ: Operation = Operation {
    method: Method::GET,
    id: "readyz",
    summary: "Readiness",
    about: "The store answers.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[
        (200, "`ready`", Payload::Text),
        (503, "The store does not answer.", Payload::Text),
    ],
};

pub const METRICS: Operation = Operation {
    method: Method::GET,
    id: "metrics",
    summary: "Prometheus metrics",
    about: "Tasks by name and state, queue depth, run counts and durations, instance-pool \
            use, fetched bytes, ffmpeg seconds. With `metrics_token` configured, only for \
            `Authorization: Bearer <token>`.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[
        (200, "Text exposition format 0.0.4.", Payload::Text),
        (
            401,
            "`metrics_token` is configured and not given.",
            Payload::Text,
        ),
    ],
};

pub const OPENAPI: Operation = Operation {
    method: Method::GET,
    id: "openapi",
    summary: "This document",
    about: "OpenAPI 3.1, generated from the routes and the components' schemas.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "The document.", Payload::Document)],
};

pub const RECENT: Operation = Operation {
    method: Method::GET,
    id: "recent",
    summary: "The account's recent tasks",
    about: "The caller's newest unexpired tasks, newest first, each status with its \
            `task_name`. Needs the account's secret: an `api_key` only creates tasks.",
    auth: Auth::Account,
    body: None,
    query: &[Query {
        name: "limit",
        required: false,
        about: "How many (1–200, default 50).",
        ty: "integer",
        repeated: false,
    }],
    responses: &[
        (200, "Statuses with their task names.", Payload::Statuses),
        BAD_REQUEST,
        UNAUTHORIZED,
    ],
};

pub const UPLOAD: Operation = Operation {
    method: Method::POST,
    id: "upload",
    summary: "Upload a file to use as a task input",
    about: "An extension of dragon's API. The body is the file (its `Content-Type` kept when \
            it is a media type) or a `multipart/form-data` form whose first file field is \
            taken. The file becomes the output `output` of a finished task named `upload`, kept \
            for the account's retention: `reference` (`drake:KEY/output`) may be given \
            wherever a task takes a URL (`url`, `images`, SXML `filename`), and `result.output` \
            links to it. Credentials in a header or the query: the secret, or an `api_key` with \
            a whitelisted Referer (a browser page; such uploads are the only tasks an \
            `api_key` request may refer to). At most `max_upload_bytes` (1 GiB unless the \
            account sets its own); the bytes count as the upload's `usage.bytes_in`.",
    auth: Auth::Account,
    body: Some(Body::Upload),
    query: &[Query {
        name: "filename",
        required: false,
        about: "The file's name (a form's file name otherwise): its extension names the stored \
                file and, with no `Content-Type`, its type.",
        ty: "string",
        repeated: false,
    }],
    responses: &[
        (
            200,
            "The upload's status (`success`), with its `reference`.",
            Payload::Upload,
        ),
        BAD_REQUEST,
        UNAUTHORIZED,
        (
            413,
            "The file is larger than the account's `max_upload_bytes` (named).",
            Payload::Envelope,
        ),
    ],
};

const TEMPLATE_NAME_MISSING: (u16, &str, Payload) = (
    404,
    "The account has no template of that name.",
    Payload::Envelope,
);

pub const TEMPLATE_PUT: Operation = Operation {
    method: Method::POST,
    id: "putTemplate",
    summary: "Store a template",
    about: "An extension of dragon's API. Stores (or replaces: 200 instead of 201) a named task \
            definition with `${field}` placeholders and its fields' schema. A placeholder that \
            is a whole JSON string takes its field's type; inside an XML document (SXML) a \
            value is escaped for XML, in CDATA too; `$${` is a literal `${`, and SXML's own \
            `{{…}}` is left alone. Every placeholder must name a field. A task made from a \
            template (`{\"template\": NAME, \"fields\": {…}}` wherever a task definition \
            goes, or `template=NAME&FIELD=…` in a `create_file` query) renders it as it is at \
            create time. Needs the account's secret; at most 1000 templates per account.",
    auth: Auth::Account,
    body: Some(Body::Template),
    query: &[],
    responses: &[
        (201, "The stored template.", Payload::Template),
        BAD_REQUEST,
        UNAUTHORIZED,
        TOO_LARGE,
    ],
};

pub const TEMPLATES_LIST: Operation = Operation {
    method: Method::GET,
    id: "listTemplates",
    summary: "The account's templates",
    about: "Every template of the account, by name. Needs the account's secret.",
    auth: Auth::Account,
    body: None,
    query: &[],
    responses: &[(200, "The templates.", Payload::Templates), UNAUTHORIZED],
};

pub const TEMPLATE_GET: Operation = Operation {
    method: Method::GET,
    id: "getTemplate",
    summary: "One template",
    about: "A template of the account, as stored. Needs the account's secret.",
    auth: Auth::Account,
    body: None,
    query: &[],
    responses: &[
        (200, "The template.", Payload::Template),
        UNAUTHORIZED,
        TEMPLATE_NAME_MISSING,
    ],
};

pub const TEMPLATE_DELETE: Operation = Operation {
    method: Method::DELETE,
    id: "deleteTemplate",
    summary: "Delete a template",
    about: "Tasks already made from it keep what it rendered. Needs the account's secret.",
    auth: Auth::Account,
    body: None,
    query: &[],
    responses: &[
        (200, "`{\"deleted\": NAME}`.", Payload::Document),
        UNAUTHORIZED,
        TEMPLATE_NAME_MISSING,
    ],
};

pub const CANCEL: Operation = Operation {
    method: Method::POST,
    id: "cancel",
    summary: "Cancel tasks",
    about: "An extension of dragon's API. Queued tasks end at once; running ones end \
            promptly on whichever node runs them (the instance and any ffmpeg killed); each \
            ends in `error` with a `cancelled` message and the usage so far. Final tasks are \
            left as they are. Needs the account's secret; another account's key is unknown \
            (404), and then nothing is cancelled. With `block`, answers once every task is \
            final.",
    auth: Auth::Account,
    body: Some(Body::Status),
    query: &[],
    responses: &[
        (
            200,
            "The statuses after the request, in request order.",
            Payload::Statuses,
        ),
        BAD_REQUEST,
        UNAUTHORIZED,
        UNKNOWN_KEY,
        TOO_LARGE,
        BUSY,
    ],
};

pub const DASHBOARD: Operation = Operation {
    method: Method::GET,
    id: "dashboard",
    summary: "The dashboard",
    about: "A page to submit tasks (forms from the parameter schemas), follow their statuses \
            live, preview their outputs and list the account's recent tasks.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "The page.", Payload::Html)],
};

pub const DASHBOARD_SCRIPT: Operation = Operation {
    method: Method::GET,
    id: "dashboardScript",
    summary: "The dashboard's script",
    about: "Served from this origin so the page's Content-Security-Policy allows only it.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "The script.", Payload::Script)],
};

pub const PLAYER_SCRIPT: Operation = Operation {
    method: Method::GET,
    id: "playerScript",
    summary: "The dashboard's HLS/DASH player",
    about: "Plays the ladders video.convert writes through Media Source Extensions; served from \
            this origin so the page's Content-Security-Policy allows it.",
    auth: Auth::None,
    body: None,
    query: &[],
    responses: &[(200, "The script.", Payload::Script)],
};
