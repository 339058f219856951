// Stores many finished workflows directly with SQL (not through the API), shaped exactly like the rows
// the engine writes for the bench manifest: each workflow with its six completed steps.
//
// Workflow g (0 ≤ g < total) belongs to tenant g mod T and service (g div T) mod S, so every tenant has
// total/T workflows spread over S services, interleaved in time the way real sign-ups are. Ids are
// `wf_` + g in 26 digits (valid ULID characters, older than any id the engine mints), so a request for
// a given tenant can name one of its workflows without a lookup: see `seededWorkflowId`.
import Database from 'better-sqlite3';
import pg from 'pg';
import { STEPS_PER_WORKFLOW } from '../manifest.js';
import type { BenchDialect } from '../support/databases.js';

export interface SeedShape {
  workflows: number;
  tenants: number;
  services: number;
}

export const seededTenant = (t: number) => `tenant-${String(t).padStart(6, '0')}`;
export const seededService = (s: number) => `bench-${s}`;
export const seededWorkflowId = (g: number) => `wf_${String(g).padStart(26, '0')}`;

/** Rows per transaction: big enough to amortise commits, small enough to keep the WAL and memory in check. */
const BATCH = 50_000;
/** Seeded history ends a day ago, one sign-up every 50 ms. */
const SPACING_MS = 50;

interface StepTemplate {
  position: number;
  name: string;
  type: string;
  depends_on: string;
  spec: string;
  output: string;
}

/** The registered manifest's steps as the starter stores them (spec JSON included), from the services table. */
function templatesFrom(manifestJson: string): StepTemplate[] {
  const manifest = JSON.parse(manifestJson) as { provision: { name: string; type: string; depends_on?: string[] }[] };
  if (manifest.provision.length !== STEPS_PER_WORKFLOW) throw new Error('the seed expects the six-step bench manifest');
  return manifest.provision.map((spec, position) => ({
    position,
    name: spec.name,
    type: spec.type,
    depends_on: JSON.stringify(spec.depends_on ?? []),
    spec: JSON.stringify(spec),
    output: position === 0 ? '{"id":"acc_0123456789ab"}' : spec.type === 'poll' ? '{"documents":0}' : '{}',
  }));
}

export async function seedWorkflows(
  dialect: BenchDialect,
  url: string,
  shape: SeedShape,
  log: (l: string) => void,
): Promise<{ seconds: number }> {
  const t0 = performance.now();
  if (dialect === 'sqlite') seedSqlite(url.slice('sqlite:'.length), shape, log);
  else await seedPostgres(url, shape, log);
  return { seconds: (performance.now() - t0) / 1000 };
}

// The column lists are shared; each dialect has its own generator (a recursive CTE and printf on SQLite,
// generate_series and lpad on PostgreSQL).
const workflowColumns = `id, tenant_id, service_slug, service_version, kind, status, parameters, endpoint, credentials, error,
  on_failure, base_url, idempotency_key, provision_workflow_id, steps_total, steps_completed, created_at, started_at, updated_at,
  completed_at, last_progress_at`;
const stepColumns = `id, workflow_id, tenant_id, name, position, type, status, depends_on, spec, state, attempt, compensation_attempt,
  retry_count, max_attempts, timeout_ms, waiting_reason, next_run_at, deadline_at, lease_owner, lease_expires_at, callback_token_hash,
  report_hash, early_report, progress, poll_count, first_poll_at, started_at, completed_at, error, output, endpoint, updated_at`;

