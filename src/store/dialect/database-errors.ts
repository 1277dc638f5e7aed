import { ConflictError, StoreUnavailableError } from '../metric-store.js';

// What either database's error codes mean to the store's callers: a conflict, or 503.

export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

const UNAVAILABLE_CODES =
  /^(SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CORRUPT|NOTADB|CANTOPEN|PERM)|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|57P0[123]|08\d\d\d|53\d\d\d|40001|40P01)/;

/** Database trouble becomes StoreUnavailableError (503); anything else stays as it is. */
export function translate(err: unknown): unknown {
  if (err instanceof ConflictError || err instanceof StoreUnavailableError) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = err instanceof Error ? err.message : String(err);
  // SQLite ends a transaction itself when COMMIT hits a full disk or an I/O error; kysely's
  // ROLLBACK then fails with this message and the original error is lost.
  if (/cannot rollback - no transaction is active/.test(message)) {
    return new StoreUnavailableError('database unavailable: the write failed and SQLite rolled it back (disk full, read-only or I/O error)');
  }
  if (UNAVAILABLE_CODES.test(code) || /connect|terminat|Connection/i.test(message)) {
    return new StoreUnavailableError(`database unavailable: ${message.split('\n')[0]}`);
  }
  return err;
}
