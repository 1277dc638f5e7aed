/**
 * The texts of lists rendered one after another, each the concatenation of a start and its
 * items' pieces, where a list often shares its leading items with the one before it: a family's
 * series share their leading labels (the grouping labels sort among them). The text up to the
 * last item a list shares, in the same positions, with the previous list is reused rather than
 * built again, which spares most of the garbage of rendering many series label by label.
 */
export class PrefixReusingText<T> {
  /** The previous list's items (copied: a caller may reuse its array for the next list). */
  private readonly items: T[] = [];
  private count = 0;
  /** prefixes[i]: the text of the previous list's items 0..i, with the start. */
  private readonly prefixes: string[] = [];

  /** `piece(item, first)`: one item's text; `same`: whether two items render alike. */
  constructor(
    private readonly start: string,
    private readonly piece: (item: T, first: boolean) => string,
    private readonly same: (a: T, b: T) => boolean,
  ) {}

  /** The start followed by every item's piece. */
  of(list: readonly T[]): string {
    const items = this.items;
    const limit = Math.min(list.length, this.count);
    let shared = 0;
    while (shared < limit && this.same(list[shared]!, items[shared]!)) shared++;
    let out = shared > 0 ? this.prefixes[shared - 1]! : this.start;
    for (let i = shared; i < list.length; i++) {
      const item = list[i]!;
      out += this.piece(item, i === 0);
      items[i] = item;
      this.prefixes[i] = out;
    }
    this.count = list.length;
    return out;
  }
}
