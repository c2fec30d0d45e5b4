// check.mjs — the API contract, checked three ways: docs/openapi.json is a valid OpenAPI 3.1
// document (swagger-parser, which also resolves every $ref) of the daemon's version; it lists
// exactly the routes of the daemon's route table (server/service/api.c ROUTES[]: method, path,
// and which need no token), so a route added without its description fails, named; and
// every answer the C API tests received (recorded by tests/apiclient.c with GS_API_RECORD)
// is one the document allows: its status declared for that path and method, its content
// type declared for that status, its required headers there, its JSON body (and each
// Server-Sent Event's data) valid against the schema (ajv, JSON Schema 2020-12).
// It judges the document and the answers; it never starts a daemon or sends a request.
// Usage: node tests/openapi/check.mjs [RECORD_FILE...]   (run from the repository root)
// Prints "N passed, N failed" last; exits non-zero when any check failed.
import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const DOC_FILE = 'docs/openapi.json';
const ROUTES_FILE = 'server/service/api.c';
const VERSION_FILE = 'include/gs/version.h';
// Fewer recorded answers than this means the recording did not happen (a check of nothing).
const MIN_EXCHANGES = 200;
// The answers the document's conventions (info.description) give outside its operations:
// a method a path does not list, and a path under /v1/ that no route has. 400 and 413 come
// from the HTTP layer, 403 and 401 from the Host and token checks, all before routing.
const UNDECLARED_METHOD = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 405: 'MethodNotAllowed', 413: 'PayloadTooLarge' };
const UNKNOWN_PATH = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 413: 'PayloadTooLarge' };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let passed = 0, failed = 0;
function check(name, problems) {
  if (problems.length === 0) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}`);
    for (const p of problems.slice(0, 25)) console.log(`     ${p}`);
    if (problems.length > 25) console.log(`     ... and ${problems.length - 25} more`);
  }
}

const doc = JSON.parse(readFileSync(DOC_FILE, 'utf8'));

// ---- 1. the document -------------------------------------------------------------------
{
  const problems = [];
  try {
    // validate() dereferences in place: give it a copy, keep the $refs for ajv
    await SwaggerParser.validate(structuredClone(doc));
    if (!/^3\.1\./.test(doc.openapi)) problems.push(`openapi ${doc.openapi}: this checker reads 3.1 schemas`);
    const m = /#define GS_VERSION "([^"]+)"/.exec(readFileSync(VERSION_FILE, 'utf8'));
    if (!m || m[1] !== doc.info.version)
      problems.push(`info.version ${doc.info.version}, but ${VERSION_FILE} says ${m ? m[1] : '(none)'}`);
  } catch (e) {
    problems.push(String(e.message || e).split('\n').slice(0, 20).join('\n     '));
  }
  check(`${DOC_FILE} is a valid OpenAPI ${doc.openapi} document (swagger-parser)`, problems);
}

// ---- 2. the route table ------------------------------------------------------------------
// The table's patterns name parameters by kind; the document by what they are.
const PARAM_NAMES = { '{run}': '{id}', '{cluster}': '{c}', '{checkpoint}': '{cid}' };
{
  const problems = [];
  const src = readFileSync(ROUTES_FILE, 'utf8');
  const table = src.slice(src.indexOf('static const Route ROUTES[]'), src.indexOf('#define N_ROUTES'));
  const routes = [...table.matchAll(/\{\s*"([A-Z]+)",\s*"([^"]+)",\s*\w+,\s*ACCESS_(\w+)\s*\}/g)]
    .map(([, method, pattern, access]) => ({ method: method.toLowerCase(), pattern, access }));
  if (routes.length < 10) problems.push(`only ${routes.length} routes read from ${ROUTES_FILE}`);
  const inTable = new Set();
  for (const r of routes) {
    // the fallback "/*" is the page: "/" and any other path outside /v1/ ("/{file}")
    const paths = r.pattern === '/*' ? ['/', '/{file}']
      : [r.pattern.split('/').map((s) => PARAM_NAMES[s] || s).join('/')];
    for (const p of paths) {
      inTable.add(`${r.method} ${p}`);
      const opn = doc.paths[p] && doc.paths[p][r.method];
      if (!opn) {
        problems.push(`route ${r.method.toUpperCase()} ${r.pattern} is not in the document (${p})`);
        continue;
      }
      const open = Array.isArray(opn.security) && opn.security.length === 0;
      if (open !== (r.access === 'PUBLIC'))
        problems.push(`${r.method.toUpperCase()} ${p}: the table says ACCESS_${r.access}, the document ${open ? 'security: [] (no token ever)' : 'the token where needed'}`);
    }
  }
  for (const [p, item] of Object.entries(doc.paths))
    for (const m of METHODS)
      if (item[m] && !inTable.has(`${m} ${p}`))
        problems.push(`the document has ${m.toUpperCase()} ${p}, the route table does not`);
  check(`the document lists the ${routes.length} routes of ${ROUTES_FILE}, no more, same access`, problems);
}

// ---- 3. the recorded answers ------------------------------------------------------------
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
ajv.addSchema({ $id: 'doc', components: doc.components, paths: doc.paths });

const ptr = (...tokens) => 'doc#/' + tokens.map((t) => String(t).replace(/~/g, '~0').replace(/\//g, '~1'))
  .map(encodeURIComponent).join('/');
const validators = new Map();
function validator(pointer) {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.getSchema(pointer);
    if (!v) throw new Error(`no schema at ${pointer}`);
    validators.set(pointer, v);
  }
  return v;
}
function schemaErrors(pointer, value) {
  const v = validator(pointer);
  if (v(value)) return null;
  return v.errors.slice(0, 3).map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.unevaluatedProperty ? ` (${e.params.unevaluatedProperty})` : ''}`).join('; ');
}

