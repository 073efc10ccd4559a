// The command line's progress: a live line on a terminal, plain lines elsewhere.
import { ProgressLine, ProgressStream } from '../lib/progress-line';
import type { ProgressEvent } from '../lib/options';

function stream(isTTY: boolean): ProgressStream & { text: string; columns: number } {
  const written = { text: '', isTTY, columns: 100, write: (text: string) => ((written.text += text), true) };
  return written;
}

const event = (iteration: number, elapsedMs: number): ProgressEvent => ({
  iteration,
  iterations: 100,
  loss: 1234.5,
  content: 1000,
  style: 234,
  tv: 0.5,
  elapsedMs,
  scale: 1,
  scales: 1,
});

test('on a terminal: a line while loading, then one line redrawn with the rate and the time left', () => {
  const terminal = stream(true);
  let clock = 0;
  const line = new ProgressLine(terminal, 50, () => clock);
  expect(line.live).toBe(true);
  line.started();
  expect(terminal.text).toBe('\r\x1b[2KLoading the model and computing the targets…');
  line.update(event(1, 2000));
  clock = 50;
  line.update(event(2, 2500)); // within 100 ms of the last redraw: skipped
  clock = 200;
  line.update(event(11, 4000)); // 10 iterations in 2 s: 5 it/s, 89 left: 18 s
  const frames = terminal.text.split('\r\x1b[2K').slice(1);
  expect(frames).toEqual([
    'Loading the model and computing the targets…',
    'Iteration 1 / 100 · loss 1.2345e+3',
    'Iteration 11 / 100 · loss 1.2345e+3 · 5.00 it/s · 0:18 left',
  ]);
  clock = 210;
  line.update(event(100, 21800)); // the last is always drawn, with no time left: 99 in 19.8 s
  line.finish();
  expect(terminal.text.endsWith('Iteration 100 / 100 · loss 1.2345e+3 · 5.00 it/s\n')).toBe(true);
});

test('elsewhere: a plain line every printIter iterations and nothing while loading', () => {
  const file = stream(false);
  const line = new ProgressLine(file, 2);
  expect(line.live).toBe(false);
  line.started();
  for (let i = 1; i <= 4; i++) line.update(event(i, i * 100));
  line.finish();
  expect(file.text).toBe(
    'Iteration 2 / 100: loss 1.2345e+3 (content 1.0000e+3, style 2.3400e+2, tv 5.0000e-1)\n' +
      'Iteration 4 / 100: loss 1.2345e+3 (content 1.0000e+3, style 2.3400e+2, tv 5.0000e-1)\n',
  );
});

test('a line wider than the terminal is cut, not wrapped', () => {
  const narrow = stream(true);
  narrow.columns = 30;
  const line = new ProgressLine(narrow, 50, () => 0);
  line.started();
  expect(narrow.text).toBe('\r\x1b[2KLoading the model and comput…');
});
