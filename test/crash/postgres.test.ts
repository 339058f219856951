import { testDialects } from '../support/runtime.js';
import { crashSuite } from './kill-restart.js';

// One file per database: each restart of `provisioner serve` costs seconds, and each file stays under a minute.
// testDialects() includes PostgreSQL when TEST_DATABASE_URL is set, and fails under CI when it is not.
if (testDialects().includes('postgres')) crashSuite('postgres');
