// Command lines of jcjohnson/neural-style and neural-style-pt, as their READMEs print them, read
// into the options they mean. stylize() itself is replaced: the models and images they name are
// not here, and each command line is checked only for what it asks.
import { main } from '../lib/cli';
import { stylizeOptionsOf } from './cli-harness';

jest.mock('../lib/stylize', () => jest.requireActual('./cli-harness').stylizeMock);

/** The options a command line, as printed after its program's name, gives stylize(). */
async function optionsOf(commandLine: string): Promise<Record<string, unknown>> {
  const {
    onProgress: _onProgress,
    signal: _signal,
    ...options
  } = await stylizeOptionsOf(commandLine.trim().split(/\s+/));
  return options;
}

// jcjohnson/neural-style's README, "Usage": `th neural_style.lua` and then these.
const jcjohnsonOpenCl =
  '-style_image examples/inputs/picasso_selfport1907.jpg -content_image examples/inputs/brad_pitt.jpg -output_image profile.png ' +
  '-model_file models/nin_imagenet_conv.caffemodel -proto_file models/train_val.prototxt -gpu 0 -backend clnn -num_iterations 1000 -seed 123 ' +
  '-content_layers relu0,relu3,relu7,relu12 -style_layers relu0,relu3,relu7,relu12 -content_weight 10 -style_weight 1000 -image_size 512 -optimizer adam';
// neural-style-pt's README, "Usage": `python neural_style.py` and then these.
const neuralStylePtCudnn =
  '-style_image examples/inputs/picasso_selfport1907.jpg -content_image examples/inputs/brad_pitt.jpg -output_image profile.png ' +
  '-model_file models/nin_imagenet.pth -gpu 0 -backend cudnn -num_iterations 1000 -seed 123 -content_layers relu0,relu3,relu7,relu12 ' +
  '-style_layers relu0,relu3,relu7,relu12 -content_weight 10 -style_weight 500 -image_size 512 -optimizer adam';

// Their models are Caffe files and state dicts, which are refused with what to do instead (below);
// given as TorchScript, the rest of each command line is read as its program reads it.
const asTorchScript = (commandLine: string) => commandLine.replace(/models\/(nin_imagenet)\w*\.\w+/, 'models/$1.pt');

test.each([
  [
    "jcjohnson/neural-style's basic usage, which writes out.png",
    '-style_image starry.jpg -content_image tubingen.jpg',
    {},
  ],
  [
    'its OpenCL example, its model as TorchScript',
    asTorchScript(jcjohnsonOpenCl),
    { contentWeight: 10, styleWeight: 1000 },
  ],
  [
    "neural-style-pt's cuDNN example, its model as TorchScript",
    asTorchScript(neuralStylePtCudnn),
    { contentWeight: 10, styleWeight: 500 },
  ],
])('%s', async (_title, commandLine, weights) => {
  const options = await optionsOf(commandLine);
  if (commandLine.includes('-backend')) {
    expect(options).toEqual({
      style: ['examples/inputs/picasso_selfport1907.jpg'],
      content: 'examples/inputs/brad_pitt.jpg',
      output: 'profile.png',
      model: 'models/nin_imagenet.pt',
      device: 'cuda:0',
      iterations: 1000,
      seed: 123,
      contentLayers: ['relu0', 'relu3', 'relu7', 'relu12'],
      styleLayers: ['relu0', 'relu3', 'relu7', 'relu12'],
      imageSize: 512,
      optimizer: 'adam',
      progressInterval: 50,
      ...weights,
    });
  } else {
    expect(options).toEqual({
      style: ['starry.jpg'],
      content: 'tubingen.jpg',
      output: 'out.png',
      progressInterval: 50,
    });
  }
});

test.each<[string, Record<string, unknown>]>([
  ['-gpu -1', { device: 'cpu' }],
  ['-gpu c', { device: 'cpu' }],
  ['-gpu 2', { device: 'cuda:2' }],
  ['-backend cudnn', { device: 'cuda' }],
  ['-backend cudnn -gpu -1', { device: 'cpu' }],
  ['-backend nn -cudnn_autotune', {}],
  ['-original_colors 1', { originalColors: true }],
  ['-original_colors 0', { originalColors: false }],
  ['-lbfgs_num_correction 0', {}],
  ['-lbfgs_num_correction 7', { lbfgsHistory: 7 }],
  [
    '-normalize_gradients -init image -init_image start.png',
    { normalizeGradients: true, init: 'image', initImage: 'start.png' },
  ],
  ['-style_image a.jpg,b.jpg -style_blend_weights 3,7', { style: ['a.jpg', 'b.jpg'], styleBlendWeights: [3, 7] }],
  [
    '-tv_weight 0 -learning_rate 1e1 -pooling max -style_scale 0.5',
    { tvWeight: 0, learningRate: 10, pooling: 'max', styleScale: 0.5 },
  ],
  ['-print_iter 0 -save_iter 100', { progressInterval: 2 ** 31 - 1, previewInterval: 100 }],
])('%s', async (flags, expected) => {
  expect(await optionsOf(`-style_image s.jpg -content_image c.jpg ${flags}`)).toEqual({
    style: ['s.jpg'],
    content: 'c.jpg',
    output: 'out.png',
    progressInterval: 50,
    ...expected,
  });
});

test('-seed -1 draws a seed and says which', async () => {
  const said = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const { seed } = await optionsOf('-style_image s.jpg -content_image c.jpg -seed -1');
    expect(Number.isInteger(seed)).toBe(true);
    expect(said).toHaveBeenCalledWith(`neural-style: seed ${seed}\n`);
  } finally {
    said.mockRestore();
  }
});

test.each([
  [jcjohnsonOpenCl, /^-model_file models\/nin_imagenet_conv\.caffemodel is a Caffe model, which runs do not read/],
  [neuralStylePtCudnn, /^-model_file models\/nin_imagenet\.pth is a PyTorch state dict, which runs do not read/],
  ['-gpu 0,1', /^-gpu 0,1 asks for several devices, and neural-style runs on one: give one, such as -gpu 0$/],
  [
    '-multidevice_strategy 3,6,12',
    /^-multidevice_strategy splits the network over several devices, and neural-style runs on one: leave it out$/,
  ],
  [
    '-model_file models/vgg19-d01eb7cb.pth',
    /^-model_file models\/vgg19-d01eb7cb\.pth is a PyTorch state dict, which runs do not read: convert it once with neural-style convert-model --weights models\/vgg19-d01eb7cb\.pth --preprocess caffe, then give the result$/,
  ],
  [
    '-model_file models/VGG_ILSVRC_19_layers.caffemodel',
    /is a Caffe model, which runs do not read: neural-style download-model fetches and converts the same VGG-19$/,
  ],
  ['-original_colors yes', /^Expected 0 or 1 for -original_colors but received yes$/],
  ['-backend opencl', /^Expected one of nn, cudnn, clnn, mkl, openmp, mkldnn for -backend but received opencl$/],
  ['-num_iteration 5', /^Unknown flag -num_iteration: did you mean -num_iterations\?$/],
  ['-image_size', /^-image_size needs a value$/],
])('%s is refused clearly', async (flags, message) => {
  const commandLine = flags.includes('-content_image') ? flags : `-style_image s.jpg -content_image c.jpg ${flags}`;
  await expect(main(commandLine.split(' '))).rejects.toThrow(message);
});
