// Ids in paths and cursors: positive 32-bit integers (the column type), so a huge id is a 422, not a database error.
import { t } from "elysia";

export const MAX_ID = 2 ** 31 - 1;
export const Id = t.Integer({ minimum: 1, maximum: MAX_ID });
export const IdParams = t.Object({ id: Id });
