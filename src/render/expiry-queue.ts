/**
 * Group expiry times in a binary min-heap, so that a scrape learns whether any group expired with
 * one comparison against the earliest time instead of a scan over every group. A group's time is
 * replaced by pushing a new entry; the old one is skipped when it surfaces (lazy deletion), and
 * the heap is rebuilt when such stale entries outnumber the live ones.
 */
export class ExpiryQueue {
  private heap: { at: number; id: number }[] = [];
  private readonly current = new Map<number, number>();

  /** Sets or replaces the expiry of group `id`; undefined = never. */
  set(id: number, at: number | undefined): void {
    if (at === undefined) {
      this.current.delete(id);
      return;
    }
    if (this.current.get(id) === at) return;
    this.current.set(id, at);
    this.push({ at, id });
    if (this.heap.length > 2 * this.current.size + 64) this.rebuild();
  }

  delete(id: number): void {
    this.current.delete(id);
  }

  clear(): void {
    this.heap = [];
    this.current.clear();
  }

  /** Number of groups with an expiry. */
  get size(): number {
    return this.current.size;
  }

  /** Removes and returns the groups whose expiry is at or before `now`, earliest first. */
  takeDue(now: number): number[] {
    const due: number[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const top = this.pop();
      if (this.current.get(top.id) === top.at) {
        this.current.delete(top.id);
        due.push(top.id);
      }
    }
    return due;
  }

  private rebuild(): void {
    this.heap = [...this.current].map(([id, at]) => ({ at, id }));
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private push(entry: { at: number; id: number }): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): { at: number; id: number } {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const entry = heap[start]!;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]!.at < heap[child]!.at) child++;
      if (heap[child]!.at >= entry.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = entry;
  }
}
