/** A bad flag or environment value. main prints the message and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
