// drake dashboard: forms from /v1/tasks, live statuses from create_stream /
// status_stream, previews of outputs, the account's recent tasks.
// DOM built with createElement/textContent only: results are untrusted.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { tasks: new Map(), cards: new Map(), templates: new Map() };

// The task <select>'s value for a template.
const TEMPLATE = "template:";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const secret = $("secret").value.trim();
  if (secret) h.Authorization = "Secret " + secret;
  return h;
}

function showError(text) {
  $("error").textContent = text || "";
}

// An error envelope, a status or a plain text as one readable line.
async function describeFailure(resp) {
  const text = await resp.text();
  try {
    const body = JSON.parse(text);
    if (body.errors) return body.errors.map((e) => `${e.name}: ${e.description}`).join("\n");
    if (body.message) return body.message;
  } catch (_) { /* not JSON */ }
  return `${resp.status} ${text}`;
}

// ---- forms from JSON Schema -------------------------------------------

function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 8 && s.$ref; i++) {
    const name = s.$ref.replace(/^#\/\$defs\//, "");
    s = Object.assign({}, (root.$defs || {})[name] || {}, s, { $ref: undefined });
  }
  // Option<T>: anyOf [T, null]
  const alts = s.anyOf || s.oneOf;
  if (alts) {
    const nonNull = alts.filter((a) => a.type !== "null");
    if (nonNull.length === 1) return Object.assign({}, resolve(nonNull[0], root), { description: s.description, default: s.default });
  }
  return s;
}

function enumValues(s, root) {
  if (Array.isArray(s.enum)) return s.enum.filter((v) => v !== null);
  const alts = s.oneOf || s.anyOf;
  if (!alts) return null;
  const values = [];
  for (const a of alts.map((x) => resolve(x, root))) {
    if ("const" in a) values.push(a.const);
    else if (Array.isArray(a.enum)) values.push(...a.enum);
    else return null;
  }
  return values.filter((v) => v !== null);
}

function typeOf(s) {
  const t = Array.isArray(s.type) ? s.type.filter((x) => x !== "null")[0] : s.type;
  return t || "string";
}

function field(name, raw, required, root) {
  const s = resolve(raw, root);
  const id = "f-" + name;
  const label = el("label", { for: id }, name, required ? el("span", { class: "req", text: " *" }) : null);
  const type = typeOf(s);
  const choices = enumValues(s, root);
  // A string or an object (`captions`: a URL, or its options).
  const alts = (s.anyOf || s.oneOf || []).map((a) => resolve(a, root));
  const orObject = alts.length > 1 && alts.some((a) => typeOf(a) === "object");
  const byDefault = el("option", { value: "", text: s.default != null ? `(default: ${s.default})` : "(default)" });
  let input;
  if (choices) {
    input = el("select", { id, name, "data-kind": "enum" }, byDefault);
    for (const c of choices) input.append(el("option", { value: JSON.stringify(c), text: String(c) }));
  } else if (type === "boolean") {
    input = el("select", { id, name, "data-kind": "boolean" },
      byDefault, el("option", { value: "true", text: "true" }),
      el("option", { value: "false", text: "false" }));
  } else if (type === "integer" || type === "number") {
    input = el("input", { id, name, type: "number", step: type === "integer" ? "1" : "any", "data-kind": type });
    if (s.minimum != null) input.min = s.minimum;
    if (s.maximum != null) input.max = s.maximum;
  } else if (type === "array") {
    const items = resolve(s.items || {}, root);
    input = el("textarea", { id, name, rows: "3", "data-kind": "array", "data-items": typeOf(items),
      placeholder: "one per line" });
  } else if (type === "object") {
    input = el("textarea", { id, name, rows: "2", "data-kind": "json", placeholder: "{}" });
  } else if (orObject) {
    input = el("input", { id, name, type: "text", "data-kind": "string-or-json", placeholder: "a URL, or a JSON object" });
  } else {
    const isUrl = s.format === "uri" || /url$/.test(name);
    input = el("input", { id, name, type: isUrl ? "url" : "text", "data-kind": "string" });
  }
  if (s.default != null && input.tagName === "INPUT") input.placeholder = String(s.default);
  if (required) input.required = true;
  const hint = s.description ? el("p", { class: "hint", text: s.description }) : null;
  const takesFiles = input.type === "url" || input.dataset.kind === "string-or-json" ||
    (type === "array" && /(url|image)s$/.test(name));
  return el("div", {}, label, input, takesFiles ? picker(input) : null, hint);
}

// ---- uploads ----------------------------------------------------------

