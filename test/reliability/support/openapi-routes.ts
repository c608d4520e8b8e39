import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';

/**
 * docs/openapi.json (the committed, full HTTP contract) read at test time: every operation with its
 * path and query parameters and its request body schema, so a route added to the contract is covered
 * by the reliability suite without touching it.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export const WRITE_METHODS: readonly HttpMethod[] = ['post', 'put', 'patch', 'delete'];

/** The subset of JSON Schema that the generated contract uses (no $ref: every schema is inline). */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  multipleOf?: number;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
  default?: unknown;
  example?: unknown;
}

export interface Operation {
  method: HttpMethod;
  /** The contract's path, e.g. `/v1/projects/{id}/members/{userId}`. */
  path: string;
  pathParams: string[];
  queryParams: { name: string; schema: JsonSchema }[];
  body: JsonSchema | null;
  /** `METHOD /path`, the key results are reported by. */
  key: string;
}

interface RawOperation {
  parameters?: { in: string; name: string; schema?: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

export function loadOperations(file = 'docs/openapi.json'): Operation[] {
  const document = JSON.parse(readFileSync(file, 'utf8')) as {
    paths: Record<string, Partial<Record<HttpMethod, RawOperation>>>;
  };
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const raw = methods[method];
      if (!raw) continue;
      const parameters = raw.parameters ?? [];
      operations.push({
        method,
        path,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: parameters
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: raw.requestBody?.content?.['application/json']?.schema ?? null,
        key: `${method.toUpperCase()} ${path}`,
      });
    }
  }
  return operations;
}

/** Lone surrogates become U+FFFD: a URL cannot carry them (encodeURIComponent throws). */
export function wellFormed(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** Fills `{name}` placeholders (URL-encoded). */
export function fillPath(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_match, name: string) =>
    encodeURIComponent(wellFormed(values[name] ?? '')),
  );
}

/** The API.md error body: `{ error: { code: SNAKE_CASE, message, details? } }`. */
export function errorShapeProblem(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return `not an object: ${JSON.stringify(body)}`;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return 'no `error` object';
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/.test(code))
    return `error.code is not SNAKE_CASE: ${JSON.stringify(code)}`;
  if (typeof message !== 'string' || message.length === 0) return 'error.message is not a non-empty string';
  const extra = Object.keys(error).filter((key) => !['code', 'message', 'details', 'errorId'].includes(key));
  if (extra.length > 0) return `unexpected error fields ${extra.join(', ')}`;
  return null;
}

/** Values a field of a given name should take to be valid against the seeded data. */
export type FieldHints = Record<string, () => unknown>;

/** Optional fields worth filling: without them a route acts platform-wide or on no project. */
const OPTIONAL_FILLED = ['projectId', 'clusterIds', 'password'];

/**
 * A value valid against `schema` as far as the schema says (the rules the domain adds, such as a
 * window inside the program's, come from `hints` by field name).
 */
export function exemplar(schema: JsonSchema, hints: FieldHints = {}, field = ''): unknown {
  if (field && hints[field]) return hints[field]();
  if (schema.oneOf?.length) return exemplar(schema.oneOf[0], hints, field);
  if (schema.anyOf?.length) return exemplar(schema.anyOf[0], hints, field);
  if (schema.enum?.length) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const wanted = Object.keys(schema.properties ?? {}).filter(
        (name) => schema.required?.includes(name) || (OPTIONAL_FILLED.includes(name) && hints[name]),
      );
      for (const name of wanted) out[name] = exemplar(schema.properties![name], hints, name);
      return out;
    }
    case 'array': {
      const count = Math.max(schema.minItems ?? 0, 1);
      return Array.from({ length: Math.min(count, schema.maxItems ?? count) }, () =>
        exemplar(schema.items ?? {}, hints, field),
      );
    }
    case 'integer':
    case 'number': {
      const low = schema.minimum ?? 1;
      const start = schema.exclusiveMinimum === true ? low + 1 : low;
      return Math.max(1, start);
    }
    case 'boolean':
      return false;
    case 'string':
      return exemplarString(schema, field);
    case undefined:
    default:
      return {};
  }
}

function exemplarString(schema: JsonSchema, field: string): string {
  switch (schema.format) {
    case 'uuid':
      return randomUUID();
    case 'date-time':
      return new Date().toISOString();
    case 'email':
      return `fuzz-${randomBytes(4).toString('hex')}@test.gpupool.kr`;
    case 'uri':
      return 'https://hooks.example.com/gpupool';
    case undefined:
    default:
      break;
  }
  const base = /code|name/i.test(field) ? `x${randomBytes(4).toString('hex')}` : 'fuzz text';
  const min = schema.minLength ?? 1;
  const padded = base.length >= min ? base : base.padEnd(min, 'x');
  return schema.maxLength !== undefined ? padded.slice(0, schema.maxLength) : padded;
}

