// The `profile` presets: the seed's three "Configuration Templates", value for value. A preset is
// the layer right above the built-in defaults, so a file, the environment or code still override it.

import type { PartialSettings, ProfileName } from './types.js';

export const presets: Readonly<Record<ProfileName, PartialSettings>> = {
  /** For maximum performance, minimal monitoring. */
  minimal: {
    logging: {
      level: 'WARNING',
      database: { enabled: false },
      file: { enabled: true },
    },
    monitoring: { enabled: false },
  },
  /** Good balance of visibility and performance. */
  balanced: {
    logging: {
      level: 'INFO',
      database: { batch_size: 100, flush_interval: 5.0 },
    },
    monitoring: { metrics_interval: 30.0, progress_update_interval: 10.0 },
  },
  /** Maximum visibility for debugging. */
  full: {
    logging: {
      level: 'DEBUG',
      database: { batch_size: 50, flush_interval: 2.0 },
    },
    monitoring: { metrics_interval: 5.0, progress_update_interval: 2.0, enable_resource_tracking: true },
  },
};
