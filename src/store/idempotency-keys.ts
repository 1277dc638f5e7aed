import type { Kysely, Transaction } from 'kysely';
import { PushError } from '../domain/push-error.js';
import type { Database } from './schema.js';

// Idempotency-Key (the IETF httpapi draft): a push's key, scoped to its grouping key, is stored
// with a fingerprint of the request and the answer in the push's own transaction. A repeat finds
// it and gets the answer without being applied again; a push that failed stored nothing, so its
// repeat is tried afresh.

/** What a push with an Idempotency-Key stores, or looks for. */
export interface IdempotencyRecord {
  readonly key: string;
  readonly fingerprint: string;
  /** The answer's status code, replayed to a repeat. */
  readonly status: number;
  /** When the key is forgotten (the retention sweep deletes it). */
  readonly expiresAtSeconds: number;
}

/**
 * Thrown inside a write transaction when the key was seen with the same request: the caller
 * rolls back (undoing anything the lookup's lock created) and answers `status`.
 */
export class IdempotentReplay extends Error {
  constructor(readonly status: number) {
    super(`repeated request: answered ${status} before`);
  }
}

/**
 * Throws IdempotentReplay when the key is held for this request, PushError('unprocessable')
 * (422) when it is held for another; returns when the request is new. Call it while holding
 * whatever lock serialises writes to the group, so that two repeats cannot both be new.
 */
export async function checkIdempotency(trx: Transaction<Database>, groupingKey: string, record: IdempotencyRecord, timeSeconds: number): Promise<void> {
  const seen = await trx
    .selectFrom('idempotency_key')
    .select(['fingerprint', 'status_code'])
    .where('grouping_key', '=', groupingKey)
    .where('idempotency_key', '=', record.key)
    .where('expires_at_seconds', '>', timeSeconds)
    .executeTakeFirst();
  if (!seen) return;
  if (seen.fingerprint !== record.fingerprint) {
    throw new PushError(
      'unprocessable',
      `Idempotency-Key ${JSON.stringify(record.key)} was already used for group ${groupingKey} with another request (method, path or body differ)`,
    );
  }
  throw new IdempotentReplay(Number(seen.status_code));
}

/** Stores the key with the push, replacing an expired row of the same key. */
export async function rememberIdempotency(trx: Transaction<Database>, groupingKey: string, record: IdempotencyRecord, timeSeconds: number): Promise<void> {
  const row = {
    fingerprint: record.fingerprint,
    status_code: record.status,
    created_at_seconds: timeSeconds,
    expires_at_seconds: record.expiresAtSeconds,
  };
  await trx
    .insertInto('idempotency_key')
    .values({ grouping_key: groupingKey, idempotency_key: record.key, ...row })
    .onConflict((oc) => oc.columns(['grouping_key', 'idempotency_key']).doUpdateSet(row))
    .execute();
}

/** The retention sweep's step: forgets the keys whose window has passed; returns how many. */
export class KyselyIdempotencyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async deleteExpired(nowSeconds: number): Promise<number> {
    const result = await this.db.deleteFrom('idempotency_key').where('expires_at_seconds', '<=', nowSeconds).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
