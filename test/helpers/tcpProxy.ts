// A TCP proxy the test controls, in front of the real PostgreSQL: it forwards until told to go
// silent, then holds every connection (open and new) without passing a byte either way — a server
// that accepts and never answers, mid-run, without touching the server other tests share.

import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** postgres URL `url` with host and port pointing at the proxy. */
  url: string;
  /** Stop forwarding: bytes in either direction are held back, new connections hang. */
  silence(): void;
  /**
   * Forward again, for connections made from now on; those open across the silence stay silent
   * (bytes were lost on them), as after a server host that froze and came back.
   */
  resume(): void;
  /** Connections accepted so far (how often the client dialed the server). */
  accepted(): number;
  /** Close every connection and the listener. */
  close(): Promise<void>;
}

/** `port`: listen there (e.g. the port of an earlier proxy, so a URL that refused now answers). */
export async function startTcpProxy(targetUrl: string, port = 0): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let silent = false;
  /** Silences so far: a connection forwards only while none began since it was made. */
  let silences = 0;
  let accepted = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    accepted++;
    track(client);
    if (silent) return; // accepted, never answered
    const upstream = connect({ host: target.hostname, port: Number(target.port) || 5432 });
    track(upstream);
    const epoch = silences;
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!silent && epoch === silences) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const listening = (server.address() as import('node:net').AddressInfo).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(listening);
  return {
    url: url.toString(),
    silence: () => {
      silent = true;
      silences++;
    },
    resume: () => {
      silent = false;
    },
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
