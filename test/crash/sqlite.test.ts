import { crashSuite } from './kill-restart.js';

// One file per database: each restart of `provisioner serve` costs seconds, and each file stays under a minute.
crashSuite('sqlite');
