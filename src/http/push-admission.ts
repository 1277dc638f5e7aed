/**
 * Lets pushes whose bodies add up to at most `capacityBytes` parse and write at once (the store's
 * pushBytesAtOnce); the others wait in arrival order with their bodies read but not parsed. A
 * body larger than the whole capacity goes alone. A request holds its share from the end of its
 * body to its reply. Counted in body bytes because what a push keeps alive until its commit (its
 * parsed series, their renderings) grows with its body, and small pushes gain most from sharing a
 * commit.
 */
export class PushAdmission {
  private activeBytes = 0;
  private active = 0;
  private readonly waiting: { readonly bytes: number; readonly admit: () => void }[] = [];

  constructor(private readonly capacityBytes: number) {}

  /**
   * Undefined when the push may go on at once, else a promise of its turn; either way the caller
   * must then call leave() with the same bytes exactly once.
   */
  enter(bytes: number): Promise<void> | undefined {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.admit(bytes);
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push({ bytes, admit: resolve }));
  }

  leave(bytes: number): void {
    this.active--;
    this.activeBytes -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.admit(next.bytes);
      next.admit();
    }
  }

  private fits(bytes: number): boolean {
    return this.active === 0 || this.activeBytes + bytes <= this.capacityBytes;
  }

  private admit(bytes: number): void {
    this.active++;
    this.activeBytes += bytes;
  }
}
