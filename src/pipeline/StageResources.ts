// Resource use attributed to a stage: CPU time (user/system) from process.cpuUsage() deltas and
// peak RSS from a sampler that runs only while at least one stage is open. One shared timer
// serves every open stage, so nested and concurrent stages cost one sample per tick in total.

const SAMPLE_INTERVAL_MS = 250;

interface OpenStage {
  peakRss: number;
}

const open = new Set<OpenStage>();
let timer: NodeJS.Timeout | undefined;

/**
 * Reading RSS costs ~7 µs here (libuv reads /proc/self/stat), which was two thirds of a stage:
 * a reading younger than this is reused, so a stage per item pays the clock, not the file.
 */
const RSS_FRESH_MS = 10;
let rssValue = 0;
let rssReadAt = Number.NEGATIVE_INFINITY;

/** Resident set size, at most RSS_FRESH_MS old. */
function rss(): number {
  const now = performance.now();
  if (now - rssReadAt >= RSS_FRESH_MS) {
    rssValue = process.memoryUsage.rss();
    rssReadAt = now;
  }
  return rssValue;
}

function sample(): void {
  const current = rss();
  for (const stage of open) if (current > stage.peakRss) stage.peakRss = current;
}

export interface StageResourceUsage {
  'pipetel.cpu.user_ms': number;
  'pipetel.cpu.system_ms': number;
  'pipetel.memory.rss_start_bytes': number;
  'pipetel.memory.rss_end_bytes': number;
  'pipetel.memory.rss_peak_bytes': number;
}

/** Starts measuring; call the returned function when the stage ends. */
export function measureStage(): () => StageResourceUsage {
  const cpuStart = process.cpuUsage();
  const rssStart = rss();
  const stage: OpenStage = { peakRss: rssStart };
  open.add(stage);
  if (!timer) {
    timer = setInterval(sample, SAMPLE_INTERVAL_MS);
    timer.unref();
  }
  return () => {
    const rssEnd = rss();
    open.delete(stage);
    if (open.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
    const cpu = process.cpuUsage(cpuStart);
    return {
      'pipetel.cpu.user_ms': cpu.user / 1000,
      'pipetel.cpu.system_ms': cpu.system / 1000,
      'pipetel.memory.rss_start_bytes': rssStart,
      'pipetel.memory.rss_end_bytes': rssEnd,
      'pipetel.memory.rss_peak_bytes': Math.max(stage.peakRss, rssEnd),
    };
  };
}
