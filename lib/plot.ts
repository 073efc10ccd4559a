// A run's record drawn as a loss curve: content, style and total-variation loss against the
// iterations, on a log scale, one line each, with the scales of a coarse-to-fine run marked.
import type { RunRecord } from './record';

const width = 800;
const height = 420;
const margin = { left: 70, right: 110, top: 30, bottom: 45 };
const series = [
  { term: 'content', colour: '#1f77b4' },
  { term: 'style', colour: '#d62728' },
  { term: 'tv', colour: '#2ca02c' },
] as const;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The SVG of `record`'s loss curves; a term that is 0 throughout (its weight 0) has no line. */
export function lossPlot(record: RunRecord): string {
  const points = record.iterations;
  if (points.length === 0) throw new Error('The record has no iterations to plot');
  const drawn = series.filter(({ term }) => points.some((point) => point[term] > 0));
  const values = drawn.flatMap(({ term }) => points.map((point) => point[term]).filter((value) => value > 0));
  const low = Math.floor(Math.log10(Math.min(...values)));
  const high = Math.max(low + 1, Math.ceil(Math.log10(Math.max(...values))));
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (index: number) => margin.left + (points.length === 1 ? 0 : (index / (points.length - 1)) * plotWidth);
  const y = (value: number) => margin.top + ((high - Math.log10(value)) / (high - low)) * plotHeight;

  const parts: string[] = [
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`,
  ];
  for (let power = low; power <= high; power++) {
    const at = y(10 ** power).toFixed(1);
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${at}" y2="${at}" stroke="#eee"/>`,
      `<text x="${margin.left - 8}" y="${at}" text-anchor="end" dominant-baseline="middle" font-size="12">1e${power}</text>`,
    );
  }
  // Where each scale after the first begins.
  points.forEach((point, index) => {
    if (index === 0 || point.scale === points[index - 1].scale) return;
    const at = x(index).toFixed(1);
    const size = record.scales[point.scale - 1]?.size;
    parts.push(
      `<line x1="${at}" x2="${at}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#999" stroke-dasharray="4 3"/>`,
      `<text x="${at}" y="${margin.top - 8}" text-anchor="middle" font-size="12">${size ? `${size} px` : `scale ${point.scale}`}</text>`,
    );
  });
  for (const [rank, { term, colour }] of drawn.entries()) {
    const path = points
      .map((point, index) => [index, point[term]] as const)
      .filter(([, value]) => value > 0)
      .map(([index, value], at) => `${at === 0 ? 'M' : 'L'}${x(index).toFixed(1)},${y(value).toFixed(1)}`)
      .join('');
    parts.push(
      `<path d="${path}" fill="none" stroke="${colour}" stroke-width="1.5"/>`,
      `<text x="${margin.left + plotWidth + 12}" y="${margin.top + 16 + rank * 18}" font-size="13" fill="${colour}">${term}</text>`,
    );
  }
  const last = points.length;
  parts.push(
    `<text x="${margin.left}" y="${height - 12}" font-size="12">1</text>`,
    `<text x="${margin.left + plotWidth}" y="${height - 12}" text-anchor="end" font-size="12">${last}</text>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle" font-size="13">iterations (${escape(record.package)}, ${escape(record.device)})</text>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">\n${parts.join('\n')}\n</svg>\n`;
}
