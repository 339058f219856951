import { isJsonObject, type Json, type JsonObject } from './json.js';
import { MAX_JSON_DEPTH } from './json-limits.js';

/**
 * The one rule for what is a secret (issue 11 finding 5, issue 15): an object key that, lower-cased and
 * without `_`/`-`, contains one of these words, at any depth. The same rule lifts secrets out of outputs
 * before they are stored, and redacts logs and rendered JSON.
 */
const SECRET_WORDS = ['password', 'passwd', 'secret', 'token', 'apikey', 'privatekey', 'credential', 'authorization'] as const;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[_-]/g, '');
  return SECRET_WORDS.some((w) => k.includes(w));
}

export const REDACTED = '[redacted]';
export const TOO_DEEP = '[nested too deep]';

/**
 * Lifts every secret-named value out of `output`, however deep, into `credentials`:
 * - a top-level `credentials` object is spread into `credentials` as is (DESIGN §6);
 * - any other secret is kept under its path, dot-separated (`db.password`, `nodes.0.token`), so nothing
 *   is lost and a reader can tell where it came from.
 * The returned output holds no secret-named key; `credentials` is null when there was nothing to lift.
 * Null values under secret names are dropped (they carry nothing to protect).
 */
export function splitSecrets(output: Json): { output: Json; credentials: JsonObject | null } {
  const found: JsonObject = {};
  let any = false;
  const walk = (value: Json, path: string[]): Json => {
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)]));
    if (!isJsonObject(value)) return value;
    const kept: JsonObject = {};
    for (const [key, v] of Object.entries(value)) {
      if (!isSecretKey(key)) {
        kept[key] = walk(v, [...path, key]);
        continue;
      }
      if (v === null) continue;
      any = true;
      if (path.length === 0 && key === 'credentials' && isJsonObject(v)) Object.assign(found, v);
      else found[[...path, key].join('.')] = v;
    }
    return kept;
  };
  const cleaned = walk(output, []);
  return { output: cleaned, credentials: any ? found : null };
}

/**
 * A copy with every secret-named value replaced by "[redacted]" and anything nested deeper than MAX_JSON_DEPTH
 * by "[nested too deep]"; only plain objects and arrays are walked.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  // Bounded, so a deeply nested value can neither overflow the stack here nor in JSON.stringify after.
  if (depth > MAX_JSON_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  if (value !== null && typeof value === 'object' && isPlain(value)) {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const next = isSecretKey(k) ? REDACTED : redactSecrets(v, depth + 1);
      if (next !== v) changed = true;
      out[k] = next;
    }
    return changed ? out : value;
  }
  return value;
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
