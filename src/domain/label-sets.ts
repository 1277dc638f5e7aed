import type { LabelPair } from '../exposition/types.js';

interface Node {
  /** Label name, then label value, to the node of the label sets continuing with that pair. */
  next: Map<string, Map<string, Node>> | undefined;
  /** A label set ends here. */
  end: boolean;
}

/**
 * The label sets (each sorted by name) of one family's series, to find a series that repeats one:
 * a tree keyed by the names and values the parser already made, so that adding a series builds no
 * text (a series identity string per series was half of sanitizing a push).
 */
export class LabelSets {
  private readonly root: Node = { next: undefined, end: false };

  /** Adds a label set; false when an equal one was added before. */
  add(labels: readonly LabelPair[]): boolean {
    let node = this.root;
    for (const l of labels) {
      let byValue = (node.next ??= new Map()).get(l.name);
      if (byValue === undefined) node.next.set(l.name, (byValue = new Map()));
      let child = byValue.get(l.value);
      if (child === undefined) byValue.set(l.value, (child = { next: undefined, end: false }));
      node = child;
    }
    if (node.end) return false;
    node.end = true;
    return true;
  }
}
