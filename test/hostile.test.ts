// Hostile images, generated: every one must be refused with an error that names the input it was
// given as and why it could not be read, before any native work, without crashing, hanging or
// leaving a file behind. Prints "N cases, N clean".
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

import { stylize, StylizeOptions } from '../lib';
import { fixture, pattern, patternPng, temporaryDir } from './helpers';

const inputs = ['content', 'style', 'initImage'] as const;

/** Images that no decoder should take: each format cut short at many points, and other damage. */
async function hostileImages(): Promise<Array<[string, Buffer]>> {
  const { data, width, height } = pattern(40, 32, 3);
  const raw = sharp(data, { raw: { width, height, channels: 3 } });
  const formats = {
    png: await raw.clone().png().toBuffer(),
    jpeg: await raw.clone().jpeg().toBuffer(),
    webp: await raw.clone().webp().toBuffer(),
  };
  const cases: Array<[string, Buffer]> = [];
  for (const [format, encoded] of Object.entries(formats)) {
    // Cut short: from the signature alone to the last tenth, in 24 steps.
    for (let step = 0; step < 24; step++) {
      const length = Math.max(4, Math.floor((encoded.length * 0.9 * step) / 24));
      cases.push([`${format} cut to ${length} of ${encoded.length} bytes`, encoded.subarray(0, length)]);
    }
    // Its signature, then noise.
    for (let seed = 1; seed <= 6; seed++) {
      const noise = Buffer.from(encoded.subarray(0, 16));
      const rest = Buffer.alloc(200);
      for (let i = 0; i < rest.length; i++) rest[i] = (i * 131 + seed * 7919) % 256;
      cases.push([`${format} signature then noise ${seed}`, Buffer.concat([noise, rest])]);
    }
  }
  for (let seed = 1; seed <= 10; seed++) {
    const noise = Buffer.alloc(64 * seed);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 197 + seed * 31) % 256;
    cases.push([`${noise.length} bytes of noise`, noise]);
  }
  cases.push(['a text file', Buffer.from('not an image at all\n')]);
  return cases;
}

test('every hostile image, as every input, is refused by name with its reason', async () => {
  const dir = temporaryDir();
  const output = join(dir, 'out.png');
  const good = await patternPng(0);
  const images = await hostileImages();
  let clean = 0;
  const unclean: string[] = [];
  for (const input of inputs) {
    for (const [title, bytes] of images) {
      const options: StylizeOptions = {
        content: good,
        style: good,
        model: fixture('tiny-numbered.pt'),
        imageSize: 40,
        iterations: 1,
        output,
        [input]: bytes,
      };
      let progressed = false;
      const error = (await stylize({ ...options, onProgress: () => (progressed = true) }).catch((e: unknown) => e)) as
        Error | undefined;
      const message = error instanceof Error ? error.message : String(error);
      const named = new RegExp(
        `^Could not read ${input} \\(a Buffer of ${bytes.length} bytes\\) as an image: (?!Unknown error).+`,
      ).test(message);
      if (error && named && !progressed && readdirSync(dir).length === 0) clean++;
      else unclean.push(`${input}, ${title}: ${error ? message : 'ran'}`);
    }
  }
  const cases = inputs.length * images.length;
  console.log(`${cases} cases, ${clean} clean`);
  expect(unclean).toEqual([]);
  expect(cases).toBeGreaterThanOrEqual(300);
});
