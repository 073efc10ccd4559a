// Real photographs and paintings, read from ../shared/images beside the checkout when it is
// there (they are never copied into the project).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { stylize } from '../lib';
import { decodeImage, scaledSize } from '../lib/image';
import { colourDistance, fixture } from './helpers';

const images = join(__dirname, '..', '..', 'shared', 'images');
const present = existsSync(images);
// Twenty iterations from the photograph, on the full-size VGG-19, in the style of a painting.
const shortRun = () =>
  ({
    style: join(images, 'starry_night.jpg'),
    model: fixture('vgg19-full.pt'),
    imageSize: 96,
    iterations: 20,
    init: 'image',
    device: 'cpu',
  }) as const;
if (!present) console.warn(`Skipping the tests on real images: ${images} is not there`);
const names = present ? readdirSync(images).filter((name) => /\.(jpe?g|png)$/i.test(name)) : ['each image'];

(present ? describe : describe.skip)('real images', () => {
  test.each(names)('%s decodes to the size the memory check predicts from its header', async (name) => {
    const path = join(images, name);
    const predicted = await scaledSize(path, name, 512);
    const decoded = await decodeImage(path, name, 512);
    expect({ width: decoded.width, height: decoded.height }).toEqual(predicted);
    expect(Math.max(decoded.width, decoded.height)).toBe(512);
    expect(decoded.data.length).toBe(decoded.width * decoded.height * 3);
  });

  test.each(['float32', 'bfloat16'] as const)(
    'a photograph in the style of a painting, %s: the loss falls and the image moves off the photograph',
    async (precision) => {
      const content = join(images, 'tubingen.jpg');
      const losses: number[] = [];
      const result = await stylize({
        ...shortRun(),
        content,
        precision,
        onProgress: (event) => losses.push(event.loss),
      });
      expect(losses).toHaveLength(20);
      expect(losses[19]).toBeLessThan(losses[0] * 0.1);
      const photo = await decodeImage(content, 'content', 96);
      let difference = 0;
      for (let i = 0; i < photo.data.length; i++) difference += Math.abs(photo.data[i] - result.image.data[i]);
      expect(difference / photo.data.length).toBeGreaterThan(5);
    },
  );

  test("with originalColors, the photograph in a painting's style keeps the photograph's colours", async () => {
    const content = join(images, 'tubingen.jpg');
    const photo = await decodeImage(content, 'content', 96);
    const distances = [];
    for (const originalColors of [false, true]) {
      const result = await stylize({
        ...shortRun(),
        content,
        originalColors,
      });
      distances.push(colourDistance(result.image.data, photo.data));
    }
    // The painting's colours move the plain result (16 on this machine); the other keeps the
    // photograph's, but for pixels where the new luminance clips.
    expect(distances[0]).toBeGreaterThan(5);
    expect(distances[1]).toBeLessThan(1);
  });
});
