/**
 * Text PostgreSQL can store. A `text`/`varchar`/`jsonb` value may not hold U+0000 (PostgreSQL
 * refuses it: "invalid byte sequence for encoding UTF8: 0x00"), and a lone UTF-16 surrogate
 * (U+D800–U+DFFF without its pair, which JSON's "\ud800" escape can carry) has no UTF-8 form at all
 * (Node writes it as U+FFFD, so what is stored is not what was sent). Both are refused at the edge,
 * by field, instead of failing (or silently changing) on the way to the database.
 */

// A high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored as sent, or undefined when it can. */
export function unstorableTextProblem(text: string): string | undefined {
  if (text.includes('\u0000')) {
    return 'must not contain the NUL character (U+0000); remove it';
  }
  const surrogate = LONE_SURROGATE.exec(text);
  if (surrogate) {
    const code = surrogate[0].charCodeAt(0).toString(16).toUpperCase();
    return `must not contain an unpaired UTF-16 surrogate (U+${code}); send valid Unicode text`;
  }
  return undefined;
}

export interface UnstorableTextField {
  /** Where, e.g. `records[3].externalId` (an object key that is itself bad is named as the path to it). */
  field: string;
  message: string;
}

export interface UnstorableTextOptions {
  /**
   * Paths (as `field` spells them, with `[]` for any array index, e.g. `records[]`) whose contents are
   * not inspected: the caller checks them itself, item by item.
   */
  skip?: ReadonlySet<string>;
  /** Stop after this many problems (a 10,000-item body could name every item). Default 20. */
  limit?: number;
}

/**
 * Every string (value or object key) inside `value` — nested objects and arrays included — that
 * cannot be stored, with the path to it. An empty list when all text is storable.
 */
export function findUnstorableText(
  value: unknown,
  options: UnstorableTextOptions = {},
): UnstorableTextField[] {
  const problems: UnstorableTextField[] = [];
  const limit = options.limit ?? 20;
  const skip = options.skip ?? new Set<string>();
  // Iterative walk (a deeply nested body must not overflow the stack); `shape` is the path with `[]`.
  const stack: { value: unknown; path: string; shape: string }[] = [{ value, path: '', shape: '' }];
  const seen = new Set<object>();
  while (stack.length > 0 && problems.length < limit) {
    const { value: current, path, shape } = stack.pop()!;
    if (typeof current === 'string') {
      const message = unstorableTextProblem(current);
      if (message) problems.push({ field: path, message });
      continue;
    }
    if (current === null || typeof current !== 'object' || seen.has(current)) continue;
    if (skip.has(shape)) continue;
    seen.add(current);
    if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index -= 1) {
        stack.push({ value: current[index], path: `${path}[${index}]`, shape: `${shape}[]` });
      }
      continue;
    }
    const entries: [string, unknown][] = Object.entries(current as Record<string, unknown>);
    for (let index = entries.length - 1; index >= 0; index -= 1) {
      const [key, child] = entries[index];
      const childPath = path === '' ? key : `${path}.${key}`;
      const childShape = shape === '' ? key : `${shape}.${key}`;
      const keyProblem = unstorableTextProblem(key);
      if (keyProblem) {
        problems.push({
          field: `${path === '' ? '' : `${path}.`}${JSON.stringify(key)}`,
          message: `(the key) ${keyProblem}`,
        });
        continue;
      }
      stack.push({ value: child, path: childPath, shape: childShape });
    }
  }
  return problems;
}