// A file picker beside a URL field (and drops onto the field): the file is
// uploaded (POST /v1/uploads) and its reference (drake:KEY/output) fills
// the field, or is added as a line of a list.
function picker(input) {
  const files = el("input", { type: "file", class: "upload", "data-for": input.id,
    "aria-label": `upload a file for ${input.name}` });
  if (input.tagName === "TEXTAREA") files.multiple = true;
  const note = el("span", { class: "hint upload-note" });
  const take = async (list) => {
    for (const file of list) {
      note.textContent = `uploading ${file.name}…`;
      try {
        const ref = await upload(file);
        if (input.tagName === "TEXTAREA") input.value = (input.value.trim() ? input.value.trim() + "\n" : "") + ref;
        else input.value = ref;
        note.textContent = `${file.name} → ${ref}`;
      } catch (e) {
        note.textContent = "";
        showError(`${input.name}: ${e.message}`);
        return;
      }
    }
  };
  files.addEventListener("change", () => { take([...files.files]); files.value = ""; });
  input.addEventListener("dragover", (e) => { e.preventDefault(); input.classList.add("drop"); });
  input.addEventListener("dragleave", () => input.classList.remove("drop"));
  input.addEventListener("drop", (e) => {
    input.classList.remove("drop");
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    take([...e.dataTransfer.files]);
  });
  return el("div", { class: "upload-row" }, files, note);
}

async function upload(file) {
  showError("");
  const h = headers();
  h["Content-Type"] = file.type || "application/octet-stream";
  const resp = await fetch("/v1/uploads?filename=" + encodeURIComponent(file.name), { method: "POST", headers: h, body: file });
  if (!resp.ok) throw new Error(await describeFailure(resp));
  const status = await resp.json();
  renderStatus(status, "upload");
  return status.reference;
}

// ---- templates --------------------------------------------------------

// A template field's type as a parameter schema, for `field`.
function fieldSchema(f) {
  const base = {
    text: { type: "string" },
    url: { type: "string", format: "uri" },
    number: { type: "number" },
    colour: { type: "string", description: "#rgb, #rrggbb or #rrggbbaa" },
  }[f.type] || { type: "string" };
  const s = Object.assign({}, base);
  if (f.default != null) s.default = f.default;
  if (f.description) s.description = f.description + (base.description ? ` (${base.description})` : "");
  return s;
}

// The account's templates (GET /v1/templates, with the secret) as a group
// of the task list: choosing one shows a form of its fields.
async function loadTemplates() {
  const group = $("templates");
  if (!$("secret").value.trim()) return;
  const resp = await fetch("/v1/templates", { headers: headers() });
  if (!resp.ok) return; // a wrong secret: the recent tasks say so
  const list = await resp.json();
  state.templates = new Map(list.map((t) => [t.name, t]));
  const chosen = $("task").value;
  group.replaceChildren(...list.map((t) => el("option", { value: TEMPLATE + t.name, text: t.name })));
  group.hidden = !list.length;
  const wanted = new URLSearchParams(location.search).get("template");
  if (wanted && state.templates.has(wanted)) $("task").value = TEMPLATE + wanted;
  else if (chosen.startsWith(TEMPLATE)) $("task").value = chosen;
  renderFields();
}

function renderTemplateFields(t, box) {
  const task = t.definition && t.definition.task_name;
  $("summary").textContent = (t.description ? t.description + " — " : "") + `a template of ${task}`;
  for (const f of t.fields || []) box.append(field(f.name, fieldSchema(f), !!f.required, {}));
  box.append(field("task_metas", { type: "object", description: "Any JSON object, echoed in every status." }, false, {}));
}

function renderFields() {
  const chosen = $("task").value;
  const box = $("fields");
  box.replaceChildren();
  if (chosen.startsWith(TEMPLATE)) {
    const t = state.templates.get(chosen.slice(TEMPLATE.length));
    if (t) renderTemplateFields(t, box);
    return;
  }
  const task = state.tasks.get(chosen);
  if (!task) return;
  $("summary").textContent = task.summary;
  const schema = task.parameters || {};
  const props = Object.assign({}, schema.properties || {});
  props.task_metas = { type: "object", description: "Any JSON object, echoed in every status." };
  const required = new Set(schema.required || []);
  // Required parameters first (the url), then the rest by name.
  const names = Object.keys(props).sort((a, b) => (required.has(b) - required.has(a)) || a.localeCompare(b));
  for (const name of names) box.append(field(name, props[name], required.has(name), schema));
}

