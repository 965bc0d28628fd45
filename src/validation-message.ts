// 422 messages people can read: one sentence per field, from the field's schema and the value that failed it
// ("Email must be an email address, like name@example.com."), instead of TypeBox's "Expected string".

interface FieldSchema {
  type?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  pattern?: string;
  description?: string;
  const?: unknown;
  anyOf?: FieldSchema[];
  error?: unknown;
}

/** `message_id` -> "Message id"; no field: the body (or query) itself. */
function subjectOf(field: string | undefined, where: string): string {
  if (!field) return where === "body" ? "The request body" : `The ${where}`;
  const words = field.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const asSentence = (text: string) => {
  const trimmed = text.trim().replace(/`/g, "");
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
};

const KIND: Record<string, string> = {
  string: "text",
  integer: "a whole number",
  number: "a number",
  boolean: "true or false",
  null: "null",
  object: "a JSON object",
  array: "a list",
};

const jsonType = (value: unknown) =>
  value === null
    ? "null"
    : Array.isArray(value)
      ? "array"
      : typeof value === "number"
        ? Number.isInteger(value)
          ? "integer"
          : "number"
        : typeof value;

function rule(schema: FieldSchema, value: unknown): string | null {
  if (value === undefined) return "is required";
  if (typeof schema.error === "string") {
    // Our own texts say "Expected ..."; the subject goes in front.
    return schema.error.replace(/^Expected /, "must be ");
  }
  const literals = schema.anyOf?.filter((s) => s.const !== undefined).map((s) => String(s.const));
  if (literals && literals.length > 0 && literals.length === schema.anyOf!.length)
    return `must be one of: ${literals.join(", ")}`;
  if (schema.const !== undefined) return `must be ${JSON.stringify(schema.const)}`;
  // A number that may also arrive as digits in a string (Elysia's coercion): the number's rules speak.
  const numeric = schema.anyOf?.find((s) => s.type === "integer" || s.type === "number");
  if (numeric) return rule(numeric, typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value);
  if (schema.anyOf) {
    // Text or null, and the like: the member the value has the type of says what is wrong with it.
    const member = schema.anyOf.find((s) => s.type === jsonType(value));
    if (member) return rule(member, value);
    const kinds = schema.anyOf.map((s) => KIND[s.type ?? ""] ?? s.type).filter(Boolean);
    return kinds.length > 0 ? `must be ${kinds.join(" or ")}` : null;
  }
  switch (schema.type) {
    case "string": {
      if (typeof value !== "string") return "must be text";
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        return schema.minLength === 1 ? "must not be empty" : `must be at least ${schema.minLength} characters long`;
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        return `must be at most ${schema.maxLength} characters long`;
      if (schema.format === "email") return "must be an email address, like name@example.com";
      if (schema.format) return `must be a valid ${schema.format}`;
      if (schema.pattern) return schema.description ? `must be ${schema.description}` : "is not in the accepted form";
      return null;
    }
    case "integer":
    case "number": {
      if (typeof value !== "number" || (schema.type === "integer" && !Number.isInteger(value))) {
        return schema.type === "integer" ? "must be a whole number" : "must be a number";
      }
      if (schema.minimum !== undefined && schema.maximum !== undefined)
        return `must be from ${schema.minimum} to ${schema.maximum}`;
      if (schema.minimum !== undefined) return `must be at least ${schema.minimum}`;
      if (schema.maximum !== undefined) return `must be at most ${schema.maximum}`;
      return null;
    }
    case "boolean":
      return "must be true or false";
    case "object":
      return "must be a JSON object";
    case "array":
      return "must be a list";
  }
  return null;
}

/** One readable sentence for a field that failed its schema; `fallback` is the validator's own text. */
export function validationSentence(
  where: string,
  field: string | undefined,
  schema: unknown,
  value: unknown,
  fallback: string,
): string {
  const subject = subjectOf(field, where);
  const said = schema && typeof schema === "object" ? rule(schema as FieldSchema, value) : null;
  return asSentence(
    said ? `${subject} ${said}` : `${subject} is not valid: ${fallback.charAt(0).toLowerCase()}${fallback.slice(1)}`,
  );
}
