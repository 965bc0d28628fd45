// The change log (message_changes): edits and deletes, kept an hour for other instances to catch up on after
// their bus listener was away (src/realtime/cluster-order.ts).
import type postgres from "postgres";
import type { Store } from "../store.ts";

/** How long message_changes keeps an edit or delete: a listener away for longer misses those older. */
const CHANGES_KEPT = "1 hour";
/**
 * The CTEs that log the `changed` rows (id, room_id) as `kind`, and prune the log: an edit or delete is logged in
 * its own statement (messages.ts), which also drops changes older than CHANGES_KEPT.
 */
export const CHANGE_LOG = (kind: "updated" | "deleted") => `,
  logged AS (INSERT INTO message_changes (room_id, message_id, kind) SELECT room_id, id, '${kind}' FROM changed),
  pruned AS (DELETE FROM message_changes WHERE at < now() - interval '${CHANGES_KEPT}')`;

export function changeLogQueries(client: postgres.Sql): Required<Pick<Store, "changesSince">> {
  return {
    async changesSince(since) {
      const rows = await client<{ room_id: number; message_id: number; kind: "updated" | "deleted" }[]>`
        SELECT room_id, message_id, kind FROM message_changes WHERE at >= to_timestamp(${since.getTime()} / 1000.0) ORDER BY seq`;
      return rows.map((r) => ({ roomId: r.room_id, messageId: r.message_id, kind: r.kind }));
    },
  };
}
