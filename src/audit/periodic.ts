// The audit trail's background passes (integration, chain verification, checkpoints) share one
// loop: run now, then again `intervalMs` after each pass ends (never two at once), or after the
// delay the pass itself answers (the integrator's busy and idle pauses), until stopped; a failed
// pass is reported and the next one still runs. Timers are unref'd so they never keep a process
// alive.
export class PeriodicPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    /** One pass; a number it answers is the delay before the next, instead of `intervalMs`. */
    private readonly pass: () => Promise<number | void>,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Waits for a pass in progress, so that the database can be closed after. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number) {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      let next = this.intervalMs;
      this.running = this.pass()
        .then((delayMs) => {
          if (typeof delayMs === 'number') next = delayMs;
        })
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
          this.schedule(next);
        });
    }, delayMs);
    this.timer.unref();
  }
}
