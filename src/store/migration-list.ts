import type { Migration } from 'kysely';
import * as m0001 from '../../migrations/0001_create_metric_tables.js';
import * as m0002 from '../../migrations/0002_add_group_expiry.js';
import * as m0003 from '../../migrations/0003_create_history_and_views.js';
import * as m0004 from '../../migrations/0004_change_tracking.js';
import * as m0005 from '../../migrations/0005_add_rendered_series.js';
import * as m0006 from '../../migrations/0006_add_series_digest.js';
import * as m0007 from '../../migrations/0007_add_aggregation.js';
import * as m0008 from '../../migrations/0008_index_push_history.js';
import * as m0009 from '../../migrations/0009_index_push_attempt_labels.js';
import * as m0010 from '../../migrations/0010_leave_room_for_updates.js';
import * as m0011 from '../../migrations/0011_narrow_family_head.js';

/**
 * Every migration in migrations/, by file name without extension, imported statically so that
 * the bundle carries them: the built gateway runs as a script through V8's code cache
 * (src/launch.ts), where node 20 cannot import() a file. A new migration file is added here too;
 * test/unit/migration-list.test.ts fails until it is.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_create_metric_tables': m0001,
  '0002_add_group_expiry': m0002,
  '0003_create_history_and_views': m0003,
  '0004_change_tracking': m0004,
  '0005_add_rendered_series': m0005,
  '0006_add_series_digest': m0006,
  '0007_add_aggregation': m0007,
  '0008_index_push_history': m0008,
  '0009_index_push_attempt_labels': m0009,
  '0010_leave_room_for_updates': m0010,
  '0011_narrow_family_head': m0011,
};
