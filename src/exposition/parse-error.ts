/**
 * A syntax error in a pushed text-format body, worded like prometheus/common's expfmt.ParseError
 * so that clients see the official message: `text format parsing error in line N: <reason>`.
 */
export class ParseError extends Error {
  override readonly name = 'ParseError';

  constructor(
    /** 1-based line of the body where parsing stopped. */
    readonly line: number,
    /** The reason alone, without the `text format parsing error in line N: ` prefix. */
    readonly reason: string,
  ) {
    super(`text format parsing error in line ${line}: ${reason}`);
  }
}
