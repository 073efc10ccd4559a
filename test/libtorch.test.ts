// Fetching the official LibTorch archive (lib/libtorch.ts), from a mirror on 127.0.0.1: which
// archive is asked for, and that it lands whole in the cache or leaves nothing there.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { fetchLibtorch, fetchedLibtorchRoot, libtorchRequest } from '../lib/libtorch';
import { changeZipEntry, refusedPort, temporaryDir, zipArchive } from './helpers';

const noGpu = (): boolean => false;
const official = 'https://download.pytorch.org/libtorch';

describe('libtorchRequest: which archive, from the environment', () => {
  test.each([
    ['nothing set, no GPU', {}, noGpu, `${official}/cpu/libtorch-cxx11-abi-shared-with-deps-2.6.0%2Bcpu.zip`],
    ['nothing set, a GPU', {}, () => true, `${official}/cu126/libtorch-cxx11-abi-shared-with-deps-2.6.0%2Bcu126.zip`],
    [
      'a CUDA build asked for',
      { NEURAL_STYLE_LIBTORCH: 'cu118' },
      (): boolean => true,
      `${official}/cu118/libtorch-cxx11-abi-shared-with-deps-2.6.0%2Bcu118.zip`,
    ],
    [
      'a mirror and a version',
      { NEURAL_STYLE_LIBTORCH_MIRROR: 'http://mirror.example/torch/', NEURAL_STYLE_LIBTORCH_VERSION: '2.5.1' },
      noGpu,
      'http://mirror.example/torch/cpu/libtorch-cxx11-abi-shared-with-deps-2.5.1%2Bcpu.zip',
    ],
  ])('%s', (_title, env, hasGpu, url) => {
    expect(libtorchRequest(env, hasGpu).url).toBe(url);
  });

  test.each([
    [
      { NEURAL_STYLE_LIBTORCH: 'rocm6' },
      'NEURAL_STYLE_LIBTORCH=rocm6: expected cpu or a CUDA build of LibTorch such as cu126',
    ],
    [
      { NEURAL_STYLE_LIBTORCH_VERSION: 'latest' },
      'NEURAL_STYLE_LIBTORCH_VERSION=latest: expected a version such as 2.6.0',
    ],
    [{ NEURAL_STYLE_LIBTORCH_SHA256: 'abc' }, 'NEURAL_STYLE_LIBTORCH_SHA256=abc: expected a SHA-256 of 64 hex digits'],
    [
      { NEURAL_STYLE_LIBTORCH_MIRROR: 'ftp://mirror' },
      'NEURAL_STYLE_LIBTORCH_MIRROR=ftp://mirror: expected an http or https URL',
    ],
  ])('%j is refused', (env, message) => {
    expect(() => libtorchRequest(env, noGpu)).toThrow(message);
  });
});

