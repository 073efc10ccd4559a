// `npm run demo`: draws an example content and style image (SVG, rasterised by sharp), then
// stylizes one with the other and prints where the result and its contact sheet went.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

import { cachedModelPath } from './options';
import { stylize } from './stylize';

const width = 320;
const height = 240;

/** A landscape: sky, sun, two hills, a house. */
const contentSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="#5b9bd5"/><stop offset="1" stop-color="#d6ecff"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <circle cx="250" cy="60" r="28" fill="#ffd34d"/>
  <ellipse cx="90" cy="250" rx="190" ry="95" fill="#4f9a3a"/>
  <ellipse cx="280" cy="260" rx="170" ry="80" fill="#3c7d2c"/>
  <rect x="120" y="120" width="80" height="62" fill="#c8553d"/>
  <polygon points="110,122 160,82 210,122" fill="#6b2d1f"/>
  <rect x="150" y="150" width="20" height="32" fill="#3b2416"/>
  <rect x="128" y="134" width="16" height="14" fill="#fff5c2"/>
</svg>`;

/** An abstract painting: bold strokes and rings in saturated colours. */
function styleSvg(): string {
  const colours = ['#e63946', '#f1a208', '#2a9d8f', '#264653', '#8338ec', '#ff006e'];
  const strokes = Array.from({ length: 36 }, (_, i) => {
    const x = (i * 53) % width;
    const y = (i * 97) % height;
    return `<line x1="${x}" y1="${y}" x2="${x + 60 - (i % 5) * 25}" y2="${y + 40}" stroke="${colours[i % colours.length]}" stroke-width="${6 + (i % 4) * 3}" stroke-linecap="round"/>`;
  });
  const rings = Array.from(
    { length: 8 },
    (_, i) =>
      `<circle cx="${(i * 89) % width}" cy="${(i * 61) % height}" r="${14 + (i % 3) * 9}" fill="none" stroke="${colours[(i + 2) % colours.length]}" stroke-width="5"/>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <rect width="${width}" height="${height}" fill="#f4ead5"/>${strokes.join('')}${rings.join('')}</svg>`;
}

async function main(): Promise<void> {
  const folder = resolve(__dirname, '..', 'demo-output');
  mkdirSync(folder, { recursive: true });
  const contentPath = join(folder, 'content.png');
  const stylePath = join(folder, 'style.png');
  await sharp(Buffer.from(contentSvg)).png().toFile(contentPath);
  await sharp(Buffer.from(styleSvg())).png().toFile(stylePath);

  const model = process.env.NEURAL_STYLE_MODEL || (existsSync(cachedModelPath()) ? cachedModelPath() : 'random');
  // Untrained deep features only blur, so random weights use shallow layers and no smoothing.
  const untrainedSettings = {
    contentLayers: ['relu2_2'],
    styleLayers: ['relu1_1', 'relu2_1', 'relu3_1'],
    contentWeight: 1,
    tvWeight: 0,
  };
  if (model === 'random') {
    console.log(
      `No pretrained VGG-19 found (${cachedModelPath()} or NEURAL_STYLE_MODEL), so this demo uses random weights:\n` +
        'the result shows the optimisation at work, as texture, not an artistic style.\n' +
        '`npx neural-style download-model` downloads pretrained weights there (see models/README.md).',
    );
  }
  const output = join(folder, 'result.png');
  const iterations = 150;
  const result = await stylize({
    content: contentPath,
    style: stylePath,
    output,
    model,
    imageSize: 256,
    iterations,
    // Starting from the photo keeps the scene recognisable within a short CPU run.
    init: 'image',
    ...(model === 'random' ? untrainedSettings : {}),
    progressInterval: 25,
    // One picture of the run: the pair, snapshots along the way and the result.
    previewInterval: 50,
    contactSheet: true,
    onProgress: (event) =>
      console.log(`iteration ${event.iteration}/${iterations}  loss ${event.loss.toExponential(3)}`),
  });
  console.log(
    `content: ${contentPath}\nstyle:   ${stylePath}\nresult:  ${result.output}  (${(result.elapsedMs / 1000).toFixed(1)} s on ${result.device})\n` +
      `sheet:   ${result.contactSheet}  (the pair, a snapshot every 50 iterations, the result)`,
  );
}

process.removeAllListeners('warning');
main().catch((error: Error) => {
  console.error(`demo failed: ${error.message}`);
  process.exitCode = 1;
});
