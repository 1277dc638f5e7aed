/**
 * Sorts `items` in place by insertion, for the few-element arrays a push sorts per series (a
 * series' labels, a family's series keys). V8's Array.prototype.sort copies every array into a
 * workspace first, which for a push's many short arrays is a large share of its garbage
 * (docs/performance.md). Longer arrays go to Array.prototype.sort, whose O(n log n) wins there.
 */
export function sortSmall<T>(items: T[], compare: (a: T, b: T) => number): T[] {
  const n = items.length;
  if (n > SMALL) return items.sort(compare);
  for (let i = 1; i < n; i++) {
    const item = items[i]!;
    let j = i - 1;
    while (j >= 0 && compare(items[j]!, item) > 0) {
      items[j + 1] = items[j]!;
      j--;
    }
    items[j + 1] = item;
  }
  return items;
}

const SMALL = 16;
