import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseCidr, parseCidrList, type NetworkPolicy } from './domain/network-policy.js';
import type { AuthConfig } from './auth/token-verifier.js';

/**
 * The only module that reads `process.env`. Every variable of DESIGN §2 (and the operational extras
 * documented in the README) is parsed here once; a bad value stops the start with every problem listed.
 */
export const Roles = ['all', 'api', 'worker'] as const;
export type Role = (typeof Roles)[number];

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; poolSize: number };

export interface WorkerConfig {
  concurrency: number;
  /** Fallback poll when no wake-up signal arrives (ms). */
  pollIntervalMs: number;
  /** Added to a step's request timeout to form its lease (ms). */
  leaseGraceMs: number;
}

/** OpenTelemetry tracing (OTLP/HTTP JSON); off while `endpoint` is null. */
export interface TracingConfig {
  endpoint: string | null;
  serviceName: string;
  headers: Record<string, string>;
}

/** ScaiControl's subscription webhooks (issue 14): off while `secrets` is empty. */
export interface IntakeConfig {
  /** HMAC-SHA256 secrets; any one verifies (rotation). */
  secrets: string[];
  /** Field → dotted path in the envelope, over the defaults (see domain/subscription-event.ts). */
  fieldMap: Record<string, string>;
}

export interface Config {
  listen: { host: string; port: number };
  publicUrl: string;
  role: Role;
  database: DatabaseConfig;
  dataDir: string;
  /** The token verifier's own settings type: one shape from the environment to the verifier. */
  auth: AuthConfig;
  /** base64 32-byte keys; the first encrypts, all decrypt (rotation). */
  secretKeys: { current: string; old: string[] };
  servicesDir: string | null;
  worker: WorkerConfig;
  webhookRetryScheduleS: number[];
  callbackRateLimitPerMinute: number;
  stuckAfterS: number;
  /** V8's heap growing factor as a percentage (1 + p/100); 0 leaves V8's own, up to 4× the live heap. */
  heapGrowingPercent: number;
  logLevel: string;
  tracing: TracingConfig;
  devSecretsGenerated: boolean;
  intake: IntakeConfig;
  /** PROVISIONER_TRUSTED_PROXIES: addresses/CIDRs (or loopback, linklocal, uniquelocal) whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** PROVISIONER_OUTBOUND_ALLOW / _DENY: where base_urls and webhook targets may connect (besides the built-in refusals). */
  outbound: NetworkPolicy;
}

export type Env = Record<string, string | undefined>;

/** HS256 needs a key at least as long as its hash (RFC 7518 §3.2). */
export const MIN_JWT_SECRET_BYTES = 32;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export interface ConfigFlags {
  port?: string;
  host?: string;
  databaseUrl?: string;
  publicUrl?: string;
  servicesDir?: string;
  role?: string;
  concurrency?: string;
  dataDir?: string;
  /**
   * Generate missing secrets into the data dir (development). `serve` passes false: it refuses to start
   * without explicit secrets (issue 11 finding 8); `demo`, `token` and tests keep the default.
   */
  devSecrets?: boolean;
}

