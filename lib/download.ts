// Downloads of large files (pretrained weights, LibTorch): through the proxy the environment
// names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, which Node's own fetch ignores), resumed with a range
// request where the connection breaks off, with progress as data arrives.
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

import { AbortError } from './stylize';

export interface DownloadProgress {
  receivedBytes: number;
  /** From the server's Content-Length or Content-Range; undefined when it sent neither. */
  totalBytes?: number;
}

export interface DownloadSettings {
  /** Give up when no data arrives for this long, in milliseconds. */
  timeoutMs: number;
  onProgress?: (event: DownloadProgress) => void;
  /** abort() rejects with an AbortError. */
  signal?: AbortSignal;
}

/** What arrived: its SHA-256 in hex and its size. */
export interface Downloaded {
  sha256: string;
  bytes: number;
}

// A transfer that breaks off is resumed for as long as each try gets further than the last, up
// to this many tries in all.
const maximumTries = 10;

class HttpFailure extends Error {}

/**
 * Fetches `url` into the file at `path` (created or truncated). Where the connection breaks off
 * after some data, asks for the rest (`Range`, with `If-Range` so that a file changed meanwhile
 * is fetched whole again). Errors say `Downloading URL failed: why`; the caller removes the file.
 */
export async function downloadToFile(url: string, path: string, settings: DownloadSettings): Promise<Downloaded> {
  const { fetch, EnvHttpProxyAgent } = await import('undici');
  const dispatcher = new EnvHttpProxyAgent();
  const stalled = new AbortController();
  const signal = settings.signal ? AbortSignal.any([settings.signal, stalled.signal]) : stalled.signal;
  let timer = setTimeout(() => stalled.abort(), settings.timeoutMs);
  const file = await open(path, 'w');
  let hash: Hash = createHash('sha256');
  let receivedBytes = 0;
  let totalBytes: number | undefined;
  let validator: string | undefined;
  try {
    for (let tries = 1, furthest = 0; ; tries++) {
      const resuming = receivedBytes > 0;
      const headers: Record<string, string> = resuming
        ? { range: `bytes=${receivedBytes}-`, ...(validator ? { 'if-range': validator } : {}) }
        : {};
      try {
        const response = await fetch(url, { dispatcher, signal, headers });
        const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
        if (response.status === 206 && range && Number(range[1]) === receivedBytes) {
          totalBytes = Number(range[2]);
        } else if (response.ok && response.status !== 206) {
          // The whole file again: the server ignored the range, or the file changed.
          if (resuming) await file.truncate(0);
          hash = createHash('sha256');
          receivedBytes = 0;
          const length = response.headers.get('content-length');
          totalBytes = length === null ? undefined : Number(length);
        } else {
          throw new HttpFailure(`HTTP ${response.status} ${response.statusText}`);
        }
        if (!response.body) throw new HttpFailure(`HTTP ${response.status} with no body`);
        validator = response.headers.get('etag') ?? response.headers.get('last-modified') ?? undefined;
        for await (const chunk of response.body) {
          clearTimeout(timer);
          timer = setTimeout(() => stalled.abort(), settings.timeoutMs);
          hash.update(chunk);
          await file.write(chunk, 0, chunk.length, receivedBytes);
          receivedBytes += chunk.length;
          settings.onProgress?.({ receivedBytes, totalBytes });
        }
        if (totalBytes !== undefined && receivedBytes !== totalBytes) {
          throw new Error(`it ended after ${receivedBytes} of ${totalBytes} bytes`);
        }
        return { sha256: hash.digest('hex'), bytes: receivedBytes };
      } catch (error) {
        const gotFurther = receivedBytes > furthest;
        furthest = Math.max(furthest, receivedBytes);
        if (error instanceof HttpFailure || signal.aborted || !gotFurther || tries >= maximumTries) throw error;
      }
    }
  } catch (error) {
    if (settings.signal?.aborted) throw new AbortError(undefined, { cause: settings.signal.reason });
    if (stalled.signal.aborted)
      throw new Error(`Downloading ${url} failed: no data arrived for ${settings.timeoutMs / 1000} s`);
    const { message, cause } = error as Error;
    // fetch's own errors ('fetch failed', 'terminated') keep what happened in their cause.
    throw new Error(`Downloading ${url} failed: ${(cause as Error | undefined)?.message ?? message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    await file.close();
    // Nothing is left in flight that a caller wants: a refused reply's body is not read.
    await dispatcher.destroy();
  }
}
