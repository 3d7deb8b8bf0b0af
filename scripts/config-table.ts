// Prints the configuration reference (key | default | meaning) generated from src/config/schema.ts,
// for the README: `node --import tsx scripts/config-table.ts`.

import { renderConfigTable } from '../src/config/schema.js';

process.stdout.write(renderConfigTable());
