/**
 * Why a push, delete or grouping-key parse was refused. The HTTP layer maps `kind` to a status
 * (invalid, inconsistent -> 400; forbidden -> 403; conflict -> 409; too_large -> 413; unprocessable -> 422; over_capacity -> 429;
 * unavailable -> 503) and sends `message` as the one-line reason the client sees, so messages must be safe to show and end without a
 * newline.
 */
export type PushErrorKind = 'invalid' | 'inconsistent' | 'forbidden' | 'conflict' | 'unprocessable' | 'unavailable' | 'too_large' | 'over_capacity';

export class PushError extends Error {
  override readonly name = 'PushError';

  constructor(
    readonly kind: PushErrorKind,
    message: string,
  ) {
    super(message);
  }
}
