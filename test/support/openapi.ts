// Real answers checked against the service's OpenAPI document (GET /openapi.json) with ajv: the
// operation is found by method and path, the status must be documented, and the body must match
// the schema of its content type. Problem bodies are also checked by `expectProblem` in every
// test that asserts a refusal, against the same Problem schema the document is built from.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { PROBLEM } from '../../src/http/openapi/problem.ts';

// ajv-formats is CommonJS: its default export arrives as the module object under some loaders.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as (ajv: Ajv2020) => Ajv2020;

function newAjv(): Ajv2020 {
  // strict off: the document holds OpenAPI keywords (openapi, paths, summary) around the schemas.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

let problemValidator: ValidateFunction | undefined;

/** ajv's complaints about a problem body, '' when it matches the document's Problem schema. */
export function problemSchemaErrors(body: unknown): string {
  problemValidator ??= newAjv().compile(PROBLEM);
  return problemValidator(body) ? '' : newAjv().errorsText(problemValidator.errors);
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
}

export interface Answer {
  readonly method: string;
  /** The request path without query, e.g. /admin/issuances/abc. */
  readonly path: string;
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export class ResponseChecker {
  readonly #ajv = newAjv();
  readonly #templates: { template: string; pattern: RegExp }[];
  readonly #validators = new Map<string, ValidateFunction>();
  /** `METHOD template status` of every answer checked. */
  readonly covered = new Set<string>();

  readonly document: OpenApiDocument;

  constructor(document: OpenApiDocument) {
    this.document = document;
    this.#ajv.addSchema(document as object, 'openapi');
    // Static segments first, as the router matches them (/admin/revocations/subjects/{value}).
    this.#templates = Object.keys(document.paths)
      .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+').replaceAll('.', '\\.')}$`) }))
      .sort((a, b) => a.template.split('{').length - b.template.split('{').length);
  }

  /** The documented template a real path is served by. */
  templateOf(method: string, path: string): string | undefined {
    return this.#templates.find(({ template, pattern }) => pattern.test(path) && this.document.paths[template]![method.toLowerCase()] !== undefined)?.template;
  }

  /** Why the answer does not match the document; '' when it does. */
  errors(answer: Answer): string {
    const method = answer.method.toLowerCase();
    const template = this.templateOf(method, answer.path);
    if (template === undefined) return `${answer.method} ${answer.path} is not in the document`;
    const responses = this.document.paths[template]![method]!.responses;
    const documented = responses[String(answer.status)];
    if (documented === undefined) return `${answer.method} ${template} does not document status ${answer.status} (documented: ${Object.keys(responses).join(', ')})`;
    this.covered.add(`${answer.method.toUpperCase()} ${template} ${answer.status}`);
    if (documented.content === undefined) return answer.body === '' ? '' : `${answer.method} ${template} ${answer.status} documents no body, got ${answer.body.slice(0, 200)}`;
    if (method === 'head') return answer.body === '' ? '' : 'a HEAD answer has a body';
    const type = (answer.contentType ?? '').split(';')[0]!.trim();
    if (documented.content[type] === undefined) return `${answer.method} ${template} ${answer.status} answered ${type}, documented: ${Object.keys(documented.content).join(', ')}`;
    const ref = `openapi#/${pointer('paths', template, method, 'responses', String(answer.status), 'content', type, 'schema')}`;
    let validate = this.#validators.get(ref);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: ref });
      this.#validators.set(ref, validate);
    }
    const body: unknown = type.endsWith('json') ? JSON.parse(answer.body) : answer.body;
    return validate(body) ? '' : `${answer.method} ${template} ${answer.status}: ${this.#ajv.errorsText(validate.errors)} in ${answer.body.slice(0, 500)}`;
  }
}

/**
 * Fastify's `printRoutes({ commonPrefix: false })` tree as `METHOD /path` lines, path parameters
 * written the OpenAPI way (`{name}`): the routes really registered, to compare with the document.
 */
export function registeredRoutes(tree: string): string[] {
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    const path = `${prefixes[depth - 1] ?? ''}${match[2]}`;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== '-') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

/** One checker per service origin, from that service's own document. */
const checkers = new Map<string, Promise<ResponseChecker | undefined>>();

/**
 * Why an answer of this service does not match its own OpenAPI document ('' when it does, or
 * when the answer is not one: another server, a raw parser answer without a route, a path the
 * document does not serve). A mismatch is checked again against a freshly fetched document, in
 * case another configuration (credentials off) now listens on a port an earlier service had.
 */
export async function undocumented(
  url: string,
  method: string,
  res: { status: number; headers: Record<string, string | string[] | undefined>; body: string },
  fetchDocument: () => Promise<string | undefined>,
): Promise<string> {
  // Only this service answers with a traceparent; raw parser answers (408, 431) have none.
  if (res.headers.traceparent === undefined) return '';
  const origin = new URL(url).origin;
  const answer = { method, path: new URL(url).pathname, status: res.status, contentType: res.headers['content-type'] as string | undefined, body: res.body };
  const load = () => {
    const checker = fetchDocument().then((text) => (text === undefined ? undefined : new ResponseChecker(JSON.parse(text) as OpenApiDocument)), () => undefined);
    checkers.set(origin, checker);
    return checker;
  };
  let checker = await (checkers.get(origin) ?? load());
  if (checker === undefined || checker.templateOf(method, answer.path) === undefined) return '';
  let errors = checker.errors(answer);
  if (errors === '') return '';
  checker = await load();
  if (checker === undefined || checker.templateOf(method, answer.path) === undefined) return '';
  errors = checker.errors(answer);
  return errors;
}
