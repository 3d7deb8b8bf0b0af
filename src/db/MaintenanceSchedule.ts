// maintenance.scheduler: app — every registered process tries maintenance shortly after setup and
// then every maintenance.interval; the database decides who runs (an advisory lock, and
// last_maintenance_at so many short-lived processes do not each run it). The timer never keeps
// the process alive, and stop() ends a run in progress (its transaction rolls back).

import type pg from 'pg';
import { safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
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

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
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
      if (!this.stopped) this.warn(`maintenance failed: ${safeErrorMessage(error, this.url)}`);
    }
    this.schedule(this.intervalMs);
  }
}
