// Preload entry: `node --import pipetel/register app.js` registers pipetel from config file and
// environment before the application runs, with no code change. The app can still reach the
// instance with `await register()` (same instance) to use stages and progress.

import { register } from './registry.js';

await register();