// Paths: "/a/{x}/b" against a decoded request path. A parameter takes one segment; one with
// x-rest takes the rest (and must match its schema's pattern). Concrete beats templated.
const templates = Object.keys(doc.paths).map((p) => {
  const segs = p.split('/').slice(1);
  const params = [...(doc.paths[p].parameters || [])];
  const rest = params.find((q) => q['x-rest']);
  return { path: p, segs, rest, literals: segs.filter((s) => !s.startsWith('{')).length };
});
function matchPath(path) {
  const segs = path.split('/').slice(1);
  let best = null;
  for (const t of templates) {
    let ok = true;
    for (let i = 0; ok && i < t.segs.length; i++) {
      const s = t.segs[i];
      if (t.rest && s === `{${t.rest.name}}` && i === t.segs.length - 1) {
        const value = segs.slice(i).join('/');
        ok = segs.length > i && (!t.rest.schema.pattern || new RegExp(t.rest.schema.pattern).test(value));
        if (ok) i = segs.length; // consumed
        break;
      }
      if (i >= segs.length) ok = false;
      else if (s.startsWith('{')) ok = segs[i].length > 0;
      else ok = s === segs[i];
    }
    if (ok && !(t.rest && segs.length >= t.segs.length) && segs.length !== t.segs.length) ok = false;
    if (ok && (!best || t.literals > best.literals)) best = t;
  }
  return best;
}

function decodePath(raw) {
  const p = raw.split('?')[0];
  // as the daemon reads it: percent-escapes decoded (bytes shown as Latin-1)
  return p.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

function parseHeaders(raw) {
  // the last response's header block (curl records every block, e.g. after a redirect)
  const blocks = raw.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const last = blocks.length ? blocks[blocks.length - 1] : '';
  const h = new Map();
  for (const line of last.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) h.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return h;
}

const normType = (t) => t.toLowerCase().replace(/\s+/g, '');
const essence = (t) => normType(t).split(';')[0];

function resolveResponse(resp) {
  if (resp && resp.$ref) {
    const name = resp.$ref.split('/').pop();
    return { resp: doc.components.responses[name], base: ['components', 'responses', name] };
  }
  return { resp, base: null };
}

// Server-Sent Events: each complete event's data against x-events[event name].
function checkEvents(text, complete, mediaBase, media) {
  const events = media['x-events'] || {};
  const blocks = text.split('\n\n');
  if (!complete || !text.endsWith('\n\n')) blocks.pop(); // the last one may be cut
  let n = 0;
  for (const block of blocks) {
    if (!block) continue;
    let name = 'message', data = null;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i), value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') name = value;
      else if (field === 'data') data = data === null ? value : data + '\n' + value;
      else if (field !== 'id' && field !== 'retry') return `an event line "${line.slice(0, 60)}" is not SSE`;
    }
    if (data === null) continue;
    if (!events[name]) return `event "${name}" is not declared in x-events`;
    let value;
    try { value = JSON.parse(data); } catch { return `event ${name}: data is not JSON: ${data.slice(0, 80)}`; }
    const err = schemaErrors(ptr(...mediaBase, 'x-events', name), value);
    if (err) return `event ${name}: ${err}`;
    n++;
  }
  stats.events += n;
  return null;
}

const stats = { exchanges: 0, bodies: 0, events: 0, seen: new Set() };