describe('fetchLibtorch', () => {
  const library = Buffer.from('\x7fELF not really a library, but bytes to check');
  const config = Buffer.from('# TorchConfig.cmake\n');
  const good = zipArchive([
    { name: 'libtorch/share/cmake/Torch/TorchConfig.cmake', data: config },
    { name: 'libtorch/lib/libtorch_cpu.so', data: library, mode: 0o755 },
  ]);
  const archives: Record<string, Buffer> = {
    good,
    damaged: changeZipEntry(good, 'libtorch_cpu.so'),
    escaping: zipArchive([
      { name: 'libtorch/share/cmake/Torch/TorchConfig.cmake', data: config },
      { name: 'libtorch/../../outside', data: library },
    ]),
    other: zipArchive([{ name: 'README', data: config }]),
  };
  let server: Server;
  let mirror: string;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response: ServerResponse) => {
      requests.push(request.url!);
      const [, name, variant] =
        /^\/(\w+)\/(\w+)\/libtorch-cxx11-abi-shared-with-deps-[\d.]+%2B\2\.zip$/.exec(request.url!) ?? [];
      const archive = archives[name];
      if (!archive || !variant) return response.writeHead(404).end();
      response.writeHead(200, { 'content-length': archive.length }).end(archive);
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  let home: string;
  beforeEach(() => {
    requests.length = 0;
    home = temporaryDir();
    process.env.NEURAL_STYLE_HOME = home;
  });
  afterAll(() => delete process.env.NEURAL_STYLE_HOME);

  const request = (archive: string, env: Record<string, string> = {}) =>
    libtorchRequest({ NEURAL_STYLE_LIBTORCH_MIRROR: `${mirror}/${archive}`, ...env }, noGpu);
  /** What the cache's LibTorch folder holds: after a failure, nothing (no archive, no half-unpacked folder). */
  const cacheContents = () => (existsSync(join(home, 'libtorch')) ? readdirSync(join(home, 'libtorch')) : []);

  test('unpacks the archive into the cache, once', async () => {
    const root = await fetchLibtorch(request('good'));
    expect(root).toBe(join(home, 'libtorch', '2.6.0+cpu', 'libtorch'));
    expect(root).toBe(fetchedLibtorchRoot(request('good')));
    expect(readFileSync(join(root, 'lib', 'libtorch_cpu.so')).equals(library)).toBe(true);
    expect(statSync(join(root, 'lib', 'libtorch_cpu.so')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake')).equals(config)).toBe(true);
    expect(cacheContents()).toEqual(['2.6.0+cpu']);
    expect(await fetchLibtorch(request('good'))).toBe(root);
    expect(requests).toHaveLength(1);
  });

  test('a pinned SHA-256 the archive matches', async () => {
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(good).digest('hex');
    expect(await fetchLibtorch(request('good', { NEURAL_STYLE_LIBTORCH_SHA256: sha256 }))).toBe(
      join(home, 'libtorch', '2.6.0+cpu', 'libtorch'),
    );
  });

  describe('failures leave nothing in the cache', () => {
    afterEach(() => expect(cacheContents()).toEqual([]));

    test.each([
      [
        'a pinned SHA-256 the archive does not match',
        () => request('good', { NEURAL_STYLE_LIBTORCH_SHA256: '0'.repeat(64) }),
        /^The LibTorch archive from http:\/\/127\.0\.0\.1:\d+\/good\/cpu\/\S+ has SHA-256 [0-9a-f]{64}, but NEURAL_STYLE_LIBTORCH_SHA256 is 0{64}$/,
      ],
      [
        'an entry that does not match its CRC-32',
        () => request('damaged'),
        /is damaged: its entry libtorch\/lib\/libtorch_cpu\.so does not match the size or checksum recorded for it$/,
      ],
      [
        'an entry that would land outside the cache',
        () => request('escaping'),
        /has an entry named "libtorch\/\.\.\/\.\.\/outside", which would unpack outside its folder$/,
      ],
      [
        'an archive that is not LibTorch',
        () => request('other'),
        /is no LibTorch: it has no libtorch\/share\/cmake\/Torch\/TorchConfig\.cmake$/,
      ],
      [
        'an archive the mirror does not have',
        () => request('absent'),
        /^Downloading http:\/\/127\.0\.0\.1:\d+\/absent\/cpu\/\S+ failed: HTTP 404 Not Found\. To fetch LibTorch elsewhere, set NEURAL_STYLE_LIBTORCH_MIRROR to a server that has it, or LIBTORCH to a LibTorch unpacked on this machine$/,
      ],
    ])('%s', async (_title, asked, message) => {
      await expect(fetchLibtorch(asked())).rejects.toThrow(message);
    });

    test('a connection cut halfway, every time', async () => {
      const cutting = createServer((_request, response) => {
        response.writeHead(200, { 'content-length': good.length });
        response.write(good.subarray(0, good.length >> 1), () => response.destroy());
      });
      await new Promise<void>((listening) => cutting.listen(0, '127.0.0.1', listening));
      const port = (cutting.address() as AddressInfo).port;
      try {
        await expect(
          fetchLibtorch(libtorchRequest({ NEURAL_STYLE_LIBTORCH_MIRROR: `http://127.0.0.1:${port}` }, noGpu)),
        ).rejects.toThrow(/^Downloading http:\/\/127\.0\.0\.1:\d+\/cpu\/\S+ failed: .*NEURAL_STYLE_LIBTORCH_MIRROR/);
      } finally {
        cutting.closeAllConnections();
        cutting.close();
      }
    });

    test('a connection refused: no network', async () => {
      const port = await refusedPort();
      await expect(
        fetchLibtorch(libtorchRequest({ NEURAL_STYLE_LIBTORCH_MIRROR: `http://127.0.0.1:${port}` }, noGpu)),
      ).rejects.toThrow(
        new RegExp(
          `^Downloading http://127\\.0\\.0\\.1:${port}/cpu/\\S+ failed: connect ECONNREFUSED .*NEURAL_STYLE_LIBTORCH_MIRROR`,
        ),
      );
    });
  });

  test('a cache folder that cannot be written is refused before anything is fetched', async () => {
    process.env.NEURAL_STYLE_HOME = '/etc/hostname/neural-style';
    await expect(fetchLibtorch(request('good'))).rejects.toThrow(
      /^Cannot write the LibTorch cache folder \/etc\/hostname\/neural-style\/libtorch \(ENOTDIR\): set NEURAL_STYLE_HOME to a folder you can write$/,
    );
    expect(requests).toEqual([]);
  });
});