export function loadConfig(env: Env = process.env, flags: ConfigFlags = {}): Config {
  const problems: string[] = [];
  const get = (name: string, flag?: string) => {
    const v = flag ?? env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const int = (name: string, raw: string | undefined, dflt: number, min: number, max: number) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
      return dflt;
    }
    return n;
  };

  const host = get('HOST', flags.host) ?? '127.0.0.1';
  const port = int('PORT', get('PORT', flags.port), 8000, 0, 65535);
  const dataDir = resolve(get('PROVISIONER_DATA_DIR', flags.dataDir) ?? './data');

  const database = parseDatabaseUrl(get('DATABASE_URL', flags.databaseUrl), dataDir, problems);
  if (database.kind === 'postgres') {
    database.poolSize = int('PROVISIONER_DB_POOL_SIZE', get('PROVISIONER_DB_POOL_SIZE'), 10, 1, 500);
  }

  const publicUrlRaw = get('PUBLIC_URL', flags.publicUrl) ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let publicUrl = publicUrlRaw.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(publicUrl)) {
    problems.push(`PUBLIC_URL=${JSON.stringify(publicUrlRaw)}: expected an http(s) URL such as https://provisioner.example.com`);
    publicUrl = 'http://127.0.0.1:8000';
  }

  const roleRaw = get('PROVISIONER_ROLE', flags.role) ?? 'all';
  const role = (Roles as readonly string[]).includes(roleRaw) ? (roleRaw as Role) : 'all';
  if (role !== roleRaw) problems.push(`PROVISIONER_ROLE=${JSON.stringify(roleRaw)}: expected one of ${Roles.join(', ')}`);

  const scheduleRaw = get('PROVISIONER_WEBHOOK_RETRY_SCHEDULE') ?? '60,300,1800,7200,43200,86400';
  const webhookRetryScheduleS = scheduleRaw.split(',').map((s) => Number(s.trim()));
  if (webhookRetryScheduleS.some((n) => !Number.isFinite(n) || n < 0)) {
    problems.push(`PROVISIONER_WEBHOOK_RETRY_SCHEDULE=${JSON.stringify(scheduleRaw)}: expected comma-separated seconds, e.g. 60,300,1800`);
  }

  const jwksUrl = get('PROVISIONER_JWKS_URL') ?? null;
  if (jwksUrl && !/^https?:\/\//.test(jwksUrl)) problems.push(`PROVISIONER_JWKS_URL: expected an http(s) URL`);

  let devSecretsGenerated = false;
  let hs256Secret = get('PROVISIONER_JWT_SECRET') ?? null;
  let secretKey = get('PROVISIONER_SECRET_KEY') ?? null;
  const oldKeys = (get('PROVISIONER_OLD_SECRET_KEYS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const [name, key] of [['PROVISIONER_SECRET_KEY', secretKey], ...oldKeys.map((k) => ['PROVISIONER_OLD_SECRET_KEYS', k])] as const) {
    if (key !== null && Buffer.from(key, 'base64').length !== 32) {
      problems.push(`${name}: expected 32 bytes in base64 (generate one with: openssl rand -base64 32)`);
    }
  }
  if (hs256Secret !== null && Buffer.byteLength(hs256Secret, 'utf8') < MIN_JWT_SECRET_BYTES) {
    // Never echo the value: only its length.
    problems.push(
      `PROVISIONER_JWT_SECRET: ${Buffer.byteLength(hs256Secret, 'utf8')} bytes is too short to sign tokens safely; use at least ${MIN_JWT_SECRET_BYTES} random bytes (generate one with: openssl rand -base64 32)`,
    );
  }
  if (flags.devSecrets === false) {
    if (hs256Secret === null && jwksUrl === null) {
      problems.push(
        'PROVISIONER_JWT_SECRET (or PROVISIONER_JWKS_URL) is required: set it to at least 32 random bytes, e.g. PROVISIONER_JWT_SECRET=$(openssl rand -base64 32); only `provisioner demo` generates development secrets',
      );
    }
    if (secretKey === null) {
      problems.push(
        'PROVISIONER_SECRET_KEY is required: it encrypts credentials at rest; set it to 32 random bytes in base64, e.g. PROVISIONER_SECRET_KEY=$(openssl rand -base64 32), and keep it (credentials cannot be read without it)',
      );
    }
  }
  if (problems.length === 0 && ((hs256Secret === null && jwksUrl === null) || secretKey === null)) {
    // Development convenience: secrets are generated once into the data dir and reused, so tokens
    // and encrypted credentials survive restarts. Production sets both variables.
    const dev = devSecrets(dataDir);
    if (hs256Secret === null && jwksUrl === null) hs256Secret = dev.jwtSecret;
    if (secretKey === null) secretKey = dev.secretKey;
    devSecretsGenerated = true;
  }

  const config: Config = {
    listen: { host, port },
    publicUrl,
    role,
    database,
    dataDir,
    auth: {
      hs256Secret,
      jwksUrl,
      issuer: get('PROVISIONER_JWT_ISSUER') ?? null,
      audience: get('PROVISIONER_JWT_AUDIENCE') ?? null,
      clockToleranceS: 60,
    },
    secretKeys: { current: secretKey ?? '', old: oldKeys },
    servicesDir: get('PROVISIONER_SERVICES_DIR', flags.servicesDir) ?? null,
    worker: {
      concurrency: int('PROVISIONER_WORKER_CONCURRENCY', get('PROVISIONER_WORKER_CONCURRENCY', flags.concurrency), 16, 1, 1000),
      pollIntervalMs: int('PROVISIONER_POLL_INTERVAL_MS', get('PROVISIONER_POLL_INTERVAL_MS'), 1000, 10, 60_000),
      leaseGraceMs: int('PROVISIONER_LEASE_GRACE_MS', get('PROVISIONER_LEASE_GRACE_MS'), 15_000, 100, 600_000),
    },
    webhookRetryScheduleS,
    callbackRateLimitPerMinute: int('PROVISIONER_CALLBACK_RATE_LIMIT', get('PROVISIONER_CALLBACK_RATE_LIMIT'), 600, 1, 1_000_000),
    stuckAfterS: int('PROVISIONER_STUCK_AFTER_S', get('PROVISIONER_STUCK_AFTER_S'), 3600, 1, 30 * 86400),
    heapGrowingPercent: int('PROVISIONER_HEAP_GROWING_PERCENT', get('PROVISIONER_HEAP_GROWING_PERCENT'), 50, 0, 300),
    logLevel: get('LOG_LEVEL') ?? 'info',
    tracing: parseTracing(get, problems),
    devSecretsGenerated,
    intake: parseIntake(get, problems),
    trustedProxies: parseTrustedProxies(get('PROVISIONER_TRUSTED_PROXIES'), problems),
    outbound: parseOutboundPolicy(get, problems),
  };
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(config.logLevel)}: expected fatal, error, warn, info, debug, trace or silent`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function parseDatabaseUrl(raw: string | undefined, dataDir: string, problems: string[]): DatabaseConfig {
  if (raw === undefined) return { kind: 'sqlite', path: join(dataDir, 'provisioner.db') };
  if (/^postgres(ql)?:\/\//.test(raw)) return { kind: 'postgres', url: raw, poolSize: 10 };
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') problems.push('DATABASE_URL=sqlite: needs a path, e.g. sqlite:./data/provisioner.db');
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  problems.push(
    `DATABASE_URL: expected postgres://user@host:port/db or sqlite:PATH, got ${JSON.stringify(raw.replace(/:[^:@/]*@/, ':***@'))}`,
  );
  return { kind: 'sqlite', path: join(dataDir, 'provisioner.db') };
}