// ---------------------------------------------------------------------------------------------
// Generated bodies: arbitrary JSON, and schema-shaped objects with fields mutated.

const HOSTILE_STRINGS = [
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ud83d',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍💻 한국어 العربية',
  '\u202e\u200b\ufeff',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '../../etc/passwd',
  '%00',
  '1e308',
  '-0',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '9'.repeat(400),
  '2026-02-30T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '275760-09-13T00:00:00.000Z',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'null',
  '{}',
  '=cmd|" /C calc"!A0',
  '<script>alert(1)</script>',
];

const hostileNumbers = fc.constantFrom<unknown>(
  1e308,
  -1e308,
  -0,
  0,
  -1,
  0.5,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  -Number.MAX_SAFE_INTEGER,
  2 ** 31,
  2 ** 63,
  1e21,
  5e-324,
  'NaN',
  'Infinity',
  '1e308',
  '-0',
  '12',
);

/** A string that is long, or carries NUL, lone surrogates or unusual unicode. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udc00', 'a', '가', '🙂') }),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 257, max: 70_000 }).map((length) => 'A'.repeat(length)),
  },
);

function deep(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/** Anything a field could be sent as instead of what the schema says. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileNumbers },
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [null], { $ne: null }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 300 }).map(deep) },
  // Rarely (1 in 25 of these), a huge array (10k items): the body limit and per-item validation hold.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat({ max: 24 }), fc.constantFrom<unknown>(1, 'x', { gpuModel: 'H200' }, null))
      .map(([dice, item]) => Array.from({ length: dice === 0 ? 10_000 : dice }, () => item)),
  },
);

type Mutation =
  | { kind: 'replace'; field: number; value: unknown }
  | { kind: 'drop'; field: number }
  | { kind: 'extra'; name: string; value: unknown }
  | { kind: 'nested'; field: number; value: unknown };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('replace' as const), field: fc.nat(), value: wrongValue }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), field: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('extra' as const),
      name: fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'id', 'status', 'role', 'admin'),
        fc.string(),
      ),
      value: fc.jsonValue({ maxDepth: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('nested' as const), field: fc.nat(), value: wrongValue }),
  },
);

/** Paths to the values of a JSON value (the first levels and items only), as key lists. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const here = prefix.length > 0 ? [prefix] : [];
  if (prefix.length >= 6) return here;
  if (Array.isArray(value))
    return [...here, ...value.slice(0, 8).flatMap((item, i) => pathsOf(item, [...prefix, i]))];
  if (typeof value === 'object' && value !== null)
    return [...here, ...Object.entries(value).flatMap(([key, item]) => pathsOf(item, [...prefix, key]))];
  return here;
}

function applyMutation(body: unknown, mutation: Mutation): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const copy = structuredClone(body) as Record<string, unknown>;
  if (mutation.kind === 'extra') {
    Object.defineProperty(copy, mutation.name, { value: mutation.value, enumerable: true, writable: true });
    return copy;
  }
  const paths = mutation.kind === 'nested' ? pathsOf(copy) : Object.keys(copy).map((key) => [key]);
  if (paths.length === 0)
    return mutation.kind === 'drop' ? copy : { value: 'value' in mutation ? mutation.value : null };
  const path = paths[mutation.field % paths.length];
  let parent: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (mutation.kind === 'drop') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else parent[last] = mutation.value;
  return copy;
}

/**
 * Bodies for one operation: mostly its schema's exemplar with 0–3 fields mutated (0 mutations sends a
 * valid body, so state-changing requests run too), sometimes arbitrary JSON.
 */
export function bodyArbitrary(operation: Operation, hints: FieldHints): fc.Arbitrary<unknown> {
  const shaped = fc
    .array(mutationArb, { minLength: 0, maxLength: 3 })
    .map((mutations) =>
      mutations.reduce<unknown>(
        (body, mutation) => applyMutation(body, mutation),
        operation.body ? exemplar(operation.body, hints) : {},
      ),
    );
  return fc.oneof(
    { weight: 6, arbitrary: shaped },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, [], '', 'text', 0) },
  );
}

/** A query string: the route's own parameters with hostile or plausible values, and strangers. */
export function queryArbitrary(operation: Operation): fc.Arbitrary<Record<string, string>> {
  const names = [...operation.queryParams.map((p) => p.name), 'limit', 'cursor', 'x', '__proto__'];
  const value = fc.oneof(
    fc.constantFrom('', '0', '-1', '1', '1000000', '1e308', 'NaN', 'true', 'abc', '2026-13', '2026-01-01'),
    fc.constantFrom(randomUUID(), 'not-a-uuid', '00000000-0000-0000-0000-000000000000'),
    hostileString.map((text) => wellFormed(text.slice(0, 2_000))),
  );
  return fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 4 });
}
