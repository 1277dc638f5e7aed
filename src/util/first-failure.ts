/**
 * The reason of the first of these promises that rejected, once all have settled; undefined when
 * none did. For statements sent without waiting: those after a failed one fail only because the
 * transaction is aborted, so the first failure is the reason.
 */
export async function firstFailure(sent: readonly Promise<unknown>[]): Promise<unknown> {
  for (const outcome of await Promise.allSettled(sent)) if (outcome.status === 'rejected') return outcome.reason as unknown;
  return undefined;
}
