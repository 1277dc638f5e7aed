/**
 * The texts of lists rendered one after another, each the concatenation of a start and its
 * items' pieces, where a list often shares its leading items with the one before it: a family's
 * series share their leading labels (the grouping labels sort among them). The text up to the
 * last item a list shares, in the same positions, with the previous list is reused rather than
 * built again, which spares most of the garbage of rendering many series label by label.
 */
export class PrefixReusingText<T> {
  private previous: readonly T[] = [];
  /** prefixes[i]: the text of the previous list's items 0..i, with the start. */
  private readonly prefixes: string[] = [];

  /** `piece(item, first)`: one item's text; `same`: whether two items render alike. */
  constructor(
    private readonly start: string,
    private readonly piece: (item: T, first: boolean) => string,
    private readonly same: (a: T, b: T) => boolean,
  ) {}

  /** The start followed by every item's piece. */
  of(items: readonly T[]): string {
    const previous = this.previous;
    let shared = 0;
    while (shared < items.length && shared < previous.length && this.same(items[shared]!, previous[shared]!)) shared++;
    let out = shared > 0 ? this.prefixes[shared - 1]! : this.start;
    for (let i = shared; i < items.length; i++) {
      out += this.piece(items[i]!, i === 0);
      this.prefixes[i] = out;
    }
    this.previous = items;
    return out;
  }
}
