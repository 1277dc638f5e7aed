/**
 * Lets at most `capacity` pushes parse and write their bodies at once (the store's pushesAtOnce);
 * the others wait in arrival order with their bodies read but not parsed. A request holds its turn
 * from the end of its body to its reply.
 */
export class PushAdmission {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  /** Resolves when the caller may go on; the caller must then call leave() exactly once. */
  enter(): Promise<void> | undefined {
    if (this.active < this.capacity) {
      this.active++;
      return undefined;
    }
    // The slot passes straight from leave() to the next in line: `active` never drops between.
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /** Pushes holding a slot and pushes waiting for one. */
  get load(): { readonly active: number; readonly waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