// The definition the form describes: a task's parameters, or a template's
// fields ({template, fields}).
function collect() {
  const chosen = $("task").value;
  const values = collectValues();
  if (!chosen.startsWith(TEMPLATE)) return Object.assign({ task_name: chosen }, values);
  const { task_metas, ...fields } = values;
  const def = { template: chosen.slice(TEMPLATE.length), fields };
  if (task_metas !== undefined) def.task_metas = task_metas;
  return def;
}

// What the task the form makes will be named (previews know its files).
function chosenTask() {
  const chosen = $("task").value;
  if (!chosen.startsWith(TEMPLATE)) return chosen;
  const t = state.templates.get(chosen.slice(TEMPLATE.length));
  return t && t.definition ? t.definition.task_name : undefined;
}

function collectValues() {
  const def = {};
  for (const input of $("fields").querySelectorAll("[name]")) {
    const v = input.value.trim();
    if (v === "") continue;
    const name = input.name;
    switch (input.dataset.kind) {
      case "enum": def[name] = JSON.parse(v); break;
      case "boolean": def[name] = v === "true"; break;
      case "integer": case "number": def[name] = Number(v); break;
      case "array": {
        const lines = v.split("\n").map((x) => x.trim()).filter(Boolean);
        const num = input.dataset.items === "integer" || input.dataset.items === "number";
        def[name] = num ? lines.map(Number) : lines;
        break;
      }
      case "json":
        try { def[name] = JSON.parse(v); } catch (e) { throw new Error(`${name}: not JSON (${e.message})`); }
        break;
      case "string-or-json":
        if (!v.startsWith("{")) { def[name] = v; break; }
        try { def[name] = JSON.parse(v); } catch (e) { throw new Error(`${name}: not JSON (${e.message})`); }
        break;
      default: def[name] = v;
    }
  }
  return def;
}

// ---- statuses ---------------------------------------------------------

const IMAGE = /\.(jpe?g|png|gif|webp|avif)$/i, AUDIO = /\.(mp3|ogg|oga|wav|m4a|aac|flac)$/i, VIDEO = /\.(mp4|webm|mov|m4v|ogv)$/i;

function preview(url) {
  const path = new URL(url, location.href).pathname;
  if (window.drakePlayer && window.drakePlayer.isManifest(url)) {
    // HLS/DASH ladders play through drake's own MSE player.
    const video = el("video", { controls: "", muted: "", class: "stream" });
    video.muted = true;
    window.drakePlayer.attach(video, url);
    return video;
  }
  if (IMAGE.test(path)) return el("img", { src: url, alt: path });
  if (AUDIO.test(path)) return el("audio", { src: url, controls: "" });
  if (VIDEO.test(path)) return el("video", { src: url, controls: "", muted: "" });
  return null;
}

function card(key) {
  let c = state.cards.get(key);
  if (!c) {
    c = el("div", { class: "card", "data-key": key });
    state.cards.set(key, c);
    const box = $("statuses");
    // The placeholder goes; cards stay (a card's usage line is a p.hint too).
    const placeholder = box.querySelector(":scope > p.hint");
    if (placeholder) placeholder.remove();
    box.prepend(c);
  }
  return c;
}

function renderStatus(s, taskName) {
  const c = card(s.key);
  if (taskName) c.dataset.task = taskName;
  const task = state.tasks.get(c.dataset.task);
  // An upload is a task with one file, `output`.
  const files = new Set(task ? task.files : c.dataset.task === "upload" ? ["output"] : []);
  const top = el("div", { class: "top" },
    el("span", { class: "name", text: c.dataset.task || "task" }),
    el("span", { class: "badge " + s.status, text: s.status }),
    el("span", { class: "key", text: s.key }));
  const parts = [top];
  if (s.status === "executing" || s.status === "queued") {
    parts.push(el("progress", { max: "100", value: String(s.progress || 0) }));
    const stop = el("button", { type: "button", class: "cancel", text: "Cancel" });
    stop.addEventListener("click", () => cancel(s.key, stop));
    top.append(stop);
  }
  // A pipeline step: which tasks it waits for.
  if (Array.isArray(s.waiting_for) && s.waiting_for.length) {
    parts.push(el("p", { class: "waiting", text: "waiting for " + s.waiting_for.join(", ") }));
  }
  const result = s.result;
  if (s.status === "error") {
    parts.push(el("pre", { class: "error", text: typeof result === "string" ? result : JSON.stringify(result, null, 2) }));
  } else if (result && typeof result === "object") {
    const previews = el("div", { class: "previews" });
    const values = {};
    for (const [k, v] of Object.entries(result)) {
      if (files.has(k) && typeof v === "string") {
        previews.append(el("div", {}, el("a", { href: v, target: "_blank", rel: "noopener", text: k })));
        const p = preview(v);
        if (p) previews.append(p);
      } else values[k] = v;
    }
    if (Object.keys(values).length) parts.push(el("pre", { class: "values", text: JSON.stringify(values, null, 2) }));
    parts.push(previews);
  }
  if (s.usage) {
    const u = s.usage;
    parts.push(el("p", { class: "hint usage",
      text: `${u.wall_ms} ms wall · ${u.cpu_ms} ms CPU · ${(u.peak_memory_bytes / 1048576).toFixed(1)} MiB · ${u.bytes_in} B in · ${u.bytes_out} B out` }));
  }
  // Keep playing media elements: replace only when something changed.
  const signature = JSON.stringify([s.status, s.progress, s.result, s.usage]);
  if (c.dataset.sig !== signature) {
    c.dataset.sig = signature;
    c.replaceChildren(...parts);
  }
}

