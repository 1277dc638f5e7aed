import { describe, expect, it } from 'vitest';
import { groupingKeyFromLabels } from '../../src/domain/grouping-key.js';
import { PushError } from '../../src/domain/push-error.js';
import { sanitizeFamilies } from '../../src/domain/push-rules.js';
import { parseText } from '../../src/exposition/text-parser.js';

const key = groupingKeyFromLabels({ job: 'j', group: 'g' });
const sanitize = (text: string) => sanitizeFamilies(parseText(text), key, { utf8Names: false });

function refusal(text: string): string | undefined {
  try {
    sanitize(text);
    return undefined;
  } catch (err) {
    if (err instanceof PushError && err.kind === 'inconsistent') return err.message;
    throw err;
  }
}

describe('sanitizeFamilies: series repeated within a push', () => {
  it('refuses two series whose labels are equal once the grouping labels replace theirs, naming them', () => {
    expect(refusal('m{group="a",x="1"} 1\nm{group="b",x="1"} 2\n')).toMatch(
      /metric "m" has two series with the labels \{group="g",instance="",job="j",x="1"\}$/,
    );
    expect(refusal('m{x="1",y="2"} 1\nm{a="0"} 3\nm{y="2",x="1"} 2\n')).toMatch(/two series/);
  });

  it('keeps series that differ in one value, or where one has a label the other lacks', () => {
    const [family] = sanitize('m{x="1"} 1\nm{x="1",y=""} 2\nm 3\nm{x="2"} 4\nm{x="1",y="2"} 5\nm{x="1,y=2"} 6\n');
    expect(family!.metrics.map((m) => m.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sanitize('a{x="1"} 1\nb{x="1"} 2\n')).toHaveLength(2);
  });
});
