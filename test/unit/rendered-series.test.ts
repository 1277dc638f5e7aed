import { describe, expect, it } from 'vitest';
import { parseOpenMetrics } from '../../src/exposition/openmetrics-parser.js';
import { parseText } from '../../src/exposition/text-parser.js';
import { fromStored, renderSeries, toStored } from '../../src/render/rendered-series.js';

const families = parseText(
  [
    '# TYPE g gauge',
    'g{a="x\\"y\\\\z\\nw",b="Björn"} -0',
    'g{a="2"} NaN',
    'g +Inf',
    'g{a="3",c=""} -Inf',
    '# TYPE h histogram',
    'h_bucket{le="0.5"} 1',
    'h_bucket{le="+Inf"} 3',
    'h_sum 1.5e-7',
    'h_count 3',
    '# TYPE s summary',
    's{quantile="0.9",job="x"} 2',
    's_sum{job="x"} 5',
    's_count{job="x"} 2',
    '# TYPE "dotted.name" counter',
    '{"dotted.name","lbl.x"="v"} 1e+21',
    '',
  ].join('\n'),
  { utf8Names: true },
);

describe('a family rendering kept by the store', () => {
  const legacy = families.filter((f) => f.name !== 'dotted.name');
  it.each(legacy.map((f) => [f.name, f] as const))('%s reads back as rendered', (_name, family) => {
    const rendered = renderSeries(family);
    const stored = toStored(rendered);
    expect(stored).toBeDefined();
    expect(fromStored(stored!)).toEqual(rendered);
  });

  it('is written in format 1 (change the renderer or the sort keys: bump STORED_VERSION, then this)', () => {
    // A start trusts a stored rendering of its own version: output from an older renderer would
    // be served as is, so a change to either must come with a new version.
    expect(toStored(renderSeries(parseText('x{a="1",b="2"} 3.5\n')[0]!))).toBe(String.raw`[1,["\u00021\u00002\u0000"],["x{a=\"1\",b=\"2\"} 3.5\n"]]`);
  });

  it('is not kept for series whose text lines cannot say all (an exemplar)', () => {
    const [counter] = parseOpenMetrics('# TYPE c counter\nc_total 1 # {trace_id="abc"} 1\n# EOF\n');
    expect(counter!.metrics[0]!.exemplar).toBeDefined();
    expect(toStored(renderSeries(counter!))).toBeUndefined();
  });

  it('is not kept for UTF-8 names, which scrapes with another escaping scheme render from the series as pushed', () => {
    const dotted = families.find((f) => f.name === 'dotted.name')!;
    const rendered = renderSeries(dotted);
    expect(rendered.texts).toEqual(['dotted_name{lbl_x="v"} 1e+21\n']);
    expect(rendered.original).toEqual(dotted.metrics);
    expect(toStored(rendered)).toBeUndefined();
  });

  it.each([
    ['another version', '[2,["\\u0000"],["x 1\\n"]]'],
    ['not JSON', '[1,["'],
    ['not an array', '{"v":1}'],
    ['keys and lines of different counts', '[1,["\\u0000","\\u0000"],["x 1\\n"]]'],
    ['a line that is no string', '[1,["\\u0000"],[1]]'],
  ])('is ignored when it is %s', (_name, stored) => {
    expect(fromStored(stored)).toBeUndefined();
  });
});
