// One picture of a run: the content, the styles, the snapshots and the result side by side, each
// labelled, for those who would rather look than read.
import sharp from 'sharp';

import { decodeImage } from './image';
import type { CheckedImageInput, RgbImage } from './image-input';

export interface Panel {
  label: string;
  image: CheckedImageInput;
}

const tile = 256;
const labelHeight = 24;
const gap = 8;
const columns = 4;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The panels, each fit in a 256-pixel square over its label, four to a row. */
export async function contactSheet(panels: Panel[]): Promise<RgbImage> {
  const images = await Promise.all(panels.map(({ label, image }) => decodeImage(image, label, tile)));
  const across = Math.min(columns, panels.length);
  const rows = Math.ceil(panels.length / columns);
  const width = gap + across * (tile + gap);
  const height = gap + rows * (tile + labelHeight + gap);
  const place = (index: number) => ({
    left: gap + (index % columns) * (tile + gap),
    top: gap + Math.floor(index / columns) * (tile + labelHeight + gap),
  });
  const labels = panels.map(({ label }, index) => {
    const { left, top } = place(index);
    return `<text x="${left + tile / 2}" y="${top + tile + 17}" text-anchor="middle" font-size="14">${escape(label)}</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">${labels.join('')}</svg>`;
  const { data, info } = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([
      ...images.map((image, index) => {
        const { left, top } = place(index);
        // Centred in its square.
        return {
          input: image.data,
          raw: { width: image.width, height: image.height, channels: 3 as const },
          left: left + Math.floor((tile - image.width) / 2),
          top: top + Math.floor((tile - image.height) / 2),
        };
      }),
      { input: Buffer.from(svg), left: 0, top: 0 },
    ])
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Where the contact sheet of a run writing `output` goes: out.png -> out.sheet.png. */
export function sheetPathOf(output: string): string {
  const dot = output.lastIndexOf('.');
  return `${output.slice(0, dot)}.sheet${output.slice(dot)}`;
}