// What is wrong with one recorded exchange, or null.
function judge(x) {
  const method = x.method.toLowerCase();
  const path = decodePath(x.path);
  const headers = parseHeaders(x.headers);
  const body = Buffer.from(x.body, 'base64');
  const t = matchPath(path);
  const item = t && doc.paths[t.path];
  const opMethod = method === 'head' ? 'get' : method;
  const op = item && item[opMethod];
  let resp, base;
  if (op) {
    ({ resp, base } = resolveResponse(op.responses[String(x.status)]));
    if (!resp) return `${x.status} is not declared for ${opMethod.toUpperCase()} ${t.path}`;
    if (!base) base = ['paths', t.path, opMethod, 'responses', String(x.status)];
    stats.seen.add(`${opMethod.toUpperCase()} ${t.path} ${x.status}`);
  } else {
    const table = item ? UNDECLARED_METHOD : UNKNOWN_PATH;
    const name = table[x.status];
    if (!name) return `${x.status} for ${item ? `${method.toUpperCase()}, a method ${t.path} does not list` : 'a path the document does not have'} (allowed there: ${Object.keys(table).join(', ')})`;
    resp = doc.components.responses[name];
    base = ['components', 'responses', name];
    stats.seen.add(item ? `(method not listed) ${x.status}` : `(no such path) ${x.status}`);
  }
  // headers the response requires
  for (const [h, spec] of Object.entries(resp.headers || {})) {
    const v = headers.get(h.toLowerCase());
    if (v === undefined) {
      if (spec.required) return `header ${h} is missing`;
      continue;
    }
    if (spec.schema) {
      const err = schemaErrors(ptr(...base, 'headers', h, 'schema'), v);
      if (err) return `header ${h}: "${v}": ${err}`;
    }
  }
  // the body and its type
  if (!resp.content) {
    if (x.length !== 0) return `${x.status} has no body in the document, but ${x.length} bytes came`;
    return null;
  }
  const ct = headers.get('content-type');
  if (!ct) return 'no Content-Type';
  const key = Object.keys(resp.content).find((k) => normType(k) === normType(ct))
    || Object.keys(resp.content).find((k) => !k.includes(';') && essence(k) === essence(ct));
  if (!key) return `Content-Type "${ct}" is not declared (${Object.keys(resp.content).join(' | ')})`;
  if (method === 'head') return x.length === 0 ? null : 'a HEAD answer with a body';
  const media = resp.content[key];
  const mediaBase = [...base, 'content', key];
  if (essence(key) === 'application/json' && media.schema) {
    if (!x.complete) return null; // cut short: its type was checked, its body cannot be
    let value;
    try { value = JSON.parse(body.toString('utf8')); } catch { return `the body is not JSON: ${body.toString('utf8').slice(0, 100)}`; }
    const err = schemaErrors(ptr(...mediaBase, 'schema'), value);
    if (err) return `body: ${err}`;
    stats.bodies++;
  } else if (essence(key) === 'text/event-stream') {
    return checkEvents(body.toString('utf8'), x.complete, mediaBase, media);
  }
  return null;
}

const files = process.argv.slice(2);
if (files.length) {
  const problems = [];
  for (const f of files) {
    let text = '';
    try { text = readFileSync(f, 'latin1'); } catch (e) { problems.push(`${f}: ${e.message}`); }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let x;
      try { x = JSON.parse(line); } catch { problems.push(`${f}: a line is not JSON: ${line.slice(0, 80)}`); continue; }
      stats.exchanges++;
      let why;
      try { why = judge(x); } catch (e) { why = `checker error: ${e.message}`; }
      if (why) problems.push(`${x.method} ${x.path} -> ${x.status}: ${why}`);
    }
  }
  if (stats.exchanges < MIN_EXCHANGES)
    problems.push(`only ${stats.exchanges} exchanges recorded (at least ${MIN_EXCHANGES} expected: was GS_API_RECORD set for the C suite?)`);
  check(`${stats.exchanges} recorded answers match the document (${stats.bodies} JSON bodies and ${stats.events} events validated, ${stats.seen.size} distinct operation/status pairs)`, problems);
  // what the tests never received, for whoever extends them (not a failure)
  const never = [];
  for (const [p, item] of Object.entries(doc.paths))
    for (const m of METHODS)
      if (item[m] && ![...stats.seen].some((s) => s.startsWith(`${m.toUpperCase()} ${p} 2`)))
        never.push(`${m.toUpperCase()} ${p}`);
  if (never.length) console.log(`     (no 2xx answer recorded for: ${never.join(', ')})`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