// Read NDJSON lines: the first is a list, then one status per line.
async function follow(resp, names) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (Array.isArray(msg)) msg.forEach((s, i) => renderStatus(s, names && names[i]));
      else renderStatus(msg);
    }
  }
  loadRecent();
}

async function submit(event) {
  event.preventDefault();
  showError("");
  let def;
  try { def = collect(); } catch (e) { showError(e.message); return; }
  sessionStorage.setItem("drake-secret", $("secret").value);
  $("submit").disabled = true;
  try {
    const resp = await fetch("/v1/create_stream", { method: "POST", headers: headers(), body: JSON.stringify({ tasks: [def] }) });
    if (!resp.ok) { showError(await describeFailure(resp)); return; }
    $("submit").disabled = false;
    await follow(resp, [chosenTask()]);
  } catch (e) {
    showError(String(e));
  } finally {
    $("submit").disabled = false;
  }
}

// POST /v1/cancel: the card follows the task to its final status (its
// stream, or the answer itself).
async function cancel(key, button) {
  button.disabled = true;
  const resp = await fetch("/v1/cancel", { method: "POST", headers: headers(), body: JSON.stringify({ tasks: [key], block: true }) });
  if (!resp.ok) { showError(await describeFailure(resp)); button.disabled = false; return; }
  (await resp.json()).forEach((s) => renderStatus(s));
  loadRecent();
}

async function watch(key, taskName) {
  const resp = await fetch("/v1/status_stream?tasks=" + encodeURIComponent(key), { headers: headers() });
  if (!resp.ok) { showError(await describeFailure(resp)); return; }
  await follow(resp, [taskName]);
}

async function loadRecent() {
  if (!$("secret").value.trim()) return;
  const resp = await fetch("/v1/recent?limit=30", { headers: headers() });
  if (!resp.ok) { showError(await describeFailure(resp)); return; }
  const list = await resp.json();
  $("recent").replaceChildren(...list.map((s) => {
    const when = (s.events && s.events.queued || "").replace("T", " ").slice(0, 19);
    const li = el("li", { "data-key": s.key },
      el("span", { class: "badge " + s.status, text: s.status }),
      el("span", { class: "name", text: s.task_name }),
      el("span", { class: "key", text: when }));
    li.addEventListener("click", () => {
      renderStatus(s, s.task_name);
      if (s.status === "queued" || s.status === "executing") watch(s.key, s.task_name);
    });
    return li;
  }));
}

async function init() {
  $("secret").value = sessionStorage.getItem("drake-secret") || "";
  $("secret").addEventListener("change", () => {
    sessionStorage.setItem("drake-secret", $("secret").value);
    loadRecent();
    loadTemplates();
  });
  const resp = await fetch("/v1/tasks");
  const tasks = await resp.json();
  const builtIn = el("optgroup", { label: "Tasks" });
  for (const t of tasks) {
    state.tasks.set(t.name, t);
    builtIn.append(el("option", { value: t.name, text: t.name }));
  }
  $("task").append(builtIn, el("optgroup", { id: "templates", label: "Templates", hidden: "" }));
  const wanted = new URLSearchParams(location.search).get("task");
  if (wanted && state.tasks.has(wanted)) $("task").value = wanted;
  $("task").addEventListener("change", renderFields);
  $("form").addEventListener("submit", submit);
  $("refresh").addEventListener("click", loadRecent);
  renderFields();
  loadRecent();
  await loadTemplates();
  document.body.dataset.ready = "true";
}

init().catch((e) => showError(String(e)));
