import { describe, expect, it } from 'vitest';
import { negotiateScrape, negotiateScrapeFormat, type Negotiated, type ScrapeFormat } from '../../src/exposition/negotiate.js';

const PB = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited';

describe('negotiateScrapeFormat', () => {
  it.each<[string, string | undefined, ScrapeFormat]>([
    ['no header', undefined, 'text'],
    ['empty header', '', 'text'],
    ['*/*', '*/*', 'text'],
    ['JSON', 'application/json', 'text'],
    ['text 0.0.5', 'text/plain;version=0.0.5', 'text'],
    ['text without version', 'text/plain', 'text'],
    ['protobuf delimited', PB, 'protobuf'],
    ['protobuf text encoding is not served', 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text', 'text'],
    ['higher q wins', `text/plain;q=0.5, ${PB};q=0.7`, 'protobuf'],
    ['equal q keeps header order (text first)', `text/plain, ${PB}`, 'text'],
    ['equal q keeps header order (protobuf first)', `${PB}, text/plain`, 'protobuf'],
    ['q=0 is not acceptable', `${PB};q=0, text/plain;q=0.1`, 'text'],
    ['OpenMetrics 1.0.0', 'application/openmetrics-text;version=1.0.0', 'openmetrics'],
    ['OpenMetrics 0.0.1', 'application/openmetrics-text; version=0.0.1', 'openmetrics'],
    ['OpenMetrics without version', 'application/openmetrics-text', 'openmetrics'],
    ['OpenMetrics 2.0.0 is skipped', 'application/openmetrics-text;version=2.0.0, text/plain;q=0.1', 'text'],
    [
      'Prometheus 2.x default',
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    [
      'Prometheus 2.x with native histograms',
      `${PB},application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`,
      'protobuf',
    ],
    [
      'Prometheus 3.x default',
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1',
      'openmetrics',
    ],
    ['Prometheus text-only scrape_protocols', 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'text'],
    ['case-insensitive type', 'Application/OpenMetrics-Text; Version=1.0.0', 'openmetrics'],
    ['malformed entries are skipped', `;;;, ${PB}`, 'protobuf'],
  ])('%s', (_name, accept, expected) => {
    expect(negotiateScrapeFormat(accept)).toBe(expected);
  });
});

describe('negotiateScrape: escaping= and text 1.0.0', () => {
  const PROMETHEUS_3 =
    'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
  it.each<[string, string | undefined, Negotiated]>([
    ['no header', undefined, { format: 'text', escaping: 'underscores', textVersion: '0.0.4', echoEscaping: undefined }],
    ['Prometheus 3 default', PROMETHEUS_3, { format: 'openmetrics', escaping: 'allow-utf-8', textVersion: '0.0.4', echoEscaping: 'allow-utf-8' }],
    [
      'Prometheus 3 text-only',
      'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      { format: 'text', escaping: 'allow-utf-8', textVersion: '1.0.0', echoEscaping: 'allow-utf-8' },
    ],
    ['text 1.0.0 without escaping', 'text/plain;version=1.0.0', { format: 'text', escaping: 'underscores', textVersion: '1.0.0', echoEscaping: undefined }],
    ['dots', 'text/plain;version=0.0.4;escaping=dots', { format: 'text', escaping: 'dots', textVersion: '0.0.4', echoEscaping: 'dots' }],
    ['values on protobuf', `${PB};escaping=values`, { format: 'protobuf', escaping: 'values', textVersion: '0.0.4', echoEscaping: 'values' }],
    ['an unknown scheme is ignored', 'text/plain;escaping=bogus', { format: 'text', escaping: 'underscores', textVersion: '0.0.4', echoEscaping: undefined }],
    [
      'the scheme of an entry not served does not carry over',
      'application/openmetrics-text;version=2.0.0;escaping=dots, text/plain;q=0.1',
      { format: 'text', escaping: 'underscores', textVersion: '0.0.4', echoEscaping: undefined },
    ],
  ])('%s', (_name, accept, expected) => {
    expect(negotiateScrape(accept)).toEqual(expected);
  });
});
