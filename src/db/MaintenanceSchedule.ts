// maintenance.scheduler: app — every registered process tries maintenance shortly after setup and
// then every maintenance.interval; the database decides who runs (an advisory lock, and
// last_maintenance_at so many short-lived processes do not each run it). The timer never keeps
// the process alive, and stop() ends a run in progress (its transaction rolls back).

import type pg from 'pg';
import { isConfigurationError } from '../../exporters/delivery/RetryPolicy.js';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { destroyConnection } from '../../exporters/postgres/pool.js';
import { runMaintenance } from './storeMaintenance.js';

/** First attempt after setup: late enough not to compete with register() and the first batches. */
const FIRST_RUN_DELAY_MS = 5_000;

export class MaintenanceSchedule {
  private timer: NodeJS.Timeout | undefined;
  private client: pg.Client | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly intervalMs: number,
    private readonly warn: (message: string) => void,
  ) {}

  start(): void {
    this.schedule(Math.min(FIRST_RUN_DELAY_MS, this.intervalMs));
  }

  /**
   * Ends a run in progress at once: its socket is destroyed rather than ended, which would wait for
   * a goodbye that a silent server never sends (or, still connecting, for connect's timeout). The
   * server rolls the run's transaction back; a detach it interrupted is finished by the next run.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) destroyConnection(client);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.runOnce(), delayMs);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    try {
      await runMaintenance(this.url, {
        minIntervalMs: this.intervalMs,
        onClient: (client) => {
          this.client = client;
        },
      });
    } catch (error) {
      if (this.stopped) return;
      const message = safeErrorMessage(error, this.url);
      if (isConfigurationError(error)) {
        // The same login fails the same way every interval (and may lock an account): stop.
        this.warn(
          `maintenance stopped: the database refused the connection (${message}), a configuration error`,
        );
        return;
      }
      this.warn(`maintenance failed: ${message}`);
    }
    this.schedule(this.intervalMs);
  }
}
