// An OTLP/JSON log export request as a worker of a fleet sends it, for the gateway's tests.

/** One OTLP/JSON log record from worker `host:pid` of `experimentId`, with `attributes`. */
export function postWorkerLog(
  gatewayUrl: string,
  experimentId: string,
  worker: { host: string; pid: number },
  body: string,
  attributes: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${gatewayUrl.replace(/\/$/, '')}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceLogs: [
        {
          resource: {
            attributes: [
              { key: 'pipetel.experiment_id', value: { stringValue: experimentId } },
              { key: 'host.name', value: { stringValue: worker.host } },
              { key: 'process.pid', value: { intValue: String(worker.pid) } },
            ],
          },
          scopeLogs: [
            {
              logRecords: [
                {
                  timeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`,
                  body: { stringValue: body },
                  attributes: Object.entries(attributes).map(([key, value]) => ({
                    key,
                    value: { stringValue: value },
                  })),
                },
              ],
            },
          ],
        },
      ],
    }),
  });
}