/** The standard OpenTelemetry variables; headers are `k=v,k2=v2` with percent-encoded values. */
function parseTracing(get: (name: string) => string | undefined, problems: string[]): TracingConfig {
  const endpoint = get('OTEL_EXPORTER_OTLP_ENDPOINT')?.replace(/\/+$/, '') ?? null;
  if (endpoint !== null && !/^https?:\/\/[^/]+/.test(endpoint)) {
    problems.push(
      `OTEL_EXPORTER_OTLP_ENDPOINT=${JSON.stringify(endpoint)}: expected the collector's http(s) base URL, e.g. http://127.0.0.1:4318`,
    );
  }
  const headers: Record<string, string> = {};
  for (const pair of (get('OTEL_EXPORTER_OTLP_HEADERS') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, Math.max(0, eq)).trim().toLowerCase();
    let value: string | null = null;
    try {
      value = key ? decodeURIComponent(pair.slice(eq + 1).trim()) : null;
    } catch {
      value = null;
    }
    // A value may be an API key: a problem names the key only, never the value.
    if (value === null)
      problems.push(
        `OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas, values percent-encoded (${key ? `bad value for ${JSON.stringify(key)}` : 'a pair has no key'})`,
      );
    else headers[key] = value;
  }
  return { endpoint, serviceName: get('OTEL_SERVICE_NAME') ?? 'provisioner', headers };
}

/** `PROVISIONER_INTAKE_SECRET=s1,s2` and `PROVISIONER_INTAKE_FIELD_MAP=service_slug=data.product.slug,plan=data.plan.code`. */
function parseIntake(get: (name: string) => string | undefined, problems: string[]): IntakeConfig {
  const secrets = (get('PROVISIONER_INTAKE_SECRET') ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const fieldMap: Record<string, string> = {};
  const raw = get('PROVISIONER_INTAKE_FIELD_MAP') ?? '';
  for (const pair of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, path, ...rest] = pair.split('=').map((x) => x.trim());
    if (!key || !/^[A-Za-z0-9_]+$/.test(key) || !path || rest.length > 0 || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(path)) {
      problems.push(
        `PROVISIONER_INTAKE_FIELD_MAP: ${JSON.stringify(pair)} is not field=dotted.path (e.g. service_slug=data.product.slug,plan=data.plan.code)`,
      );
      continue;
    }
    fieldMap[key] = path;
  }
  return { secrets, fieldMap };
}

const PROXY_KEYWORDS = ['loopback', 'linklocal', 'uniquelocal'];

function parseTrustedProxies(raw: string | undefined, problems: string[]): string[] {
  const list = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((p) => !PROXY_KEYWORDS.includes(p) && parseCidr(p) === null);
  if (bad.length > 0) {
    problems.push(
      `PROVISIONER_TRUSTED_PROXIES: ${bad.map((b) => JSON.stringify(b)).join(', ')} not understood; expected comma-separated IP addresses or CIDRs of your load balancers (e.g. 10.0.0.0/8,127.0.0.1), or loopback, linklocal, uniquelocal`,
    );
  }
  return list;
}

function parseOutboundPolicy(get: (name: string) => string | undefined, problems: string[]): NetworkPolicy {
  const allow = parseCidrList(get('PROVISIONER_OUTBOUND_ALLOW'));
  const deny = parseCidrList(get('PROVISIONER_OUTBOUND_DENY'));
  for (const [name, r] of [
    ['PROVISIONER_OUTBOUND_ALLOW', allow],
    ['PROVISIONER_OUTBOUND_DENY', deny],
  ] as const) {
    if (r.bad.length > 0)
      problems.push(
        `${name}: ${r.bad.map((b) => JSON.stringify(b)).join(', ')} not understood; expected comma-separated CIDRs such as 10.0.0.0/8,fd00::/8`,
      );
  }
  return { allow: allow.cidrs, deny: deny.cidrs };
}

function devSecrets(dataDir: string): { jwtSecret: string; secretKey: string } {
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { jwtSecret: string; secretKey: string };
  const secrets = { jwtSecret: randomBytes(32).toString('base64url'), secretKey: randomBytes(32).toString('base64') };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
