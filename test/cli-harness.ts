// Runs the command line in the test's own process with stylize() replaced, to see the options a
// command line gives it. A test file using it starts with
//   jest.mock('../lib/stylize', () => jest.requireActual('./cli-harness').stylizeMock);
import { main } from '../lib/cli';
import type { OptionTable, StylizeOptions } from '../lib/options';

export const stylizeMock = {
  stylize: jest.fn(async (options: StylizeOptions) => ({
    output: options.output,
    iterations: options.iterations,
    device: 'cpu',
    elapsedMs: 1,
    loss: 1,
  })),
};

/** The options `args` give stylize(); with `table`, the command line of that option table. */
export async function stylizeOptionsOf(args: string[], table?: OptionTable): Promise<StylizeOptions> {
  const { stylize } = jest.requireMock('../lib/stylize') as typeof stylizeMock;
  stylize.mockClear();
  const print = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await main(args, undefined, table);
  } finally {
    print.mockRestore();
  }
  expect(stylize).toHaveBeenCalledTimes(1);
  return stylize.mock.calls[0][0];
}
