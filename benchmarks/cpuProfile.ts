// Where a process's CPU time goes while a function runs: V8's sampling profiler through the
// inspector, each sample attributed to the first frame (leaf upwards) that belongs to a known part —
// the pipeline's own code, pipetel (src/, exporters/), the OTel SDK, the pg driver — with GC and
// V8's unattributed time on their own. The shares are what the overhead benchmark reports; the
// profiler's own cost inflates every part alike, so absolute figures are not quoted.

import { Session } from 'node:inspector/promises';

export type ProfilePart = 'pipeline' | 'pipetel' | 'otel-sdk' | 'pg' | 'node' | 'gc' | 'v8-other';
export type ProfileBreakdown = Record<ProfilePart, number>;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Runs `fn` under the sampling profiler; ms of samples per part (idle left out). */
export async function profileParts(
  fn: () => Promise<unknown>,
  pipelineFile: string,
): Promise<ProfileBreakdown> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let profile: Profile;
  try {
    await fn();
  } finally {
    ({ profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile });
    session.disconnect();
  }
  return breakdown(profile, pipelineFile);
}

function partOf(url: string, functionName: string, pipelineFile: string): ProfilePart | 'idle' | undefined {
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'v8-other';
  if (!url) return undefined; // a builtin: its caller decides
  if (url.includes(pipelineFile)) return 'pipeline';
  if (url.includes('node_modules/@opentelemetry/')) return 'otel-sdk';
  if (/node_modules\/pg(-[a-z-]+)?\//.test(url)) return 'pg';
  if (url.includes('node_modules/')) return undefined;
  if (url.startsWith('node:')) return undefined;
  if (url.includes('/src/') || url.includes('/exporters/')) return 'pipetel';
  return undefined;
}

function breakdown(profile: Profile, pipelineFile: string): ProfileBreakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, ProfilePart | 'idle'>();
  const classify = (id: number): ProfilePart | 'idle' => {
    const known = memo.get(id);
    if (known) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const part =
      partOf(node.callFrame.url, node.callFrame.functionName, pipelineFile) ??
      (up === undefined ? 'node' : classify(up));
    memo.set(id, part);
    return part;
  };
  const out: ProfileBreakdown = {
    pipeline: 0,
    pipetel: 0,
    'otel-sdk': 0,
    pg: 0,
    node: 0,
    gc: 0,
    'v8-other': 0,
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const part = classify(profile.samples[i]!);
    if (part !== 'idle') out[part] += (profile.timeDeltas[i] ?? 0) / 1000;
  }
  return out;
}
