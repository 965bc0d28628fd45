// Integers in paths and queries (ids, cursors, limits): canonical decimal digits only, so `0x1`, `1e0`, `+1`,
// ` 1` and `01` are a 422 rather than another spelling of 1; the range is the column type's, so a huge id is a
// 422, not a database error.
import { t, ValidationError } from "elysia";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

export const MAX_ID = 2 ** 31 - 1;

/** Digits only, no sign, no leading zero (a lone `0` is allowed where the range allows it). */
const CANONICAL_DECIMAL = "^(0|[1-9][0-9]*)$";

/**
 * An integer in a URL. Elysia's own t.Integer coerces with `+value`, which reads hex, exponents, signs and
 * surrounding spaces; this checks the text first. Numbers pass too, for typed clients (Eden) and defaults.
 */
export function Decimal(range: { minimum: number; maximum: number; default?: number }) {
  const number = Type.Integer({ minimum: range.minimum, maximum: range.maximum });
  const inRange = TypeCompiler.Compile(number);
  return t
    .Transform(
      t.Union([t.String({ pattern: CANONICAL_DECIMAL }), number], {
        error: `Expected an integer from ${range.minimum} to ${range.maximum} in decimal digits, without sign, spaces or leading zeros`,
        ...(range.default === undefined ? {} : { default: range.default }),
      }),
    )
    .Decode((value) => {
      const n = Number(value);
      // Thrown the way Elysia's t.Integer does, so it is a 422 like any other validation failure.
      if (!inRange.Check(n)) throw new ValidationError("property", inRange, n);
      return n;
    })
    .Encode((n) => n);
}

export const Id = Decimal({ minimum: 1, maximum: MAX_ID });
/** `after` and `since`: 0 means "from the start". */
export const Cursor = Decimal({ minimum: 0, maximum: MAX_ID });
export const IdParams = t.Object({ id: Id });
