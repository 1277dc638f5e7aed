import { FLAGS } from './flags.js';

/** `pushkeep --help`: every flag with its default and environment variable, in table order. */
export function helpText(): string {
  const lines = [
    'usage: pushkeep [<flags>]',
    '       pushkeep sql [--format=table|csv|json] [<storage flags>] "<SELECT ...>"   (read-only SQL; see pushkeep sql --help)',
    '',
    'A Prometheus Pushgateway that keeps what it is told: durable (SQLite/PostgreSQL), expiring, queryable.',
    'Every flag can also be set with the environment variable shown; the command line wins.',
    '',
    'Flags:',
    '  -h, --help',
    '      Show this help and exit.',
    '  --version',
    '      Show the version and exit.',
  ];
  for (const spec of FLAGS) {
    let usage: string;
    switch (spec.type) {
      case 'boolean':
        usage = `--[no-]${spec.name}`;
        break;
      case 'enum':
        usage = `--${spec.name}=${spec.values.join('|')}`;
        break;
      case 'list':
        usage = `--${spec.name}=<value> ...`;
        break;
      default:
        usage = `--${spec.name}=<${spec.type === 'string' ? 'value' : spec.type}>`;
    }
    const shownDefault = spec.type === 'list' ? spec.default.join(',') : spec.type === 'duration' ? spec.default : String(spec.default);
    lines.push(`  ${usage}`, `      ${spec.help}`, `      default: ${shownDefault === '' ? '""' : shownDefault}  env: ${spec.env}`);
  }
  return `${lines.join('\n')}\n`;
}