function seedSqlite(file: string, shape: SeedShape, log: (l: string) => void) {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -262144'); // 256 MB for the load only; the engine's own connection keeps its default
    const base = Date.now() - 86_400_000 - shape.workflows * SPACING_MS;
    const service = db.prepare('select manifest, base_url from services where slug = ?').get(seededService(0)) as
      | { manifest: string; base_url: string }
      | undefined;
    if (!service) throw new Error(`register ${seededService(0)} before seeding`);
    db.exec('create temp table seed_steps (position integer, name text, type text, depends_on text, spec text, output text)');
    const put = db.prepare('insert into seed_steps values (@position, @name, @type, @depends_on, @spec, @output)');
    for (const t of templatesFrom(service.manifest)) put.run(t);
    // A recursive CTE counts from lo to hi; printf pads the ids; integer division picks tenant and service.
    const workflows = db.prepare(`insert into workflows (${workflowColumns})
      with recursive g(n) as (select @lo union all select n + 1 from g where n < @hi)
      select 'wf_' || printf('%026d', n), 'tenant-' || printf('%06d', n % @T), 'bench-' || ((n / @T) % @S), '1.0.0', 'provision',
        'completed', '{}', 'https://bench.example/', null, null, 'rollback', @baseUrl, null, null, 6, 6,
        @base + n * ${SPACING_MS}, @base + n * ${SPACING_MS}, @base + n * ${SPACING_MS} + 400, @base + n * ${SPACING_MS} + 400, @base + n * ${SPACING_MS} + 400
      from g`);
    const steps = db.prepare(`insert into steps (${stepColumns})
      with recursive g(n) as (select @lo union all select n + 1 from g where n < @hi)
      select 'stp_' || printf('%026d', n * 6 + k.position), 'wf_' || printf('%026d', n), 'tenant-' || printf('%06d', n % @T), k.name,
        k.position, k.type, 'completed', k.depends_on, k.spec, '{}', 1, 0, 0, 3, 30000, null, null, null, null, null,
        case when k.type = 'callback' then 'seed' || printf('%026d', n) end, null, null, null,
        case when k.type = 'poll' then 1 else 0 end, null, @base + n * ${SPACING_MS} + k.position * 60,
        @base + n * ${SPACING_MS} + k.position * 60 + 40, null, k.output, null, @base + n * ${SPACING_MS} + k.position * 60 + 40
      from g cross join seed_steps k order by n, k.position`);
    const batch = db.transaction((lo: number, hi: number) => {
      const p = { lo, hi, T: shape.tenants, S: shape.services, base, baseUrl: service.base_url };
      workflows.run(p);
      steps.run(p);
    });
    for (let lo = 0; lo < shape.workflows; lo += BATCH) {
      batch(lo, Math.min(shape.workflows, lo + BATCH) - 1);
      if ((lo / BATCH) % 4 === 3) log(`seeded ${Math.min(shape.workflows, lo + BATCH)} workflows`);
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function seedPostgres(url: string, shape: SeedShape, log: (l: string) => void) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // Seeding only: the bulk load need not wait for the WAL flush of each batch.
    await c.query('set synchronous_commit = off');
    const base = Date.now() - 86_400_000 - shape.workflows * SPACING_MS;
    const service = (
      await c.query<{ manifest: string; base_url: string }>('select manifest, base_url from services where slug = $1', [seededService(0)])
    ).rows[0];
    if (!service) throw new Error(`register ${seededService(0)} before seeding`);
    await c.query('create temp table seed_steps (position integer, name text, type text, depends_on text, spec text, output text)');
    for (const t of templatesFrom(service.manifest)) {
      await c.query('insert into seed_steps values ($1, $2, $3, $4, $5, $6)', [t.position, t.name, t.type, t.depends_on, t.spec, t.output]);
    }
    for (let lo = 0; lo < shape.workflows; lo += BATCH) {
      const hi = Math.min(shape.workflows, lo + BATCH) - 1;
      await c.query('begin');
      await c.query(
        `insert into workflows (${workflowColumns})
        select 'wf_' || lpad(n::text, 26, '0'), 'tenant-' || lpad((n % $3)::text, 6, '0'), 'bench-' || ((n / $3) % $4), '1.0.0', 'provision',
          'completed', '{}', 'https://bench.example/', null, null, 'rollback', $6, null, null, 6, 6,
          $5::bigint + n * ${SPACING_MS}, $5::bigint + n * ${SPACING_MS}, $5::bigint + n * ${SPACING_MS} + 400, $5::bigint + n * ${SPACING_MS} + 400, $5::bigint + n * ${SPACING_MS} + 400
        from generate_series($1::int, $2::int) n`,
        [lo, hi, shape.tenants, shape.services, base, service.base_url],
      );
      await c.query(
        `insert into steps (${stepColumns})
        select 'stp_' || lpad((n * 6 + k.position)::text, 26, '0'), 'wf_' || lpad(n::text, 26, '0'), 'tenant-' || lpad((n % $3)::text, 6, '0'), k.name,
          k.position, k.type, 'completed', k.depends_on, k.spec, '{}', 1, 0, 0, 3, 30000, null, null, null, null, null,
          case when k.type = 'callback' then 'seed' || lpad(n::text, 26, '0') end, null, null, null,
          case when k.type = 'poll' then 1 else 0 end, null, $4::bigint + n * ${SPACING_MS} + k.position * 60,
          $4::bigint + n * ${SPACING_MS} + k.position * 60 + 40, null, k.output, null, $4::bigint + n * ${SPACING_MS} + k.position * 60 + 40
        from generate_series($1::int, $2::int) n cross join seed_steps k order by n, k.position`,
        [lo, hi, shape.tenants, base],
      );
      await c.query('commit');
      if ((lo / BATCH) % 4 === 3) log(`seeded ${hi + 1} workflows`);
    }
    // What autovacuum would have done by the time a table holds a million rows: statistics and the
    // visibility map (index-only scans). Run now so it does not start in the middle of the measurement.
    await c.query('vacuum analyze workflows');
    await c.query('vacuum analyze steps');
  } finally {
    await c.end();
  }
}
