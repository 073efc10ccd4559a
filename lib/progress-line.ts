// What the command line shows while a run goes on. On a terminal: one line, redrawn in place, with
// the iteration, the loss, iterations a second and the time left, and before the first iteration
// a line saying that the model loads and the targets are computed. Elsewhere (a file, a pipe):
// a plain line every `printIter` iterations, which logs keep. A download's line is the same: on
// a terminal the bytes, the rate and the time left, redrawn; elsewhere a line at each tenth.
import type { DownloadProgress } from './download';
import type { ProgressEvent } from './options';

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

const exponential = (value: number) => value.toExponential(4);

function duration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const [hours, minutes, rest] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  const two = (value: number) => String(value).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(minutes)}:${two(rest)}` : `${minutes}:${two(rest)}`;
}

/** One line redrawn in place on a terminal. */
class LiveLine {
  protected drawnAt = -Infinity;
  private drawn = false;

  /** `now` is a clock in milliseconds; a redraw comes at most every `redrawMs`. */
  constructor(
    protected readonly stream: ProgressStream,
    protected readonly now: () => number = () => performance.now(),
    protected readonly redrawMs = 100,
  ) {}

  /** Whether every event should be reported to this line (a terminal redraws it). */
  get live(): boolean {
    return this.stream.isTTY === true;
  }

  /** Ends the live line, so that what follows starts on a line of its own. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  protected draw(text: string): void {
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.drawn = true;
    this.drawnAt = this.now();
  }
}

export class ProgressLine extends LiveLine {
  private first?: ProgressEvent;

  constructor(
    stream: ProgressStream,
    private readonly printIter: number,
    now?: () => number,
    redrawMs?: number,
  ) {
    super(stream, now, redrawMs);
  }

  started(): void {
    if (this.live) this.draw('Loading the model and computing the targets…');
  }

  update(event: ProgressEvent): void {
    const scale = event.scales > 1 ? `Scale ${event.scale} / ${event.scales}, ` : '';
    if (!this.live) {
      if (this.printIter > 0 && event.iteration % this.printIter === 0) {
        this.stream.write(
          `${scale}Iteration ${event.iteration} / ${event.iterations}: loss ${exponential(event.loss)} ` +
            `(content ${exponential(event.content)}, style ${exponential(event.style)}, tv ${exponential(event.tv)})\n`,
        );
      }
      return;
    }
    // The first and the last iteration of each scale are always drawn; those between, at most
    // every redrawMs. Each scale counts its iterations and time afresh.
    const first = this.first?.scale !== event.scale;
    if (first) this.first = event;
    const last = event.iteration === event.iterations;
    if (!first && !last && this.now() - this.drawnAt < this.redrawMs) return;
    const done = event.iteration - this.first!.iteration;
    const perSecond = done > 0 ? (done * 1000) / (event.elapsedMs - this.first!.elapsedMs) : undefined;
    const rate = perSecond === undefined ? '' : ` · ${perSecond.toFixed(perSecond < 10 ? 2 : 1)} it/s`;
    const left =
      perSecond === undefined || last ? '' : ` · ${duration((event.iterations - event.iteration) / perSecond)} left`;
    this.draw(
      `${scale}Iteration ${event.iteration} / ${event.iterations} · loss ${exponential(event.loss)}${rate}${left}`,
    );
  }
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export class DownloadLine extends LiveLine {
  private readonly startedAt = this.now();
  private reported = -1;

  update({ receivedBytes, totalBytes }: DownloadProgress): void {
    const of = totalBytes ? ` of ${megabytes(totalBytes)}` : '';
    if (!this.live) {
      const tenth = totalBytes ? Math.floor((receivedBytes / totalBytes) * 10) : Math.floor(receivedBytes / 50e6);
      if (tenth === this.reported) return;
      this.reported = tenth;
      this.stream.write(`Downloaded ${megabytes(receivedBytes)}${of}\n`);
      return;
    }
    const done = totalBytes !== undefined && receivedBytes >= totalBytes;
    if (!done && this.now() - this.drawnAt < this.redrawMs) return;
    const seconds = (this.now() - this.startedAt) / 1000;
    const perSecond = seconds > 0 ? receivedBytes / seconds : undefined;
    const rate = perSecond === undefined ? '' : ` · ${megabytes(perSecond)}/s`;
    const left =
      perSecond === undefined || !totalBytes || done
        ? ''
        : ` · ${duration((totalBytes - receivedBytes) / perSecond)} left`;
    const percent = totalBytes ? ` (${Math.floor((receivedBytes / totalBytes) * 100)}%)` : '';
    this.draw(`Downloaded ${megabytes(receivedBytes)}${of}${percent}${rate}${left}`);
  }
}
