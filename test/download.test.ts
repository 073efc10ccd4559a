// Downloads (lib/download.ts): a transfer that breaks off resumes with a range request, a proxy
// the environment names carries them, and the progress line shows bytes, rate and time left.
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';

import { downloadToFile } from '../lib/download';
import { DownloadLine } from '../lib/progress-line';
import { temporaryDir } from './helpers';

const data = randomBytes(3 << 20);
const sha256 = createHash('sha256').update(data).digest('hex');
const etag = '"v1"';

/** Sends `data` from `start`, hanging up after `cutAfter` bytes when given. */
function send(response: ServerResponse, start: number, headers: Record<string, string | number>, cutAfter?: number) {
  response.writeHead(start > 0 ? 206 : 200, { etag, 'content-length': data.length - start, ...headers });
  if (cutAfter === undefined) return response.end(data.subarray(start));
  response.write(data.subarray(start, start + cutAfter), () => response.destroy());
}

let server: Server;
let base: string;
const requests: { url: string; range?: string; ifRange?: string }[] = [];
const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
  // Hangs up after a megabyte, twice, and serves the rest of the file on request.
  '/flaky': (request, response) => {
    const [, from] = /^bytes=(\d+)-$/.exec(request.headers.range ?? '') ?? [];
    const start = from === undefined || request.headers['if-range'] !== etag ? 0 : Number(from);
    const range: Record<string, string> =
      start > 0 ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {};
    send(response, start, range, start < 2 << 20 ? 1 << 20 : undefined);
  },
  // Takes no ranges: each try starts again from the first byte and breaks off at the same place.
  '/no-ranges': (_request, response) => send(response, 0, {}, 1 << 20),
  // The file changed after the first try: If-Range no longer matches, so the whole new file comes.
  '/changed': (request, response) => {
    if (request.headers.range) return send(response, 0, { etag: '"v2"' });
    send(response, 0, {}, 1 << 20);
  },
};

beforeAll(async () => {
  server = createServer((request, response) => {
    requests.push({ url: request.url!, range: request.headers.range, ifRange: request.headers['if-range'] as string });
    (routes[request.url!] ?? ((_request, reply) => reply.writeHead(404).end()))(request, response);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => (requests.length = 0));

const settings = { timeoutMs: 10_000 };

test('a transfer that breaks off resumes where it stopped, with If-Range', async () => {
  const path = join(temporaryDir(), 'file');
  expect(await downloadToFile(`${base}/flaky`, path, settings)).toEqual({ sha256, bytes: data.length });
  expect(readFileSync(path).equals(data)).toBe(true);
  // Each try asks for the rest from where the data it got ended (the client may drop what had
  // arrived unread when the connection broke, so not always at the server's megabyte), and
  // names the file's version; the server broke off twice, so there are at least two.
  const [first, ...resumed] = requests;
  expect(first.range).toBeUndefined();
  expect(resumed.length).toBeGreaterThanOrEqual(2);
  const starts = resumed.map(({ range, ifRange }) => {
    expect(ifRange).toBe(etag);
    return Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1]);
  });
  expect(starts.every((start, i) => start > (starts[i - 1] ?? 0) && start < data.length)).toBe(true);
});

test('a server without ranges that breaks off at the same place each time fails once a try gets no further', async () => {
  await expect(downloadToFile(`${base}/no-ranges`, join(temporaryDir(), 'file'), settings)).rejects.toThrow(
    /^Downloading http:\/\/127\.0\.0\.1:\d+\/no-ranges failed: /,
  );
  // Every try starts again from the first byte: a few tries, not ten.
  expect(requests.length).toBeGreaterThanOrEqual(2);
  expect(requests.length).toBeLessThan(10);
  expect(requests.slice(1).every(({ range }) => /^bytes=\d+-$/.test(range ?? ''))).toBe(true);
});

test('a file changed between tries is fetched whole again', async () => {
  const path = join(temporaryDir(), 'file');
  expect(await downloadToFile(`${base}/changed`, path, settings)).toEqual({ sha256, bytes: data.length });
  expect(readFileSync(path).equals(data)).toBe(true);
});

describe('through the proxy HTTP_PROXY names (HTTPS_PROXY for https URLs), except where NO_PROXY says', () => {
  let proxy: Server;
  const tunnels: string[] = [];
  const saved = { ...process.env };
  beforeAll(async () => {
    // An HTTP proxy as undici uses one: a CONNECT tunnel to the server.
    proxy = createServer();
    proxy.on('connect', (request: IncomingMessage, client, head) => {
      tunnels.push(request.url!);
      const [host, port] = request.url!.split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((listening) => proxy.listen(0, '127.0.0.1', listening));
  });
  afterAll(() => {
    process.env = saved;
    proxy.closeAllConnections();
    proxy.close();
  });

  const proxied = (name: string) => ({ [name]: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
  test.each([
    ['HTTP_PROXY', () => proxied('HTTP_PROXY'), true],
    ['http_proxy', () => proxied('http_proxy'), true],
    ['HTTP_PROXY, with NO_PROXY naming the host', () => ({ ...proxied('HTTP_PROXY'), NO_PROXY: '127.0.0.1' }), false],
  ])('%s', async (_title, variables, tunnelled) => {
    tunnels.length = 0;
    process.env = { ...saved, ...variables() };
    const path = join(temporaryDir(), 'file');
    expect(await downloadToFile(`${base}/flaky`, path, settings)).toEqual({ sha256, bytes: data.length });
    expect(tunnels.length > 0).toBe(tunnelled);
    if (tunnelled) expect(new Set(tunnels)).toEqual(new Set([new URL(base).host]));
  });
});

describe('the download line', () => {
  const screen = () => {
    const written: string[] = [];
    return { written, stream: { isTTY: true, columns: 120, write: (text: string) => written.push(text) > 0 } };
  };

  test('on a terminal: the bytes, the share, the rate and the time left, redrawn in place', () => {
    const { written, stream } = screen();
    let now = 0;
    const line = new DownloadLine(stream, () => now, 100);
    now = 2000;
    line.update({ receivedBytes: 20e6, totalBytes: 100e6 });
    now = 2050; // within the redraw interval: not drawn
    line.update({ receivedBytes: 21e6, totalBytes: 100e6 });
    now = 10000;
    line.update({ receivedBytes: 100e6, totalBytes: 100e6 });
    line.finish();
    expect(written).toEqual([
      '\r\x1b[2KDownloaded 20.0 MB of 100.0 MB (20%) · 10.0 MB/s · 0:08 left',
      '\r\x1b[2KDownloaded 100.0 MB of 100.0 MB (100%) · 10.0 MB/s',
      '\n',
    ]);
  });

  test('elsewhere: a line at each tenth', () => {
    const written: string[] = [];
    const line = new DownloadLine({ write: (text: string) => written.push(text) > 0 });
    for (let received = 0; received <= 100; received += 5)
      line.update({ receivedBytes: received * 1e6, totalBytes: 100e6 });
    expect(written).toHaveLength(11);
    expect(written[3]).toBe('Downloaded 30.0 MB of 100.0 MB\n');
  });
});
